import time
from dataclasses import replace

import numpy as np
import pytest

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.sim.draws import random_event
from nenubroker.edge.sim.events import DRIFTING_KINDS, RANDOM_KINDS, InjectedEvent, event_power
from nenubroker.edge.sim.simulator import BeamSimulator, beamformer_freq_hz, sky_background

T0 = 1.7e9


def _quiet(**changes) -> SimulatorSettings:
    return SimulatorSettings(realtime=False, event_rates_per_min={}, persistent_rfi_channels=0, **changes)


def test_axes_follow_the_beamformer_layout():
    settings = _quiet(fftlen=16, nfft2int=128, first_subband=200, n_subbands=2)
    beam = BeamSimulator("b", settings, start_unix_s=T0)
    df = 195312.5 / 16
    assert beam.freq_hz[0] == 200 * 195312.5 - 8 * df
    assert beam.freq_hz[8] == 200 * 195312.5
    assert beam.freq_hz[16] == 201 * 195312.5 - 8 * df
    assert beam.time_step_s == pytest.approx(16 * 128 / 195312.5)
    np.testing.assert_array_equal(beamformer_freq_hz(np.array([200, 201]), 16), beam.freq_hz)


def test_noise_is_gamma_with_shape_nfft2int():
    settings = _quiet(fftlen=16, nfft2int=64, n_subbands=1, block_spectra=4096)
    block, _ = BeamSimulator("b", settings, start_unix_s=T0).next_block()
    background = sky_background(block.freq_hz)
    np.testing.assert_allclose(block.data.mean(axis=0), background, rtol=0.02)
    np.testing.assert_allclose(block.data.var(axis=0), background**2 / 64, rtol=0.15)  # Gamma(k, B/k)


def test_sky_falls_as_nu_to_minus_2_55_through_the_bandpass():
    freq = np.array([30e6, 60e6])
    bandpass = 0.2 + np.exp(-0.5 * (np.log(freq / 55e6) / 0.45) ** 2)
    ratio = sky_background(freq)[1] / sky_background(freq)[0]
    assert ratio == pytest.approx(2.0**-2.55 * bandpass[1] / bandpass[0])


def test_spike_peak_has_the_requested_snr_per_pixel():
    beam = BeamSimulator("b", _quiet(fftlen=16, n_subbands=8), start_unix_s=T0)
    event = InjectedEvent("spike", "b", T0 + 1.0, beam.freq_hz[60], snr=12.0, duration_s=0.2, bandwidth_hz=5e4)
    power = event_power(event, np.array([T0 + 1.1]), beam.freq_hz, beam.sigma)
    assert power[0].argmax() == 60
    assert power[0, 60] / beam.sigma[60] == pytest.approx(12.0)


def test_same_seed_same_data_other_beam_other_data():
    settings = _quiet(fftlen=16, n_subbands=4)
    a, _ = BeamSimulator("beam0", settings, start_unix_s=T0).next_block()
    b, _ = BeamSimulator("beam0", settings, start_unix_s=T0).next_block()
    c, _ = BeamSimulator("beam1", settings, start_unix_s=T0).next_block()
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)


def test_random_events_follow_their_rates_and_are_reported_in_their_block():
    settings = SimulatorSettings(realtime=False, fftlen=16, nfft2int=1024, n_subbands=4,
                                 event_rates_per_min={"type_iii": 20.0, "spike": 10.0})
    beam = BeamSimulator("b", settings, start_unix_s=T0)
    events = []
    for _ in range(200):  # 200 blocks of 5.4 s: 18 minutes, ~540 events expected
        block, started = beam.next_block()
        end_s = block.time_start_unix_s + beam.block_duration_s
        assert all(block.time_start_unix_s <= e.time_start_unix_s < end_s for e in started)
        events += started
    kinds = [e.kind for e in events]
    assert 300 < kinds.count("type_iii") < 420  # ~360 expected
    assert kinds.count("spike") >= 140  # ~180 clusters expected, each of one or more spikes


NEW_KINDS = ("type_i", "type_ii", "type_iii_u", "type_iii_j", "type_iv", "type_v", "jupiter_l")


def test_new_kinds_are_off_by_default_so_the_default_sky_is_unchanged():
    rates = SimulatorSettings().event_rates_per_min
    assert all(rates[kind] == 0 for kind in NEW_KINDS)
    assert set(RANDOM_KINDS) <= set(rates)


def test_the_simulator_draws_every_kind_whose_rate_is_set():
    settings = SimulatorSettings(realtime=False, fftlen=16, nfft2int=256, n_subbands=96, persistent_rfi_channels=0,
                                 event_rates_per_min=dict.fromkeys(RANDOM_KINDS, 12.0))  # 20.3-39 MHz
    beam = BeamSimulator("b", settings, start_unix_s=T0)
    truth = [e for _ in range(8) for e in beam.next_block()[1]]
    assert {e.kind for e in truth} == set(RANDOM_KINDS)
    for event in truth:
        assert (event.drift_hz_per_s < 0 or (event.kind == "type_iv" and event.speed_km_s == 0)) == (
            event.kind in DRIFTING_KINDS)
        assert event.freq_range_hz()[0] < event.freq_range_hz()[1]
    long_ones = [e for e in beam.scheduled_events if e.kind in ("type_i", "type_iv")]
    assert long_ones  # hours-long events stay scheduled, block after block


def test_a_block_with_hours_long_events_on_is_still_much_faster_than_real_time():
    sim = BeamSimulator("beam0", SimulatorSettings(realtime=False), start_unix_s=T0)
    rng = np.random.default_rng(3)
    lo, hi = float(sim.freq_hz.min()), float(sim.freq_hz.max())
    for kind in NEW_KINDS:
        for event in random_event(kind, rng, "beam0", T0 - 60, lo, hi, 3.0, harmonic_fraction=1.0):
            sim.inject(replace(event, time_start_unix_s=event.time_start_unix_s + (60 if kind == "type_v" else 0)))
    sim.next_block()  # warm-up
    began = time.perf_counter()
    for _ in range(5):
        sim.next_block()
    per_block_s = (time.perf_counter() - began) / 5
    assert per_block_s < 0.5 * sim.block_duration_s  # typically 0.05-0.08 s for a 1.34 s block
