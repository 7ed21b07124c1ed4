"""Jupiter's decametric emission (Io-related storms, below 40 MHz): S-bursts and L-bursts.

Physics and references in edge/sim/README.md.

- ``jupiter_s``: one S-burst drifting linearly at ``drift_hz_per_s`` (-15 to -25 MHz/s) from
  ``freq_start_hz`` to ``freq_stop_hz``, ``duration_s`` (1-5 ms, FWHM) at one frequency. Drawn in trains.
- ``jupiter_l``: an arc of L-bursts. At each frequency the arc is on for ``duration_s`` (20-90 s),
  centred later at the band edges than at mid-band by ``arc_delay_s`` (> 0: a vertex-early arc "(";
  < 0: vertex-late ")"). In it, ``burst_rate_per_s`` L-bursts appear, each 1-4 s (FWHM) long and
  1-5 MHz wide, with no drift of their own; where bursts overlap the brighter one shows, so the
  arc peaks at ``snr``. Their intensity is cut by modulation lanes: fringes
  drifting at ``modulation_drift_hz_per_s`` (+-90 to 200 kHz/s), ``modulation_period_s`` (1-5 s)
  apart in time, ``modulation_depth`` deep. Bursts are drawn per 1 s cell from the event's ``seed``.

>>> from types import SimpleNamespace
>>> arc = SimpleNamespace(time_start_unix_s=0.0, duration_s=40.0, arc_delay_s=20.0, freq_start_hz=36e6,
...                       freq_stop_hz=20e6)
>>> [round(float(t), 1) for t in jupiter_l_arc_unix_s(arc, np.array([20e6, 28e6, 36e6]))]
[40.0, 20.0, 40.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nenubroker.edge.sim.grid import (
    CUT_SIGMA,
    FWHM_PER_SIGMA,
    TAPER_FRACTION,
    Grid,
    Patch,
    cell_rng,
    cells,
    edges,
    gauss_box,
    overlay_bursts,
    taper,
)

if TYPE_CHECKING:
    from nenubroker.edge.sim.events import InjectedEvent

JUPITER_MAX_FREQ_HZ = 40e6
JUPITER_DRIFT_RANGE_HZ_PER_S = (-25e6, -15e6)
JUPITER_DURATION_RANGE_S = (0.001, 0.005)
JUPITER_SWEEP_RANGE_S = (0.01, 0.1)
JUPITER_L_ARC_DURATION_RANGE_S = (20.0, 90.0)
JUPITER_L_ARC_DELAY_RANGE_S = (10.0, 60.0)
JUPITER_L_BURST_DURATION_RANGE_S = (1.0, 4.0)
JUPITER_L_BANDWIDTH_RANGE_HZ = (1e6, 5e6)
JUPITER_L_BURST_RATE_RANGE_PER_S = (1.0, 3.0)
JUPITER_L_LANE_DRIFT_RANGE_HZ_PER_S = (90e3, 200e3)
JUPITER_L_LANE_PERIOD_RANGE_S = (1.0, 5.0)
JUPITER_L_LANE_DEPTH_RANGE = (0.5, 0.9)
JUPITER_L_AMPLITUDE_RANGE = (0.3, 1.0)
_CELL_S = 1.0
_BURST_REACH_S = CUT_SIGMA * JUPITER_L_BURST_DURATION_RANGE_S[1] / FWHM_PER_SIGMA


# S-bursts ----------------------------------------------------------------------------------------


def jupiter_s_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    if e.drift_hz_per_s >= 0:
        raise ValueError(f"jupiter_s needs a negative drift, got {e.drift_hz_per_s} Hz/s")
    fs = g.freq_slice(e.freq_stop_hz, min(e.freq_start_hz, JUPITER_MAX_FREQ_HZ))
    f = g.freq_hz[fs]
    sigma_s = e.duration_s / FWHM_PER_SIGMA
    centre = e.time_start_unix_s + e.duration_s / 2 + (f - e.freq_start_hz) / e.drift_hz_per_s
    if f.size == 0:
        return []
    ts = g.time_slice(centre.min() - CUT_SIGMA * sigma_s, centre.max() + CUT_SIGMA * sigma_s)
    if ts.stop <= ts.start:
        return []
    x = (f - e.freq_stop_hz) / (e.freq_start_hz - e.freq_stop_hz)
    envelope = taper(np.minimum(x, 1 - x) / TAPER_FRACTION)
    return [(ts, fs, gauss_box(g.times_s[ts, None], g.dt_s, centre[None, :], sigma_s) * envelope)]


# L-bursts ----------------------------------------------------------------------------------------


def jupiter_l_arc_unix_s(e: InjectedEvent, freq_hz: np.ndarray) -> np.ndarray:
    """Centre time of the arc at each frequency: a parabola, the vertex at mid-band."""
    mid, half = (e.freq_start_hz + e.freq_stop_hz) / 2, (e.freq_start_hz - e.freq_stop_hz) / 2
    u = (np.asarray(freq_hz) - mid) / half
    return e.time_start_unix_s + e.duration_s / 2 + max(0.0, -e.arc_delay_s) + e.arc_delay_s * u**2


def _arc_envelope(e: InjectedEvent, t: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
    x = (np.asarray(t) - jupiter_l_arc_unix_s(e, freq_hz)) / e.duration_s + 0.5
    inside = (np.asarray(freq_hz) >= e.freq_stop_hz) & (np.asarray(freq_hz) <= e.freq_start_hz)
    return edges(x, 0.2, 0.2) * inside


def jupiter_l_bursts(e: InjectedEvent, lo_s: float, hi_s: float) -> np.ndarray:
    """Bursts centred in [lo_s, hi_s] inside the arc: rows of (centre time, frequency, FWHM s, FWHM Hz,
    amplitude); amplitudes log-uniform 0.3-1, times the arc's envelope."""
    rows = []
    top = min(e.freq_start_hz, JUPITER_MAX_FREQ_HZ)
    for k in cells(e.time_start_unix_s, _CELL_S, lo_s, hi_s, int(np.ceil(jupiter_l_span_s(e) / _CELL_S))):
        rng = cell_rng(e.seed, 1, k)
        n = int(rng.poisson(e.burst_rate_per_s * _CELL_S))
        centre = e.time_start_unix_s + (k + rng.random(n)) * _CELL_S
        freq = rng.uniform(e.freq_stop_hz, top, n)
        fwhm = rng.uniform(*JUPITER_L_BURST_DURATION_RANGE_S, n)
        width = rng.uniform(*JUPITER_L_BANDWIDTH_RANGE_HZ, n)
        amplitude = np.exp(rng.uniform(*np.log(JUPITER_L_AMPLITUDE_RANGE), n)) * _arc_envelope(e, centre, freq)
        rows.append(np.column_stack([centre, freq, fwhm, width, amplitude]))
    table = np.concatenate(rows) if rows else np.empty((0, 5))
    return table[(table[:, 0] >= lo_s) & (table[:, 0] <= hi_s) & (table[:, 4] > 0)]


