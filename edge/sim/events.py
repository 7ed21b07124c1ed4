"""Radio events the simulator injects: the truth record of one event, and its power on a pixel grid.

Each kind adds excess true power in units of the per-channel noise sigma times its ``snr``.
``snr`` is the peak S/N of one pixel at the grid's resolution. The emission is averaged over each
pixel (integration [t, t + dt), channel width df) and scaled so that a pixel centred on the peak
reaches exactly ``snr``. A 10 ms spike in 21 ms pixels therefore still peaks at ``snr``, and only
misalignment with the pixel grid lowers it. Smooth envelopes (type III, lanes, continua) are
sampled at pixel centres, which is within 1 % of the average. Events with fine structure (type I
storms, type II lanes and herringbones, L-bursts) peak at ``snr`` in their brightest element.
Physics and references: edge/sim/README.md; shapes of the newer kinds in solar.py, storms.py
and jupiter.py.

- ``type_iii``: drift df/dt = -0.01 f^1.84 MHz/s; at each frequency a Gaussian rise (sigma 0.3 s),
  then an exponential decay of 1.8 s x (36 MHz / f). ``harmonic=2`` is the ridge at 2f: arrival
  and decay follow the plasma frequency f/2, so it drifts twice as fast in Hz/s.
- ``type_iiib``: the same drift, but only as a chain of striae, each 20-100 kHz wide (FWHM), short-lived
  (``duration_s`` FWHM) and drifting slowly (0 to -0.3 MHz/s; Sharykin et al. 2018, Sol. Phys.).
- ``type_iii_u``, ``type_iii_j``: a beam along a closed loop; the drift slows to zero at the turning
  frequency ``freq_stop_hz``, then a U turns back up to ``freq_end_hz`` and a J stops (solar.py).
- ``type_ii``: fundamental and harmonic lanes drifting with a shock through the corona, band-split,
  patchy, with optional herringbones (solar.py).
- ``type_i``: a noise storm, hours of weak continuum under many short narrowband bursts (storms.py).
- ``type_iv``: a broadband continuum lasting tens of minutes to hours, stationary or moving (storms.py).
- ``type_v``: a smooth 1-3 min continuum after a type III group, with no drift (storms.py).
- ``spike``: 10-300 ms (FWHM), df/f 0.1-2 %, no drift; drawn in clusters.
- ``jupiter_s``: only below 40 MHz, drifting linearly at -15 to -25 MHz/s for 10-100 ms (radio.md's
  "tens of ms"), 1-5 ms FWHM at one frequency (~1 ms: Arkhypov & Rucker 2009, A&A 496, 269), hence
  the need for ms resolution. Drawn in trains.
- ``jupiter_l``: an arc of seconds-long L-bursts a few MHz wide below 40 MHz, under drifting
  modulation lanes (jupiter.py).
- ``rfi_impulse``: every channel of one sample.
- ``rfi_persistent``: one channel, always on (the simulator reports it once per block).
- ``lost_block``: adds no power; the simulator blanks the whole block with NaN.

``circular_polarisation`` is V/I (positive: right-handed, IAU) of the emission. It goes into the
truth only; the simulated data are Stokes I.

>>> import numpy as np
>>> e = InjectedEvent("spike", "b", 0.0, 40e6, snr=5.0, duration_s=0.01, bandwidth_hz=1e5)
>>> power = event_power(e, np.arange(-0.0055, 0.02, 0.021), np.array([40e6]), np.ones(1))
>>> round(float(power.max()), 6)
5.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from nenubroker.edge.sim import jupiter, solar, storms
from nenubroker.edge.sim.grid import (
    CUT_DECAYS,
    CUT_SIGMA,
    FWHM_PER_SIGMA,
    NEGLIGIBLE,
    TAPER_FRACTION,
    Grid,
    Patch,
    blob,
    taper,
)
from nenubroker.edge.sim.jupiter import (
    JUPITER_DRIFT_RANGE_HZ_PER_S,
    JUPITER_DURATION_RANGE_S,
    JUPITER_MAX_FREQ_HZ,
    JUPITER_SWEEP_RANGE_S,
)
from nenubroker.edge.sim.solar import (
    TYPE_III_RISE_S,
    rise_decay,
    type_iii_arrival_s,
    type_iii_decay_s,
    type_iii_drift_hz_per_s,
)

EVENT_KINDS = ("type_iii", "type_iiib", "spike", "jupiter_s", "rfi_impulse", "rfi_persistent", "lost_block",
               "type_i", "type_ii", "type_iii_u", "type_iii_j", "type_iv", "type_v", "jupiter_l")
RANDOM_KINDS = ("type_iii", "type_iiib", "spike", "jupiter_s", "rfi_impulse",
                "type_i", "type_ii", "type_iii_u", "type_iii_j", "type_iv", "type_v", "jupiter_l")
#: Kinds whose ``drift_hz_per_s`` is a drift (negative at the start; a stationary type IV has 0).
DRIFTING_KINDS = ("type_iii", "type_iiib", "jupiter_s", "type_ii", "type_iii_u", "type_iii_j", "type_iv")
SPIKE_DURATION_RANGE_S = (0.01, 0.3)
SPIKE_RELATIVE_BANDWIDTH_RANGE = (0.001, 0.02)
STRIA_WIDTH_RANGE_HZ = (20e3, 100e3)
STRIA_DURATION_RANGE_S = (0.3, 1.0)


@dataclass(frozen=True)
class InjectedEvent:
    """One entry of the truth catalogue.

    Drifting kinds and broadband ones span ``freq_stop_hz`` .. ``freq_start_hz``. Start is the top,
    where the emission begins. Narrowband kinds (spike, rfi_persistent) are centred on
    ``freq_start_hz``, with FWHM ``bandwidth_hz``. ``drift_hz_per_s`` is the drift at
    ``freq_start_hz`` (0 without drift). ``duration_s`` is how long the emission lasts at one
    frequency: the FWHM, or for type III the e-folding decay at ``freq_start_hz``, or for type IIIb
    each stria's FWHM lifetime along its own slow drift; for type I, II, IV and V the whole event, for
    jupiter_l the arc at one frequency. ``group_id`` ties together a harmonic pair, a spike cluster,
    an S-burst train, a type III group and its type V, or one persistent RFI channel.

    The fields after ``stria_drift_hz_per_s`` serve the newer kinds (0 where unused):
    ``circular_polarisation`` V/I of the emission (truth only); ``seed`` draws an event's fine
    structure; ``speed_km_s`` and ``density_fold`` move a source through a ``density_fold`` x
    Newkirk corona (type II shock, U/J beam, moving type IV); ``freq_end_hz`` is where a U burst's
    rising branch ends; ``harmonic_ratio``, ``band_split`` and ``relative_bandwidth`` shape type II
    lanes; ``burst_rate_per_s`` counts type I bursts, herringbones or L-bursts; ``continuum_level``
    is a type I storm's continuum relative to ``snr``; ``modulation_*`` are type IV pulsations and
    Jupiter L modulation lanes; ``arc_delay_s`` bends a Jupiter L arc.
    """

    kind: str
    beam: str
    time_start_unix_s: float
    freq_start_hz: float
    snr: float
    duration_s: float = 0.3
    bandwidth_hz: float = 0.0
    freq_stop_hz: float = 0.0
    event_id: str = ""
    drift_hz_per_s: float = 0.0
    harmonic: int = 1
    group_id: str = ""
    striae_freq_hz: tuple[float, ...] = ()
    striae_width_hz: tuple[float, ...] = ()
    striae_amplitude: tuple[float, ...] = ()
    stria_drift_hz_per_s: float = 0.0
    circular_polarisation: float = 0.0
    seed: int = 0
    speed_km_s: float = 0.0
    density_fold: float = 1.0
    freq_end_hz: float = 0.0
    harmonic_ratio: float = 0.0
    band_split: float = 0.0
    relative_bandwidth: float = 0.0
    burst_rate_per_s: float = 0.0
    continuum_level: float = 0.0
    modulation_period_s: float = 0.0
    modulation_depth: float = 0.0
    modulation_drift_hz_per_s: float = 0.0
    arc_delay_s: float = 0.0

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> InjectedEvent:
        """Rebuild an event from ``dataclasses.asdict`` output read back from JSON (lists -> tuples)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
        return cls(**values)

    def freq_range_hz(self) -> tuple[float, float]:
        """Lowest and highest frequency with emission (FWHM for narrowband kinds)."""
        if self.kind in ("spike", "rfi_persistent"):
            return self.freq_start_hz - self.bandwidth_hz / 2, self.freq_start_hz + self.bandwidth_hz / 2
        if self.kind in _MODELS and _MODELS[self.kind].freq_range is not None:
            return _MODELS[self.kind].freq_range(self)
        top = min(self.freq_start_hz, JUPITER_MAX_FREQ_HZ) if self.kind in ("jupiter_s", "jupiter_l") \
            else self.freq_start_hz
        return self.freq_stop_hz, top

    def time_range_unix_s(self) -> tuple[float, float]:
        """Start and end of the emission anywhere in its band.

        The end is one e-folding after the type III reaches its lowest frequency, or the FWHM edge.
        """
        start = self.time_start_unix_s
        if self.kind == "type_iii":
            low_hz = _type_iii_low_hz(self)
            return start, float(arrival_unix_s(self, low_hz) + type_iii_decay_s(low_hz / self.harmonic))
        if self.kind == "type_iiib":
            return start, float(arrival_unix_s(self, self.freq_stop_hz)) + self.duration_s
        if self.kind == "jupiter_s":
            sweep_s = (self.freq_start_hz - self.freq_stop_hz) / abs(self.drift_hz_per_s)
            return start, start + self.duration_s + sweep_s
        if self.kind in ("type_iii_u", "type_iii_j"):
            return solar.loop_time_range(self)
        if self.kind == "jupiter_l":
            return start, start + jupiter.jupiter_l_span_s(self)
        return start, start + self.duration_s


