"""Solar continua: type I noise storms, type IV and type V continua (physics in edge/sim/README.md).

- ``type_i``: a storm lasting hours over ``freq_stop_hz`` .. ``freq_start_hz``. It is a weak smooth
  continuum (``continuum_level`` x snr, varying slowly) with short narrowband bursts on top:
  ``burst_rate_per_s`` of them, each 0.1-1 s (FWHM) and 1.5-5 % of its frequency wide, with no drift
  and log-uniform amplitudes 0.2-1 x snr (where two overlap the brighter shows, so the bursts
  peak at ``snr`` above the continuum). Bursts are drawn per 1 s cell from the event's ``seed``,
  so a window of a six-hour storm costs what the window holds.
- ``type_iv``: a broadband continuum, Gaussian in log frequency between ``freq_stop_hz`` and
  ``freq_start_hz`` (its +-2 sigma points at onset), lasting tens of minutes to hours. It rises
  over 15 % of ``duration_s`` and fades over the last 40 %, with slow variations of +-15 % and
  optional broadband pulsations (``modulation_period_s``, ``modulation_depth``). A moving type IV
  (``speed_km_s`` > 0) shifts down with the plasma frequency at a source rising through the
  Newkirk corona. A stationary one (``speed_km_s`` = 0) does not drift.
- ``type_v``: a smooth continuum of 1-3 minutes over ``freq_stop_hz`` .. ``freq_start_hz``, with
  no drift. It rises over its first quarter and fades over its last 60 %, and follows a type III
  group (they share a ``group_id``).

Every continuum is separable or nearly so, so a block costs one outer product over the channels
the event covers.

>>> from types import SimpleNamespace
>>> e = SimpleNamespace(time_start_unix_s=0.0, duration_s=100.0, freq_start_hz=60e6, freq_stop_hz=20e6,
...                     speed_km_s=0.0, density_fold=1.0)
>>> round(float(type_iv_centre_hz(e, 50.0)) / 1e6, 3)
34.641
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from nenubroker.edge.sim.grid import (
    CUT_SIGMA,
    FWHM_PER_SIGMA,
    Grid,
    Patch,
    cell_rng,
    cells,
    cells_near,
    edges,
    overlay_bursts,
    smooth_noise,
)
from nenubroker.edge.sim.solar import R_SUN_KM, newkirk_plasma_hz, newkirk_radius, radial_drift_hz_per_s

if TYPE_CHECKING:
    from nenubroker.edge.sim.events import InjectedEvent

TYPE_I_DURATION_RANGE_S = (3600.0, 6 * 3600.0)
TYPE_I_BURST_DURATION_RANGE_S = (0.1, 1.0)
TYPE_I_RELATIVE_BANDWIDTH_RANGE = (0.015, 0.05)
TYPE_I_BURST_RATE_RANGE_PER_S = (0.5, 5.0)
TYPE_I_CONTINUUM_RANGE = (0.05, 0.3)
TYPE_I_AMPLITUDE_RANGE = (0.2, 1.0)
TYPE_IV_STATIONARY_DURATION_RANGE_S = (1800.0, 3 * 3600.0)
TYPE_IV_MOVING_DURATION_RANGE_S = (1200.0, 3600.0)
TYPE_IV_MOVING_SPEED_RANGE_KM_S = (200.0, 800.0)
TYPE_IV_LOG_WIDTH_RANGE = (0.3, 0.7)  # sigma of ln f
TYPE_IV_PULSATION_PERIOD_RANGE_S = (1.0, 5.0)
TYPE_V_DURATION_RANGE_S = (60.0, 180.0)
TYPE_V_MAX_FREQ_HZ = 120e6
_CELL_S = 1.0
_STORM_EDGE_S = 300.0
_BURST_REACH_S = CUT_SIGMA * TYPE_I_BURST_DURATION_RANGE_S[1] / FWHM_PER_SIGMA


def _log_position(e: InjectedEvent, f: np.ndarray) -> np.ndarray:
    return np.log(f / e.freq_stop_hz) / np.log(e.freq_start_hz / e.freq_stop_hz)


def _box_patch(e: InjectedEvent, g: Grid, light_curve: Callable[[np.ndarray], np.ndarray],
               spectrum: Callable[[np.ndarray], np.ndarray]) -> list[Patch]:
    """light_curve(t) x spectrum(f) over [start, start + duration] x [freq_stop, freq_start]."""
    ts = g.time_slice(e.time_start_unix_s, e.time_start_unix_s + e.duration_s)
    fs = g.freq_slice(e.freq_stop_hz, e.freq_start_hz)
    if ts.stop <= ts.start or fs.stop <= fs.start:
        return []
    curve = light_curve(g.centres_s(ts)).astype(np.float32)
    return [(ts, fs, curve[:, None] * spectrum(g.freq_hz[fs]).astype(np.float32)[None, :])]


# Type I ------------------------------------------------------------------------------------------


def _storm_envelope(e: InjectedEvent, t: np.ndarray) -> np.ndarray:
    edge = min(_STORM_EDGE_S, 0.1 * e.duration_s) / e.duration_s
    return edges((np.asarray(t) - e.time_start_unix_s) / e.duration_s, edge, edge)


def type_i_bursts(e: InjectedEvent, lo_s: float, hi_s: float) -> np.ndarray:
    """Bursts centred in [lo_s, hi_s]: rows of (centre time, frequency, FWHM s, FWHM Hz, amplitude)."""
    table = _bursts_in_cells(e, cells(e.time_start_unix_s, _CELL_S, lo_s, hi_s, _n_cells(e)))
    return table[(table[:, 0] >= lo_s) & (table[:, 0] <= hi_s)]


def _n_cells(e: InjectedEvent) -> int:
    return int(np.ceil(e.duration_s / _CELL_S))


def _bursts_in_cells(e: InjectedEvent, ks: Iterable[int]) -> np.ndarray:
    rows = []
    lo_ln, hi_ln = np.log(e.freq_stop_hz), np.log(e.freq_start_hz)
    for k in ks if e.burst_rate_per_s > 0 else ():
        rng = cell_rng(e.seed, 1, k)
        n = int(rng.poisson(e.burst_rate_per_s * _CELL_S))
        centre = e.time_start_unix_s + (k + rng.random(n)) * _CELL_S
        freq = np.exp(rng.uniform(lo_ln, hi_ln, n))
        fwhm = np.exp(rng.uniform(*np.log(TYPE_I_BURST_DURATION_RANGE_S), n))
        width = freq * rng.uniform(*TYPE_I_RELATIVE_BANDWIDTH_RANGE, n)
        amplitude = np.exp(rng.uniform(*np.log(TYPE_I_AMPLITUDE_RANGE), n)) * _storm_envelope(e, centre)
        rows.append(np.column_stack([centre, freq, fwhm, width, amplitude]))
    table = np.concatenate(rows) if rows else np.empty((0, 5))
    return table[table[:, 4] > 0]


def type_i_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    end = e.time_start_unix_s + e.duration_s
    if not g.overlaps(e.time_start_unix_s - _BURST_REACH_S, end + _BURST_REACH_S):
        return []

    def continuum(t: np.ndarray) -> np.ndarray:
        slow = smooth_noise(e.seed, 2, t - e.time_start_unix_s, 60.0, e.duration_s, 0.5)
        return e.continuum_level * _storm_envelope(e, t) * slow

    patches = _box_patch(e, g, continuum, lambda f: edges(_log_position(e, f), 0.15, 0.15))
    bursts = _bursts_in_cells(e, cells_near(e.time_start_unix_s, _CELL_S, g, _BURST_REACH_S, _n_cells(e)))
    reach = CUT_SIGMA * TYPE_I_RELATIVE_BANDWIDTH_RANGE[1] / FWHM_PER_SIGMA
    fs = g.freq_slice(e.freq_stop_hz * (1 - reach), e.freq_start_hz * (1 + reach))
    if bursts.size and fs.stop > fs.start:
        patches.append((slice(None), fs, overlay_bursts(g, g.freq_hz[fs], bursts)))
    return patches


def type_i_last_time(e: InjectedEvent) -> float:
    return e.time_start_unix_s + e.duration_s + _BURST_REACH_S


# Type IV -----------------------------------------------------------------------------------------


def type_iv_log_width(e: InjectedEvent) -> float:
    """Sigma of the spectrum in ln f: the band edges are its +-2 sigma points."""
    return float(np.log(e.freq_start_hz / e.freq_stop_hz) / 4)


def type_iv_centre_hz(e: InjectedEvent, t_unix_s: np.ndarray | float) -> np.ndarray:
    """The spectrum's peak: fixed (stationary), or falling with f_p at a source rising at ``speed_km_s``."""
    centre = np.sqrt(e.freq_start_hz * e.freq_stop_hz)
    if e.speed_km_s <= 0:
        return np.full(np.shape(t_unix_s), centre)
    r = newkirk_radius(centre, e.density_fold) + e.speed_km_s * (np.asarray(t_unix_s) - e.time_start_unix_s) / R_SUN_KM
    return newkirk_plasma_hz(r, e.density_fold)


