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
   ``training.make_training_set`` (a seed not used for training). Target: macro-F1 >= 0.9.
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

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
KINDS = ("spike", "type_iii", "type_iiib", "jupiter_s")
SNR_BINS = ((4.0, 6.0), (6.0, 8.0), (8.0, 12.0), (12.0, 20.0), (20.0, np.inf))
COMPLETENESS_SNR, COMPLETENESS_TARGET = 8.0, 0.95
FALSE_ALARM_TARGET_PER_H = 1.0
THRESHOLDS = (5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0)
F1_TARGET = 0.9
RFI_TARGET, CLEAN_TARGET = 0.90, 0.01
FA_PIECE_HOURS = 0.25  # noise is simulated in pieces of this length (each its own seed), in parallel


# --- tasks (run in worker processes) --------------------------------------------------------------

def completeness_task(kind: str, n_events: int, seed: int) -> list[dict[str, Any]]:
    """``evaluate.completeness`` for one kind; type IIIb (which its ``draw_event`` lacks) is drawn
    by the simulator's own ``random_event`` (one chain of striae at unit S/N)."""
    from nenubroker.edge.event_draws import random_event
    from nenubroker.udfs.burst_search import evaluate as ev

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
    from nenubroker.udfs.burst_search.evaluate import false_alarms

    return false_alarms(hours, seed=seed, thresholds=THRESHOLDS)


def rfi_task(n_chunks: int, snr: float, rfi_snr: float, seed: int) -> dict[str, Any]:
    from nenubroker.udfs.rfi_flagger.make_sample import evaluate

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
    from nenubroker.udfs.training import evaluate, make_training_set, training_settings

    began = time.perf_counter()
    settings = training_settings()
    chunk_modules = [m for m in settings.modules.enabled if discover()[m].level == "chunk"]
    df = make_training_set(settings, "burst_search", test_hours, seed, jobs)
    rfi = df[df["label"] == "rfi"]
    out: dict[str, Any] = {"hours": test_hours, "seed": seed, "n": len(df),
                           "chunk_modules": chunk_modules,
                           "rfi_from_impulse": int((rfi["truth_event_id"] != "").sum()),
                           "detector_version": discover()["burst_search"].version,
                           "counts": {k: int(v) for k, v in df["label"].value_counts().items()},
                           "simulate_s": time.perf_counter() - began, "models": {}}
    for model in ("forest", "cnn"):
        meta = json.loads((REPO / "udfs" / f"classifier_{model}" / "model.json").read_text())
        result = evaluate(model, df)
        out["models"][model] = {
            "version": meta["version"], "trained_seed": meta.get("seed"),
            "trained_detector_version": meta.get("detector_version"), "n_training": meta.get("n_training"),
            "macro_f1": result.macro_f1, "accuracy": result.accuracy, "met": result.macro_f1 >= F1_TARGET,
            "confusion": result.confusion, "per_class": per_class_f1(result.confusion)}
        bursts = [v["f1"] for k, v in out["models"][model]["per_class"].items() if k in KINDS]
        out["models"][model]["macro_f1_bursts"] = float(np.mean(bursts))
    return out


# --- plots ----------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def _bin_label(lo: float, hi: float) -> str:
    return f"≥ {lo:g}" if np.isinf(hi) else f"{lo:g}–{hi:g}"


def plot_completeness(comp: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(SNR_BINS))
    ax.axvspan(1.5, len(SNR_BINS) - 0.5, color="0.92", zorder=0)
    ax.text(1.55, 0.05, "S/N ≥ 8: target ≥ 95 %", fontsize=9, color="0.3")
    ax.axhline(COMPLETENESS_TARGET, color="tab:red", ls="--", lw=1, label="95 % target")
    for j, (kind, summary) in enumerate(comp.items()):
        frac = np.array([b["fraction"] for b in summary["bins"]])
        lo = np.array([b["interval"][0] for b in summary["bins"]])
        hi = np.array([b["interval"][1] for b in summary["bins"]])
        offset = (j - (len(comp) - 1) / 2) * 0.08
        ax.errorbar(x + offset, frac, yerr=[frac - lo, hi - frac], marker="o", capsize=3, label=kind)
    ax.set_xticks(x, [_bin_label(lo, hi) for lo, hi in SNR_BINS])
    ax.set(xlabel="detection S/N (one pixel of the 4 × 16 detection grid)", ylim=(0, 1.05),
           ylabel="fraction of injected events found",
           title="burst_search completeness (error bars: 95 % Clopper-Pearson)")
    ax.legend(loc="lower right", fontsize=9)
    _save(fig, path)


