"""Labelled burst candidates from the simulator: the data the shipped classifiers are trained on.

Domain randomisation, so that the classifiers hold on data this project never made: each simulated
segment draws its own configuration (:func:`draw_config`): a band anywhere in NenuFAR's 10-85 MHz
(``BANDS``; width varies too), one of the detection ``RESOLUTIONS``, an S/N scale, the number of
persistent RFI channels, the lost-block fraction, how much RFI leaks through the flagger, the
type III harmonic fraction and the receiver's effects (:func:`draw_receiver`: ripple, tilt,
drifting background, gain steps, quantisation, RFI lines). Events of every kind
of edge/sim/README.md are drawn in it, the enabled chunk modules and the named detector run through
:func:`~nenubroker.udfs.registry.run_modules`, ``burst_features`` adds its columns and the truth
catalogue labels every candidate (:func:`label_candidates`). The configuration goes into
``config_*`` columns (:meth:`SegmentConfig.columns`) and each candidate's morphology family into
``config_family``, so that held-out splits can leave a band, a resolution or a family out.
:func:`cached_set` keeps such a table as parquet (:func:`write_candidates`) and recomputes its
``feat_`` columns on reading, so a cache outlives changes to ``burst_features``.

>>> settings = training_settings()
>>> settings.simulator.fftlen, settings.simulator.nfft2int, settings.ingest.downsample_freq
(16, 256, 16)
>>> config = draw_config(np.random.default_rng(0))
>>> 10e6 <= config.freq_lo_hz < config.freq_hi_hz <= 85.1e6, config.resolution.name in RESOLUTION_NAMES
(True, True)
>>> CLASSES[:3], _LABEL_OF_KIND["type_iii_u"]
(('type_i', 'type_ii', 'type_iii'), 'type_iii')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nenubroker.conf.settings import Settings, load_settings
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import InjectedEvent, event_power, last_time_unix_s
from nenubroker.edge.sim.simulator import SUBBAND_WIDTH_HZ, BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_features.core import CLASSES, burst_features
from nenubroker.udfs.contract import CANDIDATE_COLUMNS
from nenubroker.udfs.registry import chunk_table, discover, resolve, run_modules

#: Random events per minute and beam while making training data (each kind yields several candidates).
#: Jupiter kinds come only where the band reaches below 40 MHz. The detector's channel normalisation
#: removes what is smooth over a chunk, so a type IV or V gives few candidates (its onset, pulsations)
#: and is drawn often; a type I storm lasts hours and gives many (its bursts), so it is drawn rarely.
#: Each type V comes after 1-4 type IIIs of its own, hence the low type III rate.
TRAINING_RATES_PER_MIN = {"type_iii": 0.5, "type_iiib": 2.0, "spike": 2.0, "jupiter_s": 2.0, "rfi_impulse": 1.0,
                          "type_i": 0.15, "type_ii": 0.25, "type_iii_u": 0.5, "type_iii_j": 0.5, "type_iv": 1.0,
                          "type_v": 3.0, "jupiter_l": 0.8}
#: Median peak S/N per full-resolution pixel of each kind (``event_snr``) at the reference averaging
#: (``REFERENCE_AVERAGING`` full-resolution pixels per detection pixel); other resolutions scale it so
#: that the detection S/N of an extended event stays the same.
TRAINING_SNR = {"type_iii": 3.0, "type_iiib": 3.0, "spike": 4.0, "jupiter_s": 3.0, "rfi_impulse": 3.0,
                "type_i": 3.0, "type_ii": 2.0, "type_iii_u": 3.0, "type_iii_j": 3.0, "type_iv": 3.0, "type_v": 3.0,
                "jupiter_l": 2.0}
REFERENCE_AVERAGING = 64
#: Each event's S/N is ``event_snr`` times the segment's scale (``SNR_SCALE_RANGE``) times a
#: log-uniform factor in this range.
SNR_FACTOR_RANGE = (0.4, 2.5)
#: Log-uniform range of each segment's S/N scale (a brighter or quieter sky, a noisier receiver).
SNR_SCALE_RANGE = (0.6, 1.6)
#: RFI that the rfi_flagger lets through, drawn here (per minute and beam) with its own S/N range
#: (peak S/N per full-resolution pixel): impulses over part of the band (not flat across it),
#: full-band impulses too weak for the flagger's impulse test, and narrowband RFI lasting less than
#: its ``min_narrowband_duration_s`` (see :func:`draw_rfi`).
LEAKING_RFI = {"rfi_partial": (1.0, (0.3, 1.5)), "rfi_weak": (1.0, (0.22, 0.4)),
               "rfi_narrowband": (1.0, (0.4, 2.0))}
#: Training sets (not held-out ones) draw ``LEAKING_RFI`` this many times as often: RFI is the
#: rarest class, and the one most often mistaken for noise.
TRAINING_RFI_SCALE = 2.0
SEGMENT_MINUTES = 5.0
#: Every ``NOISE_SEGMENT_EVERY``-th segment (index 2, 5, 8, ...) holds no event, only noise with
#: persistent RFI channels and lost blocks, and is searched at ``NOISE_SNR_THRESHOLD``: its
#: candidates are the ``other`` class (noise), which the default threshold almost never gives.
NOISE_SEGMENT_EVERY = 3
NOISE_SNR_THRESHOLD = 5.0
#: A candidate matches an event group whose expected S/N in one detection pixel of its box reaches this.
MATCH_SNR = 1.0
_LABEL_OF_KIND = {"type_i": "type_i", "type_ii": "type_ii", "type_iii": "type_iii", "type_iii_u": "type_iii",
                  "type_iii_j": "type_iii", "type_iiib": "type_iiib", "type_iv": "type_iv", "type_v": "type_v",
                  "spike": "spike", "jupiter_s": "jupiter_s", "jupiter_l": "jupiter_l", "rfi_impulse": "rfi",
                  "rfi_persistent": "rfi"}
_START_UNIX_S = 1.7e9

#: Band families (Hz): a segment's band lies inside one; ``wide`` ones span 25-60 MHz anywhere in
#: 10-85 MHz (such as the 20-58 MHz default or 39-76 MHz). The three narrow ones are the held-out bands.
BANDS = {"low": (10e6, 30e6), "mid": (30e6, 55e6), "high": (55e6, 85e6), "wide": (10e6, 85e6)}
WIDE_BAND_WIDTH_RANGE_HZ = (25e6, 60e6)
#: A narrow family's band is 50-100 % of its range wide.
NARROW_BAND_FRACTION_RANGE = (0.5, 1.0)


@dataclass(frozen=True)
class Resolution:
    """Beamformer resolution (``fftlen``, ``nfft2int``) and the ingester's averaging to the detection stream."""

    fftlen: int
    nfft2int: int
    downsample_time: int
    downsample_freq: int

    @property
    def channel_hz(self) -> float:
        return SUBBAND_WIDTH_HZ / self.fftlen * self.downsample_freq

    @property
    def step_s(self) -> float:
        return self.fftlen * self.nfft2int / SUBBAND_WIDTH_HZ * self.downsample_time

    @property
    def name(self) -> str:
        """The detection resolution, e.g. ``195kHz_84ms``."""
        return f"{self.channel_hz / 1e3:.0f}kHz_{self.step_s * 1e3:.0f}ms"


