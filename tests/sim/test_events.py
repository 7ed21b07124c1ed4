"""Physics of each simulated event kind, and the simulator's truth, reproducibility and speed."""

import json
import time
from dataclasses import asdict

import numpy as np
import pytest

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import (
    DRIFTING_KINDS,
    JUPITER_DRIFT_RANGE_HZ_PER_S,
    JUPITER_MAX_FREQ_HZ,
    InjectedEvent,
    arrival_unix_s,
    event_power,
    type_iii_arrival_s,
    type_iii_decay_s,
    type_iii_drift_hz_per_s,
)
from nenubroker.edge.sim.simulator import BeamSimulator

T0 = 1.7e9
NO_RANDOM = {"event_rates_per_min": {}}


def _fwhm(axis: np.ndarray, profile: np.ndarray) -> float:
    """Width of the peak's half-maximum run, interpolated at both edges, on a fine regular axis."""
    peak = int(profile.argmax())
    half = profile[peak] / 2
    below = np.flatnonzero(profile < half)
    left, right = below[below < peak].max(), below[below > peak].min()

    def crossing(outside: int, inside: int) -> float:
        return axis[outside] + (axis[inside] - axis[outside]) * (half - profile[outside]) / (
            profile[inside] - profile[outside])

    return crossing(right, right - 1) - crossing(left, left + 1)


def _sim(**changes) -> BeamSimulator:
    settings = SimulatorSettings(realtime=False, **{**NO_RANDOM, **changes})
    return BeamSimulator("beam0", settings, start_unix_s=T0)


def test_type_iii_peaks_drift_down_at_minus_0_01_f_to_the_1_84():
    event = InjectedEvent("type_iii", "b", T0, 50e6, 5.0, freq_stop_hz=20e6)
    freq = np.array([25e6, 30e6, 30.01e6, 45e6])
    times = T0 + np.arange(-1, 12, 0.0005)
    power = event_power(event, times, freq, np.ones(4), time_step_s=0.0)
    peaks = times[power.argmax(axis=0)]
    np.testing.assert_allclose(peaks - T0, type_iii_arrival_s(freq, 50e6), atol=0.001)
    assert np.all(np.diff(peaks) <= 0)  # lower frequencies later
    arrival_s = type_iii_arrival_s(freq, 50e6)
    slope_hz_per_s = (freq[2] - freq[1]) / (arrival_s[2] - arrival_s[1])
    assert slope_hz_per_s == pytest.approx(type_iii_drift_hz_per_s(30.005e6), rel=1e-3)
    assert -5.5e6 < type_iii_drift_hz_per_s(30e6) < -4.5e6
    after = np.searchsorted(times, peaks[0] + type_iii_decay_s(25e6))
    assert power[after, 0] / power[:, 0].max() == pytest.approx(np.exp(-1), rel=0.01)


def test_type_iii_harmonic_is_a_weaker_ridge_at_twice_the_frequency():
    rng = np.random.default_rng(4)
    fundamental, harmonic = random_event("type_iii", rng, "b", T0, 20e6, 58e6, 4.0, harmonic_fraction=1.0)
    assert (fundamental.harmonic, harmonic.harmonic) == (1, 2)
    assert harmonic.freq_start_hz == 2 * fundamental.freq_start_hz <= 58e6
    assert 0.3 * 4.0 <= harmonic.snr <= 0.7 * 4.0
    assert harmonic.drift_hz_per_s == pytest.approx(2 * type_iii_drift_hz_per_s(fundamental.freq_start_hz))
    times = T0 + np.arange(0, 6, 0.001)
    f_hz = fundamental.freq_start_hz - 2e6
    peak_f = times[event_power(fundamental, times, np.array([f_hz]), np.ones(1), time_step_s=0.0).argmax()]
    peak_h = times[event_power(harmonic, times, np.array([2 * f_hz]), np.ones(1), time_step_s=0.0).argmax()]
    assert peak_h == pytest.approx(peak_f, abs=0.002)
    assert len(random_event("type_iii", rng, "b", T0, 20e6, 58e6, 4.0, harmonic_fraction=0.0)) == 1


def test_harmonic_pairs_share_a_group_in_the_simulator_truth():
    sim = _sim(event_rates_per_min={"type_iii": 30.0}, harmonic_fraction=1.0, fftlen=16, nfft2int=256)
    truth = [e for _ in range(10) for e in sim.next_block()[1] if e.kind == "type_iii"]
    assert truth
    groups = {}
    for event in truth:
        groups.setdefault(event.group_id, []).append(event.harmonic)
    assert all(sorted(h) == [1, 2] for h in groups.values())


