"""``nenubroker client``: the alert client's commands, a thin shell over :mod:`nenubroker.client`,
:mod:`nenubroker.client.admin` and :mod:`nenubroker.client.savers`.

Records go to stdout, one line each; everything about the broker (missing topics, connection
trouble, skipped records, the closing summary) goes to stderr, so ``> alerts.txt`` keeps only alerts.
Credentials come from the configuration file or ``NENUBROKER_KAFKA__SECURITY__*`` variables; check
what reached the client with ``nenubroker client config``.

Resuming: ``subscribe --group NAME`` commits positions as records are handled (at-least-once) and
the next ``subscribe --group NAME`` goes on from there; ``lag --group NAME`` says how far behind it is.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nenubroker.conf.settings import Settings, load_settings

if TYPE_CHECKING:
    from nenubroker.client import AlertSelection

app = typer.Typer(help="Read, filter, save and inspect nenubroker alerts.", no_args_is_help=True)


def _option(text: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=text)


ConfigOption = Annotated[Path | None, _option("configuration file (default: conf/nenubroker.yaml)",
                                              "--config")]
TimeoutOption = Annotated[float, _option("seconds to wait for the broker")]
TopicsOption = Annotated[list[str] | None, _option("topic; repeat for several (default: the alerts topic)")]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@app.command("topics")
def topics(timeout: TimeoutOption = 10.0, config: ConfigOption = None) -> None:
    """The configured and filter topics: what they carry, whether they exist yet, how many records."""
    from nenubroker.client.admin import KafkaUnreachable, list_topics

    try:
        infos = list_topics(_settings(config), timeout_s=timeout)
    except KafkaUnreachable as error:
        raise _fail(str(error)) from None
    width = max(len(info.name) for info in infos)
    typer.echo(f"{'topic':<{width}}  on broker  partitions   records  {'type':<14}  description")
    for info in infos:
        typer.echo(f"{info.name:<{width}}  {'yes' if info.exists else 'not yet':<9}  {info.partitions:>10}  "
                   f"{info.messages:>8}  {info.record_type:<14}  {info.description}")


def _selection(class_: list[str] | None, min_snr: float | None, freq_min: float | None,
               freq_max: float | None, time_min: str | None, time_max: str | None) -> AlertSelection:
    from nenubroker.client import AlertSelection, parse_time

    return AlertSelection(
        classes=tuple(class_) if class_ else None, min_snr=min_snr,
        freq_min_hz=None if freq_min is None else freq_min * 1e6,
        freq_max_hz=None if freq_max is None else freq_max * 1e6,
        time_min_unix_s=None if time_min is None else parse_time(time_min),
        time_max_unix_s=None if time_max is None else parse_time(time_max))


@app.command("subscribe")
def subscribe(
    topic: TopicsOption = None,
    from_beginning: Annotated[bool, _option("from the oldest record (--group: if none committed)")] = False,
    start: Annotated[str | None,
                     _option("beginning | latest | stored | ISO 8601 time | unix s", "--from")] = None,
    group: Annotated[str | None,
                     _option("consumer group: commits positions, resumes where it stopped")] = None,
    max_messages: Annotated[int | None, _option("stop after this many records")] = None,
    timeout: Annotated[float | None, _option("stop after this many seconds without a record")] = None,
    class_: Annotated[list[str] | None,
                      _option("keep this class (repeat; 'unclassified')", "--class")] = None,
    min_snr: Annotated[float | None, _option("keep alerts with S/N at least this")] = None,
    freq_min: Annotated[float | None, _option("keep alerts whose band reaches above this (MHz)")] = None,
    freq_max: Annotated[float | None, _option("keep alerts whose band reaches below this (MHz)")] = None,
    time_min: Annotated[str | None, _option("keep alerts ending after this (ISO 8601 or unix s)")] = None,
    time_max: Annotated[str | None, _option("keep alerts starting before this (ISO 8601 or unix s)")] = None,
    save: Annotated[list[str] | None,
                    _option("also save alerts: avro, parquet, voevent, tfcat (repeat)")] = None,
    output: Annotated[Path, _option("folder for saved alerts")] = Path("alerts"),
    role: Annotated[str | None,
                    _option("VOEvent role (default: test for simulated data, else observation)")] = None,
    dedupe: Annotated[bool, _option("drop repeats of an alert id within this session")] = True,
    quiet: Annotated[bool, _option("do not print records (with --save)")] = False,
    connect_timeout: Annotated[float, _option("seconds of broker silence before saying so")] = 10.0,
    config: ConfigOption = None,
) -> None:
    """Print (and save) the records of the topics as they arrive; Ctrl-C stops."""
    from nenubroker import client
    from nenubroker.client.savers import FORMATS, open_saver, session_stamp

    settings = _settings(config)
    if unknown := [fmt for fmt in save or [] if fmt not in FORMATS]:
        raise typer.BadParameter(f"unknown {', '.join(unknown)}; known: {', '.join(FORMATS)}",
                                 param_hint="--save")
    stats = client.SubscribeStats()
    try:
        records = client.subscribe(
            topic or [settings.kafka.topics.alerts], settings, from_beginning=from_beginning, group_id=group,
            max_messages=max_messages, idle_timeout_s=timeout, start=start, dedupe=dedupe, stats=stats,
            selection=_selection(class_, min_snr, freq_min, freq_max, time_min, time_max),
            on_status=lambda text: typer.echo(text, err=True), connect_timeout_s=connect_timeout,
            on_error=lambda m, e: typer.echo(f"skipped {m.topic()}[{m.partition()}]@{m.offset()}: {e}",
                                             err=True))
        stamp = session_stamp()
        savers = {fmt: open_saver(fmt, output, role, stamp) for fmt in dict.fromkeys(save or [])}
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    saved = 0
    try:
        with contextlib.closing(records):
            for record in records:
                if not quiet:
                    typer.echo(client.format_alert(record))
                if savers and "alert_id" in record:
                    for saver in savers.values():
                        saver.write(record)
                    saved += 1
    except KeyboardInterrupt:
        pass
    finally:
        written = {fmt: saver.close() for fmt, saver in savers.items()}
    typer.echo(f"{stats.yielded} records, {stats.duplicates} repeats dropped, {stats.filtered} filtered out, "
               f"{stats.undecodable} undecodable skipped", err=True)
    for fmt, paths in written.items():
        where = paths[0] if len(paths) == 1 else f"{len(paths)} files under {Path(output) / fmt}"
        typer.echo(f"saved {saved} alerts as {fmt}: {where}", err=True)


@app.command("lag")
def lag(
    group: Annotated[str, _option("consumer group")],
    topic: Annotated[list[str] | None, _option("only these topics (default: those it committed on)")] = None,
    timeout: TimeoutOption = 10.0,
    config: ConfigOption = None,
) -> None:
    """How many records a consumer group has not read yet, per partition and in total."""
    from nenubroker.client.admin import KafkaUnreachable, consumer_lag

    try:
        lags = consumer_lag(_settings(config), group, topic or (), timeout_s=timeout)
    except (KafkaUnreachable, ValueError) as error:
        raise _fail(str(error)) from None
    if not lags:
        typer.echo(f"group {group} has no committed positions (a new or unknown group)")
        return
    typer.echo(f"{'topic':<40}  {'partition':>9}  {'committed':>9}  {'end':>9}  {'lag':>9}")
    for entry in lags:
        committed = "-" if entry.committed is None else str(entry.committed)
        typer.echo(f"{entry.topic:<40}  {entry.partition:>9}  {committed:>9}  {entry.end:>9}  {entry.lag:>9}")
    typer.echo(f"total lag of {group}: {sum(entry.lag for entry in lags)}")


@app.command("schema")
def schema(
    name: Annotated[str,
                    typer.Argument(help="record type: alert, dead_letter, spectra_chunk, ...")] = "alert",
    version: Annotated[int | None, _option("schema version (default: the newest)")] = None,
) -> None:
    """Print the Avro schema (JSON) of a record type, as writers of that version use it."""
    from nenubroker.client.admin import schema_json

    try:
        typer.echo(schema_json(name, version))
    except ValueError as error:
        raise _fail(str(error)) from None


@app.command("plot")
def plot(
    alert_id: Annotated[str, typer.Argument(help="the alert's id")],
    file: Annotated[Path | None, _option("an Avro file saved by `subscribe --save avro`")] = None,
    topic: TopicsOption = None,
    output: Annotated[Path | None, _option("PNG to write (default: <alert id>.png)")] = None,
    timeout: Annotated[float, _option("give up after this many seconds without a record")] = 10.0,
    config: ConfigOption = None,
) -> None:
    """Plot an alert's 32 x 32 cutout (time across, frequency up) as a PNG, from a file or a topic."""
    from nenubroker.client.admin import find_alert
    from nenubroker.client.savers import read_avro
    from nenubroker.plots.cutout import plot_cutout

    if file is not None:
        alert = next((r for r in read_avro(file) if r.get("alert_id") == alert_id), None)
        where = str(file)
    else:
        settings = _settings(config)
        topics = topic or [settings.kafka.topics.alerts]
        alert = find_alert(alert_id, topics, settings, timeout_s=timeout)
        where = ", ".join(topics)
    if alert is None:
        raise _fail(f"alert {alert_id} not found in {where}")
    path = output or Path(f"{alert_id}.png")
    plot_cutout(alert, path)
    typer.echo(f"cutout of {alert_id} in {path}")


@app.command("config")
def config_command(config: ConfigOption = None) -> None:
    """The Kafka client settings in effect (file, then NENUBROKER_* variables), password masked."""
    from nenubroker.client.admin import effective_config

    for key, value in effective_config(_settings(config)).items():
        typer.echo(f"{key} = {value}")


__all__ = ["app"]