def arrival_unix_s(event: InjectedEvent, freq_hz: np.ndarray | float) -> np.ndarray:
    """When a type III or IIIb peaks at ``freq_hz``. A harmonic follows its fundamental at f/h."""
    h = event.harmonic
    return event.time_start_unix_s + type_iii_arrival_s(np.asarray(freq_hz) / h, event.freq_start_hz / h)


def _type_iii_low_hz(event: InjectedEvent) -> float:
    return max(event.freq_stop_hz, 1e6 * event.harmonic)


def last_time_unix_s(event: InjectedEvent) -> float:
    """When the emission has faded below ``NEGLIGIBLE`` everywhere: after that it can be forgotten."""
    if event.kind in _MODELS and _MODELS[event.kind].last_time is not None:
        return _MODELS[event.kind].last_time(event)
    end_s = event.time_range_unix_s()[1]
    if event.kind == "type_iii":
        return end_s + (CUT_DECAYS - 1) * float(type_iii_decay_s(_type_iii_low_hz(event) / event.harmonic))
    if event.kind in ("type_iiib", "jupiter_s", "spike"):  # Gaussian at one frequency: FWHM edge -> cut
        return end_s + (CUT_SIGMA / FWHM_PER_SIGMA - 0.5) * event.duration_s
    return end_s


