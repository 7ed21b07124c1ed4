"""Kafka client configuration from settings (for confluent-kafka and Spark's connector), topics, schema topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from nenubroker.conf.settings import SCHEMA_DIR, KafkaSettings, Settings

_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


def client_config(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """librdkafka settings: bootstrap, security, then ``extra`` (which wins)."""
    security = kafka.security
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": security.protocol,
    }
    if security.sasl_mechanism:
        config["sasl.mechanism"] = security.sasl_mechanism
        config["sasl.username"] = security.sasl_username or ""
        config["sasl.password"] = security.sasl_password or ""
    if security.ssl_ca_location:
        config["ssl.ca.location"] = security.ssl_ca_location
    config.update(extra)
    return config


def spark_options(kafka: KafkaSettings) -> dict[str, str]:
    """The same settings as ``kafka.``-prefixed options of Spark's Kafka source and sink."""
    security = kafka.security
    options = {
        "kafka.bootstrap.servers": kafka.bootstrap_servers,
        "kafka.security.protocol": security.protocol,
    }
    if security.sasl_mechanism:
        module = _PLAIN_MODULE if security.sasl_mechanism == "PLAIN" else _SCRAM_MODULE
        options["kafka.sasl.mechanism"] = security.sasl_mechanism
        options["kafka.sasl.jaas.config"] = (
            f'{module} required username="{security.sasl_username}" password="{security.sasl_password}";'
        )
    if security.ssl_ca_location:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = security.ssl_ca_location
    return options


def topic_max_bytes(kafka: KafkaSettings, topic: str) -> int:
    """Dead letters carry a whole rejected message plus its story: their topic takes 1 MiB more."""
    return kafka.max_message_bytes + (2**20 if topic == kafka.topics.dead_letter else 0)


def ensure_topics(kafka: KafkaSettings, extra_topics: Sequence[str] = (), timeout_s: float = 30.0) -> list[str]:
    """Create the configured topics (and ``extra_topics``, e.g. filters') that do not exist yet;
    returns the ones it created."""
    admin = AdminClient(client_config(kafka))
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
    for name, future in futures.items():
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
    producer = Producer(client_config(kafka))
    schemas = sorted(SCHEMA_DIR.glob("*.v*.avsc"))
    for path in schemas:
        producer.produce(kafka.topics.schemas, path.read_bytes(), key=path.name.removesuffix(".avsc").encode())
    producer.flush(30)
    return len(schemas)


def fetch_schemas(kafka: KafkaSettings, timeout_s: float = 10.0) -> dict[str, Any]:
    """The schemas published on the schema topic, by ``<name>.v<version>``."""
    consumer = Consumer(client_config(kafka, **{"group.id": f"nenubroker-schemas-{uuid.uuid4().hex[:8]}",
                                                "auto.offset.reset": "earliest", "enable.auto.commit": False,
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


__all__ = ["ensure_all_topics", "fetch_schemas", "publish_schemas", "client_config", "ensure_topics", "spark_options", "topic_max_bytes"]
