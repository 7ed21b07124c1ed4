"""The detect stage on a real SparkSession against the suite's real Kafka broker."""

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import yaml
from confluent_kafka import Producer

from nenubroker.broker.stages import detect
from nenubroker.client import subscribe
from nenubroker.conf.settings import AlertFilter
from nenubroker.edge.producer import ChunkProducer
from nenubroker.edge.sim.events import InjectedEvent
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.formats.voevent import validate_voevent
from nenubroker.kafka import client_config, ensure_all_topics, ensure_topics
from nenubroker.records import avro

pytestmark = pytest.mark.integration
T0 = 1.7e9


def run_detect(spark, settings) -> None:
    """One bounded run of the stage: everything on the topic, then stop."""
    query = detect.start(spark, settings, available_now=True)
    query.awaitTermination()
    assert query.exception() is None


def read_topic(settings, topic, idle_timeout_s=6.0) -> list[dict]:
    return list(subscribe([topic], settings, from_beginning=True, idle_timeout_s=idle_timeout_s))


def simulated_chunks(settings, beam_name, events=()):
    beam = BeamSimulator(beam_name, settings.simulator, start_unix_s=T0)
    for event in events:
        beam.inject(event)
    return (chunk for chunk, _ in detection_chunks(beam, settings))


def send_chunks(settings, beam_name, n_chunks, events=()):
    producer = ChunkProducer(settings.kafka)
    chunks = [chunk for chunk, _ in zip(simulated_chunks(settings, beam_name, events), range(n_chunks))]
    for chunk in chunks:
        producer.send(chunk)
    assert producer.flush().delivered == n_chunks
    return chunks


def test_injected_burst_becomes_one_alert_with_its_beam_time_and_frequency(spark, settings, raw_values):
    spikes_topic = settings.kafka.topics.alerts + ".spikes"
    settings = settings.model_copy(update={"routing": settings.routing.model_copy(update={"filters": [
        AlertFilter(name="spikes", topic=spikes_topic, expression="class_label == 'spike'")]})})
    ensure_all_topics(settings)
    spike = InjectedEvent("spike", "beam1", T0 + 3.0, 47e6, snr=3.0, duration_s=0.25, bandwidth_hz=8e5)
    chunks = send_chunks(settings, "beam1", 2, [spike])  # chunk 0 holds the spike, chunk 1 is noise
    run_detect(spark, settings)
    [alert] = read_topic(settings, settings.kafka.topics.alerts)
    channel_hz = chunks[0].freq_hz[1] - chunks[0].freq_hz[0]
    assert alert["beam"] == "beam1" and alert["chunk_index"] == 0
    assert abs(alert["time_peak_unix_s"] - (T0 + 3.125)) <= 2 * chunks[0].time_step_s
    assert abs(alert["freq_peak_hz"] - 47e6) <= 2 * channel_hz
    assert alert["detector"] == "burst_search"
    assert set(alert["module_versions"]) == {"gain_steps", "rfi_flagger", "burst_search", "burst_features",
                                             "classifier_forest"}
    assert alert["class_label"] == "spike" and alert["classifier"].startswith("classifier_forest")
    assert sum(alert["class_probabilities"].values()) == pytest.approx(1.0)
    assert alert["processed_unix_s"] >= alert["kafka_ingest_unix_s"] > 0
    assert read_topic(settings, settings.kafka.topics.dead_letter, idle_timeout_s=2) == []
    assert [a["alert_id"] for a in read_topic(settings, spikes_topic)] == [alert["alert_id"]]  # the filter's topic
    [packet] = raw_values(settings.kafka.topics.voevents)
    validate_voevent(packet.decode())  # valid VOEvent 2.0, citing the alert, role "test" (simulated data)
    assert f"#{alert['alert_id']}" in packet.decode() and 'role="test"' in packet.decode()


def test_bad_records_go_to_the_dead_letter_topic_and_the_stream_goes_on(spark, settings):
    ensure_topics(settings.kafka)
    good = next(simulated_chunks(settings, "beam0"))
    value, headers = good.encode()
    short = avro.encode("spectra_chunk", {**good.to_record(), "data": good.to_record()["data"][:1000]})
    producer = Producer(client_config(settings.kafka))
    bad = {
        "not avro": (b"\x07not avro at all", headers),
        "unknown version": (value, [("schema", b"spectra_chunk"), ("schema_version", b"42")]),
        "wrong length": short,
        "all NaN": replace(good, data=np.full_like(good.data, np.nan)).encode(),
    }
    for name, (bad_value, bad_headers) in bad.items():
        producer.produce(settings.kafka.topics.chunks, bad_value, key=name.encode(), headers=bad_headers)
    producer.flush(10)
    spike = InjectedEvent("spike", "beam0", T0 + 1.0, 50e6, snr=3.0, duration_s=0.25, bandwidth_hz=1e6)
    send_chunks(settings, "beam0", 1, [spike])  # after the bad ones, on the same topic
    run_detect(spark, settings)
    dead_letters = read_topic(settings, settings.kafka.topics.dead_letter)
    letters = {letter["source_key"].decode(): letter for letter in dead_letters}
    assert set(letters) == set(bad)
    assert "Avro record" in letters["not avro"]["reason"]
    assert "unknown schema version 42" in letters["unknown version"]["reason"]
    assert "data holds 1000 bytes" in letters["wrong length"]["reason"]
    assert "NaN" in letters["all NaN"]["reason"]
    assert all(letters[name]["source_value"] == bad[name][0] for name in bad)
    [alert] = read_topic(settings, settings.kafka.topics.alerts)
    assert alert["beam"] == "beam0" and abs(alert["freq_peak_hz"] - 50e6) < 1e6


def test_restart_resumes_from_the_checkpoint_without_duplicates(spark, settings):
    ensure_topics(settings.kafka)
    events = [InjectedEvent("spike", "beam0", T0 + 2.0 + 4.0 * i, 40e6 + 5e6 * i, snr=3.0,  # one per 4.03 s stride
                            duration_s=0.25, bandwidth_hz=8e5) for i in range(3)]
    chunks = simulated_chunks(settings, "beam0", events)
    producer = ChunkProducer(settings.kafka)
    producer.send(next(chunks))
    producer.send(next(chunks))
    producer.flush()
    run_detect(spark, settings)
    assert len(read_topic(settings, settings.kafka.topics.alerts)) == 2
    producer.send(next(chunks))
    producer.flush()
    run_detect(spark, settings)  # a new query on the same checkpoint: only the new chunk
    alerts = read_topic(settings, settings.kafka.topics.alerts)
    assert sorted(a["chunk_index"] for a in alerts) == [0, 1, 2]
    assert len({a["alert_id"] for a in alerts}) == 3


def test_subscriber_command_prints_the_alerts_the_broker_wrote(spark, settings, tmp_path):
    ensure_topics(settings.kafka)
    spike = InjectedEvent("spike", "beam0", T0 + 1.0, 33e6, snr=3.0, duration_s=0.25, bandwidth_hz=6e5)
    send_chunks(settings, "beam0", 1, [spike])
    run_detect(spark, settings)
    [alert] = read_topic(settings, settings.kafka.topics.alerts)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    result = subprocess.run(
        [sys.executable, "-m", "nenubroker.cli", "client", "subscribe", "--topic", settings.kafka.topics.alerts,
         "--from-beginning", "--timeout", "5"],
        capture_output=True, text=True, env={**os.environ, "NENUBROKER_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert alert["alert_id"] in line and "beam0" in line and "33." in line
