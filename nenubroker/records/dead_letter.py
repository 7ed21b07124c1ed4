"""The dead letter: a record a stage could not use, kept whole with the reason
(``conf/schemas/dead_letter.v1.avsc``), so nothing is lost silently.

>>> source = SourceRecord(topic="chunks", partition=0, offset=42, key=b"beam0", value=b"junk",
...                       headers=[("schema_version", b"1"), ("empty", None)])
>>> letter = DeadLetter.of(source, "detect", "not Avro", rejected_unix_s=1.7e9)
>>> letter.source_headers, DeadLetter.decode(*letter.encode()) == letter
({'schema_version': b'1', 'empty': b''}, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from nenubroker.records.base import AvroRecord, SourceRecord


@dataclass(frozen=True)
class DeadLetter(AvroRecord):
    """The rejected record's place, key, headers and value, and why ``stage`` rejected it."""

    SCHEMA = "dead_letter"

    stage: str
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: bytes | None
    source_headers: dict[str, bytes]
    source_value: bytes | None
    rejected_unix_s: float

    @classmethod
    def of(cls, record: SourceRecord, stage: str, reason: str, rejected_unix_s: float) -> DeadLetter:
        """The dead letter of ``record``; headers without a value are kept as empty bytes."""
        return cls(stage=stage, reason=reason, source_topic=record.topic, source_partition=record.partition,
                   source_offset=record.offset, source_key=record.key,
                   source_headers={k: v or b"" for k, v in record.headers}, source_value=record.value,
                   rejected_unix_s=rejected_unix_s)


__all__ = ["DeadLetter"]
