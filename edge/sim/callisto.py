"""Simulated e-CALLISTO receivers written as e-CALLISTO FITS files, for tests of the FITS path.

What a real receiver (and the archive's files, e.g. radiospectra's BIR_20110607_062400_10.fit)
shows, and what this writer puts in:

- a **frequency program** on the tuner's 62.5 kHz raster, irregularly spaced, stored descending,
  with the unused slots repeating the lowest frequency (:func:`callisto_frequencies`);
- **uint8 digits on a log scale**: digits = round(10 log10(P) / 0.386 dB), clipped to 0..255
  (``callisto_file.DB_PER_DIGIT``), with radiometer noise before the detector (Gamma, shape
  ``looks``: 0.3 dB rms for 200, about the 0.8-digit rms of the real file);
- a quiet-sky level of 115-150 digits that varies smoothly across the band, a **background that
  drifts** over minutes (``drift_db`` over ``drift_period_s``, stronger at high frequency) and
  **gain steps** (all channels at once, ``gain_step_db``);
- **persistent narrowband RFI** (``rfi_lines`` channels 6-20 dB up), **saturated channels**
  (a transmitter above the ADC's range: 255) and optionally lost sweeps (0: no data);
- bursts drawn with the NenuFAR simulator's event models (``edge/sim/events.py``: type III,
  spikes, ...; their ``snr`` is the peak S/N of one 0.25 s x channel pixel over the noise).

Simplification: events are averaged over each 0.25 s sample; a real receiver measures each channel
for about a millisecond once per sweep, so it sees bursts shorter than a sweep in some channels only.

>>> import tempfile
>>> sim = simulate_callisto(10.0, start_unix_s=1.7e9, receiver=CallistoReceiver(n_channels=20, n_repeats=2))
>>> sim.digits.shape, sim.digits.dtype.name, float(sim.freq_mhz[0]) > float(sim.freq_mhz[-3])
((20, 40), 'uint8', True)
>>> write_callisto_fits(tempfile.mkdtemp() + "/SIM_20231114_221320_01.fit.gz", sim).name
'SIM_20231114_221320_01.fit.gz'
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.io import fits

from nenubroker.edge.callisto_file import DB_PER_DIGIT
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import InjectedEvent, add_event_power

TUNER_RASTER_HZ = 62.5e3
CHANNEL_WIDTH_HZ = 300e3  # the receiver's resolution bandwidth


@dataclass(frozen=True)
class CallistoReceiver:
    """A simulated receiver and what its files show (see the module docstring)."""

    station: str = "NENUSIM"
    freq_low_hz: float = 20e6
    freq_high_hz: float = 90e6
    n_channels: int = 200
    n_repeats: int = 9
    time_step_s: float = 0.25
    looks: float = 200.0
    background_digits: tuple[float, float] = (115.0, 150.0)
    drift_db: float = 1.0
    drift_period_s: float = 300.0
    gain_steps: int = 2
    gain_step_db: float = 1.5
    rfi_lines: int = 4
    rfi_db: tuple[float, float] = (6.0, 20.0)
    saturated_channels: int = 2
    lost_sweeps: int = 0
    seed: int = 0


@dataclass
class SimulatedCallisto:
    """A simulated file: ``digits`` (n_channels, n_time) uint8 in file order, as the FITS image holds them."""

    receiver: CallistoReceiver
    start_unix_s: float
    time_s: np.ndarray
    freq_mhz: np.ndarray
    digits: np.ndarray
    events: list[InjectedEvent] = field(default_factory=list)
    rfi_freq_hz: np.ndarray = field(default_factory=lambda: np.zeros(0))
    saturated_freq_hz: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gain_step_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lost_sweeps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def time_unix_s(self) -> np.ndarray:
        return self.start_unix_s + self.time_s


def callisto_frequencies(rng: np.random.Generator, receiver: CallistoReceiver) -> np.ndarray:
    """A frequency program in MHz, file order: ``n_channels - n_repeats`` even steps across the band,
    each moved by up to 0.45 step and put on the tuner's raster (spacings 0.1-1.9 times the mean,
    as in real programs), from high to low, then ``n_repeats`` unused slots at the lowest frequency."""
    n_unique = receiver.n_channels - receiver.n_repeats
    lo, hi = receiver.freq_low_hz, receiver.freq_high_hz
    step = (hi - lo) / max(n_unique - 1, 1)
    if n_unique < 2 or step < 2 * TUNER_RASTER_HZ:
        raise ValueError(f"{n_unique} distinct channels do not fit {lo / 1e6}-{hi / 1e6} MHz on the tuner's raster")
    nominal = lo + step * np.arange(n_unique)
    nominal[1:-1] += rng.uniform(-0.45, 0.45, n_unique - 2) * step
    unique = np.unique(np.rint(nominal / TUNER_RASTER_HZ) * TUNER_RASTER_HZ)[::-1]
    return np.concatenate([unique, np.full(receiver.n_repeats, unique[-1])]) / 1e6


def _smooth_curve(rng: np.random.Generator, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A smooth random curve between ``lo`` and ``hi`` over ``x`` in [0, 1] (a few cosines)."""
    curve = sum(rng.normal() / (k + 1) * np.cos(np.pi * (k + 1) * x + rng.uniform(0, 2 * np.pi)) for k in range(4))
    curve = (curve - curve.min()) / max(float(np.ptp(curve)), 1e-9)
    return lo + (hi - lo) * curve