#: Detection resolutions a segment draws from: the broker's default 49 kHz x 84 ms (the 34 GB/h mode),
#: the test suite's 195 kHz x 84 ms, twice as fast, twice as slow with narrower channels, wider
#: channels, and about e-CALLISTO's 0.25 s x 0.39 MHz. The simulation costs n_subbands x 195312.5 /
#: nfft2int full-resolution pixels per second whatever the averaging, so the beamformer integrates as
#: long as each detection resolution allows.
RESOLUTIONS = (Resolution(64, 256, 1, 16), Resolution(16, 512, 2, 16), Resolution(16, 512, 1, 16),
               Resolution(16, 256, 8, 8), Resolution(32, 512, 1, 64), Resolution(16, 1024, 3, 32))
RESOLUTION_NAMES = tuple(r.name for r in RESOLUTIONS)
PERSISTENT_RFI_RANGE = (0, 8)
LOST_BLOCK_RANGE = (0.0, 0.03)
#: Log-uniform range of the factor on ``LEAKING_RFI`` rates (the segment's RFI environment).
RFI_SCALE_RANGE = (0.5, 3.0)
HARMONIC_FRACTION_RANGE = (0.1, 0.6)


@dataclass(frozen=True)
class SegmentConfig:
    """What one simulated segment looks like: band, resolution, S/N, RFI, lost blocks, receiver."""

    band: str
    first_subband: int
    n_subbands: int
    resolution: Resolution
    snr_scale: float
    rfi_channels: int
    lost_block_fraction: float
    rfi_scale: float
    harmonic_fraction: float
    receiver: dict[str, Any] = field(default_factory=dict)

    @property
    def freq_lo_hz(self) -> float:
        return (self.first_subband - 0.5) * SUBBAND_WIDTH_HZ

    @property
    def freq_hi_hz(self) -> float:
        return (self.first_subband + self.n_subbands - 0.5) * SUBBAND_WIDTH_HZ

    def columns(self) -> dict[str, Any]:
        """The ``config_*`` columns every candidate of the segment carries."""
        return {"config_band": self.band, "config_freq_lo_mhz": self.freq_lo_hz / 1e6,
                "config_freq_hi_mhz": self.freq_hi_hz / 1e6, "config_resolution": self.resolution.name,
                "config_snr_scale": self.snr_scale, "config_rfi_channels": self.rfi_channels,
                "config_lost_block_fraction": self.lost_block_fraction, "config_rfi_scale": self.rfi_scale,
                "config_harmonic_fraction": self.harmonic_fraction,
                "config_receiver": json.dumps(self.receiver, sort_keys=True) if self.receiver else ""}


