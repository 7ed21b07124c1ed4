"""Science quality benchmark: every class through the broker's whole chunk chain, against the simulator's truth.

Everything runs the chain the broker runs (gain steps, RFI flagger, ``burst_search``, features,
the alert classifier, then the events stage's tracker) on the edge's own chunks of the 34 GB/h
mode, by ``nenubroker.udfs.training.quality``:

1. Completeness per class against S/N (the alerts' S/N: matched-filter S/N of the noiseless event
   at detection resolution over its first ``--window-s``, udfs/burst_search/README.md): isolated
   events drawn by the simulator (clusters, trains, harmonics, type III groups with their type V),
   log-uniform S/N in ``--snr-range``. Target: >= 95 % at S/N >= 8 for every class.
2. False alarms: alerts in ``--noise-hours`` of a beam with no astrophysical event (persistent RFI
   channels, 1 % lost blocks, broadband impulses the flagger must remove), 95 % upper limit.
   Target: <= 1 per hour.
3. Drift (within 20 % of truth for >= 90 % of drifting bursts at S/N >= 15), duration and bandwidth
   of the tracked events against truth, alerts and events per true event (target <= 1.05), and the
   class the chain gave each found event.
4. Classification in and out of distribution: from bench/results/generalisation.json
   (bench/bench_generalisation.py), quoted here.
5. RFI flagging of ``rfi_flagger`` (``udfs/training/rfi_flagger_eval.py``).

Run: ``.venv/bin/python bench/bench_quality.py`` (about 40 min on 2 free cores: 60 events per
class, 10 h of noise); ``--quick`` for a 3-minute smoke run (its numbers mean little).
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

import numpy as np
from quality_report import RESULTS, jsonable, plot_completeness, plot_extent, plot_false_alarms, plot_rfi, report

KINDS = ("spike", "type_iii", "type_iii_u", "type_iii_j", "type_iiib", "type_v", "jupiter_s", "jupiter_l",
         "type_i", "type_ii", "type_iv")
NOISE_PIECE_HOURS = 0.5


def event_task(kind: str, n_events: int, seed: int, snr_range: tuple[float, float],
               window_s: float) -> list[dict[str, Any]]:
    """``n_events`` trials of one kind, S/N log-uniform in ``snr_range`` (seeded by kind and ``seed``)."""
    from nenubroker.udfs.training.quality import event_trial

    rng = np.random.default_rng(np.random.SeedSequence([seed, KINDS.index(kind)]))
    snrs = np.exp(rng.uniform(*np.log(snr_range), n_events))
    return [event_trial(kind, float(snr), seed * 100_000 + KINDS.index(kind) * 1000 + i, window_s)
            for i, snr in enumerate(snrs)]


def noise_task(hours: float, seed: int) -> dict[str, Any]:
    from nenubroker.udfs.training.quality import noise_trial

    return noise_trial(hours, seed)


def rfi_task(n_chunks: int, snr: float, rfi_snr: float, seed: int) -> dict[str, Any]:
    from nenubroker.udfs.training.rfi_flagger_eval import evaluate

    table = evaluate(n_chunks, snr, rfi_snr, seed=seed)
    return {"snr": snr, "rfi_snr": rfi_snr, "chunks": len(table),
            "mean": {k: float(v) for k, v in table.mean().items()},
            "chunks_with": {k: int(v) for k, v in table.count().items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60, help="events per class")
    parser.add_argument("--noise-hours", type=float, default=10.0, help="hours of noise for false alarms")
    parser.add_argument("--snr-range", type=float, nargs=2, default=(4.0, 60.0), help="S/N drawn (log-uniform)")
    parser.add_argument("--window-s", type=float, default=20.0, help="seconds searched from each onset")
    parser.add_argument("--rfi-chunks", type=int, default=40, help="chunks per burst S/N for the RFI flagger")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 events per class, 0.5 h of noise")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.events, args.noise_hours, args.rfi_chunks = 6, NOISE_PIECE_HOURS, 4

    load = os.getloadavg()[0]
    began = time.perf_counter()
    n_pieces = max(1, int(np.ceil(args.noise_hours / NOISE_PIECE_HOURS)))
    with ProcessPoolExecutor(args.jobs) as pool:
        events = {k: pool.submit(event_task, k, args.events, args.seed, tuple(args.snr_range), args.window_s)
                  for k in KINDS}
        noise = [pool.submit(noise_task, args.noise_hours / n_pieces, args.seed + 10 + i) for i in range(n_pieces)]
        rfi = [pool.submit(rfi_task, args.rfi_chunks, snr, 30.0, args.seed) for snr in (3.0, 10.0)]
        rows = []
        for kind, job in events.items():
            rows += job.result()
            print(f"{kind}: {time.perf_counter() - began:.0f} s", flush=True)
        pieces = []
        for i, job in enumerate(noise):
            pieces.append(job.result())
            print(f"noise {i + 1}/{n_pieces}: {time.perf_counter() - began:.0f} s", flush=True)
        rfi_results = [job.result() for job in rfi]
    generalisation = args.out / "generalisation.json"
    res = {"events": rows, "noise": pieces, "rfi": rfi_results, "wall_s": time.perf_counter() - began,
           "load_at_start": load, "args": {k: str(v) for k, v in vars(args).items()},
           "generalisation": json.loads(generalisation.read_text()) if generalisation.is_file() else None}
    args.out.mkdir(parents=True, exist_ok=True)
    plot_completeness(rows, args.out / "quality_completeness.png")
    plot_false_alarms(pieces, args.out / "quality_false_alarms.png")
    plot_extent(rows, args.out / "quality_extent.png")
    plot_rfi(rfi_results, args.out / "quality_rfi.png")
    (args.out / "quality.md").write_text(report(res, args))
    (args.out / "quality.json").write_text(json.dumps(jsonable(res), indent=1) + "\n")
    print((args.out / "quality.md").read_text())


if __name__ == "__main__":
    main()
