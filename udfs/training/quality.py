"""Per-class quality of the broker's whole chunk chain against the simulator's truth.

The chain is the one the broker runs (``settings.modules.enabled``: gain steps, RFI flagger,
``burst_search``, features, the alert classifier) on the edge's own chunks
(:func:`~nenubroker.edge.sim.stream.detection_chunks`), and its alerts are grouped into events by
the events stage's pure tracker (:class:`~nenubroker.broker.tracking.EventTracker`).

:func:`event_trial` injects one event of a class (a spike cluster, an S-burst train, a type III
group with its type V, ... as the simulator draws them, :func:`~nenubroker.edge.sim.draws.random_event`)
into a quiet beam with the persistent RFI channels, and searches ``window_s`` from its onset. Its
S/N is the alerts' S/N (``udfs/burst_search/matched.py``): the matched-filter S/N at detection
resolution of the noiseless event over that window, against the true background
(:func:`.burst_search_eval.matched_filter_snr`). Events longer than the window (type I storms,
type II, IV, Jupiter L-bursts) are judged on their first ``window_s``: *found* means an alert within
that time of the onset. :func:`noise_trial` counts the alerts in data with no astrophysical event.

>>> CLASS_OF_KIND["type_iii_u"], CLASS_OF_KIND["type_iii_j"]
('type_iii', 'type_iii')
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from nenubroker.broker.tracking import SHORT_CLASSES, EventTracker
from nenubroker.conf.settings import ReceiverSettings, Settings
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import InjectedEvent, type_iii_drift_hz_per_s
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.udfs.registry import chunk_table, resolve, run_modules
from nenubroker.udfs.training.burst_search_eval import (
    START_UNIX_S,
    chunk_stride_s,
    event_snr_map,
    matched_filter_snr,
    stream_settings,
)

#: Class each simulated kind belongs to (what an observer logs it as).
CLASS_OF_KIND = {"type_i": "type_i", "type_ii": "type_ii", "type_iii": "type_iii", "type_iii_u": "type_iii",
                 "type_iii_j": "type_iii", "type_iiib": "type_iiib", "type_iv": "type_iv", "type_v": "type_v",
                 "spike": "spike", "jupiter_s": "jupiter_s", "jupiter_l": "jupiter_l"}
#: Kinds whose drift is a property of the burst (the others drift little or not at all within a chunk).
DRIFTING_KINDS = ("type_iii", "type_iiib", "jupiter_s", "type_ii")
#: Seconds of quiet beam before each event (a chunk and a half: the detector's background settles).
LEAD_S = 6.0
#: Seconds searched from each event's onset.
WINDOW_S = 20.0


def chain_settings(seed: int, lost_block_fraction: float = 0.0, rfi_impulses_per_min: float = 0.0,
                   receiver: ReceiverSettings | None = None) -> Settings:
    """The 34 GB/h mode (fftlen 64, nfft2int 64, 20-58 MHz) streamed in 5.4 s chunks, one quiet beam."""
    settings = stream_settings(seed=seed)
    simulator = settings.simulator.model_copy(update={
        "lost_block_fraction": lost_block_fraction, "receiver": receiver or ReceiverSettings(),
        "event_rates_per_min": {"rfi_impulse": rfi_impulses_per_min} if rfi_impulses_per_min else {}})
    return settings.model_copy(update={"simulator": simulator})


def run_chain(settings: Settings, beam: BeamSimulator, n_chunks: int) -> tuple[pd.DataFrame, float]:
    """Alerts (candidate rows with classes) of ``n_chunks`` chunks of ``beam``, and the CPU seconds it took."""
    stream = detection_chunks(beam, settings)
    chunks = [next(stream)[0] for _ in range(n_chunks)]
    began = time.process_time()
    _, candidates = run_modules(chunk_table(chunks), resolve(settings.modules.enabled), settings.modules.params)
    classifier = settings.modules.alert_classifier
    if len(candidates) and classifier:
        candidates = candidates.assign(class_label=candidates[f"{classifier}_label"],
                                       class_probabilities=candidates[f"{classifier}_probabilities"])
    return candidates, time.process_time() - began


def track(alerts: pd.DataFrame, settings: Settings) -> list[Any]:
    """The events the events stage makes of these alerts (final state of each)."""
    tracker = EventTracker(settings.events)
    latest: dict[str, Any] = {}
    for row in alerts.sort_values("time_start_unix_s").itertuples():
        alert = {**row._asdict(), "alert_id": f"{row.chunk_index}-{row.Index}"}
        alert.setdefault("class_label", None)
        alert.setdefault("class_probabilities", {})
        for event in tracker.add([alert], now_unix_s=float(row.time_start_unix_s)):
            latest[event.event_id] = event
    for event in tracker.close_all():
        latest[event.event_id] = event
    return list(latest.values())


def _group_snr_map(members: Sequence[InjectedEvent], beam: BeamSimulator, settings: Settings,
                   samples: tuple[int, int]) -> np.ndarray:
    return sum(event_snr_map(event, beam, settings, samples) for event in members)  # type: ignore[return-value]


def _overlaps(row: Any, event: InjectedEvent, step_s: float, channel_hz: float, until_s: float) -> bool:
    t0, t1 = event.time_range_unix_s()
    f0, f1 = event.freq_range_hz()
    return bool(t0 - step_s <= row.time_peak_unix_s <= min(t1, until_s) + step_s
                and row.freq_min_hz <= f1 + channel_hz and row.freq_max_hz >= f0 - channel_hz)


def _truth_drift(event: InjectedEvent, freq_hz: float) -> float:
    if event.kind in ("type_iii", "type_iiib"):
        return float(type_iii_drift_hz_per_s(freq_hz / event.harmonic) * event.harmonic)
    return float(event.drift_hz_per_s)


def event_trial(kind: str, snr: float, seed: int, window_s: float = WINDOW_S) -> dict[str, Any]:
    """One event of ``kind`` at matched-filter S/N ``snr``: found, classes, measured vs true extent."""
    settings = chain_settings(seed)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=START_UNIX_S)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    stride_s = chunk_stride_s(settings, beam)
    onset_s = START_UNIX_S + LEAD_S + float(rng.uniform(0, stride_s))
    lo_hz, hi_hz = float(beam.freq_hz.min()), float(beam.freq_hz.max())
    group = random_event(kind, rng, "beam0", onset_s, lo_hz, hi_hz, 1.0)
    if not group:
        return {"kind": kind, "class": CLASS_OF_KIND[kind], "skipped": True}
    targets = [e for e in group if e.kind == kind] or group[:1]
    step_s = settings.ingest.downsample_time * beam.time_step_s
    first = int((min(e.time_start_unix_s for e in targets) - 1.0 - START_UNIX_S) / step_s)
    stop = int((min(e.time_start_unix_s for e in targets) + window_s - START_UNIX_S) / step_s) + 1
    unit_snr = matched_filter_snr(_group_snr_map(targets, beam, settings, (first, stop)))
    if unit_snr <= 0:
        return {"kind": kind, "class": CLASS_OF_KIND[kind], "skipped": True}
    group = [beam.inject(replace(e, snr=e.snr * snr / unit_snr)) for e in group]
    targets = [e for e in group if e.kind == kind] or group[:1]
    until_s = min(e.time_start_unix_s for e in targets) + window_s
    n_chunks = int(np.ceil((until_s - START_UNIX_S) / stride_s)) + 1
    alerts, cpu_s = run_chain(settings, beam, n_chunks)
    channel_hz = beam.channel_width_hz * settings.ingest.downsample_freq
    matched = alerts[[any(_overlaps(row, e, step_s, channel_hz, until_s) for e in targets)
                      for row in alerts.itertuples()]] if len(alerts) else alerts
    row: dict[str, Any] = {"kind": kind, "class": CLASS_OF_KIND[kind], "snr": snr, "seed": seed,
                           "found": bool(len(matched)), "n_alerts": len(matched), "cpu_s": cpu_s,
                           "n_other_alerts": len(alerts) - len(matched)}
    if not len(matched):
        return row
    events = [e for e in track(alerts, settings)
              if any(a in set(e.alert_ids) for a in (f"{r.chunk_index}-{r.Index}" for r in matched.itertuples()))]
    best = matched.loc[matched["snr"].idxmax()]
    main = max(events, key=lambda e: e.snr) if events else None
    t0, t1 = min(e.time_range_unix_s()[0] for e in targets), max(e.time_range_unix_s()[1] for e in targets)
    f0, f1 = min(e.freq_range_hz()[0] for e in targets), max(e.freq_range_hz()[1] for e in targets)
    target = max(targets, key=lambda e: e.snr)
    row.update({
        "n_events": len(events), "alert_class": best.get("class_label"),
        "event_class": main.class_label if main else None,
        "first_alert_delay_s": float(matched["time_start_unix_s"].min() - t0),
        "drift_hz_per_s": float(best["drift_hz_per_s"]),
        "truth_drift_hz_per_s": _truth_drift(target, float(best["freq_peak_hz"])),
        "duration_s": main.duration_s if main else float(best["duration_s"]),
        "truth_duration_s": min(t1, until_s) - t0, "complete_in_window": t1 <= until_s,
        "bandwidth_hz": (main.freq_max_hz - main.freq_min_hz) if main else float(best["freq_max_hz"]
                                                                                  - best["freq_min_hz"]),
        "truth_bandwidth_hz": min(f1, hi_hz) - max(f0, lo_hz),
        "short_class": CLASS_OF_KIND[kind] in SHORT_CLASSES,
    })
    return row


#: The receiver of the false-alarm data: the real e-CALLISTO file's ripple, drift, digits and
#: flickering RFI lines (edge/sim/README.md), with gain steps, which that file happens not to show.
NOISE_RECEIVER = ReceiverSettings.e_callisto_bir().model_copy(update={"gain_steps_per_hour": 4.0})


def noise_trial(hours: float, seed: int, lost_block_fraction: float = 0.01,
                rfi_impulses_per_min: float = 1.0, receiver: ReceiverSettings = NOISE_RECEIVER) -> dict[str, Any]:
    """Alerts in ``hours`` of one beam with no astrophysical event, through the whole chain.

    The beam has the simulator's persistent RFI channels, ``receiver``'s effects (by default
    ``NOISE_RECEIVER``), ``lost_block_fraction`` of its blocks lost and broadband RFI impulses at
    ``rfi_impulses_per_min`` (which the flagger should remove).
    Searched in pieces of at most 0.25 h (one chunk table each). Returns the count of alerts and
    of those not classified ``rfi``, their S/N, and the chain's CPU time.
    """
    settings = chain_settings(seed, lost_block_fraction, rfi_impulses_per_min, receiver)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=START_UNIX_S)
    stride_s = chunk_stride_s(settings, beam)
    n_total = int(np.ceil(hours * 3600 / stride_s))
    per_piece = int(np.ceil(900 / stride_s))
    snrs, classes, cpu_s, stream = [], [], 0.0, detection_chunks(beam, settings)
    enabled = resolve(settings.modules.enabled)
    classifier = settings.modules.alert_classifier
    for start in range(0, n_total, per_piece):
        chunks = [next(stream)[0] for _ in range(min(per_piece, n_total - start))]
        began = time.process_time()
        _, alerts = run_modules(chunk_table(chunks), enabled, settings.modules.params)
        cpu_s += time.process_time() - began
        snrs += [float(s) for s in alerts.get("snr", [])]
        classes += [str(c) for c in alerts.get(f"{classifier}_label", [])] if classifier else [""] * len(alerts)
    return {"hours": n_total * stride_s / 3600, "chunks": n_total, "alerts": len(snrs),
            "non_rfi_alerts": sum(c != "rfi" for c in classes), "snr": snrs, "classes": classes,
            "cpu_s": cpu_s}


__all__ = ["CLASS_OF_KIND", "DRIFTING_KINDS", "LEAD_S", "NOISE_RECEIVER", "WINDOW_S", "chain_settings", "event_trial",
           "noise_trial", "run_chain", "track"]