def draw_receiver(rng: np.random.Generator) -> dict[str, Any]:
    """Receiver effects of one segment, as ``SimulatorSettings.receiver`` (edge/sim/receiver.py) names them.

    Half the segments get a clean receiver; the rest a bandpass ripple and tilt, a drifting
    background, gain steps, log-digit quantisation (as e-CALLISTO's 0.386 dB digits) and flickering
    RFI lines, each on with probability 1/2, around what the real e-CALLISTO file shows
    (``ReceiverSettings.e_callisto_bir``: ripple 2.3 dB, drift 0.6, 16 lines).
    """
    on = rng.random(6) < 0.5
    clean = rng.random() < 0.5
    drawn = {
        "bandpass_ripple_db": float(rng.uniform(0.3, 3.0)) if on[0] else 0.0,
        "bandpass_tilt_db": float(rng.uniform(-6.0, 6.0)) if on[1] else 0.0,
        "background_drift_fraction": float(rng.uniform(0.05, 0.8)) if on[2] else 0.0,
        "gain_steps_per_hour": float(rng.uniform(2.0, 30.0)) if on[3] else 0.0,
        "gain_step_db": (0.3, float(rng.uniform(1.0, 4.0))),
        "quantisation": "log_digits" if on[4] else "none",
        "db_per_digit": float(rng.uniform(0.2, 0.5)),
        "rfi_lines": int(rng.integers(1, 20)) if on[5] else 0,
    }
    return {} if clean else drawn


def draw_config(rng: np.random.Generator, bands: tuple[str, ...] = tuple(BANDS),
                resolutions: tuple[Resolution, ...] = RESOLUTIONS) -> SegmentConfig:
    """A random segment configuration (see the module's docstring); subband n is centred at n x 195312.5 Hz."""
    band = str(rng.choice(bands))
    lo_hz, hi_hz = BANDS[band]
    if band == "wide":
        width_hz = float(rng.uniform(*WIDE_BAND_WIDTH_RANGE_HZ))
    else:
        width_hz = (hi_hz - lo_hz) * float(rng.uniform(*NARROW_BAND_FRACTION_RANGE))
    start_hz = float(rng.uniform(lo_hz, hi_hz - width_hz))
    first = int(np.ceil(start_hz / SUBBAND_WIDTH_HZ + 0.5))  # subband n spans (n -+ 0.5) x 195312.5 Hz
    last = int(np.floor((start_hz + width_hz) / SUBBAND_WIDTH_HZ - 0.5))
    n_subbands = (last - first + 1) // 2 * 2  # even: the widest averaging spans two subbands
    return SegmentConfig(
        band=band, first_subband=first, n_subbands=n_subbands,
        resolution=resolutions[int(rng.integers(len(resolutions)))],
        snr_scale=float(np.exp(rng.uniform(*np.log(SNR_SCALE_RANGE)))),
        rfi_channels=int(rng.integers(PERSISTENT_RFI_RANGE[0], PERSISTENT_RFI_RANGE[1] + 1)),
        lost_block_fraction=float(rng.uniform(*LOST_BLOCK_RANGE)),
        rfi_scale=float(np.exp(rng.uniform(*np.log(RFI_SCALE_RANGE)))),
        harmonic_fraction=float(rng.uniform(*HARMONIC_FRACTION_RANGE)), receiver=draw_receiver(rng))