def _type_iii_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    fs = g.freq_slice(_type_iii_low_hz(e), e.freq_start_hz)
    f = g.freq_hz[fs]
    arrival = arrival_unix_s(e, f)
    decay = type_iii_decay_s(f / e.harmonic)
    active = np.flatnonzero(g.overlaps(arrival - CUT_SIGMA * TYPE_III_RISE_S, arrival + CUT_DECAYS * decay))
    if active.size == 0:
        return []
    a, b = int(active[0]), int(active[-1]) + 1
    # The largest patch (thousands of channels): float32 times relative to the block, steps in place.
    t_rel = (g.times_s - g.times_s[0] + g.dt_s / 2).astype(np.float32)
    local = t_rel[:, None] - (arrival[a:b] - g.times_s[0]).astype(np.float32)[None, :]
    profile = rise_decay(local, decay[a:b].astype(np.float32))
    profile *= taper((e.freq_start_hz - f[a:b]) / (TAPER_FRACTION * e.freq_start_hz)).astype(np.float32)
    return [(slice(None), slice(fs.start + a, fs.start + b), profile)]


def _striae_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    sigma_s = e.duration_s / FWHM_PER_SIGMA
    centres = arrival_unix_s(e, np.asarray(e.striae_freq_hz)) + e.duration_s / 2
    patches = []
    for k in np.flatnonzero(g.overlaps(centres - CUT_SIGMA * sigma_s, centres + CUT_SIGMA * sigma_s)):
        patch = blob(g, float(centres[k]), sigma_s, e.striae_freq_hz[k],
                     e.striae_width_hz[k] / FWHM_PER_SIGMA, e.stria_drift_hz_per_s)
        if patch is not None:
            patches.append((patch[0], patch[1], e.striae_amplitude[k] * patch[2]))
    return patches


def _spike_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    patch = blob(g, e.time_start_unix_s + e.duration_s / 2, e.duration_s / FWHM_PER_SIGMA, e.freq_start_hz,
                 e.bandwidth_hz / FWHM_PER_SIGMA)
    return [] if patch is None else [patch]


def _impulse_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    t = e.time_start_unix_s
    i = int(np.searchsorted(g.times_s, t, "right")) - 1
    if i < 0 or not (t < g.times_s[i] + g.dt_s if g.dt_s > 0 else t == g.times_s[i]):
        return []
    fs = g.freq_slice(e.freq_stop_hz, e.freq_start_hz)
    return [(slice(i, i + 1), fs, np.ones((1, fs.stop - fs.start)))]


def _persistent_patches(e: InjectedEvent, g: Grid) -> list[Patch]:
    ts = g.time_slice(e.time_start_unix_s, e.time_start_unix_s + e.duration_s)
    fs = g.freq_slice(*e.freq_range_hz())
    return [(ts, fs, np.ones((ts.stop - ts.start, fs.stop - fs.start)))]


