"""Every Kafka client builds its librdkafka settings through ``nenubroker.kafka.client_config``:
what each one ends up with, and that the caller's values win over the defaults.

The clients are built with confluent-kafka's classes replaced by stand-ins: no broker is needed.
Keys marked "librdkafka's default" were implicit before ``client_config`` had roles.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest

from nenubroker.client.subscribe import LIBRDKAFKA_LOGGER, consumer_config
from nenubroker.conf.settings import IngestSettings, KafkaSecurity, KafkaSettings, Settings
from nenubroker.kafka import client_config, spark_options

BASE = {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "PLAINTEXT"}
PRODUCER = {**BASE, "enable.idempotence": True, "compression.type": "zstd", "linger.ms": 5,
            "acks": "all"}  # acks: librdkafka's default, and what idempotence needs
SASL = KafkaSettings(bootstrap_servers="broker.example.org:9094", security=KafkaSecurity(
    protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="astro", sasl_password="s3cret",
    ssl_ca_location="/etc/ssl/certs/ca.pem"))


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The configs of the clients made during the test, in order (confluent-kafka's Producer,
    Consumer and AdminClient replaced by stand-ins that keep the config they got)."""
    import nenubroker.batch.requests
    import nenubroker.edge.producer
    import nenubroker.edge.triggers
    import nenubroker.kafka

    configs: list[dict[str, Any]] = []

    def client(config: dict[str, Any]) -> MagicMock:
        configs.append(config)
        return MagicMock(**{"flush.return_value": 0})  # 0: nothing left undelivered

    for module, names in ((nenubroker.edge.producer, ["Producer"]),
                          (nenubroker.edge.triggers, ["Producer", "Consumer"]),
                          (nenubroker.batch.requests, ["Producer"]),
                          (nenubroker.kafka, ["Producer", "Consumer", "AdminClient"])):
        for name in names:
            monkeypatch.setattr(module, name, client)
    return configs


def _anonymous(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without its random group id, once checked to be one."""
    assert config["group.id"].startswith("nenubroker-anonymous-")
    return {k: v for k, v in config.items() if k != "group.id"}


def test_roles_add_their_defaults_to_connection_and_security():
    kafka = KafkaSettings()
    assert client_config(kafka) == BASE
    assert client_config(kafka, "admin") == BASE
    assert client_config(kafka, "producer") == PRODUCER
    assert _anonymous(client_config(kafka, "consumer")) == {
        **BASE, "auto.offset.reset": "latest", "enable.auto.commit": False}


def test_caller_values_win_over_role_defaults_and_settings():
    config = client_config(KafkaSettings(), "producer", {"compression.type": "lz4", "bootstrap.servers": "x:1"},
                           **{"linger.ms": 50})
    assert config == {**PRODUCER, "compression.type": "lz4", "bootstrap.servers": "x:1", "linger.ms": 50}
    assert client_config(SASL, "admin", {"sasl.username": "other"})["sasl.username"] == "other"
    assert client_config(KafkaSettings(), "consumer", {"group.id": "g", "enable.auto.commit": False}) == {
        **BASE, "group.id": "g", "auto.offset.reset": "latest", "enable.auto.commit": False}


def test_named_consumer_group_commits_and_anonymous_one_does_not():
    assert client_config(KafkaSettings(), "consumer", {"group.id": "edge"})["enable.auto.commit"] is True
    first, second = (client_config(KafkaSettings(), "consumer") for _ in range(2))
    assert first["enable.auto.commit"] is False and first["group.id"] != second["group.id"]


def test_security_from_settings_reaches_every_role_and_spark():
    security = {"bootstrap.servers": "broker.example.org:9094", "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "astro", "sasl.password": "s3cret",
                "ssl.ca.location": "/etc/ssl/certs/ca.pem"}
    for role in (None, "admin", "producer", "consumer"):
        config = client_config(SASL, role)
        assert {key: config[key] for key in security} == security
    assert spark_options(SASL) == {
        "kafka.bootstrap.servers": "broker.example.org:9094", "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                                  'username="astro" password="s3cret";',
        "kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": "/etc/ssl/certs/ca.pem"}
    assert spark_options(KafkaSettings()) == {"kafka.bootstrap.servers": "127.0.0.1:9092",
                                              "kafka.security.protocol": "PLAINTEXT"}


def test_subscriber_consumer_stores_only_finished_offsets_and_commits_only_in_a_group():
    settings = Settings()
    subscriber = {**BASE, "auto.offset.reset": "latest", "enable.auto.offset.store": False,
                  "logger": LIBRDKAFKA_LOGGER}
    assert _anonymous(consumer_config(settings)) == {**subscriber, "enable.auto.commit": False}
    assert consumer_config(settings, "mine", "earliest") == {
        **subscriber, "group.id": "mine", "auto.offset.reset": "earliest", "enable.auto.commit": True}


def test_chunk_producer_adds_its_limits_to_the_producer_defaults(made):
    from nenubroker.edge.producer import ChunkProducer

    kafka = KafkaSettings()
    ChunkProducer(kafka, IngestSettings(send_buffer_max_mb=64, send_timeout_s=120), **{"linger.ms": 20})
    assert made == [{**PRODUCER, "linger.ms": 20, "message.max.bytes": kafka.max_message_bytes + 65536,
                     "queue.buffering.max.kbytes": 65536, "delivery.timeout.ms": 120_000}]


def test_trigger_listener_reads_in_its_edge_group_and_announces_with_the_producer_defaults(made, tmp_path):
    from nenubroker.edge.ring_buffer import RingBuffer
    from nenubroker.edge.triggers import TriggerListener

    settings = Settings(recording={"output_dir": str(tmp_path)})
    buffers = {beam: RingBuffer(beam, 10.0, 8.0) for beam in ("beam1", "beam0")}
    TriggerListener(settings, buffers, from_beginning=True)
    assert made == [{**BASE, "group.id": "nenubroker-edge-beam0+beam1", "auto.offset.reset": "earliest",
                     "enable.auto.commit": True},  # librdkafka's default for a group
                    PRODUCER]


def test_batch_requests_and_schemas_are_produced_with_the_producer_defaults(made):
    from nenubroker.batch.requests import report_status, submit
    from nenubroker.kafka import ensure_topics, fetch_schemas, publish_schemas

    settings = Settings()
    submit(settings, "image", 0.0, 1.0)
    report_status(settings, "r1", "done")
    publish_schemas(settings.kafka)
    assert made == [PRODUCER] * 3
    made.clear()
    ensure_topics(settings.kafka)
    fetch_schemas(settings.kafka, timeout_s=0.0)
    assert made[0] == BASE
    assert _anonymous(made[1]) == {**BASE, "auto.offset.reset": "earliest", "enable.partition.eof": True,
                                   "enable.auto.commit": False}
