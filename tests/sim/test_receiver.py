"""Receiver effects (edge/sim/receiver.py): each does what its setting says, off changes nothing,
and the project's gain_steps and rfi_flagger modules find what the simulator puts in."""

import math

import numpy as np
import pytest

from nenubroker.conf.settings import ReceiverSettings, SimulatorSettings, load_settings
from nenubroker.edge.downsample import average_bins
from nenubroker.edge.sim.receiver import MEASURED_LINES, Receiver, quantise_log_digits
from nenubroker.edge.sim.simulator import BeamSimulator, sky_background
from nenubroker.udfs.gain_steps.core import find_gain_steps, gain_db, remove_gain
from nenubroker.udfs.rfi_flagger.core import flag_rfi

T0 = 1.7e9
DB_PER_DIGIT = 2500 / 255 / 25.4


def _quiet(receiver: ReceiverSettings, **changes) -> SimulatorSettings:
    settings = dict(realtime=False, event_rates_per_min={}, persistent_rfi_channels=0, fftlen=16, n_subbands=8,
                    receiver=receiver)
    return SimulatorSettings(**{**settings, **changes})


def _blocks(settings: SimulatorSettings, n: int, beam: str = "b") -> tuple[BeamSimulator, np.ndarray, np.ndarray]:
    sim = BeamSimulator(beam, settings, start_unix_s=T0)
    blocks = [sim.next_block()[0] for _ in range(n)]
    times = np.concatenate([b.time_start_unix_s + b.time_step_s * np.arange(b.data.shape[0]) for b in blocks])
    return sim, np.concatenate([b.data for b in blocks]), times


def test_off_by_default_the_blocks_are_the_simulator_without_a_receiver(monkeypatch):
    """Every effect off: same bits as a simulator whose receiver does nothing, with events and RFI on."""
    settings = SimulatorSettings(realtime=False, fftlen=16, n_subbands=16)
    assert settings.receiver == ReceiverSettings()
    _, with_receiver, _ = _blocks(settings, 4)
    monkeypatch.setattr(Receiver, "apply", lambda self, data, times: None)
    monkeypatch.setattr(Receiver, "add_line_power", lambda self, power, times, background: None)
    _, without, _ = _blocks(settings, 4)
    np.testing.assert_array_equal(with_receiver, without)


def test_log_digits_put_every_sample_on_the_digit_grid():
    _, data, _ = _blocks(_quiet(ReceiverSettings(quantisation="log_digits")), 2)
    digits = 10 * np.log10(data.astype(np.float64)) / DB_PER_DIGIT
    np.testing.assert_allclose(digits, np.rint(digits), atol=2e-3)
    assert np.unique(np.rint(digits)).size > 5  # noise spreads samples over several digits
    nan = np.array([1.0, np.nan], dtype=np.float32)
    quantise_log_digits(nan, DB_PER_DIGIT)
    assert nan[0] == 1.0 and np.isnan(nan[1])


def test_a_gain_step_of_the_drawn_size_at_the_drawn_time():
    receiver = ReceiverSettings(gain_steps_per_hour=720.0, gain_step_db=(1.0, 2.0))
    sim, data, times = _blocks(_quiet(receiver, block_spectra=256), 24)  # 32 s
    steps = [(at_s, db) for at_s, db in sim.gain_steps if at_s <= times[-1]]
    assert len(steps) >= 2 and {np.sign(db) for _, db in steps} <= {-1.0, 1.0}
    assert all(1.0 <= abs(db) <= 2.0 for _, db in steps)
    level_db = 10 * np.log10(data.mean(axis=1) / sky_background(sim.freq_hz).mean())
    for at_s, step_db in steps:
        after = int(np.searchsorted(times, at_s))
        if 8 <= after <= times.size - 8 and all(abs(other - at_s) > 0.1 for other, _ in steps if other != at_s):
            jump = np.median(level_db[after:after + 8]) - np.median(level_db[after - 8:after])
            assert jump == pytest.approx(step_db, abs=0.1)
            assert abs(level_db[after] - level_db[after - 1] - step_db) < 0.2  # sharp: one sample
    expected = np.array([sum(db for at_s, db in steps if at_s <= t) for t in times])
    np.testing.assert_allclose(level_db, expected, atol=0.25)  # 5 sigma of a 128-channel mean


