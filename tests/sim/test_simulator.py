import numpy as np
import pytest

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.sim.events import InjectedEvent, event_power
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