def test_type_iiib_is_a_chain_of_short_20_to_100_khz_striae_on_the_type_iii_drift_law():
    event = random_event("type_iiib", np.random.default_rng(1), "b", T0, 20e6, 58e6, 5.0)[0]
    widths = np.array(event.striae_width_hz)
    assert len(widths) > 10 and np.all((widths >= 20e3) & (widths <= 100e3))
    assert 0.3 <= event.duration_s <= 1.0
    assert -0.3e6 <= event.stria_drift_hz_per_s <= 0
    assert max(event.striae_amplitude) == 1.0
    k = int(np.argmax(event.striae_amplitude))
    f_k, w_k = event.striae_freq_hz[k], event.striae_width_hz[k]
    centre_s = float(arrival_unix_s(event, f_k)) + event.duration_s / 2  # on the drift law
    freq = np.arange(f_k - 3 * w_k, f_k + 3 * w_k, 500.0)
    spectrum = event_power(event, np.array([centre_s]), freq, np.ones(freq.size), time_step_s=0.0)[0]
    assert spectrum.max() == pytest.approx(5.0, rel=1e-3)
    assert _fwhm(freq, spectrum) == pytest.approx(w_k, rel=0.02)
    times = centre_s + np.arange(-1.5, 1.5, 0.005)
    track_hz = f_k + event.stria_drift_hz_per_s * (times - centre_s)  # each stria drifts slowly
    light_curve = np.array([event_power(event, np.array([t]), np.array([f]), np.ones(1), time_step_s=0.0)
                            for t, f in zip(times, track_hz, strict=True)]).ravel()
    assert _fwhm(times, light_curve) == pytest.approx(event.duration_s, rel=0.02)


def test_spikes_last_10_to_300_ms_span_0_1_to_2_percent_and_come_in_clusters():
    rng = np.random.default_rng(2)
    clusters = [random_event("spike", rng, "b", T0, 20e6, 58e6, 4.0) for _ in range(200)]
    spikes = [s for c in clusters for s in c]
    durations = np.array([s.duration_s for s in spikes])
    relative_bw = np.array([s.bandwidth_hz / s.freq_start_hz for s in spikes])
    assert np.all((durations >= 0.01) & (durations <= 0.3))
    assert np.all((relative_bw >= 0.001) & (relative_bw <= 0.02))
    assert np.mean([len(c) > 1 for c in clusters]) > 0.5
    assert all(c[0].snr == 4.0 and all(s.snr <= 4.0 for s in c) for c in clusters)
    spike = spikes[0]
    times = spike.time_start_unix_s + np.arange(-0.5, 1, 0.0005)
    channel = np.array([spike.freq_start_hz])
    light_curve = event_power(spike, times, channel, np.ones(1), time_step_s=0.0).ravel()
    assert _fwhm(times, light_curve) == pytest.approx(spike.duration_s, rel=0.02)
    freq = spike.freq_start_hz + np.linspace(-2, 2, 4001) * spike.bandwidth_hz
    mid_s = spike.time_start_unix_s + spike.duration_s / 2
    spectrum = event_power(spike, np.array([mid_s]), freq, np.ones(freq.size), time_step_s=0.0)[0]
    assert _fwhm(freq, spectrum) == pytest.approx(spike.bandwidth_hz, rel=0.02)


def test_a_spike_shorter_than_a_pixel_still_peaks_at_its_snr_when_centred_in_it():
    spike = InjectedEvent("spike", "b", T0 + 0.0055, 40e6, 6.0, duration_s=0.01, bandwidth_hz=1e5)
    centred = T0 + np.arange(0, 0.1, 0.021)  # pixel [T0, T0 + 21 ms) is centred on T0 + 10.5 ms
    power = event_power(spike, centred, np.array([40e6]), np.ones(1))
    assert power.max() == pytest.approx(6.0, rel=1e-9)
    straddling = centred + 0.0105  # the spike now falls on a pixel boundary
    assert event_power(spike, straddling, np.array([40e6]), np.ones(1)).max() < 0.75 * 6.0


