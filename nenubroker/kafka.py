"""Kafka client configuration from settings (for confluent-kafka and Spark's connector), topics, schema topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from nenubroker.conf.settings import SCHEMA_DIR, KafkaSettings, Settings

_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"

Role = Literal["producer", "consumer", "admin"]

#: What each kind of client gets unless its caller says otherwise (librdkafka keys).
ROLE_DEFAULTS: dict[Role, dict[str, Any]] = {
    # No duplicates on retry; zstd, as the chunks are large and compress well.
    "producer": {"enable.idempotence": True, "acks": "all", "compression.type": "zstd", "linger.ms": 5},
    # An anonymous group (see client_config) reading from now on.
    "consumer": {"auto.offset.reset": "latest"},
    "admin": {},
}


def client_config(kafka: KafkaSettings, role: Role | None = None, config: Mapping[str, Any] | None = None,
                  **extra: Any) -> dict[str, Any]:
    """librdkafka settings of one client: ``config`` and ``extra`` (the caller's values) over
    ``role``'s defaults, over the connection and security of ``kafka``.

    As gcn-kafka's ``get_config``: the caller's values win, every default is a ``setdefault``. A
    consumer without a ``group.id`` gets an anonymous group of its own, which never commits (nobody
    resumes it); one with a ``group.id`` commits (librdkafka's own default). Without ``role``: only
    the connection and security, as a bare librdkafka client would have them.

    >>> from nenubroker.conf.settings import KafkaSettings
    >>> config = client_config(KafkaSettings(), "consumer", {"group.id": "mine"})
    >>> config["group.id"], config["enable.auto.commit"], config["auto.offset.reset"]
    ('mine', True, 'latest')
    >>> client_config(KafkaSettings(), "producer", {"linger.ms": 20})["linger.ms"]
    20
    """
    merged: dict[str, Any] = {**(config or {}), **extra}
    if role == "consumer":
        merged.setdefault("enable.auto.commit", "group.id" in merged)
        merged.setdefault("group.id", f"nenubroker-anonymous-{uuid.uuid4().hex[:12]}")
    for key, value in ROLE_DEFAULTS[role].items() if role else ():
        merged.setdefault(key, value)
    security = kafka.security
    merged.setdefault("bootstrap.servers", kafka.bootstrap_servers)
    merged.setdefault("security.protocol", security.protocol)
    if security.sasl_mechanism:
        merged.setdefault("sasl.mechanism", security.sasl_mechanism)
        merged.setdefault("sasl.username", security.sasl_username or "")
        merged.setdefault("sasl.password", security.sasl_password or "")
    if security.ssl_ca_location:
        merged.setdefault("ssl.ca.location", security.ssl_ca_location)
    return merged


def spark_options(kafka: KafkaSettings) -> dict[str, str]:
    """The connection and security of :func:`client_config`, as ``kafka.``-prefixed options of
    Spark's Kafka source and sink (a JAAS line for SASL, a PEM truststore for the CA)."""
    config = client_config(kafka)
    options = {"kafka.bootstrap.servers": config["bootstrap.servers"],
               "kafka.security.protocol": config["security.protocol"]}
    if "sasl.mechanism" in config:
        module = _PLAIN_MODULE if config["sasl.mechanism"] == "PLAIN" else _SCRAM_MODULE
        options["kafka.sasl.mechanism"] = config["sasl.mechanism"]
        options["kafka.sasl.jaas.config"] = (
            f'{module} required username="{config["sasl.username"]}" password="{config["sasl.password"]}";')
    if "ssl.ca.location" in config:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = config["ssl.ca.location"]
    return options


def topic_max_bytes(kafka: KafkaSettings, topic: str) -> int:
    """Dead letters carry a whole rejected message plus its story: their topic takes 1 MiB more."""
    return kafka.max_message_bytes + (2**20 if topic == kafka.topics.dead_letter else 0)


def ensure_topics(kafka: KafkaSettings, extra_topics: Sequence[str] = (), timeout_s: float = 30.0) -> list[str]:
    """Create the configured topics (and ``extra_topics``, e.g. filters') that do not exist yet;
    returns the ones it created."""
    admin = AdminClient(client_config(kafka, "admin"))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = list(dict.fromkeys([*kafka.topics.model_dump().values(), *extra_topics]))
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics([
        NewTopic(name, 1 if name == kafka.topics.schemas else kafka.partitions, kafka.replication_factor,
                 config={"max.message.bytes": str(topic_max_bytes(kafka, name)),
                         **({"cleanup.policy": "compact"} if name == kafka.topics.schemas else {})})
        for name in missing
    ])
    for future in futures.values():
        try:
            future.result(timeout_s)
        except KafkaException as error:
            if error.args[0].code() != error.args[0].TOPIC_ALREADY_EXISTS:
                raise
    return missing


def ensure_all_topics(settings: Settings) -> list[str]:
    """The configured topics and every filter's topic; the schemas published on the schema topic."""
    created = ensure_topics(settings.kafka, [alert_filter.topic for alert_filter in settings.routing.filters])
    publish_schemas(settings.kafka)
    return created


def publish_schemas(kafka: KafkaSettings) -> int:
    """Every Avro schema in conf/schemas on the (compacted) schema topic, key ``<name>.v<version>``,
    so a client older than a message can still read it."""
    producer = Producer(client_config(kafka, "producer"))
    schemas = sorted(SCHEMA_DIR.glob("*.v*.avsc"))
    for path in schemas:
        producer.produce(kafka.topics.schemas, path.read_bytes(), key=path.name.removesuffix(".avsc").encode())
    producer.flush(30)
    return len(schemas)


def fetch_schemas(kafka: KafkaSettings, timeout_s: float = 10.0) -> dict[str, Any]:
    """The schemas published on the schema topic, by ``<name>.v<version>``."""
    consumer = Consumer(client_config(kafka, "consumer", {"auto.offset.reset": "earliest",
                                                          "enable.partition.eof": True}))
    consumer.subscribe([kafka.topics.schemas])
    schemas: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                break
            continue
        schemas[message.key().decode()] = json.loads(message.value())
    consumer.close()
    return schemas


__all__ = ["ROLE_DEFAULTS", "Role", "client_config", "ensure_all_topics", "ensure_topics", "fetch_schemas",
           "publish_schemas", "spark_options", "topic_max_bytes"]
