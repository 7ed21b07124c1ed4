"""The quality benchmark's trials: the broker's whole chunk chain on one simulated event, and on noise."""

import pytest

from nenubroker.udfs.training.quality import CLASS_OF_KIND, event_trial, noise_trial, track


def test_a_bright_spike_cluster_is_alerted_tracked_and_measured() -> None:
    row = event_trial("spike", 60.0, seed=3)
    assert row["found"] and row["n_alerts"] >= 1 and row["n_events"] >= 1
    assert row["n_other_alerts"] == 0
    assert row["drift_hz_per_s"] == 0.0 and row["truth_drift_hz_per_s"] == 0.0
    assert -1.0 < row["first_alert_delay_s"] < 1.0  # alerted from the onset, not a chunk later
    assert row["alert_class"] is not None


def test_an_event_too_faint_to_see_is_not_found() -> None:
    row = event_trial("type_iii", 0.5, seed=3)
    assert not row["found"] and row["n_alerts"] == 0


def test_kinds_map_onto_the_observer_classes() -> None:
    assert set(CLASS_OF_KIND.values()) >= {"type_i", "type_ii", "type_iii", "type_iiib", "type_iv", "type_v",
                                          "spike", "jupiter_s", "jupiter_l"}


def test_noise_with_a_real_receiver_counts_its_alerts_per_hour() -> None:
    result = noise_trial(0.02, seed=5)
    assert result["hours"] == pytest.approx(0.02, rel=0.2)
    assert result["alerts"] == len(result["snr"]) == len(result["classes"])
    assert result["non_rfi_alerts"] <= result["alerts"]


def test_tracking_merges_nothing_when_there_are_no_alerts() -> None:
    import pandas as pd

    from nenubroker.udfs.training.quality import chain_settings

    assert track(pd.DataFrame({"time_start_unix_s": []}), chain_settings(1)) == []