def jupiter_l_modulation(e: InjectedEvent, t: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
    """Modulation lanes: 1 - depth x (1 + cos(2 pi phase)) / 2, with phase constant along df/dt = lane drift."""
    mid = (e.freq_start_hz + e.freq_stop_hz) / 2
    lag = (np.asarray(t) - e.time_start_unix_s) - (np.asarray(freq_hz) - mid) / e.modulation_drift_hz_per_s
    return 1 - e.modulation_depth * (0.5 + 0.5 * np.cos(2 * np.pi * lag / e.modulation_period_s))


def jupiter_l_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    if not g.overlaps(e.time_start_unix_s - _BURST_REACH_S, jupiter_l_last_time(e)):
        return []
    bursts = jupiter_l_bursts(e, g.times_s[0] - _BURST_REACH_S, g.times_s[-1] + g.dt_s + _BURST_REACH_S)
    top = min(e.freq_start_hz, JUPITER_MAX_FREQ_HZ)
    fs = g.freq_slice(e.freq_stop_hz - CUT_SIGMA * JUPITER_L_BANDWIDTH_RANGE_HZ[1] / FWHM_PER_SIGMA, top)
    if bursts.size == 0 or fs.stop <= fs.start:
        return []
    f = g.freq_hz[fs]
    total = overlay_bursts(g, f, bursts)
    total *= jupiter_l_modulation(e, g.centres_s(slice(None))[:, None], f[None, :]).astype(np.float32)
    return [(slice(None), fs, total)]


def jupiter_l_span_s(e: InjectedEvent) -> float:
    """From the arc's first emission (its vertex or its ends) to its last."""
    return e.duration_s + abs(e.arc_delay_s)


def jupiter_l_last_time(e: InjectedEvent) -> float:
    return e.time_start_unix_s + jupiter_l_span_s(e) + _BURST_REACH_S


def jupiter_l_outline(e: InjectedEvent, n_points: int = 24) -> list[list[tuple[float, float]]]:
    """The arc: the band of ``duration_s`` around its centre time at each frequency."""
    f = np.linspace(e.freq_stop_hz, min(e.freq_start_hz, JUPITER_MAX_FREQ_HZ), n_points)
    centre = jupiter_l_arc_unix_s(e, f)
    return [[*zip(centre - e.duration_s / 2, f, strict=True),
             *zip((centre + e.duration_s / 2)[::-1], f[::-1], strict=True)]]


__all__ = ["JUPITER_DRIFT_RANGE_HZ_PER_S", "JUPITER_DURATION_RANGE_S", "JUPITER_L_AMPLITUDE_RANGE",
           "JUPITER_L_ARC_DELAY_RANGE_S", "JUPITER_L_ARC_DURATION_RANGE_S", "JUPITER_L_BANDWIDTH_RANGE_HZ",
           "JUPITER_L_BURST_DURATION_RANGE_S", "JUPITER_L_BURST_RATE_RANGE_PER_S", "JUPITER_L_LANE_DEPTH_RANGE",
           "JUPITER_L_LANE_DRIFT_RANGE_HZ_PER_S", "JUPITER_L_LANE_PERIOD_RANGE_S", "JUPITER_MAX_FREQ_HZ",
           "JUPITER_SWEEP_RANGE_S", "jupiter_l_arc_unix_s", "jupiter_l_bursts", "jupiter_l_last_time",
           "jupiter_l_modulation", "jupiter_l_outline", "jupiter_l_patches", "jupiter_l_span_s",
           "jupiter_s_patches"]
