"""The edge's trigger listener on the suite's real Kafka broker: triggers in, recordings announced."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import h5py
import pytest
from confluent_kafka import Consumer, Producer

from nenubroker.conf.settings import Settings, SimulatorSettings
from nenubroker.edge.ring_buffer import RingBuffer
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.triggers import TriggerListener
from nenubroker.kafka import client_config, ensure_topics
from nenubroker.records import avro
from nenubroker.records.trigger import Trigger

pytestmark = pytest.mark.integration

START_S = 1.7e9
SIM = SimulatorSettings(
    realtime=False, fftlen=16, nfft2int=64, n_subbands=4, block_spectra=32, event_rates_per_min={}
)


@pytest.fixture
def edge_settings(settings: Settings) -> Settings:
    """The suite's per-test settings (own topics and output folder) with a short padding, topics created."""
    short = settings.model_copy(update={"recording": settings.recording.model_copy(update={"padding_s": 0.2})})
    ensure_topics(short.kafka)
    return short


class Beam:
    def __init__(self, name: str = "beam0") -> None:
        self.simulator = BeamSimulator(name, SIM, start_unix_s=START_S)
        self.buffer = RingBuffer(name, max_duration_s=30.0, max_mb=100.0)

    def until(self, time_unix_s: float) -> None:
        while self.buffer.time_range_unix_s is None or self.buffer.time_range_unix_s[1] < time_unix_s:
            self.buffer.append(self.simulator.next_block()[0])


def send(settings: Settings, messages: list[tuple[bytes | None, bytes, list]]) -> None:
    producer = Producer(client_config(settings.kafka))
    for key, value, headers in messages:
        producer.produce(settings.kafka.topics.triggers, value, key=key, headers=headers)
    assert producer.flush(10) == 0


def trigger_message(trigger_id: str, beam: str, t0: float, t1: float) -> tuple[bytes, bytes, list]:
    trigger = Trigger(
        trigger_id,
        beam,
        START_S + t0,
        START_S + t1,
        20.3e6,
        20.5e6,
        reason="spike snr=11",
        alert_id=f"alert-{trigger_id}",
        created_unix_s=time.time(),
    )
    return (beam.encode(), *trigger.encode())


def poll_until(listener: TriggerListener, n: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    announcements: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(announcements) < n and time.monotonic() < deadline:
        announcements += listener.poll(timeout_s=0.5)
    assert len(announcements) == n, f"{len(announcements)} of {n} announcements after {timeout_s} s"
    return announcements


def read_announcements(
    settings: Settings, n: int, timeout_s: float = 30.0
) -> list[tuple[bytes, dict[str, Any]]]:
    consumer = Consumer(
        client_config(settings.kafka, **{"group.id": "reader", "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([settings.kafka.topics.recordings])
    read: list[tuple[bytes, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(read) < n and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            assert dict(message.headers())["schema_version"] == b"1"
            read.append((message.key(), avro.decode("recording", message.value(), message.headers())))
    finally:
        consumer.close()
    assert len(read) == n, f"{len(read)} of {n} announcements on the recordings topic"
    return read


def test_listener_records_its_beams_triggers_and_reports_bad_ones(edge_settings):
    beam = Beam()
    beam.until(START_S + 3.0)
    bad_headers = [("schema", b"trigger"), ("schema_version", b"1")]
    send(
        edge_settings,
        [
            trigger_message("t1", "beam0", 1.0, 1.5),
            trigger_message("t9", "beam9", 1.0, 1.5),  # another edge's beam
            (b"beam0", b"not avro at all", bad_headers),
            trigger_message("t2", "beam0", 2.0, 2.2),
        ],
    )
    listener = TriggerListener(edge_settings, {"beam0": beam.buffer}, from_beginning=True)
    try:
        made = poll_until(listener, 3)
    finally:
        listener.close()
    by_status = {a["status"]: [] for a in made}
    for announcement in made:
        by_status[announcement["status"]].append(announcement)
    recorded = sorted(by_status["recorded"], key=lambda a: a["trigger_ids"])
    assert [a["trigger_ids"] for a in recorded] == [["t1"], ["t2"]]
    assert [a["alert_ids"] for a in recorded] == [["alert-t1"], ["alert-t2"]]
    for announcement in recorded:
        with h5py.File(announcement["path"]) as f:
            assert f["data"].shape == (announcement["n_time"], announcement["n_freq"])
            assert list(f.attrs["trigger_ids"]) == announcement["trigger_ids"]
    [rejected] = by_status["missed"]
    assert rejected["beam"] == "beam0" and rejected["trigger_ids"] == []
    assert "not a 'trigger' v1 Avro record" in rejected["reason"]
    assert (listener.counts["received"], listener.counts["ignored"], listener.counts["rejected"]) == (4, 1, 1)
    published = read_announcements(edge_settings, 3)
    assert {key for key, _ in published} == {b"beam0"}
    assert sorted((a["recording_id"], a["status"]) for _, a in published) == sorted(
        (a["recording_id"], a["status"]) for a in made
    )


def test_pending_trigger_is_served_when_its_blocks_arrive(edge_settings):
    beam = Beam()
    beam.until(START_S + 0.5)
    send(edge_settings, [trigger_message("t1", "beam0", 1.0, 1.2)])
    listener = TriggerListener(edge_settings, {"beam0": beam.buffer}, from_beginning=True)
    try:
        deadline = time.monotonic() + 30
        while listener.counts["received"] == 0 and time.monotonic() < deadline:
            assert listener.poll(timeout_s=0.5) == []
        assert listener.recorder.n_pending == 1
        beam.until(START_S + 1.4)
        [announcement] = listener.poll()
    finally:
        listener.close()
    assert announcement["status"] == "recorded" and announcement["missing"] == []
    [(key, published)] = read_announcements(edge_settings, 1)
    assert key == b"beam0" and published == announcement


def test_listener_thread_serves_triggers_while_blocks_are_appended(edge_settings):
    beam = Beam()
    beam.until(START_S + 0.5)
    listener = TriggerListener(edge_settings, {"beam0": beam.buffer}, from_beginning=True)
    listener.run_in_thread(interval_s=0.05)
    try:
        send(edge_settings, [trigger_message("t1", "beam0", 2.0, 2.5)])
        deadline = time.monotonic() + 30
        while listener.counts["published"] == 0 and time.monotonic() < deadline:
            if listener.counts["received"]:  # the ingester goes on appending while the trigger waits
                beam.until(beam.buffer.time_range_unix_s[1] + 0.01)
            time.sleep(0.01)
    finally:
        listener.close()
    [(_, announcement)] = read_announcements(edge_settings, 1)
    assert announcement["status"] == "recorded" and announcement["trigger_ids"] == ["t1"]
    assert announcement["time_stop_unix_s"] >= START_S + 2.7 - 1e-5
    assert Path(announcement["path"]).is_file()