class _Model(NamedTuple):
    """How one kind of the solar.py, storms.py and jupiter.py modules is drawn, and how far it reaches."""

    patches: Callable[[InjectedEvent, Grid], list[Patch]]
    last_time: Callable[[InjectedEvent], float] | None = None
    freq_range: Callable[[InjectedEvent], tuple[float, float]] | None = None


_MODELS: dict[str, _Model] = {
    "type_i": _Model(storms.type_i_patches, storms.type_i_last_time),
    "type_ii": _Model(solar.type_ii_patches, solar.type_ii_last_time, solar.type_ii_freq_range),
    "type_iii_u": _Model(solar.loop_patches, solar.loop_last_time),
    "type_iii_j": _Model(solar.loop_patches, solar.loop_last_time),
    "type_iv": _Model(storms.type_iv_patches, None, storms.type_iv_freq_range),
    "type_v": _Model(storms.type_v_patches),
    "jupiter_l": _Model(jupiter.jupiter_l_patches, jupiter.jupiter_l_last_time),
}
_PATCHES: dict[str, Callable[[InjectedEvent, Grid], list[Patch]]] = {
    "type_iii": _type_iii_patches, "type_iiib": _striae_patches, "spike": _spike_patches,
    "jupiter_s": jupiter.jupiter_s_patches, "rfi_impulse": _impulse_patches, "rfi_persistent": _persistent_patches,
    "lost_block": lambda *_: [], **{kind: model.patches for kind, model in _MODELS.items()},
}


def _step(axis: np.ndarray, given: float | None) -> float:
    return float(given) if given is not None else float(np.median(np.diff(axis))) if axis.size > 1 else 0.0


def add_event_power(power: np.ndarray, event: InjectedEvent, times_s: np.ndarray, freq_hz: np.ndarray,
                    sigma: np.ndarray, *, time_step_s: float | None = None,
                    channel_width_hz: float | None = None) -> np.ndarray:
    """Add the event's excess power to ``power`` (n_time, n_freq) in place, and return it.

    Only the sub-grid where the emission exceeds ``NEGLIGIBLE`` of its peak is evaluated, so a short
    event costs little even on a 12288-channel block, and a block of an hours-long one costs what
    the block holds. ``times_s`` are integration starts and ``freq_hz`` channel centres, both
    ascending. The steps default to the grids' spacings.
    """
    if event.kind not in _PATCHES:
        raise ValueError(f"unknown event kind {event.kind!r}; known: {EVENT_KINDS}")
    times = np.asarray(times_s, dtype=float)
    freq = np.asarray(freq_hz, dtype=float)
    if times.size == 0 or freq.size == 0:
        return power
    if freq.size > 1 and bool(np.any(np.diff(freq) <= 0)):
        raise ValueError("freq_hz must be ascending, as the beamformer's channels are")
    dt_s, df_hz = _step(times, time_step_s), _step(freq, channel_width_hz)
    for ts, fs, profile in _PATCHES[event.kind](event, Grid(times, dt_s, freq, df_hz)):
        profile *= (event.snr * sigma[None, fs]).astype(profile.dtype)  # a patch's profile is its own array
        power[ts, fs] += profile
    return power


def event_power(event: InjectedEvent, times_s: np.ndarray, freq_hz: np.ndarray, sigma: np.ndarray, *,
                time_step_s: float | None = None, channel_width_hz: float | None = None) -> np.ndarray:
    """Excess true power of ``event`` on the (time, freq) grid. ``sigma`` is the noise per channel."""
    power = np.zeros((np.size(times_s), np.size(freq_hz)))
    return add_event_power(power, event, times_s, freq_hz, sigma, time_step_s=time_step_s,
                           channel_width_hz=channel_width_hz)


__all__ = ["DRIFTING_KINDS", "EVENT_KINDS", "FWHM_PER_SIGMA", "JUPITER_DRIFT_RANGE_HZ_PER_S",
           "JUPITER_DURATION_RANGE_S", "JUPITER_MAX_FREQ_HZ", "JUPITER_SWEEP_RANGE_S", "NEGLIGIBLE", "RANDOM_KINDS",
           "SPIKE_DURATION_RANGE_S", "SPIKE_RELATIVE_BANDWIDTH_RANGE", "STRIA_DURATION_RANGE_S",
           "STRIA_WIDTH_RANGE_HZ", "TYPE_III_RISE_S",
           "InjectedEvent", "add_event_power", "arrival_unix_s", "event_power", "last_time_unix_s",
           "type_iii_arrival_s", "type_iii_decay_s", "type_iii_drift_hz_per_s"]
