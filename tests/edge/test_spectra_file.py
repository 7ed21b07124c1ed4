"""Reader and writer of NenuFAR UnDySPuTeD ``.spectra`` files (edge/spectra_file.py)."""

from __future__ import annotations

import struct
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from nenubroker.edge.pfb_bandpass import pfb_correction, pfb_power_response
from nenubroker.edge.spectra_file import (
    SpectraBlock,
    SpectraFile,
    SpectraFileError,
    SpectraTruncatedWarning,
)
from nenubroker.edge.spectra_writer import SpectraWriter
from nenubroker.records.chunk import SpectraChunk

T0 = 1_700_000_000


def pack_block(fft0: np.ndarray, fft1: np.ndarray, channels: list[int], *, idx: int = 1,
               timestamp: int = T0, seq: int = 0, fftlen: int = 16, nfft2int: int = 4,
               nbchan: int | None = None, beams: list[int] | None = None) -> bytes:
    """Bytes of one block, packed field by field with struct: independent of the writer."""
    n_sub, nffte = fft0.shape[0], fft0.shape[1]
    out = struct.pack("<QQQiiiiii", idx, timestamp, seq, fftlen, nfft2int, 0, 0, nffte,
                      n_sub if nbchan is None else nbchan)
    for s in range(n_sub):
        out += struct.pack("<iii", 0, (beams or [0] * n_sub)[s], channels[s])
        out += fft0[s].astype("<f4").tobytes() + fft1[s].astype("<f4").tobytes()
    return out


def hand_block() -> tuple[np.ndarray, np.ndarray]:
    """2 subbands, 2 spectra, 16 channels: XX = 1000 s + 100 t + j (j in FFT order), YY = 0.5,
    Re XY* = 3, -Im XY* = -7."""
    fft0 = np.zeros((2, 2, 16, 2), np.float32)
    fft1 = np.zeros((2, 2, 16, 2), np.float32)
    s, t, j = np.meshgrid(np.arange(2), np.arange(2), np.arange(16), indexing="ij")
    fft0[..., 0] = 1000 * s + 100 * t + j
    fft0[..., 1] = 0.5
    fft1[..., 0], fft1[..., 1] = 3.0, -7.0
    return fft0, fft1


def write_file(path: Path, n_blocks: int, *, lost: dict[int, str] | None = None,
               fftlen: int = 16, nffte: int = 4, subbands: tuple[int, ...] = (300, 301),
               seed: int = 0) -> list[np.ndarray]:
    """Blocks of random XX/YY through the writer; returns each written block's Stokes I."""
    rng = np.random.default_rng(seed)
    n_freq = fftlen * len(subbands)
    block_s = nffte * fftlen * 4 / 195312.5
    expected = []
    with SpectraWriter(path, fftlen=fftlen, nfft2int=4, nffte=nffte, subbands=list(subbands)) as w:
        for k in range(n_blocks):
            if lost and k in lost:
                w.write_lost(lost[k])
                expected.append(np.full((nffte, n_freq), np.nan, np.float32))
                continue
            xx, yy = (rng.random((nffte, n_freq), dtype=np.float32) for _ in range(2))
            w.write(T0 + k * block_s, xx, yy)
            expected.append(xx + yy)
    return expected


def test_layout_matches_values_computed_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "hand.spectra"
    fft0, fft1 = hand_block()
    path.write_bytes(pack_block(fft0, fft1, [100, 101], idx=0, seq=78125))  # +0.4 s

    sf = SpectraFile(path)

    assert sf.block_bytes == 48 + 2 * (12 + 2 * 2 * 16 * 2 * 4) == 1096
    assert (sf.fftlen, sf.nfft2int, sf.n_subbands, sf.n_blocks) == (16, 4, 2, 1)
    assert sf.df_hz == 12207.03125 and sf.dt_s == pytest.approx(64 / 195312.5)
    block = sf.block(0, correct_bandpass=False)
    np.testing.assert_allclose(block.time_unix_s, [T0 + 0.4, T0 + 0.4 + 0.00032768], rtol=0, atol=1e-6)
    assert block.freq_hz[0] == 100 * 195312.5 - 8 * 12207.03125 == 19433593.75
    assert block.freq_hz[8] == 100 * 195312.5  # DC of subband 100
    assert block.freq_hz[16] == 101 * 195312.5 - 8 * 12207.03125
    # fftshift: column 0 is stored channel 8, column 8 is stored channel 0 (DC).
    assert block.data[0, 0] == 8 + 0.5
    assert block.data[0, 8] == 0 + 0.5
    assert block.data[0, 15] == 7 + 0.5
    assert block.data[1, 16] == 1000 + 100 + 8 + 0.5
    assert np.all(sf.block(0, "U", False).data == 6.0)
    assert np.all(sf.block(0, "V", False).data == -14.0)
    assert np.all(sf.block(0, "YY", False).data == 0.5)
    assert sf.block(0, "XX", False).data[1, 24] == 1000 + 100 + 0
    assert sf.block(0, "Q", False).data[0, 0] == 8 - 0.5


