"""Solar bursts that drift through the corona: type II lanes, U and J bursts, measured on noiseless grids."""

from dataclasses import replace

import numpy as np
import pytest

from nenubroker.edge.sim import solar
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import (
    NEGLIGIBLE,
    InjectedEvent,
    event_power,
    last_time_unix_s,
    type_iii_drift_hz_per_s,
)

T0 = 1.7e9
BAND = (10e6, 85e6)  # NenuFAR
CHANNEL_HZ = 195312.5 / 16


def _type_ii(**changes) -> InjectedEvent:
    event = InjectedEvent("type_ii", "b", T0, 40e6, 5.0, duration_s=300.0, speed_km_s=1000.0, density_fold=2.0,
                          harmonic_ratio=1.95, relative_bandwidth=0.05, seed=7)
    return replace(event, **changes)


def _relative_errors(measured: np.ndarray, law: np.ndarray) -> np.ndarray:
    return np.abs(measured / law - 1)


def test_newkirk_corona_gives_the_plasma_frequency_and_its_inverse():
    r = np.array([1.2, 1.5, 2.0, 3.0])
    f = solar.newkirk_plasma_hz(r, 1.0)
    np.testing.assert_allclose(f, 8980 * np.sqrt(4.2e4 * 10 ** (4.32 / r)))
    np.testing.assert_allclose(solar.newkirk_radius(f, 1.0), r)
    assert solar.newkirk_plasma_hz(1.5, 4.0) == pytest.approx(2 * solar.newkirk_plasma_hz(1.5, 1.0))


def test_type_ii_fundamental_lane_drifts_with_a_shock_through_the_corona():
    event = _type_ii()
    freq = np.arange(*BAND, CHANNEL_HZ)
    times = T0 + np.arange(20.0, 281.0, 20.0)
    power = event_power(event, times, freq, np.ones(freq.size), time_step_s=0.021)
    ridge = freq[np.argmax(np.where(freq[None, :] < 1.45 * solar.type_ii_plasma_hz(event, times)[:, None],
                                    power, 0), axis=1)]
    mid_s = (times[1:] + times[:-1]) / 2 + 0.0105
    measured = np.diff(ridge) / np.diff(times)
    law = solar.type_ii_drift_hz_per_s(event, mid_s)
    assert np.all(_relative_errors(measured, law) < 0.1)
    assert np.all((law < -0.03e6) & (law > -1e6))  # a slow drift, as at these frequencies
    assert ridge[0] < event.freq_start_hz and ridge[-1] == pytest.approx(event.freq_stop_hz or ridge[-1])
    before_and_after = event_power(event, T0 + np.array([-5.0, 305.0]), freq, np.ones(freq.size), time_step_s=0.021)
    assert before_and_after.max() == 0


def test_type_ii_has_a_harmonic_lane_at_1_9_to_2_times_the_fundamental_each_split_in_two():
    event = _type_ii(band_split=0.2, harmonic_ratio=1.92)
    freq = np.arange(*BAND, CHANNEL_HZ)
    t = T0 + 150.0
    spectrum = event_power(event, np.array([t]), freq, np.ones(freq.size), time_step_s=0.0)[0]
    f_p = float(solar.type_ii_plasma_hz(event, t))
    peaks = [freq[np.argmax(np.where(np.abs(freq / (m * f_p) - 1) < 0.05, spectrum, 0))]
             for m in (1.0, 1.2, 1.92, 1.92 * 1.2)]
    np.testing.assert_allclose(np.array(peaks) / f_p, [1.0, 1.2, 1.92, 1.92 * 1.2], rtol=0.005)
    assert 1.9 <= peaks[2] / peaks[0] <= 2.0  # two lanes at a ratio of about 2
    between = spectrum[(freq > 1.3 * f_p) & (freq < 1.7 * f_p)]
    assert between.max() < 0.01 * spectrum.max()  # distinct lanes
    lanes = solar.type_ii_lanes(event)
    assert [m for m, _ in lanes] == pytest.approx([1.0, 1.2, 1.92, 1.92 * 1.2])
    assert max(a for _, a in lanes) == 1.0


def test_type_ii_lane_width_is_its_relative_bandwidth_and_patches_do_not_move_it():
    event = _type_ii(harmonic_ratio=0.0, relative_bandwidth=0.06)
    freq = np.arange(25e6, 50e6, 2e3)
    for t in T0 + np.array([60.0, 61.0, 150.0]):
        spectrum = event_power(event, np.array([t]), freq, np.ones(freq.size), time_step_s=0.0, channel_width_hz=0.0)[0]
        f_p = float(solar.type_ii_plasma_hz(event, t))
        above = freq[spectrum >= spectrum.max() / 2]
        assert above.max() - above.min() == pytest.approx(0.06 * f_p, rel=0.02)
        assert freq[spectrum.argmax()] == pytest.approx(f_p, abs=2e3)


