"""Solar continua: type I noise storms, type IV and type V, measured on noiseless grids."""

from dataclasses import replace

import numpy as np
import pytest

from nenubroker.edge.sim import storms
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import NEGLIGIBLE, InjectedEvent, arrival_unix_s, event_power, last_time_unix_s
from nenubroker.edge.sim.solar import radial_drift_hz_per_s

T0 = 1.7e9
BAND = (10e6, 85e6)


def _fwhm(axis: np.ndarray, profile: np.ndarray) -> float:
    above = axis[profile >= profile.max() / 2]
    return float(above.max() - above.min())


def _storm(**changes) -> InjectedEvent:
    event = InjectedEvent("type_i", "b", T0, 85e6, 5.0, duration_s=4 * 3600.0, freq_stop_hz=50e6,
                          burst_rate_per_s=3.0, continuum_level=0.2, seed=11, circular_polarisation=0.9)
    return replace(event, **changes)


def test_type_i_bursts_are_short_narrowband_and_as_frequent_as_the_storm_says():
    storm = _storm()
    bursts = storms.type_i_bursts(storm, T0 + 3600, T0 + 4200)
    assert 1600 < len(bursts) < 2000  # 3 per second for 600 s
    centre, freq, fwhm, width, amplitude = bursts.T
    assert np.all((fwhm >= 0.1) & (fwhm <= 1.0))  # 0.1-1 s
    assert np.all((width / freq >= 0.015) & (width / freq <= 0.05))  # a few % of their frequency
    assert np.all((freq >= 50e6) & (freq <= 85e6)) and np.all((amplitude > 0.2 - 1e-9) & (amplitude <= 1))
    again = np.concatenate([storms.type_i_bursts(storm, T0 + 3600, T0 + 3900.5),
                            storms.type_i_bursts(storm, T0 + 3900.5, T0 + 4200)])
    np.testing.assert_array_equal(np.unique(again, axis=0), np.unique(bursts, axis=0))  # any window, same bursts


