"""Kill the broker (spark-submit of the detect stage) mid-stream, start it again: no alert lost, none
shown twice to subscribers or in the data lake."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer

from nenubroker.broker.messages import SourceRecord
from nenubroker.broker.processing import ChunkProcessor
from nenubroker.broker.spark import spark_submit_command
from nenubroker.broker.stages import detect, lake
from nenubroker.client import subscribe
from nenubroker.edge.producer import ChunkProducer
from nenubroker.edge.sim.events import InjectedEvent
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.kafka import client_config, ensure_all_topics
from nenubroker.records import avro

pytestmark = pytest.mark.integration
T0 = 1.7e9


def _start_broker(settings, config: Path, log: Path) -> subprocess.Popen:
    command = spark_submit_command(settings, Path(detect.__file__), "--config", str(config))
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _alert_ids(settings, dedupe=True, idle_timeout_s=6.0) -> list[str]:
    return [a["alert_id"] for a in subscribe([settings.kafka.topics.alerts], settings, from_beginning=True,
                                             idle_timeout_s=idle_timeout_s, dedupe=dedupe)]


def test_killed_broker_resumes_without_losing_or_repeating_alerts(spark, settings, tmp_path):
    settings = settings.model_copy(update={"spark": settings.spark.model_copy(
        update={"max_offsets_per_trigger": 1, "trigger_interval_s": 1.0})})  # slow enough to stop mid-way
    ensure_all_topics(settings)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=T0)
    n_chunks = 30
    for i in range(n_chunks):  # one spike in each chunk's own part
        beam.inject(InjectedEvent("spike", "beam0", T0 + 2.5 + 4.03 * i, 22e6 + 1.1e6 * i, snr=3.0,
                                  duration_s=0.25, bandwidth_hz=6e5))
    chunks = [chunk for chunk, _ in zip((c for c, _ in detection_chunks(beam, settings)), range(n_chunks))]
    producer = ChunkProducer(settings.kafka)
    for chunk in chunks:
        producer.send(chunk)
    assert producer.flush().delivered == n_chunks
    expected = set()
    for i, chunk in enumerate(chunks):  # the same modules without Spark: what the alerts must be
        value, headers = chunk.encode()
        record = SourceRecord("chunks", 0, i, b"beam0", value, headers, T0)
        expected |= {avro.decode("alert", m.value, m.headers)["alert_id"]
                     for m in ChunkProcessor(settings).process([record]) if m.topic == settings.kafka.topics.alerts}
    assert len(expected) >= n_chunks - 2

    config = tmp_path / "broker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    log = tmp_path / "broker.log"
    watcher = Consumer(client_config(settings.kafka, **{"group.id": "watcher", "auto.offset.reset": "earliest"}))
    watcher.subscribe([settings.kafka.topics.alerts])
    broker = _start_broker(settings, config, log)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill at the first alert: mid-stream, most chunks not done
        assert broker.poll() is None, log.read_text()[-3000:]
        message = watcher.poll(0.2)
        if message is not None and not message.error():
            break
    os.killpg(broker.pid, signal.SIGKILL)
    watcher.close()
    broker.wait()
    seen_before_restart = set(_alert_ids(settings))
    assert seen_before_restart and seen_before_restart < expected

    broker = _start_broker(settings, config, log)
    while set(_alert_ids(settings, idle_timeout_s=3)) != expected and time.monotonic() < deadline:
        assert broker.poll() is None, log.read_text()[-3000:]
    os.killpg(broker.pid, signal.SIGTERM)
    broker.wait(60)

    delivered = _alert_ids(settings)
    assert set(delivered) == expected and len(delivered) == len(expected)  # nothing lost, nothing shown twice
    for query in lake.start(spark, settings, available_now=True):
        query.awaitTermination()
    rows = spark.read.parquet(str(settings.paths.lake_dir / "alerts")).select("alert_id").collect()
    assert sorted(r.alert_id for r in rows) == sorted(expected)
