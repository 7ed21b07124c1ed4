"""Jupiter L-bursts: seconds-long, a few MHz wide, below 40 MHz, in arcs, under drifting modulation lanes."""

from dataclasses import replace

import numpy as np
import pytest

from nenubroker.edge.sim import jupiter
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import NEGLIGIBLE, InjectedEvent, event_power, last_time_unix_s

T0 = 1.7e9


def _arc(**changes) -> InjectedEvent:
    event = InjectedEvent("jupiter_l", "b", T0, 36e6, 5.0, duration_s=60.0, freq_stop_hz=16e6, arc_delay_s=30.0,
                          burst_rate_per_s=2.0, modulation_drift_hz_per_s=-150e3, modulation_period_s=2.0,
                          modulation_depth=0.8, seed=9, circular_polarisation=0.95)
    return replace(event, **changes)


def test_l_bursts_last_seconds_span_a_few_mhz_and_fill_an_arc_below_40_mhz():
    arc = _arc(freq_start_hz=45e6)
    bursts = jupiter.jupiter_l_bursts(arc, T0, T0 + 90)
    centre, freq, fwhm, width, amplitude = bursts.T
    assert 60 < len(bursts) < 160  # 2 per second over 90 s, where the arc is on
    assert np.all((fwhm >= 1) & (fwhm <= 4)) and np.all((width >= 1e6) & (width <= 5e6))
    assert np.all(freq <= jupiter.JUPITER_MAX_FREQ_HZ) and np.all(amplitude <= 1)
    np.testing.assert_array_less(np.abs(centre - jupiter.jupiter_l_arc_unix_s(arc, freq)), 30.0 + 1e-9)
    channels = np.arange(10e6, 50e6, 50e3)
    power = event_power(arc, T0 + np.arange(0, 100, 0.5), channels, np.ones(channels.size), time_step_s=0.021)
    assert power[:, channels > 40e6].max() == 0 and power.max() <= arc.snr + 1e-9
    assert power.max() > 0.5 * arc.snr
    assert arc.freq_range_hz() == (16e6, 40e6)
    # a vertex-early arc: mid-band is on before the edges
    mid, edge = channels == 28e6, channels == 17e6
    on_mid = np.flatnonzero(power[:, mid][:, 0] > 0.05 * arc.snr)
    on_edge = np.flatnonzero(power[:, edge][:, 0] > 0.05 * arc.snr)
    assert on_mid[0] < on_edge[0]


def test_modulation_lanes_drift_at_their_rate_and_repeat_at_their_period():
    arc = _arc()
    lanes = replace(arc, modulation_depth=0.0)
    channels = np.array([27.9e6, 28.0e6])
    times = T0 + 10 + np.arange(0, 40, 0.005)
    ratio = (event_power(arc, times, channels, np.ones(2), time_step_s=0.0)
             / np.maximum(event_power(lanes, times, channels, np.ones(2), time_step_s=0.0), 1e-300))
    on = event_power(lanes, times, channels, np.ones(2), time_step_s=0.0).min(axis=1) > 0.05
    assert on.sum() > 1000
    lags = np.arange(-400, 401)  # +-2 s in 5 ms steps: one lane period
    a, b = ratio[on, 0] - ratio[on, 0].mean(), ratio[on, 1] - ratio[on, 1].mean()
    score = [np.dot(a[max(0, -k):a.size - max(0, k)], b[max(0, k):b.size - max(0, -k)]) for k in lags]
    lag_s = lags[int(np.argmax(score))] * 0.005
    assert 0.1e6 / lag_s == pytest.approx(arc.modulation_drift_hz_per_s, rel=0.1)  # the lanes' drift
    spectrum = np.abs(np.fft.rfft(a))
    period_s = 1 / np.fft.rfftfreq(a.size, 0.005)[1:][spectrum[1:].argmax()]
    assert period_s == pytest.approx(2.0, rel=0.1)
    assert ratio[on].min() == pytest.approx(0.2, abs=0.01) and ratio[on].max() == pytest.approx(1.0, abs=0.01)


def test_an_l_burst_arc_is_drawn_the_same_block_by_block_as_at_once():
    arc = _arc()
    freq = np.arange(10e6, 40e6, 195312.5 / 16)
    times = T0 + 20 + 0.021 * np.arange(512)
    whole = event_power(arc, times, freq, np.ones(freq.size), time_step_s=0.021)
    blocks = np.concatenate([event_power(arc, times[i:i + 64], freq, np.ones(freq.size), time_step_s=0.021)
                             for i in range(0, 512, 64)])
    np.testing.assert_allclose(blocks, whole, atol=NEGLIGIBLE * arc.snr)
    assert last_time_unix_s(arc) > T0 + 90


def test_jupiter_l_draws_stay_below_40_mhz_with_published_lane_drifts():
    rng = np.random.default_rng(5)
    events = [e for _ in range(200) for e in random_event("jupiter_l", rng, "b", T0, 10e6, 85e6, 4.0)]
    assert len(events) == 200
    assert all(10e6 <= e.freq_stop_hz < e.freq_start_hz <= 40e6 for e in events)
    assert min(e.freq_stop_hz for e in events) == 10e6  # down to the band's bottom
    drifts = np.abs([e.modulation_drift_hz_per_s for e in events])
    assert np.all((drifts >= 90e3) & (drifts <= 200e3))
    assert {np.sign(e.modulation_drift_hz_per_s) for e in events} == {-1.0, 1.0}
    assert all(1 <= e.modulation_period_s <= 5 and e.drift_hz_per_s == 0 for e in events)
    assert all(e.circular_polarisation >= 0.8 for e in events)
    assert random_event("jupiter_l", rng, "b", T0, 45e6, 85e6, 4.0) == []
