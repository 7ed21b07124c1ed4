"""Radio events the simulator injects: their time-frequency shape and how they are drawn at random.

Each kind adds excess true power in units of the per-channel noise sigma times its ``snr``.
``snr`` is the peak S/N of one pixel at the grid's resolution. The emission is averaged over each
pixel (integration [t, t + dt), channel width df) and scaled so that a pixel centred on the peak
reaches exactly ``snr``. A 10 ms spike in 21 ms pixels therefore still peaks at ``snr``, and only
misalignment with the pixel grid lowers it. Smooth envelopes (type III) are sampled at pixel
centres, which is within 1 % of the average. Physics from shared/notes/radio.md:

- ``type_iii``: drift df/dt = -0.01 f^1.84 MHz/s; at each frequency a Gaussian rise (sigma 0.3 s),
  then an exponential decay of 1.8 s x (36 MHz / f). ``harmonic=2`` is the ridge at 2f: arrival
  and decay follow the plasma frequency f/2, so it drifts twice as fast in Hz/s.
- ``type_iiib``: the same drift, but only as a chain of striae, each 20-100 kHz wide (FWHM), short-lived
  (``duration_s`` FWHM) and drifting slowly (0 to -0.3 MHz/s; Sharykin et al. 2018, Sol. Phys.).
- ``spike``: 10-300 ms (FWHM), df/f 0.1-2 %, no drift; drawn in clusters.
- ``jupiter_s``: only below 40 MHz, drifting linearly at -15 to -25 MHz/s for 10-100 ms (radio.md's
  "tens of ms"), 1-5 ms FWHM at one frequency (~1 ms: Arkhypov & Rucker 2009, A&A 496, 269), hence
  the need for ms resolution. Drawn in trains.
- ``rfi_impulse``: every channel of one sample.
- ``rfi_persistent``: one channel, always on (the simulator reports it once per block).
- ``lost_block``: adds no power; the simulator blanks the whole block with NaN.

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
from scipy.special import erf

EVENT_KINDS = ("type_iii", "type_iiib", "spike", "jupiter_s", "rfi_impulse", "rfi_persistent", "lost_block")
RANDOM_KINDS = ("type_iii", "type_iiib", "spike", "jupiter_s", "rfi_impulse")
DRIFTING_KINDS = ("type_iii", "type_iiib", "jupiter_s")
JUPITER_MAX_FREQ_HZ = 40e6
JUPITER_DRIFT_RANGE_HZ_PER_S = (-25e6, -15e6)
JUPITER_DURATION_RANGE_S = (0.001, 0.005)
JUPITER_SWEEP_RANGE_S = (0.01, 0.1)
SPIKE_DURATION_RANGE_S = (0.01, 0.3)
SPIKE_RELATIVE_BANDWIDTH_RANGE = (0.001, 0.02)
STRIA_WIDTH_RANGE_HZ = (20e3, 100e3)
STRIA_DURATION_RANGE_S = (0.3, 1.0)
TYPE_III_RISE_S = 0.3
NEGLIGIBLE = 1e-3  # emission below this fraction of the peak is not evaluated
FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))
_CUT_SIGMA = float(np.sqrt(2 * np.log(1 / NEGLIGIBLE)))
_CUT_DECAYS = float(np.log(1 / NEGLIGIBLE))
_TAPER_FRACTION = 0.05  # type III onset below freq_start; S-burst edges (fraction of the range)

Patch = tuple[slice, slice, np.ndarray]


@dataclass(frozen=True)
class InjectedEvent:
    """One entry of the truth catalogue.

    Drifting kinds and broadband ones span ``freq_stop_hz`` .. ``freq_start_hz``. Start is the top,
    where the emission begins. Narrowband kinds (spike, rfi_persistent) are centred on
    ``freq_start_hz``, with FWHM ``bandwidth_hz``. ``drift_hz_per_s`` is the drift at
    ``freq_start_hz`` (0 without drift). ``duration_s`` is how long the emission lasts at one
    frequency: the FWHM, or for type III the e-folding decay at ``freq_start_hz``, or for type IIIb
    each stria's FWHM lifetime along its own slow drift. ``group_id`` ties together a harmonic pair,
    a spike cluster, an S-burst train, or one persistent RFI channel.
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

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> InjectedEvent:
        """Rebuild an event from ``dataclasses.asdict`` output read back from JSON (lists -> tuples)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
        return cls(**values)

    def freq_range_hz(self) -> tuple[float, float]:
        """Lowest and highest frequency with emission (FWHM for narrowband kinds)."""
        if self.kind in ("spike", "rfi_persistent"):
            return self.freq_start_hz - self.bandwidth_hz / 2, self.freq_start_hz + self.bandwidth_hz / 2
        top = min(self.freq_start_hz, JUPITER_MAX_FREQ_HZ) if self.kind == "jupiter_s" else self.freq_start_hz
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
        return start, start + self.duration_s


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


def arrival_unix_s(event: InjectedEvent, freq_hz: np.ndarray | float) -> np.ndarray:
    """When a type III or IIIb peaks at ``freq_hz``. A harmonic follows its fundamental at f/h."""
    h = event.harmonic
    return event.time_start_unix_s + type_iii_arrival_s(np.asarray(freq_hz) / h, event.freq_start_hz / h)


def _type_iii_low_hz(event: InjectedEvent) -> float:
    return max(event.freq_stop_hz, 1e6 * event.harmonic)


def last_time_unix_s(event: InjectedEvent) -> float:
    """When the emission has faded below ``NEGLIGIBLE`` everywhere: after that it can be forgotten."""
    end_s = event.time_range_unix_s()[1]
    if event.kind == "type_iii":
        return end_s + (_CUT_DECAYS - 1) * float(type_iii_decay_s(_type_iii_low_hz(event) / event.harmonic))
    if event.kind in ("type_iiib", "jupiter_s", "spike"):  # Gaussian at one frequency: FWHM edge -> cut
        return end_s + (_CUT_SIGMA / FWHM_PER_SIGMA - 0.5) * event.duration_s
    return end_s


class _Grid(NamedTuple):
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

    def overlaps(self, lo_s: np.ndarray, hi_s: np.ndarray) -> np.ndarray:
        """Whether each interval [lo_s, hi_s] overlaps the grid's time span."""
        return (hi_s > self.times_s[0]) & (lo_s < self.times_s[-1] + self.dt_s)


