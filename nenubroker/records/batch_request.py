"""The batch-job request: run a batch recipe (imaging of the interferometric data) over a time
window (``conf/schemas/batch_request.v1.avsc``). Alert rules make them in the detect stage, people
with ``nenubroker batch submit``.

>>> request = BatchRequest("r1", "image_window", 100.0, 160.0, 20e6, 80e6, "by hand", None, "user", 1.7e9)
>>> BatchRequest.decode(*request.encode()) == request
True
"""

from __future__ import annotations

from dataclasses import dataclass

from nenubroker.conf.settings import BatchRule
from nenubroker.records.alert import Alert
from nenubroker.records.base import AvroRecord


@dataclass(frozen=True)
class BatchRequest(AvroRecord):
    """A request for one recipe over ``time_start_unix_s`` .. ``time_stop_unix_s`` (UTC unix s)."""

    SCHEMA = "batch_request"

    request_id: str
    recipe: str
    time_start_unix_s: float
    time_stop_unix_s: float
    freq_min_hz: float
    freq_max_hz: float
    reason: str
    alert_id: str | None
    requested_by: str
    created_unix_s: float

    @classmethod
    def for_alert(cls, alert: Alert, rule: BatchRule, created_unix_s: float) -> BatchRequest:
        """The request a rule makes for an alert: its window widened by the rule's padding; its id is
        the alert's and the rule's, so a replay does not request twice."""
        return cls(
            request_id=f"{alert.alert_id}-{rule.name}",
            recipe=rule.recipe,
            time_start_unix_s=alert.time_start_unix_s - rule.padding_s,
            time_stop_unix_s=alert.time_start_unix_s + alert.duration_s + rule.padding_s,
            freq_min_hz=alert.freq_min_hz,
            freq_max_hz=alert.freq_max_hz,
            reason=f"rule {rule.name}: {alert.summary()}",
            alert_id=alert.alert_id,
            requested_by=f"rule:{rule.name}",
            created_unix_s=created_unix_s,
        )


__all__ = ["BatchRequest"]
