"""Burst features: the science module declaration (the functions are in core.py)."""

import pandas as pd

from nenubroker.udfs.burst_features.core import FEATURES, MODULE_NAME, MODULE_VERSION, burst_features
from nenubroker.udfs.contract import Column, ScienceModule

INPUTS = ("duration_s", "freq_min_hz", "freq_max_hz", "freq_peak_hz", "drift_hz_per_s", "snr", "cutout")

_UNITS = {"feat_log_duration_s": "log10(s)", "feat_relative_drift_per_s": "1/s",
          "feat_log_relative_drift": "log10(1/s)", "feat_cutout_max": "S/N", "feat_cutout_mean": "S/N",
          "feat_cutout_slope": "pixel/pixel", "feat_log_aspect": "log10(s)"}


def features(candidates: pd.DataFrame) -> pd.DataFrame:
    """The ``feat_*`` columns of each candidate (see core.burst_features)."""
    return burst_features(candidates)


MODULE = ScienceModule(
    name=MODULE_NAME, version=MODULE_VERSION, level="candidate", function=features, inputs=INPUTS,
    outputs=tuple(Column(name, "double", _UNITS.get(name, "")) for name in FEATURES),
    description="scale-free extent, relative drift, type III law ratios and cutout shape statistics",
)

__all__ = ["INPUTS", "MODULE"]
