"""The unit of data between the edge and the broker: a chunk of one beam's dynamic spectrum.

Consecutive chunks of a beam overlap: a chunk starts with ``overlap_samples`` samples that repeat
the end of the previous one, and its last ``trailing_overlap_samples`` samples are repeated by the
next one (0 for the final chunk of a stream, which has no next). Detectors use both to report each
burst from one chunk only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nenubroker.records import avro

#: ``trailing_overlap_samples`` of a chunk that does not say (a v1 writer): as many as ``overlap_samples``.
SAME_AS_OVERLAP = -1


class ChunkError(ValueError):
    """A decoded chunk whose content is unusable (wrong shapes, no finite data)."""


class TimeFrequencyData:
    """For records whose ``data`` is a dynamic spectrum, shape (n_time, n_freq)."""

    data: np.ndarray

    @property
    def n_time(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_freq(self) -> int:
        return int(self.data.shape[1])


@dataclass(frozen=True)
class SpectraChunk(TimeFrequencyData):
    """Stokes I power, shape (n_time, n_freq), with its axes in physical units.

    ``trailing_overlap_samples`` left at :data:`SAME_AS_OVERLAP` becomes ``overlap_samples``:

    >>> chunk = SpectraChunk("beam0", 1, 1.7e9, 0.084, np.array([3e7]), np.zeros((64, 1), "f4"), overlap_samples=16)
    >>> chunk.trailing_overlap_samples
    16
    """

    beam: str
    chunk_index: int
    time_start_unix_s: float
    time_step_s: float
    freq_hz: np.ndarray
    data: np.ndarray
    source: str = "simulator"
    created_unix_s: float = 0.0
    overlap_samples: int = 0
    trailing_overlap_samples: int = SAME_AS_OVERLAP

    def __post_init__(self) -> None:
        if self.trailing_overlap_samples == SAME_AS_OVERLAP:
            object.__setattr__(self, "trailing_overlap_samples", self.overlap_samples)

    @property
    def time_unix_s(self) -> np.ndarray:
        """Start of each sample's integration."""
        return self.time_start_unix_s + self.time_step_s * np.arange(self.n_time)

    def to_record(self) -> dict[str, Any]:
        return {
            "beam": self.beam,
            "chunk_index": int(self.chunk_index),
            "source": self.source,
            "time_start_unix_s": float(self.time_start_unix_s),
            "time_step_s": float(self.time_step_s),
            "n_time": self.n_time,
            "n_freq": self.n_freq,
            "freq_hz": [float(f) for f in self.freq_hz],
            "data": np.ascontiguousarray(self.data, dtype="<f4").tobytes(),
            "created_unix_s": float(self.created_unix_s),
            "overlap_samples": int(self.overlap_samples),
            "trailing_overlap_samples": int(self.trailing_overlap_samples),
        }

    def encode(self) -> tuple[bytes, avro.Headers]:
        return avro.encode("spectra_chunk", self.to_record())

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SpectraChunk:
        """Check the shapes a record claims against what it holds (a record without
        ``trailing_overlap_samples``, or with :data:`SAME_AS_OVERLAP`, repeats ``overlap_samples``)."""
        n_time, n_freq = record["n_time"], record["n_freq"]
        if n_time <= 0 or n_freq <= 0:
            raise ChunkError(f"bad shape n_time={n_time}, n_freq={n_freq}")
        if len(record["freq_hz"]) != n_freq:
            raise ChunkError(f"freq_hz has {len(record['freq_hz'])} values, n_freq says {n_freq}")
        expected = n_time * n_freq * 4
        if len(record["data"]) != expected:
            raise ChunkError(
                f"data holds {len(record['data'])} bytes, n_time x n_freq float32 needs {expected}"
            )
        if not 0 <= record["overlap_samples"] <= n_time:  # all of it: a final chunk of shared samples only
            raise ChunkError(f"overlap_samples={record['overlap_samples']} outside [0, n_time={n_time}]")
        trailing = record.get("trailing_overlap_samples", SAME_AS_OVERLAP)
        trailing = record["overlap_samples"] if trailing == SAME_AS_OVERLAP else trailing
        if not 0 <= trailing < n_time:
            raise ChunkError(f"trailing_overlap_samples={trailing} outside [0, n_time={n_time})")
        if not record["time_step_s"] > 0:
            raise ChunkError(f"time_step_s must be > 0, got {record['time_step_s']}")
        data = np.frombuffer(record["data"], dtype="<f4").reshape(n_time, n_freq)
        return cls(
            beam=record["beam"],
            chunk_index=record["chunk_index"],
            time_start_unix_s=record["time_start_unix_s"],
            time_step_s=record["time_step_s"],
            freq_hz=np.asarray(record["freq_hz"], dtype=np.float64),
            data=data,
            source=record["source"],
            created_unix_s=record["created_unix_s"],
            overlap_samples=record["overlap_samples"],
            trailing_overlap_samples=trailing,
        )

    @classmethod
    def decode(cls, value: bytes | None, headers: Any) -> SpectraChunk:
        """Any known version, read as the current one (fields a v1 writer lacked take their defaults)."""
        return cls.from_record(avro.decode("spectra_chunk", value, headers,
                                           reader_version=avro.CURRENT_VERSIONS["spectra_chunk"]))


__all__ = ["SAME_AS_OVERLAP", "ChunkError", "SpectraChunk", "TimeFrequencyData"]