def test_herringbones_shoot_both_ways_from_the_fundamental_at_type_iii_like_drifts():
    event = _type_ii(burst_rate_per_s=2.0, band_split=0.2)
    strokes = solar.herringbones(event, T0, T0 + 300)
    assert 450 < len(strokes) < 750  # 2 per second for 300 s
    drifts = np.array([s[3] for s in strokes])
    starts = np.array([s[1] for s in strokes])
    assert 0.3 < np.mean(drifts > 0) < 0.7
    ratio = np.abs(drifts) / np.abs(type_iii_drift_hz_per_s(starts))
    assert np.all((ratio >= 0.5) & (ratio <= 1.5))
    f_p = solar.type_ii_plasma_hz(event, np.array([s[0] for s in strokes]))
    up = drifts > 0
    np.testing.assert_allclose(starts[up] / f_p[up], 1.2 + 0.025)  # from the upper sub-band's upper edge
    np.testing.assert_allclose(starts[~up] / f_p[~up], 1 - 0.025)  # from the lower sub-band's lower edge
    assert solar.herringbones(replace(event, burst_rate_per_s=0.0), T0, T0 + 300) == []


def test_a_long_type_ii_is_drawn_the_same_block_by_block_as_at_once():
    event = _type_ii(burst_rate_per_s=2.0, band_split=0.2)
    freq = np.arange(20e6, 85e6, 195312.5 / 4)
    times = T0 + 100 + 0.021 * np.arange(640)
    whole = event_power(event, times, freq, np.ones(freq.size), time_step_s=0.021)
    blocks = [event_power(event, times[i:i + 64], freq, np.ones(freq.size), time_step_s=0.021)
              for i in range(0, 640, 64)]
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=NEGLIGIBLE * event.snr)  # cut where negligible
    assert whole.max() > 0.5 * event.snr


def test_type_ii_draws_cover_the_band_with_slow_drifts_in_published_ranges():
    rng = np.random.default_rng(1)
    events = [random_event("type_ii", rng, "b", T0, *BAND, 4.0)[0] for _ in range(300)]
    starts = np.array([e.freq_start_hz for e in events])
    assert starts.min() < 30e6 and starts.max() > 75e6  # the whole band where type IIs start
    drifts = np.array([e.drift_hz_per_s for e in events])
    assert np.all((drifts < -0.01e6) & (drifts > -1e6))
    for name, (lo, hi) in [("speed_km_s", solar.TYPE_II_SPEED_RANGE_KM_S), ("duration_s", (180, 900)),
                           ("harmonic_ratio", (1.9, 2.0)), ("relative_bandwidth", (0.03, 0.08))]:
        values = np.array([getattr(e, name) for e in events])
        assert np.all((values >= lo) & (values <= hi)), name
    assert 0.35 < np.mean([e.band_split > 0 for e in events]) < 0.65
    assert 0.15 < np.mean([e.burst_rate_per_s > 0 for e in events]) < 0.45
    assert all(abs(e.circular_polarisation) <= 0.2 for e in events)  # weakly polarised
    first = events[0]
    assert first.freq_stop_hz == pytest.approx(solar.type_ii_plasma_hz(first, T0 + first.duration_s))
    assert last_time_unix_s(first) >= T0 + first.duration_s


def _loop(kind: str, **changes) -> InjectedEvent:
    event = InjectedEvent(kind, "b", T0, 80e6, 5.0, freq_stop_hz=30e6, freq_end_hz=65e6 if kind == "type_iii_u" else 0,
                          speed_km_s=0.15 * solar.SPEED_OF_LIGHT_KM_S, density_fold=2.0, seed=3)
    return replace(event, **changes)


def _peak_times(event: InjectedEvent, freq: np.ndarray, after_s: float | None = None) -> np.ndarray:
    times = T0 + np.arange(-1, 40, 0.002)
    power = event_power(event, times, freq, np.ones(freq.size), time_step_s=0.0)
    if after_s is not None:
        power[times < after_s] = 0
    return times[power.argmax(axis=0)]


