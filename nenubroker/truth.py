"""Compare alerts with the simulator's truth catalogue: which injected events were found.

Only bursts and impulsive RFI count as events to find; persistent RFI channels and lost blocks
are reported by the simulator once per block and are not something to alert on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nenubroker.edge.events import InjectedEvent

NOT_TO_FIND = ("rfi_persistent", "lost_block")


def load_truth(path: Path) -> list[InjectedEvent]:
    """Events of a JSON-lines truth file (as the edge writes while streaming)."""
    if not Path(path).is_file():
        return []
    return [InjectedEvent.from_dict(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]


def matches(event: InjectedEvent, alert: dict[str, Any], time_tolerance_s: float = 1.0,
            freq_tolerance_hz: float = 0.5e6) -> bool:
    """Same beam, alert peak inside the event's time span and frequency range (with tolerances)."""
    if alert["beam"] != event.beam:
        return False
    lo_hz, hi_hz = event.freq_range_hz()
    start_s, stop_s = event.time_range_unix_s()
    return (lo_hz - freq_tolerance_hz <= alert["freq_peak_hz"] <= hi_hz + freq_tolerance_hz
            and start_s - time_tolerance_s <= alert["time_peak_unix_s"] <= stop_s + time_tolerance_s)


def to_find(events: Iterable[InjectedEvent]) -> list[InjectedEvent]:
    return [event for event in events if event.kind not in NOT_TO_FIND]


def found_events(events: Iterable[InjectedEvent], alerts: list[dict[str, Any]]) -> list[InjectedEvent]:
    """The events to find that at least one alert matches."""
    return [event for event in to_find(events) if any(matches(event, alert) for alert in alerts)]


__all__ = ["NOT_TO_FIND", "found_events", "load_truth", "matches", "to_find"]
