"""A simulated NenuFAR beam: sky background, instrument bandpass, Gamma noise and solar bursts.

The power in a sample is the sum of ``integrated_spectra`` squared-modulus FFT outputs, so it is
Gamma distributed with shape K = ``integrated_spectra`` and mean equal to the true power: the noise
sigma is mean / sqrt(K). Bursts add to the true power before the Gamma draw, and their amplitude is
given as a per-pixel S/N against that sigma, so "S/N 10" means the same thing at every frequency.

Events (physics from ../shared/notes/radio.md):

- ``type_iii``: drift df/dt = -0.01 f^1.84 MHz/s (f in MHz); at each frequency a Gaussian rise of
  ~0.3 s then an exponential decay of 1.8 s x (36 MHz / f).
- ``spike``: 10-300 ms long, relative bandwidth 0.1-2 %, no drift.

>>> from nenubroker.conf.settings import SimulatorSettings
>>> beam = BeamSimulator("beam0", SimulatorSettings(realtime=False), start_unix_s=1.7e9)
>>> chunk, events = beam.next_chunk()
>>> chunk.data.shape
(64, 256)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.spectra_chunk import SpectraChunk

EVENT_KINDS = ("type_iii", "spike")


@dataclass(frozen=True)
class InjectedEvent:
    """One entry of the truth catalogue."""

    kind: str
    beam: str
    time_start_unix_s: float
    freq_start_hz: float
    snr: float
    duration_s: float = 0.3
    bandwidth_hz: float = 0.0
    freq_stop_hz: float = 0.0
    event_id: str = field(default="")


def sky_background(freq_hz: np.ndarray) -> np.ndarray:
    """Galactic synchrotron ∝ ν^-2.55 seen through a smooth bandpass peaking near 55 MHz."""
    freq_mhz = freq_hz / 1e6
    bandpass = np.exp(-0.5 * (np.log(freq_mhz / 55.0) / 0.45) ** 2)
    return (freq_mhz / 50.0) ** -2.55 * (0.2 + bandpass)


def type_iii_drift_hz_per_s(freq_hz: np.ndarray | float) -> np.ndarray | float:
    """df/dt = -0.01 f^1.84 MHz/s with f in MHz."""
    return -0.01 * (np.asarray(freq_hz) / 1e6) ** 1.84 * 1e6


def type_iii_arrival_s(freq_hz: np.ndarray, freq_start_hz: float) -> np.ndarray:
    """Time after onset at which a type III starting at ``freq_start_hz`` reaches each frequency.

    Integrates dt = df / (df/dt) in closed form: t(f) = (f^-0.84 - f0^-0.84) / (0.84 * 0.01), f in MHz.
    """
    f = np.asarray(freq_hz) / 1e6
    f0 = freq_start_hz / 1e6
    return (f**-0.84 - f0**-0.84) / (0.84 * 0.01)


def event_power(event: InjectedEvent, times_s: np.ndarray, freq_hz: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Excess true power of ``event`` on the (time, freq) grid; ``sigma`` is the noise per channel."""
    dt = times_s[:, None] - event.time_start_unix_s
    if event.kind == "type_iii":
        arrival = type_iii_arrival_s(freq_hz, event.freq_start_hz)
        inside = (freq_hz <= event.freq_start_hz) & (freq_hz >= event.freq_stop_hz)
        local = dt - arrival[None, :]
        rise_s, decay_s = 0.3, 1.8 * (36e6 / freq_hz)[None, :]
        profile = np.where(local < 0, np.exp(-0.5 * (local / rise_s) ** 2), np.exp(-local / decay_s))
        return event.snr * sigma[None, :] * profile * inside[None, :]
    if event.kind == "spike":
        width_hz = max(event.bandwidth_hz, 1e-9)
        spectral = np.exp(-0.5 * ((freq_hz - event.freq_start_hz) / (width_hz / 2.355)) ** 2)
        temporal = np.exp(-0.5 * ((dt - event.duration_s / 2) / (event.duration_s / 2.355)) ** 2)
        return event.snr * sigma[None, :] * temporal * spectral[None, :]
    raise ValueError(f"unknown event kind {event.kind!r}; known: {EVENT_KINDS}")