def simulate_callisto(duration_s: float, start_unix_s: float | None = None,
                      receiver: CallistoReceiver | None = None, events: Sequence[InjectedEvent] = (),
                      event_rates_per_min: dict[str, float] | None = None, event_snr: float = 10.0,
                      beam: str = "callisto") -> SimulatedCallisto:
    """Digits of ``duration_s`` seconds of a receiver, with ``events`` and randomly drawn ones.

    ``event_rates_per_min`` draws events of each kind (``edge/sim/draws.py``) at those rates, at
    peak S/N ``event_snr``, inside the band.
    """
    receiver = receiver or CallistoReceiver()
    rng = np.random.default_rng(receiver.seed)
    start = time.time() if start_unix_s is None else float(start_unix_s)
    n_time = int(round(duration_s / receiver.time_step_s))
    time_s = receiver.time_step_s * np.arange(n_time)
    freq_mhz = callisto_frequencies(rng, receiver)
    unique_hz = np.unique(freq_mhz) * 1e6  # ascending, as the event models want
    x = (unique_hz - unique_hz[0]) / (unique_hz[-1] - unique_hz[0])
    background = 10 ** (_smooth_curve(rng, x, *receiver.background_digits) * DB_PER_DIGIT / 10)
    level_db = receiver.drift_db * np.sin(2 * np.pi * time_s / receiver.drift_period_s + rng.uniform(0, 2 * np.pi))
    level_db = level_db[:, None] * (0.5 + x[None, :])  # drifts more at high frequency
    steps_s = np.sort(rng.uniform(0, duration_s, receiver.gain_steps))
    for at_s in steps_s:
        level_db = level_db + np.where(time_s >= at_s, rng.choice([-1, 1]) * receiver.gain_step_db, 0.0)[:, None]
    power = background[None, :] * 10 ** (level_db / 10)
    sigma = background / np.sqrt(receiver.looks)
    drawn = list(events)
    for kind, rate in (event_rates_per_min or {}).items():
        at_s = start + rng.exponential(60 / rate) if rate > 0 else np.inf
        while at_s < start + duration_s:
            drawn += random_event(kind, rng, beam, float(at_s), unique_hz[0], unique_hz[-1], event_snr)
            at_s += rng.exponential(60 / rate)
    for event in drawn:
        add_event_power(power, event, start + time_s, unique_hz, sigma, time_step_s=receiver.time_step_s,
                        channel_width_hz=CHANNEL_WIDTH_HZ)
    special = rng.choice(unique_hz.size, receiver.rfi_lines + receiver.saturated_channels, replace=False)
    rfi, saturated = special[:receiver.rfi_lines], special[receiver.rfi_lines:]
    power[:, rfi] *= 10 ** (rng.uniform(*receiver.rfi_db, rfi.size) / 10)
    power[:, saturated] = 10 ** (262 * DB_PER_DIGIT / 10)
    columns = np.searchsorted(unique_hz, freq_mhz * 1e6)  # file channel -> simulated channel
    measured = power[:, columns] * rng.standard_gamma(receiver.looks, (n_time, columns.size)) / receiver.looks
    digits = np.clip(np.rint(10 * np.log10(measured) / DB_PER_DIGIT), 0, 255).astype(np.uint8)
    lost = np.sort(rng.choice(n_time, min(receiver.lost_sweeps, n_time), replace=False))
    digits[lost] = 0
    return SimulatedCallisto(receiver=receiver, start_unix_s=start, time_s=time_s, freq_mhz=freq_mhz,
                             digits=np.ascontiguousarray(digits.T), events=drawn, rfi_freq_hz=unique_hz[rfi],
                             saturated_freq_hz=unique_hz[saturated], gain_step_times_s=steps_s, lost_sweeps=lost)


