"""A simulated NenuFAR beam at beamformer resolution: sky, bandpass, Gamma noise, events and RFI.

A sample is the sum of ``nfft2int`` squared-modulus FFT outputs. Its power is therefore Gamma
distributed with shape nfft2int and mean equal to the true power, and the noise sigma is
mean / sqrt(nfft2int). Events (edge/sim/events.py; every class of edge/sim/README.md) add to the
true power before the Gamma draw; their ``snr`` is the peak S/N of one pixel at this resolution.
An event stays scheduled until it has faded (``last_time_unix_s``), hours for a type I storm or a
type IV, and each block evaluates only its own window of it. Persistent narrowband RFI channels are
drawn once at start and stay on. A lost block is all NaN. Every event, RFI channel (per block)
and lost block is reported in the truth list that ``next_block`` returns. ``settings.receiver``
(edge/sim/receiver.py, off by default) adds flickering RFI lines before the noise, then multiplies
by the receiver's gain (bandpass ripple and tilt, drift, gain steps) and quantises; its gain steps
and lines are in ``gain_steps`` and ``rfi_lines``. Axes follow the beamformer: channel j of
subband n is at n * 195312.5 + (j - fftlen / 2) * df Hz, and spectra start every
fftlen * nfft2int / 195312.5 s.

>>> from nenubroker.conf.settings import SimulatorSettings
>>> settings = SimulatorSettings(realtime=False, fftlen=16, nfft2int=64, n_subbands=4)
>>> block, events = BeamSimulator("beam0", settings, start_unix_s=1.7e9).next_block()
>>> block.data.shape, round(block.time_step_s, 5)
((64, 64), 0.00524)
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import (
    InjectedEvent,
    add_event_power,
    event_power,
    last_time_unix_s,
    type_iii_arrival_s,
    type_iii_drift_hz_per_s,
)
from nenubroker.edge.sim.receiver import Receiver, RfiLine
from nenubroker.records.chunk import SpectraChunk

SUBBAND_WIDTH_HZ = 195312.5
RFI_PERSISTENT_SNR = 30.0  # used when settings.event_snr has no "rfi_persistent"
RECEIVER_STREAM = 0x5245  # tells the receiver's seed from the beam's


def beamformer_freq_hz(subbands: np.ndarray, fftlen: int) -> np.ndarray:
    """Channel frequencies of the given subbands, in the reader's (fftshifted) order."""
    df = SUBBAND_WIDTH_HZ / fftlen
    return (np.asarray(subbands)[:, None] * SUBBAND_WIDTH_HZ + (np.arange(fftlen) - fftlen / 2) * df).ravel()


def sky_background(freq_hz: np.ndarray) -> np.ndarray:
    """Galactic synchrotron ∝ ν^-2.55 seen through a smooth bandpass peaking near 55 MHz."""
    freq_mhz = freq_hz / 1e6
    bandpass = np.exp(-0.5 * (np.log(freq_mhz / 55.0) / 0.45) ** 2)
    return (freq_mhz / 50.0) ** -2.55 * (0.2 + bandpass)


