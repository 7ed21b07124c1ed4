"""``nenubroker batch …``: Measurement Sets, recipes, runs, requests and provenance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from nenubroker.client.cli import ConfigOption
from nenubroker.conf.settings import load_settings

app = typer.Typer(help="Batch: partition Measurement Sets, flag, calibrate and image them on Spark.",
                  no_args_is_help=True)
JOB_SCRIPT = Path(__file__).with_name("spark_job.py")


@app.command("generate-ms")
def generate_ms_command(
    path: Annotated[Path, typer.Argument(help="the Measurement Set to write (a folder ending in .ms)")],
    antennas: Annotated[int, typer.Option(help="core mini-arrays")] = 24,
    times: Annotated[int, typer.Option(help="integrations")] = 60,
    time_step_s: Annotated[float, typer.Option(help="integration time")] = 10.0,
    subbands: Annotated[int, typer.Option(help="195.3 kHz subbands")] = 4,
    channels_per_subband: Annotated[int, typer.Option()] = 4,
    first_subband: Annotated[int, typer.Option(help="subband n is centred at n x 195.3125 kHz")] = 300,
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Simulate a NenuFAR Measurement Set (known sky, gains, noise, RFI); truth and sky model beside it."""
    from nenubroker.batch.generate import generate_ms

    truth = generate_ms(path, n_antennas=antennas, n_times=times, time_step_s=time_step_s, n_subbands=subbands,
                        channels_per_subband=channels_per_subband, first_subband=first_subband, seed=seed)
    typer.echo(f"{path}: {len(truth.sources)} sources, truth in {path}.truth.json, sky model in {path}.skymodel")


@app.command("plan")
def plan_command(
    recipe: Annotated[str, typer.Option(help="recipe name (conf/recipes/) or file")],
    ms: Annotated[Path, typer.Option(help="the Measurement Set")],
    config: ConfigOption = None,
) -> None:
    """Show how a recipe cuts a Measurement Set into partitions."""
    from nenubroker.batch.pipeline import Pipeline
    from nenubroker.batch.recipe import load_recipe

    settings = load_settings(config)
    pipeline = Pipeline(load_recipe(recipe, settings), ms, settings.batch.work_dir)
    for part in pipeline.plan():
        typer.echo(f"{part.name}: rows {part.row_start}-{part.row_stop} ({part.n_times} times), channels "
                   f"{part.chan_start}-{part.chan_stop} "
                   f"({part.freq_min_hz / 1e6:.3f}-{part.freq_max_hz / 1e6:.3f} MHz)")


@app.command("run")
def run_command(
    recipe: Annotated[str, typer.Option(help="recipe name (conf/recipes/) or file")],
    ms: Annotated[Path, typer.Option(help="the Measurement Set")],
    work_dir: Annotated[Path | None, typer.Option(help="products folder (default batch.work_dir)")] = None,
    start: Annotated[float | None, typer.Option(help="time window start, unix s")] = None,
    stop: Annotated[float | None, typer.Option(help="time window stop, unix s")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="STEP.PARAM=VALUE, repeatable")] = [],  # noqa: B006
    submit: Annotated[
        bool, typer.Option(help="through spark-submit (batch.spark_master) instead of in-process")
    ] = False,
    master: Annotated[str | None, typer.Option(help="Spark master, e.g. spark://127.0.0.1:7077")] = None,
    config: ConfigOption = None,
) -> None:
    """Run a recipe over a Measurement Set on Spark; progress per partition and step, then the merge."""
    from nenubroker.batch.spark_job import batch_settings, main

    args = ["--recipe", recipe, "--ms", str(ms.resolve())]
    args += ["--work-dir", str(work_dir.resolve())] if work_dir else []
    args += ["--config", str(config.resolve())] if config else []
    if start is not None or stop is not None:
        args += ["--time-window-unix-s", str(start or 0.0), str(stop or 1e12)]
    for assignment in set_:
        args += ["--set", assignment]
    if not submit:
        raise typer.Exit(main(args + (["--master", master] if master else [])))
    from nenubroker.broker.spark import spark_submit_command

    settings = batch_settings(load_settings(config), master)
    raise typer.Exit(subprocess.call(spark_submit_command(settings, JOB_SCRIPT, *args)))


@app.command("serve")
def serve_command(
    once: Annotated[bool, typer.Option(help="stop when no request came for --idle-s seconds")] = False,
    idle_s: Annotated[float, typer.Option(help="with --once")] = 15.0,
    config: ConfigOption = None,
) -> None:
    """Run batch requests from the broker (or people) as they arrive, reporting their status."""
    from nenubroker.batch.service import serve
    from nenubroker.batch.spark_job import batch_settings
    from nenubroker.broker.spark import get_session
    from nenubroker.kafka import ensure_all_topics

    settings = batch_settings(load_settings(config))
    ensure_all_topics(settings)
    handled = serve(settings, get_session(settings), idle_timeout_s=idle_s if once else None)
    typer.echo(f"handled {handled} requests")


@app.command("provenance")
def provenance_command(
    product: Annotated[Path, typer.Argument(help="a product (MS, H5parm, FITS) made by a recipe")],
    json_output: Annotated[bool, typer.Option("--json", help="the PROV-JSON document itself")] = False,
) -> None:
    """What made a product: step, parameters, software, inputs with checksums, times, host."""
    import json

    from nenubroker.batch import provenance

    typer.echo(json.dumps(provenance.load(product), indent=1) if json_output else provenance.describe(product))


@app.command("request")
def request_command(
    start: Annotated[float, typer.Option(help="window start, unix s")],
    stop: Annotated[float, typer.Option(help="window stop, unix s")],
    recipe: Annotated[str, typer.Option(help="batch recipe name")] = "image_window",
    freq_min_hz: Annotated[float, typer.Option()] = 0.0,
    freq_max_hz: Annotated[float, typer.Option()] = 1e9,
    reason: Annotated[str, typer.Option(help="why, for the record")] = "",
    config: ConfigOption = None,
) -> None:
    """Request a batch recipe over a time window (durable on the batch-requests topic)."""
    from nenubroker.batch.requests import submit
    from nenubroker.kafka import ensure_all_topics

    settings = load_settings(config)
    ensure_all_topics(settings)
    typer.echo(submit(settings, recipe, start, stop, freq_min_hz, freq_max_hz, reason=reason))


@app.command("status")
def status_command(config: ConfigOption = None) -> None:
    """Every batch request with its latest status and products."""
    from nenubroker.batch.requests import list_requests

    for request in list_requests(load_settings(config)):
        typer.echo(f"{request['request_id']:<40} {request['status']:<9} {request['recipe']:<14} "
                   f"{request['time_start_unix_s']:.1f}-{request['time_stop_unix_s']:.1f}  {request['detail']}")
        for product in request["products"]:
            typer.echo(f"    {product}")


if __name__ == "__main__":
    sys.exit(app())