def test_jupiter_s_bursts_stay_below_40_mhz_and_drift_at_minus_15_to_25_mhz_per_s():
    rng = np.random.default_rng(3)
    trains = [random_event("jupiter_s", rng, "b", T0, 10e6, 80e6, 4.0) for _ in range(30)]
    assert all(10 <= len(train) <= 60 for train in trains)
    bursts = [b for train in trains for b in train]
    assert max(b.freq_range_hz()[1] for b in bursts) <= JUPITER_MAX_FREQ_HZ
    drifts = np.array([b.drift_hz_per_s for b in bursts])
    assert np.all((drifts >= JUPITER_DRIFT_RANGE_HZ_PER_S[0]) & (drifts <= JUPITER_DRIFT_RANGE_HZ_PER_S[1]))
    assert all(0.001 <= b.duration_s <= 0.005 for b in bursts)  # ms at one frequency
    sweeps = np.array([np.subtract(*b.time_range_unix_s()[::-1]) - b.duration_s for b in bursts])
    assert np.all(sweeps <= 0.1) and np.median(sweeps) > 0.01  # tens of ms per burst
    assert random_event("jupiter_s", rng, "b", T0, 45e6, 80e6, 4.0) == []
    too_high = InjectedEvent("jupiter_s", "b", T0, 45e6, 4.0, duration_s=0.003, freq_stop_hz=35e6,
                             drift_hz_per_s=-20e6)
    freq = np.arange(30e6, 50e6, 12e3)
    power = event_power(too_high, T0 + np.arange(0, 0.6, 0.00033), freq, np.ones(freq.size))
    assert power[:, freq > JUPITER_MAX_FREQ_HZ].max() == 0 and power.max() > 0


def test_jupiter_s_ridge_drifts_at_its_rate_at_millisecond_resolution():
    burst = InjectedEvent("jupiter_s", "b", T0, 30e6, 8.0, duration_s=0.002, freq_stop_hz=28e6,
                          drift_hz_per_s=-18e6)
    freq = np.arange(28.2e6, 29.8e6, 12207.03125)
    times = T0 + np.arange(0, 0.2, 0.00032768)
    power = event_power(burst, times, freq, np.ones(freq.size))
    peaks_s = times[power.argmax(axis=0)]
    slope_hz_per_s = 1 / np.polyfit(freq, peaks_s, 1)[0]
    assert slope_hz_per_s == pytest.approx(-18e6, rel=0.02)
    assert power.max() == pytest.approx(8.0, rel=0.05)


def test_rfi_impulse_fills_every_channel_of_one_sample():
    sim = _sim(n_subbands=8)
    impulse = random_event("rfi_impulse", np.random.default_rng(0), "b", T0 + 0.5, sim.freq_hz.min(),
                           sim.freq_hz.max(), 5.0)[0]
    times = T0 + sim.time_step_s * np.arange(64)
    power = event_power(impulse, times, sim.freq_hz, sim.sigma)
    rows = np.flatnonzero(power.any(axis=1))
    assert rows.size == 1 and times[rows[0]] <= impulse.time_start_unix_s < times[rows[0]] + sim.time_step_s
    np.testing.assert_allclose(power[rows[0]], 5.0 * sim.sigma)


def test_persistent_rfi_channels_are_on_in_every_block_and_reported_per_block():
    sim = _sim(n_subbands=8, persistent_rfi_channels=3)
    groups = set()
    for _ in range(5):
        block, truth = sim.next_block()
        rfi = [e for e in truth if e.kind == "rfi_persistent"]
        assert sorted(e.freq_start_hz for e in rfi) == sorted(sim.freq_hz[sim.rfi_channels])
        span_s = (block.time_start_unix_s, block.time_start_unix_s + sim.block_duration_s)
        assert all(e.time_range_unix_s() == span_s for e in rfi)
        level = block.data[:, sim.rfi_channels].mean(axis=0) / sim.background[sim.rfi_channels]
        assert np.all(level > 1 + 0.5 * 30 / 8 * 0.8)  # >= 15 sigma, sigma = background / 8
        groups |= {e.group_id for e in rfi}
    assert len(groups) == 3


def test_a_lost_block_is_all_nan_and_in_the_truth():
    sim = _sim(n_subbands=8, lost_block_fraction=1.0)
    block, truth = sim.next_block()
    assert np.isnan(block.data).all()
    [lost] = [e for e in truth if e.kind == "lost_block"]
    t0 = block.time_start_unix_s
    assert lost.time_range_unix_s() == (t0, t0 + sim.block_duration_s)
    assert lost.freq_range_hz() == (sim.freq_hz.min(), sim.freq_hz.max())


def _run(beam: str, seed: int, n_blocks: int = 6) -> tuple[np.ndarray, list[InjectedEvent]]:
    rates = {"type_iii": 20.0, "type_iiib": 20.0, "spike": 30.0, "jupiter_s": 20.0, "rfi_impulse": 30.0}
    settings = SimulatorSettings(realtime=False, fftlen=16, nfft2int=256, seed=seed, harmonic_fraction=0.5,
                                 event_rates_per_min=rates, lost_block_fraction=0.2)
    sim = BeamSimulator(beam, settings, start_unix_s=T0)
    blocks, truth = zip(*(sim.next_block() for _ in range(n_blocks)), strict=True)
    return np.concatenate([b.data for b in blocks]), [e for t in truth for e in t]


