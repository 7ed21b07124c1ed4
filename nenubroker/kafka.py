"""Kafka client configuration from settings, for confluent-kafka and for Spark's Kafka connector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from nenubroker.conf.settings import KafkaSettings, Settings

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
        NewTopic(name, kafka.partitions, kafka.replication_factor,
                 config={"max.message.bytes": str(topic_max_bytes(kafka, name))})
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
    """The configured topics and every filter's topic."""
    return ensure_topics(settings.kafka, [alert_filter.topic for alert_filter in settings.routing.filters])


__all__ = ["ensure_all_topics", "client_config", "ensure_topics", "spark_options", "topic_max_bytes"]
