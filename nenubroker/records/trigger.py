"""The recording trigger: the broker asks an edge to keep one beam's full-resolution data in a
time-frequency box (``conf/schemas/trigger.v1.avsc``).

>>> trigger = Trigger("t1", "beam0", 1.7e9 + 1.0, 1.7e9 + 1.5, 20.3e6, 20.4e6, reason="type_iii snr=9")
>>> Trigger.decode(*trigger.encode()) == trigger
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nenubroker.conf.settings import TriggerRule
from nenubroker.records.alert import Alert
from nenubroker.records.base import AvroRecord


class TriggerError(ValueError):
    """A trigger whose content cannot be recorded (empty window, no id); the message says why."""


@dataclass(frozen=True)
class Trigger(AvroRecord):
    """A request from the broker to keep one beam's full-resolution data in a time-frequency box."""

    SCHEMA = "trigger"

    trigger_id: str
    beam: str
    time_start_unix_s: float
    time_stop_unix_s: float
    freq_min_hz: float
    freq_max_hz: float
    reason: str = ""
    alert_id: str | None = None
    created_unix_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.trigger_id or not self.beam:
            raise TriggerError("trigger_id and beam must not be empty")
        box = (self.time_start_unix_s, self.time_stop_unix_s, self.freq_min_hz, self.freq_max_hz)
        if not all(math.isfinite(v) for v in box):
            raise TriggerError(f"trigger {self.trigger_id}: window bounds must be finite, got {box}")
        if self.time_stop_unix_s <= self.time_start_unix_s:
            raise TriggerError(f"trigger {self.trigger_id}: time_stop_unix_s must be after time_start_unix_s")
        if self.freq_max_hz < self.freq_min_hz:
            raise TriggerError(f"trigger {self.trigger_id}: freq_max_hz must be >= freq_min_hz")

    @classmethod
    def for_alert(cls, alert: Alert, rule: TriggerRule, created_unix_s: float) -> Trigger:
        """The trigger a rule makes for an alert: the alert's own window (the edge adds padding); its
        id is the alert's and the rule's, so a replay does not record twice."""
        return cls(
            trigger_id=f"{alert.alert_id}-{rule.name}",
            beam=alert.beam,
            time_start_unix_s=alert.time_start_unix_s,
            time_stop_unix_s=alert.time_start_unix_s + alert.duration_s,
            freq_min_hz=alert.freq_min_hz,
            freq_max_hz=alert.freq_max_hz,
            reason=f"rule {rule.name}: {alert.summary()}",
            alert_id=alert.alert_id,
            created_unix_s=created_unix_s,
        )


__all__ = ["Trigger", "TriggerError"]