def test_bandpass_ripple_has_the_configured_rms_and_the_tilt_its_slope():
    sim, data, _ = _blocks(_quiet(ReceiverSettings(bandpass_ripple_db=1.5), n_subbands=192, fftlen=16), 4)
    assert sim.receiver.bandpass_db.std() == pytest.approx(1.5)
    measured_db = 10 * np.log10(data.mean(axis=0) / sky_background(sim.freq_hz))
    assert (measured_db - measured_db.mean()).std() == pytest.approx(1.5, rel=0.02)
    corr = np.corrcoef(measured_db[:-16], measured_db[16:])[0, 1]  # 195 kHz apart: smooth (2 MHz knots)
    assert corr > 0.9
    tilted = Receiver(ReceiverSettings(bandpass_tilt_db=3.0), sim.freq_hz, np.random.SeedSequence(0), T0)
    assert tilted.bandpass_db[-1] - tilted.bandpass_db[0] == pytest.approx(3.0)


def test_drift_changes_the_level_by_the_configured_fraction_per_hour():
    freq_hz = np.linspace(10e6, 85e6, 76)  # one channel per MHz: 38 independent 2 MHz knots
    receiver = Receiver(ReceiverSettings(background_drift_fraction=0.2), freq_hz, np.random.SeedSequence(3), T0)
    times = T0 + 60.0 * np.arange(60 * 60)  # 60 h at the knots
    drift = receiver.drift_ln(times).astype(np.float64)
    assert np.all(drift[0] == 0)  # it starts at the sky's level
    settled = drift[60 * 5:]  # after five correlation times
    change = settled[60:] - settled[:-60]  # over one hour
    assert np.sqrt(np.mean(change**2)) == pytest.approx(0.2, rel=0.1)
    assert np.sqrt(np.mean(settled**2)) < 0.3  # mean-reverting: it does not run away
    minute = np.abs(drift[1:] - drift[:-1]).mean()
    assert minute < 0.2 * math.sqrt(1 / 60) * 1.5  # slow: a minute changes it by a small part of an hour


def test_rfi_lines_flicker_with_their_duty_cycle_and_run_length():
    freq_hz = 20e6 + 3.05e3 * np.arange(4096)
    receiver = Receiver(ReceiverSettings(rfi_lines=12), freq_hz, np.random.SeedSequence(5), T0)
    assert len(receiver.lines) == 12
    assert all((line.duty_cycle, line.mean_on_s) in {(d, m) for d, m, _ in MEASURED_LINES} for line in receiver.lines)
    times = T0 + 0.25 * np.arange(4 * 3600 * 3) + 0.1  # 3 h, one time per 0.25 s cell
    on = np.concatenate([receiver.line_on(part) for part in np.array_split(times, 500)])
    for k, line in enumerate(receiver.lines):
        assert on[:, k].mean() == pytest.approx(line.duty_cycle, abs=0.05)
        if 0 < line.duty_cycle < 1:
            starts = np.flatnonzero(np.diff(on[:, k].astype(int)) == 1)
            assert 0.25 * on[:, k].sum() / starts.size == pytest.approx(max(line.mean_on_s, 0.25), rel=0.25)
        else:
            assert on[:, k].all()


def test_rfi_lines_show_in_the_data_where_the_truth_says():
    sim, data, times = _blocks(_quiet(ReceiverSettings(rfi_lines=4)), 6)
    background = sky_background(sim.freq_hz)
    on = BeamSimulator("b", sim.settings, start_unix_s=T0).receiver.line_on(times)
    for k, line in enumerate(sim.rfi_lines):
        excess = data[:, line.channels].mean(axis=1) / background[line.channels].mean() - 1
        if on[:, k].any():
            assert np.median(excess[on[:, k]]) == pytest.approx(line.excess, rel=0.2)
        if not on[:, k].all():
            assert abs(np.median(excess[~on[:, k]])) < 0.1