def plot_false_alarms(fa: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    t = np.array(THRESHOLDS)
    counts = np.array([fa["counts"][v] for v in THRESHOLDS])
    rate = counts / fa["hours"]
    upper = np.array([fa["upper95_per_hour"][v] for v in THRESHOLDS])
    seen = counts > 0
    ax.plot(t[seen], rate[seen], "o-", label="measured")
    ax.plot(t, upper, "v", color="tab:gray", label="95 % upper limit")
    ax.axhline(FALSE_ALARM_TARGET_PER_H, color="tab:red", ls="--", lw=1, label="target ≤ 1 / h")
    ax.axvline(fa["threshold"], color="k", ls=":", lw=1, label=f"default threshold {fa['threshold']:g}")
    ax.set(yscale="log", xlabel="detection threshold (S/N)", ylabel="false alarms per hour (one beam)",
           title=f"burst_search on {fa['hours']:g} h of noise with persistent RFI channels")
    ax.legend(fontsize=9)
    _save(fig, path)


def plot_confusion(cls: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, (model, res) in zip(axes, cls["models"].items(), strict=True):
        conf = res["confusion"]
        keep = [c for c in conf.index if conf.loc[c].sum() or conf[c].sum()]
        m = conf.loc[keep, keep].to_numpy()
        norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(keep)):
            for j in range(len(keep)):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if norm[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(keep)), keep, rotation=30)
        ax.set_yticks(range(len(keep)), keep)
        ax.set(xlabel="predicted", ylabel="true", title=f"classifier_{model}: macro-F1 {res['macro_f1']:.3f}")
    fig.suptitle(f"held-out set: {cls['hours']:g} h, seed {cls['seed']}, {cls['n']} candidates "
                 "(colour: row fraction)")
    _save(fig, path)


RFI_SHOULD = ("rfi_flagged", "persistent_flagged", "impulse_flagged", "lost_flagged")
RFI_SHOULD_NOT = ("clean_flagged", "type_iii_flagged", "type_iiib_flagged", "spike_flagged",
                  "jupiter_s_flagged")


