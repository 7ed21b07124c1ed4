"""An alert's cutout as a picture: the 32 x 32 patch of dynamic spectrum every alert carries.

>>> cutout_array({"cutout": bytes(32 * 32 * 4)}).shape
(32, 32)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from nenubroker.plots.figure import agg_figure, save_png
from nenubroker.udfs.cutout import CUTOUT_SHAPE


def cutout_array(alert: Mapping[str, Any]) -> np.ndarray:
    """The alert's cutout as a (time, frequency) float32 array, from its little-endian bytes."""
    data = np.frombuffer(alert["cutout"], dtype="<f4")
    if data.size != CUTOUT_SHAPE[0] * CUTOUT_SHAPE[1]:
        raise ValueError(f"cutout of alert {alert.get('alert_id')} has {data.size} values, "
                         f"not {CUTOUT_SHAPE[0]} x {CUTOUT_SHAPE[1]}")
    return data.reshape(CUTOUT_SHAPE)


def plot_cutout(alert: Mapping[str, Any], path: Path | str | None = None) -> Figure:
    """A figure of the alert's cutout, frequency up and time across; saved as PNG when ``path`` is given.

    The axes span the alert's time range (seconds from the peak, peak time in UTC in the label) and
    frequency range (MHz) as the broker measured them; the cutout itself was cut with a margin
    around that box, so the axes are nominal.
    """
    peak = alert["time_peak_unix_s"]
    t0, t1 = alert["time_start_unix_s"] - peak, alert["time_start_unix_s"] + alert["duration_s"] - peak
    f0, f1 = alert["freq_min_hz"] / 1e6, alert["freq_max_hz"] / 1e6
    figure = agg_figure((5.5, 4.5))
    axes = figure.add_subplot()
    image = axes.imshow(cutout_array(alert).T, origin="lower", aspect="auto", cmap="viridis",
                        extent=(t0, t1, f0, f1))
    figure.colorbar(image, ax=axes, label="normalised power (sigma)")
    peak_utc = datetime.fromtimestamp(peak, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    axes.set_xlabel(f"time from peak (s); peak {peak_utc}")
    axes.set_ylabel("frequency (MHz)")
    axes.set_title(f"{alert.get('class_label') or 'unclassified'}  S/N {alert['snr']:.1f}  "
                   f"{alert['beam']}  {alert['alert_id']}", fontsize=9)
    figure.tight_layout()
    if path is not None:
        save_png(figure, path, dpi=100)
    return figure


__all__ = ["cutout_array", "plot_cutout"]
