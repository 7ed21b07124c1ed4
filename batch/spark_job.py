"""Run a recipe over a Measurement Set as one Spark job (the spark-submit entry point).

    spark-submit --master spark://127.0.0.1:7077 batch/spark_job.py --recipe image_window --ms obs.ms

``nenubroker batch run`` runs the same job in-process, or with ``--submit`` through spark-submit.
Exit status 0 when every partition finished, 1 when some failed (the others are still merged).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nenubroker.conf.settings import Settings, load_settings


def batch_settings(settings: Settings, master: str | None = None) -> Settings:
    """The settings a batch job runs with: its own master (``batch.spark_master``) and app name."""
    spark = {"master": master or settings.batch.spark_master or settings.spark.master,
             "app_name": f"{settings.spark.app_name}-batch"}
    return settings.model_copy(update={"spark": settings.spark.model_copy(update=spark)})


def parse_assignments(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """``step.param=value`` strings (values as YAML scalars) -> {step: {param: value}}."""
    import yaml

    changes: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        target, _, raw = assignment.partition("=")
        step, _, param = target.partition(".")
        if not (step and param and raw):
            raise ValueError(f"expected step.param=value, got {assignment!r}")
        changes.setdefault(step, {})[param] = yaml.safe_load(raw)
    return changes


def run_job(settings: Settings, recipe_name: str, ms: Path, work_dir: Path | None = None,
            time_window_unix_s: tuple[float, float] | None = None,
            freq_window_hz: tuple[float, float] | None = None, changes: dict[str, dict[str, Any]] | None = None):
    """Plan, run on the active (or a new) Spark session, merge; returns the run report."""
    from nenubroker.batch.pipeline import Pipeline
    from nenubroker.batch.recipe import load_recipe
    from nenubroker.batch.runner import run_partitions
    from nenubroker.broker.spark import get_session

    recipe = load_recipe(recipe_name, settings)
    for step, params in (changes or {}).items():
        recipe = recipe.with_params(step, **params)
    pipeline = Pipeline(recipe, ms, work_dir or settings.batch.work_dir, settings.batch.max_attempts)
    partitions = pipeline.plan(time_window_unix_s, freq_window_hz)
    return run_partitions(pipeline, partitions, get_session(settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, help="recipe name (conf/recipes/) or YAML file")
    parser.add_argument("--ms", required=True, type=Path, help="the Measurement Set")
    parser.add_argument("--work-dir", type=Path, help="products folder (default batch.work_dir)")
    parser.add_argument("--config", help="configuration file")
    parser.add_argument("--master", help="Spark master (default batch.spark_master, then spark.master); "
                        "under spark-submit, its own --master")
    parser.add_argument("--time-window-unix-s", nargs=2, type=float, metavar=("START", "STOP"))
    parser.add_argument("--freq-window-hz", nargs=2, type=float, metavar=("MIN", "MAX"))
    parser.add_argument("--set", action="append", default=[], metavar="STEP.PARAM=VALUE",
                        help="change a step parameter of the recipe (repeatable)")
    args = parser.parse_args(argv)
    settings = batch_settings(load_settings(args.config), args.master)
    report = run_job(settings, args.recipe, args.ms, args.work_dir,
                     tuple(args.time_window_unix_s) if args.time_window_unix_s else None,
                     tuple(args.freq_window_hz) if args.freq_window_hz else None, parse_assignments(args.set))
    print(f"{len(report.results) - len(report.failed)}/{len(report.results)} partitions done in "
          f"{report.seconds:.1f} s; report {report.run_dir / 'report.json'}")
    for kind, path in report.merged.items():
        print(f"merged {kind}: {path}")
    for failed in report.failed:
        print(f"FAILED {failed.partition.name} after {failed.attempts} attempts: {failed.error}\n{failed.log}",
              file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