def type_iv_drift_hz_per_s(e: InjectedEvent, freq_hz: float, t_unix_s: float) -> float:
    """Drift of the spectral feature at ``freq_hz`` at ``t_unix_s``: the whole spectrum scales with its peak."""
    if e.speed_km_s <= 0:
        return 0.0
    centre = float(type_iv_centre_hz(e, t_unix_s))
    return float(radial_drift_hz_per_s(centre, e.speed_km_s, e.density_fold)) * freq_hz / centre


def type_iv_light_curve(e: InjectedEvent, t: np.ndarray) -> np.ndarray:
    """Rise, plateau and fade, slow variations of +-15 %, and the pulsations if any."""
    t_rel = np.asarray(t) - e.time_start_unix_s
    curve = edges(t_rel / e.duration_s, 0.15, 0.4) * (0.7 + 0.3 * smooth_noise(e.seed, 3, t_rel, 120.0,
                                                                               e.duration_s, 0.0))
    if e.modulation_period_s > 0 and e.modulation_depth > 0:
        pulses = (0.5 + 0.5 * np.cos(2 * np.pi * t_rel / e.modulation_period_s)) ** 4
        curve = curve * (1 - e.modulation_depth * (1 - pulses))
    return curve


def type_iv_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    ts = g.time_slice(e.time_start_unix_s, e.time_start_unix_s + e.duration_s)
    if ts.stop <= ts.start:
        return []
    t = g.centres_s(ts)
    sigma = type_iv_log_width(e)
    centre = type_iv_centre_hz(e, t)
    reach = np.exp(CUT_SIGMA * sigma)
    fs = g.freq_slice(float(centre.min()) / reach, float(centre.max()) * reach)
    if fs.stop <= fs.start:
        return []
    ln_f = np.log(g.freq_hz[fs]).astype(np.float32)
    curve = type_iv_light_curve(e, t).astype(np.float32)[:, None]
    if e.speed_km_s <= 0:
        return [(ts, fs, curve * np.exp(-0.5 * ((ln_f - np.float32(np.log(centre[0]))) / sigma) ** 2)[None, :])]
    offset = (ln_f[None, :] - np.log(centre).astype(np.float32)[:, None]) / np.float32(sigma)
    offset *= offset
    offset *= np.float32(-0.5)
    return [(ts, fs, curve * np.exp(offset, out=offset))]


