"""What the broker measured on one chunk, alerts or not (``conf/schemas/chunk_features.v1.avsc``):
the data lake's per-chunk table, for monitoring."""

from __future__ import annotations

from dataclasses import dataclass

from nenubroker.records.base import AvroRecord


@dataclass(frozen=True)
class ChunkFeatures(AvroRecord):
    """One chunk's span (UTC unix s, Hz), losses and level, and what ran on it."""

    SCHEMA = "chunk_features"

    beam: str
    chunk_index: int
    time_start_unix_s: float
    duration_s: float
    freq_min_hz: float
    freq_max_hz: float
    n_candidates: int
    nonfinite_fraction: float
    rfi_flagged_fraction: float | None
    median_power: float
    module_versions: dict[str, str]
    nenubroker_version: str
    chunk_created_unix_s: float
    processed_unix_s: float


__all__ = ["ChunkFeatures"]
