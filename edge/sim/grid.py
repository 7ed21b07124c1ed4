"""The pixel grid events are drawn on, and the shapes every event kind is built from.

An event's emission is averaged over each pixel (integration [t, t + dt), channel width df). A
*patch* is the part of the grid where one piece of an event exceeds ``NEGLIGIBLE`` of its peak:
(time slice, channel slice, profile), the profile peaking at 1. Events with fine structure (type I
bursts, type II herringbones, Jupiter L-bursts) draw it from ``cell_rng``: one generator per
event, stream and time cell, so a window of a long event is drawn the same whichever block asks,
and only the cells near the window are ever drawn.

>>> g = Grid(np.arange(0.0, 1.0, 0.1), 0.1, np.array([40e6]), 1e3)
>>> ts, fs, profile = blob(g, 0.55, 0.05, 40e6, 1e4)
>>> round(float(profile.max()), 6)
1.0
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.special import erf

NEGLIGIBLE = 1e-3  # emission below this fraction of the peak is not evaluated
FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))
CUT_SIGMA = float(np.sqrt(2 * np.log(1 / NEGLIGIBLE)))  # a Gaussian falls to NEGLIGIBLE at this many sigma
CUT_DECAYS = float(np.log(1 / NEGLIGIBLE))  # an exponential decay falls to NEGLIGIBLE after this many e-folds
TAPER_FRACTION = 0.05  # raised-cosine edges: type III onset, S-burst and herringbone ends (fraction of the range)

Patch = tuple[slice, slice, np.ndarray]


class Grid(NamedTuple):
    """Pixel grid: integration starts, integration time, channel centres (ascending), channel width."""

    times_s: np.ndarray
    dt_s: float
    freq_hz: np.ndarray
    df_hz: float

    def time_slice(self, lo_s: float, hi_s: float) -> slice:
        """Samples whose integration [t, t + dt) overlaps [lo_s, hi_s)."""
        first = np.searchsorted(self.times_s, lo_s - self.dt_s, "right" if self.dt_s > 0 else "left")
        return slice(int(first), int(np.searchsorted(self.times_s, hi_s, "left")))

    def freq_slice(self, lo_hz: float, hi_hz: float) -> slice:
        """Channels centred in [lo_hz, hi_hz]."""
        return slice(int(np.searchsorted(self.freq_hz, lo_hz, "left")),
                     int(np.searchsorted(self.freq_hz, hi_hz, "right")))

    def overlaps(self, lo_s: np.ndarray | float, hi_s: np.ndarray | float) -> np.ndarray:
        """Whether each interval [lo_s, hi_s] overlaps the grid's time span."""
        return (np.asarray(hi_s) > self.times_s[0]) & (np.asarray(lo_s) < self.times_s[-1] + self.dt_s)

    def centres_s(self, ts: slice) -> np.ndarray:
        """Mid-integration times of the samples in ``ts``."""
        return self.times_s[ts] + self.dt_s / 2


def gauss_box(times_s: np.ndarray, dt_s: float, centre_s: np.ndarray | float, sigma_s: float) -> np.ndarray:
    """Mean of a unit Gaussian over each integration [t, t + dt), equal to 1 for a pixel centred on it."""
    if dt_s <= 0:
        return np.exp(-0.5 * ((times_s - centre_s) / sigma_s) ** 2)
    scale = np.sqrt(2) * sigma_s
    lo = (times_s - centre_s) / scale
    return (erf(lo + dt_s / scale) - erf(lo)) / (2 * erf(dt_s / (2 * scale)))


def taper(x: np.ndarray | float) -> np.ndarray:
    """Raised-cosine edge: 0 at x <= 0, 1 at x >= 1, so envelopes start smoothly and reach 1."""
    return np.sin(np.pi / 2 * np.clip(x, 0.0, 1.0)) ** 2