def _gauss_box(times_s: np.ndarray, dt_s: float, centre_s: np.ndarray | float, sigma_s: float) -> np.ndarray:
    """Mean of a unit Gaussian over each integration [t, t + dt), equal to 1 for a pixel centred on it."""
    if dt_s <= 0:
        return np.exp(-0.5 * ((times_s - centre_s) / sigma_s) ** 2)
    scale = np.sqrt(2) * sigma_s
    lo = (times_s - centre_s) / scale
    return (erf(lo + dt_s / scale) - erf(lo)) / (2 * erf(dt_s / (2 * scale)))


def _taper(x: np.ndarray) -> np.ndarray:
    """Raised-cosine edge: 0 at x <= 0, 1 at x >= 1, so envelopes start smoothly and reach 1."""
    return np.sin(np.pi / 2 * np.clip(x, 0.0, 1.0)) ** 2


def _blob(g: _Grid, centre_s: float, sigma_s: float, centre_hz: float, sigma_hz: float,
          drift_hz_per_s: float = 0.0) -> Patch | None:
    """Gaussian in time and frequency (optionally drifting). The channel width broadens it in frequency."""
    sigma_f = float(np.hypot(sigma_hz, g.df_hz / np.sqrt(12)))
    ts = g.time_slice(centre_s - _CUT_SIGMA * sigma_s, centre_s + _CUT_SIGMA * sigma_s)
    reach_hz = _CUT_SIGMA * (sigma_f + abs(drift_hz_per_s) * sigma_s)
    fs = g.freq_slice(centre_hz - reach_hz, centre_hz + reach_hz)
    if ts.stop <= ts.start or fs.stop <= fs.start:
        return None
    t = g.times_s[ts]
    track_hz = centre_hz + drift_hz_per_s * (t + g.dt_s / 2 - centre_s)
    spectral = np.exp(-0.5 * ((g.freq_hz[None, fs] - track_hz[:, None]) / sigma_f) ** 2)
    return ts, fs, _gauss_box(t, g.dt_s, centre_s, sigma_s)[:, None] * spectral


