"""RFI flagger: the science module declaration (the method is in core.py, the numbers in README.md).

A chunk-level module: it adds ``rfi_mask`` (numpy bool, the chunk's spectra shape, True = flagged)
and ``rfi_flagged_fraction`` to the chunk table; the broker blanks flagged pixels before the
detector runs.

>>> import numpy as np
>>> from nenubroker.records.chunk import SpectraChunk
>>> from nenubroker.udfs.registry import chunk_table
>>> spectra = np.random.default_rng(0).gamma(256, 1 / 256, size=(64, 96)).astype("f4")
>>> spectra[:, 10] *= 2.0
>>> chunk = SpectraChunk("b", 0, 0.0, 0.084, np.linspace(20e6, 25e6, 96), spectra)
>>> out = MODULE.run(chunk_table([chunk]))
>>> out["rfi_mask"][0].shape, round(float(out["rfi_flagged_fraction"][0]), 4)
((64, 96), 0.0104)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from nenubroker.udfs.contract import Column, ScienceModule
from nenubroker.udfs.rfi_flagger.core import MODULE_NAME, MODULE_VERSION, flag_rfi, flagged_fraction


class Params(BaseModel):
    """Tunables of :func:`~nenubroker.udfs.rfi_flagger.core.flag_rfi`; thresholds in robust sigma."""

    sumthreshold_sigma: float = Field(6.0, gt=0, description="SumThreshold chi_1, for one sample")
    sumthreshold_rho: float = Field(1.5, gt=1, description="chi_N = chi_1 / rho^log2(N)")
    windows: tuple[int, ...] = Field(
        (1, 2, 4, 8, 16, 32), description="SumThreshold window sizes, in samples and in channels")
    narrowband_block_channels: int = Field(
        8, ge=1, description="channels per block of the frequency-smooth model")
    model_error_factor: float = Field(
        0.5, ge=0, description="error of that model, as a fraction of its bend (edges of bright bursts)")
    min_narrowband_duration_s: float = Field(
        2.5, gt=0, description="narrowband flags must last this long (s); spikes, S-bursts, striae don't")
    sir_eta: float = Field(0.2, ge=0, lt=1, description="scale-invariant rank operator aggressiveness")
    channel_window: int = Field(15, ge=3, description="neighbour channels a channel's spread is compared to")
    channel_level_sigma: float = Field(
        6.0, gt=0, description="channel power over its neighbours' at the same instant, chunk median")
    channel_spread_sigma: float = Field(6.0, gt=0, description="channel relative spread unlike neighbours'")
    channel_spread_factor: float = Field(3.0, gt=1, description="... and more than this factor from theirs")
    impulse_sigma: float = Field(8.0, gt=0, description="band-averaged jump of an impulse sample")
    impulse_subbands: int = Field(8, ge=1, description="sub-bands that must all show the jump")
    impulse_subband_sigma: float = Field(3.0, gt=0, description="jump each sub-band must show")
    impulse_flatness: float = Field(0.25, ge=0, le=1, description="weakest over median sub-band jump")
    impulse_time_window: int = Field(
        7, ge=3, description="samples around a sample (half before, half after) its jump is measured from")
    recurrence_sigma: float = Field(6.0, gt=0, description="narrowband event of an intermittent line (channel sigma)")
    recurrence_events: int = Field(
        2, ge=0, description="separate events that make a channel with quiet neighbours an RFI line (0: off)")
    recurrence_gap_s: float = Field(1.0, ge=0, description="events closer than this (s) count as one")
    recurrence_block_channels: int = Field(
        32, ge=1, description="channels per block of the smooth model events are measured against")
    recurrence_group_channels: int = Field(
        3, ge=0, description="neighbours of a line that rise with it are flagged with it, this far (channels)")


def flag(chunks: pd.DataFrame, **params: Any) -> pd.DataFrame:
    """One mask and flagged fraction per chunk row, same index."""
    masks, fractions = [], []
    columns = (chunks["spectra"], chunks["freq_hz"], chunks["time_step_s"])
    for spectra, freq_hz, time_step_s in zip(*columns, strict=True):
        mask = flag_rfi(np.asarray(spectra), float(time_step_s), np.asarray(freq_hz), **params)
        masks.append(mask)
        fractions.append(flagged_fraction(mask))
    return pd.DataFrame({"rfi_mask": masks, "rfi_flagged_fraction": np.asarray(fractions, dtype=np.float64)},
                        index=chunks.index)


MODULE = ScienceModule(
    name=MODULE_NAME, version=MODULE_VERSION, level="chunk", function=flag,
    inputs=("spectra", "freq_hz", "time_step_s"),
    outputs=(
        Column("rfi_mask", "binary", "", "numpy bool (n_time, n_freq) per row, True = flagged (RFI or lost)"),
        Column("rfi_flagged_fraction", "double", "", "fraction of the chunk's pixels flagged"),
    ),
    params=Params,
    description="channel statistics, intermittent lines, flat-impulse rows and duration-gated SumThreshold; "
                "spares bursts",
)

__all__ = ["MODULE", "Params", "flag"]