def test_round_trip_is_exact_without_bandpass_correction(tmp_path: Path) -> None:
    path = tmp_path / "rt.spectra"
    rng = np.random.default_rng(1)
    xx, yy, u, v = (rng.normal(size=(4, 48)).astype(np.float32) for _ in range(4))
    with SpectraWriter(path, fftlen=16, nfft2int=8, nffte=4, subbands=[7, 8, 9], beams=[0, 0, 1]) as w:
        w.write(T0 + 0.5, xx, yy, u=u, v=v)

    sf = SpectraFile(path)
    read = {s: sf.block(0, s, correct_bandpass=False).data for s in ("I", "XX", "YY", "U", "V")}

    assert np.array_equal(read["XX"], xx) and np.array_equal(read["YY"], yy)
    assert np.array_equal(read["U"], u) and np.array_equal(read["V"], v)
    assert np.array_equal(read["I"], xx + yy)
    assert np.array_equal(sf.beam, np.repeat([0, 0, 1], 16))
    assert np.array_equal(sf.subbands, [7, 8, 9])


def test_bandpass_correction_removes_the_ripple_from_a_flat_spectrum(tmp_path: Path) -> None:
    path = tmp_path / "flat.spectra"
    with SpectraWriter(path, fftlen=64, nfft2int=4, nffte=2, subbands=[200, 201]) as w:
        w.write(T0, np.ones((2, 128), np.float32), np.ones((2, 128), np.float32), apply_pfb_ripple=True)

    sf = SpectraFile(path)
    raw = sf.block(0, correct_bandpass=False).data
    corrected = sf.block(0).data

    assert raw[0, 0] / raw[0, 32] == pytest.approx(0.514, abs=0.002)  # edge vs DC
    np.testing.assert_allclose(corrected, 2.0, rtol=1e-6)


def test_pfb_correction_has_nenupy_values() -> None:
    corr = pfb_correction(64)
    assert corr[0] == pytest.approx(1.9659, abs=1e-4)
    assert corr[32] == pytest.approx(1.0104, abs=1e-4)
    np.testing.assert_allclose(corr[1:], corr[:0:-1], rtol=1e-12)  # symmetric about DC
    np.testing.assert_allclose(pfb_power_response(16) * pfb_correction(16), 1.0)
    for bad in (8, 17):
        with pytest.raises(ValueError, match="fftlen"):
            pfb_correction(bad)


def test_pfb_correction_equals_nenupy_get_bandpass() -> None:
    tf_utils = pytest.importorskip("nenupy.io.tf_utils")
    for fftlen in (16, 64, 256):
        np.testing.assert_allclose(pfb_correction(fftlen), tf_utils.get_bandpass(fftlen), rtol=1e-10)


def test_lost_blocks_are_skipped_counted_and_timed(tmp_path: Path) -> None:
    path = tmp_path / "lost.spectra"
    expected = write_file(path, 6, lost={1: "timestamp", 3: "idx", 4: "nbchan"})
    block_s = 4 * 16 * 4 / 195312.5

    sf = SpectraFile(path)
    good = list(sf.iter_blocks(correct_bandpass=False))

    assert (sf.n_blocks, sf.n_lost_blocks) == (6, 3)
    assert list(sf.lost_block_indices) == [1, 3, 4]
    np.testing.assert_allclose(sf.lost_block_times_unix_s, T0 + np.array([1, 3, 4]) * block_s, atol=3e-6)
    assert [b.block_index for b in good] == [0, 2, 5]
    for b in good:
        assert np.array_equal(b.data, expected[b.block_index]) and not b.lost.any()
    with_lost = list(sf.iter_blocks(include_lost=True))
    assert len(with_lost) == 6 and np.isnan(with_lost[3].data).all() and with_lost[3].lost.all()