def test_same_seed_and_beam_give_identical_data_and_truth():
    data, truth = _run("beam0", 1)
    again_data, again_truth = _run("beam0", 1)
    np.testing.assert_array_equal(data, again_data)
    assert truth == again_truth
    assert not np.array_equal(np.nan_to_num(data), np.nan_to_num(_run("beam1", 1)[0]))
    assert _run("beam0", 2)[1] != truth


def test_truth_reports_every_injected_event_once_with_a_unique_id_and_its_extent():
    rates = {"type_iii": 10.0, "type_iiib": 10.0, "spike": 20.0, "jupiter_s": 10.0, "rfi_impulse": 20.0}
    sim = _sim(event_rates_per_min=rates, fftlen=16, nfft2int=256, harmonic_fraction=0.5,
               lost_block_fraction=0.2)
    truth = []
    for _ in range(20):
        block, started = sim.next_block()
        t0 = block.time_start_unix_s
        assert all(t0 <= e.time_start_unix_s < t0 + sim.block_duration_s for e in started)
        truth += started
    ids = [e.event_id for e in truth]
    assert len(ids) == len(set(ids))
    pending = [e.event_id for e in sim.scheduled_events if e.event_id not in set(ids)]
    assigned = {f"beam0-{i}" for i in range(max(int(i.split("-")[1]) for i in ids + pending) + 1)}
    assert set(ids) | set(pending) == assigned
    assert {*rates, "rfi_persistent", "lost_block"} == {e.kind for e in truth}
    for event in truth:
        t_lo, t_hi = event.time_range_unix_s()
        f_lo, f_hi = event.freq_range_hz()
        assert t_lo <= t_hi and f_lo < f_hi and event.beam == "beam0"
        assert event.snr > 0 or event.kind == "lost_block"
        assert (event.drift_hz_per_s < 0) == (event.kind in DRIFTING_KINDS)


def test_an_event_injected_late_is_still_reported_once():
    sim = _sim(n_subbands=8, persistent_rfi_channels=0)
    sim.next_block()
    late = sim.inject(InjectedEvent("spike", "b", T0 + 0.1, 21e6, 3.0, duration_s=0.05, bandwidth_hz=1e5))
    assert sim.next_block()[1] == [late]
    assert sim.next_block()[1] == []


def test_random_draws_follow_the_configured_rate():
    sim = _sim(event_rates_per_min={"rfi_impulse": 30.0}, n_subbands=4, persistent_rfi_channels=0)
    n = sum(len(sim.next_block()[1]) for _ in range(100))  # 134 s: 67 expected
    assert 40 < n < 95


def test_event_power_wants_ascending_channels_and_known_kinds():
    spike = InjectedEvent("spike", "b", T0, 40e6, 3.0, duration_s=0.1, bandwidth_hz=2e5)
    times = T0 + np.arange(0, 0.2, 0.02)
    with pytest.raises(ValueError, match="ascending"):
        event_power(spike, times, np.linspace(40.5e6, 39.5e6, 11), np.ones(11))
    with pytest.raises(ValueError, match="unknown event kind"):
        event_power(InjectedEvent("type_vi", "b", T0, 40e6, 3.0), times, np.array([40e6]), np.ones(1))


def test_truth_records_read_back_from_json_lines_rebuild_the_events():
    events = random_event("type_iiib", np.random.default_rng(0), "b", T0, 20e6, 58e6, 3.0)
    record = json.loads(json.dumps(asdict(events[0])))
    assert InjectedEvent.from_dict(record) == events[0]


def test_default_configuration_is_much_faster_than_real_time():
    sim = BeamSimulator("beam0", SimulatorSettings(realtime=False), start_unix_s=T0)
    rng = np.random.default_rng(0)
    lo, hi = float(sim.freq_hz.min()), float(sim.freq_hz.max())
    for kind in ("type_iii", "type_iiib", "spike", "jupiter_s", "rfi_impulse"):
        for event in random_event(kind, rng, "beam0", T0 + 0.5, lo, hi, 3.0, harmonic_fraction=1.0):
            sim.inject(event)
    sim.next_block()  # warm-up
    began = time.perf_counter()
    for _ in range(5):
        sim.next_block()
    per_block_s = (time.perf_counter() - began) / 5
    assert per_block_s < 0.5 * sim.block_duration_s  # typically 0.03-0.06 s for a 1.34 s block