def test_a_type_i_burst_does_not_drift_and_has_its_drawn_duration_and_bandwidth():
    storm = _storm(continuum_level=0.0, burst_rate_per_s=0.5)
    bursts = storms.type_i_bursts(storm, T0 + 600, T0 + 1200)
    isolated = [b for i, b in enumerate(bursts) if b[2] > 0.3 and b[4] > 0.5 and not any(
        abs(o[0] - b[0]) < 2 * (o[2] + b[2]) and abs(o[1] - b[1]) < 2 * (o[3] + b[3])
        for j, o in enumerate(bursts) if j != i)]
    centre, freq, fwhm, width, amplitude = isolated[0]
    times = centre + np.arange(-1.5, 1.5, 0.005) * fwhm
    channels = freq + np.arange(-1.5, 1.5, 0.002) * width
    power = event_power(storm, times, channels, np.ones(channels.size), time_step_s=0.0, channel_width_hz=0.0)
    assert power.max() == pytest.approx(storm.snr * amplitude, rel=1e-3)
    ridge = channels[power.argmax(axis=1)]
    bright = power.max(axis=1) > power.max() / 2
    drift_hz_per_s = np.polyfit(times[bright], ridge[bright], 1)[0]
    assert abs(drift_hz_per_s) * fwhm < 0.01 * width  # no drift: the ridge stays put over the burst
    assert _fwhm(times, power[:, channels.size // 2]) == pytest.approx(fwhm, rel=0.02)
    assert _fwhm(channels, power[times.size // 2]) == pytest.approx(width, rel=0.02)


def test_type_i_storm_lies_on_a_continuum_for_hours_within_its_band():
    storm = _storm(burst_rate_per_s=0.0)
    freq = np.arange(20e6, 85e6, 0.1e6)
    times = T0 + np.array([-10.0, 1800.0, 2 * 3600.0, 4 * 3600.0 + 10])
    power = event_power(storm, times, freq, np.ones(freq.size), time_step_s=0.021)
    assert power[0].max() == 0 and power[-1].max() == 0
    inside = power[1:3]
    assert inside[:, freq < 50e6].max() == 0 and inside[:, (freq > 60e6) & (freq < 75e6)].min() > 0.05
    assert inside.max() <= storm.continuum_level * storm.snr + 1e-9
    assert last_time_unix_s(storm) >= T0 + 4 * 3600


def test_type_i_draws_are_strongly_polarised_storms_of_hours_mostly_at_high_frequency():
    rng = np.random.default_rng(4)
    events = [random_event("type_i", rng, "b", T0, *BAND, 4.0)[0] for _ in range(200)]
    assert all(e.freq_start_hz == 85e6 and 20e6 <= e.freq_stop_hz <= 68e6 for e in events)
    assert np.median([e.freq_stop_hz for e in events]) > 35e6
    assert all(3600 <= e.duration_s <= 6 * 3600 for e in events)
    assert all(0.6 <= abs(e.circular_polarisation) <= 1.0 for e in events)
    assert {np.sign(e.circular_polarisation) for e in events} == {-1.0, 1.0}


def _type_iv(**changes) -> InjectedEvent:
    event = InjectedEvent("type_iv", "b", T0, 80e6, 4.0, duration_s=3600.0, freq_stop_hz=30e6, seed=5)
    return replace(event, **changes)


def test_moving_type_iv_shifts_down_with_its_source_and_a_stationary_one_stays():
    moving = _type_iv(speed_km_s=400.0, density_fold=2.0)
    freq = np.exp(np.linspace(np.log(10e6), np.log(85e6), 20000))
    times = T0 + np.arange(600.0, 3001.0, 300.0)
    power = event_power(moving, times, freq, np.ones(freq.size), time_step_s=0.0, channel_width_hz=0.0)
    peak = freq[power.argmax(axis=1)]
    np.testing.assert_allclose(peak, storms.type_iv_centre_hz(moving, times), rtol=2e-4)
    measured = np.diff(peak) / np.diff(times)
    law = radial_drift_hz_per_s(storms.type_iv_centre_hz(moving, (times[1:] + times[:-1]) / 2), 400.0, 2.0)
    np.testing.assert_allclose(measured, law, rtol=0.1)
    assert np.all((law < 0) & (law > -0.05e6))  # slow
    stationary = _type_iv()
    power = event_power(stationary, times, freq, np.ones(freq.size), time_step_s=0.0, channel_width_hz=0.0)
    assert np.ptp(freq[power.argmax(axis=1)]) == 0 and stationary.drift_hz_per_s == 0
    spectrum = power[3] / power[3].max()
    assert _fwhm(np.log(freq), spectrum) == pytest.approx(2.3548 * np.log(80 / 30) / 4, rel=0.01)  # broadband


def test_type_iv_lasts_its_duration_with_pulsations_and_costs_one_outer_product_per_block():
    event = _type_iv(modulation_period_s=3.0, modulation_depth=0.4)
    freq = np.arange(20e6, 58e6, 195312.5 / 16)
    assert event_power(event, T0 + np.array([-1.0, 3600.5]), freq, np.ones(freq.size), time_step_s=0.021).max() == 0
    times = T0 + 1800 + np.arange(0, 30, 0.021)
    light_curve = event_power(event, times, np.array([49e6]), np.ones(1), time_step_s=0.021)[:, 0]
    spectrum = np.abs(np.fft.rfft(light_curve - light_curve.mean()))
    period_s = 1 / np.fft.rfftfreq(times.size, 0.021)[spectrum.argmax()]
    assert period_s == pytest.approx(3.0, rel=0.05)
    assert light_curve.min() / light_curve.max() == pytest.approx(0.6, abs=0.05)
    whole = event_power(event, times[:640], freq, np.ones(freq.size), time_step_s=0.021)
    blocks = np.concatenate([event_power(event, times[i:i + 64], freq, np.ones(freq.size), time_step_s=0.021)
                             for i in range(0, 640, 64)])
    np.testing.assert_allclose(blocks, whole, atol=NEGLIGIBLE * event.snr)


def test_type_iv_draws_are_long_broadband_and_polarised_by_their_motion():
    rng = np.random.default_rng(6)
    events = [random_event("type_iv", rng, "b", T0, *BAND, 4.0)[0] for _ in range(300)]
    moving = [e for e in events if e.speed_km_s > 0]
    stationary = [e for e in events if e.speed_km_s == 0]
    assert 0.2 < len(moving) / len(events) < 0.4
    assert all(1200 <= e.duration_s <= 3600 and e.drift_hz_per_s < 0 for e in moving)
    assert all(1800 <= e.duration_s <= 3 * 3600 and e.drift_hz_per_s == 0 for e in stationary)
    assert all(abs(e.circular_polarisation) <= 0.3 for e in moving)
    assert all(abs(e.circular_polarisation) >= 0.6 for e in stationary)
    assert all(np.log(e.freq_start_hz / e.freq_stop_hz) >= 4 * 0.3 - 1e-9 for e in events)  # broadband
    centres = [np.sqrt(e.freq_start_hz * e.freq_stop_hz) for e in stationary]
    assert min(centres) < 15e6 and max(centres) > 70e6  # anywhere in the band


def test_type_v_is_a_smooth_continuum_that_starts_at_once_at_every_frequency():
    event = InjectedEvent("type_v", "b", T0, 45e6, 3.0, duration_s=120.0, freq_stop_hz=10e6)
    freq = np.array([15e6, 25e6, 35e6])
    times = T0 + np.arange(-5, 130, 0.05)
    power = event_power(event, times, freq, np.ones(3), time_step_s=0.0)
    assert power[(times < T0) | (times > T0 + 120)].max() == 0
    half_rise = np.array([times[np.argmax(power[:, k] >= power[:, k].max() / 2)] for k in range(3)])
    assert np.ptp(half_rise) == 0  # no drift
    assert _fwhm(times, power[:, 1]) == pytest.approx(0.575 * 120, rel=0.02)  # a minute or so
    assert np.all(np.abs(np.diff(power[:, 1])) < 0.01 * event.snr)  # smooth


def test_type_v_follows_its_type_iii_group_below_120_mhz_in_the_opposite_sense():
    rng = np.random.default_rng(8)
    for _ in range(100):
        group = random_event("type_v", rng, "b", T0, *BAND, 4.0, harmonic_fraction=0.3)
        *type_iiis, type_v = group
        assert type_v.kind == "type_v" and {e.kind for e in type_iiis} == {"type_iii"} and 1 <= len(
            [e for e in type_iiis if e.harmonic == 1]) <= 4
        assert type_v.freq_start_hz <= 85e6 and type_v.freq_stop_hz == 10e6 and 60 <= type_v.duration_s <= 180
        reach = max(float(arrival_unix_s(e, min(type_v.freq_start_hz, e.freq_start_hz))) for e in type_iiis
                    if e.harmonic == 1)
        assert reach + 1 <= type_v.time_start_unix_s <= reach + 5
        assert type_v.snr < group[0].snr == 4.0
        assert all(np.sign(e.circular_polarisation) == -np.sign(type_v.circular_polarisation) for e in type_iiis)
        assert abs(type_v.circular_polarisation) <= 0.2
    high = random_event("type_v", np.random.default_rng(0), "b", T0, 100e6, 200e6, 4.0)[-1]
    assert high.freq_start_hz <= storms.TYPE_V_MAX_FREQ_HZ
