"""Labelled burst candidates from the simulator: the data the shipped classifiers are trained on.

:func:`make_training_set` simulates beams at the configured resolution with events of every kind
(type III with harmonics, type IIIb, spike clusters, Jupiter S-burst trains, RFI impulses; the
simulator adds persistent RFI and lost blocks), runs the enabled chunk modules and the named
detector through :func:`~nenubroker.udfs.registry.run_modules`, adds the ``feat_`` columns of
``burst_features`` and labels every candidate from the truth catalogue (:func:`label_candidates`).
Each event's S/N is the kind's ``event_snr`` times a log-uniform factor in ``SNR_FACTOR_RANGE``.
:func:`cached_set` keeps such a table as parquet (:func:`write_candidates`) and recomputes its
``feat_`` columns on reading, so a cache outlives changes to ``burst_features``.

>>> settings = training_settings()
>>> settings.simulator.fftlen, settings.simulator.nfft2int, settings.ingest.downsample_freq
(16, 256, 16)
>>> CLASSES
('type_iii', 'type_iiib', 'spike', 'jupiter_s', 'rfi', 'other')
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from nenubroker.conf.settings import Settings, load_settings
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import InjectedEvent, event_power, last_time_unix_s
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_features.core import CLASSES, burst_features
from nenubroker.udfs.contract import CANDIDATE_COLUMNS
from nenubroker.udfs.registry import chunk_table, discover, resolve, run_modules

#: Random events per minute and beam while making training data (each kind yields several candidates).
TRAINING_RATES_PER_MIN = {"type_iii": 3.0, "type_iiib": 3.5, "spike": 2.5, "jupiter_s": 2.0,
                          "rfi_impulse": 1.5}
#: Median peak S/N per full-resolution pixel of each kind (``event_snr``).
TRAINING_SNR = {"type_iii": 3.0, "type_iiib": 3.0, "spike": 4.0, "jupiter_s": 3.0, "rfi_impulse": 3.0}
#: Each event's S/N is ``event_snr`` times a log-uniform factor in this range.
SNR_FACTOR_RANGE = (0.4, 2.5)
#: RFI that the rfi_flagger lets through, drawn here (per minute and beam) with its own S/N range
#: (peak S/N per full-resolution pixel): impulses over part of the band (not flat across it),
#: full-band impulses too weak for the flagger's impulse test, and narrowband RFI lasting less than
#: its ``min_narrowband_duration_s`` (see :func:`draw_rfi`).
LEAKING_RFI = {"rfi_partial": (1.0, (0.3, 1.5)), "rfi_weak": (1.0, (0.22, 0.4)),
               "rfi_narrowband": (1.0, (0.4, 2.0))}
#: Training sets (not held-out ones) draw ``LEAKING_RFI`` this many times as often: RFI is the
#: rarest class, and the one most often mistaken for noise.
TRAINING_RFI_SCALE = 2.0
SEGMENT_MINUTES = 10.0
#: Every ``NOISE_SEGMENT_EVERY``-th segment (index 2, 5, 8, ...) holds no event, only noise with
#: persistent RFI channels and lost blocks, and is searched at ``NOISE_SNR_THRESHOLD``: its
#: candidates are the ``other`` class (noise), which the default threshold almost never gives.
NOISE_SEGMENT_EVERY = 3
NOISE_SNR_THRESHOLD = 5.0
#: A candidate matches an event group whose expected S/N in one detection pixel of its box reaches this.
MATCH_SNR = 1.0
_LABEL_OF_KIND = {"type_iii": "type_iii", "type_iiib": "type_iiib", "spike": "spike",
                  "jupiter_s": "jupiter_s", "rfi_impulse": "rfi", "rfi_persistent": "rfi"}
_START_UNIX_S = 1.7e9


def training_settings(env: dict[str, str] | None = None) -> Settings:
    """The test suite's resolution (12 kHz x 21 ms, streamed at 195 kHz x 84 ms) with training event rates."""
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


