"""What every record on a topic shares: a typed record's fields are its Avro schema's, so dict and
bytes round-trips are written once here; a :class:`SourceRecord` is a message as read from a topic.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Status(AvroRecord):
...     SCHEMA = "batch_status"
...     request_id: str
...     status: str
...     detail: str
...     products: list
...     updated_unix_s: float
>>> status = Status("r1", "done", "", ["cube.fits"], 1.7e9)
>>> Status.decode(*status.encode()) == status
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Self

from nenubroker.records import avro


class AvroRecord:
    """Mixin for a dataclass whose fields are those of the Avro schema named ``SCHEMA``."""

    SCHEMA: ClassVar[str]

    def to_record(self) -> dict[str, Any]:
        """The Avro record: one entry per field."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Self:
        """The record's fields; those an older writer lacked take the dataclass defaults."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})  # type: ignore[arg-type]

    def encode(self) -> tuple[bytes, avro.Headers]:
        """Avro bytes and the headers that name the schema (newest version)."""
        return avro.encode(self.SCHEMA, self.to_record())

    @classmethod
    def decode(cls, value: bytes | None, headers: Any) -> Self:
        """The record in a message; raises :class:`~nenubroker.records.avro.DecodeError` with the reason."""
        return cls.from_record(avro.decode(cls.SCHEMA, value, headers))


@dataclass(frozen=True)
class SourceRecord:
    """A message as read from a topic (by Spark's Kafka source or a consumer): where it was, its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    kafka_timestamp_unix_s: float = 0.0


__all__ = ["AvroRecord", "SourceRecord"]
