"""Science quality benchmark: detection, false alarms, classification and RFI flagging on simulated data.

Every number is measured against the simulator's truth catalogue, with the project's own
evaluation code:

1. Completeness of ``burst_search`` against detection S/N per kind (spike, type III, type IIIb,
   Jupiter S-burst): isolated injected events, log-uniform S/N 4-40, matched by
   ``burst_search.evaluate.completeness``. Target: >= 95 % at S/N >= 8.
2. False alarms per hour of noise-only data (one beam with persistent RFI channels) at the
   detector's default threshold, by ``burst_search.evaluate.false_alarms``. Target: <= 1 per hour.
3. Confusion matrix and macro-F1 of ``classifier_forest`` and ``classifier_cnn`` (the shipped
   models) on a held-out set made with the current ``burst_search`` by
   ``training.make_training_set`` (a seed not used for training: events of every kind, RFI that
   leaks through the flagger, and noise segments for ``other``). Target: macro-F1 >= 0.9.
4. RFI flagged fraction and falsely flagged (clean) fraction of ``rfi_flagger``, by
   ``rfi_flagger.make_sample.evaluate``. Targets (ours): >= 90 % of RFI pixels, <= 1 % of clean
   pixels.

Run: ``.venv/bin/python bench/bench_quality.py`` (defaults: about 5 min on 2 cores shared with
another job, 1 h of noise, 100 events per kind, a 1 h held-out set). A bigger evaluation, which
also bounds the false-alarm rate below 1 / h at 95 % if none is seen (about 15-25 min):
``.venv/bin/python bench/bench_quality.py --hours 6 --events 400 --test-hours 4 --rfi-chunks 200``.
Writes bench/results/quality.md, quality.json and quality_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from quality_report import (
    COMPLETENESS_SNR,
    COMPLETENESS_TARGET,
    F1_TARGET,
    FA_PIECE_HOURS,
    FALSE_ALARM_TARGET_PER_H,
    KINDS,
    REPO,
    RESULTS,
    SNR_BINS,
    THRESHOLDS,
    _jsonable,
    plot_completeness,
    plot_confusion,
    plot_false_alarms,
    plot_rfi,
    report,
)

# --- tasks (run in worker processes) --------------------------------------------------------------

def completeness_task(kind: str, n_events: int, seed: int) -> list[dict[str, Any]]:
    """``evaluate.completeness`` for one kind; type IIIb (which its ``draw_event`` lacks) is drawn
    by the simulator's own ``random_event`` (one chain of striae at unit S/N)."""
    from nenubroker.edge.sim.draws import random_event
    from nenubroker.udfs.training import burst_search_eval as ev

    if kind != "type_iiib":
        return ev.completeness(kind, n_events, seed=seed)
    draw = ev.draw_event

    def draw_with_iiib(kind: str, rng: np.random.Generator, at_s: float, lo_hz: float, hi_hz: float):
        if kind == "type_iiib":
            return random_event("type_iiib", rng, "beam0", at_s, lo_hz, hi_hz, 1.0)[0]
        return draw(kind, rng, at_s, lo_hz, hi_hz)

    with mock.patch.object(ev, "draw_event", draw_with_iiib):
        return ev.completeness(kind, n_events, seed=seed)


def false_alarm_task(hours: float, seed: int) -> dict[str, Any]:
    from nenubroker.udfs.training.burst_search_eval import false_alarms

    return false_alarms(hours, seed=seed, thresholds=THRESHOLDS)


def rfi_task(n_chunks: int, snr: float, rfi_snr: float, seed: int) -> dict[str, Any]:
    from nenubroker.udfs.training.rfi_flagger_eval import evaluate

    table = evaluate(n_chunks, snr, rfi_snr, seed=seed)
    return {"snr": snr, "rfi_snr": rfi_snr, "chunks": len(table),
            "mean": {k: float(v) for k, v in table.mean().items()},
            "chunks_with": {k: int(v) for k, v in table.count().items()}}


# --- summaries ------------------------------------------------------------------------------------