def _type_iii_patches(e: InjectedEvent, g: _Grid) -> list[Patch]:
    fs = g.freq_slice(_type_iii_low_hz(e), e.freq_start_hz)
    f = g.freq_hz[fs]
    arrival = arrival_unix_s(e, f)
    decay = type_iii_decay_s(f / e.harmonic)
    active = np.flatnonzero(g.overlaps(arrival - _CUT_SIGMA * TYPE_III_RISE_S, arrival + _CUT_DECAYS * decay))
    if active.size == 0:
        return []
    a, b = int(active[0]), int(active[-1]) + 1
    # The largest patch (thousands of channels): float32 times relative to the block, steps in place.
    t_rel = (g.times_s - g.times_s[0] + g.dt_s / 2).astype(np.float32)
    local = t_rel[:, None] - (arrival[a:b] - g.times_s[0]).astype(np.float32)[None, :]
    profile = np.minimum(local, 0)
    np.square(profile, out=profile)
    profile *= np.float32(-0.5 / TYPE_III_RISE_S**2)
    np.maximum(local, 0, out=local)
    local /= decay[a:b].astype(np.float32)
    profile -= local
    np.exp(profile, out=profile)
    profile *= _taper((e.freq_start_hz - f[a:b]) / (_TAPER_FRACTION * e.freq_start_hz)).astype(np.float32)
    return [(slice(None), slice(fs.start + a, fs.start + b), profile)]


def _striae_patches(e: InjectedEvent, g: _Grid) -> list[Patch]:
    sigma_s = e.duration_s / FWHM_PER_SIGMA
    centres = arrival_unix_s(e, np.asarray(e.striae_freq_hz)) + e.duration_s / 2
    patches = []
    for k in np.flatnonzero(g.overlaps(centres - _CUT_SIGMA * sigma_s, centres + _CUT_SIGMA * sigma_s)):
        patch = _blob(g, float(centres[k]), sigma_s, e.striae_freq_hz[k],
                      e.striae_width_hz[k] / FWHM_PER_SIGMA, e.stria_drift_hz_per_s)
        if patch is not None:
            patches.append((patch[0], patch[1], e.striae_amplitude[k] * patch[2]))
    return patches


def _spike_patches(e: InjectedEvent, g: _Grid) -> list[Patch]:
    patch = _blob(g, e.time_start_unix_s + e.duration_s / 2, e.duration_s / FWHM_PER_SIGMA, e.freq_start_hz,
                  e.bandwidth_hz / FWHM_PER_SIGMA)
    return [] if patch is None else [patch]


def _jupiter_patches(e: InjectedEvent, g: _Grid) -> list[Patch]:
    if e.drift_hz_per_s >= 0:
        raise ValueError(f"jupiter_s needs a negative drift, got {e.drift_hz_per_s} Hz/s")
    fs = g.freq_slice(e.freq_stop_hz, min(e.freq_start_hz, JUPITER_MAX_FREQ_HZ))
    f = g.freq_hz[fs]
    sigma_s = e.duration_s / FWHM_PER_SIGMA
    centre = e.time_start_unix_s + e.duration_s / 2 + (f - e.freq_start_hz) / e.drift_hz_per_s
    if f.size == 0:
        return []
    ts = g.time_slice(centre.min() - _CUT_SIGMA * sigma_s, centre.max() + _CUT_SIGMA * sigma_s)
    if ts.stop <= ts.start:
        return []
    x = (f - e.freq_stop_hz) / (e.freq_start_hz - e.freq_stop_hz)
    envelope = _taper(np.minimum(x, 1 - x) / _TAPER_FRACTION)
    return [(ts, fs, _gauss_box(g.times_s[ts, None], g.dt_s, centre[None, :], sigma_s) * envelope)]