def type_iv_freq_range(e: InjectedEvent) -> tuple[float, float]:
    end = float(type_iv_centre_hz(e, e.time_start_unix_s + e.duration_s))
    return e.freq_stop_hz * end / float(type_iv_centre_hz(e, e.time_start_unix_s)), e.freq_start_hz


def type_iv_outline(e: InjectedEvent, n_points: int = 24) -> list[list[tuple[float, float]]]:
    """The +-2 sigma band following the spectrum's peak."""
    t = np.linspace(e.time_start_unix_s, e.time_start_unix_s + e.duration_s, n_points)
    scale = type_iv_centre_hz(e, t) / float(type_iv_centre_hz(e, e.time_start_unix_s))
    return [[*zip(t, e.freq_stop_hz * scale, strict=True),
             *zip(t[::-1], (e.freq_start_hz * scale)[::-1], strict=True)]]


# Type V ------------------------------------------------------------------------------------------


def type_v_light_curve(e: InjectedEvent, t: np.ndarray) -> np.ndarray:
    return edges((np.asarray(t) - e.time_start_unix_s) / e.duration_s, 0.25, 0.6)


def type_v_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    return _box_patch(e, g, lambda t: type_v_light_curve(e, t), lambda f: edges(_log_position(e, f), 0.15, 0.4))


__all__ = ["TYPE_I_AMPLITUDE_RANGE", "TYPE_I_BURST_DURATION_RANGE_S", "TYPE_I_BURST_RATE_RANGE_PER_S",
           "TYPE_I_CONTINUUM_RANGE", "TYPE_I_DURATION_RANGE_S", "TYPE_I_RELATIVE_BANDWIDTH_RANGE",
           "TYPE_IV_LOG_WIDTH_RANGE", "TYPE_IV_MOVING_DURATION_RANGE_S", "TYPE_IV_MOVING_SPEED_RANGE_KM_S",
           "TYPE_IV_PULSATION_PERIOD_RANGE_S", "TYPE_IV_STATIONARY_DURATION_RANGE_S", "TYPE_V_DURATION_RANGE_S",
           "TYPE_V_MAX_FREQ_HZ", "type_i_bursts", "type_i_last_time", "type_i_patches", "type_iv_centre_hz",
           "type_iv_drift_hz_per_s", "type_iv_freq_range", "type_iv_light_curve", "type_iv_log_width",
           "type_iv_outline", "type_iv_patches", "type_v_light_curve", "type_v_patches"]
