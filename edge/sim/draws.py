"""Random draws of the simulator's events: parameters in the published ranges (edge/sim/README.md).

Each kind is drawn wherever in ``freq_lo_hz`` .. ``freq_hi_hz`` its physics allows (NenuFAR:
10-85 MHz): Jupiter below 40 MHz, type V below 120 MHz, type I storms reaching the band's top,
U and J bursts starting in its upper half. ``circular_polarisation`` (V/I) is drawn for the newer
kinds. The older kinds get their typical degree (``TYPICAL_CIRCULAR_POLARISATION``), with no random
draw, so that their random streams are unchanged.

>>> import numpy as np
>>> [e.kind for e in random_event("type_iii", np.random.default_rng(1), "b", 0.0, 20e6, 60e6, 5.0)][:1]
['type_iii']
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nenubroker.edge.sim import jupiter as jup
from nenubroker.edge.sim import solar, storms
from nenubroker.edge.sim.events import (
    JUPITER_DRIFT_RANGE_HZ_PER_S,
    JUPITER_DURATION_RANGE_S,
    JUPITER_MAX_FREQ_HZ,
    JUPITER_SWEEP_RANGE_S,
    RANDOM_KINDS,
    SPIKE_DURATION_RANGE_S,
    SPIKE_RELATIVE_BANDWIDTH_RANGE,
    STRIA_DURATION_RANGE_S,
    STRIA_WIDTH_RANGE_HZ,
    InjectedEvent,
    arrival_unix_s,
    type_iii_decay_s,
    type_iii_drift_hz_per_s,
)

#: V/I given to the older kinds without a random draw (right-handed sense for all): type III
#: fundamental and IIIb o-mode, moderate; harmonic weak; spikes strong; Jupiter S near-total.
TYPICAL_CIRCULAR_POLARISATION = {"type_iii": 0.35, "type_iii_harmonic": 0.1, "type_iiib": 0.35, "spike": 0.6,
                                 "jupiter_s": 0.9}
TYPE_I_MIN_FREQ_HZ = 20e6


def _draw_type_iii(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                   harmonic_fraction: float) -> list[InjectedEvent]:
    """With a harmonic, the fundamental starts below hi/2, so that its 2f ridge lies in the band.

    Both ridges run down to the band bottom: the fundamental goes on below the band, and the
    harmonic with it.
    """
    with_harmonic = bool(rng.random() < harmonic_fraction) and hi_hz / 2 > lo_hz
    if with_harmonic:
        f0 = float(rng.uniform(max(lo_hz, 0.375 * hi_hz), hi_hz / 2))
    else:
        f0 = float(rng.uniform(lo_hz + 0.5 * (hi_hz - lo_hz), hi_hz))
    fundamental = InjectedEvent("type_iii", beam, at_s, f0, snr, duration_s=float(type_iii_decay_s(f0)),
                                freq_stop_hz=lo_hz, drift_hz_per_s=float(type_iii_drift_hz_per_s(f0)),
                                circular_polarisation=TYPICAL_CIRCULAR_POLARISATION["type_iii"])
    if not with_harmonic:
        return [fundamental]
    harmonic = replace(fundamental, freq_start_hz=2 * f0, harmonic=2,
                       snr=snr * float(rng.uniform(0.3, 0.7)), drift_hz_per_s=2 * fundamental.drift_hz_per_s,
                       circular_polarisation=TYPICAL_CIRCULAR_POLARISATION["type_iii_harmonic"])
    return [fundamental, harmonic]


def _draw_type_iiib(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                    harmonic_fraction: float) -> list[InjectedEvent]:
    """A chain of 3-12 MHz: striae 1.5-4 widths (of the wider neighbour) apart, the brightest at ``snr``."""
    f0 = float(rng.uniform(lo_hz + 0.4 * (hi_hz - lo_hz), hi_hz))
    stop_hz = max(lo_hz, f0 - float(rng.uniform(3e6, 12e6)))
    f, width = f0 - float(rng.uniform(0, 50e3)), float(rng.uniform(*STRIA_WIDTH_RANGE_HZ))
    freqs, widths = [], []
    while f > stop_hz:
        freqs.append(f)
        widths.append(width)
        width = float(rng.uniform(*STRIA_WIDTH_RANGE_HZ))
        f -= max(width, widths[-1]) * float(rng.uniform(1.5, 4.0))
    amplitude = rng.uniform(0.4, 1.0, len(freqs))
    amplitude /= amplitude.max()
    return [InjectedEvent("type_iiib", beam, at_s, f0, snr, freq_stop_hz=stop_hz,
                          duration_s=float(rng.uniform(*STRIA_DURATION_RANGE_S)),
                          drift_hz_per_s=float(type_iii_drift_hz_per_s(f0)),
                          striae_freq_hz=tuple(freqs), striae_width_hz=tuple(widths),
                          striae_amplitude=tuple(float(a) for a in amplitude),
                          stria_drift_hz_per_s=float(rng.uniform(-0.3e6, 0.0)),
                          circular_polarisation=TYPICAL_CIRCULAR_POLARISATION["type_iiib"])]


def _draw_spikes(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                 harmonic_fraction: float) -> list[InjectedEvent]:
    """A cluster: 1 + geometric members (mean 4), within ~2 % in frequency, ~0.15 s apart."""
    centre_hz = float(rng.uniform(lo_hz, hi_hz))
    events, t = [], at_s
    for i in range(int(min(rng.geometric(0.25), 30))):
        f = centre_hz if i == 0 else float(np.clip(centre_hz * (1 + rng.normal(0, 0.02)), lo_hz, hi_hz))
        events.append(InjectedEvent(
            "spike", beam, t, f, snr if i == 0 else snr * float(rng.uniform(0.5, 1.0)),
            duration_s=float(rng.uniform(*SPIKE_DURATION_RANGE_S)),
            bandwidth_hz=f * float(rng.uniform(*SPIKE_RELATIVE_BANDWIDTH_RANGE)),
            circular_polarisation=TYPICAL_CIRCULAR_POLARISATION["spike"]))
        t += float(rng.exponential(0.15))
    return events


def _draw_jupiter_s(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                    harmonic_fraction: float) -> list[InjectedEvent]:
    """A train of 10-60 S-bursts 5-50 ms apart, below a common top frequency."""
    top_max = min(hi_hz, JUPITER_MAX_FREQ_HZ)
    top_min = max(lo_hz + 1e6, 0.6 * JUPITER_MAX_FREQ_HZ)
    if top_min >= top_max:
        return []
    top_hz = float(rng.uniform(top_min, top_max))
    events, t = [], at_s
    for i in range(int(rng.integers(10, 61))):
        start_hz = max(top_hz - float(rng.uniform(0, 1.5e6)), lo_hz + 0.2e6)
        drift = float(rng.uniform(*JUPITER_DRIFT_RANGE_HZ_PER_S))
        stop_hz = max(lo_hz, start_hz + drift * float(rng.uniform(*JUPITER_SWEEP_RANGE_S)))
        events.append(InjectedEvent(
            "jupiter_s", beam, t, start_hz, snr if i == 0 else snr * float(rng.uniform(0.5, 1.0)),
            duration_s=float(rng.uniform(*JUPITER_DURATION_RANGE_S)), freq_stop_hz=stop_hz,
            drift_hz_per_s=drift, circular_polarisation=TYPICAL_CIRCULAR_POLARISATION["jupiter_s"]))
        t += float(rng.uniform(0.005, 0.05))
    return events


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31))


def _sense(rng: np.random.Generator) -> float:
    """The sense of circular polarisation of a solar source: that of its active region's leading spot."""
    return 1.0 if rng.random() < 0.5 else -1.0


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _draw_type_i(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                 harmonic_fraction: float) -> list[InjectedEvent]:
    """A storm from the band's top down to a cut-off log-uniform in 20 MHz .. 0.8 x top (mostly high)."""
    floor = max(lo_hz, TYPE_I_MIN_FREQ_HZ)
    stop = _log_uniform(rng, floor, max(0.8 * hi_hz, floor * 1.01)) if floor < 0.8 * hi_hz else lo_hz
    return [InjectedEvent(
        "type_i", beam, at_s, hi_hz, snr, duration_s=float(rng.uniform(*storms.TYPE_I_DURATION_RANGE_S)),
        freq_stop_hz=stop, burst_rate_per_s=float(rng.uniform(*storms.TYPE_I_BURST_RATE_RANGE_PER_S)),
        continuum_level=float(rng.uniform(*storms.TYPE_I_CONTINUUM_RANGE)), seed=_seed(rng),
        circular_polarisation=_sense(rng) * float(rng.uniform(0.6, 1.0)))]


