"""The rows the detect stage reads and writes: :class:`SourceRecord` as Spark's Kafka source gives
it (defined with the records, since a dead letter keeps one), :class:`OutputMessage` for Spark's
Kafka sink, which sends each to the topic it names.

>>> from nenubroker.records.trigger import Trigger
>>> trigger = Trigger("t1", "beam0", 10.0, 11.0, 20e6, 21e6)
>>> OutputMessage.of("nenubroker.triggers", trigger.beam, trigger).headers[0]
('schema', b'trigger')
"""

from __future__ import annotations

from dataclasses import dataclass

from nenubroker.records import avro
from nenubroker.records.base import AvroRecord, SourceRecord


@dataclass(frozen=True)
class OutputMessage:
    """A row for Spark's Kafka sink: the topic is chosen per message."""

    topic: str
    key: bytes | None
    value: bytes
    headers: avro.Headers

    @classmethod
    def of(cls, topic: str, key: str, record: AvroRecord) -> OutputMessage:
        """``record`` Avro-encoded for ``topic``, keyed by ``key`` (a beam, usually)."""
        value, headers = record.encode()
        return cls(topic, key.encode(), value, headers)


__all__ = ["OutputMessage", "SourceRecord"]
