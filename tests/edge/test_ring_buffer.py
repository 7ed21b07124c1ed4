"""The edge's ring buffer: its bounds, exact windows with NaN for gaps, and concurrent use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from nenubroker.conf.settings import IngestSettings, SimulatorSettings
from nenubroker.edge.ring_buffer import RingBuffer
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.records.chunk import SpectraChunk

START_S = 1.7e9
SIM = SimulatorSettings(
    realtime=False, fftlen=16, nfft2int=64, n_subbands=4, block_spectra=32, event_rates_per_min={}
)


def blocks(n: int, beam: str = "beam0") -> list[SpectraChunk]:
    simulator = BeamSimulator(beam, SIM, start_unix_s=START_S)
    return [simulator.next_block()[0] for _ in range(n)]


def block_stop_s(block: SpectraChunk) -> float:
    return block.time_start_unix_s + block.n_time * block.time_step_s


def test_seconds_bound_keeps_the_newest_blocks():
    made = blocks(20)
    buffer = RingBuffer("beam0", max_duration_s=1.0, max_mb=100.0)
    for block in made:
        buffer.append(block)
    assert buffer.n_blocks == 5  # 5 x 0.168 s fit in 1 s, 6 do not
    assert buffer.time_range_unix_s == (made[15].time_start_unix_s, block_stop_s(made[19]))
    assert (buffer.n_appended, buffer.n_evicted) == (20, 15)


def test_memory_bound_wins_when_smaller():
    made = blocks(20)
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=3 * made[0].data.nbytes / 1e6)
    for block in made:
        buffer.append(block)
    assert buffer.n_blocks == 3
    assert buffer.nbytes == 3 * made[0].data.nbytes
    assert buffer.time_range_unix_s == (made[17].time_start_unix_s, block_stop_s(made[19]))


def test_buffer_tells_what_the_next_block_would_evict():
    made = blocks(6)
    buffer = RingBuffer("beam0", max_duration_s=5 * made[0].n_time * made[0].time_step_s, max_mb=100.0)
    assert buffer.oldest_kept_after_next_block_unix_s() is None
    for block in made[:4]:
        buffer.append(block)
    assert buffer.oldest_kept_after_next_block_unix_s() == made[0].time_start_unix_s  # 5 blocks still fit
    buffer.append(made[4])
    assert buffer.oldest_kept_after_next_block_unix_s() == made[1].time_start_unix_s
    buffer.append(made[5])
    assert buffer.time_range_unix_s[0] == made[1].time_start_unix_s


def test_bounds_come_from_ingest_settings():
    buffer = RingBuffer.from_settings("beam0", IngestSettings(ring_buffer_s=12.5, ring_buffer_max_mb=3.0))
    assert (buffer.max_duration_s, buffer.max_bytes) == (12.5, 3_000_000)


def test_window_is_exact_against_the_appended_data():
    made = blocks(10)
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=100.0)
    for block in made:
        buffer.append(block)
    all_data = np.concatenate([b.data for b in made])
    all_time = np.concatenate([b.time_unix_s for b in made])
    freq = made[0].freq_hz
    t0, t1 = all_time[50] + 0.001, all_time[200] + 0.001  # rows 50..200 overlap [t0, t1)
    window = buffer.window(t0, t1, freq[10], freq[40])
    np.testing.assert_allclose(window.time_unix_s, all_time[50:201], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(window.freq_hz, freq[10:41])
    np.testing.assert_array_equal(window.data, all_data[50:201, 10:41])
    assert window.missing_unix_s == ()
    assert window.time_step_s == made[0].time_step_s
    assert window.channel_width_hz == pytest.approx(195312.5 / 16)
    assert not np.shares_memory(window.data, made[1].data)


def test_window_has_nan_for_missing_and_lost_blocks():
    made = blocks(6)
    lost = replace(made[4], data=np.full_like(made[4].data, np.nan))
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=100.0)
    for block in [made[0], made[1], made[3], lost, made[5]]:  # block 2 never came, block 4 came lost
        buffer.append(block)
    window = buffer.window(START_S, block_stop_s(made[5]), 0.0, 1e9)
    assert window.n_time == 6 * 32
    rows = np.arange(window.n_time) // 32
    assert np.isnan(window.data[(rows == 2) | (rows == 4)]).all()
    expected = np.concatenate([b.data for b in made])
    keep = (rows != 2) & (rows != 4)
    np.testing.assert_array_equal(window.data[keep], expected[keep])
    np.testing.assert_allclose(
        window.missing_unix_s,
        [
            (made[2].time_start_unix_s, block_stop_s(made[2])),
            (made[4].time_start_unix_s, block_stop_s(made[4])),
        ],
    )


def test_window_is_clipped_to_the_buffer_and_says_what_is_outside():
    made = blocks(4)
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=100.0)
    for block in made[1:3]:
        buffer.append(block)
    t0, t1 = made[0].time_start_unix_s, block_stop_s(made[3])
    window = buffer.window(t0, t1, 0.0, 1e9)
    np.testing.assert_array_equal(window.data, np.concatenate([made[1].data, made[2].data]))
    np.testing.assert_allclose(
        window.missing_unix_s, [(t0, made[1].time_start_unix_s), (block_stop_s(made[2]), t1)]
    )


def test_window_outside_the_buffer_is_empty():
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=100.0)
    assert buffer.window(START_S, START_S + 1, 0.0, 1e9).n_time == 0
    for block in blocks(2):
        buffer.append(block)
    window = buffer.window(START_S + 10, START_S + 11, 0.0, 1e9)
    assert (window.n_time, window.missing_unix_s) == (0, ((START_S + 10, START_S + 11),))


def test_blocks_out_of_time_order_or_of_another_beam_are_refused():
    made = blocks(3)
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=100.0)
    buffer.append(made[1])
    with pytest.raises(ValueError, match="time order"):
        buffer.append(made[0])
    with pytest.raises(ValueError, match="beam1"):
        buffer.append(blocks(1, beam="beam1")[0])


def test_new_axes_restart_the_buffer():
    made = blocks(3)
    buffer = RingBuffer("beam0", max_duration_s=60.0, max_mb=100.0)
    buffer.append(made[0])
    buffer.append(made[1])
    buffer.append(replace(made[2], freq_hz=made[2].freq_hz + 1.0))
    assert buffer.n_blocks == 1
    assert buffer.time_range_unix_s == (made[2].time_start_unix_s, block_stop_s(made[2]))


def test_concurrent_appends_and_windows_stay_consistent():
    made = blocks(300)
    block_s = made[0].n_time * made[0].time_step_s
    buffer = RingBuffer("beam0", max_duration_s=2.0, max_mb=100.0)

    def ingest() -> None:
        for block in made:
            buffer.append(block)

    checked = 0
    with ThreadPoolExecutor(1) as pool:
        appended = pool.submit(ingest)
        while not appended.done() or checked == 0:
            span = buffer.time_range_unix_s
            if span is None:
                continue
            window = buffer.window(span[0], span[1], 0.0, 1e9)
            first = round((window.time_unix_s[0] - START_S) / block_s)
            np.testing.assert_allclose(
                window.time_unix_s[0], made[first].time_start_unix_s, rtol=0, atol=1e-6
            )
            np.testing.assert_array_equal(window.data[:32], made[first].data)
            assert window.n_time <= 2.0 / made[0].time_step_s + 1
            checked += 1
        appended.result()  # re-raises here whatever failed in the ingesting thread
    assert buffer.n_appended == 300 and buffer.n_blocks == 11