def _draw_type_ii(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                  harmonic_fraction: float) -> list[InjectedEvent]:
    """Fundamental starting log-uniform in 0.3-1 x the band's top; half band-split, 30 % with herringbones."""
    event = InjectedEvent(
        "type_ii", beam, at_s, _log_uniform(rng, max(lo_hz, 0.3 * hi_hz), hi_hz), snr,
        duration_s=float(rng.uniform(*solar.TYPE_II_DURATION_RANGE_S)),
        speed_km_s=float(rng.uniform(*solar.TYPE_II_SPEED_RANGE_KM_S)),
        density_fold=float(rng.uniform(*solar.NEWKIRK_FOLD_RANGE)),
        harmonic_ratio=float(rng.uniform(*solar.TYPE_II_HARMONIC_RATIO_RANGE)),
        band_split=float(rng.uniform(*solar.TYPE_II_SPLIT_RANGE)) if rng.random() < 0.5 else 0.0,
        relative_bandwidth=float(rng.uniform(*solar.TYPE_II_LANE_WIDTH_RANGE)),
        burst_rate_per_s=float(rng.uniform(*solar.HERRINGBONE_RATE_RANGE_PER_S)) if rng.random() < 0.3 else 0.0,
        seed=_seed(rng), circular_polarisation=_sense(rng) * float(rng.uniform(0.0, 0.2)))
    end_hz = float(solar.type_ii_plasma_hz(event, at_s + event.duration_s))
    return [replace(event, freq_stop_hz=end_hz, drift_hz_per_s=float(solar.type_ii_drift_hz_per_s(event, at_s)))]


