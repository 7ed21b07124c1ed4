"""What every quick-look shares: a figure on its own Agg canvas, robust colour limits, saving a PNG.

Matplotlib's object API (Figure + FigureCanvasAgg) rather than pyplot: no global figure registry
to leak from, no backend switched under a notebook, and figures can be drawn from any thread.

>>> import numpy as np
>>> colour_limits(np.array([np.nan, 0.0, 1.0, 2.0]), (0, 100), empty=(-1.0, 1.0))
(0.0, 2.0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def agg_figure(figsize_in: tuple[float, float], dpi: float | None = None) -> Figure:
    """A Figure of ``figsize_in`` inches drawn by its own Agg canvas (``dpi`` None: Matplotlib's default)."""
    figure = Figure(figsize=figsize_in, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def colour_limits(values: np.ndarray, percentiles: tuple[float, float],
                  empty: tuple[float, float]) -> tuple[float, float]:
    """Percentiles of the finite ``values``, so that a few hot pixels do not wash out the image.

    ``empty`` when no value is finite (a lost block, a blank cube).
    """
    finite = values[np.isfinite(values)]
    if not finite.size:
        return empty
    lo, hi = np.percentile(finite, percentiles)
    return float(lo), float(hi)


def save_png(figure: Figure, path: Path | str, dpi: float | None = None) -> Path:
    """Write ``figure`` as a PNG at ``path`` (folders made as needed), at ``dpi`` or the figure's own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path


__all__ = ["agg_figure", "colour_limits", "save_png"]
