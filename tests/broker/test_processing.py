"""The detect stage's whole chain on plain Python: alerts for bursts, one dead letter per bad record."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from nenubroker.broker.processing import ChunkProcessor
from nenubroker.records import avro
from nenubroker.udfs.contract import ScienceModule

T0 = 1.7e9


def process_record(record, settings):
    return ChunkProcessor(settings).process([record])


def _decoded(messages, schema="alert"):
    """The records of one kind (alerts by default) among a processor's output messages."""
    return [avro.decode(schema, m.value, m.headers) for m in messages
            if dict(m.headers).get("schema") == schema.encode()]


def test_spike_gives_one_alert_at_its_time_and_frequency(offline_settings, beam_chunks, spike, source_record):
    freq = 47e6
    chunk = next(beam_chunks(spike(2.0, freq)))
    messages = process_record(source_record(*chunk.encode()), offline_settings)
    [alert] = _decoded(messages)
    topics = offline_settings.kafka.topics
    # a bright spike: an alert, its VOEvent, a recording trigger (rule bright_solar), the chunk's features
    assert sorted(m.topic for m in messages) == sorted([topics.alerts, topics.voevents, topics.triggers,
                                                        topics.chunk_features])
    [packet] = [m.value.decode() for m in messages if m.topic == topics.voevents]
    assert f"#{alert['alert_id']}" in packet and 'role="test"' in packet  # simulated data
    assert alert["source"] == "simulator"
    assert alert["time_peak_mjd"] == pytest.approx(40587 + alert["time_peak_unix_s"] / 86400)
    assert alert["beam"] == "beam0"
    assert abs(alert["time_peak_unix_s"] - (T0 + 2.125)) <= 2 * chunk.time_step_s
    assert abs(alert["freq_peak_hz"] - freq) <= 2 * (chunk.freq_hz[1] - chunk.freq_hz[0])
    assert alert["freq_min_hz"] <= freq <= alert["freq_max_hz"]
    assert alert["snr"] > 7.0 and alert["detector"] == "burst_search"
    assert alert["class_label"] == "spike" and alert["rfi_flagged_fraction"] < 0.05
    assert alert["kafka_ingest_unix_s"] == T0 + 10


def test_noise_alone_gives_no_alert(offline_settings, beam_chunks, source_record):
    for offset, chunk in zip(range(20), beam_chunks()):
        messages = process_record(source_record(*chunk.encode(), offset=offset), offline_settings)
        assert _decoded(messages) == []
        [features] = _decoded(messages, "chunk_features")
        assert features["n_candidates"] == 0 and features["chunk_index"] == chunk.chunk_index


def test_alert_ids_are_the_same_on_replay(offline_settings, beam_chunks, spike, source_record):
    chunk = next(beam_chunks(spike(1.0, 50e6)))
    record = source_record(*chunk.encode())
    first = _decoded(process_record(record, offline_settings))
    assert first
    again = _decoded(process_record(record, offline_settings))
    assert [a["alert_id"] for a in first] == [a["alert_id"] for a in again]


def _dead_letter_reason(settings, source_record, value, headers) -> str:
    messages = process_record(source_record(value, headers, offset=42), settings)
    assert len(messages) == 1 and messages[0].topic == settings.kafka.topics.dead_letter
    [letter] = _decoded(messages, "dead_letter")
    assert letter["source_value"] == value and letter["source_offset"] == 42 and letter["stage"] == "detect"
    return letter["reason"]


def test_bad_records_become_dead_letters_with_their_reason(offline_settings, beam_chunks, source_record):
    chunk = next(beam_chunks())
    value, headers = chunk.encode()

    def reason(value, headers):
        return _dead_letter_reason(offline_settings, source_record, value, headers)

    assert "not a 'spectra_chunk' v2 Avro record" in reason(b"this is not avro", headers)
    assert "unknown schema version 7" in reason(value, [("schema_version", b"7")])
    short = avro.encode("spectra_chunk", {**chunk.to_record(), "data": chunk.to_record()["data"][:400]})
    assert "data holds 400 bytes" in reason(*short)
    nan_chunk = replace(chunk, data=np.full_like(chunk.data, np.nan))
    assert "100% of the samples are NaN" in reason(*nan_chunk.encode())
    assert "empty message" in reason(None, headers)


def test_a_few_lost_samples_are_tolerated(offline_settings, beam_chunks, spike, source_record):
    chunk = next(beam_chunks(spike(2.0, 40e6)))
    data = chunk.data.copy()
    data[40:44, :] = np.nan  # a lost block
    [alert] = _decoded(process_record(source_record(*replace(chunk, data=data).encode()), offline_settings))
    assert abs(alert["freq_peak_hz"] - 40e6) < 1e6


def _fails_on_chunk_1(chunks: pd.DataFrame) -> pd.DataFrame:
    if (chunks["chunk_index"] == 1).any():
        raise RuntimeError("cannot handle chunk 1")
    return pd.DataFrame(index=chunks.index)


def test_a_module_failing_on_one_chunk_dead_letters_only_that_chunk(offline_settings, beam_chunks, spike,
                                                                     source_record):
    processor = ChunkProcessor(offline_settings)
    breaker = ScienceModule("breaker", "0.0.1", "chunk", _fails_on_chunk_1, inputs=("chunk_index",), outputs=())
    processor.modules = [breaker, *processor.modules]
    chunks = [chunk for chunk, _ in zip(beam_chunks(spike(2.0, 47e6)), range(3))]
    messages = processor.process([source_record(*chunk.encode(), offset=i) for i, chunk in enumerate(chunks)])
    [letter] = _decoded(messages, "dead_letter")
    assert letter["source_offset"] == 1
    assert letter["reason"] == "science modules failed: RuntimeError: cannot handle chunk 1"
    assert sorted(f["chunk_index"] for f in _decoded(messages, "chunk_features")) == [0, 2]
    assert [a["chunk_index"] for a in _decoded(messages)] == [0]  # chunk 0's spike still makes its alert