def label_candidates(candidates: pd.DataFrame, chunks: pd.DataFrame, events: list[InjectedEvent],
                     sim: BeamSimulator, factors: tuple[int, int]) -> pd.DataFrame:
    """The class of each candidate of one beam, from the truth catalogue.

    Each event group (a harmonic pair, spike cluster or S-burst train: one ``group_id``) adds its
    expected S/N to the pixels of the candidate's box (its time and frequency extent and peak, widened
    by one detection pixel). The kind of the group with the highest pixel wins if it reaches
    ``MATCH_SNR``: type III (harmonics included), IIIb, spike, Jupiter S-burst; RFI impulses and
    drawn narrowband RFI (:func:`draw_rfi`) are ``rfi``. The simulator's persistent RFI channels,
    constant and so removed by the detector's channel normalisation, make ``rfi`` only where no
    other event matches and the box holds one; the rest is ``other``. Returns ``label``,
    ``truth_event_id`` (the winning group, or event) and ``truth_snr`` (its highest pixel S/N).
    """
    factor_t, factor_f = factors
    transient = [e for e in events if e.kind != "lost_block" and not _simulator_channel(e)]
    starts = np.array([e.time_start_unix_s for e in transient], dtype=np.float64)
    ends = np.array([last_time_unix_s(e) for e in transient], dtype=np.float64)
    rfi_hz = sim.freq_hz[sim.rfi_channels]
    dt_full, n_full_freq = sim.time_step_s, sim.freq_hz.size
    labels, ids, snrs = [], [], []
    for cand in candidates.itertuples():
        chunk = chunks.loc[cand.chunk_row]
        dt_det, det_freq = chunk["time_step_s"], np.asarray(chunk["freq_hz"])
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
        kinds: dict[str, str] = {}
        totals: dict[str, np.ndarray] = {}
        for i in near:
            event = transient[i]
            snr_map = _expected_snr_map(event, sim, factors, times_s, channels)
            key = event.group_id or event.event_id
            kinds[key] = event.kind
            totals[key] = totals[key] + snr_map if key in totals else snr_map
        best, best_snr, best_id = "other", 0.0, ""
        for key, total in totals.items():
            if total.size and float(total.max()) > best_snr:
                best_snr, best_id, best = float(total.max()), key, _LABEL_OF_KIND[kinds[key]]
        if best_snr < MATCH_SNR:
            best, best_id = "other", ""
            if np.any((rfi_hz >= f_lo - df_det) & (rfi_hz <= f_hi + df_det)):
                best = "rfi"
        labels.append(best)
        ids.append(best_id)
        snrs.append(best_snr)
    return pd.DataFrame({"label": labels, "truth_event_id": ids, "truth_snr": snrs}, index=candidates.index)


def _segment_candidates(settings: Settings, detector_name: str, beam: str, seed: int,
                        duration_s: float, noise: bool = False, rfi_scale: float = 1.0) -> pd.DataFrame:
    """Candidates of one simulated beam segment, labelled, with the ``burst_features`` columns.

    A ``noise`` segment has no event and its detector runs at ``NOISE_SNR_THRESHOLD``.
    """
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
    return pd.concat([candidates, burst_features(candidates), labels], axis=1)


def make_training_set(settings: Settings, detector_name: str = "burst_search", n_hours: float = 1.0,
                      seed: int = 0, n_jobs: int = 1, rfi_scale: float = 1.0) -> pd.DataFrame:
    """Labelled candidates of ``n_hours`` of simulated beams (segments of ``SEGMENT_MINUTES``).

    Segments hold random events of every kind (``event_rates_per_min``) and RFI that leaks through
    the flagger (``LEAKING_RFI``, its rates times ``rfi_scale``); every ``NOISE_SEGMENT_EVERY``-th
    one is noise searched at a low threshold, for the ``other`` class. The enabled chunk modules
    (rfi_flagger) run before the detector, as in the broker.

    Deterministic for a seed, whatever ``n_jobs`` (segments run in that many processes). Columns:
    the detector's candidate columns, ``feat_*``, ``label`` (one of ``CLASSES``),
    ``truth_event_id``, ``truth_snr``, ``segment`` (beams differ between segments and seeds),
    ``detector`` and ``detector_version``.
    """
    n_segments = max(1, round(n_hours * 60 / SEGMENT_MINUTES))
    duration_s = n_hours * 3600 / n_segments
    jobs = [(settings, detector_name, f"train{seed}-{index}",
             int(np.random.SeedSequence([seed, index]).generate_state(1)[0]), duration_s,
             index % NOISE_SEGMENT_EVERY == NOISE_SEGMENT_EVERY - 1, rfi_scale)
            for index in range(n_segments)]
    if n_jobs > 1:
        with ProcessPoolExecutor(n_jobs) as pool:
            results = list(pool.map(_segment_candidates, *zip(*jobs, strict=True)))
    else:
        results = [_segment_candidates(*job) for job in jobs]
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
    """:func:`make_training_set`, kept as parquet in ``cache_dir`` when given; ``feat_`` columns recomputed.

    The file name holds the detector, hours, seed and ``rfi_scale`` (when not 1); a cache made by
    another detector version or simulator is not detected: clear ``cache_dir`` after such changes.
    """
    scale = f"-rfi{rfi_scale:g}" if rfi_scale != 1.0 else ""
    name = f"candidates-{detector}-{hours:g}h-seed{seed}{scale}.parquet"
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


__all__ = ["CANDIDATE_COLUMNS", "CLASSES", "LEAKING_RFI", "MATCH_SNR", "NOISE_SEGMENT_EVERY",
           "NOISE_SNR_THRESHOLD", "SEGMENT_MINUTES", "SNR_FACTOR_RANGE", "TRAINING_RATES_PER_MIN",
           "TRAINING_RFI_SCALE", "TRAINING_SNR", "cached_set", "draw_rfi", "label_candidates",
           "make_training_set", "read_candidates", "table_hash", "training_settings", "write_candidates",
           "write_sample"]