def test_same_seed_same_receiver_whatever_the_blocks():
    receiver = ReceiverSettings.e_callisto_bir().model_copy(update={"gain_steps_per_hour": 600.0})
    a_sim, a, _ = _blocks(_quiet(receiver), 8)
    b_sim, b, _ = _blocks(_quiet(receiver), 8)
    np.testing.assert_array_equal(a, b)
    assert a_sim.gain_steps == b_sim.gain_steps
    c_sim, c, _ = _blocks(_quiet(receiver), 8, beam="other")
    assert not np.array_equal(a, c)
    d_sim, _, _ = _blocks(_quiet(receiver, block_spectra=16), 32)  # the same 8 x 64 spectra in smaller blocks
    assert d_sim.gain_steps == a_sim.gain_steps
    times = T0 + a_sim.time_step_s * np.arange(512)
    np.testing.assert_array_equal(a_sim.receiver.steps_db(times), d_sim.receiver.steps_db(times))
    later = T0 + a_sim.time_step_s * np.arange(512, 1024)  # the receivers go on alike
    np.testing.assert_allclose(a_sim.receiver.drift_ln(later), d_sim.receiver.drift_ln(later))
    np.testing.assert_array_equal(a_sim.receiver.line_on(later), d_sim.receiver.line_on(later))


def test_the_e_callisto_preset_and_the_yaml_mirror():
    preset = ReceiverSettings.e_callisto_bir()
    assert preset.quantisation == "log_digits" and preset.gain_steps_per_hour == 0
    assert (preset.bandpass_ripple_db, preset.background_drift_fraction) == (2.3, 0.6)
    assert preset.db_per_digit == pytest.approx(0.386, abs=1e-3) and preset.rfi_lines == 16
    assert load_settings(env={}).simulator.receiver == ReceiverSettings()


def test_gain_steps_module_finds_the_simulated_steps_and_rfi_flagger_the_lines():
    """A default-resolution beam through the detection path: 4 x 16 averaging, 64-sample chunks."""
    receiver = ReceiverSettings.e_callisto_bir().model_copy(update={"gain_steps_per_hour": 360.0})
    settings = SimulatorSettings(realtime=False, event_rates_per_min={}, persistent_rfi_channels=0, n_subbands=64,
                                 receiver=receiver)
    sim = BeamSimulator("beam0", settings, start_unix_s=T0)
    blocks = [sim.next_block()[0] for _ in range(24)]  # 32 s
    data = np.concatenate([average_bins(b.data, 4, 16) for b in blocks])
    freq_hz = average_bins(blocks[0].freq_hz[None, :], 1, 16)[0]
    step_s = 4 * sim.time_step_s
    found, flagged = [], []
    for start in range(0, data.shape[0] - 63, 48):
        chunk = data[start:start + 64]
        found += [T0 + step_s * (start + s.sample) for s in find_gain_steps(chunk)]
        flagged.append(flag_rfi(remove_gain(chunk, gain_db(chunk, freq_hz)), step_s, freq_hz).mean(axis=0) > 0.5)
    truth = [at_s for at_s, _ in sim.gain_steps if at_s < T0 + step_s * (data.shape[0] - 3)]
    assert truth and all(any(abs(f - at_s) <= 1.5 * step_s for f in found) for at_s in truth)
    assert all(any(abs(f - at_s) <= 1.5 * step_s for at_s in truth) for f in found)  # no false step
    line_channels = sorted({int(c) // 16 for line in sim.rfi_lines for c in line.channels
                            if line.duty_cycle >= 0.5})
    assert np.any(flagged, axis=0)[line_channels].all()  # every busy line flagged in some chunk
