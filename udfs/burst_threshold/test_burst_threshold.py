"""burst_threshold on its sample data (three simulated chunks: noise, a spike, a type III), no Spark."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nenubroker.udfs.burst_threshold.core import detect_bursts, normalise_channels

SAMPLE = pd.read_parquet(Path(__file__).with_name("sample.parquet")).set_index("case")


def _detect(case: str):
    row = SAMPLE.loc[case]
    spectra = np.frombuffer(row["data"], dtype="<f4").reshape(row["n_time"], row["n_freq"])
    return detect_bursts(spectra, np.asarray(row["freq_hz"]), row["time_start_unix_s"], row["time_step_s"]), row


def test_noise_chunk_has_no_candidate():
    candidates, _ = _detect("noise")
    assert candidates == []


def test_spike_is_found_at_its_time_and_frequency():
    [candidate], row = _detect("spike")
    channel_hz = row["freq_hz"][1] - row["freq_hz"][0]
    assert abs(candidate["freq_peak_hz"] - row["truth_freq_hz"]) <= channel_hz
    assert row["truth_time_unix_s"] <= candidate["time_peak_s"] <= row["truth_time_unix_s"] + 0.3
    assert candidate["snr"] > 7.0 and candidate["duration_s"] < 1.0


def test_type_iii_is_found_drifting_below_its_start_frequency():
    candidates, row = _detect("type_iii")
    brightest = candidates[0]
    assert brightest["freq_max_hz"] - brightest["freq_min_hz"] > 5e6  # a broadband candidate
    assert brightest["freq_max_hz"] <= row["truth_freq_hz"] + 1e6
    assert brightest["time_start_s"] >= row["truth_time_unix_s"] - 0.5


def test_bandpass_and_sky_slope_are_normalised_away():
    row = SAMPLE.loc["noise"]
    spectra = np.frombuffer(row["data"], dtype="<f4").reshape(row["n_time"], row["n_freq"])
    normalised = normalise_channels(spectra)
    assert np.abs(np.median(normalised, axis=0)).max() < 1e-5
    assert np.std(normalised) == pytest.approx(1.0, rel=0.1)


def test_all_nan_chunk_gives_nothing_rather_than_failing():
    assert detect_bursts(np.full((16, 8), np.nan), np.arange(8.0), 0.0, 0.1) == []
