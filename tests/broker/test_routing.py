"""Filters to topics, trigger and batch rules, VOEvents: on plain alert tables and Alert records."""

import pandas as pd
import pytest

from nenubroker.broker.routing import FilterError, route, select, triggered, voevent_message
from nenubroker.conf.settings import AlertFilter, BatchRule, TriggerRule
from nenubroker.formats.voevent import packet_ivorn, validate_voevent
from nenubroker.records import avro
from nenubroker.records.alert import Alert
from nenubroker.records.trigger import Trigger


def _alerts() -> pd.DataFrame:
    return pd.DataFrame({
        "alert_id": ["a", "b", "c"], "beam": ["beam0", "beam0", "beam1"],
        "class_label": ["type_iii", "jupiter_s", "rfi"], "snr": [25.0, 9.0, 50.0],
        "freq_peak_hz": [45e6, 30e6, 60e6], "freq_min_hz": [20e6, 28e6, 20e6], "freq_max_hz": [55e6, 33e6, 80e6],
        "time_start_unix_s": [100.0, 200.0, 300.0], "duration_s": [3.0, 0.5, 0.1],
        "class_probabilities": [{"type_iii": 0.9, "other": 0.1}, {"jupiter_s": 0.4, "spike": 0.35}, {"rfi": 1.0}],
    })


def _alert_records(**fields) -> list[Alert]:
    """The alerts of :func:`_alerts` as records, with ``fields`` over each."""
    base = {"chunk_index": 0, "time_peak_unix_s": 1.0, "freq_peak_hz": 1.0, "drift_hz_per_s": 0.0,
            "peak_power": 1.0, "class_label": None, "class_probabilities": {}, "classifier": None,
            "rfi_flagged_fraction": None, "cutout": b"", "detector": "d", "module_versions": {},
            "nenubroker_version": "x", "chunk_created_unix_s": 0.0, "kafka_ingest_unix_s": 0.0, "processed_unix_s": 0.0}
    return [Alert(**{**base, **row, **fields}) for row in _alerts().to_dict("records")]


def _with_routing(settings, **routing):
    return settings.model_copy(update={"routing": settings.routing.model_copy(update=routing)})


def _by_topic(messages, settings) -> dict[str, list[dict]]:
    """The Avro records of each topic (VOEvents left out)."""
    by_topic = {}
    for message in messages:
        if message.topic == settings.kafka.topics.voevents:
            continue
        by_topic.setdefault(message.topic, []).append(avro.decode(dict(message.headers)["schema"].decode(),
                                                                   message.value, message.headers))
    return by_topic


def test_expression_filter_selects_by_alert_fields():
    f = AlertFilter(name="bright", topic="t", expression="snr > 20 and class_label != 'rfi'")
    assert select(_alerts(), f).tolist() == [True, False, False]


def test_function_filter_is_loaded_by_reference():
    f = AlertFilter(name="jupiter", topic="t", function="nenubroker.udfs.filters:jupiter_s_bursts")
    assert select(_alerts(), f).tolist() == [False, True, False]


def test_bad_filters_are_reported_clearly():
    with pytest.raises(FilterError, match="exactly one"):
        select(_alerts(), AlertFilter(name="x", topic="t"))
    with pytest.raises(FilterError, match="cannot load filter function 'nowhere:nothing'"):
        select(_alerts(), AlertFilter(name="x", topic="t", function="nowhere:nothing"))


def test_trigger_rule_checks_class_snr_and_probability():
    rule = TriggerRule(name="solar", classes=["type_iii", "jupiter_s"], min_snr=8.0, min_probability=0.5)
    assert triggered(_alerts(), rule).tolist() == [True, False, False]  # b: probability 0.4 < 0.5
    assert triggered(_alerts(), TriggerRule(name="any", min_snr=20)).tolist() == [True, False, True]


def test_trigger_covers_the_alert_window_and_is_deterministic():
    alert = _alert_records()[0]
    trigger = Trigger.for_alert(alert, TriggerRule(name="solar"), created_unix_s=1.0).to_record()
    assert (trigger["time_start_unix_s"], trigger["time_stop_unix_s"]) == (100.0, 103.0)
    assert (trigger["freq_min_hz"], trigger["freq_max_hz"]) == (20e6, 55e6)
    assert trigger["trigger_id"] == "a-solar" and trigger["alert_id"] == "a" and trigger["beam"] == "beam0"


def test_processor_routes_alerts_to_filter_topics_and_triggers(offline_settings):
    settings = _with_routing(offline_settings,
                             filters=[AlertFilter(name="bright", topic="bright.topic", expression="snr > 20")],
                             triggers=[TriggerRule(name="all", min_snr=0)])
    messages = route(_alert_records(class_label=None, class_probabilities={}), settings, now_unix_s=0.0)
    by_topic = _by_topic(messages, settings)
    topics = settings.kafka.topics
    assert [a["alert_id"] for a in by_topic[topics.alerts]] == ["a", "b", "c"]
    assert [a["alert_id"] for a in by_topic["bright.topic"]] == ["a", "c"]
    assert [t["trigger_id"] for t in by_topic[topics.triggers]] == ["a-all", "b-all", "c-all"]
    assert [a["trigger_ids"] for a in by_topic[topics.alerts]] == [["a-all"], ["b-all"], ["c-all"]]
    assert sum(m.topic == topics.voevents for m in messages) == 3


def test_batch_rule_requests_a_padded_window_keyed_by_beam(offline_settings):
    rule = BatchRule(name="img", recipe="image_window", classes=["type_iii", "rfi"], min_snr=20, padding_s=30)
    settings = _with_routing(offline_settings, triggers=[], filters=[], batch_requests=[rule])
    messages = route(_alert_records(), settings, now_unix_s=5.0)
    requests = [m for m in messages if m.topic == settings.kafka.topics.batch_requests]
    assert [m.key for m in requests] == [b"beam0", b"beam1"]
    decoded = _by_topic(requests, settings)[settings.kafka.topics.batch_requests]
    assert [r["request_id"] for r in decoded] == ["a-img", "c-img"]
    assert (decoded[0]["time_start_unix_s"], decoded[0]["time_stop_unix_s"]) == (70.0, 133.0)
    assert decoded[0]["reason"] == "rule img: type_iii S/N 25.0" and decoded[0]["created_unix_s"] == 5.0


def test_no_alerts_route_to_nothing(offline_settings):
    assert route([], offline_settings, now_unix_s=0.0) == []


def test_voevent_message_is_a_valid_packet_of_the_alert(offline_settings):
    alert = _alert_records(source="simulator", pointing_ra_deg=10.0, pointing_dec_deg=20.0)[0]
    message = voevent_message(alert, offline_settings.routing, "voevents")
    validate_voevent(message.value)
    assert message.topic == "voevents" and message.key == b"beam0"
    assert dict(message.headers)["alert_id"] == b"a" and dict(message.headers)["format"] == b"voevent-2.0"
    assert packet_ivorn(message.value) == "ivo://nenufar.obs-nancay.fr/nenubroker#a"
    assert b'role="test"' in message.value and b"Position2D" in message.value
