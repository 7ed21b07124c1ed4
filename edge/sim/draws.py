"""Random draws of the simulator's events: parameters in the published ranges (see events.py).

>>> import numpy as np
>>> [e.kind for e in random_event("type_iii", np.random.default_rng(1), "b", 0.0, 20e6, 60e6, 5.0)][:1]
['type_iii']
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

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
    type_iii_decay_s,
    type_iii_drift_hz_per_s,
)


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
                                freq_stop_hz=lo_hz, drift_hz_per_s=float(type_iii_drift_hz_per_s(f0)))
    if not with_harmonic:
        return [fundamental]
    harmonic = replace(fundamental, freq_start_hz=2 * f0, harmonic=2,
                       snr=snr * float(rng.uniform(0.3, 0.7)), drift_hz_per_s=2 * fundamental.drift_hz_per_s)
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
                          stria_drift_hz_per_s=float(rng.uniform(-0.3e6, 0.0)))]


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
            bandwidth_hz=f * float(rng.uniform(*SPIKE_RELATIVE_BANDWIDTH_RANGE))))
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
            drift_hz_per_s=drift))
        t += float(rng.uniform(0.005, 0.05))
    return events


def _draw_impulse(rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float, snr: float,
                  harmonic_fraction: float) -> list[InjectedEvent]:
    return [InjectedEvent("rfi_impulse", beam, at_s, hi_hz, snr, duration_s=0.0, bandwidth_hz=hi_hz - lo_hz,
                          freq_stop_hz=lo_hz)]


_DRAWS = {"type_iii": _draw_type_iii, "type_iiib": _draw_type_iiib, "spike": _draw_spikes,
          "jupiter_s": _draw_jupiter_s, "rfi_impulse": _draw_impulse}


def random_event(kind: str, rng: np.random.Generator, beam: str, at_unix_s: float, freq_lo_hz: float,
                 freq_hi_hz: float, snr: float, *, harmonic_fraction: float = 0.0) -> list[InjectedEvent]:
    """Events of ``kind`` with random parameters inside the band, the first starting at ``at_unix_s``.

    Returns a list because some kinds come in groups: a type III with its harmonic (probability
    ``harmonic_fraction``), a spike cluster, or a train of S-bursts. The first is the brightest, at
    ``snr``. The list is empty when the band cannot hold the kind (jupiter_s above 40 MHz).
    """
    if kind not in _DRAWS:
        raise ValueError(f"unknown random event kind {kind!r}; known: {RANDOM_KINDS}")
    return _DRAWS[kind](rng, beam, at_unix_s, freq_lo_hz, freq_hi_hz, snr, harmonic_fraction)


__all__ = ["random_event"]
