"""Fixtures: a real Kafka broker (KRaft, free loopback ports) and a real SparkSession, one each per
test session, and settings that give every test its own topics and checkpoints.
(Which tests are unit, integration or radio: see conftest.py at the repository's root.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nenubroker.apps.jars import resolve_jars
from nenubroker.apps.local_kafka import LocalKafka, free_port
from nenubroker.conf.settings import Settings, Topics, load_settings

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


def _overrides(name: str, tmp_path: Path, cache_dir: Path) -> dict:
    return {
        "kafka": {"topics": {field: f"{name}.{field}" for field in Topics.model_fields}},
        "spark": {"master": "local[2]", "max_offsets_per_trigger": None},
        # 192 subbands at 12 kHz x 21 ms, streamed at 195 kHz x 84 ms: 64 x 192 chunks of 5.4 s
        "simulator": {"realtime": False, "fftlen": 16, "nfft2int": 256, "event_rates_per_min": {}},
        "ingest": {"downsample_time": 4, "downsample_freq": 16, "chunk_time_samples": 64, "ring_buffer_s": 30.0},
        "recording": {"output_dir": str(tmp_path / "recordings")},
        "batch": {"ms_dir": str(tmp_path / "ms"), "work_dir": str(tmp_path / "batch")},
        "paths": {"cache_dir": str(cache_dir), "checkpoint_dir": str(tmp_path / "checkpoints"),
                  "lake_dir": str(tmp_path / "lake"),
                  "run_dir": str(tmp_path / "run")},
    }


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:80]


@pytest.fixture
def offline_settings(request: pytest.FixtureRequest, tmp_path: Path, cache_dir: Path) -> Settings:
    """Settings for a test that needs no Kafka: the suite's small simulated beams."""
    return load_settings(env={}, overrides=_overrides(_test_name(request), tmp_path, cache_dir))


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, kafka: LocalKafka, cache_dir: Path) -> Settings:
    """Settings for one test: its own topics, checkpoints and run folder, on the suite's Kafka."""
    overrides = _overrides(_test_name(request), tmp_path, cache_dir)
    overrides["kafka"]["bootstrap_servers"] = kafka.bootstrap_servers
    overrides["local_kafka"] = kafka.settings.model_dump()
    return load_settings(env={}, overrides=overrides)


@pytest.fixture(scope="session")
def spark(kafka: LocalKafka, cache_dir: Path):
    from nenubroker.broker.spark import get_session

    session = get_session(load_settings(env={}, overrides={
        "spark": {"master": "local[2]"}, "paths": {"cache_dir": str(cache_dir)}}))
    yield session
    session.stop()


@pytest.fixture
def raw_values(settings: Settings):
    """``raw_values(topic)``: the value bytes of every message on a topic of this test (VOEvent XML, say)."""
    from confluent_kafka import Consumer

    from nenubroker.kafka import client_config

    def read(topic: str, idle_timeout_s: float = 5.0) -> list[bytes]:
        consumer = Consumer(client_config(settings.kafka, "consumer", {"auto.offset.reset": "earliest"}))
        consumer.subscribe([topic])
        values, last = [], time.monotonic()
        while time.monotonic() - last < idle_timeout_s:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                values.append(message.value())
                last = time.monotonic()
        consumer.close()
        return values

    return read
