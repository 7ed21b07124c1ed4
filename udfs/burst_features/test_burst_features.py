"""burst_features on synthetic cutouts and on its sample (held-out simulated candidates), no Spark."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nenubroker.udfs.burst_features import MODULE
from nenubroker.udfs.burst_features.core import (
    CLASSES,
    FEATURES,
    burst_features,
    calibrated,
    class_table,
    cutout_statistics,
    type_iii_drift_hz_per_s,
)

SAMPLE_PATH = Path(__file__).with_name("sample.parquet")
_T, _F = np.mgrid[0:32, 0:32].astype(float)


def _spike_cutout() -> np.ndarray:
    return (20 * np.exp(-0.5 * (((_T - 16) / 1.5) ** 2 + ((_F - 16) / 2.0) ** 2))).astype("f4")


def _type_iii_cutout() -> np.ndarray:
    """Broadband, arriving later at lower frequency (lower column), fast rise and slow decay."""
    arrival = 8 + (31 - _F) * 0.5
    local = _T - arrival
    profile = np.where(local < 0, np.exp(-0.5 * (local / 1.0) ** 2), np.exp(-local / 6.0))
    return (15 * profile).astype("f4")


def _candidates() -> pd.DataFrame:
    return pd.DataFrame({
        "duration_s": [0.17, 2.5], "freq_min_hz": [40.0e6, 25e6], "freq_max_hz": [40.4e6, 45e6],
        "freq_peak_hz": [40.2e6, 44e6], "drift_hz_per_s": [0.0, 0.0], "snr": [12.0, 30.0],
        "cutout": [_spike_cutout(), _type_iii_cutout()],
    }, index=[10, 11])


def test_features_of_a_spike_and_a_type_iii_are_finite_and_tell_them_apart():
    features = burst_features(_candidates())
    assert list(features.columns) == list(FEATURES)
    assert np.isfinite(features.to_numpy()).all()
    spike, burst = features.loc[10], features.loc[11]
    assert spike["feat_frac_bandwidth"] < 0.02 < burst["feat_frac_bandwidth"]
    assert spike["feat_log_duration_s"] < burst["feat_log_duration_s"]
    assert abs(spike["feat_cutout_slope"]) < 0.05 and burst["feat_cutout_slope"] < -0.3
    assert abs(spike["feat_drift_law_ratio"]) < 0.2 and burst["feat_drift_law_ratio"] > 0.3
    assert burst["feat_time_asymmetry"] > spike["feat_time_asymmetry"]
    assert burst["feat_freq_width"] > 0.5 > spike["feat_freq_width"]


def test_detector_drift_is_compared_with_the_type_iii_law_and_with_the_frequency():
    law_hz_per_s = float(type_iii_drift_hz_per_s(44e6))
    features = burst_features(_candidates().assign(drift_hz_per_s=[0.0, law_hz_per_s])).loc[11]
    assert features["feat_drift_law_ratio"] == pytest.approx(1.0)
    assert features["feat_relative_drift_per_s"] == pytest.approx(law_hz_per_s / 44e6)
    assert features["feat_log_relative_drift"] == pytest.approx(np.log10(-law_hz_per_s / 44e6))


def test_no_feature_is_a_position_in_the_band_or_a_power_scale():
    """The same burst twice as high in frequency (drift scaled alike) and 10 x brighter in receiver units
    keeps every feature but the two that compare it with the type III laws, which depend on f."""
    candidates = _candidates().assign(drift_hz_per_s=[0.0, -2e6], peak_power=[0.05, 0.3])
    moved = candidates.assign(**{c: candidates[c] * 2 for c in ("freq_min_hz", "freq_max_hz", "freq_peak_hz",
                                                                  "drift_hz_per_s")}, peak_power=[0.5, 3.0])
    physical = ["feat_drift_law_ratio", "feat_log_decay_ratio"]
    pd.testing.assert_frame_equal(burst_features(candidates).drop(columns=physical),
                                  burst_features(moved).drop(columns=physical))
    assert not any(name.endswith(("_mhz", "_hz", "_power")) for name in FEATURES)


def test_calibration_and_other_threshold_of_class_tables():
    p = np.full((2, len(CLASSES)), 0.01)
    p[0, 0], p[1, 1] = 0.9, 0.3
    p /= p.sum(axis=1, keepdims=True)
    soft = calibrated(p, 2.0)
    assert np.allclose(soft.sum(axis=1), 1) and soft[0, 0] < p[0, 0]
    table = class_table("m", p, pd.Index([5, 6]), other_below=0.8)  # rows: 0.9 and 0.75
    assert table["m_label"].tolist() == [CLASSES[0], "other"]
    assert table.loc[6, "m_probabilities"][CLASSES[1]] == pytest.approx(p[1, 1])


def test_blank_cutout_and_degenerate_extent_give_finite_features():
    candidates = _candidates().iloc[:1].assign(cutout=[np.full((32, 32), np.nan, "f4")], duration_s=0.0,
                                               freq_max_hz=40.0e6, freq_min_hz=40.0e6)
    assert np.isfinite(burst_features(candidates).to_numpy()).all()
    vertical = _candidates().assign(drift_hz_per_s=[1e37, -np.inf], freq_peak_hz=[0.0, 44e6])
    assert np.isfinite(burst_features(vertical).to_numpy()).all()


def test_cutout_given_as_float32_bytes_gives_the_same_statistics():
    cutout = _type_iii_cutout()
    assert cutout_statistics(cutout.astype("<f4").tobytes()) == cutout_statistics(cutout)


def test_module_runs_through_the_contract_same_rows_same_index():
    candidates = _candidates().assign(beam="b", snr=[12.0, 30.0])
    out = MODULE.run(candidates)
    assert list(out.columns) == list(FEATURES) and out.index.equals(candidates.index)


def test_sample_features_match_the_stored_ones():
    sample = pd.read_parquet(SAMPLE_PATH)
    sample["cutout"] = [np.frombuffer(c, dtype="<f4").reshape(32, 32) for c in sample["cutout"]]
    recomputed = MODULE.run(sample)
    np.testing.assert_allclose(recomputed.to_numpy(), sample[list(FEATURES)].to_numpy(), rtol=1e-6, atol=1e-9)


def test_sample_holds_every_class_and_classes_differ_in_drift_bandwidth_asymmetry_and_aspect():
    sample = pd.read_parquet(SAMPLE_PATH)
    assert set(sample["label"]) == set(CLASSES)
    medians = sample.groupby("label")[list(FEATURES)].median()
    law = medians["feat_drift_law_ratio"]  # drifting on the type III law, whatever the band
    assert min(law["type_iii"], law["type_iiib"], law["jupiter_s"]) > 0.4 > max(abs(law["other"]), abs(law["rfi"]))
    assert medians.loc["type_iii", "feat_frac_bandwidth"] > 1.5 * medians.loc["spike", "feat_frac_bandwidth"]
    asymmetry = medians["feat_time_asymmetry"]  # fast rise, slow decay
    assert asymmetry["type_iii"] > 0.1 > asymmetry["spike"]
    aspect = medians["feat_log_aspect"]  # noise and leaking RFI: one channel, long
    assert min(aspect["rfi"], aspect["other"]) > 3 > max(aspect["spike"], aspect["type_iii"])


def test_flagged_channels_and_lost_blocks_show_as_dead_columns_and_rows():
    noise = np.random.default_rng(1).normal(size=(32, 32)).astype("f4")
    noise[:, 10:14] = 0.0  # a flagged channel, resampled: NaN became 0
    noise[20:22, :] = 0.0  # a lost block
    stats = cutout_statistics(noise)
    assert stats["feat_dead_column_fraction"] == pytest.approx(4 / 32, abs=1 / 32)
    assert stats["feat_dead_row_fraction"] == pytest.approx(2 / 32, abs=1 / 32)
    assert cutout_statistics(_spike_cutout() + 1.0)["feat_dead_column_fraction"] == 0.0  # live everywhere
