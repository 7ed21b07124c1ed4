"""The template module's pure function: a pandas table in, a table of its output columns out.

>>> import pandas as pd
>>> table = pd.DataFrame({"snr": [10.0], "duration_s": [2.0], "freq_min_hz": [30e6], "freq_max_hz": [40e6]})
>>> burst_fluence(table)["template_fluence"].tolist()
[200.0]
"""

import pandas as pd

MODULE_NAME = "template"
MODULE_VERSION = "0.1.0"


def burst_fluence(candidates: pd.DataFrame, min_snr: float = 0.0) -> pd.DataFrame:
    """S/N x duration x bandwidth (MHz), 0 under ``min_snr``: one row out per row in, same index."""
    bandwidth_mhz = (candidates["freq_max_hz"] - candidates["freq_min_hz"]) / 1e6
    fluence = candidates["snr"] * candidates["duration_s"] * bandwidth_mhz
    return pd.DataFrame({"template_fluence": fluence.where(candidates["snr"] >= min_snr, 0.0)}, index=candidates.index)
