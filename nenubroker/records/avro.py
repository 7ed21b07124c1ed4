"""Avro encoding of nenubroker's Kafka messages, with the schema version in a header.

Messages are schemaless Avro (fastavro): the writer's schema is named by the ``schema`` and
``schema_version`` headers and read from ``conf/schemas/<name>.v<version>.avsc``. A message whose
version this code does not know, or whose bytes do not decode, raises :class:`DecodeError` with a
reason meant for people (it goes to the dead-letter topic verbatim).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import fastavro
import pyarrow as pa

from nenubroker.conf.settings import SCHEMA_DIR

SCHEMA_HEADER = "schema"
VERSION_HEADER = "schema_version"
CONTENT_TYPE = "application/avro"

#: Newest schema version of each message type; writers use it.
CURRENT_VERSIONS = {
    "spectra_chunk": 2, "alert": 2, "dead_letter": 1, "trigger": 1, "recording": 1, "chunk_features": 1,
    "batch_request": 1, "batch_status": 1, "event": 1,
}

Headers = list[tuple[str, bytes]]


class DecodeError(ValueError):
    """A message that cannot be turned into a record; the message says why."""


@cache
def load_schema(name: str, version: int) -> Any:
    path = SCHEMA_DIR / f"{name}.v{version}.avsc"
    if not path.is_file():
        raise DecodeError(f"unknown schema version {version} for '{name}' (no {path.name})")
    return fastavro.parse_schema(fastavro.schema.load_schema(str(path)))


def known_versions(name: str) -> list[int]:
    return sorted(int(p.name.split(".v")[1].split(".")[0]) for p in SCHEMA_DIR.glob(f"{name}.v*.avsc"))


def encode(name: str, record: Mapping[str, Any], version: int | None = None) -> tuple[bytes, Headers]:
    """Avro bytes of ``record`` and the headers that name its schema."""
    version = version or CURRENT_VERSIONS[name]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, load_schema(name, version), dict(record))
    headers = [
        (SCHEMA_HEADER, name.encode()),
        (VERSION_HEADER, str(version).encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    return buffer.getvalue(), headers


def header_value(headers: Iterable[tuple[str, bytes | None]] | None, key: str) -> bytes | None:
    for name, value in headers or ():
        if name == key:
            return value
    return None


def decode(name: str, value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None,
           reader_version: int | None = None, writer_schemas: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record in ``value``, written with the schema version its headers name, read as
    ``reader_version`` (default: the same version).

    Avro schema resolution does the rest: fields the reader does not know are skipped, fields the
    writer did not have take their defaults. A writer version this code has no file for can be
    given in ``writer_schemas`` (``{"alert.v3": schema}``, e.g. from the schema topic).
    """
    if value is None:
        raise DecodeError("empty message (null value)")
    written_as = header_value(headers, SCHEMA_HEADER)
    if written_as is not None and written_as != name.encode():
        raise DecodeError(f"message is a '{written_as.decode(errors='replace')}', expected a '{name}'")
    raw_version = header_value(headers, VERSION_HEADER)
    if raw_version is None:
        raise DecodeError(f"no '{VERSION_HEADER}' header: cannot tell which '{name}' schema wrote it")
    try:
        version = int(raw_version.decode())
    except (UnicodeDecodeError, ValueError):
        raise DecodeError(f"bad '{VERSION_HEADER}' header {raw_version!r}") from None
    known = (writer_schemas or {}).get(f"{name}.v{version}")
    writer = fastavro.parse_schema(known) if known is not None else load_schema(name, version)
    reader = load_schema(name, reader_version) if reader_version else writer
    buffer = io.BytesIO(value)
    try:
        record = fastavro.schemaless_reader(buffer, writer, reader)
    except Exception as error:  # fastavro raises many types on garbage: EOFError, ValueError, ...
        raise DecodeError(f"not a '{name}' v{version} Avro record: {type(error).__name__}: {error}") from None
    if buffer.tell() != len(value):
        raise DecodeError(f"not a '{name}' v{version} Avro record: {len(value) - buffer.tell()} trailing bytes")
    return record


#: Arrow type of each Avro primitive that nenubroker's schemas use.
ARROW_PRIMITIVES = {"string": pa.string(), "long": pa.int64(), "int": pa.int32(), "double": pa.float64(),
                    "float": pa.float32(), "bytes": pa.binary(), "boolean": pa.bool_()}


def arrow_type(avro_type: Any) -> pa.DataType:
    """The Arrow type of an Avro field type: primitives, ``["null", T]`` (as T), maps and arrays.

    >>> arrow_type(["null", {"type": "map", "values": "double"}])
    MapType(map<string, double>)
    """
    if isinstance(avro_type, list):
        [inner] = [t for t in avro_type if t != "null"]
        return arrow_type(inner)
    if isinstance(avro_type, dict) and avro_type["type"] == "map":
        return pa.map_(pa.string(), arrow_type(avro_type["values"]))
    if isinstance(avro_type, dict) and avro_type["type"] == "array":
        return pa.list_(arrow_type(avro_type["items"]))
    return ARROW_PRIMITIVES[avro_type if isinstance(avro_type, str) else avro_type["type"]]


def arrow_schema(name: str, version: int | None = None) -> pa.Schema:
    """The Arrow schema of record type ``name`` (newest version unless ``version``), derived from
    ``conf/schemas/<name>.v<version>.avsc`` so the two never drift; a field is nullable where its
    Avro type admits null, and the metadata names the schema and version.

    >>> arrow_schema("trigger").field("alert_id")
    pyarrow.Field<alert_id: string>
    """
    version = version or CURRENT_VERSIONS[name]
    fields = json.loads((SCHEMA_DIR / f"{name}.v{version}.avsc").read_text())["fields"]
    return pa.schema([pa.field(f["name"], arrow_type(f["type"]),
                               nullable=isinstance(f["type"], list) and "null" in f["type"]) for f in fields],
                     metadata={"nenubroker.schema": name, "nenubroker.schema_version": str(version)})


__all__ = ["ARROW_PRIMITIVES", "CURRENT_VERSIONS", "DecodeError", "Headers", "arrow_schema", "arrow_type", "decode",
           "encode", "header_value", "known_versions", "load_schema"]