def segment_settings(settings: Settings, config: SegmentConfig) -> Settings:
    """``settings`` with the segment's band, resolution, S/N, RFI channels, lost blocks and receiver."""
    r = config.resolution
    snr_factor = config.snr_scale * np.sqrt(REFERENCE_AVERAGING / (r.downsample_time * r.downsample_freq))
    simulator = {"fftlen": r.fftlen, "nfft2int": r.nfft2int, "first_subband": config.first_subband,
                 "n_subbands": config.n_subbands, "persistent_rfi_channels": config.rfi_channels,
                 "lost_block_fraction": config.lost_block_fraction, "harmonic_fraction": config.harmonic_fraction,
                 "event_snr": {kind: snr * snr_factor if kind != "rfi_persistent" else snr
                               for kind, snr in settings.simulator.event_snr.items()}}
    if config.receiver:
        simulator["receiver"] = config.receiver
    return settings.model_copy(update={
        "simulator": settings.simulator.model_validate({**settings.simulator.model_dump(), **simulator}),
        "ingest": settings.ingest.model_copy(update={"downsample_time": r.downsample_time,
                                                     "downsample_freq": r.downsample_freq})})


def morphology_family(kind: str, harmonic: int) -> str:
    """The family a candidate's event belongs to, for held-out splits: ``u_j`` (U and J bursts),
    ``harmonic`` (a type III's harmonic), otherwise its class."""
    if kind in ("type_iii_u", "type_iii_j"):
        return "u_j"
    if kind == "type_iii" and harmonic == 2:
        return "harmonic"
    return _LABEL_OF_KIND.get(kind, "other")


def training_settings(env: dict[str, str] | None = None) -> Settings:
    """The test suite's resolution (12 kHz x 21 ms, streamed at 195 kHz x 84 ms) with training event rates.

    Randomised segments (:func:`segment_settings`) replace its band, resolution, S/N and RFI.
    """
    return load_settings(env={} if env is None else env, overrides={
        "simulator": {"realtime": False, "fftlen": 16, "nfft2int": 256, "lost_block_fraction": 0.01,
                      "event_rates_per_min": TRAINING_RATES_PER_MIN, "event_snr": TRAINING_SNR},
        "ingest": {"downsample_time": 4, "downsample_freq": 16, "chunk_time_samples": 64,
                   "overlap_time_samples": 16},
    })


@dataclass
class _ScheduledBeam:
    """A simulator whose random events are drawn here (with random S/N) and injected just in time."""

    sim: BeamSimulator
    schedule: list[list[InjectedEvent]]
    injected: list[InjectedEvent] = field(default_factory=list)

    def next_block(self) -> tuple[SpectraChunk, list[InjectedEvent]]:
        block_end_s = self.sim.start_unix_s + (self.sim.block_index + 1) * self.sim.block_duration_s
        while self.schedule and self.schedule[0][0].time_start_unix_s < block_end_s:
            group = self.schedule.pop(0)
            group_id = f"{self.sim.beam}-g{len(self.injected)}" if len(group) > 1 else ""
            for event in group:
                event = replace(event, group_id=group_id) if group_id else event
                self.injected.append(self.sim.inject(event))
        return self.sim.next_block()


def _draw_schedule(rng: np.random.Generator, settings: Settings, beam: str, start_unix_s: float,
                   duration_s: float, freq_hz: np.ndarray,
                   rfi_scale: float = 1.0) -> list[list[InjectedEvent]]:
    """Poisson arrivals of every configured kind, each group at its own random S/N, in time order.

    ``LEAKING_RFI`` rates are multiplied by ``rfi_scale``.
    """
    sim = settings.simulator
    lo_hz, hi_hz = float(freq_hz.min()), float(freq_hz.max())
    groups = []
    for kind, rate_per_min in sim.event_rates_per_min.items():
        n_events = rng.poisson(rate_per_min * duration_s / 60.0)
        for at_s in np.sort(rng.uniform(start_unix_s, start_unix_s + duration_s, n_events)):
            snr = sim.event_snr.get(kind, 3.0) * float(np.exp(rng.uniform(*np.log(SNR_FACTOR_RANGE))))
            group = random_event(kind, rng, beam, float(at_s), lo_hz, hi_hz, snr,
                                 harmonic_fraction=sim.harmonic_fraction)
            if group:
                groups.append(group)
    for kind, (rate_per_min, snr_range) in LEAKING_RFI.items():
        n_events = rng.poisson(rate_per_min * rfi_scale * duration_s / 60.0)
        for at_s in np.sort(rng.uniform(start_unix_s, start_unix_s + duration_s, n_events)):
            snr = float(np.exp(rng.uniform(*np.log(snr_range))))
            groups.append([draw_rfi(kind, rng, beam, float(at_s), lo_hz, hi_hz, snr)])
    return sorted(groups, key=lambda group: group[0].time_start_unix_s)


