"""Gain steps: the science module declaration (the method is in core.py, the numbers in README.md).

A chunk-level module run first: it adds ``gain_db`` (numpy float32, the chunk's spectra shape:
the receiver's gain change in dB since the chunk's first sample) and ``gain_steps`` (how many
steps it found). The broker divides ``gain_db`` out of the spectra that the later modules and
the detector see (:func:`nenubroker.udfs.registry.run_modules`).

>>> import numpy as np
>>> from nenubroker.records.chunk import SpectraChunk
>>> from nenubroker.udfs.registry import chunk_table
>>> spectra = np.random.default_rng(0).gamma(200, 1 / 200, size=(64, 96)).astype("f4")
>>> spectra[30:] *= 10 ** (-1.0 / 10)   # the receiver loses 1 dB at sample 30
>>> chunk = SpectraChunk("b", 0, 0.0, 0.25, np.linspace(20e6, 90e6, 96), spectra)
>>> out = MODULE.run(chunk_table([chunk]))
>>> int(out["gain_steps"][0]), out["gain_db"][0][[29, 30], 0].round(1).tolist()
(1, [0.0, -1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from nenubroker.udfs.contract import Column, ScienceModule
from nenubroker.udfs.gain_steps.core import MODULE_NAME, MODULE_VERSION, channel_gain_db, find_gain_steps


class Params(BaseModel):
    """Tunables of :func:`~nenubroker.udfs.gain_steps.core.find_gain_steps`."""

    window_samples: int = Field(8, ge=2, description="samples on each side whose median level a step is measured by")
    min_side_samples: int = Field(3, ge=1, description="a step needs this many samples on each side in the chunk")
    step_sigma: float = Field(8.0, gt=0, description="band step over its noise (robust sigma)")
    min_step_db: float = Field(0.1, ge=0, description="smallest step corrected (dB)")
    n_subbands: int = Field(8, ge=2, description="sub-bands that must all step like the band")
    flat_tolerance: float = Field(
        0.35, ge=0, description="a sub-band's step may differ from the band's by this fraction (+ 4 sigma)")
    lasting_tolerance: float = Field(
        0.35, ge=0, description="the levels must hold over their segments within this fraction of the step (+ 4 sigma)")
    max_steps: int = Field(4, ge=1, description="steps looked for per chunk")


def correct(chunks: pd.DataFrame, **params: Any) -> pd.DataFrame:
    """``gain_db`` and ``gain_steps`` per chunk row, same index."""
    gains, counts = [], []
    for spectra, freq_hz in zip(chunks["spectra"], chunks["freq_hz"], strict=True):
        data = np.asarray(spectra, dtype=np.float32)
        order = np.argsort(np.asarray(freq_hz), kind="stable")
        steps = find_gain_steps(data[:, order], **params)
        gains.append(channel_gain_db(data, steps))
        counts.append(len(steps))
    return pd.DataFrame({"gain_db": gains, "gain_steps": np.asarray(counts, dtype=np.int64)}, index=chunks.index)


MODULE = ScienceModule(
    name=MODULE_NAME, version=MODULE_VERSION, level="chunk", function=correct,
    inputs=("spectra", "freq_hz"),
    outputs=(
        Column("gain_db", "binary", "dB",
               "numpy float32 (n_time, n_freq) per row: receiver gain change since the chunk's first sample; "
               "divided out of the spectra later modules and the detector see"),
        Column("gain_steps", "int", "", "gain steps found in the chunk"),
    ),
    params=Params,
    description="receiver gain steps (simultaneous, flat in dB, lasting) found and divided out before detection",
)

__all__ = ["MODULE", "Params", "correct"]
