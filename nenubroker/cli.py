"""The ``nenubroker`` command: a thin shell over the library, one sub-command per part."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nenubroker.batch.cli import app as batch_app
from nenubroker.client.cli import app as client_app
from nenubroker.conf.settings import Settings, load_settings

if TYPE_CHECKING:
    from nenubroker.edge.ingest import VolumeReport
    from nenubroker.edge.producer import DeliveryReport

app = typer.Typer(help="nenubroker: real-time transient broker for NenuFAR.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
kafka_app = typer.Typer(help="The local single-node Kafka (KRaft).", no_args_is_help=True)
edge_app = typer.Typer(help="Edge ingesters: stream dynamic spectra to Kafka.", no_args_is_help=True)
broker_app = typer.Typer(help="Spark streaming stages.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
app.add_typer(edge_app, name="edge")
app.add_typer(broker_app, name="broker")
app.add_typer(client_app, name="client")  # nenubroker/client/cli.py
module_app = typer.Typer(help="Science modules (udfs/ and installed plugins).", no_args_is_help=True)
app.add_typer(module_app, name="module")
app.add_typer(batch_app, name="batch")  # batch/cli.py
cluster_app = typer.Typer(help="A standalone Spark cluster on this machine.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="configuration file (default conf/nenubroker.yaml)")
]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


@app.command()
def setup(config: ConfigOption = None) -> None:
    """Resolve the Java dependencies (Kafka broker, Spark Kafka connector) into the cache."""
    from nenubroker.apps.jars import JAR_SETS, resolve_jars

    settings = _settings(config)
    for jar_set in JAR_SETS:
        folder = resolve_jars(jar_set, settings.paths.cache_dir)
        typer.echo(f"{jar_set}: {len(list(folder.glob('*.jar')))} jars in {folder}")


@app.command()
def demo(
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: until Ctrl-C)")] = None,
    fresh: Annotated[bool, typer.Option(help="start from empty Kafka data and checkpoints")] = False,
    config: ConfigOption = None,
) -> None:
    """The whole pipeline on this machine: Kafka, simulated beams, the Spark broker, alerts as they come."""
    from nenubroker.apps.demo import run_demo

    raise typer.Exit(run_demo(_settings(config), duration_s=duration, fresh=fresh))


@kafka_app.command("start")
def kafka_start(config: ConfigOption = None) -> None:
    """Run the local Kafka node in the foreground (Ctrl-C stops it) and create the topics."""
    from nenubroker.apps.demo import local_kafka
    from nenubroker.kafka import ensure_all_topics

    settings = _settings(config)
    with local_kafka(settings) as kafka:
        ensure_all_topics(settings)
        typer.echo(f"Kafka listening on {kafka.bootstrap_servers}; logs in {kafka.log_file}. Ctrl-C stops it.")
        try:
            while kafka.process is not None and kafka.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


def _stream_beams(settings: Settings, stream: Callable[[], tuple[DeliveryReport, VolumeReport]]) -> None:
    """Create the topics, log to stderr, run ``stream`` until it ends (or Ctrl-C), then print what
    it delivered; exit code 1 if any chunk was dropped."""
    from nenubroker.kafka import ensure_all_topics

    ensure_all_topics(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        report, volume = stream()
    except KeyboardInterrupt:
        return
    typer.echo(f"sent {report.sent} chunks, delivered {report.delivered} ({report.bytes_delivered / 1e6:.1f} MB), "
               f"dropped {len(report.dropped)} {dict(report.failed)}")
    for beam, chunk_index, reason in report.dropped:
        typer.echo(f"  dropped {beam}#{chunk_index}: {reason}", err=True)
    typer.echo(f"volume: {volume.summary()}")
    if report.dropped:
        raise typer.Exit(1)


@edge_app.command("simulate")
def edge_simulate(
    duration: Annotated[float | None, typer.Option(help="seconds to stream (default: forever)")] = None,
    max_chunks: Annotated[int | None, typer.Option(help="detection chunks per beam, then stop")] = None,
    truth: Annotated[Path | None, typer.Option(help="append injected events (JSON lines) to this file")] = None,
    config: ConfigOption = None,
) -> None:
    """Stream simulated beams: detection chunks to Kafka, full resolution to the ring buffers."""
    from nenubroker.edge.sim.stream import stream_simulated_beams

    settings = _settings(config)
    _stream_beams(settings, lambda: stream_simulated_beams(settings, duration_s=duration, max_chunks=max_chunks,
                                                           truth_path=truth))


@edge_app.command("ingest")
def edge_ingest(
    path: Annotated[Path, typer.Argument(help="NenuFAR .spectra file, or e-CALLISTO FITS (.fit, .fit.gz, .fits)")],
    beam: Annotated[str, typer.Option(help="beam name for the stream (the Kafka key)")] = "beam0",
    follow: Annotated[bool, typer.Option(help="keep reading as the file grows, as at the telescope")] = False,
    idle_timeout: Annotated[float, typer.Option(help="with --follow: stop after this long without new data")] = 60.0,
    config: ConfigOption = None,
) -> None:
    """Stream a .spectra file (or follow one being written) or an e-CALLISTO FITS file like a live beam.

    FITS files use the ingest.callisto settings. A bad file is refused in one line, before anything is sent.
    """
    from nenubroker.edge.callisto_file import CallistoFileError
    from nenubroker.edge.ingest import Ingester, describe_file, file_blocks, run_ingest, settings_for_file
    from nenubroker.edge.spectra_file import SpectraFileError

    settings = settings_for_file(_settings(config), path)
    try:
        typer.echo(f"reading {describe_file(path, follow=follow, callisto=settings.ingest.callisto)}", err=True)
    except (OSError, ValueError) as error:  # missing, unreadable, garbled (Spectra/CallistoFileError), --follow FITS
        typer.echo(f"nenubroker edge ingest: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        _stream_beams(settings, lambda: run_ingest(
            settings, file_blocks(path, beam, follow=follow, idle_timeout_s=idle_timeout,
                                  callisto=settings.ingest.callisto),
            Ingester.with_recording(settings, [beam])))
    except (SpectraFileError, CallistoFileError) as error:  # garbage further on in a file
        typer.echo(f"nenubroker edge ingest: {error}", err=True)
        raise typer.Exit(2) from None


AvailableNowOption = Annotated[bool, typer.Option(help="process what is on the topic, then stop")]


def _stage_arguments(config: Path | None, available_now: bool) -> list[str]:
    return (["--config", str(config)] if config else []) + (["--available-now"] if available_now else [])


@broker_app.command("detect")
def broker_detect(available_now: AvailableNowOption = False, config: ConfigOption = None) -> None:
    """Run the detect stage (chunks -> alerts) in this process."""
    from nenubroker.broker.stages.detect import main

    main(_stage_arguments(config, available_now))


@broker_app.command("events")
def broker_events(available_now: AvailableNowOption = False, config: ConfigOption = None) -> None:
    """Run the events stage (alerts -> one event per burst: new, updates, final) in this process."""
    from nenubroker.broker.stages.events import main

    main(_stage_arguments(config, available_now))


@module_app.command("list")
def module_list() -> None:
    """The modules found, with level, version, inputs and outputs."""
    from nenubroker.udfs.registry import discover

    for module in discover().values():
        typer.echo(f"{module.name} {module.version} [{module.level}] - {module.description}")
        typer.echo(f"    inputs: {', '.join(module.inputs)}")
        typer.echo(f"    outputs: {', '.join(module.output_names)}")


@module_app.command("test")
def module_test(
    module: Annotated[str, typer.Argument(help="module name (see `nenubroker module list`)")],
    source: Annotated[Path | None, typer.Argument(help="Parquet chunk file; default: simulated chunks")] = None,
    chunks: Annotated[int, typer.Option(help="simulated chunks")] = 6,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 1,
    plot: Annotated[Path, typer.Option(help="PNG of the chunks with the candidates")] = Path("module-test.png"),
    config: ConfigOption = None,
) -> None:
    """Run one module (after what it needs) on a file or simulated data; print and plot its output."""
    import pandas as pd

    from nenubroker.apps import module_tool
    from nenubroker.plots.spectra import plot_chunks
    from nenubroker.udfs.registry import discover

    settings = _settings(config)
    data = module_tool.chunks_from_parquet(source) if source else module_tool.simulated_chunks(settings, chunks, seed)
    chunk_frame, candidates = module_tool.run_module(module, data, settings)
    target = discover()[module]
    shown = pd.DataFrame(chunk_frame[target.output_names]) if target.level == "chunk" else candidates
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        typer.echo(shown.drop(columns=[c for c in ("cutout", "rfi_mask", "gain_db") if c in shown.columns]).to_string())
    label = next((c for c in target.output_names if c.endswith("_label")), None)
    plot_chunks(data, candidates, label, plot)
    typer.echo(f"{len(data)} chunks, {len(candidates)} candidates; plot in {plot}")


@app.command()
def train(
    kind: Annotated[str, typer.Argument(help="forest (scikit-learn on features) or cnn (torch on cutouts + features)")],
    hours: Annotated[float, typer.Option(help="hours of simulated beam to train on (the shipped models: 4)")] = 4.0,
    test_hours: Annotated[float, typer.Option(help="held-out hours (seed + 1000) for the evaluation")] = 1.0,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 1,
    detector: Annotated[str, typer.Option(help="detector module that makes the candidates")] = "burst_search",
    out_dir: Annotated[Path | None, typer.Option(help="where to write the model (default: the module folder)")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="keep the simulated sets here (shared by forest and cnn)")
    ] = None,
    epochs: Annotated[int, typer.Option(help="cnn: training epochs (the shipped model: 20)")] = 20,
) -> None:
    """Train a classifier on simulated data with a truth catalogue; prints its held-out confusion matrix."""
    from nenubroker.udfs.training.train import main

    result = main(kind, hours=hours, seed=seed, detector=detector, out_dir=out_dir, test_hours=test_hours,
                  epochs=epochs, cache_dir=cache_dir)
    typer.echo(f"{kind} {result['version']}: trained on {result['n_train']} candidates in {result['train_s']:.0f} s "
               f"(simulation {result['simulate_s']:.0f} s); held out {result['n_test']}: macro-F1 "
               f"{result['macro_f1']:.3f}, accuracy {result['accuracy']:.3f}")
    typer.echo("confusion matrix (rows: true class, columns: predicted):")
    typer.echo(result["confusion"].to_string())


@cluster_app.command("start")
def cluster_start(config: ConfigOption = None) -> None:
    """Start a standalone Spark cluster (master + workers) on loopback in the background."""
    from nenubroker.apps.local_spark import LocalSparkCluster

    settings = _settings(config)
    cluster = LocalSparkCluster(settings.batch.cluster, settings.paths.run_dir / "spark-cluster").start()
    cluster.processes = []  # leave them running; `nenubroker cluster stop` ends them
    typer.echo(f"Spark master {cluster.master_url} with {settings.batch.cluster.workers} workers; "
               f"UI http://{settings.batch.cluster.host}:{settings.batch.cluster.master_webui_port}; "
               f"logs in {cluster.work_dir}")


@cluster_app.command("stop")
def cluster_stop(config: ConfigOption = None) -> None:
    """Stop the cluster that `nenubroker cluster start` started."""
    from nenubroker.apps.local_spark import LocalSparkCluster

    settings = _settings(config)
    LocalSparkCluster(settings.batch.cluster, settings.paths.run_dir / "spark-cluster").stop()
    typer.echo("stopped")


if __name__ == "__main__":
    app()
