"""Simulated chunks and the records Spark's Kafka source would give for them, for the detect
stage's unit tests (no Kafka, no Spark)."""

import pytest

from nenubroker.broker.messages import SourceRecord
from nenubroker.edge.sim.events import InjectedEvent
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks

T0 = 1.7e9


@pytest.fixture
def beam_chunks(offline_settings):
    """``beam_chunks(*events)``: the detection chunks of beam0 simulated from T0, with ``events``."""

    def chunks(*events):
        beam = BeamSimulator("beam0", offline_settings.simulator, start_unix_s=T0)
        for event in events:
            beam.inject(event)
        return (chunk for chunk, _ in detection_chunks(beam, offline_settings))

    return chunks


@pytest.fixture
def spike():
    """``spike(offset_s, freq_hz)``: a bright 0.25 s spike on beam0 at T0 + ``offset_s``."""

    def event(offset_s, freq_hz):
        return InjectedEvent("spike", "beam0", T0 + offset_s, freq_hz, snr=3.0, duration_s=0.25, bandwidth_hz=8e5)

    return event


@pytest.fixture
def source_record():
    """``source_record(value, headers, offset=0)``: a chunk-topic record, ingested at T0 + 10 s."""

    def record(value, headers, offset=0):
        return SourceRecord("chunks", 0, offset, b"beam0", value, headers, T0 + 10)

    return record
