"""Run a pipeline's partitions as Spark tasks, show progress per partition and step, then merge.

Each partition is one task: it reads its rows of the source MS, runs the recipe's steps with the
tools on the executor, and returns a small result (paths, timings, error and log). A failed
partition is retried inside its task (``batch.max_attempts``); if it fails again it is reported
and the other partitions still complete and are merged. Executors append progress lines to
``<run>/progress/<partition>.jsonl``, which the driver shows live. Paths are absolute so tasks run
the same on ``local[*]`` and on a standalone cluster whose workers share the filesystem.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from nenubroker.batch.partition import Partition
from nenubroker.batch.pipeline import PartitionResult, Pipeline
from nenubroker.plots.cube import cube_png


class ProgressLog:
    """Progress lines of one run, one JSON-lines file per partition (written by executors)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __call__(self, partition: str, step: str, state: str, detail: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"t": time.time(), "partition": partition, "step": step, "state": state, "detail": detail})
        with (self.folder / f"{partition}.jsonl").open("a") as handle:
            handle.write(line + "\n")

    def events(self) -> list[dict[str, Any]]:
        """Every progress line so far, oldest first."""
        lines = [json.loads(raw) for path in sorted(self.folder.glob("*.jsonl"))
                 for raw in path.read_text().splitlines() if raw.endswith("}")]
        return sorted(lines, key=lambda event: event["t"])

    def latest(self) -> dict[str, dict[str, Any]]:
        """Per partition: the state of each step so far and the partition's own last line."""
        status: dict[str, dict[str, Any]] = {}
        for event in self.events():
            status.setdefault(event["partition"], {})[event["step"]] = event
        return status


def progress_table(log: ProgressLog, partitions: list[Partition], step_names: list[str]) -> Table:
    table = Table(title="batch progress", show_lines=False)
    for column in ["partition", *step_names, "state"]:
        table.add_column(column)
    marks = {"made": "[green]made", "reused": "[cyan]reused", "running": "[yellow]…", "failed": "[red]failed"}
    latest = log.latest()
    for partition in partitions:
        events = latest.get(partition.name, {})
        cells = [marks.get(events.get(name, {}).get("state", ""), "") for name in step_names]
        overall = events.get("partition", {})
        detail = overall.get("detail", "").splitlines()[0][:50] if overall.get("detail") else ""
        cells.append(f"{overall.get('state', 'waiting')} {detail}".strip())
        table.add_row(partition.name, *cells)
    return table


@dataclass
class RunReport:
    run_dir: Path
    results: list[PartitionResult]
    merged: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[PartitionResult]:
        return [r for r in self.results if r.state != "done"]

    def products(self) -> list[str]:
        """Merged products first, then every partition's final products."""
        per_partition = [path for r in self.results if r.state == "done" for path in r.products.values()]
        return [*self.merged.values(), *per_partition]

    def write(self) -> Path:
        path = self.run_dir / "report.json"
        path.write_text(json.dumps({"seconds": self.seconds, "merged": self.merged,
                                    "partitions": [r.to_json() for r in self.results]}, indent=1, default=str))
        return path


def run_partitions(pipeline: Pipeline, partitions: list[Partition], spark: Any = None, run_dir: Path | None = None,
                   console: Console | None = None) -> RunReport:
    """Every partition as one Spark task (or, without ``spark``, one after another in this process);
    the driver shows progress, then merges what finished."""
    started = time.time()
    run_dir = Path(run_dir or pipeline.work_dir / "runs" / time.strftime(f"%Y%m%dT%H%M%S-{uuid.uuid4().hex[:6]}"))
    run_dir.mkdir(parents=True, exist_ok=True)
    log = ProgressLog(run_dir / "progress")
    outcome: dict[str, Any] = {}

    def collect() -> None:
        try:
            if spark is None:
                outcome["results"] = pipeline.run_serial(partitions, log)
            else:
                tasks = spark.sparkContext.parallelize(partitions, max(1, len(partitions)))
                outcome["results"] = tasks.map(lambda partition: pipeline.run_partition(partition, log)).collect()
        except Exception as error:  # the job itself failed (e.g. executors lost): surface it on the driver
            outcome["error"] = error

    worker = threading.Thread(target=collect, daemon=True)
    worker.start()
    step_names = [step.name for step in pipeline.steps]
    console = console or Console(stderr=True)
    if console.is_terminal:  # a live table; in logs (spark-submit, CI) one line per event instead
        with Live(progress_table(log, partitions, step_names), console=console, refresh_per_second=2) as live:
            while worker.is_alive():
                worker.join(timeout=0.5)
                live.update(progress_table(log, partitions, step_names))
    else:
        seen: set[tuple] = set()
        while True:
            worker.join(timeout=1.0)
            for event in log.events():
                if (key := tuple(event.values())) not in seen:
                    seen.add(key)
                    console.print(f"batch progress: {event['partition']} {event['step']} {event['state']} "
                                  f"{event['detail']}".rstrip(), markup=False, highlight=False, soft_wrap=True)
            if not worker.is_alive():
                break
    if "error" in outcome:
        raise outcome["error"]
    report = RunReport(run_dir, outcome["results"])
    if any(r.state == "done" for r in report.results):
        report.merged = {kind: str(path) for kind, path in pipeline.merge(report.results).items()}
        if "fits" in report.merged:
            report.merged["png"] = str(cube_png(report.merged["fits"]))
    report.seconds = time.time() - started
    report.write()
    return report


__all__ = ["ProgressLog", "RunReport", "progress_table", "run_partitions"]
