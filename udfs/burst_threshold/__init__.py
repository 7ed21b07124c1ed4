"""Threshold burst detector: the science module declaration (the function is in core.py)."""

import numpy as np
import pandas as pd
from pydantic import BaseModel

from nenubroker.udfs.burst_threshold.core import MODULE_NAME, MODULE_VERSION, detect_bursts, normalise_channels
from nenubroker.udfs.contract import CANDIDATE_COLUMNS, ScienceModule
from nenubroker.udfs.cutout import make_cutout


class Params(BaseModel):
    snr_threshold: float = 7.0
    smooth_time_samples: int = 3
    smooth_freq_channels: int = 3
    min_pixels: int = 4


def detect(chunks: pd.DataFrame, **params: float) -> pd.DataFrame:
    """One row per candidate in each chunk, with a cutout; drift is not measured (0)."""
    rows = []
    for row, chunk in zip(chunks.index, chunks.itertuples(index=False)):
        spectra = np.asarray(chunk.spectra)
        normalised = normalise_channels(spectra)
        for candidate in detect_bursts(spectra, chunk.freq_hz, chunk.time_start_unix_s, chunk.time_step_s, **params):
            t0 = int(round((candidate["time_start_s"] - chunk.time_start_unix_s) / chunk.time_step_s))
            t1 = t0 + max(1, int(round(candidate["duration_s"] / chunk.time_step_s)))
            f = np.asarray(chunk.freq_hz)
            f0, f1 = int(np.searchsorted(f, candidate["freq_min_hz"])), int(np.searchsorted(f, candidate["freq_max_hz"])) + 1
            rows.append({
                "chunk_row": row, "beam": chunk.beam, "chunk_index": chunk.chunk_index,
                "time_peak_unix_s": candidate["time_peak_s"], "time_start_unix_s": candidate["time_start_s"],
                "duration_s": candidate["duration_s"], "freq_peak_hz": candidate["freq_peak_hz"],
                "freq_min_hz": candidate["freq_min_hz"], "freq_max_hz": candidate["freq_max_hz"],
                "drift_hz_per_s": 0.0, "snr": candidate["snr"], "peak_power": candidate["peak_power"],
                "cutout": make_cutout(normalised, (t0, t1), (f0, f1)),
            })
    return pd.DataFrame(rows, columns=["chunk_row", *[c.name for c in CANDIDATE_COLUMNS]])


MODULE = ScienceModule(
    name=MODULE_NAME, version=MODULE_VERSION, level="detector", function=detect,
    inputs=("beam", "chunk_index", "time_start_unix_s", "time_step_s", "freq_hz", "spectra"),
    outputs=CANDIDATE_COLUMNS, params=Params,
    description="connected regions above an S/N threshold in the channel-normalised, smoothed spectrum",
)
