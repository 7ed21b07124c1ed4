"""Batch benchmark: a recipe over P partitions on Spark against the same tools run serially on the
whole MS, and reading partitions in place against copying the MS into parts first, in one script.

1. Partitioning: every partition made as a standalone MS straight from its rows of the source
   (``write_partition``, what tasks do) against the TASKA way: copy the whole MS, then split the copy.
2. The recipe (``image_window``: flag, average, calibrate, apply, image; then merge): P partitions as
   Spark tasks on ``local[N]`` against one process running the same steps on the whole MS.

Run: ``.venv/bin/python bench/bench_batch.py [--antennas 48 --times 240 --subbands 8]``. Writes
bench/results/batch.md, batch.json and batch.png. Compare the ratios, not absolute times, across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_partitioning(ms: Path, partitions, work: Path) -> dict[str, float]:
    """Seconds to make every partition MS: in place from the source, or after copying the whole MS."""
    from nenubroker.batch.ms_slice import write_partition

    def split(source: Path, out: Path) -> None:
        for part in partitions:
            write_partition(source, out / f"{part.name}.ms", part.row_start, part.row_stop,
                            part.chan_start, part.chan_stop)

    started = time.perf_counter()
    split(ms, work / "in_place")
    in_place_s = time.perf_counter() - started
    started = time.perf_counter()
    copy = work / "copy" / ms.name
    shutil.copytree(ms, copy)
    copied_s = time.perf_counter() - started
    split(copy, work / "copy_then_split")
    copy_first_s = time.perf_counter() - started
    return {"in_place_s": in_place_s, "copy_s": copied_s, "copy_first_s": copy_first_s}


def bench_recipe(spark, ms: Path, recipe_name: str, work: Path, time_solutions: int, channels: int) -> dict:
    """Wall time of the recipe: serial steps on the whole MS, then P partitions on Spark."""
    from nenubroker.batch.pipeline import Pipeline
    from nenubroker.batch.recipe import PartitionSpec, load_recipe
    from nenubroker.batch.runner import run_partitions
    from nenubroker.conf.settings import load_settings

    recipe = load_recipe(recipe_name, load_settings(env={}))
    whole = Pipeline(recipe.model_copy(update={"partition": PartitionSpec(solution_intervals_per_partition=10**6)}),
                     ms, work / "serial")
    serial = run_partitions(whole, whole.plan())
    serial_s = serial.seconds
    step_s = {run.step: run.seconds for run in serial.results[0].steps}
    split = Pipeline(recipe.model_copy(update={"partition": PartitionSpec(
        solution_intervals_per_partition=time_solutions, channels_per_partition=channels)}), ms, work / "spark")
    partitions = split.plan()
    report = run_partitions(split, partitions, spark, console=None)
    failed = [r.partition.name for r in report.failed]
    return {"serial_s": serial_s, "serial_steps_s": step_s, "spark_s": report.seconds, "partitions": len(partitions),
            "failed": failed, "speedup": serial_s / report.seconds, "plan": partitions}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    part = results["partitioning"]
    left.bar(["in place", "copy, then split"], [part["in_place_s"], part["copy_first_s"]], color=["C0", "C1"])
    left.bar(["copy, then split"], [part["copy_s"]], color="C3", label="of which: copy")
    left.set_ylabel("seconds")
    left.set_title(f"make {results['recipe']['partitions']} partition MSs")
    left.legend()
    steps = results["recipe"]["serial_steps_s"]
    bottom = 0.0
    for name, seconds in steps.items():
        right.bar(["serial, whole MS"], [seconds], bottom=bottom, label=name)
        bottom += seconds
    right.bar(["serial, whole MS"], [results["recipe"]["serial_s"] - bottom], bottom=bottom, color="0.8",
              label="partition MS, provenance, merge")
    right.bar([f"Spark, {results['recipe']['partitions']} partitions"], [results["recipe"]["spark_s"]], color="C7")
    right.set_ylabel("seconds")
    right.set_title(f"recipe image_window (x{results['recipe']['speedup']:.2f})")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(results: dict, path: Path) -> None:
    part, recipe, ms = results["partitioning"], results["recipe"], results["ms"]
    lines = [
        "# Batch benchmark",
        "",
        f"`bench/bench_batch.py {results['args']}` on {os.cpu_count()} cores, Spark `{results['master']}`; "
        f"{results['wall_s']:.0f} s wall. Simulated NenuFAR MS: {ms['antennas']} mini-arrays, {ms['times']} "
        f"integrations, {ms['channels']} channels, {ms['rows']} rows, {ms['bytes'] / 1e9:.2f} GB "
        f"(generated in {ms['generate_s']:.0f} s).",
        "",
        "## Reading partitions in place against copying the MS first",
        "",
        f"{recipe['partitions']} partitions (whole timestamps, whole solution intervals, channel ranges).",
        "",
        "| method | seconds | ratio |",
        "| --- | --- | --- |",
        f"| in place: each partition read from its rows of the source MS | {part['in_place_s']:.1f} | 1.00 |",
        f"| copy the whole MS ({part['copy_s']:.1f} s), then split the copy | {part['copy_first_s']:.1f} | "
        f"{part['copy_first_s'] / part['in_place_s']:.2f} |",
        "",
        "The source MS was just written, so it was read from the page cache: on a cold disk or a network "
        "filesystem the extra copy costs more, and it needs the space of the whole MS again.",
        "",
        "## The recipe on Spark against the same tools serially on the whole MS",
        "",
        "| run | seconds | ratio |",
        "| --- | --- | --- |",
        "| serial: flag, average, calibrate, apply, image on the whole MS, one process | "
        f"{recipe['serial_s']:.1f} | 1.00 |",
        f"| Spark: {recipe['partitions']} partitions as tasks, then merge | {recipe['spark_s']:.1f} | "
        f"{recipe['spark_s'] / recipe['serial_s']:.2f} (speed-up x{recipe['speedup']:.2f}) |",
        "",
        "Serial time per step: " + ", ".join(f"{k} {v:.1f} s" for k, v in recipe["serial_steps_s"].items()) + ".",
        "",
        f"Failed partitions: {recipe['failed'] or 'none'}. The speed-up is bounded by the cores Spark has "
        "(tools run one thread per task); the serial run makes one image of the whole window, the Spark run "
        "one per partition plus the cube.",
        "",
        "![batch benchmark](batch.png)",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--antennas", type=int, default=48)
    parser.add_argument("--times", type=int, default=240)
    parser.add_argument("--subbands", type=int, default=8)
    parser.add_argument("--channels-per-subband", type=int, default=8)
    parser.add_argument("--time-solutions", type=int, default=6, help="solution intervals per time partition")
    parser.add_argument("--channels-per-partition", type=int, default=16)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()

    from nenubroker.batch.generate import generate_ms
    from nenubroker.broker.spark import get_session
    from nenubroker.conf.settings import load_settings

    wall = time.perf_counter()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    ms = work / "bench.ms"
    started = time.perf_counter()
    truth = generate_ms(ms, n_antennas=args.antennas, n_times=args.times, n_subbands=args.subbands,
                        channels_per_subband=args.channels_per_subband, seed=11)
    ms_facts = {"antennas": args.antennas, "times": args.times, "channels": args.subbands * args.channels_per_subband,
                "rows": truth.params["n_rows"], "bytes": du_bytes(ms), "generate_s": time.perf_counter() - started}
    print(f"MS {ms}: {ms_facts['bytes'] / 1e9:.2f} GB in {ms_facts['generate_s']:.0f} s", flush=True)
    spark = get_session(load_settings(env={}, overrides={"spark": {"master": args.master, "app_name": "bench-batch"}}))
    recipe = bench_recipe(spark, ms, "image_window", work, args.time_solutions, args.channels_per_partition)
    partitioning = bench_partitioning(ms, recipe.pop("plan"), work / "partitioning")
    spark.stop()
    results = {"args": " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "work_dir"),
               "master": args.master, "ms": ms_facts, "partitioning": partitioning, "recipe": recipe,
               "wall_s": time.perf_counter() - wall}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(results, indent=1))
    plot(results, RESULTS / "batch.png")
    write_report(results, RESULTS / "batch.md")
    print((RESULTS / "batch.md").read_text())
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
