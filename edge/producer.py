"""Sends spectra chunks to Kafka: Avro value, schema version in the headers, key = beam.

The producer is idempotent (no duplicates on retry) and zstd-compressed (the producer defaults of
:func:`nenubroker.kafka.client_config`). While Kafka is slow or
unreachable, librdkafka keeps up to ``send_buffer_max_mb`` of chunks and retries them for
``send_timeout_s``; when that buffer is full, ``send`` waits (back-pressure) up to one more
``send_block_s`` and then drops the chunk. Every chunk that did not reach Kafka is listed in the
report with its beam, index and reason: nothing is dropped silently.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from confluent_kafka import KafkaError, Message, Producer

from nenubroker.conf.settings import IngestSettings, KafkaSettings
from nenubroker.kafka import client_config
from nenubroker.records.chunk import SpectraChunk


class ChunkTooLarge(ValueError):
    """An encoded chunk over the topic's message limit: cut chunks shorter."""


@dataclass
class DeliveryReport:
    sent: int = 0
    delivered: int = 0
    bytes_delivered: int = 0
    dropped: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def failed(self) -> Counter[str]:
        """Dropped chunks counted by reason."""
        return Counter(reason for _, _, reason in self.dropped)

    @property
    def pending(self) -> int:
        return self.sent - self.delivered - len(self.dropped)


class ChunkProducer:
    def __init__(self, kafka: KafkaSettings, ingest: IngestSettings | None = None, send_block_s: float = 5.0,
                 **librdkafka: object):
        ingest = ingest or IngestSettings()
        self.topic = kafka.topics.chunks
        self.max_message_bytes = kafka.max_message_bytes
        self.send_block_s = send_block_s
        self.report = DeliveryReport()
        self._producer = Producer(client_config(kafka, "producer", {
            "message.max.bytes": kafka.max_message_bytes + 65536,
            "queue.buffering.max.kbytes": int(ingest.send_buffer_max_mb * 1024),
            "delivery.timeout.ms": int(ingest.send_timeout_s * 1000),
            **librdkafka,
        }))

    def _on_delivery(self, beam: str, chunk_index: int, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.report.delivered += 1
            self.report.bytes_delivered += len(message.value() or b"")
        else:
            self.report.dropped.append((beam, chunk_index, f"not delivered: {error.str()}"))

    def send(self, chunk: SpectraChunk) -> bool:
        """Queue ``chunk``; False if it had to be dropped (it is then in the report)."""
        value, headers = chunk.encode()
        if len(value) > self.max_message_bytes:
            raise ChunkTooLarge(
                f"chunk {chunk.beam}#{chunk.chunk_index} is {len(value)} bytes, over the "
                f"{self.max_message_bytes}-byte message limit: use shorter chunks")
        self.report.sent += 1
        give_up = time.monotonic() + self.send_block_s
        while True:
            try:
                self._producer.produce(self.topic, value, key=chunk.beam.encode(), headers=headers,
                                       on_delivery=partial(self._on_delivery, chunk.beam, chunk.chunk_index))
                break
            except BufferError:  # the local buffer is full: wait for Kafka to take some (back-pressure)
                if time.monotonic() > give_up:
                    self.report.dropped.append(
                        (chunk.beam, chunk.chunk_index, "send buffer full: Kafka too slow or unreachable"))
                    return False
                self._producer.poll(0.1)
        self._producer.poll(0)
        return True

    def poll(self) -> None:
        """Serve delivery reports without waiting."""
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> DeliveryReport:
        self._producer.flush(timeout_s)
        return self.report


__all__ = ["ChunkProducer", "ChunkTooLarge", "DeliveryReport"]
