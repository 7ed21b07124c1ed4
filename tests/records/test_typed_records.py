"""The typed records (alert, trigger, batch request, dead letter, chunk features): their fields are
their Avro schemas', they survive encoding, and the alert id does not drift."""

import json
from dataclasses import fields

import pytest

from nenubroker.conf.settings import SCHEMA_DIR
from nenubroker.records import avro
from nenubroker.records.alert import Alert, alert_id
from nenubroker.records.batch_request import BatchRequest
from nenubroker.records.chunk_features import ChunkFeatures
from nenubroker.records.dead_letter import DeadLetter
from nenubroker.records.trigger import Trigger, TriggerError


def _alert(**changes) -> Alert:
    values = dict(alert_id="a1", beam="beam0", chunk_index=3, time_peak_unix_s=1.7e9 + 2.1,
                  time_start_unix_s=1.7e9 + 2.0, duration_s=0.25, freq_peak_hz=47e6, freq_min_hz=46.6e6,
                  freq_max_hz=47.4e6, drift_hz_per_s=0.0, snr=12.34, peak_power=0.8, class_label="spike",
                  class_probabilities={"spike": 0.9, "rfi": 0.1}, classifier="classifier_forest 1.0",
                  cutout=bytes(32 * 32 * 4), detector="burst_search", module_versions={"burst_search": "1"},
                  nenubroker_version="0.1.0", chunk_created_unix_s=1.7e9 + 5, kafka_ingest_unix_s=1.7e9 + 6,
                  processed_unix_s=1.7e9 + 7, source="simulator", trigger_ids=["a1-solar"])
    return Alert(**{**values, **changes})


@pytest.mark.parametrize("record_type", [Alert, Trigger, BatchRequest, DeadLetter, ChunkFeatures])
def test_record_fields_are_exactly_the_schema_fields(record_type):
    version = avro.CURRENT_VERSIONS[record_type.SCHEMA]
    schema = json.loads((SCHEMA_DIR / f"{record_type.SCHEMA}.v{version}.avsc").read_text())
    assert [f.name for f in fields(record_type)] == [f["name"] for f in schema["fields"]]


def test_alert_survives_encoding_with_its_schema_headers():
    alert = _alert()
    value, headers = alert.encode()
    assert dict(headers)["schema"] == b"alert" and dict(headers)["schema_version"] == b"2"
    assert Alert.decode(value, headers) == alert


def test_alert_of_an_older_schema_takes_the_new_fields_defaults():
    old = {k: v for k, v in _alert().to_record().items()
           if k not in ("source", "pointing_ra_deg", "pointing_dec_deg", "time_peak_mjd", "trigger_ids",
                        "stage_times_unix_s")}
    value, headers = avro.encode("alert", old, version=1)
    alert = Alert.from_record(avro.decode("alert", value, headers, reader_version=2))
    assert alert == _alert(source="unknown", trigger_ids=[], time_peak_mjd=0.0)


def test_alert_id_is_deterministic_and_unchanged():
    assert alert_id("beam0", 3, "burst_search", 1.7e9 + 2.125, 47.0e6) == "268d1643266850dbd8693c33"
    assert alert_id("beam0", 3, "burst_search", 1.7e9 + 2.125, 47.0e6 + 0.01) == "268d1643266850dbd8693c33"
    assert alert_id("beam1", 3, "burst_search", 1.7e9 + 2.125, 47.0e6) != "268d1643266850dbd8693c33"


def test_an_alert_without_a_class_says_so_in_its_summary():
    assert _alert().summary() == "spike S/N 12.3"
    assert _alert(class_label=None).summary() == "unclassified S/N 12.3"


def test_a_trigger_of_an_alert_with_an_empty_window_is_refused():
    from nenubroker.conf.settings import TriggerRule

    with pytest.raises(TriggerError, match="time_stop_unix_s must be after"):
        Trigger.for_alert(_alert(duration_s=0.0), TriggerRule(name="solar"), created_unix_s=0.0)


def test_dead_letter_keeps_the_rejected_record_whole():
    class Source:
        topic, partition, offset, key, value = "chunks", 1, 42, None, b"\x00junk"
        headers = [("schema", b"spectra_chunk"), ("trace", None)]

    letter = DeadLetter.of(Source(), "detect", "not Avro", rejected_unix_s=5.0)
    back = DeadLetter.decode(*letter.encode())
    assert back == letter and back.source_value == b"\x00junk" and back.source_key is None
    assert back.source_headers == {"schema": b"spectra_chunk", "trace": b""}