def test_u_burst_drifts_down_its_loop_then_turns_back_up():
    event = _loop("type_iii_u")
    apex = solar.loop_apex_unix_s(event)
    down = np.array([40e6, 50e6, 60e6, 70e6])
    peaks = _peak_times(event, down)
    np.testing.assert_allclose(peaks, solar.loop_arrivals_unix_s(event, down)[0], atol=0.003)
    measured = np.diff(down) / np.diff(peaks)
    law = solar.loop_drift_hz_per_s(event, (peaks[1:] + peaks[:-1]) / 2)
    assert np.all(_relative_errors(measured, law) < 0.1) and np.all(law < 0)
    up = np.array([40e6, 50e6, 60e6])
    later = _peak_times(event, up, after_s=apex)
    assert np.all(later > apex) and np.all(np.diff(later) > 0)  # the drift has reversed
    measured_back = np.diff(up) / np.diff(later)
    law_back = solar.loop_drift_hz_per_s(event, (later[1:] + later[:-1]) / 2)
    assert np.all(_relative_errors(measured_back, law_back) < 0.1) and np.all(law_back > 0)
    assert float(solar.loop_frequency_hz(event, apex)) == pytest.approx(30e6)
    assert float(solar.loop_drift_hz_per_s(event, apex)) == pytest.approx(0, abs=1.0)
    spectrum_at_apex = event_power(event, np.array([apex]), np.arange(20e6, 40e6, 1e4), np.ones(2000),
                                   time_step_s=0.0)[0]
    assert np.arange(20e6, 40e6, 1e4)[spectrum_at_apex.argmax()] == pytest.approx(30e6, rel=0.01)
    assert spectrum_at_apex[np.arange(20e6, 40e6, 1e4) < 27e6].max() < 0.01 * event.snr
    beyond = _peak_times(event, np.array([72e6]), after_s=apex)  # the U ends at freq_end_hz
    assert event_power(event, beyond, np.array([72e6]), np.ones(1), time_step_s=0.0).max() < 1e-3


def test_j_burst_stops_drifting_at_its_turning_frequency_and_never_comes_back():
    event = _loop("type_iii_j")
    apex = solar.loop_apex_unix_s(event)
    down = np.array([45e6, 55e6, 70e6])
    peaks = _peak_times(event, down)
    law = solar.loop_drift_hz_per_s(event, (peaks[1:] + peaks[:-1]) / 2)
    assert np.all(_relative_errors(np.diff(down) / np.diff(peaks), law) < 0.1)
    near = np.array([30.1e6, 30.3e6])  # 0.3 % and 1 % above the turning frequency
    near_peaks = _peak_times(event, near)
    near_drift = (np.diff(near) / np.diff(near_peaks))[0]
    assert near_drift == pytest.approx(float(solar.loop_drift_hz_per_s(event, near_peaks.mean())), rel=0.1)
    assert abs(near_drift) < 0.1 * abs(np.diff(down[:2]) / np.diff(peaks[:2]))[0]  # the ridge flattens out
    assert np.all(near_peaks <= apex + 0.002)
    after = T0 + np.arange(0, 40, 0.01)
    light_curve = event_power(event, after, np.array([45e6]), np.ones(1), time_step_s=0.0)[:, 0]
    assert light_curve[after > apex + 10].max() < 1e-3 * light_curve.max()  # no rising branch
    assert event.time_range_unix_s()[1] == pytest.approx(apex + 1.8 * 36 / 30)


def test_u_and_j_draws_start_high_turn_lower_and_carry_their_beam_speed():
    rng = np.random.default_rng(2)
    for kind in ("type_iii_u", "type_iii_j"):
        events = [e for _ in range(200) for e in random_event(kind, rng, "b", T0, *BAND, 4.0)]
        assert len(events) == 200
        starts = np.array([e.freq_start_hz for e in events])
        turns = np.array([e.freq_stop_hz for e in events])
        assert np.all((starts >= 42.5e6) & (starts <= 85e6)) and np.all(turns >= 10e6)
        assert np.all((turns / starts >= 0.35 - 1e-9) & (turns / starts <= 0.75 + 1e-9))
        speeds = np.array([e.speed_km_s for e in events]) / solar.SPEED_OF_LIGHT_KM_S
        assert np.all((speeds >= 0.1) & (speeds <= 0.3))
        assert all(e.drift_hz_per_s < 0 for e in events)
        if kind == "type_iii_u":
            assert all(e.freq_stop_hz < e.freq_end_hz <= e.freq_start_hz for e in events)
        else:
            assert all(e.freq_end_hz == 0 for e in events)
