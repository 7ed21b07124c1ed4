"""Calibration, `other` threshold, held-out splits and segment configurations of the classifier training."""

import numpy as np
import pandas as pd
import pytest

from nenubroker.udfs.burst_features.core import CLASSES, calibrated
from nenubroker.udfs.training.data import (
    BANDS,
    RESOLUTION_NAMES,
    draw_config,
    morphology_family,
    segment_settings,
    training_settings,
)
from nenubroker.udfs.training.generalisation import (
    choose_other_threshold,
    expected_calibration_error,
    experiments,
    fit_temperature,
    predicted_labels,
    split_segments,
)


def _overconfident(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that put 0.95 on a class that is right 70 % of the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    guess = np.where(rng.random(n) < 0.7, truth, (truth + 1) % 3)
    p = np.full((n, len(CLASSES)), 0.05 / (len(CLASSES) - 1))
    p[np.arange(n), guess] = 0.95
    return p, np.array(CLASSES)[truth]


def test_temperature_scaling_fixes_overconfidence():
    p, labels = _overconfident()
    temperature = fit_temperature(p, labels)
    assert temperature > 1.5
    assert expected_calibration_error(calibrated(p, temperature), labels) < 0.05 < expected_calibration_error(p, labels)


def test_other_threshold_is_chosen_where_low_confidence_candidates_are_noise():
    rng = np.random.default_rng(1)
    confident = np.eye(len(CLASSES))[rng.integers(0, 3, 300)] * 0.9 + 0.1 / len(CLASSES)
    vague = np.full((100, len(CLASSES)), 1 / len(CLASSES))
    vague[:, 0] += 0.2
    p = np.vstack([confident, vague / vague.sum(axis=1, keepdims=True)])
    labels = np.concatenate([np.array(CLASSES)[np.argmax(confident, axis=1)], ["other"] * 100])
    threshold = choose_other_threshold(p, labels)
    assert p[300:].max(axis=1).max() < threshold <= p[:300].max(axis=1).min()
    assert (predicted_labels(p, threshold)[300:] == "other").all()


def test_segments_go_whole_to_validation():
    df = pd.DataFrame({"segment": np.repeat([f"1-{i}" for i in range(10)], 5)})
    fit, validation = split_segments(df, 0.2, seed=3)
    assert validation["segment"].nunique() == 2 and not set(fit["segment"]) & set(validation["segment"])


def test_held_out_experiments_leave_their_configuration_out_of_training():
    train = pd.DataFrame({"config_band": ["low", "mid", "wide", "high"], "config_freq_lo_mhz": [12, 31, 20, 60],
                          "config_freq_hi_mhz": [28, 50, 58, 80], "config_resolution": ["a", "b", "a", "b"],
                          "config_family": ["u_j", "type_iii", "harmonic", "spike"]})
    test = train.copy()
    by_name = {e.name: e for e in experiments(train, test)}
    low = by_name["band low (10-30 MHz)"]
    assert low.train_mask.tolist() == [False, True, False, True]
    assert low.test_mask.tolist() == [True, False, False, False]
    assert by_name["resolution a"].train_mask.tolist() == [False, True, False, True]
    assert by_name["family u_j"].train_mask.tolist() == [False, True, True, True]


@pytest.mark.parametrize("seed", range(20))
def test_segment_configurations_stay_in_the_nenufar_band_and_build_valid_settings(seed):
    config = draw_config(np.random.default_rng(seed))
    lo_hz, hi_hz = BANDS[config.band]
    assert lo_hz - 2e5 <= config.freq_lo_hz < config.freq_hi_hz <= hi_hz + 2e5 and config.n_subbands % 2 == 0
    assert config.resolution.name in RESOLUTION_NAMES
    settings = segment_settings(training_settings(), config)
    assert settings.simulator.n_subbands * settings.simulator.fftlen % settings.ingest.downsample_freq == 0
    assert set(config.columns()) >= {"config_band", "config_resolution", "config_freq_lo_mhz"}


def test_u_and_j_bursts_and_harmonics_are_type_iii_families_of_their_own():
    assert morphology_family("type_iii_u", 1) == morphology_family("type_iii_j", 1) == "u_j"
    assert morphology_family("type_iii", 2) == "harmonic" and morphology_family("type_iii", 1) == "type_iii"
    assert morphology_family("rfi_impulse", 1) == "rfi"