def _impulse_patches(e: InjectedEvent, g: _Grid) -> list[Patch]:
    t = e.time_start_unix_s
    i = int(np.searchsorted(g.times_s, t, "right")) - 1
    if i < 0 or not (t < g.times_s[i] + g.dt_s if g.dt_s > 0 else t == g.times_s[i]):
        return []
    fs = g.freq_slice(e.freq_stop_hz, e.freq_start_hz)
    return [(slice(i, i + 1), fs, np.ones((1, fs.stop - fs.start)))]


def _persistent_patches(e: InjectedEvent, g: _Grid) -> list[Patch]:
    ts = g.time_slice(e.time_start_unix_s, e.time_start_unix_s + e.duration_s)
    fs = g.freq_slice(*e.freq_range_hz())
    return [(ts, fs, np.ones((ts.stop - ts.start, fs.stop - fs.start)))]


_PATCHES: dict[str, Callable[[InjectedEvent, _Grid], list[Patch]]] = {
    "type_iii": _type_iii_patches, "type_iiib": _striae_patches, "spike": _spike_patches,
    "jupiter_s": _jupiter_patches, "rfi_impulse": _impulse_patches, "rfi_persistent": _persistent_patches,
    "lost_block": lambda *_: [],
}


def _step(axis: np.ndarray, given: float | None) -> float:
    return float(given) if given is not None else float(np.median(np.diff(axis))) if axis.size > 1 else 0.0


def add_event_power(power: np.ndarray, event: InjectedEvent, times_s: np.ndarray, freq_hz: np.ndarray,
                    sigma: np.ndarray, *, time_step_s: float | None = None,
                    channel_width_hz: float | None = None) -> np.ndarray:
    """Add the event's excess power to ``power`` (n_time, n_freq) in place, and return it.

    Only the sub-grid where the emission exceeds ``NEGLIGIBLE`` of its peak is evaluated, so a short
    event costs little even on a 12288-channel block. ``times_s`` are integration starts and
    ``freq_hz`` channel centres, both ascending. The steps default to the grids' spacings.
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
    for ts, fs, profile in _PATCHES[event.kind](event, _Grid(times, dt_s, freq, df_hz)):
        power[ts, fs] += (event.snr * sigma[None, fs]).astype(profile.dtype) * profile
    return power


def event_power(event: InjectedEvent, times_s: np.ndarray, freq_hz: np.ndarray, sigma: np.ndarray, *,
                time_step_s: float | None = None, channel_width_hz: float | None = None) -> np.ndarray:
    """Excess true power of ``event`` on the (time, freq) grid. ``sigma`` is the noise per channel."""
    power = np.zeros((np.size(times_s), np.size(freq_hz)))
    return add_event_power(power, event, times_s, freq_hz, sigma, time_step_s=time_step_s,
                           channel_width_hz=channel_width_hz)


__all__ = ["DRIFTING_KINDS", "EVENT_KINDS", "FWHM_PER_SIGMA", "JUPITER_DRIFT_RANGE_HZ_PER_S",
           "JUPITER_DURATION_RANGE_S", "JUPITER_MAX_FREQ_HZ", "JUPITER_SWEEP_RANGE_S", "RANDOM_KINDS",
           "SPIKE_DURATION_RANGE_S", "SPIKE_RELATIVE_BANDWIDTH_RANGE", "STRIA_DURATION_RANGE_S",
           "STRIA_WIDTH_RANGE_HZ",
           "InjectedEvent", "add_event_power", "arrival_unix_s", "event_power", "last_time_unix_s",
           "type_iii_arrival_s", "type_iii_decay_s", "type_iii_drift_hz_per_s"]