def clopper_pearson(k: int, n: int, cl: float = 0.95) -> tuple[float, float]:
    """Two-sided ``cl`` interval of a binomial fraction k/n."""
    from scipy.stats import beta

    a = (1 - cl) / 2
    lo = float(beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def summarise_completeness(rows: list[dict[str, Any]]) -> dict[str, Any]:
    events = [r for r in rows if "det_snr" in r]
    tail = next(r for r in rows if "unmatched" in r)
    bins = []
    for lo, hi in SNR_BINS:
        sel = [r for r in events if lo <= r["det_snr"] < hi]
        k = sum(r["found"] for r in sel)
        bins.append({"lo": lo, "hi": hi, "found": k, "n": len(sel),
                     "fraction": k / len(sel) if sel else float("nan"),
                     "interval": clopper_pearson(k, len(sel)) if sel else (float("nan"),) * 2})
    bright = [r for r in events if r["det_snr"] >= COMPLETENESS_SNR]
    k = sum(r["found"] for r in bright)
    found = [r for r in events if r["found"]]
    ratio = np.array([r["drift"] / r["truth_drift"] for r in found if r["truth_drift"] != 0])
    # one-sided 95 % lower bound = lower end of the two-sided 90 % interval
    lower = clopper_pearson(k, len(bright), 0.90)[0] if bright else float("nan")
    return {"bins": bins, "bright_found": k, "bright_n": len(bright),
            "bright_fraction": k / len(bright) if bright else float("nan"), "bright_lower95": lower,
            "met": bool(bright) and k / len(bright) >= COMPLETENESS_TARGET,
            "candidates_per_found": float(np.mean([r["n_matches"] for r in found] or [np.nan])),
            "in_two_chunks": sum(r["n_chunks"] > 1 for r in found), "n_found": len(found),
            "drift_within_30pc": float(np.mean(np.abs(ratio - 1) <= 0.3)) if ratio.size else float("nan"),
            "unmatched": tail["unmatched"], "hours": tail["hours"]}


def summarise_false_alarms(pieces: list[dict[str, Any]], default: float) -> dict[str, Any]:
    hours = sum(p["hours"] for p in pieces)
    counts = {t: int(round(sum(p["per_hour"][t] * p["hours"] for p in pieces))) for t in THRESHOLDS}
    # Poisson 95 % one-sided upper limit on the rate from the count at each threshold
    from scipy.stats import chi2

    upper = {t: float(chi2.ppf(0.95, 2 * (n + 1)) / 2 / hours) for t, n in counts.items()}
    rate = counts[default] / hours
    return {"hours": hours, "chunks": sum(p["chunks"] for p in pieces), "threshold": default,
            "counts": counts, "per_hour": {t: n / hours for t, n in counts.items()},
            "upper95_per_hour": upper, "max_snr": max(p["max_snr"] for p in pieces), "rate_per_hour": rate,
            "met": rate <= FALSE_ALARM_TARGET_PER_H,
            "shown_at_95": upper[default] <= FALSE_ALARM_TARGET_PER_H,
            "cpu_ms_median": float(np.median([p["cpu_ms_median"] for p in pieces]))}


def per_class_f1(confusion) -> dict[str, dict[str, float]]:
    matrix = confusion.to_numpy()
    out = {}
    for i, name in enumerate(confusion.index):
        support, predicted, hit = matrix[i].sum(), matrix[:, i].sum(), matrix[i, i]
        if support == 0:
            continue
        precision = hit / predicted if predicted else 0.0
        recall = hit / support
        f1 = 2 * precision * recall / (precision + recall) if hit else 0.0
        out[name] = {"support": int(support), "precision": float(precision), "recall": float(recall),
                     "f1": float(f1)}
    return out


def classification(test_hours: float, seed: int, jobs: int) -> dict[str, Any]:
    from nenubroker.udfs.registry import discover
    from nenubroker.udfs.training import train as training
    from nenubroker.udfs.training.train import evaluate, make_training_set, training_settings

    began = time.perf_counter()
    settings = training_settings()
    chunk_modules = [m for m in settings.modules.enabled if discover()[m].level == "chunk"]
    df = make_training_set(settings, "burst_search", test_hours, seed, jobs)
    rfi = df[df["label"] == "rfi"]
    out: dict[str, Any] = {"hours": test_hours, "seed": seed, "n": len(df),
                           "chunk_modules": chunk_modules,
                           "rfi_from_event": int((rfi["truth_event_id"] != "").sum()),
                           "noise_every": training.NOISE_SEGMENT_EVERY,
                           "noise_threshold": training.NOISE_SNR_THRESHOLD,
                           "leaking_rfi": {k: v[0] for k, v in training.LEAKING_RFI.items()},
                           "rates": dict(settings.simulator.event_rates_per_min),
                           "detector_version": discover()["burst_search"].version,
                           "counts": {k: int(v) for k, v in df["label"].value_counts().items()},
                           "simulate_s": time.perf_counter() - began, "models": {}}
    for model in ("forest", "cnn"):
        meta = json.loads((REPO / "udfs" / f"classifier_{model}" / "model.json").read_text())
        result = evaluate(model, df)
        out["models"][model] = {
            "version": meta["version"], "trained_seed": meta.get("seed"),
            "trained_hours": meta.get("training_hours"), "trained_rfi_scale": meta.get("training_rfi_scale"),
            "trained_detector_version": meta.get("detector_version"), "n_training": meta.get("n_training"),
            "macro_f1": result.macro_f1, "accuracy": result.accuracy, "met": result.macro_f1 >= F1_TARGET,
            "confusion": result.confusion, "per_class": per_class_f1(result.confusion)}
        bursts = [v["f1"] for k, v in out["models"][model]["per_class"].items() if k in KINDS]
        out["models"][model]["macro_f1_bursts"] = float(np.mean(bursts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="noise-only data for false alarms (h)")
    parser.add_argument("--events", type=int, default=100, help="events injected per kind for completeness")
    parser.add_argument("--test-hours", type=float, default=1.0, help="held-out classification set (h)")
    parser.add_argument("--test-seed", type=int, default=2024, help="held-out seed (models: seed 1)")
    parser.add_argument("--rfi-chunks", type=int, default=40, help="chunks per burst S/N for the RFI flagger")
    parser.add_argument("--rfi-snr", type=float, nargs="+", default=[3.0, 10.0], help="burst S/N (RFI test)")
    parser.add_argument("--seed", type=int, default=1, help="noise: seed, seed + 1, ...; events: seed + 500")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from nenubroker.udfs.burst_search import Params

    default_threshold = Params().snr_threshold
    if default_threshold not in THRESHOLDS:
        raise SystemExit(f"default threshold {default_threshold} not in {THRESHOLDS}")
    load = os.getloadavg()[0]
    began = time.perf_counter()
    n_pieces = max(1, int(np.ceil(args.hours / FA_PIECE_HOURS)))
    with ProcessPoolExecutor(args.jobs) as pool:
        comp_jobs = {k: pool.submit(completeness_task, k, args.events, args.seed + 500) for k in KINDS}
        fa_jobs = [pool.submit(false_alarm_task, args.hours / n_pieces, args.seed + i)
                   for i in range(n_pieces)]
        rfi_jobs = [pool.submit(rfi_task, args.rfi_chunks, snr, 30.0, args.seed) for snr in args.rfi_snr]
        comp = {k: summarise_completeness(job.result()) for k, job in comp_jobs.items()}
        fa = summarise_false_alarms([job.result() for job in fa_jobs], default_threshold)
        rfi = [job.result() for job in rfi_jobs]
    detection_s = time.perf_counter() - began
    print(f"detection and RFI sections: {detection_s:.0f} s", flush=True)
    cls = classification(args.test_hours, args.test_seed, args.jobs)
    res = {"completeness": comp, "false_alarms": fa, "classification": cls, "rfi": rfi,
           "detection_rfi_wall_s": detection_s, "wall_s": time.perf_counter() - began,
           "load_at_start": load, "args": {k: str(v) for k, v in vars(args).items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    plot_completeness(comp, args.out / "quality_completeness.png")
    plot_false_alarms(fa, args.out / "quality_false_alarms.png")
    plot_confusion(cls, args.out / "quality_confusion.png")
    plot_rfi(rfi, args.out / "quality_rfi.png")
    (args.out / "quality.md").write_text(report(res, args))
    (args.out / "quality.json").write_text(json.dumps(_jsonable(res), indent=1) + "\n")
    print((args.out / "quality.md").read_text())


if __name__ == "__main__":
    main()
