"""The detect stage's per-record logic, on plain Python: alerts for bursts, one dead letter per bad record."""

from dataclasses import replace

import numpy as np
import pytest

from nenubroker import avro
from nenubroker.broker.processing import ChunkProcessor, SourceRecord
from nenubroker.edge.events import InjectedEvent
from nenubroker.edge.ingest import detection_chunks
from nenubroker.edge.simulator import BeamSimulator

T0 = 1.7e9


@pytest.fixture
def plain_settings(offline_settings):
    return offline_settings


def _chunks(settings, *events):
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=T0)
    for event in events:
        beam.inject(event)
    return (chunk for chunk, _ in detection_chunks(beam, settings))


def process_record(record, settings):
    return ChunkProcessor(settings).process([record])


def _record(value, headers, offset=0) -> SourceRecord:
    return SourceRecord("chunks", 0, offset, b"beam0", value, headers, T0 + 10)


def _decoded(messages, schema="alert"):
    """The records of one kind (alerts by default) among a processor's output messages."""
    return [avro.decode(schema, m.value, m.headers) for m in messages if dict(m.headers).get("schema") == schema.encode()]


def test_spike_gives_one_alert_at_its_time_and_frequency(plain_settings):
    freq = 47e6
    chunk = next(_chunks(plain_settings, InjectedEvent("spike", "beam0", T0 + 2.0, freq, snr=3.0,
                                                       duration_s=0.25, bandwidth_hz=8e5)))
    messages = process_record(_record(*chunk.encode()), plain_settings)
    [alert] = _decoded(messages)
    topics = plain_settings.kafka.topics
    # a bright spike: an alert, its VOEvent, a recording trigger (rule bright_solar), the chunk's features
    assert sorted(m.topic for m in messages) == sorted([topics.alerts, topics.voevents, topics.triggers,
                                                        topics.chunk_features])
    [packet] = [m.value.decode() for m in messages if m.topic == topics.voevents]
    assert f"#{alert['alert_id']}" in packet and 'role="test"' in packet  # simulated data
    assert alert["source"] == "simulator" and alert["time_peak_mjd"] == pytest.approx(40587 + alert["time_peak_unix_s"] / 86400)
    assert alert["beam"] == "beam0"
    assert abs(alert["time_peak_unix_s"] - (T0 + 2.125)) <= 2 * chunk.time_step_s
    assert abs(alert["freq_peak_hz"] - freq) <= 2 * (chunk.freq_hz[1] - chunk.freq_hz[0])
    assert alert["freq_min_hz"] <= freq <= alert["freq_max_hz"]
    assert alert["snr"] > 7.0 and alert["detector"] == "burst_search"
    assert alert["class_label"] == "spike" and alert["rfi_flagged_fraction"] < 0.05
    assert alert["kafka_ingest_unix_s"] == T0 + 10


def test_noise_alone_gives_no_alert(plain_settings):
    for offset, chunk in zip(range(20), _chunks(plain_settings)):
        messages = process_record(_record(*chunk.encode(), offset=offset), plain_settings)
        assert _decoded(messages) == []
        [features] = _decoded(messages, "chunk_features")
        assert features["n_candidates"] == 0 and features["chunk_index"] == chunk.chunk_index


def test_alert_ids_are_the_same_on_replay(plain_settings):
    chunk = next(_chunks(plain_settings, InjectedEvent("spike", "beam0", T0 + 1.0, 50e6, snr=3.0,
                                                       duration_s=0.25, bandwidth_hz=8e5)))
    record = _record(*chunk.encode())
    first = _decoded(process_record(record, plain_settings))
    assert first
    again = _decoded(process_record(record, plain_settings))
    assert [a["alert_id"] for a in first] == [a["alert_id"] for a in again]


def _dead_letter_reason(plain_settings, value, headers) -> str:
    messages = process_record(_record(value, headers, offset=42), plain_settings)
    assert len(messages) == 1 and messages[0].topic == plain_settings.kafka.topics.dead_letter
    [letter] = _decoded(messages, "dead_letter")
    assert letter["source_value"] == value and letter["source_offset"] == 42 and letter["stage"] == "detect"
    return letter["reason"]


def test_bad_records_become_dead_letters_with_their_reason(plain_settings):
    chunk = next(_chunks(plain_settings))
    value, headers = chunk.encode()
    assert "not a 'spectra_chunk' v1 Avro record" in _dead_letter_reason(
        plain_settings, b"this is not avro", headers)
    assert "unknown schema version 7" in _dead_letter_reason(
        plain_settings, value, [("schema_version", b"7")])
    short = avro.encode("spectra_chunk", {**chunk.to_record(), "data": chunk.to_record()["data"][:400]})
    assert "data holds 400 bytes" in _dead_letter_reason(plain_settings, *short)
    nan_chunk = replace(chunk, data=np.full_like(chunk.data, np.nan))
    assert "100% of the samples are NaN" in _dead_letter_reason(plain_settings, *nan_chunk.encode())
    assert "empty message" in _dead_letter_reason(plain_settings, None, headers)


def test_a_few_lost_samples_are_tolerated(plain_settings):
    chunk = next(_chunks(plain_settings, InjectedEvent("spike", "beam0", T0 + 2.0, 40e6, snr=3.0,
                                                       duration_s=0.25, bandwidth_hz=8e5)))
    data = chunk.data.copy()
    data[40:44, :] = np.nan  # a lost block
    [alert] = _decoded(process_record(_record(*replace(chunk, data=data).encode()), plain_settings))
    assert abs(alert["freq_peak_hz"] - 40e6) < 1e6
