"""burst_search on its sample chunks (edge simulator, 64 x 192) and on synthetic arrays; no Spark."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nenubroker.edge.sim.events import type_iii_drift_hz_per_s
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_search import MODULE, Params
from nenubroker.udfs.burst_search.core import detect_bursts, normalise_channels
from nenubroker.udfs.burst_search.fdmt import fdmt_levels
from nenubroker.udfs.contract import CANDIDATE_COLUMNS
from nenubroker.udfs.registry import chunk_table, discover

SAMPLE = pd.read_parquet(Path(__file__).with_name("sample.parquet")).set_index("case")


def _chunk(case: str) -> SpectraChunk:
    row = SAMPLE.loc[case]
    data = np.frombuffer(row["data"], dtype="<f4").reshape(row["n_time"], row["n_freq"])
    return SpectraChunk(
        beam=row["beam"],
        chunk_index=int(row["chunk_index"]),
        time_start_unix_s=row["time_start_unix_s"],
        time_step_s=row["time_step_s"],
        freq_hz=np.asarray(row["freq_hz"]),
        data=data.copy(),
        overlap_samples=int(row["overlap_samples"]),
    )


def _detect(chunk: SpectraChunk, data: np.ndarray | None = None) -> list[dict[str, Any]]:
    return detect_bursts(
        chunk.data if data is None else data,
        chunk.freq_hz,
        chunk.time_start_unix_s,
        chunk.time_step_s,
        overlap_samples=chunk.overlap_samples,
    )


def _noise(rng: np.random.Generator, n_time: int, freq_hz: np.ndarray) -> np.ndarray:
    """Gamma noise (shape 16384, as 64 x 256 averaged spectra) through a sky-like bandpass, 2 hot channels."""
    background = (freq_hz / 50e6) ** -2.55 * (0.2 + np.exp(-0.5 * (np.log(freq_hz / 55e6) / 0.45) ** 2))
    background[[17, 120]] *= 1.5
    return (rng.gamma(16384, 1 / 16384, size=(n_time, freq_hz.size)) * background).astype(np.float32)


def test_spike_is_found_at_its_time_and_frequency() -> None:
    chunk, truth = _chunk("spike"), SAMPLE.loc["spike"]
    [candidate] = _detect(chunk)
    channel_hz = chunk.freq_hz[1] - chunk.freq_hz[0]
    assert abs(candidate["freq_peak_hz"] - truth["truth_freq_hz"]) <= channel_hz
    assert candidate["freq_min_hz"] <= truth["truth_freq_hz"] <= candidate["freq_max_hz"]
    assert candidate["freq_max_hz"] - candidate["freq_min_hz"] < 1.5e6
    assert abs(candidate["time_peak_s"] - truth["truth_time_unix_s"]) <= 0.1 + chunk.time_step_s
    assert candidate["snr"] > 10 and candidate["duration_s"] < 1.0 and candidate["drift_hz_per_s"] == 0.0


def test_type_iii_drift_follows_the_law_at_its_peak_frequency_over_its_band() -> None:
    chunk, truth = _chunk("type_iii"), SAMPLE.loc["type_iii"]
    [candidate] = _detect(chunk)
    law = type_iii_drift_hz_per_s(candidate["freq_peak_hz"])
    assert candidate["drift_hz_per_s"] == pytest.approx(law, rel=0.3)
    assert abs(candidate["freq_max_hz"] - truth["truth_freq_hz"]) < 2e6  # starts at 50 MHz
    assert candidate["freq_min_hz"] < 25e6  # and sweeps to the bottom of the band
    assert candidate["time_start_s"] <= truth["truth_time_unix_s"] + 0.5


def test_jupiter_like_sweep_is_found_with_a_fast_drift() -> None:
    chunk, truth = _chunk("jupiter"), SAMPLE.loc["jupiter"]
    [candidate] = _detect(chunk)
    assert -25e6 <= candidate["drift_hz_per_s"] <= -15e6
    assert candidate["freq_max_hz"] <= 40e6 and candidate["freq_min_hz"] < 30e6
    assert truth["truth_time_unix_s"] <= candidate["time_peak_s"] <= truth["truth_time_unix_s"] + 0.7


def test_noise_gives_no_candidate_over_many_chunks() -> None:
    rng = np.random.default_rng(7)
    freq_hz = _chunk("noise").freq_hz
    assert _detect(_chunk("noise")) == []
    assert [
        c for _ in range(150) for c in detect_bursts(_noise(rng, 64, freq_hz), freq_hz, 0.0, 0.0839)
    ] == []


def test_burst_in_the_overlap_is_reported_by_exactly_one_chunk() -> None:
    first, second = _chunk("overlap_a"), _chunk("overlap_b")
    shared = second.overlap_samples
    np.testing.assert_array_equal(first.data[-shared:], second.data[:shared])
    reports = [_detect(first), _detect(second)]
    assert [len(r) for r in reports] == [1, 0]
    assert reports[0][0]["time_peak_s"] >= second.time_start_unix_s  # it peaks in the shared samples


def test_type_iii_crossing_a_chunk_boundary_is_reported_once_by_the_chunk_that_sees_it_begin() -> None:
    first, second = _chunk("boundary_a"), _chunk("boundary_b")
    onset_s = SAMPLE.loc["boundary_a", "truth_time_unix_s"]
    assert second.time_start_unix_s < onset_s < first.time_start_unix_s + first.n_time * first.time_step_s
    reports = [_detect(first), _detect(second)]
    assert [len(r) for r in reports] == [0, 1]  # it begins in the second half of the shared samples
    [candidate] = reports[1]
    assert candidate["freq_min_hz"] < 25e6 and candidate["drift_hz_per_s"] < 0  # seen whole


def test_burst_begun_in_the_previous_chunk_is_not_reported_again() -> None:
    rng = np.random.default_rng(3)
    freq_hz = _chunk("noise").freq_hz
    stream = _noise(rng, 112, freq_hz)
    stream[40:70, 80:90] *= 1.05  # 30 samples, 2.5 s: longer than the 16 shared samples
    reports = [
        detect_bursts(stream[:64], freq_hz, 0.0, 0.0839, overlap_samples=16),
        detect_bursts(stream[48:], freq_hz, 48 * 0.0839, 0.0839, overlap_samples=16),
    ]
    assert [len(r) for r in reports] == [1, 0]


def test_lost_samples_and_flagged_channels_are_tolerated() -> None:
    chunk, truth = _chunk("spike"), SAMPLE.loc["spike"]
    data = chunk.data.copy()
    data[5:9] = np.nan  # a lost block
    data[:, 60:64] = np.nan  # flagged channels
    data[40:, 150] = np.nan  # a channel lost half-way
    [candidate] = _detect(chunk, data)
    assert abs(candidate["freq_peak_hz"] - truth["truth_freq_hz"]) <= 2 * (
        chunk.freq_hz[1] - chunk.freq_hz[0]
    )
    assert np.isfinite(candidate["cutout"]).all()
    assert _detect(chunk, np.full_like(data, np.nan)) == []


def test_bandpass_and_sky_slope_are_normalised_away() -> None:
    normalised = normalise_channels(_chunk("noise").data)  # raw levels differ by x3 across the band
    assert np.abs(np.median(normalised, axis=0)).max() < 0.5  # 64-sample estimates scatter by ~0.17
    assert abs(np.median(normalised)) < 0.05
    assert np.std(normalised, axis=0) == pytest.approx(np.ones(normalised.shape[1]), rel=0.35)
    assert np.std(normalised) == pytest.approx(1.0, rel=0.05)


def test_fdmt_sums_a_drifting_track_over_the_whole_band() -> None:
    data = np.zeros((2, 8, 16), "f4")
    data[1] = 1
    data[0, np.arange(8), 2 + np.arange(8)] = 1  # one sample later per channel: 7 across the band
    top = list(fdmt_levels(data, max_slope=1.0, max_delay=16))[-1]
    assert top.shape == (2, 1, 8, 16)
    assert top[0, 0, 7, 2] == 8 and top[1, 0, 7, 2] == 8
    assert top[0, 0, 0].max() == 1  # the undelayed track sees one pixel at a time


def test_module_runs_through_the_contract() -> None:
    chunks = [_chunk(case) for case in ("noise", "spike", "overlap_a", "overlap_b")]
    table = chunk_table(chunks)
    table["overlap_samples"] = [c.overlap_samples for c in chunks]
    candidates = MODULE.run(table, {"snr_threshold": 8.0})
    assert list(candidates.columns) == ["chunk_row", *[c.name for c in CANDIDATE_COLUMNS]]
    assert candidates["chunk_row"].tolist() == [1, 2]
    assert candidates["chunk_index"].tolist() == [0, 1]
    assert all(cutout.shape == (32, 32) for cutout in candidates["cutout"])
    assert discover()["burst_search"] is MODULE and Params().snr_threshold == 7.5
