"""Fixtures: a real Kafka broker (KRaft, free loopback ports) and a real SparkSession, one each per
test session, and settings that give every test its own topics and checkpoints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from nenubroker.conf.settings import Settings, load_settings
from nenubroker.local.jars import resolve_jars
from nenubroker.local.kafka_server import LocalKafka, free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return REPO / ".cache"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[LocalKafka]:
    settings = load_settings(env={}, overrides={
        "local_kafka": {"port": free_port(), "controller_port": free_port()}})
    node = LocalKafka(settings.local_kafka, tmp_path_factory.mktemp("kafka"),
                      resolve_jars("kafka-broker", cache_dir), max_message_bytes=10 * 2**20)
    with node:
        yield node


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, kafka: LocalKafka, cache_dir: Path) -> Settings:
    """Settings for one test: its own topics, checkpoints and run folder, on the suite's Kafka."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:80]
    return load_settings(env={}, overrides={
        "kafka": {
            "bootstrap_servers": kafka.bootstrap_servers,
            "topics": {"chunks": f"{name}.chunks", "alerts": f"{name}.alerts", "dead_letter": f"{name}.dlq"},
        },
        "local_kafka": kafka.settings.model_dump(),
        "spark": {"master": "local[2]", "max_offsets_per_trigger": None},
        "simulator": {"realtime": False, "bursts_per_minute": 0.0},
        "paths": {"cache_dir": str(cache_dir), "checkpoint_dir": str(tmp_path / "checkpoints"),
                  "run_dir": str(tmp_path / "run")},
    })


@pytest.fixture(scope="session")
def spark(kafka: LocalKafka, cache_dir: Path):
    from nenubroker.broker.spark import get_session

    session = get_session(load_settings(env={}, overrides={
        "spark": {"master": "local[2]"}, "paths": {"cache_dir": str(cache_dir)}}))
    yield session
    session.stop()
