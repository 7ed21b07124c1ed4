"""The end of a stream: samples that do not fill a chunk go out in a final, shorter chunk, sent
before the producer flushes, and searched like any other (no Kafka: the producer here records)."""

import os
import signal
from dataclasses import replace

import numpy as np
import pytest

from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.ingest import Ingester, run_ingest
from nenubroker.edge.producer import DeliveryReport
from nenubroker.edge.sim.events import InjectedEvent
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_search import MODULE
from nenubroker.udfs.registry import chunk_table

T0 = 1.7e9


class RecordingProducer:
    """What the ingester asks of its producer, in order; every chunk 'delivered'."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, SpectraChunk | None]] = []
        self.report = DeliveryReport()

    @property
    def chunks(self) -> list[SpectraChunk]:
        return [chunk for call, chunk in self.calls if call == "send" and chunk is not None]

    def send(self, chunk: SpectraChunk) -> bool:
        self.calls.append(("send", chunk))
        self.report.sent += 1
        self.report.delivered += 1
        return True

    def poll(self) -> None:
        pass

    def flush(self, timeout_s: float = 30.0) -> DeliveryReport:
        self.calls.append(("flush", None))
        return self.report


def _beam(settings, *events) -> BeamSimulator:
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=T0)
    for event in events:
        beam.inject(event)
    return beam


def _blocks(beam: BeamSimulator, n_spectra: int):
    """The beam's first ``n_spectra`` spectra, in blocks; the last block cut short."""
    left = n_spectra
    while left > 0:
        block, _ = beam.next_block()
        yield block if block.n_time <= left else replace(block, data=block.data[:left])
        left -= block.n_time


def _ingest(settings, beam: BeamSimulator, n_spectra: int) -> RecordingProducer:
    producer = RecordingProducer()
    run_ingest(settings, _blocks(beam, n_spectra), Ingester(settings, producer=producer))
    return producer


def _uncovered(chunks: list[SpectraChunk], times: np.ndarray) -> np.ndarray:
    """The times that lie in no chunk's samples."""
    covered = np.zeros(times.size, dtype=bool)
    for chunk in chunks:
        end = chunk.time_start_unix_s + chunk.n_time * chunk.time_step_s
        covered |= (times >= chunk.time_start_unix_s - 1e-4) & (times < end - 1e-4)
    return times[~covered]


def test_every_spectrum_of_a_stream_ending_mid_chunk_is_in_a_chunk(offline_settings):
    beam = _beam(offline_settings)
    n_spectra = 64 * 11 + 27  # 182 detection samples and 3 spectra of a 183rd: 3 chunks and 39 samples more
    chunks = _ingest(offline_settings, beam, n_spectra).chunks
    assert _uncovered(chunks, T0 + beam.time_step_s * np.arange(n_spectra)).size == 0
    assert [c.chunk_index for c in chunks] == [0, 1, 2, 3]
    assert [(c.n_time, c.overlap_samples, c.trailing_overlap_samples) for c in chunks] == [
        (64, 0, 16), (64, 16, 16), (64, 16, 16), (183 - 144, 16, 0)]
    final = chunks[-1]
    assert final.time_start_unix_s == pytest.approx(chunks[-2].time_start_unix_s + 48 * final.time_step_s)
    np.testing.assert_array_equal(final.data[:16], chunks[-2].data[-16:])  # the usual overlap first


def test_final_chunk_averages_a_partial_time_bin_like_the_rest(offline_settings):
    ingest = offline_settings.ingest
    freq_hz = 20e6 + 3e3 * np.arange(32)
    data = np.arange(4 * 70 * 32, dtype=np.float32).reshape(4 * 70, 32)
    downsampler = Downsampler(ingest)
    block = SpectraChunk("b", 0, T0, 0.021, freq_hz, data[:4 * 69 + 3])  # 69 samples, 3 of 4 spectra of a 70th
    [regular] = downsampler.push(block)
    [final] = downsampler.flush()
    assert final.n_time == 69 + 1 - 48 and final.overlap_samples == 16 and final.trailing_overlap_samples == 0
    expected = data[4 * 69:4 * 69 + 3].reshape(3, 2, 16).mean(axis=(0, 2))
    np.testing.assert_allclose(final.data[-1], expected)
    assert downsampler.flush() == []  # ended: nothing left


