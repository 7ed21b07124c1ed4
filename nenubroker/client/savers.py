"""Save alerts a subscriber received: Avro, Parquet, VOEvent, TFCat.

Each saver writes exactly the alerts given to it, once each: the subscriber drops repeats by
``alert_id`` before they get here, VOEvent files are named by alert id and TFCat catalogues merge by
id, so a resumed session never doubles a packet or a feature. Avro and Parquet files are one per
session (``alerts-<UTC time>.avro``), so a re-run never overwrites an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol, cast

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

from nenubroker import __version__
from nenubroker.conf.settings import SCHEMA_DIR
from nenubroker.formats.tfcat import write_night_catalogues
from nenubroker.formats.voevent import ROLES, alert_to_voevent, role_for_source, write_voevent
from nenubroker.records import avro

FORMATS = ("avro", "parquet", "voevent", "tfcat")


class AlertSaver(Protocol):
    """Takes alerts one at a time; ``close`` finishes the files and returns their paths."""

    def write(self, alert: Mapping[str, Any]) -> None: ...

    def close(self) -> list[Path]: ...


def _alert_schema_version() -> int:
    return avro.CURRENT_VERSIONS["alert"]


@cache
def _alert_fields(version: int | None = None) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = json.loads(
        (SCHEMA_DIR / f"alert.v{version or _alert_schema_version()}.avsc").read_text())["fields"]
    return fields


def as_current(alert: Mapping[str, Any]) -> dict[str, Any]:
    """``alert`` with the newest schema's defaults for fields an older writer did not have, so one
    file holds alerts of every version (Avro schema resolution, done before writing)."""
    return {**_alert_defaults(_alert_schema_version()), **alert}


@cache
def _alert_defaults(version: int) -> dict[str, Any]:
    return {f["name"]: f["default"] for f in _alert_fields(version) if "default" in f}


class AvroSaver:
    """An Avro object container file carrying its writer schema (``alert`` vN), readable anywhere."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        version = _alert_schema_version()
        self._writer = fastavro.write.Writer(self._file, avro.load_schema("alert", version), codec="deflate",
                                             metadata={"nenubroker.schema": "alert",
                                                       "nenubroker.schema_version": str(version),
                                                       "nenubroker.version": __version__})

    def write(self, alert: Mapping[str, Any]) -> None:
        self._writer.write(as_current(alert))

    def close(self) -> list[Path]:
        self._writer.flush()
        self._file.close()
        return [self.path]


class ParquetSaver:
    """A Parquet file of alerts, written in row groups of ``batch_rows`` so memory stays flat."""

    def __init__(self, path: Path | str, batch_rows: int = 2000):
        self.path, self.batch_rows = Path(path), batch_rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = avro.arrow_schema("alert")
        self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, alert: Mapping[str, Any]) -> None:
        self._rows.append(as_current(alert))
        if len(self._rows) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def close(self) -> list[Path]:
        self._flush()
        self._writer.close()
        return [self.path]


def voevent_role(alert: Mapping[str, Any], role: str | None = None) -> str:
    """``role`` if given, else from the alert's ``source`` (``test`` for simulated data; alert v2 has
    it), else ``observation`` (alert v1 does not say where its data came from)."""
    chosen = role or role_for_source(str(alert.get("source") or ""))
    if chosen not in ROLES:
        raise ValueError(f"role {chosen!r} is not one of {', '.join(ROLES)}")
    return chosen


class VOEventSaver:
    """One validated VOEvent 2.0 file per alert, ``<directory>/<alert_id>.xml``, with the beam
    pointing as position when the alert carries it; ``role`` as :func:`voevent_role` decides."""

    def __init__(self, directory: Path | str, role: str | None = None):
        if role is not None:
            voevent_role({}, role)
        self.directory, self.role, self._paths = Path(directory), role, dict[str, Path]()

    def write(self, alert: Mapping[str, Any]) -> None:
        pointing = {k: alert[k] for k in ("pointing_ra_deg", "pointing_dec_deg") if alert.get(k) is not None}
        xml = alert_to_voevent(alert, role=voevent_role(alert, self.role),
                               **(pointing if len(pointing) == 2 else {}))
        self._paths[alert["alert_id"]] = write_voevent(xml, self.directory)

    def close(self) -> list[Path]:
        return sorted(self._paths.values())


class TFCatSaver:
    """TFCat catalogues per UTC night and beam under ``directory``, merged by alert id with what is there.

    Alerts are written every ``flush_every`` and at close, so a long session keeps the files current.
    """

    def __init__(self, directory: Path | str, flush_every: int = 500):
        self.directory, self.flush_every = Path(directory), flush_every
        self._pending: list[Mapping[str, Any]] = []
        self._paths: set[Path] = set()

    def write(self, alert: Mapping[str, Any]) -> None:
        self._pending.append(alert)
        if len(self._pending) >= self.flush_every:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._paths.update(write_night_catalogues(self._pending, self.directory))
            self._pending = []

    def close(self) -> list[Path]:
        self._flush()
        return sorted(self._paths)


def session_stamp() -> str:
    """``YYYYmmddTHHMMSSZ`` of now, naming one session's files."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def open_saver(fmt: str, output_dir: Path | str, role: str | None = None,
               stamp: str | None = None) -> AlertSaver:
    """The saver of ``fmt`` writing under ``output_dir`` (files: ``alerts-<stamp>.avro|parquet``,
    folders: ``voevent/``, ``tfcat/``)."""
    output_dir, stamp = Path(output_dir), stamp or session_stamp()
    if fmt == "avro":
        return AvroSaver(output_dir / f"alerts-{stamp}.avro")
    if fmt == "parquet":
        return ParquetSaver(output_dir / f"alerts-{stamp}.parquet")
    if fmt == "voevent":
        return VOEventSaver(output_dir / "voevent", role)
    if fmt == "tfcat":
        return TFCatSaver(output_dir / "tfcat")
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def save_alerts(alerts: Iterable[Mapping[str, Any]], formats: Sequence[str], output_dir: Path | str,
                role: str | None = None) -> dict[str, list[Path]]:
    """Write ``alerts`` in every format of ``formats``; returns the paths written per format.

    Records that are not alerts (dead letters) are skipped. Works on :func:`nenubroker.client.subscribe`
    directly, so alerts are written as they arrive.
    """
    savers = {fmt: open_saver(fmt, output_dir, role) for fmt in dict.fromkeys(formats)}
    try:
        for alert in alerts:
            if "alert_id" in alert and "cutout" in alert:
                for saver in savers.values():
                    saver.write(alert)
    finally:
        paths = {fmt: saver.close() for fmt, saver in savers.items()}
    return paths


def read_avro(path: Path | str) -> list[dict[str, Any]]:
    """The records of an Avro container file (one saved by :class:`AvroSaver`, say)."""
    with Path(path).open("rb") as handle:
        return [cast(dict[str, Any], record) for record in fastavro.reader(handle)]


__all__ = [
    "FORMATS",
    "AlertSaver",
    "AvroSaver",
    "ParquetSaver",
    "TFCatSaver",
    "VOEventSaver",
    "as_current",
    "open_saver",
    "read_avro",
    "save_alerts",
    "session_stamp",
    "voevent_role",
]
