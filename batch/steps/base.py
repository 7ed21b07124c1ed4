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
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class StepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepError(RuntimeError):
    """A step failed; the message names the step, the command and the last lines of its log."""


class Step(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[StepParams]] = StepParams
    inputs: ClassVar[tuple[str, ...]] = ("ms",)
    outputs: ClassVar[tuple[str, ...]] = ("ms",)
    software: ClassVar[tuple[str, ...]] = ()  # tools whose versions go into provenance

    def __init__(self, params: StepParams | dict | None = None) -> None:
        self.params = params if isinstance(params, StepParams) else self.Params.model_validate(params or {})

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
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=run_env, cwd=out_dir)
        if result.returncode != 0:
            tail = "".join(log_path.read_text().splitlines(keepends=True)[-20:])
            raise StepError(f"{self.name}: {command[0]} exited with {result.returncode}\n{tail}")


def copy_ms(source: Path, destination: Path) -> Path:
    """A private copy of a Measurement Set for tools that work in place (AOFlagger)."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    return destination


__all__ = ["Step", "StepError", "StepParams", "copy_ms"]
