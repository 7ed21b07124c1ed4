"""A recipe bound to one Measurement Set and a work folder: plan partitions, run their steps, merge.

Usable from a notebook step by step::

    pipeline = Pipeline(load_recipe("image_window", settings), "obs.ms", ".cache/batch")
    part = pipeline.plan()[0]
    products = pipeline.start(part)                 # {"ms": partition MS, "skymodel": ...}
    products = pipeline.run_step(0, part, products)  # flag
    ...

or all at once on Spark executors (``nenubroker.batch.runner``). Every product lives in a folder
named by a key that hashes the source rows and channels, the previous step's key and this step's
parameters: re-running with one parameter changed finds every upstream product already made (a
``done.json`` marks a finished folder) and redoes only the changed step and those after it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nenubroker.batch import provenance
from nenubroker.batch.ms_slice import write_partition
from nenubroker.batch.partition import MsTimeAxis, Partition, plan_partitions
from nenubroker.batch.recipe import Recipe
from nenubroker.batch.steps.base import Step

Products = dict[str, Any]  # kind -> Path (or list of Paths for many-to-one steps)
Progress = Callable[[str, str, str, str], None]  # partition, step, state, detail
DONE = "done.json"


def _no_progress(partition: str, step: str, state: str, detail: str) -> None:
    return None


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _source_identity(ms: Path) -> list[Any]:
    """Path, size and newest modification of a source MS: changes when the data do, cheap for GB."""
    files = [p for p in ms.rglob("*") if p.is_file()]
    return [str(ms), sum(p.stat().st_size for p in files), max((p.stat().st_mtime_ns for p in files), default=0)]


@dataclass
class StepRun:
    step: str
    state: str  # made | reused | failed
    seconds: float
    folder: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class PartitionResult:
    partition: Partition
    state: str  # done | failed
    products: dict[str, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    attempts: int = 0
    error: str = ""
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "partition": {**asdict(self.partition), "name": self.partition.name}}


class Pipeline:
    def __init__(self, recipe: Recipe, ms: str | Path, work_dir: str | Path, max_attempts: int = 2,
                 extra_inputs: dict[str, str | Path] | None = None) -> None:
        self.recipe = recipe
        self.ms = Path(ms).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.max_attempts = max_attempts
        skymodel = Path(str(self.ms) + ".skymodel")
        defaults = {"skymodel": skymodel} if skymodel.is_file() else {}
        self.extra_inputs = {k: Path(v).resolve() for k, v in {**defaults, **(extra_inputs or {})}.items()}
        self.steps: list[Step] = recipe.build_steps()
        self.merge_step: Step | None = recipe.build_merge()

    def plan(self, time_window_unix_s: tuple[float, float] | None = None,
             freq_window_hz: tuple[float, float] | None = None) -> list[Partition]:
        axis = MsTimeAxis.read(self.ms)
        steps = self.recipe.time_steps_per_solution() * self.recipe.partition.solution_intervals_per_partition
        return plan_partitions(self.ms, steps, self.recipe.partition.channels_per_partition,
                               time_window_unix_s, freq_window_hz, axis)

    # --- one partition, step by step -------------------------------------------------------
    def _partition_key(self, partition: Partition) -> str:
        extra = {kind: provenance.checksum(path) for kind, path in sorted(self.extra_inputs.items())}
        return _key(_source_identity(self.ms), partition.row_start, partition.row_stop,
                    partition.chan_start, partition.chan_stop, extra)

    def start(self, partition: Partition) -> Products:
        """The partition as a standalone MS (made once, from its rows of the source), plus extra inputs."""
        key = self._partition_key(partition)
        folder = self.work_dir / "partitions" / f"{partition.name}-{key[:12]}"
        ms = folder / f"{partition.name}.ms"
        if not (folder / DONE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            started = time.time()
            write_partition(self.ms, ms, partition.row_start, partition.row_stop,
                            partition.chan_start, partition.chan_stop)
            provenance.record("partition", {k: v for k, v in asdict(partition).items() if k != "ms"},
                              {"ms": self.ms}, {"ms": ms}, started, time.time(),
                              provenance.software_versions(["python-casacore"]))
            (folder / DONE).write_text(json.dumps({"key": key}))
        return {"ms": ms, **self.extra_inputs, "_key": key}

    def run_step(self, index: int, partition: Partition, products: Products,
                 progress: Progress = _no_progress) -> tuple[Products, StepRun]:
        """Run (or reuse) step ``index`` of the recipe on a partition's current products."""
        step = self.steps[index]
        params = step.params.model_dump(mode="json")
        key = _key(products["_key"], step.name, params)
        folder = self.work_dir / "products" / partition.name / f"{index:02d}-{step.name}-{key[:12]}"
        done = folder / DONE
        if done.is_file():
            record = json.loads(done.read_text())
            progress(partition.name, step.name, "reused", "")
            outputs = {kind: folder / name for kind, name in record["outputs"].items()}
            reused = StepRun(step.name, "reused", 0.0, str(folder), record["metrics"])
            return {**products, **outputs, "_key": key}, reused
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        progress(partition.name, step.name, "running", "")
        missing = [kind for kind in step.inputs if kind not in products]
        if missing:
            raise KeyError(f"step {step.name} needs {missing}; the products so far are {sorted(products)}")
        inputs = {kind: Path(products[kind]) for kind in step.inputs}
        started = time.time()
        outputs = step.run(inputs, folder)
        ended = time.time()
        metrics = dict(getattr(step, "metrics", {}) or {})
        provenance.record(step.name, params, inputs, outputs, started, ended,
                          provenance.software_versions(step.software), metrics)
        done.write_text(json.dumps({"key": key, "outputs": {k: Path(v).name for k, v in outputs.items()},
                                    "metrics": metrics, "seconds": ended - started}, default=str))
        progress(partition.name, step.name, "made", f"{ended - started:.1f} s")
        return {**products, **outputs, "_key": key}, StepRun(step.name, "made", ended - started, str(folder), metrics)

    def run_partition(self, partition: Partition, progress: Progress = _no_progress) -> PartitionResult:
        """All steps on one partition; a failure is retried (``max_attempts`` in all), then reported."""
        result = PartitionResult(partition, "failed")
        for attempt in range(1, self.max_attempts + 1):
            result.attempts = attempt
            result.steps = []
            try:
                progress(partition.name, "partition", "running", f"attempt {attempt}")
                products = self.start(partition)
                for index in range(len(self.steps)):
                    products, step_run = self.run_step(index, partition, products, progress)
                    result.steps.append(step_run)
            except Exception as error:  # a tool or step failed: keep its log, retry, then report
                result.error = f"{type(error).__name__}: {error}"
                result.log = _failure_log(self.work_dir / "products" / partition.name, traceback.format_exc())
                progress(partition.name, "partition", "failed", f"attempt {attempt}: {result.error.splitlines()[0]}")
                continue
            result.state, result.error, result.log = "done", "", ""
            result.products = {k: str(v) for k, v in products.items() if not k.startswith("_")}
            progress(partition.name, "partition", "done", f"{len(self.steps)} steps")
            return result
        return result

    # --- all partitions --------------------------------------------------------------------
    def merge(self, results: list[PartitionResult], out_name: str = "cube") -> dict[str, Path]:
        """The merge step over every finished partition's products, on the driver."""
        if self.merge_step is None:
            return {}
        finished = [r for r in results if r.state == "done"]
        if not finished:
            raise RuntimeError("no partition finished: nothing to merge")
        kinds = self.merge_step.inputs
        inputs = {kind: [Path(r.products[kind.removesuffix("_list")]) for r in finished] for kind in kinds}
        params = self.merge_step.params.model_dump(mode="json")
        key = _key([r.steps[-1].folder if r.steps else r.products for r in finished], params)
        folder = self.work_dir / "merged" / f"{out_name}-{key[:12]}"
        if (folder / DONE).is_file():
            return {k: folder / v for k, v in json.loads((folder / DONE).read_text())["outputs"].items()}
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.time()
        outputs = self.merge_step.run(inputs, folder)
        provenance.record(self.merge_step.name, params, inputs, outputs, started, time.time(),
                          provenance.software_versions(self.merge_step.software))
        (folder / DONE).write_text(json.dumps({"key": key, "outputs": {k: Path(v).name for k, v in outputs.items()}}))
        return outputs

    def run_serial(self, partitions: list[Partition], progress: Progress = _no_progress) -> list[PartitionResult]:
        """Every partition in this process, one after another (no Spark)."""
        return [self.run_partition(partition, progress) for partition in partitions]


def _failure_log(folder: Path, trace: str, lines: int = 40) -> str:
    """The traceback and the end of the newest tool log of the failed partition."""
    logs = sorted(folder.glob("*/*.log"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    tail = "".join(logs[-1].read_text(errors="replace").splitlines(keepends=True)[-lines:]) if logs else ""
    return trace + (f"\n--- {logs[-1]} ---\n{tail}" if logs else "")


__all__ = ["PartitionResult", "Pipeline", "StepRun"]