def _clock(seconds_of_day: float) -> str:
    """hh:mm:ss.fff; the hour goes past 23 after midnight, as e-CALLISTO's TIME-END does."""
    hours, rest = divmod(seconds_of_day, 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    return f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"


def write_callisto_fits(path: str | Path, sim: SimulatedCallisto,
                        time_column: Literal["offset", "seconds_of_day"] = "offset") -> Path:
    """Write ``sim`` in the e-CALLISTO layout (gzipped if ``path`` ends in .gz); returns the path.

    ``time_column`` writes TIME as seconds from TIME-OBS (the archive's files) or as seconds of day.
    """
    path = Path(path)
    receiver = sim.receiver
    midnight = float(np.floor(sim.start_unix_s / 86400.0) * 86400.0)
    start_of_day = sim.start_unix_s - midnight
    date = time.strftime("%Y/%m/%d", time.gmtime(sim.start_unix_s))
    image = fits.PrimaryHDU(sim.digits)
    image.header.update([
        ("DATE", time.strftime("%Y-%m-%d", time.gmtime(sim.start_unix_s)), "Time of observation"),
        ("CONTENT", f"{date}  Radio flux density, e-CALLISTO ({receiver.station})"),
        ("ORIGIN", "nenubroker_simulator", "Organization name"),
        ("TELESCOP", "Radio Spectrometer", "Type of instrument"),
        ("INSTRUME", receiver.station, "Name of the spectrometer"),
        ("OBJECT", "Sun", "object description"),
        ("DATE-OBS", date, "Date observation starts"),
        ("TIME-OBS", _clock(start_of_day), "Time observation starts"),
        ("DATE-END", date, "date observation ends"),
        ("TIME-END", _clock(start_of_day + sim.time_s[-1] + receiver.time_step_s), "time observation ends"),
        ("BZERO", 0.0, "scaling offset"), ("BSCALE", 1.0, "scaling factor"), ("BUNIT", "digits", "z-axis title"),
        ("DATAMIN", int(sim.digits.min()), "minimum element in image"),
        ("DATAMAX", int(sim.digits.max()), "maximum element in image"),
        ("CRVAL1", float(int(start_of_day)), "value on axis 1 at ref. pixel [sec of day]"),
        ("CRPIX1", 0, "reference pixel of axis 1"), ("CTYPE1", "Time [UT]", "title of axis 1"),
        ("CDELT1", receiver.time_step_s, "step between first and second x-axis element"),
        ("CRVAL2", float(receiver.n_channels), "value on axis 2 at the reference pixel"),
        ("CRPIX2", 0, "reference pixel of axis 2"), ("CTYPE2", "Frequency [MHz]", "title of axis 2"),
        ("CDELT2", -1.0, "step between first and second element"),
        ("OBS_LAT", 47.38, "observatory latitude in degree"), ("OBS_LAC", "N", "observatory latitude code {N,S}"),
        ("OBS_LON", 2.19, "observatory longitude in degree"), ("OBS_LOC", "E", "observatory longitude code {E,W}"),
        ("OBS_ALT", 136.0, "observatory altitude in meter asl"),
    ])
    seconds = sim.time_s + (start_of_day if time_column == "seconds_of_day" else 0.0)
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="TIME", format=f"{seconds.size}D8.3", array=seconds[None, :]),
        fits.Column(name="FREQUENCY", format=f"{sim.freq_mhz.size}D8.3", array=sim.freq_mhz[None, :]),
    ])
    fits.HDUList([image, table]).writeto(path, overwrite=True)
    return path


__all__ = ["CHANNEL_WIDTH_HZ", "TUNER_RASTER_HZ", "CallistoReceiver", "SimulatedCallisto", "callisto_frequencies",
           "simulate_callisto", "write_callisto_fits"]
