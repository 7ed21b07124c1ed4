"""Compare alerts with the simulator's truth catalogue: which injected events were found."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def load_truth(path: Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def event_freq_range_hz(event: dict[str, Any]) -> tuple[float, float]:
    if event["kind"] == "type_iii":
        return event["freq_stop_hz"], event["freq_start_hz"]
    half = max(event["bandwidth_hz"], 0.0) / 2
    return event["freq_start_hz"] - half, event["freq_start_hz"] + half


def matches(event: dict[str, Any], alert: dict[str, Any], time_tolerance_s: float = 1.0,
            freq_tolerance_hz: float = 0.5e6) -> bool:
    """Same beam, alert peak inside the event's time span and frequency range (with tolerances).

    A type III reaches low frequencies seconds after its onset, so its time span runs to the
    arrival at its lowest frequency plus a decay.
    """
    if alert["beam"] != event["beam"]:
        return False
    lo_hz, hi_hz = event_freq_range_hz(event)
    if not lo_hz - freq_tolerance_hz <= alert["freq_peak_hz"] <= hi_hz + freq_tolerance_hz:
        return False
    start_s = event["time_start_unix_s"]
    if event["kind"] == "type_iii":
        from nenubroker.edge.events import type_iii_arrival_s

        stop_s = start_s + float(type_iii_arrival_s(lo_hz, hi_hz)) + 10.0
    else:
        stop_s = start_s + event["duration_s"]
    return start_s - time_tolerance_s <= alert["time_peak_unix_s"] <= stop_s + time_tolerance_s


def found_events(events: Iterable[dict[str, Any]], alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that at least one alert matches."""
    return [event for event in events if any(matches(event, alert) for alert in alerts)]


__all__ = ["event_freq_range_hz", "found_events", "load_truth", "matches"]