class BeamSimulator:
    """Makes consecutive full-resolution blocks of one beam; ``inject`` schedules an event."""

    def __init__(self, beam: str, settings: SimulatorSettings, start_unix_s: float | None = None):
        self.beam = beam
        self.settings = settings
        subbands = np.arange(settings.first_subband, settings.first_subband + settings.n_subbands)
        self.freq_hz = beamformer_freq_hz(subbands, settings.fftlen)
        self.channel_width_hz = SUBBAND_WIDTH_HZ / settings.fftlen
        self.time_step_s = settings.fftlen * settings.nfft2int / SUBBAND_WIDTH_HZ
        self.background = sky_background(self.freq_hz)
        self.sigma = self.background / np.sqrt(settings.nfft2int)
        self.start_unix_s = time.time() if start_unix_s is None else start_unix_s
        self.block_index = 0
        self._rng = np.random.default_rng(np.random.SeedSequence([settings.seed, *beam.encode()]))
        n_rfi = min(settings.persistent_rfi_channels, self.freq_hz.size)
        self.rfi_channels = np.sort(self._rng.choice(self.freq_hz.size, size=n_rfi, replace=False))
        rfi_snr = settings.event_snr.get("rfi_persistent", RFI_PERSISTENT_SNR)
        self.rfi_snr = rfi_snr * self._rng.uniform(0.5, 1.0, n_rfi)
        self._events: list[InjectedEvent] = []
        self._unreported: list[InjectedEvent] = []
        self._n_injected = 0
        self._next_random_s = {kind: self.start_unix_s + self._random_wait_s(kind)
                               for kind in settings.event_rates_per_min}
        # Its own random streams: with every effect off the beam's stream, and the data, stay as before.
        self.receiver = Receiver(settings.receiver, self.freq_hz,
                                 np.random.SeedSequence([settings.seed, *beam.encode(), RECEIVER_STREAM]),
                                 self.start_unix_s)

    @property
    def block_duration_s(self) -> float:
        return self.settings.block_spectra * self.time_step_s

    @property
    def gain_steps(self) -> list[tuple[float, float]]:
        """Truth of the receiver's gain steps so far: (time_unix_s, step_db), the gain changing from that time on."""
        return list(self.receiver.gain_steps)

    @property
    def rfi_lines(self) -> tuple[RfiLine, ...]:
        """Truth of the receiver's flickering RFI lines (channels, level, duty cycle); when each is on:
        ``receiver.line_on(times)``."""
        return self.receiver.lines

    @property
    def scheduled_events(self) -> tuple[InjectedEvent, ...]:
        """Events injected and not yet faded, including those that start in later blocks."""
        return tuple(self._events)

    def _random_wait_s(self, kind: str) -> float:
        rate_per_s = self.settings.event_rates_per_min.get(kind, 0.0) / 60.0
        return float(self._rng.exponential(1 / rate_per_s)) if rate_per_s > 0 else float("inf")

    def _with_id(self, event: InjectedEvent) -> InjectedEvent:
        if not event.event_id:
            event = replace(event, event_id=f"{self.beam}-{self._n_injected}")
        self._n_injected += 1
        return event

    def inject(self, event: InjectedEvent) -> InjectedEvent:
        """Schedule ``event``; it gets an id unique within this beam if it has none."""
        event = self._with_id(event)
        self._events.append(event)
        self._unreported.append(event)
        return event

    def _inject_group(self, group: list[InjectedEvent]) -> None:
        """A harmonic pair, cluster or train shares the id of its first member as ``group_id``."""
        group_id = f"{self.beam}-{self._n_injected}" if len(group) > 1 else ""
        for event in group:
            self.inject(replace(event, group_id=group_id) if group_id else event)

    def _draw_random_events(self, until_unix_s: float) -> None:
        lo, hi = float(self.freq_hz.min()), float(self.freq_hz.max())
        for kind, at_s in self._next_random_s.items():
            while at_s < until_unix_s:
                snr = self.settings.event_snr.get(kind, 3.0)
                self._inject_group(random_event(kind, self._rng, self.beam, at_s, lo, hi, snr,
                                                harmonic_fraction=self.settings.harmonic_fraction))
                at_s += self._random_wait_s(kind)
            self._next_random_s[kind] = at_s

    def _rfi_truth(self, t0: float) -> list[InjectedEvent]:
        """One entry per persistent RFI channel and block: finite time ranges, one group per channel."""
        return [self._with_id(InjectedEvent(
            "rfi_persistent", self.beam, t0, float(self.freq_hz[c]), float(snr),
            bandwidth_hz=self.channel_width_hz, duration_s=self.block_duration_s,
            group_id=f"{self.beam}-rfi{c}")) for c, snr in zip(self.rfi_channels, self.rfi_snr, strict=True)]

    def next_block(self) -> tuple[SpectraChunk, list[InjectedEvent]]:
        """The next block of ``block_spectra`` spectra, and the truth entries that start inside it.

        An event injected after its start time is reported with the next block, so that every
        injected event is in the truth exactly once.
        """
        t0 = self.start_unix_s + self.block_index * self.block_duration_s
        t1 = t0 + self.block_duration_s
        self._draw_random_events(t1)
        times = t0 + self.time_step_s * np.arange(self.settings.block_spectra)
        power = np.broadcast_to(self.background.astype(np.float32), (times.size, self.freq_hz.size)).copy()
        for event in self._events:
            add_event_power(power, event, times, self.freq_hz, self.sigma, time_step_s=self.time_step_s,
                            channel_width_hz=self.channel_width_hz)
        power[:, self.rfi_channels] += self.rfi_snr * self.sigma[self.rfi_channels]
        self.receiver.add_line_power(power, times, self.background)
        started = [e for e in self._unreported if e.time_start_unix_s < t1]  # late injections too
        self._unreported = [e for e in self._unreported if e.time_start_unix_s >= t1]
        started += self._rfi_truth(t0)
        self._events = [e for e in self._events if last_time_unix_s(e) >= t1]
        k = self.settings.nfft2int
        data = self._rng.standard_gamma(k, size=power.shape, dtype=np.float32)
        data *= power / np.float32(k)
        self.receiver.apply(data, times)
        if self._rng.random() < self.settings.lost_block_fraction:
            data[:] = np.nan
            lo, hi = float(self.freq_hz.min()), float(self.freq_hz.max())
            started.append(self._with_id(InjectedEvent(
                "lost_block", self.beam, t0, hi, 0.0, duration_s=self.block_duration_s,
                bandwidth_hz=hi - lo, freq_stop_hz=lo)))
        block = SpectraChunk(
            beam=self.beam, chunk_index=self.block_index, time_start_unix_s=t0, time_step_s=self.time_step_s,
            freq_hz=self.freq_hz, data=data, source="simulator", created_unix_s=time.time(),
        )
        self.block_index += 1
        return block, started


__all__ = ["RECEIVER_STREAM", "RFI_PERSISTENT_SNR", "SUBBAND_WIDTH_HZ", "BeamSimulator", "InjectedEvent",
           "beamformer_freq_hz", "event_power", "sky_background", "type_iii_arrival_s", "type_iii_drift_hz_per_s"]
