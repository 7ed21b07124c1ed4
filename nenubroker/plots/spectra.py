"""Quick-look PNGs of dynamic spectra: with the truth outlines on top, to check the simulator by eye
(``plot_dynamic_spectrum``), and chunks side by side with a module's candidates (``plot_chunks``).

Time runs along x and frequency up y. Colour is dB above the quiet sky: the known background if
given, else each channel's 10th percentile in time. Dividing by it removes the sky and bandpass
slope, as radio quick-looks do, so bursts and RFI stand out equally across the band. Lost
samples (NaN) are grey. Outlines come from the TFCat geometry of each event (edge/sim/truth.py) and are
coloured and labelled by kind. A cluster or train is labelled once.

>>> from nenubroker.conf.settings import SimulatorSettings
>>> from nenubroker.edge.sim.simulator import BeamSimulator
>>> import tempfile, pathlib
>>> block, truth = BeamSimulator("b", SimulatorSettings(n_subbands=8), 0.0).next_block()
>>> path = plot_dynamic_spectrum(block, truth, pathlib.Path(tempfile.mkdtemp()) / "ds.png")
>>> path.stat().st_size > 10_000
True
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import TABLEAU_COLORS, Colormap
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from nenubroker.edge.sim.events import EVENT_KINDS, InjectedEvent
from nenubroker.edge.sim.truth import event_geometry
from nenubroker.plots.figure import agg_figure, colour_limits, save_png
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_search.core import normalise_channels

QUIET_PERCENTILE = 10.0
KIND_COLOURS = dict(zip(EVENT_KINDS, ["white", "cyan", "magenta", "lime", "red", "orange", "black",
                                     "gold", "deepskyblue", "hotpink", "orchid", "springgreen", "khaki",
                                     "aquamarine"], strict=True))


def _grid(blocks: Sequence[SpectraChunk]) -> tuple[np.ndarray, float, float]:
    """Blocks placed on one regular time grid (gaps stay NaN), with its start and step."""
    blocks = sorted(blocks, key=lambda b: b.time_start_unix_s)
    dt = blocks[0].time_step_s
    t0 = blocks[0].time_start_unix_s
    n_time = round((blocks[-1].time_start_unix_s - t0) / dt) + blocks[-1].n_time
    data = np.full((n_time, blocks[0].n_freq), np.nan, dtype=np.float32)
    for block in blocks:
        i = round((block.time_start_unix_s - t0) / dt)
        data[i:i + block.n_time] = block.data[: n_time - i]
    return data, t0, dt


def _bin(data: np.ndarray, factor: int, axis: int) -> np.ndarray:
    """NaN-aware mean of ``factor`` consecutive samples along ``axis`` (a trailing remainder is dropped)."""
    if factor <= 1:
        return data
    n = data.shape[axis] // factor * factor
    trimmed = np.take(data, np.arange(n), axis=axis)
    shape = list(trimmed.shape)
    shape[axis: axis + 1] = [n // factor, factor]
    return np.nanmean(trimmed.reshape(shape), axis=axis + 1)


def _relative_db(data: np.ndarray, background: np.ndarray | None) -> np.ndarray:
    """10 log10(data / quiet spectrum), which flattens the sky and bandpass so events compare across the band.

    Without a known ``background``, a channel's quiet level is its 10th percentile in time. A median
    would be raised, and the quiet sky shown dark, in channels where a long type III fills half the
    window.
    """
    quiet = np.nanpercentile(data, QUIET_PERCENTILE, axis=0) if background is None else background
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(data / quiet[None, :])


def plot_dynamic_spectrum(block_or_blocks: SpectraChunk | Iterable[SpectraChunk],
                          events: Iterable[InjectedEvent] | None = None,
                          path: Path | str = "dynamic_spectrum.png", *, max_time_pixels: int = 1600,
                          max_freq_pixels: int = 800, freq_range_hz: tuple[float, float] | None = None,
                          background: np.ndarray | None = None, title: str | None = None) -> Path:
    """Draw the dynamic spectrum of one or more blocks of one beam, with truth outlines, to a PNG.

    Large blocks are averaged down to ``max_time_pixels`` x ``max_freq_pixels`` for display;
    ``freq_range_hz`` crops the band first, to look at fine structure. ``background`` (the true
    quiet spectrum, e.g. ``BeamSimulator.background``) puts the noise at 0 dB. Otherwise each
    channel's 10th percentile is used. Returns the path written.
    """
    blocks = [block_or_blocks] if isinstance(block_or_blocks, SpectraChunk) else list(block_or_blocks)
    if not blocks:
        raise ValueError("no block to plot")
    data, t0, dt = _grid(blocks)
    freq_mhz = blocks[0].freq_hz / 1e6
    quiet = None if background is None else np.asarray(background, dtype=float)
    if freq_range_hz is not None:
        keep = (blocks[0].freq_hz >= freq_range_hz[0]) & (blocks[0].freq_hz <= freq_range_hz[1])
        data, freq_mhz = data[:, keep], freq_mhz[keep]
        quiet = None if quiet is None else quiet[keep]
    df_mhz = float(np.median(np.diff(freq_mhz))) if freq_mhz.size > 1 else 0.2
    duration_s = data.shape[0] * dt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices in lost blocks
        image = _relative_db(data, quiet)
        image = _bin(image, -(-image.shape[0] // max_time_pixels), 0)
        image = _bin(image, -(-image.shape[1] // max_freq_pixels), 1)
        vmin, vmax = colour_limits(image, (1, 99.7), empty=(-1.0, 1.0))
    fig = agg_figure((12, 6.5), dpi=110)
    ax = fig.add_subplot()
    extent = (0.0, duration_s, freq_mhz[0] - df_mhz / 2, freq_mhz[-1] + df_mhz / 2)
    cmap = _cmap()
    shown = ax.imshow(image.T, origin="lower", aspect="auto", extent=extent, cmap=cmap, vmin=vmin,
                      vmax=max(vmax, vmin + 1.0), interpolation="nearest")
    quiet_label = "the sky background" if background is not None else "the quiet (10th percentile) spectrum"
    fig.colorbar(shown, ax=ax, pad=0.01).set_label(f"dB above {quiet_label}")
    kinds = _draw_outlines(ax, events or [], t0, t0 + duration_s)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    start = datetime.fromtimestamp(t0, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    ax.set_xlabel(f"Time since {start} UTC (s)")
    ax.set_ylabel("Frequency (MHz)")
    ax.set_title(title or f"{blocks[0].beam}: {len(blocks)} block(s), dt = {dt * 1e3:.2f} ms, "
                          f"df = {df_mhz * 1e3:.2f} kHz")
    if kinds:
        handles = [Line2D([], [], color=KIND_COLOURS.get(k, "white"), lw=2, label=k) for k in kinds]
        ax.legend(handles=handles, loc="upper right", fontsize=8, facecolor="0.3", labelcolor="white",
                  framealpha=0.8)
    return save_png(fig, path)


def _cmap() -> Colormap:
    """Inferno with lost (NaN) pixels in grey, so that they are not mistaken for quiet sky."""
    return colormaps["inferno"].with_extremes(bad="0.6")


def _draw_outlines(ax: Axes, events: Iterable[InjectedEvent], t_start_s: float, t_stop_s: float) -> list[str]:
    """Outline each event that overlaps the window. Label once per group; return the kinds drawn."""
    kinds: list[str] = []
    labelled: set[tuple[str, int]] = set()
    for event in events:
        t_lo, t_hi = event.time_range_unix_s()
        if t_hi < t_start_s or t_lo > t_stop_s:
            continue
        colour = KIND_COLOURS.get(event.kind, next(iter(TABLEAU_COLORS)))
        geometry = event_geometry(event)
        coords = geometry["coordinates"]
        parts = {"Point": [[coords]], "LineString": [coords], "Polygon": coords,
                 "MultiPolygon": [ring for polygon in coords for ring in polygon]}[geometry["type"]]
        for part in parts:
            xy = np.asarray(part, dtype=float)
            ax.plot(xy[:, 0] - t_start_s, xy[:, 1] / 1e6, color=colour, lw=0.7,
                    marker="o" if len(xy) == 1 else None, alpha=0.8)
        if event.kind not in kinds:
            kinds.append(event.kind)
        group = (event.group_id or event.event_id, event.harmonic)
        if group in labelled:
            continue
        labelled.add(group)
        label = event.kind + (" (2f)" if event.harmonic == 2 else "")
        x = max(t_lo, t_start_s) - t_start_s
        ax.annotate(label, (x, event.freq_range_hz()[1] / 1e6), color=colour, fontsize=8,
                    xytext=(2, 2), textcoords="offset points", clip_on=True)
    return kinds


def plot_chunks(chunks: Sequence[SpectraChunk], candidates: pd.DataFrame, label_column: str | None,
                path: Path | str, max_panels: int = 6) -> Path:
    """Chunks side by side (channel-normalised, in sigma), each candidate boxed in red and labelled.

    What ``nenubroker module test`` draws: ``candidates`` has the candidate table's columns, its
    ``chunk_row`` the position in ``chunks``. The label is ``label_column`` when given, else the S/N.
    Returns the path written.
    """
    n = min(len(chunks), max_panels)
    fig = agg_figure((3.2 * n, 4))
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    origin_s = chunks[0].time_start_unix_s
    for i, (ax, chunk) in enumerate(zip(axes, chunks)):
        t = chunk.time_unix_s - origin_s
        extent = (t[0], t[-1] + chunk.time_step_s, chunk.freq_hz[0] / 1e6, chunk.freq_hz[-1] / 1e6)
        ax.imshow(np.clip(normalise_channels(chunk.data).T, -3, 10), origin="lower", aspect="auto",
                  extent=extent, cmap="viridis")
        for candidate in candidates[candidates["chunk_row"] == i].itertuples() if len(candidates) else ():
            t0 = candidate.time_start_unix_s - origin_s
            ax.add_patch(Rectangle((t0, candidate.freq_min_hz / 1e6), candidate.duration_s,
                                   (candidate.freq_max_hz - candidate.freq_min_hz) / 1e6,
                                   fill=False, edgecolor="red", linewidth=1.2))
            text = getattr(candidate, label_column) if label_column else f"S/N {candidate.snr:.0f}"
            ax.text(t0, candidate.freq_max_hz / 1e6, str(text), color="red", fontsize=7, va="bottom")
        ax.set_title(f"{chunk.beam} #{chunk.chunk_index}", fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (MHz)")
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


__all__ = ["KIND_COLOURS", "plot_chunks", "plot_dynamic_spectrum"]
