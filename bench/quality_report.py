"""Plots and the markdown report of bench_quality.py (bench/results/quality.md and quality_*.png)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SNR_BINS = ((4.0, 6.0), (6.0, 8.0), (8.0, 12.0), (12.0, 20.0), (20.0, 40.0), (40.0, np.inf))
COMPLETENESS_SNR, COMPLETENESS_TARGET = 8.0, 0.95
FALSE_ALARM_TARGET_PER_H = 1.0
F1_TARGET = 0.9
DRIFT_SNR, DRIFT_TOLERANCE, DRIFT_TARGET = 15.0, 0.2, 0.9
ALERTS_PER_EVENT_TARGET = 1.05
RFI_TARGET, CLEAN_TARGET = 0.90, 0.01
RFI_SHOULD = ("rfi_flagged", "persistent_flagged", "impulse_flagged", "lost_flagged")
RFI_SHOULD_NOT = ("clean_flagged", "type_iii_flagged", "type_iiib_flagged", "spike_flagged",
                  "jupiter_s_flagged")


# --- statistics -----------------------------------------------------------------------------------

def clopper_pearson(k: int, n: int, cl: float = 0.95) -> tuple[float, float]:
    """Two-sided ``cl`` interval of a binomial fraction k/n."""
    from scipy.stats import beta

    a = (1 - cl) / 2
    lo = float(beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def poisson_upper(n: int, cl: float = 0.95) -> float:
    """One-sided ``cl`` upper limit on a Poisson mean when ``n`` were seen."""
    from scipy.stats import chi2

    return float(chi2.ppf(cl, 2 * (n + 1)) / 2)


def _trials(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("skipped")]


def by_kind(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in _trials(rows):
        out.setdefault(r["kind"], []).append(r)
    return out


def completeness(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Found / injected per S/N bin and at S/N >= 8, with the one-sided 95 % lower bound."""
    bins = []
    for lo, hi in SNR_BINS:
        sel = [r for r in trials if lo <= r["snr"] < hi]
        k = sum(r["found"] for r in sel)
        bins.append({"lo": lo, "hi": hi, "found": k, "n": len(sel)})
    bright = [r for r in trials if r["snr"] >= COMPLETENESS_SNR]
    k = sum(r["found"] for r in bright)
    return {"bins": bins, "found": k, "n": len(bright), "fraction": k / len(bright) if bright else float("nan"),
            "lower95": clopper_pearson(k, len(bright), 0.90)[0] if bright else float("nan")}