def test_read_time_range_blanks_lost_blocks_with_nan(tmp_path: Path) -> None:
    path = tmp_path / "range.spectra"
    expected = np.concatenate(write_file(path, 5, lost={2: "timestamp"}))
    dt_s = 16 * 4 / 195312.5
    times = T0 + dt_s * np.arange(20)

    got = SpectraFile(path).read(times[5] - dt_s / 2, times[17] - dt_s / 2, correct_bandpass=False)

    np.testing.assert_allclose(got.time_unix_s, times[5:17], rtol=0, atol=3e-6)
    assert np.array_equal(got.lost, [False] * 3 + [True] * 4 + [False] * 5)
    np.testing.assert_array_equal(got.data, expected[5:17])  # NaN rows compare equal here
    assert np.isnan(got.data[3:7]).all()


def test_read_without_range_includes_the_last_block(tmp_path: Path) -> None:
    path = tmp_path / "all.spectra"
    expected = np.concatenate(write_file(path, 3))
    got = SpectraFile(path).read(correct_bandpass=False)
    assert np.array_equal(got.data, expected)


def test_writer_start_time_round_trips_to_the_tick(tmp_path: Path) -> None:
    path = tmp_path / "tick.spectra"
    with SpectraWriter(path, fftlen=16, nfft2int=4, nffte=1, subbands=[10]) as w:
        w.write(T0 + 0.1, np.ones((1, 16)), np.ones((1, 16)))  # 19531.25 ticks of 5.12 µs
    assert SpectraFile(path).time_start_unix_s == pytest.approx(T0 + 19531 / 195312.5, abs=1e-6)


def test_block_converts_to_a_spectra_chunk(tmp_path: Path) -> None:
    path = tmp_path / "chunk.spectra"
    write_file(path, 1)
    chunk = next(SpectraFile(path).iter_blocks()).to_chunk("beam0", chunk_index=3)
    assert isinstance(chunk, SpectraChunk)
    assert (chunk.n_time, chunk.n_freq, chunk.time_start_unix_s) == (4, 32, T0)
    assert chunk.time_step_s == pytest.approx(64 / 195312.5)


def test_follow_yields_appended_blocks_and_waits_for_partial_ones(tmp_path: Path) -> None:
    source = tmp_path / "source.spectra"
    expected = write_file(source, 4)
    raw = source.read_bytes()
    size = len(raw) // 4
    live = tmp_path / "live.spectra"
    live.write_bytes(raw[:size])

    def recorder() -> None:
        with open(live, "ab") as f:
            for k in range(1, 4):
                half = k * size + size // 2
                f.write(raw[k * size:half])
                f.flush()
                time.sleep(0.15)  # the follower polls several times over a half block
                f.write(raw[half:(k + 1) * size])
                f.flush()

    thread = threading.Thread(target=recorder)
    got: list[SpectraBlock] = []
    sf = SpectraFile(live)
    thread.start()
    for block in sf.follow(poll_s=0.01, idle_timeout_s=5.0, correct_bandpass=False,
                           stop=lambda: len(got) == 4):
        got.append(block)
    thread.join()

    assert [b.block_index for b in got] == [0, 1, 2, 3]
    for b in got:
        assert np.array_equal(b.data, expected[b.block_index])


def test_follow_stops_after_idle_timeout(tmp_path: Path) -> None:
    path = tmp_path / "idle.spectra"
    write_file(path, 2)
    began = time.monotonic()
    got = list(SpectraFile(path).follow(poll_s=0.01, idle_timeout_s=0.2))
    assert len(got) == 2 and 0.2 <= time.monotonic() - began < 2.0


