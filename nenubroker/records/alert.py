"""The alert: one burst candidate the science modules found in a beam's dynamic spectrum.

Its fields are exactly those of ``conf/schemas/alert.v2.avsc``; its id is deterministic, so a
replayed stream repeats alerts instead of inventing new ones.

>>> alert_id("beam0", 3, "burst_search", 1.7e9 + 2.125, 47.0e6)
'268d1643266850dbd8693c33'
>>> UNIX_EPOCH_MJD + 86400.0 / 86400.0  # 1970-01-02T00:00 UTC
40588.0
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from nenubroker.records.base import AvroRecord

#: MJD of 1970-01-01T00:00 UTC; unix time has no leap seconds, so MJD(UTC) = this + unix_s / 86400.
UNIX_EPOCH_MJD = 40587.0


def alert_id(beam: str, chunk_index: int, detector: str, time_peak_unix_s: float, freq_peak_hz: float) -> str:
    """Same chunk and same candidate, same id: a replay of the stream repeats ids, never invents."""
    identity = f"{beam}|{chunk_index}|{detector}|{time_peak_unix_s:.6f}|{freq_peak_hz:.1f}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


@dataclass(frozen=True, kw_only=True)
class Alert(AvroRecord):
    """An alert record (``alert`` v2); times are UTC unix seconds, frequencies Hz.

    ``cutout`` is float32 little-endian (32, 32), time x frequency, normalised per channel.
    """

    SCHEMA = "alert"

    alert_id: str
    beam: str
    chunk_index: int
    time_peak_unix_s: float
    time_start_unix_s: float
    duration_s: float
    freq_peak_hz: float
    freq_min_hz: float
    freq_max_hz: float
    drift_hz_per_s: float
    snr: float
    peak_power: float
    class_label: str | None = None
    class_probabilities: dict[str, float] = field(default_factory=dict)
    classifier: str | None = None
    rfi_flagged_fraction: float | None = None
    cutout: bytes
    detector: str
    module_versions: dict[str, str]
    nenubroker_version: str
    chunk_created_unix_s: float
    kafka_ingest_unix_s: float
    processed_unix_s: float
    source: str = "unknown"
    pointing_ra_deg: float | None = None
    pointing_dec_deg: float | None = None
    time_peak_mjd: float = 0.0
    trigger_ids: list[str] = field(default_factory=list)
    stage_times_unix_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Class and S/N in words, for the reason of a trigger or batch request it causes."""
        return f"{self.class_label or 'unclassified'} S/N {self.snr:.1f}"


__all__ = ["Alert", "UNIX_EPOCH_MJD", "alert_id"]