def edges(x: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """Envelope over x in [0, 1]: a raised-cosine rise over ``rise``, a plateau, a fall over ``fall``."""
    return taper(x / rise) * taper((1 - x) / fall)


def blob(g: Grid, centre_s: float, sigma_s: float, centre_hz: float, sigma_hz: float,
         drift_hz_per_s: float = 0.0) -> Patch | None:
    """Gaussian in time and frequency (optionally drifting). The channel width broadens it in frequency."""
    sigma_f = float(np.hypot(sigma_hz, g.df_hz / np.sqrt(12)))
    ts = g.time_slice(centre_s - CUT_SIGMA * sigma_s, centre_s + CUT_SIGMA * sigma_s)
    reach_hz = CUT_SIGMA * (sigma_f + abs(drift_hz_per_s) * sigma_s)
    fs = g.freq_slice(centre_hz - reach_hz, centre_hz + reach_hz)
    if ts.stop <= ts.start or fs.stop <= fs.start:
        return None
    t = g.times_s[ts]
    light_curve = gauss_box(t, g.dt_s, centre_s, sigma_s)[:, None]
    if drift_hz_per_s == 0:  # separable: one spectrum for every sample
        return ts, fs, light_curve * np.exp(-0.5 * ((g.freq_hz[None, fs] - centre_hz) / sigma_f) ** 2)
    track_hz = centre_hz + drift_hz_per_s * (t + g.dt_s / 2 - centre_s)
    return ts, fs, light_curve * np.exp(-0.5 * ((g.freq_hz[None, fs] - track_hz[:, None]) / sigma_f) ** 2)


def stroke(g: Grid, time_start_s: float, freq_start_hz: float, freq_stop_hz: float, drift_hz_per_s: float,
           fwhm_s: float, edge_fraction: float = TAPER_FRACTION) -> Patch | None:
    """A straight drifting ridge from ``freq_start_hz`` (at ``time_start_s``) to ``freq_stop_hz``.

    At each frequency a Gaussian of FWHM ``fwhm_s`` in time, centred on the ridge; raised-cosine
    ends over ``edge_fraction`` of the range. Either drift sign: S-bursts, herringbones.
    """
    lo, hi = sorted((freq_start_hz, freq_stop_hz))
    fs = g.freq_slice(lo, hi)
    f = g.freq_hz[fs]
    if f.size == 0 or drift_hz_per_s == 0:
        return None
    sigma_s = fwhm_s / FWHM_PER_SIGMA
    centre = time_start_s + fwhm_s / 2 + (f - freq_start_hz) / drift_hz_per_s
    ts = g.time_slice(float(centre.min()) - CUT_SIGMA * sigma_s, float(centre.max()) + CUT_SIGMA * sigma_s)
    if ts.stop <= ts.start:
        return None
    x = (f - lo) / (hi - lo)
    envelope = taper(np.minimum(x, 1 - x) / edge_fraction)
    return ts, fs, gauss_box(g.times_s[ts, None], g.dt_s, centre[None, :], sigma_s) * envelope


def overlay_bursts(g: Grid, freq_hz: np.ndarray, bursts: np.ndarray) -> np.ndarray:
    """Gaussian bursts, rows of (centre time, frequency, FWHM s, FWHM Hz, amplitude), on all samples x
    ``freq_hz``: type I bursts, L-bursts. Where they overlap the brighter shows, so the peak stays the
    brightest burst's. Each is one outer product."""
    total = np.zeros((g.times_s.size, freq_hz.size), dtype=np.float32)
    for centre, freq, fwhm, width, amplitude in bursts:
        sigma_s, sigma_hz = fwhm / FWHM_PER_SIGMA, float(np.hypot(width / FWHM_PER_SIGMA, g.df_hz / np.sqrt(12)))
        ts = g.time_slice(centre - CUT_SIGMA * sigma_s, centre + CUT_SIGMA * sigma_s)
        bs = slice(int(np.searchsorted(freq_hz, freq - CUT_SIGMA * sigma_hz)),
                   int(np.searchsorted(freq_hz, freq + CUT_SIGMA * sigma_hz)))
        if ts.stop <= ts.start or bs.stop <= bs.start:
            continue
        light_curve = (amplitude * gauss_box(g.times_s[ts], g.dt_s, centre, sigma_s)).astype(np.float32)
        spectrum = np.exp(-0.5 * ((freq_hz[bs] - freq) / sigma_hz) ** 2).astype(np.float32)
        np.maximum(total[ts, bs], light_curve[:, None] * spectrum[None, :], out=total[ts, bs])
    return total


def cell_rng(seed: int, stream: int, cell: int) -> np.random.Generator:
    """The generator of one time cell of one event's fine structure: the same whichever block asks."""
    return np.random.default_rng([int(seed), int(stream), int(cell)])


def cells(start_s: float, cell_s: float, lo_s: float, hi_s: float, n_cells: int) -> range:
    """Indices of the cells [start + k cell_s, start + (k + 1) cell_s) that overlap [lo_s, hi_s]."""
    first = max(0, int(np.floor((lo_s - start_s) / cell_s)))
    return range(first, min(n_cells, int(np.floor((hi_s - start_s) / cell_s)) + 1))


def cells_near(start_s: float, cell_s: float, g: Grid, reach_s: float, n_cells: int) -> list[int]:
    """Indices of the cells within ``reach_s`` of some sample of ``g``: all of them between the first
    and last sample for a block, only those around each sample for a sparse grid."""
    lo = np.floor((g.times_s - reach_s - start_s) / cell_s).astype(int)
    hi = np.floor((g.times_s + g.dt_s + reach_s - start_s) / cell_s).astype(int)
    found: list[int] = []
    for a, b in zip(np.maximum(lo, 0), np.minimum(hi, n_cells - 1)):
        found.extend(range(max(int(a), found[-1] + 1 if found else 0), int(b) + 1))
    return found


@lru_cache(maxsize=256)
def _knots(seed: int, stream: int, n_knots: int, floor: float) -> np.ndarray:
    values = np.random.default_rng([int(seed), int(stream), 1 << 20]).uniform(floor, 1.0, n_knots)
    return values / values.max()


def smooth_noise(seed: int, stream: int, t_rel_s: np.ndarray, knot_s: float, span_s: float,
                 floor: float) -> np.ndarray:
    """A smooth random modulation in [floor, 1] of time since onset, reaching 1 at its brightest knot.

    Knots every ``knot_s`` over ``span_s``, joined by half-cosines: the patchiness of a type II lane,
    the slow variations of a continuum. Drawn once per event and stream (cached), read per block.
    """
    knots = _knots(seed, stream, int(np.ceil(span_s / knot_s)) + 2, floor)
    u = np.clip(np.asarray(t_rel_s) / knot_s, 0, knots.size - 1.000001)
    k = u.astype(int)
    w = 0.5 - 0.5 * np.cos(np.pi * (u - k))
    return knots[k] * (1 - w) + knots[k + 1] * w


__all__ = ["CUT_DECAYS", "CUT_SIGMA", "FWHM_PER_SIGMA", "NEGLIGIBLE", "TAPER_FRACTION", "Grid", "Patch", "blob",
           "cell_rng", "cells", "cells_near", "edges", "gauss_box", "overlay_bursts", "smooth_noise", "stroke",
           "taper"]
