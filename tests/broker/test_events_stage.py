"""The events stage on a real Kafka broker and Spark: a burst over several chunks is one event,
across a restart of the query from its checkpoint, and ends with a final revision."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer

from nenubroker.broker.stages import events as events_stage
from nenubroker.client import subscribe
from nenubroker.formats.voevent import validate_voevent
from nenubroker.kafka import client_config, ensure_all_topics
from nenubroker.records.alert import Alert

pytestmark = pytest.mark.integration
T0 = 1.7e9


def _alert(alert_id: str, start_s: float, duration_s: float, f_min_mhz: float, f_max_mhz: float, snr: float) -> Alert:
    return Alert(alert_id=alert_id, beam="beam0", chunk_index=int(start_s // 5), time_peak_unix_s=T0 + start_s + 0.5,
                 time_start_unix_s=T0 + start_s, duration_s=duration_s, freq_peak_hz=f_max_mhz * 0.9e6,
                 freq_min_hz=f_min_mhz * 1e6, freq_max_hz=f_max_mhz * 1e6, drift_hz_per_s=-5e6, snr=snr,
                 peak_power=2.0, class_label="type_iii", class_probabilities={"type_iii": 0.9, "spike": 0.1},
                 classifier="classifier_forest 1.2.0", cutout=bytes(4 * 32 * 32), detector="burst_search",
                 module_versions={"burst_search": "1.1.0"}, nenubroker_version="test", chunk_created_unix_s=T0,
                 kafka_ingest_unix_s=T0, processed_unix_s=T0, source="simulator")


def _send(settings, *alerts: Alert) -> None:
    producer = Producer(client_config(settings.kafka, "producer"))
    for alert in alerts:
        value, headers = alert.encode()
        producer.produce(settings.kafka.topics.alerts, value, key=alert.beam.encode(), headers=headers)
    producer.produce(settings.kafka.topics.alerts, b"not an alert", key=b"beam0",
                     headers=[("schema", b"alert"), ("schema_version", b"2")])
    assert producer.flush(30) == 0


def _events_until(settings, wanted, timeout_s: float = 90.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = list(subscribe([settings.kafka.topics.events], settings, from_beginning=True, idle_timeout_s=3))
        if wanted(events):
            return events
    last = [(e["status"], e["revision"]) for e in events]
    raise AssertionError(f"events never reached the wanted state; last: {last}")


def test_a_burst_over_three_chunks_is_one_event_across_a_restart(spark, settings, raw_values):
    settings = settings.model_copy(update={"events": settings.events.model_copy(update={
        "close_after_s": 45.0, "trigger_interval_s": 0.5})})  # far longer than reading the first event and restarting
    ensure_all_topics(settings)
    _send(settings, _alert("a1", 1.0, 4.4, 25, 70, snr=120))
    query = events_stage.start(spark, settings)
    try:
        new = _events_until(settings, lambda e: len(e) >= 1)[0]
        assert (new["status"], new["revision"], new["first_alert_id"]) == ("new", 1, "a1")
    finally:
        query.stop()  # the driver goes away with one event open in the state store
    _send(settings, _alert("a2", 5.4, 5.0, 20, 32, snr=40), _alert("a3", 10.4, 2.6, 18, 24, snr=15))
    query = events_stage.start(spark, settings)
    try:
        events = _events_until(settings, lambda e: any(x["status"] == "final" for x in e), timeout_s=150)
    finally:
        query.stop()
    assert {e["event_id"] for e in events} == {new["event_id"]}
    assert [e["revision"] for e in events] == list(range(1, len(events) + 1))
    final = events[-1]
    assert (final["status"], final["alert_ids"]) == ("final", ["a1", "a2", "a3"])
    assert final["duration_s"] == pytest.approx(12.0) and final["freq_min_hz"] == 18e6
    voevents = raw_values(settings.kafka.topics.voevents)
    assert len(voevents) == len(events) - 1  # every revision after the first, as an update citing alert a1
    for xml in voevents:
        validate_voevent(xml)
        assert b'cite="supersedes"' in xml and b"#a1</EventIVORN>" in xml
    letters = list(subscribe([settings.kafka.topics.dead_letter], settings, from_beginning=True, idle_timeout_s=3))
    assert [letter["stage"] for letter in letters] == ["events", "events"]  # the junk record, once per send
