"""Solar bursts that drift: the type III law, the coronal density model, type II lanes, U and J bursts.

Physics and references in edge/sim/README.md. Plasma emission comes out at the local plasma
frequency f_p = 8.98 kHz sqrt(n_e / cm^-3) (fundamental) or near 2 f_p (harmonic). A source moving
through the corona therefore drifts as the density it crosses falls. The corona is Newkirk's
(1961) model, n_e(r) = N x 4.2e4 x 10^(4.32 / r) cm^-3 with r in solar radii and a fold N of 1-4.

- Type III: the empirical drift law df/dt = -0.01 f^1.84 MHz/s (Alvarez & Haddock 1973), with a
  Gaussian rise and an exponential decay at each frequency (see events.py).
- Type II: a shock moving radially at 500-2000 km/s. Its fundamental lane follows f_p(r(t)) and its
  harmonic lane follows ``harmonic_ratio`` x f_p, about 1.9-2. Each lane may split in two
  (``band_split``: f_upper / f_lower - 1). Each sub-band is a Gaussian of FWHM ``relative_bandwidth``
  x f, patchy in time. Herringbones are fast strokes shooting off the fundamental both ways.
- U and J bursts: an electron beam at 0.1-0.3 c along a semicircular loop. Its foot is where
  f_p = ``freq_start_hz`` and its apex where f_p = ``freq_stop_hz`` (the turning frequency). The
  height above the foot is h = R sin(v t / R), so the drift slows to zero at the apex. A U burst
  turns back up to ``freq_end_hz``; a J burst stops there.

Functions take an ``InjectedEvent`` (events.py); this module does not import it.

>>> round(float(newkirk_plasma_hz(newkirk_radius(40e6, 2.0), 2.0)) / 1e6, 6)
40.0
>>> bool(-0.2e6 < radial_drift_hz_per_s(40e6, 1000.0, 1.0) < -0.05e6)  # a 1000 km/s shock at 40 MHz
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nenubroker.edge.sim.grid import (
    CUT_DECAYS,
    CUT_SIGMA,
    FWHM_PER_SIGMA,
    TAPER_FRACTION,
    Grid,
    Patch,
    cell_rng,
    cells,
    edges,
    smooth_noise,
    stroke,
    taper,
)

if TYPE_CHECKING:
    from nenubroker.edge.sim.events import InjectedEvent

R_SUN_KM = 695_700.0
SPEED_OF_LIGHT_KM_S = 299_792.458
PLASMA_HZ_PER_SQRT_CM3 = 8980.0
NEWKIRK_BASE_CM3 = 4.2e4
NEWKIRK_EXPONENT = 4.32
NEWKIRK_FOLD_RANGE = (1.0, 4.0)
TYPE_III_RISE_S = 0.3
TYPE_II_SPEED_RANGE_KM_S = (500.0, 2000.0)
TYPE_II_DURATION_RANGE_S = (180.0, 900.0)
TYPE_II_HARMONIC_RATIO_RANGE = (1.9, 2.0)
TYPE_II_SPLIT_RANGE = (0.1, 0.3)
TYPE_II_LANE_WIDTH_RANGE = (0.03, 0.08)
TYPE_II_PATCH_KNOT_S = 8.0  # lanes brighten and fade on this time scale
TYPE_II_PATCH_FLOOR = 0.1
HERRINGBONE_RATE_RANGE_PER_S = (0.5, 3.0)
HERRINGBONE_EXTENT_RANGE = (0.05, 0.2)  # relative frequency extent of one stroke from its lane
HERRINGBONE_FWHM_RANGE_S = (0.1, 0.4)
HERRINGBONE_DRIFT_FACTOR_RANGE = (0.5, 1.5)  # x the type III law at its start frequency
LOOP_SPEED_RANGE_KM_S = (0.1 * SPEED_OF_LIGHT_KM_S, 0.3 * SPEED_OF_LIGHT_KM_S)
LOOP_TURN_WIDTH = 0.02  # the apex spreads over this fraction of the turning frequency (Gaussian sigma)
_CELL_S = 1.0
_HERRINGBONE_REACH_S = 8.0  # the longest stroke and its tail, in time


# Type III law ------------------------------------------------------------------------------------


def type_iii_drift_hz_per_s(freq_hz: np.ndarray | float) -> np.ndarray | float:
    """df/dt = -0.01 f^1.84 MHz/s with f in MHz."""
    return -0.01 * (np.asarray(freq_hz) / 1e6) ** 1.84 * 1e6


def type_iii_arrival_s(freq_hz: np.ndarray | float, freq_start_hz: float) -> np.ndarray:
    """Time after onset at which a type III starting at ``freq_start_hz`` reaches each frequency.

    Integrates dt = df / (df/dt) in closed form: t(f) = (f^-0.84 - f0^-0.84) / (0.84 * 0.01), f in MHz.
    """
    f = np.asarray(freq_hz) / 1e6
    f0 = freq_start_hz / 1e6
    return (f**-0.84 - f0**-0.84) / (0.84 * 0.01)


def type_iii_decay_s(freq_hz: np.ndarray | float) -> np.ndarray:
    """E-folding decay at one frequency: 1.8 s at 36 MHz, inversely proportional to frequency."""
    return 1.8 * 36e6 / np.asarray(freq_hz)


def rise_decay(local_s: np.ndarray, decay_s: np.ndarray) -> np.ndarray:
    """Gaussian rise (sigma ``TYPE_III_RISE_S``) before 0, exponential decay after, in float32 in place."""
    profile = np.minimum(local_s, 0)
    np.square(profile, out=profile)
    profile *= np.float32(-0.5 / TYPE_III_RISE_S**2)
    np.maximum(local_s, 0, out=local_s)
    local_s /= decay_s
    profile -= local_s
    return np.exp(profile, out=profile)


# Corona ------------------------------------------------------------------------------------------

_F_SCALE_HZ = PLASMA_HZ_PER_SQRT_CM3 * np.sqrt(NEWKIRK_BASE_CM3)


def newkirk_plasma_hz(r_sun: np.ndarray | float, fold: float = 1.0) -> np.ndarray:
    """Plasma frequency at ``r_sun`` solar radii in a ``fold`` x Newkirk corona."""
    return _F_SCALE_HZ * np.sqrt(fold) * 10 ** (NEWKIRK_EXPONENT / (2 * np.asarray(r_sun)))


def newkirk_radius(freq_hz: np.ndarray | float, fold: float = 1.0) -> np.ndarray:
    """Heliocentric distance (solar radii) where the plasma frequency is ``freq_hz``."""
    return NEWKIRK_EXPONENT / (2 * np.log10(np.asarray(freq_hz) / (_F_SCALE_HZ * np.sqrt(fold))))


def _dlnf_dr(r_sun: np.ndarray | float) -> np.ndarray:
    return -NEWKIRK_EXPONENT / 2 * np.log(10) / np.asarray(r_sun) ** 2


def radial_drift_hz_per_s(freq_hz: np.ndarray | float, speed_km_s: float, fold: float = 1.0,
                          harmonic: float = 1.0) -> np.ndarray:
    """Drift of emission at ``freq_hz`` (``harmonic`` x f_p) from a source moving out radially."""
    f = np.asarray(freq_hz)
    return f * _dlnf_dr(newkirk_radius(f / harmonic, fold)) * speed_km_s / R_SUN_KM


# Type II -----------------------------------------------------------------------------------------


def type_ii_plasma_hz(e: InjectedEvent, t_unix_s: np.ndarray | float) -> np.ndarray:
    """The fundamental (lower sub-band) lane: f_p at the shock, which left f_p = ``freq_start_hz`` at onset."""
    r0 = newkirk_radius(e.freq_start_hz, e.density_fold)
    dt = np.asarray(t_unix_s) - e.time_start_unix_s
    return newkirk_plasma_hz(r0 + e.speed_km_s * dt / R_SUN_KM, e.density_fold)


def type_ii_drift_hz_per_s(e: InjectedEvent, t_unix_s: np.ndarray | float, multiplier: float = 1.0) -> np.ndarray:
    """Drift of the lane at ``multiplier`` x the fundamental: multiplier x df_p/dt."""
    f = type_ii_plasma_hz(e, t_unix_s)
    return multiplier * radial_drift_hz_per_s(f, e.speed_km_s, e.density_fold)


def type_ii_lanes(e: InjectedEvent) -> list[tuple[float, float]]:
    """(frequency / f_p, relative amplitude) of each sub-band: F, F split, H, H split; the brightest is 1.

    The harmonic's brightness relative to the fundamental (0.5-1.5) and each sub-band's (0.6-1) are
    drawn from the event's ``seed``.
    """
    rng = cell_rng(e.seed, 0, 0)
    harmonic_amp, *sub = float(rng.uniform(0.5, 1.5)), *rng.uniform(0.6, 1.0, 4)
    lanes = [(1.0, sub[0])]
    if e.band_split > 0:
        lanes.append((1.0 + e.band_split, sub[1]))
    if e.harmonic_ratio > 0:
        lanes += [(e.harmonic_ratio * m, harmonic_amp * a) for m, a in
                  ([(1.0, sub[2])] + ([(1.0 + e.band_split, sub[3])] if e.band_split > 0 else []))]
    peak = max(a for _, a in lanes)
    return [(m, float(a / peak)) for m, a in lanes]


def _type_ii_envelope(e: InjectedEvent, t_unix_s: np.ndarray) -> np.ndarray:
    return edges((t_unix_s - e.time_start_unix_s) / e.duration_s, 0.1, 0.25)


def type_ii_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    t0, t1 = e.time_start_unix_s, e.time_start_unix_s + e.duration_s
    if not g.overlaps(t0, t1 + _HERRINGBONE_REACH_S):
        return []
    patches: list[Patch] = []
    ts = g.time_slice(t0, t1)
    if ts.stop > ts.start:
        t = g.centres_s(ts)
        f_p = type_ii_plasma_hz(e, t)
        envelope = _type_ii_envelope(e, t)
        for stream, (multiplier, amplitude) in enumerate(type_ii_lanes(e), start=1):
            centre = multiplier * f_p
            sigma = np.hypot(e.relative_bandwidth * centre / FWHM_PER_SIGMA, g.df_hz / np.sqrt(12))
            reach = CUT_SIGMA * float(sigma.max())
            fs = g.freq_slice(float(centre.min()) - reach, float(centre.max()) + reach)
            if fs.stop <= fs.start:
                continue
            light_curve = amplitude * envelope * smooth_noise(e.seed, stream, t - t0, TYPE_II_PATCH_KNOT_S,
                                                              e.duration_s, TYPE_II_PATCH_FLOOR)
            offset = ((g.freq_hz[None, fs] - centre[:, None]) / sigma[:, None]).astype(np.float32)
            patches.append((ts, fs, light_curve.astype(np.float32)[:, None] * np.exp(-0.5 * offset**2)))
    return patches + _herringbone_patches(e, g)


def herringbones(e: InjectedEvent, lo_s: float, hi_s: float) -> list[tuple[float, float, float, float, float]]:
    """(start time, start frequency, stop frequency, drift, FWHM) x amplitude of each stroke starting in
    [lo_s, hi_s]: forward strokes drift down from the fundamental's lower edge, reverse ones up from
    its upper edge, at 0.5-1.5 x the type III law (herringbones drift like type IIIs)."""
    if e.burst_rate_per_s <= 0:
        return []
    strokes = []
    n_cells = int(np.ceil(e.duration_s / _CELL_S))
    lanes = type_ii_lanes(e)
    fundamental_amp, top = lanes[0][1], max(m for m, _ in lanes if m < 1.5)
    for k in cells(e.time_start_unix_s, _CELL_S, lo_s, hi_s, n_cells):
        rng = cell_rng(e.seed, 100, k)
        for _ in range(int(rng.poisson(e.burst_rate_per_s * _CELL_S))):
            t, up = e.time_start_unix_s + (k + float(rng.random())) * _CELL_S, bool(rng.random() < 0.5)
            f_p = float(type_ii_plasma_hz(e, t))
            start = f_p * (top + e.relative_bandwidth / 2) if up else f_p * (1 - e.relative_bandwidth / 2)
            extent = float(rng.uniform(*HERRINGBONE_EXTENT_RANGE))
            drift = abs(float(type_iii_drift_hz_per_s(start))) * float(rng.uniform(*HERRINGBONE_DRIFT_FACTOR_RANGE))
            fwhm, amp = float(rng.uniform(*HERRINGBONE_FWHM_RANGE_S)), float(rng.uniform(0.3, 1.0))
            if t < e.time_start_unix_s + e.duration_s:
                strokes.append((t, start, start * (1 + extent if up else 1 - extent), drift if up else -drift,
                                fwhm, amp * fundamental_amp * float(_type_ii_envelope(e, np.array([t]))[0])))
    return strokes


def _herringbone_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    patches = []
    for t, start, stop, drift, fwhm, amp in herringbones(e, g.times_s[0] - _HERRINGBONE_REACH_S,
                                                         g.times_s[-1] + g.dt_s):
        patch = stroke(g, t, start, stop, drift, fwhm, edge_fraction=0.3) if amp > 0 else None
        if patch is not None:
            patches.append((patch[0], patch[1], amp * patch[2]))
    return patches


def type_ii_time_range(e: InjectedEvent) -> tuple[float, float]:
    return e.time_start_unix_s, e.time_start_unix_s + e.duration_s


def type_ii_last_time(e: InjectedEvent) -> float:
    return e.time_start_unix_s + e.duration_s + _HERRINGBONE_REACH_S


def type_ii_freq_range(e: InjectedEvent) -> tuple[float, float]:
    """From the fundamental's lower edge at the end to the highest sub-band's upper edge at onset."""
    top = max(m for m, _ in type_ii_lanes(e))
    end = float(type_ii_plasma_hz(e, e.time_start_unix_s + e.duration_s))
    return end * (1 - e.relative_bandwidth / 2), top * e.freq_start_hz * (1 + e.relative_bandwidth / 2)


def type_ii_outline(e: InjectedEvent, n_points: int = 24) -> list[list[tuple[float, float]]]:
    """One ring per sub-band: its FWHM band drifting with the shock from onset to end."""
    t = np.linspace(e.time_start_unix_s, e.time_start_unix_s + e.duration_s, n_points)
    f_p = type_ii_plasma_hz(e, t)
    rings = []
    for multiplier, _ in type_ii_lanes(e):
        lo, hi = multiplier * f_p * (1 - e.relative_bandwidth / 2), multiplier * f_p * (1 + e.relative_bandwidth / 2)
        rings.append([*zip(t, lo, strict=True), *zip(t[::-1], hi[::-1], strict=True)])
    return rings


# U and J bursts ----------------------------------------------------------------------------------


def _loop(e: InjectedEvent) -> tuple[float, float, float]:
    """Foot radius, loop height (solar radii) and seconds per radian of the beam along the loop."""
    r0 = float(newkirk_radius(e.freq_start_hz, e.density_fold))
    height = float(newkirk_radius(e.freq_stop_hz, e.density_fold)) - r0
    return r0, height, height * R_SUN_KM / e.speed_km_s


def loop_apex_unix_s(e: InjectedEvent) -> float:
    """When the beam reaches the loop top, where the burst stops drifting (J) or turns over (U)."""
    return e.time_start_unix_s + np.pi / 2 * _loop(e)[2]


def loop_frequency_hz(e: InjectedEvent, t_unix_s: np.ndarray | float) -> np.ndarray:
    """Plasma frequency at the beam: f_p(r0 + R sin(theta)), theta = (t - t0) / (seconds per radian)."""
    r0, height, per_rad = _loop(e)
    theta = np.clip((np.asarray(t_unix_s) - e.time_start_unix_s) / per_rad, 0, np.pi)
    return newkirk_plasma_hz(r0 + height * np.sin(theta), e.density_fold)


def loop_drift_hz_per_s(e: InjectedEvent, t_unix_s: np.ndarray | float) -> np.ndarray:
    """df/dt along the loop: negative on the way up, zero at the apex, positive on the way down."""
    r0, height, per_rad = _loop(e)
    theta = np.clip((np.asarray(t_unix_s) - e.time_start_unix_s) / per_rad, 0, np.pi)
    r = r0 + height * np.sin(theta)
    return newkirk_plasma_hz(r, e.density_fold) * _dlnf_dr(r) * height * np.cos(theta) / per_rad


def loop_arrivals_unix_s(e: InjectedEvent, freq_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """When the beam passes ``freq_hz`` going up the loop and coming down (both the apex below it)."""
    r0, height, per_rad = _loop(e)
    x = np.clip((newkirk_radius(np.asarray(freq_hz), e.density_fold) - r0) / height, 0, 1)
    up = np.arcsin(x)
    return e.time_start_unix_s + per_rad * up, e.time_start_unix_s + per_rad * (np.pi - up)


def _return_amplitude(e: InjectedEvent) -> float:
    """The U's descending branch is weaker: 0.3-0.8 x, drawn from the event's seed."""
    return float(cell_rng(e.seed, 0, 0).uniform(0.3, 0.8)) if e.kind == "type_iii_u" else 0.0


def loop_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    if not g.overlaps(e.time_start_unix_s - CUT_SIGMA * TYPE_III_RISE_S, loop_last_time(e)):
        return []
    turn = e.freq_stop_hz
    fs = g.freq_slice(turn * (1 - CUT_SIGMA * LOOP_TURN_WIDTH), e.freq_start_hz)
    f = g.freq_hz[fs]
    if f.size == 0:
        return []
    up, down = loop_arrivals_unix_s(e, f)
    decay = type_iii_decay_s(f)
    apex = np.exp(-0.5 * (np.minimum(f - turn, 0) / (LOOP_TURN_WIDTH * turn)) ** 2)
    a_up = apex * taper((e.freq_start_hz - f) / (TAPER_FRACTION * e.freq_start_hz))
    a_down = apex * _return_amplitude(e) * taper((e.freq_end_hz - f) / (TAPER_FRACTION * max(e.freq_end_hz, 1.0)))
    reach = CUT_DECAYS * decay
    active = g.overlaps(up - CUT_SIGMA * TYPE_III_RISE_S, up + reach)
    active |= (a_down > 0) & g.overlaps(down - CUT_SIGMA * TYPE_III_RISE_S, down + reach)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return []
    a, b = int(idx[0]), int(idx[-1]) + 1
    t_rel = (g.times_s - g.times_s[0] + g.dt_s / 2).astype(np.float32)
    decay32 = decay[a:b].astype(np.float32)
    profile = rise_decay(t_rel[:, None] - (up[a:b] - g.times_s[0]).astype(np.float32)[None, :], decay32)
    profile *= a_up[a:b].astype(np.float32)
    if np.any(a_down[a:b] > 0):
        back = rise_decay(t_rel[:, None] - (down[a:b] - g.times_s[0]).astype(np.float32)[None, :], decay32)
        np.maximum(profile, back * a_down[a:b].astype(np.float32), out=profile)
    return [(slice(None), slice(fs.start + a, fs.start + b), profile)]


def loop_time_range(e: InjectedEvent) -> tuple[float, float]:
    """Onset to one e-folding after the last emission: the U's end frequency, or the J's apex."""
    if e.kind == "type_iii_u":
        end = float(loop_arrivals_unix_s(e, np.array([e.freq_end_hz]))[1][0])
        return e.time_start_unix_s, end + float(type_iii_decay_s(e.freq_end_hz))
    return e.time_start_unix_s, loop_apex_unix_s(e) + float(type_iii_decay_s(e.freq_stop_hz))


def loop_last_time(e: InjectedEvent) -> float:
    return loop_time_range(e)[1] + (CUT_DECAYS - 1) * float(type_iii_decay_s(e.freq_stop_hz))


def loop_outline(e: InjectedEvent, n_points: int = 24) -> list[list[tuple[float, float]]]:
    """The band between the ridge and one e-folding after it, around the U (or along the J).

    Where the two legs of a U are closer than the decay, the band between them is filled.
    """
    down = np.geomspace(e.freq_start_hz, e.freq_stop_hz, n_points)  # the first leg, descending
    first, second = loop_arrivals_unix_s(e, down)
    decay = type_iii_decay_s(down)
    if e.kind != "type_iii_u":
        return [[*zip(first, down, strict=True), *zip((first + decay)[::-1], down[::-1], strict=True)]]
    up = np.geomspace(e.freq_stop_hz, e.freq_end_hz, n_points)  # the return leg, ascending
    first_up, second_up = loop_arrivals_unix_s(e, up)
    decay_up = type_iii_decay_s(up)
    ring: list[Any] = [*zip(first, down, strict=True), *zip(second_up + decay_up, up, strict=True)]
    apart = first_up + decay_up < second_up
    ring += [(t, f) for t, f, keep in zip(second_up[::-1], up[::-1], apart[::-1], strict=True) if keep]
    inner_ok = (down > e.freq_end_hz) | (first + decay < second)
    ring += [(t, f) for t, f, keep in zip((first + decay)[::-1], down[::-1], inner_ok[::-1], strict=True) if keep]
    return [ring]


__all__ = ["HERRINGBONE_DRIFT_FACTOR_RANGE", "HERRINGBONE_EXTENT_RANGE", "HERRINGBONE_FWHM_RANGE_S",
           "HERRINGBONE_RATE_RANGE_PER_S", "LOOP_SPEED_RANGE_KM_S", "LOOP_TURN_WIDTH", "NEWKIRK_FOLD_RANGE",
           "R_SUN_KM", "SPEED_OF_LIGHT_KM_S", "TYPE_III_RISE_S", "TYPE_II_DURATION_RANGE_S",
           "TYPE_II_HARMONIC_RATIO_RANGE", "TYPE_II_LANE_WIDTH_RANGE", "TYPE_II_SPEED_RANGE_KM_S",
           "TYPE_II_SPLIT_RANGE", "herringbones", "loop_apex_unix_s", "loop_arrivals_unix_s", "loop_drift_hz_per_s",
           "loop_frequency_hz", "loop_last_time", "loop_outline", "loop_patches", "loop_time_range",
           "newkirk_plasma_hz", "newkirk_radius", "radial_drift_hz_per_s", "rise_decay", "type_ii_drift_hz_per_s",
           "type_ii_freq_range", "type_ii_lanes", "type_ii_last_time", "type_ii_outline", "type_ii_patches",
           "type_ii_plasma_hz", "type_ii_time_range", "type_iii_arrival_s", "type_iii_decay_s",
           "type_iii_drift_hz_per_s"]
