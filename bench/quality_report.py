"""Plots and the markdown report of bench_quality.py (bench/results/quality.md and quality_*.png)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

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
    lines += ["", _row("kind", "candidates per found event", "found events reported by two chunks",
                       "drift within 30 % of truth", "unmatched candidates (stream length)"), _row(*["---"] * 5)]
    for kind, s in comp.items():
        lines.append(_row(kind, f"{s['candidates_per_found']:.2f}", f"{s['in_two_chunks']}/{s['n_found']}",
                          _pc(s["drift_within_30pc"]), f"{s['unmatched']} ({s['hours']:.2f} h)"))
    lines += ["", "A burst is reported by the chunk whose half of the 16 shared samples holds its onset "
              "(`burst_search` ≥ 1.1.0), so one crossing a chunk boundary is reported once. Type IIIb "
              "chains (striae over seconds) still give several candidates, mostly within one chunk: the "
              "detector measures striae separately."]
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


def _trained(cls: dict[str, Any]) -> str:
    """How the shipped models' training sets were drawn, from their model.json."""
    parts = []
    for model, m in cls["models"].items():
        hours = f"{m['trained_hours']:g} h" if m.get("trained_hours") else "? h"
        scale = m.get("trained_rfi_scale")
        rfi = f", leaking RFI × {scale:g}" if scale and scale != 1 else ""
        parts.append(f"{model}: {hours}, seed {m['trained_seed']}{rfi}")
    return "; ".join(parts)


def _classification_section(cls: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in cls["counts"].items())
    rates = ", ".join(f"{k} {v:g}" for k, v in {**cls["rates"], **cls["leaking_rfi"]}.items())
    lines = ["## 3. Classification", "",
             f"Held-out set: `make_training_set(training_settings(), 'burst_search', {cls['hours']:g}, "
             f"seed={cls['seed']})` with the current burst_search ({cls['detector_version']}) and "
             f"{', '.join(cls['chunk_modules']) or 'no chunk module'} run before it, as the broker runs them: "
             f"{cls['n']} candidates ({counts}), simulated in {cls['simulate_s']:.0f} s. The models were "
             f"trained the same way on another seed (`nenubroker train`; {_trained(cls)}). How it is drawn: "
             "10-minute segments of one beam at the test resolution (192 channels, 84 ms) with random "
             f"events per minute ({rates}; the last three are RFI that leaks through the flagger, "
             "`training.LEAKING_RFI`: impulses over part of the band, full-band impulses too weak for its "
             "impulse test, narrowband RFI shorter than its 2.5 s minimum), 3 persistent RFI channels and "
             f"1 % lost blocks; every {cls['noise_every']}rd segment has no event and is searched at "
             f"S/N {cls['noise_threshold']:g}, for noise candidates (`other`), which the default threshold "
             "7.5 almost never gives (≤ 1 / h). Labels come from the truth catalogue "
             f"(`training.label_candidates`; rfi: {cls['rfi_from_event']} matched to an RFI event, "
             f"{cls['counts'].get('rfi', 0) - cls['rfi_from_event']} to a persistent RFI channel). Shipped "
             "models, scored by `training.evaluate` (macro-F1 over the classes present).", ""]
    small = {k: v for k, v in cls["counts"].items() if v < 20}
    if small:
        lines += [f"Classes with fewer than 20 candidates make the macro-F1 noisy: "
                  f"{', '.join(f'{k} {v}' for k, v in small.items())}.", ""]
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