class BeamSimulator:
    """Makes consecutive chunks of one beam; ``inject`` schedules an event, random ones come too."""

    def __init__(self, beam: str, settings: SimulatorSettings, start_unix_s: float | None = None):
        self.beam = beam
        self.settings = settings
        self.freq_hz = np.linspace(settings.freq_min_hz, settings.freq_max_hz, settings.n_channels)
        self.background = sky_background(self.freq_hz)
        self.sigma = self.background / np.sqrt(settings.integrated_spectra)
        self.start_unix_s = time.time() if start_unix_s is None else start_unix_s
        self.chunk_index = 0
        seed = np.random.SeedSequence([settings.seed, *beam.encode()])
        self._rng = np.random.default_rng(seed)
        self._events: list[InjectedEvent] = []
        self._next_random_s = self.start_unix_s + self._random_wait_s()

    @property
    def chunk_duration_s(self) -> float:
        return self.settings.chunk_time_samples * self.settings.time_step_s

    def _random_wait_s(self) -> float:
        rate = self.settings.bursts_per_minute / 60.0
        return float(self._rng.exponential(1 / rate)) if rate > 0 else float("inf")

    def inject(self, event: InjectedEvent) -> InjectedEvent:
        if not event.event_id:
            event = InjectedEvent(**{**event.__dict__, "event_id": f"{self.beam}-{len(self._events)}"})
        self._events.append(event)
        return event

    def _random_event(self, at_unix_s: float) -> InjectedEvent:
        kind = EVENT_KINDS[int(self._rng.integers(len(EVENT_KINDS)))]
        lo, hi = self.settings.freq_min_hz, self.settings.freq_max_hz
        if kind == "type_iii":
            start = self._rng.uniform(lo + 0.5 * (hi - lo), hi)
            return InjectedEvent(kind, self.beam, at_unix_s, start, self.settings.burst_snr, freq_stop_hz=lo)
        centre = self._rng.uniform(lo, hi)
        return InjectedEvent(
            kind, self.beam, at_unix_s, centre, self.settings.burst_snr,
            duration_s=float(self._rng.uniform(0.1, 0.3)),
            bandwidth_hz=float(centre * self._rng.uniform(0.01, 0.02)),
        )

    def next_chunk(self) -> tuple[SpectraChunk, list[InjectedEvent]]:
        """The next chunk, and the events that started inside it."""
        step = self.settings.time_step_s
        t0 = self.start_unix_s + self.chunk_index * self.chunk_duration_s
        t1 = t0 + self.chunk_duration_s
        while self._next_random_s < t1:
            self.inject(self._random_event(self._next_random_s))
            self._next_random_s += self._random_wait_s()
        times = t0 + step * np.arange(self.settings.chunk_time_samples)
        power = np.broadcast_to(self.background, (times.size, self.freq_hz.size)).copy()
        for event in self._events:
            if event.time_start_unix_s < t1 + 1.0:
                power += event_power(event, times, self.freq_hz, self.sigma)
        # Keep a few tens of seconds of events: type III tails reach lower frequencies late.
        self._events = [e for e in self._events if e.time_start_unix_s > t0 - 60.0]
        k = self.settings.integrated_spectra
        data = self._rng.gamma(k, power / k).astype(np.float32)
        chunk = SpectraChunk(
            beam=self.beam,
            chunk_index=self.chunk_index,
            time_start_unix_s=t0,
            time_step_s=step,
            freq_hz=self.freq_hz,
            data=data,
            source="simulator",
            created_unix_s=time.time(),
        )
        started = [e for e in self._events if t0 <= e.time_start_unix_s < t1]
        self.chunk_index += 1
        return chunk, started


__all__ = ["EVENT_KINDS", "BeamSimulator", "InjectedEvent", "event_power", "sky_background", "type_iii_arrival_s", "type_iii_drift_hz_per_s"]
