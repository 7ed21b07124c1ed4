"""The benchmarks' figures: two panels side by side, each a measured rate against its baseline.

Imported by the bench scripts as ``figures`` (they run with bench/ on the path, as
``python bench/bench_<part>.py``); matplotlib is loaded only when a figure is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def two_panels(path: Path, figsize_in: tuple[float, float] = (10, 4), dpi: int = 100) -> Iterator[tuple[Any, Any]]:
    """The (left, right) axes of a new figure, saved as ``path`` (PNG, off-screen) when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=figsize_in)
    yield left, right
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def versus(ax: Any, baseline: tuple[str, float], measured: tuple[str, float], colour: str, ylabel: str,
           title: str, **bar: Any) -> None:
    """Two bars on ``ax``: the baseline (grey) and the measured value (``colour``), each (label, value)."""
    ax.bar([baseline[0], measured[0]], [baseline[1], measured[1]], color=["grey", colour], **bar)
    ax.set_ylabel(ylabel)
    ax.set_title(title)


__all__ = ["two_panels", "versus"]
