import numpy as np
import pytest

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.simulator import (
    BeamSimulator,
    InjectedEvent,
    event_power,
    sky_background,
    type_iii_arrival_s,
    type_iii_drift_hz_per_s,
)

T0 = 1.7e9


def _quiet(**changes) -> SimulatorSettings:
    return SimulatorSettings(realtime=False, bursts_per_minute=0.0, **changes)


def test_noise_is_gamma_with_shape_of_integrated_spectra():
    settings = _quiet(chunk_time_samples=2048, n_channels=8, integrated_spectra=64)
    chunk, _ = BeamSimulator("b", settings, start_unix_s=T0).next_chunk()
    background = sky_background(chunk.freq_hz)
    np.testing.assert_allclose(chunk.data.mean(axis=0), background, rtol=0.02)
    # Gamma(k, B/k): variance B^2/k
    np.testing.assert_allclose(chunk.data.var(axis=0), background**2 / 64, rtol=0.15)


def test_sky_falls_as_nu_to_minus_2_55_outside_the_bandpass_shape():
    freq = np.array([30e6, 60e6])
    ratio = sky_background(freq)[1] / sky_background(freq)[0]
    bandpass_ratio = (0.2 + np.exp(-0.5 * (np.log(60 / 55) / 0.45) ** 2)) / (
        0.2 + np.exp(-0.5 * (np.log(30 / 55) / 0.45) ** 2))
    assert ratio == pytest.approx(2.0**-2.55 * bandpass_ratio)


def test_type_iii_drift_law_at_30_mhz():
    assert type_iii_drift_hz_per_s(30e6) / 1e6 == pytest.approx(-0.01 * 30**1.84)
    assert -5.5 < type_iii_drift_hz_per_s(30e6) / 1e6 < -4.5
    # arrival times integrate the same law: d(arrival)/df = 1 / (df/dt)
    f = np.array([30e6, 30.01e6])
    slope = (type_iii_arrival_s(f, 60e6)[1] - type_iii_arrival_s(f, 60e6)[0]) / 0.01e6
    assert slope == pytest.approx(1 / type_iii_drift_hz_per_s(30.005e6), rel=1e-3)


def test_spike_peak_has_the_requested_snr_at_its_frequency():
    settings = _quiet()
    beam = BeamSimulator("b", settings, start_unix_s=T0)
    event = InjectedEvent("spike", "b", T0 + 1.0, beam.freq_hz[100], snr=12.0, duration_s=0.2, bandwidth_hz=5e5)
    times = T0 + 1.1 + np.array([0.0])
    power = event_power(event, times, beam.freq_hz, beam.sigma)
    assert power[0].argmax() == 100
    assert power[0, 100] / beam.sigma[100] == pytest.approx(12.0)


def test_same_seed_same_data_other_beam_other_data():
    settings = _quiet()
    a, _ = BeamSimulator("beam0", settings, start_unix_s=T0).next_chunk()
    b, _ = BeamSimulator("beam0", settings, start_unix_s=T0).next_chunk()
    c, _ = BeamSimulator("beam1", settings, start_unix_s=T0).next_chunk()
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)


def test_random_events_follow_the_rate_and_are_reported_in_their_chunk():
    settings = SimulatorSettings(realtime=False, bursts_per_minute=30.0)
    beam = BeamSimulator("b", settings, start_unix_s=T0)
    events = []
    for _ in range(200):  # 200 chunks of 5.37 s: ~18 minutes, ~537 events expected
        chunk, started = beam.next_chunk()
        assert all(chunk.time_start_unix_s <= e.time_start_unix_s < chunk.time_start_unix_s + beam.chunk_duration_s
                   for e in started)
        events += started
    assert 440 < len(events) < 640
    assert {e.kind for e in events} == {"type_iii", "spike"}
