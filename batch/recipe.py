"""A recipe: which steps, with which parameters, and how to cut the Measurement Set into partitions.

Recipes are YAML files (``conf/recipes/<name>.yaml``); the same recipe runs step by step from a
notebook (:class:`nenubroker.batch.pipeline.Pipeline`) or as one ``spark-submit`` job
(``batch/spark_job.py``). A step is named by its registry name (``flag``, ``average``,
``calibrate``, ``apply``, ``image``) or, for your own step, by ``package.module:ClassName``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from nenubroker.batch.steps import STEPS
from nenubroker.batch.steps.base import Step
from nenubroker.conf.settings import Settings


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepSpec(_Model):
    step: str
    params: dict[str, Any] = {}


class PartitionSpec(_Model):
    """Time partitions hold whole calibration solution intervals; frequency partitions whole channels."""

    solution_intervals_per_partition: int = Field(1, ge=1)
    channels_per_partition: int = Field(0, ge=0)  # 0: all selected channels in one partition


class Recipe(_Model):
    name: str
    description: str = ""
    partition: PartitionSpec = PartitionSpec()
    steps: list[StepSpec]
    merge: StepSpec | None = StepSpec(step="merge")  # run once on the driver over all partitions' products

    def build_steps(self) -> list[Step]:
        """The recipe's steps, constructed (parameters validated) in order."""
        return [step_class(spec.step)(spec.params) for spec in self.steps]

    def build_merge(self) -> Step | None:
        return step_class(self.merge.step)(self.merge.params) if self.merge else None

    def time_steps_per_solution(self) -> int:
        """Time steps of the input MS per calibration solution interval (1 if nothing solves)."""
        factor = 1
        for step in self.build_steps():
            solution = step.solution_interval_steps()
            if solution is not None:
                return factor * solution
            factor *= step.time_factor()
        return factor

    def with_params(self, step: str, **params: Any) -> Recipe:
        """A copy with some parameters of one step changed (for re-runs and notebooks)."""
        specs = [StepSpec(step=s.step, params={**s.params, **params}) if s.step == step else s for s in self.steps]
        if not any(s.step == step for s in self.steps):
            raise KeyError(f"recipe {self.name!r} has no step {step!r}")
        return self.model_copy(update={"steps": specs})


def step_class(name: str) -> type[Step]:
    """A registered step, or ``module:Class`` for a step of your own."""
    if name in STEPS:
        return STEPS[name]
    if ":" in name:
        module_name, class_name = name.split(":", 1)
        found = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(found, type) and issubclass(found, Step)):
            raise TypeError(f"{name} is not a batch Step class")
        return found
    raise KeyError(f"unknown step {name!r}: registered steps are {sorted(STEPS)}, or give module:Class")


def load_recipe(name_or_path: str | Path, settings: Settings | None = None) -> Recipe:
    """A recipe from a YAML file, or by name from ``batch.recipe_dir``."""
    path = Path(name_or_path)
    if not path.suffix and settings is not None:
        path = settings.batch.recipe_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in settings.batch.recipe_dir.glob("*.yaml")) if settings else []
        raise FileNotFoundError(f"recipe not found: {path}" + (f" (known recipes: {known})" if known else ""))
    recipe = Recipe.model_validate(yaml.safe_load(path.read_text()))
    recipe.build_steps()  # check every step and parameter now, not on an executor
    return recipe


__all__ = ["PartitionSpec", "Recipe", "StepSpec", "load_recipe", "step_class"]
