"""Joining a beam's alerts into events (broker/tracking.py), without Spark."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from nenubroker.broker.tracking import EventTracker, event_messages, tracker_event_id
from nenubroker.conf.settings import EventsSettings
from nenubroker.formats.voevent import alert_ivorn, validate_voevent
from nenubroker.records import avro

T0 = 1.7e9


def _alert(alert_id: str, start_s: float, duration_s: float, f_min_mhz: float, f_max_mhz: float,
           label: str = "type_iii", snr: float = 30.0, drift_mhz_per_s: float = -5.0, beam: str = "beam0") -> dict:
    return {"alert_id": alert_id, "beam": beam, "time_start_unix_s": T0 + start_s, "duration_s": duration_s,
            "time_peak_unix_s": T0 + start_s + duration_s / 3, "freq_min_hz": f_min_mhz * 1e6,
            "freq_max_hz": f_max_mhz * 1e6, "freq_peak_hz": (f_min_mhz + 0.7 * (f_max_mhz - f_min_mhz)) * 1e6,
            "drift_hz_per_s": drift_mhz_per_s * 1e6, "snr": snr, "class_label": label,
            "class_probabilities": {label: 0.8, "other": 0.2}, "source": "simulator", "detector": "burst_search",
            "module_versions": {"burst_search": "1.1.0"}, "nenubroker_version": "0.1.0", "chunk_index": 0,
            "chunk_created_unix_s": T0, "kafka_ingest_unix_s": T0, "peak_power": 1.0}


def _type_iii_in_three_chunks() -> list[dict]:
    """A 12 s type III as the detect stage sees it: the drifting head, then its decay lower down."""
    return [_alert("a1", 1.0, 4.4, 25, 70, snr=120), _alert("a2", 5.4, 5.0, 20, 32, snr=40, label="type_iiib"),
            _alert("a3", 10.4, 2.6, 18, 24, snr=15)]


def test_a_burst_longer_than_a_chunk_is_one_event_new_then_updates_then_final():
    tracker = EventTracker(EventsSettings(close_after_s=10))
    seen = [tracker.add([alert], now_unix_s=100.0 + i) for i, alert in enumerate(_type_iii_in_three_chunks())]
    assert [[(e.status, e.revision) for e in step] for step in seen] == [[("new", 1)], [("update", 2)],
                                                                          [("update", 3)]]
    assert tracker.close_expired(now_unix_s=105.0) == []  # 3 s after the last alert: still open
    [final] = tracker.close_expired(now_unix_s=112.0)
    assert (final.status, final.revision, final.n_alerts) == ("final", 4, 3)
    assert final.event_id == tracker_event_id("beam0", "a1") == seen[0][0].event_id
    assert final.duration_s == pytest.approx(12.0)
    assert (final.freq_min_hz, final.freq_max_hz) == (18e6, 70e6)
    assert final.class_label == "type_iii"  # S/N-weighted over its alerts, not the last fragment's label
    assert final.snr == 120 and final.drift_hz_per_s < 0
    assert tracker.open_events == []


def test_a_five_minute_type_ii_is_one_event():
    tracker = EventTracker(EventsSettings())
    alerts = [_alert(f"ii{k}", 5.0 * k, 5.0, 40 - 0.1 * 5 * k, 44 - 0.1 * 5 * k, label="type_ii",
                     drift_mhz_per_s=-0.1) for k in range(60)]  # -0.1 MHz/s for 300 s
    for k, alert in enumerate(alerts):
        tracker.add([alert], now_unix_s=100.0 + 5 * k)
    [event] = tracker.close_all()
    assert event.n_alerts == 60 and event.duration_s == pytest.approx(300.0)
    assert event.drift_hz_per_s == pytest.approx(-0.1e6, rel=0.05)


def test_short_bursts_and_other_bands_are_events_of_their_own():
    tracker = EventTracker(EventsSettings())
    changed = tracker.add([_alert("s1", 1.0, 0.2, 40.0, 40.5, label="spike"),
                           _alert("s2", 1.5, 0.2, 40.1, 40.6, label="spike"),
                           _alert("t1", 1.0, 4.0, 60, 80), _alert("t2", 1.2, 4.0, 20, 25),
                           _alert("b1", 1.0, 4.0, 60, 80, beam="beam1")], now_unix_s=100.0)
    assert sorted(e.first_alert_id for e in changed) == ["b1", "s1", "s2", "t1", "t2"]
    assert all(e.status == "new" for e in changed)


def test_a_replayed_alert_changes_nothing_and_state_survives_a_round_trip():
    settings = EventsSettings()
    tracker = EventTracker(settings)
    first, second, _ = _type_iii_in_three_chunks()
    tracker.add([first, second], now_unix_s=100.0)
    restored = EventTracker.from_state(settings, tracker.state())
    assert restored.open_events == tracker.open_events
    assert restored.add([second], now_unix_s=101.0) == []
    [event] = restored.open_events
    assert event.alert_ids == ("a1", "a2")


def test_alerts_arriving_together_make_one_revision():
    tracker = EventTracker(EventsSettings())
    first, second, third = _type_iii_in_three_chunks()
    tracker.add([first], now_unix_s=100.0)
    [event] = tracker.add([second, third], now_unix_s=101.0)
    assert (event.status, event.revision, event.n_alerts) == ("update", 2, 3)
    assert tracker.add([first, second, third], now_unix_s=102.0) == []  # a replay changes nothing
    assert tracker.open_events[0].revision == 2


def test_open_events_are_bounded_per_beam():
    tracker = EventTracker(EventsSettings(max_open_per_beam=2))
    changed = tracker.add([_alert(f"x{k}", 10.0 * k, 1.0, 30 + 5 * k, 31 + 5 * k) for k in range(3)], 100.0)
    assert [e.status for e in changed].count("final") == 1 and len(tracker.open_events) == 2


def test_event_messages_carry_the_record_and_a_voevent_update_citing_the_first_alert(offline_settings):
    tracker = EventTracker(offline_settings.events)
    new = tracker.add([_type_iii_in_three_chunks()[0]], 100.0)
    grown = tracker.add([_type_iii_in_three_chunks()[1]], 101.0)
    topics = offline_settings.kafka.topics
    assert [m.topic for m in event_messages(new, offline_settings)] == [topics.events]
    record_message, voevent_message = event_messages(grown, offline_settings)
    record = avro.decode("event", record_message.value, record_message.headers)
    assert (record["status"], record["revision"], record["alert_ids"]) == ("update", 2, ["a1", "a2"])
    validate_voevent(voevent_message.value)
    root = ET.fromstring(voevent_message.value)
    assert root.get("ivorn").endswith("#a1-v2")
    cited = root.find("Citations/EventIVORN")
    assert cited.text == alert_ivorn("a1") and cited.get("cite") == "supersedes"


def test_the_client_prints_an_event_on_one_line():
    from nenubroker.client import format_alert

    [event] = EventTracker(EventsSettings()).add([_type_iii_in_three_chunks()[0]], now_unix_s=100.0)
    line = format_alert(event.to_record())
    assert "type_iii" in line and "event new r1 (1 alerts)" in line and event.event_id in line