def test_reading_does_not_copy_the_whole_file_into_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.spectra"
    zeros = np.zeros((32, 64, 64, 2), np.float32)
    with SpectraWriter(path, fftlen=64, nfft2int=4, nffte=64, subbands=list(range(32))) as w:
        for k in range(8):
            w.write_raw(zeros + k, zeros, timestamp=T0 + k, blockseqnumber=0)
    file_bytes = path.stat().st_size

    tracemalloc.start()
    sf = SpectraFile(path)
    totals = [float(b.data.sum()) for b in sf.iter_blocks()]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert len(totals) == 8 and file_bytes > 16_000_000
    assert peak < file_bytes / 4


def test_truncated_file_warns_with_offset_and_reads_complete_blocks(tmp_path: Path) -> None:
    path = tmp_path / "cut.spectra"
    write_file(path, 3)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.warns(SpectraTruncatedWarning) as record:
        sf = SpectraFile(path)

    message = str(record[0].message)
    assert str(path) in message and f"byte offset {2 * size // 3}" in message
    assert sf.n_blocks == 2 and sf.truncated_bytes == size // 3 - 100
    assert len(list(sf.iter_blocks())) == 2


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("fftlen", 17, "fftlen=17"), ("fftlen", 4096, "fftlen=4096"), ("fftlen", 8, "fftlen=8"),
     ("nfft2int", 2, "nfft2int=2"), ("nfft2int", 2000, "nfft2int=2000"),
     ("nbchan", 0, "nbchan=0"), ("nbchan", 100_000, "nbchan=100000")],
)
def test_wrong_first_header_names_file_and_offset(tmp_path: Path, field: str, value: int,
                                                  words: str) -> None:
    path = tmp_path / "bad.spectra"
    fft0, fft1 = hand_block()
    header = {"fftlen": 16, "nfft2int": 4, "nbchan": 2} | {field: value}
    path.write_bytes(pack_block(fft0, fft1, [100, 101], fftlen=header["fftlen"],
                                nfft2int=header["nfft2int"], nbchan=header["nbchan"]))

    with pytest.raises(SpectraFileError, match=words) as err:
        SpectraFile(path)

    assert str(path) in str(err.value) and "byte offset 0" in str(err.value)
    assert (err.value.path, err.value.offset) == (str(path), 0)


def test_later_block_disagreeing_with_the_first_raises_at_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "mixed.spectra"
    fft0, fft1 = hand_block()
    good = pack_block(fft0, fft1, [100, 101])
    path.write_bytes(good * 2 + pack_block(fft0, fft1, [100, 101], nfft2int=8))

    with pytest.raises(SpectraFileError, match="nfft2int=8") as err:
        SpectraFile(path)

    assert err.value.offset == 2 * len(good) and f"byte offset {2 * len(good)}" in str(err.value)


def test_wrong_block_size_in_first_header_is_caught_at_the_second_block(tmp_path: Path) -> None:
    path = tmp_path / "size.spectra"
    fft0, fft1 = hand_block()
    block = bytearray(pack_block(fft0, fft1, [100, 101]))
    struct.pack_into("<i", block, 40, 1)  # nffte 2 -> 1: a block now looks 512 bytes shorter
    path.write_bytes(bytes(block) * 3)

    with pytest.raises(SpectraFileError, match="block 1") as err:
        SpectraFile(path)

    assert err.value.offset == 1096 - 512 and str(path) in str(err.value)


def test_garbage_bytes_raise_with_path_and_offset(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    noise = tmp_path / "noise.spectra"
    noise.write_bytes(rng.bytes(5000))
    with pytest.raises(SpectraFileError, match="byte offset 0") as err:
        SpectraFile(noise)
    assert str(noise) in str(err.value)

    tail = tmp_path / "tail.spectra"
    write_file(tail, 2)
    size = tail.stat().st_size
    tail.write_bytes(tail.read_bytes() + rng.bytes(size // 2))
    with pytest.raises(SpectraFileError, match=f"byte offset {size}") as err:
        SpectraFile(tail)
    assert str(tail) in str(err.value)


def test_file_shorter_than_a_header_raises(tmp_path: Path) -> None:
    path = tmp_path / "tiny.spectra"
    path.write_bytes(b"\x00" * 20)
    with pytest.raises(SpectraFileError, match="byte offset 20"):
        SpectraFile(path)


def test_unknown_stokes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.spectra"
    write_file(path, 1)
    with pytest.raises(ValueError, match="stokes"):
        SpectraFile(path).block(0, stokes="L")