def _draw_loop(kind: str, rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float,
               snr: float) -> list[InjectedEvent]:
    """Foot log-uniform in the band's upper half, turning at 0.35-0.75 x that; a U comes back 30-100 % up."""
    start = _log_uniform(rng, max(lo_hz, 0.5 * hi_hz), hi_hz)
    turn = max(lo_hz, start * float(rng.uniform(0.35, 0.75)))
    if turn > 0.9 * start:
        return []
    event = InjectedEvent(
        kind, beam, at_s, start, snr, duration_s=float(type_iii_decay_s(start)), freq_stop_hz=turn,
        speed_km_s=float(rng.uniform(*solar.LOOP_SPEED_RANGE_KM_S)),
        density_fold=float(rng.uniform(*solar.NEWKIRK_FOLD_RANGE)), seed=_seed(rng),
        circular_polarisation=_sense(rng) * float(rng.uniform(0.1, 0.5)))
    if kind == "type_iii_u":
        event = replace(event, freq_end_hz=turn + float(rng.uniform(0.3, 1.0)) * (start - turn))
    return [replace(event, drift_hz_per_s=float(solar.loop_drift_hz_per_s(event, at_s)))]


def _draw_type_iv(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                  harmonic_fraction: float) -> list[InjectedEvent]:
    """30 % moving (peak in the band's upper half, drifting down), 70 % stationary (peak anywhere);
    half with pulsations."""
    sigma = float(rng.uniform(*storms.TYPE_IV_LOG_WIDTH_RANGE))
    if rng.random() < 0.3:
        centre, duration = _log_uniform(rng, max(lo_hz, 0.5 * hi_hz), hi_hz), storms.TYPE_IV_MOVING_DURATION_RANGE_S
        speed, fold = float(rng.uniform(*storms.TYPE_IV_MOVING_SPEED_RANGE_KM_S)), float(rng.uniform(1.0, 4.0))
        polarisation = float(rng.uniform(0.0, 0.3))
    else:
        centre, duration = _log_uniform(rng, lo_hz, hi_hz), storms.TYPE_IV_STATIONARY_DURATION_RANGE_S
        speed, fold, polarisation = 0.0, 1.0, float(rng.uniform(0.6, 1.0))
    pulsating = rng.random() < 0.5
    event = InjectedEvent(
        "type_iv", beam, at_s, centre * np.exp(2 * sigma), snr, duration_s=float(rng.uniform(*duration)),
        freq_stop_hz=centre * np.exp(-2 * sigma), speed_km_s=speed, density_fold=fold, seed=_seed(rng),
        modulation_period_s=float(rng.uniform(*storms.TYPE_IV_PULSATION_PERIOD_RANGE_S)) if pulsating else 0.0,
        modulation_depth=float(rng.uniform(0.1, 0.4)) if pulsating else 0.0,
        circular_polarisation=_sense(rng) * polarisation)
    return [replace(event, drift_hz_per_s=storms.type_iv_drift_hz_per_s(event, event.freq_start_hz, at_s))]