def draw_rfi(kind: str, rng: np.random.Generator, beam: str, at_s: float, lo_hz: float, hi_hz: float,
             snr: float) -> InjectedEvent:
    """One RFI event of a ``LEAKING_RFI`` kind, made of the simulator's own RFI kinds.

    ``rfi_partial``: an impulse (one full-resolution sample) over 35-90 % of the band, anywhere in
    it; ``rfi_weak``: an impulse over the whole band; ``rfi_narrowband``: 0.1-0.6 MHz of constant
    power for 0.6-2.5 s (an ``rfi_persistent`` event of finite duration).
    """
    band = hi_hz - lo_hz
    if kind == "rfi_narrowband":
        width = float(rng.uniform(0.1e6, 0.6e6))
        low = float(rng.uniform(lo_hz, hi_hz - width))
        return InjectedEvent("rfi_persistent", beam, at_s, low + width, snr,
                             duration_s=float(rng.uniform(0.6, 2.5)), freq_stop_hz=low, bandwidth_hz=width)
    width = band if kind == "rfi_weak" else band * float(rng.uniform(0.35, 0.9))
    low = float(rng.uniform(lo_hz, hi_hz - width))
    return InjectedEvent("rfi_impulse", beam, at_s, low + width, snr, duration_s=0.0, bandwidth_hz=width,
                         freq_stop_hz=low)


