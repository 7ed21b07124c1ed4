"""Sends spectra chunks to Kafka: Avro value, schema version in the headers, key = beam.

The producer is idempotent (no duplicates on retry) and compressed. When librdkafka's queue is full
``send`` waits for deliveries instead of failing (back-pressure). Every chunk that Kafka did not
acknowledge is counted with its reason: nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from nenubroker.conf.settings import KafkaSettings
from nenubroker.kafka import client_config
from nenubroker.spectra_chunk import SpectraChunk


class ChunkTooLarge(ValueError):
    """An encoded chunk over the topic's message limit: cut chunks shorter."""


@dataclass
class DeliveryReport:
    sent: int = 0
    delivered: int = 0
    bytes_delivered: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    @property
    def pending(self) -> int:
        return self.sent - self.delivered - sum(self.failed.values())


class ChunkProducer:
    def __init__(self, kafka: KafkaSettings, **librdkafka: object):
        self.topic = kafka.topics.chunks
        self.max_message_bytes = kafka.max_message_bytes
        self.report = DeliveryReport()
        self._producer = Producer(client_config(
            kafka,
            **{
                "enable.idempotence": True,
                "compression.type": "zstd",
                "linger.ms": 5,
                "message.max.bytes": kafka.max_message_bytes + 65536,
                "delivery.timeout.ms": 120_000,
            },
            **librdkafka,
        ))

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.report.delivered += 1
            self.report.bytes_delivered += len(message.value() or b"")
        else:
            self.report.failed[error.str()] += 1

    def send(self, chunk: SpectraChunk) -> None:
        value, headers = chunk.encode()
        if len(value) > self.max_message_bytes:
            raise ChunkTooLarge(
                f"chunk {chunk.beam}#{chunk.chunk_index} is {len(value)} bytes, over the "
                f"{self.max_message_bytes}-byte message limit: use shorter chunks")
        while True:
            try:
                self._producer.produce(self.topic, value, key=chunk.beam.encode(), headers=headers,
                                       on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: wait for Kafka to take some (back-pressure)
                self._producer.poll(0.5)
        self.report.sent += 1
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> DeliveryReport:
        self._producer.flush(timeout_s)
        return self.report


__all__ = ["ChunkProducer", "ChunkTooLarge", "DeliveryReport"]