def test_final_chunk_is_sent_before_the_producer_flushes(offline_settings):
    calls = _ingest(offline_settings, _beam(offline_settings), 64 * 5).calls
    assert [call for call, _ in calls] == ["send", "send", "flush"]
    assert calls[1][1] is not None and calls[1][1].trailing_overlap_samples == 0


def test_stream_ending_on_a_chunk_boundary_ends_with_a_chunk_of_the_shared_samples(offline_settings):
    chunks = _ingest(offline_settings, _beam(offline_settings), 4 * (64 + 48)).chunks
    assert [(c.n_time, c.overlap_samples, c.trailing_overlap_samples) for c in chunks] == [
        (64, 0, 16), (64, 16, 16), (16, 16, 0)]  # it reports the onsets its predecessor left to it
    np.testing.assert_array_equal(chunks[-1].data, chunks[-2].data[-16:])


def test_fewer_than_two_samples_make_no_chunk_and_a_lone_spectrum_no_sample(offline_settings):
    freq_hz = 20e6 + 3e3 * np.arange(32)
    final_samples = {}
    for n_spectra in (3, 4, 5, 6, 8, 9, 10):  # averaged by 4: a partial bin needs 2 spectra
        downsampler = Downsampler(offline_settings.ingest)
        downsampler.push(SpectraChunk("b", 0, T0, 0.021, freq_hz, np.ones((n_spectra, 32), "f4")))
        final_samples[n_spectra] = [chunk.n_time for chunk in downsampler.flush()]
    assert final_samples == {3: [], 4: [], 5: [], 6: [2], 8: [2], 9: [2], 10: [3]}


def test_spike_in_the_last_two_seconds_of_a_stream_is_detected(offline_settings):
    beam = _beam(offline_settings)
    n_spectra = 64 * 11 + 27  # 15.35 s
    at_s = T0 + (n_spectra - 64) * beam.time_step_s  # 1.3 s before the end
    beam.inject(InjectedEvent("spike", "beam0", at_s, 40e6, snr=3.0, duration_s=0.25, bandwidth_hz=8e5))
    chunks = _ingest(offline_settings, beam, n_spectra).chunks
    candidates = MODULE.run(chunk_table(chunks))
    assert len(candidates) == 1
    [candidate] = candidates.itertuples()
    assert abs(candidate.time_peak_unix_s - at_s) < 0.5 and abs(candidate.freq_peak_hz - 40e6) < 1e6
    assert candidate.chunk_index == chunks[-1].chunk_index


def _fail_on_sigterm(signum, frame):
    raise RuntimeError("SIGTERM reached the test's own handler: the ingester did not take it")


def test_sigterm_ends_the_stream_with_its_final_chunk(offline_settings):
    beam = _beam(offline_settings)

    def blocks():
        for i, block in enumerate(_blocks(beam, 10**6)):
            if i == 5:
                os.kill(os.getpid(), signal.SIGTERM)
            yield block

    producer = RecordingProducer()
    previous = signal.signal(signal.SIGTERM, _fail_on_sigterm)
    try:
        run_ingest(offline_settings, blocks(), Ingester(offline_settings, producer=producer))  # returns: a normal stop
        assert signal.getsignal(signal.SIGTERM) is _fail_on_sigterm  # put back
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [call for call, _ in producer.calls][-1] == "flush"
    assert producer.chunks[-1].trailing_overlap_samples == 0
    assert _uncovered(producer.chunks, T0 + beam.time_step_s * np.arange(5 * 64)).size == 0  # 5 blocks in
