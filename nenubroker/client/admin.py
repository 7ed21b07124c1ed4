"""What a subscriber asks the broker about, rather than reads from it: topics, lag, schemas, settings.

Each call waits a bounded time for the broker and raises :class:`KafkaUnreachable`
("cannot reach Kafka at host:port (N s): reason") rather than hanging or failing obscurely.

>>> json.loads(schema_json("alert"))["name"]
'Alert'
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata

from nenubroker.client.subscribe import LIBRDKAFKA_LOGGER, consumer_config, subscribe
from nenubroker.conf.settings import SCHEMA_DIR, Settings
from nenubroker.kafka import client_config
from nenubroker.records import avro

#: What each configured topic carries, keyed like ``kafka.topics``: (description, record type).
TOPIC_ROLES = {
    "chunks": ("edge -> broker: detection chunks of each beam's dynamic spectrum", "spectra_chunk"),
    "alerts": ("broker -> subscribers: every burst alert", "alert"),
    "events": ("events stage -> subscribers: one event per burst, however long (new, update, final)", "event"),
    "dead_letter": ("records the broker could not use, with the reason", "dead_letter"),
    "triggers": ("broker -> edge: windows to record at full resolution", "trigger"),
    "recordings": ("edge -> all: a recording was written, or a trigger missed", "recording"),
    "chunk_features": ("broker -> lake: what was measured on every chunk", "chunk_features"),
}
_SECRET_KEYS = ("sasl.password",)


class KafkaUnreachable(RuntimeError):
    """The broker did not answer within the bounded wait; the message names it and says how long."""


@dataclass(frozen=True)
class TopicInfo:
    """A topic a subscriber may read; ``partitions`` and ``messages`` are 0 when it does not exist."""

    name: str
    description: str
    record_type: str
    exists: bool
    partitions: int = 0
    messages: int = 0


@dataclass(frozen=True)
class PartitionLag:
    """How far a group is behind on one partition; ``committed`` is None where it never committed."""

    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int


def _unreachable(settings: Settings, timeout_s: float, error: KafkaException) -> KafkaUnreachable:
    return KafkaUnreachable(f"cannot reach Kafka at {settings.kafka.bootstrap_servers} ({timeout_s:.0f} s): "
                            f"{error.args[0].str()}")


@contextlib.contextmanager
def _probe(settings: Settings, timeout_s: float) -> Iterator[tuple[Consumer, ClusterMetadata]]:
    """An anonymous consumer that never joins its group (for watermarks), and the broker's metadata;
    :class:`KafkaUnreachable` if the broker does not answer within ``timeout_s``."""
    consumer = Consumer(consumer_config(settings))
    try:
        try:
            metadata = consumer.list_topics(timeout=timeout_s)
        except KafkaException as error:
            raise _unreachable(settings, timeout_s, error) from None
        yield consumer, metadata
    finally:
        consumer.close()


def configured_topics(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, description, record type) of the configured topics, then of each routing filter's."""
    topics = [(name, *TOPIC_ROLES.get(key, ("", "alert")))
              for key, name in settings.kafka.topics.model_dump().items()]
    topics += [(f.topic, f"alerts of filter '{f.name}'" + (f": {f.description}" if f.description else ""),
                "alert") for f in settings.routing.filters]
    return list({name: (name, text, kind) for name, text, kind in topics}.values())


def list_topics(settings: Settings, timeout_s: float = 10.0) -> list[TopicInfo]:
    """Every topic a subscriber may want, whether it exists on the broker, and how many records it keeps.

    ``messages`` is the sum over partitions of the high minus the low watermark: the records still
    kept (retention removes old ones).
    """
    with _probe(settings, timeout_s) as (consumer, metadata):
        infos = []
        for name, description, kind in configured_topics(settings):
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                infos.append(TopicInfo(name, description, kind, exists=False))
                continue
            kept = 0
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout_s)
                kept += high - low
            infos.append(TopicInfo(name, description, kind, True, len(topic.partitions), kept))
        return infos


def consumer_lag(settings: Settings, group_id: str, topics: Sequence[str] = (),
                 timeout_s: float = 10.0) -> list[PartitionLag]:
    """Per-partition lag of ``group_id``: end offset minus its committed position.

    Without ``topics``, the partitions the group has committed on; with them, every partition of
    those topics (a partition never committed counts all its kept records as lag). A topic that
    does not exist raises ``ValueError``; an unreachable broker :class:`KafkaUnreachable`.
    """
    admin = AdminClient(client_config(settings.kafka, "admin", logger=LIBRDKAFKA_LOGGER))
    with _probe(settings, timeout_s) as (consumer, metadata):
        if missing := [t for t in topics if t not in metadata.topics]:
            raise ValueError(f"topic {', '.join(missing)} does not exist on Kafka at "
                             f"{settings.kafka.bootstrap_servers}")
        wanted = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)] or None
        request = ConsumerGroupTopicPartitions(group_id, wanted)
        try:
            futures = admin.list_consumer_group_offsets([request], request_timeout=timeout_s)
            answer = futures[group_id].result(timeout_s)
        except KafkaException as error:
            raise _unreachable(settings, timeout_s, error) from None
        lags = []
        for tp in sorted(answer.topic_partitions or [], key=lambda tp: (tp.topic, tp.partition)):
            low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout_s)
            committed = tp.offset if tp.offset >= 0 else None
            lags.append(PartitionLag(tp.topic, tp.partition, committed, high,
                                     max(0, high - (committed if committed is not None else low))))
        return lags


def find_alert(alert_id: str, topics: Sequence[str], settings: Settings | None = None,
               timeout_s: float = 10.0) -> dict[str, Any] | None:
    """The alert with ``alert_id``, read from the start of ``topics``; None after ``timeout_s`` idle.

    For plotting or saving one alert someone quoted; a full scan, so meant for short retention.
    """
    with contextlib.closing(subscribe(topics, settings, start="earliest", idle_timeout_s=timeout_s,
                                      dedupe=False)) as records:
        for record in records:
            if record.get("alert_id") == alert_id:
                return record
    return None


def schema_json(name: str = "alert", version: int | None = None) -> str:
    """The Avro schema (JSON text) of record type ``name``, its newest version unless ``version``.

    This is the writer's schema of messages whose ``schema_version`` header is that version.
    """
    versions = avro.known_versions(name)
    if not versions:
        known = sorted({p.name.split(".v")[0] for p in SCHEMA_DIR.glob("*.v*.avsc")})
        raise ValueError(f"no schema for record type {name!r}; known: {', '.join(known)}")
    chosen = version or versions[-1]
    if chosen not in versions:
        raise ValueError(f"{name!r} has no version {chosen}; known: {', '.join(map(str, versions))}")
    return json.dumps(json.loads((SCHEMA_DIR / f"{name}.v{chosen}.avsc").read_text()), indent=2)


def effective_config(settings: Settings) -> dict[str, Any]:
    """The librdkafka settings a subscriber would use, secrets masked: to check credentials reached it."""
    config = {k: v for k, v in consumer_config(settings).items()
              if isinstance(v, (str, int, float, bool)) and k != "group.id"}
    return {k: ("***" if k in _SECRET_KEYS and v else v) for k, v in config.items()}


__all__ = [
    "TOPIC_ROLES",
    "KafkaUnreachable",
    "PartitionLag",
    "TopicInfo",
    "configured_topics",
    "consumer_lag",
    "effective_config",
    "find_alert",
    "list_topics",
    "schema_json",
]
