"""Drift-rate burst search: the science module declaration (the search itself is in core.py).

>>> MODULE.level, MODULE.inputs[-2:], Params().snr_threshold
('detector', ('overlap_samples', 'trailing_overlap_samples'), 7.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from nenubroker.udfs.burst_search.core import MODULE_NAME, MODULE_VERSION, detect_bursts
from nenubroker.udfs.contract import CANDIDATE_COLUMNS, ScienceModule

INPUTS = ("beam", "chunk_index", "time_start_unix_s", "time_step_s", "freq_hz", "spectra", "overlap_samples",
          "trailing_overlap_samples")


class Params(BaseModel):
    """Tunables of the search (``modules.params.burst_search`` in conf/nenubroker.yaml)."""

    snr_threshold: float = Field(
        7.5, gt=0, description="detection S/N, in robust noise units of each search level"
    )
    max_width_samples: int = Field(
        16, ge=1, description="longest boxcar (samples); widths are 1, 2, 4, ... up to it"
    )
    min_drift_hz_per_s: float = Field(
        1e6, gt=0, description="slowest straight drift searched (|df/dt|, Hz/s)"
    )
    type_iii_max_speed_factor: float = Field(
        3.0, gt=0, description="slowest type III track searched, as a multiple of the law's delay"
    )
    type_iii_min_band_fraction: float = Field(
        0.125,
        gt=0,
        le=1,
        description="narrowest sub-band searched with the type III law, fraction of the band",
    )
    extent_snr: float = Field(3.0, gt=0, description="S/N per channel block that counts as part of a burst")
    max_candidates: int = Field(32, ge=1, description="most candidates per chunk, brightest first")


def _spectra(cell: Any, n_freq: int) -> np.ndarray:
    """A chunk's spectra: a numpy array, or its float32 little-endian bytes."""
    if isinstance(cell, (bytes, bytearray, memoryview)):
        return np.frombuffer(cell, dtype="<f4").reshape(-1, n_freq)
    return np.asarray(cell)


def detect(chunks: pd.DataFrame, **params: Any) -> pd.DataFrame:
    """One row per candidate of each chunk. Where a column is absent, ``overlap_samples`` is 0 and
    ``trailing_overlap_samples`` as many as ``overlap_samples``."""
    overlaps = chunks["overlap_samples"] if "overlap_samples" in chunks else pd.Series(0, index=chunks.index)
    trailing = chunks["trailing_overlap_samples"] if "trailing_overlap_samples" in chunks else overlaps
    rows = []
    for row, chunk, overlap, trail in zip(chunks.index, chunks.itertuples(index=False), overlaps, trailing,
                                          strict=True):
        freq_hz = np.asarray(chunk.freq_hz, dtype=float)
        spectra = _spectra(chunk.spectra, freq_hz.size)
        for c in detect_bursts(
            spectra,
            freq_hz,
            chunk.time_start_unix_s,
            chunk.time_step_s,
            overlap_samples=int(overlap),
            trailing_overlap_samples=int(trail),
            **params,
        ):
            rows.append(
                {
                    "chunk_row": row,
                    "beam": chunk.beam,
                    "chunk_index": int(chunk.chunk_index),
                    "time_peak_unix_s": c["time_peak_s"],
                    "time_start_unix_s": c["time_start_s"],
                    "duration_s": c["duration_s"],
                    "freq_peak_hz": c["freq_peak_hz"],
                    "freq_min_hz": c["freq_min_hz"],
                    "freq_max_hz": c["freq_max_hz"],
                    "drift_hz_per_s": c["drift_hz_per_s"],
                    "snr": c["snr"],
                    "peak_power": c["peak_power"],
                    "cutout": c["cutout"],
                }
            )
    return pd.DataFrame(rows, columns=["chunk_row", *[column.name for column in CANDIDATE_COLUMNS]])


MODULE = ScienceModule(
    name=MODULE_NAME,
    version=MODULE_VERSION,
    level="detector",
    function=detect,
    inputs=INPUTS,
    outputs=CANDIDATE_COLUMNS,
    params=Params,
    description="FDMT search over straight and type III drift tracks, sub-bands and durations; "
    "one candidate per burst",
)

__all__ = ["INPUTS", "MODULE", "Params", "detect"]
