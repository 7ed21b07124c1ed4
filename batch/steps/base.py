"""What every batch step is: one class, its parameters declared, ``run(inputs, out_dir) -> outputs``.

A step reads products by kind (``ms``, ``h5parm``, ``skymodel``, ``fits`` ...) and writes new ones
into ``out_dir``; it never modifies its inputs, so a product, once made, is never changed and can be
reused by a later run that asks for the same thing (see ``batch/recipe.py``). Tools (DP3, AOFlagger,
WSClean) run as subprocesses whose output goes to ``out_dir/<step>.log``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class StepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DP3Params(StepParams):
    """Parameters shared by the steps that run DP3."""

    threads: int = Field(1, ge=1, description="DP3 threads (numthreads); 1 is fastest on small partitions.")


class StepError(RuntimeError):
    """A step failed; the message names the step, the command and the last lines of its log."""


class Step(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[StepParams]] = StepParams
    inputs: ClassVar[tuple[str, ...]] = ("ms",)
    outputs: ClassVar[tuple[str, ...]] = ("ms",)
    software: ClassVar[tuple[str, ...]] = ()  # tools whose versions go into provenance
    tool_timeout_s: ClassVar[float] = 3 * 3600.0  # a tool running longer is taken as hung

    def __init__(self, params: StepParams | dict | None = None) -> None:
        self.params = params if isinstance(params, StepParams) else self.Params.model_validate(params or {})
        # Numbers the last run() measured (e.g. ``flagged_fraction``): for provenance and reports.
        self.metrics: dict[str, float] = {}

    def freq_factor(self) -> int:
        """Input channels per output channel (the averaging step overrides this)."""
        return 1

    def time_factor(self) -> int:
        """Input time steps per output time step (the averaging step overrides this)."""
        return 1

    def solution_interval_steps(self) -> int | None:
        """Time steps (of this step's input) per calibration solution, for steps that solve."""
        return None

    @abstractmethod
    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        """Make this step's outputs (kind -> path, inside ``out_dir``) from ``inputs`` (kind -> path)."""

    def tool(self, command: list[str], out_dir: Path, env: dict[str, str] | None = None) -> None:
        """Run an external tool, its output appended to ``out_dir/<name>.log``; StepError if it fails."""
        log_path = out_dir / f"{self.name}.log"
        run_env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **(env or {})}
        with log_path.open("a") as log:
            log.write("$ " + " ".join(command) + "\n")
            log.flush()
            try:
                result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=run_env, cwd=out_dir,
                                        timeout=self.tool_timeout_s)
                failure = f"exited with {result.returncode}" if result.returncode != 0 else ""
            except subprocess.TimeoutExpired:  # a hung tool fails the step (then the partition is retried)
                failure = f"was stopped after {self.tool_timeout_s:.0f} s"
        if failure:
            tail = "".join(log_path.read_text().splitlines(keepends=True)[-20:])
            raise StepError(f"{self.name}: {command[0]} {failure}\n{tail}")

    def dp3(self, parset: dict[str, object], out_dir: Path) -> None:
        """Run DP3 with ``parset`` given as command-line ``key=value`` pairs and this step's thread count."""
        threads = getattr(self.params, "threads", 1)
        self.tool(dp3_command() + parset_args({"numthreads": threads, **parset}), out_dir)


def dp3_command() -> list[str]:
    """DP3 as shipped in the ``dp3`` wheel (``DP3.py`` beside this Python), else a ``DP3`` on PATH."""
    wheel = Path(sys.executable).parent / "DP3.py"
    return [str(wheel)] if wheel.exists() else ["DP3"]


def parset_args(parset: dict[str, object]) -> list[str]:
    """``key=value`` command-line arguments for DP3; lists become DP3's ``[a,b]`` syntax."""

    def text(value: object) -> str:
        if isinstance(value, (list, tuple)):
            return "[" + ",".join(text(v) for v in value) + "]"
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    return [f"{key}={text(value)}" for key, value in parset.items()]


def copy_ms(source: Path, destination: Path) -> Path:
    """A private copy of a Measurement Set for tools that work in place (AOFlagger)."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    return destination


__all__ = ["DP3Params", "Step", "StepError", "StepParams", "copy_ms", "dp3_command", "parset_args"]
