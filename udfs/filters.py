"""Alert filters written as functions: ``f(alerts: pandas.DataFrame) -> pandas.Series of bool``.

A filter sees the alert table (one row per alert, columns of conf/schemas/alert.v1.avsc) and
selects rows; the broker sends the selected alerts to the filter's own topic as well. Name a
filter in ``routing.filters`` of the configuration as ``"package.module:function"``; simple cuts
can be an ``expression`` there instead (a pandas query).

>>> import pandas as pd
>>> alerts = pd.DataFrame({"class_label": ["jupiter_s", "spike"], "freq_peak_hz": [25e6, 25e6], "snr": [12.0, 12.0]})
>>> jupiter_s_bursts(alerts).tolist()
[True, False]
"""

from __future__ import annotations

import pandas as pd

#: Jupiter's decametric emission does not reach above ~40 MHz.
JUPITER_MAX_FREQ_HZ = 40e6


def jupiter_s_bursts(alerts: pd.DataFrame) -> pd.Series:
    """Alerts classified as Jupiter S-bursts, peaking below the Io-DAM cut-off."""
    return (alerts["class_label"] == "jupiter_s") & (alerts["freq_peak_hz"] < JUPITER_MAX_FREQ_HZ)


def bright_bursts(alerts: pd.DataFrame, min_snr: float = 20.0) -> pd.Series:
    """Any classified burst (not RFI, not 'other') above ``min_snr``."""
    return ~alerts["class_label"].isin(["rfi", "other"]) & alerts["class_label"].notna() & (alerts["snr"] >= min_snr)


__all__ = ["JUPITER_MAX_FREQ_HZ", "bright_bursts", "jupiter_s_bursts"]