def _draw_type_v(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                 harmonic_fraction: float) -> list[InjectedEvent]:
    """A group of 1-4 type IIIs 1-6 s apart, then a type V from the band's bottom up to a top (below
    120 MHz), starting 1-5 s after the last type III reaches that top, 0.3-0.8 x as bright, polarised
    weakly in the opposite sense."""
    sense, group, t = _sense(rng), [], at_s
    for i in range(int(rng.integers(1, 5))):
        for burst in _draw_type_iii(rng, beam, t, lo_hz, hi_hz, snr if i == 0 else snr * float(rng.uniform(0.5, 1)),
                                    harmonic_fraction):
            group.append(replace(burst, circular_polarisation=sense * burst.circular_polarisation))
        t += float(rng.uniform(1.0, 6.0))
    cap = min(hi_hz, storms.TYPE_V_MAX_FREQ_HZ)
    top = float(rng.uniform(lo_hz + 0.3 * (cap - lo_hz), cap))
    last = max(float(arrival_unix_s(b, min(top, b.freq_start_hz))) for b in group if b.harmonic == 1)
    return group + [InjectedEvent(
        "type_v", beam, last + float(rng.uniform(1.0, 5.0)), top, snr * float(rng.uniform(0.3, 0.8)),
        duration_s=float(rng.uniform(*storms.TYPE_V_DURATION_RANGE_S)), freq_stop_hz=lo_hz,
        circular_polarisation=-sense * float(rng.uniform(0.05, 0.2)))]


def _draw_jupiter_l(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                    harmonic_fraction: float) -> list[InjectedEvent]:
    """An arc 5-20 MHz tall topping out below 40 MHz; empty when the band lies above that."""
    top_max, top_min = min(hi_hz, jup.JUPITER_MAX_FREQ_HZ), max(lo_hz + 5e6, 15e6)
    if top_min >= top_max:
        return []
    top = float(rng.uniform(top_min, top_max))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return [InjectedEvent(
        "jupiter_l", beam, at_s, top, snr, freq_stop_hz=max(lo_hz, top - float(rng.uniform(5e6, 20e6))),
        duration_s=float(rng.uniform(*jup.JUPITER_L_ARC_DURATION_RANGE_S)),
        arc_delay_s=sign * float(rng.uniform(*jup.JUPITER_L_ARC_DELAY_RANGE_S)),
        burst_rate_per_s=float(rng.uniform(*jup.JUPITER_L_BURST_RATE_RANGE_PER_S)),
        modulation_drift_hz_per_s=(1.0 if rng.random() < 0.5 else -1.0)
        * float(rng.uniform(*jup.JUPITER_L_LANE_DRIFT_RANGE_HZ_PER_S)),
        modulation_period_s=float(rng.uniform(*jup.JUPITER_L_LANE_PERIOD_RANGE_S)),
        modulation_depth=float(rng.uniform(*jup.JUPITER_L_LANE_DEPTH_RANGE)), seed=_seed(rng),
        circular_polarisation=float(rng.uniform(0.8, 1.0)))]


def _draw_impulse(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                  harmonic_fraction: float) -> list[InjectedEvent]:
    return [InjectedEvent("rfi_impulse", beam, at_s, hi_hz, snr, duration_s=0.0, bandwidth_hz=hi_hz - lo_hz,
                          freq_stop_hz=lo_hz)]


_DRAWS = {"type_iii": _draw_type_iii, "type_iiib": _draw_type_iiib, "spike": _draw_spikes,
          "jupiter_s": _draw_jupiter_s, "rfi_impulse": _draw_impulse, "type_i": _draw_type_i,
          "type_ii": _draw_type_ii, "type_iii_u": lambda *a: _draw_loop("type_iii_u", *a[:6]),
          "type_iii_j": lambda *a: _draw_loop("type_iii_j", *a[:6]), "type_iv": _draw_type_iv,
          "type_v": _draw_type_v, "jupiter_l": _draw_jupiter_l}


def random_event(kind: str, rng: np.random.Generator, beam: str, at_unix_s: float, freq_lo_hz: float,
                 freq_hi_hz: float, snr: float, *, harmonic_fraction: float = 0.0) -> list[InjectedEvent]:
    """Events of ``kind`` with random parameters inside the band, the first starting at ``at_unix_s``.

    Returns a list because some kinds come in groups: a type III with its harmonic (probability
    ``harmonic_fraction``), a spike cluster, a train of S-bursts, or a type III group and its type V.
    The first is the brightest, at ``snr``. The list is empty when the band cannot hold the kind
    (Jupiter above 40 MHz, a loop with no room to turn).
    """
    if kind not in _DRAWS:
        raise ValueError(f"unknown random event kind {kind!r}; known: {RANDOM_KINDS}")
    return _DRAWS[kind](rng, beam, at_unix_s, freq_lo_hz, freq_hi_hz, snr, harmonic_fraction)


__all__ = ["TYPE_I_MIN_FREQ_HZ", "TYPICAL_CIRCULAR_POLARISATION", "random_event"]