def plot_rfi(rfi: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(rfi)
    for j, res in enumerate(rfi):
        label = f"bursts S/N {res['snr']:g}"
        for ax, keys, scale in ((left, RFI_SHOULD, 1), (right, RFI_SHOULD_NOT, 100)):
            values = [scale * res["mean"][k] for k in keys]
            bars = ax.barh(np.arange(len(keys)) + j * width, values, height=width, label=label)
            ax.bar_label(bars, [_pc(v / scale) for v in values], fontsize=7, padding=2)
    left.axvline(RFI_TARGET, color="tab:red", ls="--", lw=1, label="target ≥ 90 %")
    right.axvline(100 * CLEAN_TARGET, color="tab:red", ls="--", lw=1, label="clean target ≤ 1 %")
    shift = width * (len(rfi) - 1) / 2
    left.set_yticks(np.arange(len(RFI_SHOULD)) + shift, [k.removesuffix("_flagged") for k in RFI_SHOULD])
    right.set_yticks(np.arange(len(RFI_SHOULD_NOT)) + shift,
                     [k.removesuffix("_flagged") + " pixels" for k in RFI_SHOULD_NOT])
    worst = max(100 * r["mean"][k] for r in rfi for k in RFI_SHOULD_NOT if np.isfinite(r["mean"][k]))
    left.set(xlim=(0, 1.25), xlabel="fraction flagged (should be 1)", title="RFI and lost pixels")
    right.set(xlim=(0, max(1.5, 1.25 * worst)), xlabel="% flagged (should be 0)",
              title="clean and burst pixels")
    for ax in (left, right):
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    fig.suptitle("rfi_flagger on full-band 64 × 768 chunks (mean over chunks)")
    _save(fig, path)


# --- report ---------------------------------------------------------------------------------------

def _yes(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def _pc(x: float) -> str:
    if np.isnan(x):
        return "–"
    return f"{100 * x:.1f} %" if x == 0 or x >= 0.01 else f"{100 * x:.2g} %"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _summary(res: dict[str, Any]) -> list[str]:
    comp, fa, cls = res["completeness"], res["false_alarms"], res["classification"]
    lines = [_row("target", "measured", "status"), _row("---", "---", "---")]
    for kind, s in comp.items():
        lines.append(_row(f"completeness ≥ 95 % at S/N ≥ 8, {kind}",
                          f"{_pc(s['bright_fraction'])} ({s['bright_found']}/{s['bright_n']})",
                          _yes(s["met"])))
    lines.append(_row(f"false alarms ≤ 1 / h at S/N {fa['threshold']:g}", f"{fa['rate_per_hour']:.2f} / h "
                      f"({fa['counts'][fa['threshold']]} in {fa['hours']:g} h)", _yes(fa["met"])))
    for model, m in cls["models"].items():
        lines.append(_row(f"macro-F1 ≥ 0.9, classifier_{model}", f"{m['macro_f1']:.3f}", _yes(m["met"])))
    for r in res["rfi"]:
        rfi, clean = r["mean"]["rfi_flagged"], r["mean"]["clean_flagged"]
        lines.append(_row(f"RFI pixels flagged ≥ 90 %, bursts S/N {r['snr']:g}", _pc(rfi),
                          _yes(rfi >= RFI_TARGET)))
        lines.append(_row(f"clean pixels flagged ≤ 1 %, bursts S/N {r['snr']:g}", _pc(clean),
                          _yes(clean <= CLEAN_TARGET)))
    return lines


def _completeness_section(comp: dict[str, Any], args: argparse.Namespace) -> list[str]:
    lines = ["## 1. Completeness against detection S/N", "",
             f"{args.events} isolated events per kind (log-uniform S/N 4–40, seed {args.seed + 500}) in one "
             "quiet beam (fftlen 64, nfft2int 64, detection grid 4 × 16), searched chunk by chunk as the "
             "broker does and matched by `burst_search.evaluate.completeness` (a candidate peaking in the "
             "event's time span and overlapping its band). Spike, type III (no harmonic) and S-burst "
             "(single) come from `evaluate.draw_event`, type IIIb from the simulator's `random_event`. "
             "Cells: found / injected. Lower bound: one-sided 95 % Clopper-Pearson.", "",
             _row("kind", *(f"S/N {_bin_label(lo, hi)}" for lo, hi in SNR_BINS), "**S/N ≥ 8**",
                  "95 % lower bound", "target ≥ 95 %"), _row(*["---"] * (len(SNR_BINS) + 4))]
    for kind, s in comp.items():
        cells = [f"{b['found']}/{b['n']} ({_pc(b['fraction'])})" if b["n"] else "–" for b in s["bins"]]
        lines.append(_row(kind, *cells, f"**{_pc(s['bright_fraction'])}**", _pc(s["bright_lower95"]),
                          _yes(s["met"])))
    lines += ["", _row("kind", "candidates per found event", "drift within 30 % of truth",
                       "unmatched candidates (stream length)"), _row(*["---"] * 4)]
    for kind, s in comp.items():
        lines.append(_row(kind, f"{s['candidates_per_found']:.2f}", _pc(s["drift_within_30pc"]),
                          f"{s['unmatched']} ({s['hours']:.2f} h)"))
    return [*lines, "", "![completeness](quality_completeness.png)", ""]


def _false_alarm_section(fa: dict[str, Any], args: argparse.Namespace) -> list[str]:
    t0 = fa["threshold"]
    verdict = ("demonstrated at 95 % confidence" if fa["shown_at_95"] else
               "not yet demonstrated at 95 % confidence (zero events in T hours only bound the rate at "
               "3.0 / T: run `--hours 3` or more)")
    return ["## 2. False alarms on noise", "",
            f"{fa['hours']:g} h of one noise-only beam with 3 persistent RFI channels ({fa['chunks']} chunks "
            f"in {FA_PIECE_HOURS:g} h pieces, seeds {args.seed}, {args.seed + 1}, …) through "
            "`burst_search.evaluate.false_alarms`, with no RFI flagging before the search. Highest "
            f"candidate S/N {fa['max_snr']:.2f}; search CPU {fa['cpu_ms_median']:.0f} ms per chunk (median).",
            "", _row("threshold", *(f"{t:g}" for t in THRESHOLDS)), _row(*["---"] * (len(THRESHOLDS) + 1)),
            _row("candidates", *(fa["counts"][t] for t in THRESHOLDS)),
            _row("per hour", *(f"{fa['per_hour'][t]:.2f}" for t in THRESHOLDS)),
            _row("95 % upper limit / h", *(f"{fa['upper95_per_hour'][t]:.2f}" for t in THRESHOLDS)), "",
            f"Default threshold {t0:g}: {fa['rate_per_hour']:.2f} / h, target ≤ 1 / h {_yes(fa['met'])}; "
            f"95 % upper limit {fa['upper95_per_hour'][t0]:.2f} / h, so the target is {verdict}.", "",
            "![false alarms](quality_false_alarms.png)", ""]


def _classification_section(cls: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in cls["counts"].items())
    lines = ["## 3. Classification", "",
             f"Held-out set: `make_training_set(training_settings(), 'burst_search', {cls['hours']:g}, "
             f"seed={cls['seed']})` with the current burst_search ({cls['detector_version']}): {cls['n']} "
             f"candidates ({counts}), simulated in {cls['simulate_s']:.0f} s, with "
             f"{', '.join(cls['chunk_modules']) or 'no chunk module'} run before the detector. Shipped "
             "models, scored by `training.evaluate` (macro-F1 over the classes present).", ""]
    small = {k: v for k, v in cls["counts"].items() if v < 20}
    if small:
        lines += [f"Classes with fewer than 20 candidates make the macro-F1 noisy: "
                  f"{', '.join(f'{k} {v}' for k, v in small.items())}"
                  + (f" (rfi: {cls['rfi_from_impulse']} matched to an RFI impulse, "
                     f"{small['rfi'] - cls['rfi_from_impulse']} to a persistent RFI channel)."
                     if "rfi" in small else "."), ""]
    for model, m in cls["models"].items():
        conf = m["confusion"]
        keep = [c for c in conf.index if conf.loc[c].sum() or conf[c].sum()]
        lines += [f"### classifier_{model} {m['version']} (trained with seed {m['trained_seed']} on "
                  f"{m['n_training']} candidates of burst_search {m['trained_detector_version']})", "",
                  _row("true \\ predicted", *keep, "recall", "F1"), _row(*["---"] * (len(keep) + 3))]
        for name in keep:
            pc = m["per_class"].get(name)
            score = (f"{pc['recall']:.2f}", f"{pc['f1']:.2f}") if pc else ("–", "–")
            lines.append(_row(name, *(conf.loc[name, c] for c in keep), *score))
        lines += ["", f"Accuracy {m['accuracy']:.3f}, **macro-F1 {m['macro_f1']:.3f}**, target ≥ 0.9 "
                  f"{_yes(m['met'])}. Diagnostic only: macro-F1 over the four burst classes "
                  f"{m['macro_f1_bursts']:.3f}.", ""]
    return [*lines, "![confusion matrices](quality_confusion.png)", ""]


def _rfi_section(rfi: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    lines = ["## 4. RFI flagging", "",
             f"`rfi_flagger.make_sample.evaluate`: {args.rfi_chunks} full-band 64 × 768 chunks per burst "
             "S/N with random bursts, broadband impulses, 6 persistent RFI channels (S/N 30 × U(0.5, 1)) "
             "and 3 % lost blocks. Mean over chunks of each fraction, over the chunks that hold such "
             "pixels. Clean pixels: no RFI, bursts add < 0.5 σ. Burst pixels: bursts add ≥ 2 σ.", "",
             _row("bursts S/N", "RFI flagged", "persistent", "impulse", "lost", "**clean flagged**",
                  "type III", "type IIIb", "spike", "Jupiter S", "all pixels flagged"), _row(*["---"] * 11)]
    for r in rfi:
        lines.append(_row(f"{r['snr']:g}", *(_pc(r["mean"][k]) for k in (*RFI_SHOULD, *RFI_SHOULD_NOT,
                                                                         "flagged"))))
    return [*lines, "", f"Targets (ours, for 'most RFI, few clean pixels'): RFI ≥ {100 * RFI_TARGET:.0f} %, "
            f"clean ≤ {100 * CLEAN_TARGET:.0f} %.", "", "![rfi flagging](quality_rfi.png)", ""]


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    head = ["# Science quality benchmark", "",
            f"`bench/bench_quality.py --hours {args.hours:g} --events {args.events} --test-hours "
            f"{args.test_hours:g} --rfi-chunks {args.rfi_chunks} --jobs {args.jobs}`: {res['wall_s']:.0f} s "
            f"wall on {os.cpu_count()} cores (load average {res['load_at_start']:.2f} at start). Simulated "
            "data with its truth catalogue only.", ""]
    return "\n".join([*head, *_summary(res), "", *_completeness_section(res["completeness"], args),
                      *_false_alarm_section(res["false_alarms"], args),
                      *_classification_section(res["classification"]), *_rfi_section(res["rfi"], args)])


def _jsonable(obj: Any) -> Any:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return {"index": list(obj.index), "columns": list(obj.columns), "data": obj.to_numpy().tolist()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    return obj


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
