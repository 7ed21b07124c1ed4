"""A picture of a time × frequency image cube: one panel per plane, times down, frequencies across."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from nenubroker.plots.figure import agg_figure, colour_limits, save_png


def cube_png(cube_path: str | Path, out_path: str | Path | None = None, max_panels: int = 8) -> Path:
    """Write ``<cube>.png`` (or ``out_path``): the first ``max_panels`` times and frequencies, same colour scale."""
    cube_path = Path(cube_path)
    out_path = Path(out_path or cube_path.with_suffix(".png"))
    with fits.open(cube_path) as hdul:
        data, header = hdul[0].data, hdul[0].header
    wcs = WCS(header)
    n_time, n_freq = min(data.shape[0], max_panels), min(data.shape[1], max_panels)
    freqs_mhz = wcs.sub(["spectral"]).all_pix2world(np.arange(n_freq), 0)[0] / 1e6
    times_s = wcs.sub([4]).all_pix2world(np.arange(n_time), 0)[0]
    start = Time(header["MJDREF"], format="mjd", scale="utc") if "MJDREF" in header else None
    vmin, vmax = colour_limits(data[:n_time, :n_freq], (1, 99.9), empty=(0.0, 1.0))
    fig = agg_figure((2.2 * n_freq + 1, 2.2 * n_time + 0.6))
    axes = fig.subplots(n_time, n_freq, squeeze=False, subplot_kw={"projection": wcs.celestial})
    for t in range(n_time):
        when = (start + times_s[t] * u.s).isot[11:19] if start is not None else f"{times_s[t]:.0f} s"
        for f in range(n_freq):
            ax = axes[t, f]
            shown = ax.imshow(data[t, f], origin="lower", cmap="inferno", vmin=vmin, vmax=vmax)
            ax.set_title(f"{when} UTC, {freqs_mhz[f]:.2f} MHz", fontsize=7)
            for coord in ax.coords:
                coord.set_ticklabel_visible(t == n_time - 1 and f == 0)
                coord.set_axislabel("")
    fig.colorbar(shown, ax=axes, shrink=0.8, label=header.get("BUNIT", ""))
    fig.suptitle(f"{cube_path.name}: {data.shape[0]} times x {data.shape[1]} frequencies")
    return save_png(fig, out_path, dpi=90)


__all__ = ["cube_png"]