def _expected_snr_map(event: InjectedEvent, sim: BeamSimulator, factors: tuple[int, int],
                     times_s: np.ndarray, channels: slice) -> np.ndarray:
    """S/N the event gives each detection pixel of the box (full-resolution times and channels)."""
    factor_t, factor_f = factors
    freq_hz = sim.freq_hz[channels]
    power = event_power(event, times_s, freq_hz, np.ones(freq_hz.size), time_step_s=sim.time_step_s,
                        channel_width_hz=sim.channel_width_hz)
    binned = power.reshape(times_s.size // factor_t, factor_t, -1, factor_f).mean(axis=(1, 3))
    return binned * np.sqrt(factor_t * factor_f)


def _simulator_channel(event: InjectedEvent) -> bool:
    """Whether ``event`` is one of the simulator's persistent RFI channels (not a drawn RFI event)."""
    return event.kind == "rfi_persistent" and "-rfi" in event.group_id


def _chunk_median(event: InjectedEvent, sim: BeamSimulator, factors: tuple[int, int], chunk_start_s: float,
                  dt_det: float, n_det: int, channels: slice) -> np.ndarray:
    """Per detection channel, the median over the chunk of the S/N the event gives: what the detector's
    channel normalisation takes away (a continuum lasting the whole chunk leaves only its variations).

    Sampled at one full-resolution spectrum per detection sample; 0 for events shorter than half a chunk.
    """
    factor_t, factor_f = factors
    n_channels = (channels.stop - channels.start) // factor_f
    if last_time_unix_s(event) - event.time_start_unix_s < n_det * dt_det / 2:
        return np.zeros(n_channels)
    times_s = chunk_start_s + dt_det * np.arange(n_det)
    freq_hz = sim.freq_hz[channels]
    power = event_power(event, times_s, freq_hz, np.ones(freq_hz.size), time_step_s=sim.time_step_s,
                        channel_width_hz=sim.channel_width_hz)
    return np.median(power.reshape(n_det, n_channels, factor_f).mean(axis=2), axis=0) * np.sqrt(factor_t * factor_f)


def label_candidates(candidates: pd.DataFrame, chunks: pd.DataFrame, events: list[InjectedEvent],
                     sim: BeamSimulator, factors: tuple[int, int]) -> pd.DataFrame:
    """The class of each candidate of one beam, from the truth catalogue.

    Each event group of one class (a harmonic pair, spike cluster, S-burst train, the type IIIs of a
    type V group: one ``group_id`` and class) adds its expected S/N to the pixels of the candidate's
    box (its time and frequency extent and peak, widened by one detection pixel), less its median over
    the chunk (which the detector's channel normalisation removes: a smooth continuum counts only
    where it varies). The class of the group with the highest pixel wins if it reaches
    ``MATCH_SNR``: U and J bursts are type III, RFI impulses and drawn narrowband RFI
    (:func:`draw_rfi`) are ``rfi``. The simulator's persistent RFI channels, constant and so removed
    by the detector's channel normalisation, make ``rfi`` only where no other event matches and the
    box holds one; the rest is ``other``. Returns ``label``, ``truth_event_id`` (the winning group, or
    event), ``truth_snr`` (its highest pixel S/N), ``truth_kind`` (the simulator kind of the group's
    brightest member in the box) and ``config_family`` (:func:`morphology_family`).
    """
    factor_t, factor_f = factors
    transient = [e for e in events if e.kind != "lost_block" and not _simulator_channel(e)]
    starts = np.array([e.time_start_unix_s for e in transient], dtype=np.float64)
    ends = np.array([last_time_unix_s(e) for e in transient], dtype=np.float64)
    rfi_hz = sim.freq_hz[sim.rfi_channels]
    dt_full, n_full_freq = sim.time_step_s, sim.freq_hz.size
    rows = []
    for cand in candidates.itertuples():
        chunk = chunks.loc[cand.chunk_row]
        dt_det, det_freq = chunk["time_step_s"], np.asarray(chunk["freq_hz"])
        spectra = chunk["spectra"]  # an array here, float32 bytes in the broker
        n_det_chunk = spectra.shape[0] if hasattr(spectra, "shape") else len(spectra) // 4 // det_freq.size
        df_det = float(np.median(np.diff(det_freq)))
        t_lo = min(cand.time_start_unix_s, cand.time_peak_unix_s) - dt_det
        t_hi = max(cand.time_start_unix_s + cand.duration_s, cand.time_peak_unix_s + dt_det) + dt_det
        chunk_start_s = chunk["time_start_unix_s"]
        box_start_s = chunk_start_s + np.floor((t_lo - chunk_start_s) / dt_det + 1e-6) * dt_det
        n_det = max(1, int(np.ceil((t_hi - box_start_s) / dt_det - 1e-6)))
        times_s = box_start_s + dt_full * np.arange(n_det * factor_t)
        f_lo = min(cand.freq_min_hz, cand.freq_peak_hz) - df_det
        f_hi = max(cand.freq_max_hz, cand.freq_peak_hz) + df_det
        k0 = int(np.searchsorted(det_freq, f_lo - df_det / 2))
        k1 = int(np.searchsorted(det_freq, f_hi + df_det / 2))
        channels = slice(k0 * factor_f, min(k1 * factor_f, n_full_freq))
        near = np.flatnonzero((starts < times_s[-1] + dt_full) & (ends > times_s[0]))
        totals: dict[tuple[str, str], np.ndarray] = {}
        brightest: dict[tuple[str, str], tuple[float, InjectedEvent]] = {}
        for i in near:
            event = transient[i]
            snr_map = _expected_snr_map(event, sim, factors, times_s, channels) - _chunk_median(
                event, sim, factors, chunk_start_s, dt_det, n_det_chunk, channels)
            key = (event.group_id or event.event_id, _LABEL_OF_KIND[event.kind])
            totals[key] = totals[key] + snr_map if key in totals else snr_map
            peak = float(snr_map.max(initial=0.0))
            if key not in brightest or peak > brightest[key][0]:
                brightest[key] = (peak, event)
        best, best_snr, best_key = "other", 0.0, None
        for key, total in totals.items():
            if total.size and float(total.max()) > best_snr:
                best_snr, best_key, best = float(total.max()), key, key[1]
        if best_key is None or best_snr < MATCH_SNR:
            best = "rfi" if np.any((rfi_hz >= f_lo - df_det) & (rfi_hz <= f_hi + df_det)) else "other"
            rows.append((best, "", best_snr, "", best))
            continue
        event = brightest[best_key][1]
        rows.append((best, best_key[0], best_snr, event.kind, morphology_family(event.kind, event.harmonic)))
    return pd.DataFrame(rows, columns=["label", "truth_event_id", "truth_snr", "truth_kind", "config_family"],
                        index=candidates.index)


def _segment_candidates(settings: Settings, detector_name: str, beam: str, seed: int,
                        duration_s: float, noise: bool = False, rfi_scale: float = 1.0,
                        config: SegmentConfig | None = None) -> pd.DataFrame:
    """Candidates of one simulated beam segment, labelled, with the ``burst_features`` and ``config_*`` columns.

    A ``noise`` segment has no event and its detector runs at ``NOISE_SNR_THRESHOLD``. With a
    ``config``, the segment has its band, resolution, S/N and RFI (and ``rfi_scale`` is multiplied by
    its own); without, ``settings`` as they are.
    """
    if config is not None:
        settings, rfi_scale = segment_settings(settings, config), rfi_scale * config.rfi_scale
    sim_settings = settings.simulator.model_copy(update={"event_rates_per_min": {}, "seed": seed})
    sim = BeamSimulator(beam, sim_settings, start_unix_s=_START_UNIX_S)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    schedule = [] if noise else _draw_schedule(rng, settings, beam, _START_UNIX_S, duration_s, sim.freq_hz,
                                               rfi_scale)
    scheduled = _ScheduledBeam(sim, schedule)
    chunks, events = [], []
    chunk_stream: Iterator[tuple[SpectraChunk, list[InjectedEvent]]]
    chunk_stream = detection_chunks(scheduled, settings)  # type: ignore[arg-type]  # duck-typed simulator
    for chunk, started in chunk_stream:
        if chunk.time_start_unix_s >= _START_UNIX_S + duration_s:
            break
        chunks.append(chunk)
        events += started
    events += scheduled.injected
    chunk_modules = [name for name in settings.modules.enabled if discover()[name].level == "chunk"]
    params = dict(settings.modules.params)
    if noise:
        params[detector_name] = {**params.get(detector_name, {}), "snr_threshold": NOISE_SNR_THRESHOLD}
    table, candidates = run_modules(chunk_table(chunks), resolve([*chunk_modules, detector_name]), params)
    if candidates.empty:
        return pd.DataFrame()
    unique_events = list({e.event_id: e for e in events}.values())
    factors = (settings.ingest.downsample_time, settings.ingest.downsample_freq)
    labels = label_candidates(candidates, table, unique_events, sim, factors)
    out = pd.concat([candidates, burst_features(candidates), labels], axis=1)
    return out.assign(**config.columns()) if config is not None else out


def make_training_set(settings: Settings, detector_name: str = "burst_search", n_hours: float = 1.0,
                      seed: int = 0, n_jobs: int = 1, rfi_scale: float = 1.0,
                      randomise: bool = True) -> pd.DataFrame:
    """Labelled candidates of ``n_hours`` of simulated beams (segments of ``SEGMENT_MINUTES``).

    With ``randomise`` each segment draws its own configuration (:func:`draw_config`, recorded in the
    ``config_*`` columns); otherwise all use ``settings``. Segments hold random events of every kind
    (``event_rates_per_min``) and RFI that leaks through the flagger (``LEAKING_RFI``, its rates
    times ``rfi_scale``); every ``NOISE_SEGMENT_EVERY``-th one is noise searched at a low threshold,
    for the ``other`` class. The enabled chunk modules (gain steps, rfi_flagger) run before the
    detector, as in the broker; progress goes to stdout.

    Deterministic for a seed, whatever ``n_jobs`` (segments run in that many processes). Columns:
    the detector's candidate columns, ``feat_*``, ``label`` (one of ``CLASSES``),
    ``truth_event_id``, ``truth_snr``, ``truth_kind``, ``config_*``, ``segment`` (beams differ between
    segments and seeds), ``detector`` and ``detector_version``.
    """
    n_segments = max(1, round(n_hours * 60 / SEGMENT_MINUTES))
    duration_s = n_hours * 3600 / n_segments
    jobs = []
    for index in range(n_segments):
        sequence = np.random.SeedSequence([seed, index])
        config = draw_config(np.random.default_rng(sequence.spawn(1)[0])) if randomise else None
        jobs.append((settings, detector_name, f"train{seed}-{index}", int(sequence.generate_state(1)[0]),
                     duration_s, index % NOISE_SEGMENT_EVERY == NOISE_SEGMENT_EVERY - 1, rfi_scale, config))
    results = []
    if n_jobs > 1:
        with ProcessPoolExecutor(n_jobs) as pool:
            for done, part in enumerate(pool.map(_segment_candidates, *zip(*jobs, strict=True)), 1):
                results.append(part)
                print(f"  seed {seed}: segment {done}/{n_segments}, {len(part)} candidates", flush=True)
    else:
        for done, job in enumerate(jobs, 1):
            results.append(_segment_candidates(*job))
            print(f"  seed {seed}: segment {done}/{n_segments}, {len(results[-1])} candidates", flush=True)
    version = discover()[detector_name].version
    parts = [part.assign(segment=f"{seed}-{index}", detector=detector_name, detector_version=version)
             for index, part in enumerate(results) if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def table_hash(df: pd.DataFrame) -> str:
    """Short SHA-256 of the features, cutouts and labels: the ``+<hash>`` of model versions."""
    digest = hashlib.sha256()
    features = df[[c for c in df.columns if c.startswith("feat_")]].to_numpy(np.float64)
    digest.update(np.ascontiguousarray(features).tobytes())
    for cutout in df["cutout"]:
        digest.update(np.asarray(cutout, dtype="<f4").tobytes())
    digest.update("\n".join(df["label"]).encode())
    return digest.hexdigest()[:10]


def write_sample(df: pd.DataFrame, path: Path, per_class: int = 30, seed: int = 0) -> pd.DataFrame:
    """Up to ``per_class`` random candidates of each class of ``df``, written by :func:`write_candidates`."""
    rng = np.random.default_rng(seed)
    picked = [group.iloc[np.sort(rng.permutation(len(group))[:per_class])]
              for _, group in df.groupby("label", sort=True)]
    sample = pd.concat(picked).reset_index(drop=True)
    write_candidates(sample, Path(path))
    return sample


def cached_set(settings: Settings, detector: str, hours: float, seed: int, cache_dir: Path | None,
               n_jobs: int, rfi_scale: float = 1.0) -> pd.DataFrame:
    """:func:`make_training_set` (randomised), kept as parquet in ``cache_dir`` when given; ``feat_``
    columns recomputed.

    The file name holds the detector, hours, seed and ``rfi_scale`` (when not 1); a cache made by
    another detector version or simulator is not detected: clear ``cache_dir`` after such changes.
    """
    scale = f"-rfi{rfi_scale:g}" if rfi_scale != 1.0 else ""
    name = f"candidates-randomised-{detector}-{hours:g}h-seed{seed}{scale}.parquet"
    path = Path(cache_dir) / name if cache_dir else None
    if path is not None and path.is_file():
        df = read_candidates(path)
        if df.empty:
            return df
        features = burst_features(df)
        stale = [c for c in df.columns if c.startswith("feat_")]
        return pd.concat([df.drop(columns=stale), features], axis=1)
    df = make_training_set(settings, detector, hours, seed, n_jobs, rfi_scale)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_candidates(df, path)
    return df


def write_candidates(df: pd.DataFrame, path: Path) -> None:
    """Parquet with the cutouts as little-endian float32 bytes."""
    as_bytes = [np.asarray(c, dtype="<f4").tobytes() for c in df["cutout"]]
    df.assign(cutout=as_bytes).to_parquet(path, compression="zstd")


def read_candidates(path: Path) -> pd.DataFrame:
    """The table :func:`write_candidates` wrote, cutouts back as (32, 32) float32 arrays."""
    df = pd.read_parquet(path)
    return df.assign(cutout=[np.frombuffer(c, dtype="<f4").reshape(32, 32) for c in df["cutout"]])


__all__ = ["BANDS", "CANDIDATE_COLUMNS", "CLASSES", "HARMONIC_FRACTION_RANGE", "LEAKING_RFI", "LOST_BLOCK_RANGE",
           "MATCH_SNR", "NARROW_BAND_FRACTION_RANGE", "NOISE_SEGMENT_EVERY", "NOISE_SNR_THRESHOLD",
           "PERSISTENT_RFI_RANGE", "REFERENCE_AVERAGING", "RESOLUTIONS", "RESOLUTION_NAMES", "RFI_SCALE_RANGE",
           "SEGMENT_MINUTES", "SNR_FACTOR_RANGE", "SNR_SCALE_RANGE", "TRAINING_RATES_PER_MIN", "TRAINING_RFI_SCALE",
           "TRAINING_SNR", "WIDE_BAND_WIDTH_RANGE_HZ", "Resolution", "SegmentConfig", "cached_set", "draw_config",
           "draw_receiver", "draw_rfi", "label_candidates", "make_training_set", "morphology_family",
           "read_candidates", "segment_settings", "table_hash", "training_settings", "write_candidates",
           "write_sample"]