def extent(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """At S/N >= 15: drift within 20 % (drifting kinds), duration and bandwidth ratios, alerts per event."""
    found = [r for r in trials if r["found"]]
    bright = [r for r in found if r["snr"] >= DRIFT_SNR]
    drifting = [r for r in bright if r["truth_drift_hz_per_s"] != 0]
    drift_ratio = np.array([r["drift_hz_per_s"] / r["truth_drift_hz_per_s"] for r in drifting])
    complete = [r for r in bright if r["complete_in_window"] and r["truth_duration_s"] > 0]
    duration_ratio = np.array([r["duration_s"] / r["truth_duration_s"] for r in complete])
    band_ratio = np.array([r["bandwidth_hz"] / r["truth_bandwidth_hz"] for r in bright if r["truth_bandwidth_hz"] > 0])

    def median(values: np.ndarray) -> float:
        return float(np.median(values)) if values.size else float("nan")

    return {"n_found": len(found), "n_bright": len(bright), "n_drifting": len(drifting),
            "drift_within": float(np.mean(np.abs(drift_ratio - 1) <= DRIFT_TOLERANCE)) if drift_ratio.size
            else float("nan"), "drift_ratio": median(drift_ratio),
            "drift_zero": float(np.mean(drift_ratio == 0)) if drift_ratio.size else float("nan"),
            "duration_ratio": median(duration_ratio), "n_duration": int(duration_ratio.size),
            "bandwidth_ratio": median(band_ratio),
            "alerts_per_event": float(np.mean([r["n_alerts"] for r in found])) if found else float("nan"),
            "events_per_event": float(np.mean([r["n_events"] for r in found])) if found else float("nan"),
            "classes": _count([r["event_class"] for r in found]),
            "first_alert_delay_s": median(np.array([r["first_alert_delay_s"] for r in found]))}


def _count(labels: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for label in labels:
        out[str(label)] = out.get(str(label), 0) + 1
    return dict(sorted(out.items(), key=lambda item: -item[1]))


def false_alarms(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    hours = sum(p["hours"] for p in pieces)
    alerts = sum(p["alerts"] for p in pieces)
    non_rfi = sum(p["non_rfi_alerts"] for p in pieces)
    return {"hours": hours, "chunks": sum(p["chunks"] for p in pieces), "alerts": alerts, "non_rfi": non_rfi,
            "rate": alerts / hours, "upper95": poisson_upper(alerts) / hours,
            "non_rfi_upper95": poisson_upper(non_rfi) / hours,
            "classes": _count([c for p in pieces for c in p["classes"]]),
            "snr": sorted(s for p in pieces for s in p["snr"]),
            "cpu_ms_per_chunk": 1e3 * sum(p["cpu_s"] for p in pieces) / max(1, sum(p["chunks"] for p in pieces))}


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


def plot_completeness(rows: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    kinds = by_kind(rows)
    fig, ax = plt.subplots(figsize=(10, 5))
    x = np.arange(len(SNR_BINS))
    ax.axvspan(1.5, len(SNR_BINS) - 0.5, color="0.93", zorder=0)
    ax.axhline(COMPLETENESS_TARGET, color="tab:red", ls="--", lw=1, label="95 % target (S/N ≥ 8)")
    cmap = plt.get_cmap("tab20")
    for j, (kind, trials) in enumerate(kinds.items()):
        bins = completeness(trials)["bins"]
        frac = np.array([b["found"] / b["n"] if b["n"] else np.nan for b in bins])
        ax.plot(x + (j - len(kinds) / 2) * 0.03, frac, "o-", color=cmap(j), label=kind, lw=1.2, ms=4)
    ax.set_xticks(x, [_bin_label(lo, hi) for lo, hi in SNR_BINS])
    ax.set(xlabel="S/N (matched filter at detection resolution, the alerts' S/N)", ylim=(-0.02, 1.05),
           ylabel="fraction of events alerted", title="Completeness per class, whole chunk chain")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    _save(fig, path)


def plot_false_alarms(pieces: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    fa = false_alarms(pieces)
    fig, ax = plt.subplots(figsize=(7, 4))
    snr = np.array(fa["snr"])
    thresholds = np.linspace(7.5, 20, 26)
    counts = np.array([(snr >= t).sum() for t in thresholds])
    ax.plot(thresholds, counts / fa["hours"], "o-", ms=3, label="alerts per hour at S/N ≥ x")
    ax.plot(thresholds, [poisson_upper(int(n)) / fa["hours"] for n in counts], ":", color="0.4",
            label="95 % upper limit")
    ax.axhline(FALSE_ALARM_TARGET_PER_H, color="tab:red", ls="--", lw=1, label="target ≤ 1 / h")
    ax.set(yscale="log", xlabel="alert S/N", ylabel="alerts per hour (one beam)",
           title=f"No astrophysical event: {fa['hours']:.1f} h, flagger on, lost blocks, RFI")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_extent(rows: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    kinds = by_kind(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for j, trials in enumerate(kinds.values()):
        found = [r for r in trials if r["found"] and r["snr"] >= DRIFT_SNR]
        drift = [r["drift_hz_per_s"] / r["truth_drift_hz_per_s"] for r in found if r["truth_drift_hz_per_s"]]
        band = [r["bandwidth_hz"] / r["truth_bandwidth_hz"] for r in found if r["truth_bandwidth_hz"] > 0]
        if drift:
            left.scatter(np.full(len(drift), j) + np.random.default_rng(j).uniform(-0.2, 0.2, len(drift)), drift,
                         s=8)
        if band:
            right.scatter(np.full(len(band), j) + np.random.default_rng(j).uniform(-0.2, 0.2, len(band)), band,
                          s=8)
    for ax, title in ((left, "drift: measured / true"), (right, "bandwidth: tracked event / true")):
        ax.axhspan(0.8, 1.2, color="tab:green", alpha=0.15)
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xticks(range(len(kinds)), list(kinds), rotation=40, fontsize=8)
        ax.set(title=f"{title} (S/N ≥ {DRIFT_SNR:g})", ylim=(-0.5, 2.5))
    _save(fig, path)


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
    right.set(xlim=(0, max(1.5, 1.25 * worst)), xlabel="% flagged (should be 0)", title="clean and burst pixels")
    for ax in (left, right):
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    fig.suptitle("rfi_flagger on full-band 64 × 768 chunks (mean over chunks)")
    _save(fig, path)


# --- report ---------------------------------------------------------------------------------------

def _yes(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def _pc(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{100 * x:.2g} %" if 0 < abs(x) < 0.01 else f"{100 * x:.1f} %"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if np.isfinite(x) else "–"


def _generalisation_rows(gen: dict[str, Any] | None) -> list[str]:
    if not gen:
        return [_row("macro-F1 ≥ 0.9 held out", "bench/results/generalisation.json missing", "–")]
    rows = []
    for key, label in (("in_distribution", "in distribution"), ("held_out", "held out (worst configuration)")):
        value = gen.get(key)
        if isinstance(value, dict):
            worst = min((v for v in value.values() if isinstance(v, (int, float))), default=float("nan"))
            rows.append(_row(f"macro-F1 ≥ 0.9, {label}", _f(worst, 3), _yes(worst >= F1_TARGET)))
        elif isinstance(value, (int, float)):
            rows.append(_row(f"macro-F1 ≥ 0.9, {label}", _f(value, 3), _yes(value >= F1_TARGET)))
    return rows or [_row("macro-F1", "see generalisation.md", "–")]


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    kinds = by_kind(res["events"])
    comp = {k: completeness(v) for k, v in kinds.items()}
    ext = {k: extent(v) for k, v in kinds.items()}
    fa = false_alarms(res["noise"])
    drifting = [r for k in ("type_iii", "type_iiib", "jupiter_s", "type_ii") for r in kinds.get(k, [])
                if r["found"] and r["snr"] >= DRIFT_SNR and r["truth_drift_hz_per_s"] != 0]
    drift_ok = float(np.mean([abs(r["drift_hz_per_s"] / r["truth_drift_hz_per_s"] - 1) <= DRIFT_TOLERANCE
                              for r in drifting])) if drifting else float("nan")
    found = [r for v in kinds.values() for r in v if r["found"]]
    alerts_per_event = float(np.mean([r["n_alerts"] for r in found])) if found else float("nan")
    events_per_event = float(np.mean([r["n_events"] for r in found])) if found else float("nan")
    lines = ["# Science quality benchmark", "",
             f"`bench/bench_quality.py --events {args.events} --noise-hours {args.noise_hours:g} --snr-range "
             f"{args.snr_range[0]:g} {args.snr_range[1]:g} --window-s {args.window_s:g} --jobs {args.jobs}`: "
             f"{res['wall_s']:.0f} s wall on {os.cpu_count()} cores (load average {res['load_at_start']:.2f} at "
             "start). Simulated data with its truth catalogue; the chain the broker runs (gain steps, RFI flagger, "
             "burst_search, features, classifier_forest, event tracking) on the edge's own 5.4 s chunks of the "
             "34 GB/h mode (20–58 MHz, detection grid 84 ms × 49 kHz).", "",
             "S/N everywhere is the alerts' S/N: the matched-filter S/N of the noiseless event at detection "
             f"resolution over its first {args.window_s:g} s, against its true background "
             "(udfs/burst_search/README.md). Long events (type I storms, II, IV, Jupiter L) are judged on "
             f"their first {args.window_s:g} s: *found* means alerted within that time of the onset.", "",
             _row("target", "measured", "status"), _row("---", "---", "---")]
    for kind, c in comp.items():
        lines.append(_row(f"completeness ≥ 95 % at S/N ≥ 8, {kind}", f"{_pc(c['fraction'])} ({c['found']}/{c['n']})",
                          _yes(c["n"] > 0 and c["fraction"] >= COMPLETENESS_TARGET)))
    lines += [_row("false alarms ≤ 1 / h (95 % upper limit)",
                   f"{fa['alerts']} alerts in {fa['hours']:.1f} h: ≤ {fa['upper95']:.2f} / h "
                   f"({fa['non_rfi']} not classified rfi: ≤ {fa['non_rfi_upper95']:.2f} / h)",
                   _yes(fa["upper95"] <= FALSE_ALARM_TARGET_PER_H)),
              _row("drift within 20 % for ≥ 90 % of drifting bursts at S/N ≥ 15",
                   f"{_pc(drift_ok)} of {len(drifting)}", _yes(drift_ok >= DRIFT_TARGET)),
              _row("≤ 1.05 alerts per event", f"{_f(alerts_per_event)} alerts, {_f(events_per_event)} tracked events "
                   "per found event", _yes(alerts_per_event <= ALERTS_PER_EVENT_TARGET)),
              *_generalisation_rows(res.get("generalisation")), ""]
    lines += ["## 1. Completeness per class", "", "Cells: alerted / injected. Lower bound: one-sided 95 % "
              "Clopper-Pearson.", "",
              _row("kind", *(_bin_label(lo, hi) for lo, hi in SNR_BINS), "**S/N ≥ 8**", "95 % lower bound"),
              _row(*["---"] * (len(SNR_BINS) + 3))]
    for kind, c in comp.items():
        cells = [f"{b['found']}/{b['n']}" for b in c["bins"]]
        lines.append(_row(kind, *cells, f"**{_pc(c['fraction'])}**", _pc(c["lower95"])))
    lines += ["", "![completeness](quality_completeness.png)", "",
              "## 2. False alarms", "",
              f"{fa['hours']:.1f} h of one beam ({fa['chunks']} chunks) with no astrophysical event: the simulator's "
              "persistent RFI channels, 1 % of blocks lost, one broadband RFI impulse a minute, through the whole "
              f"chain. {fa['alerts']} alerts (classes {fa['classes'] or '–'}); 95 % upper limit "
              f"{fa['upper95']:.2f} per hour. Chain CPU {fa['cpu_ms_per_chunk']:.0f} ms per chunk.", "",
              "![false alarms](quality_false_alarms.png)", "",
              "## 3. Extent, alerts per event and the class given", "",
              f"Found events at S/N ≥ {DRIFT_SNR:g}: drift of the brightest alert against the true drift at its peak "
              "frequency; duration and bandwidth of the tracked event (events stage) against truth (duration only "
              "for events that end inside the window). Alerts and tracked events per found event (all S/N).", "",
              _row("kind", "found (S/N ≥ 15)", "drift within 20 %", "drift ratio (median)", "drift 0",
                   "duration ratio", "bandwidth ratio", "alerts / event", "events / event", "first alert − onset (s)",
                   "class given (found events)"), _row(*["---"] * 11)]
    for kind, e in ext.items():
        lines.append(_row(kind, f"{e['n_found']} ({e['n_bright']})", f"{_pc(e['drift_within'])} of {e['n_drifting']}",
                          _f(e["drift_ratio"]), _pc(e["drift_zero"]), _f(e["duration_ratio"]),
                          _f(e["bandwidth_ratio"]), _f(e["alerts_per_event"]), _f(e["events_per_event"]),
                          _f(e["first_alert_delay_s"], 1),
                          ", ".join(f"{k} {v}" for k, v in list(e["classes"].items())[:4])))
    lines += ["", "![extent](quality_extent.png)", "",
              "## 4. Classification in and out of distribution", "",
              "Macro-F1 in distribution and leave-one-configuration-out, calibration and the reliability plot: "
              "[generalisation.md](generalisation.md) (`bench/bench_generalisation.py`).", "",
              "## 5. RFI flagging", "",
              f"`udfs/training/rfi_flagger_eval.py`: {args.rfi_chunks} full-band 64 × 768 chunks per burst S/N with "
              "random bursts, broadband impulses, 6 persistent RFI channels and 3 % lost blocks. Mean over chunks.", "",
              _row("bursts S/N", *(k.removesuffix("_flagged") for k in (*RFI_SHOULD, *RFI_SHOULD_NOT)), "all"),
              _row(*["---"] * (len(RFI_SHOULD) + len(RFI_SHOULD_NOT) + 2))]
    for r in res["rfi"]:
        lines.append(_row(f"{r['snr']:g}", *(_pc(r["mean"][k]) for k in (*RFI_SHOULD, *RFI_SHOULD_NOT, "flagged"))))
    lines += ["", f"Targets (ours): RFI ≥ {100 * RFI_TARGET:.0f} %, clean ≤ {100 * CLEAN_TARGET:.0f} %.", "",
              "![rfi flagging](quality_rfi.png)", ""]
    return "\n".join(lines)


def jsonable(obj: Any) -> Any:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return {"index": list(obj.index), "columns": list(obj.columns), "data": obj.to_numpy().tolist()}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    return obj


__all__ = ["by_kind", "clopper_pearson", "completeness", "extent", "false_alarms", "jsonable", "plot_completeness",
           "plot_extent", "plot_false_alarms", "plot_rfi", "poisson_upper", "report"]
