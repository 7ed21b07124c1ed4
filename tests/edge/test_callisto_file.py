"""e-CALLISTO FITS files in: the reader (edge/callisto_file.py) on simulated files from
edge/sim/callisto.py and on a real one (tests/data/callisto/), the edge's dispatch by suffix, the
detection chain on what it reads, and the CLI's refusal of bad files."""

from __future__ import annotations

import calendar
import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from nenubroker.cli import app
from nenubroker.conf.settings import load_settings
from nenubroker.edge.callisto_file import DB_PER_DIGIT, CallistoFile, CallistoFileError, digits_to_power
from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.ingest import file_blocks, settings_for_file
from nenubroker.edge.sim.callisto import CallistoReceiver, SimulatedCallisto, simulate_callisto, write_callisto_fits
from nenubroker.edge.sim.events import InjectedEvent, type_iii_decay_s, type_iii_drift_hz_per_s
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_search.core import detect_bursts
from nenubroker.udfs.rfi_flagger.core import flag_rfi

REAL_FILE = Path(__file__).resolve().parents[1] / "data" / "callisto" / "BIR_20110607_062400_10.fit.gz"
START = 1.7e9  # 2023-11-14 22:13:20 UTC
SMALL = CallistoReceiver(n_channels=40, n_repeats=4, rfi_lines=1, saturated_channels=2, lost_sweeps=3, seed=3)


def _simulate(duration_s: float = 30.0, receiver: CallistoReceiver = SMALL, **kwargs) -> SimulatedCallisto:
    return simulate_callisto(duration_s, start_unix_s=kwargs.pop("start_unix_s", START), receiver=receiver, **kwargs)


def _digits_read(block_data: np.ndarray) -> np.ndarray:
    return 10 * np.log10(block_data.astype(np.float64)) / DB_PER_DIGIT


def _file_order_to_read(sim: SimulatedCallisto) -> np.ndarray:
    """The file channel the reader keeps for each frequency: the first of repeats, ascending."""
    order = np.argsort(sim.freq_mhz, kind="stable")
    return order[np.concatenate([[True], np.diff(sim.freq_mhz[order]) > 0])]


def _chunks(path: Path) -> list[SpectraChunk]:
    """What the edge streams from ``path``: file_blocks through the downsampler, final chunk included."""
    settings = settings_for_file(load_settings(env={}), path)
    downsampler = Downsampler(settings.ingest)
    blocks = file_blocks(path, "callisto", callisto=settings.ingest.callisto)
    return [chunk for block in blocks for chunk in downsampler.push(block)] + downsampler.flush()


def _candidates(chunks: list[SpectraChunk], flag: bool) -> list[dict]:
    found = []
    for c in chunks:
        data = np.where(flag_rfi(c.data, c.time_step_s, c.freq_hz), np.nan, c.data) if flag else c.data
        found += detect_bursts(data, c.freq_hz, c.time_start_unix_s, c.time_step_s, c.overlap_samples,
                               c.trailing_overlap_samples)
    return found


# --- reading simulated files -------------------------------------------------------------------
def test_round_trip_sorts_channels_drops_repeats_and_gives_unix_times(tmp_path: Path):
    sim = _simulate()
    fits_file = CallistoFile(write_callisto_fits(tmp_path / "SIM_20231114_221320_01.fit", sim), dither=False)
    kept = _file_order_to_read(sim)
    assert np.array_equal(fits_file.freq_hz, np.unique(sim.freq_mhz) * 1e6)
    assert np.all(np.diff(fits_file.freq_hz) > 0) and fits_file.n_dropped_channels == SMALL.n_repeats
    assert fits_file.time_column == "offset" and fits_file.time_step_s == 0.25
    np.testing.assert_allclose(fits_file.time_unix_s, START + 0.25 * np.arange(120), atol=1e-3)
    digits = sim.digits[kept].T.astype(float)  # (n_time, n_freq), ascending
    lost = (digits == 0) | (digits == 255)
    block = fits_file.read()
    assert np.array_equal(np.isnan(block.data), lost) and np.array_equal(block.lost, lost)
    np.testing.assert_allclose(_digits_read(block.data[~lost]), digits[~lost], atol=1e-3)


def test_saturated_and_no_data_samples_are_lost_and_counted(tmp_path: Path):
    sim = _simulate()
    fits_file = CallistoFile(write_callisto_fits(tmp_path / "s.fit", sim))
    digits = sim.digits[_file_order_to_read(sim)].T
    assert fits_file.n_saturated == int((digits == 255).sum()) >= 2 * 120 - 3 * 2  # two clipped channels
    assert fits_file.n_no_data == int((digits == 0).sum()) >= 3 * fits_file.n_freq  # three lost sweeps
    assert np.isnan(fits_file.power[sim.lost_sweeps]).all()
    saturated = np.searchsorted(fits_file.freq_hz, sim.saturated_freq_hz)
    assert np.isnan(fits_file.power[:, saturated]).all()


def test_dither_stays_inside_each_digit_and_is_the_same_on_every_read(tmp_path: Path):
    path = write_callisto_fits(tmp_path / "s.fit", _simulate())
    plain, dithered = CallistoFile(path, dither=False).power, CallistoFile(path).power
    offset = _digits_read(dithered) - _digits_read(plain)
    finite = np.isfinite(offset)
    assert np.abs(offset[finite]).max() <= 0.5 + 1e-4 and offset[finite].std() > 0.25
    assert np.array_equal(dithered, CallistoFile(path).power, equal_nan=True)


@pytest.mark.parametrize("time_column", ["offset", "seconds_of_day"])
@pytest.mark.parametrize("name", ["s.fit", "s.fit.gz", "s.fits"])
def test_time_column_and_suffix_read_alike(tmp_path: Path, time_column: str, name: str):
    sim = _simulate()
    fits_file = CallistoFile(write_callisto_fits(tmp_path / name, sim, time_column=time_column))
    assert fits_file.time_column == time_column
    np.testing.assert_allclose(fits_file.time_unix_s, sim.time_unix_s, atol=1e-3)


def test_seconds_of_day_wrapping_at_midnight_continue_into_the_next_day(tmp_path: Path):
    start = calendar.timegm((2024, 3, 1, 23, 59, 50))
    sim = _simulate(duration_s=20.0, start_unix_s=start)
    path = write_callisto_fits(tmp_path / "s.fit", sim, time_column="seconds_of_day")
    with fits.open(path, mode="update") as hdus:
        hdus[1].data["TIME"][0] %= 86400.0  # a writer that starts the next day at 0
        assert hdus[0].header["TIME-END"] == "24:00:10.000"
    fits_file = CallistoFile(path)
    np.testing.assert_allclose(fits_file.time_unix_s, start + 0.25 * np.arange(80), atol=1e-3)


def test_regular_grid_averages_channels_into_bins_and_leaves_empty_ones_nan(tmp_path: Path):
    path = write_callisto_fits(tmp_path / "s.fit", _simulate())
    native = CallistoFile(path, dither=False)
    regular = CallistoFile(path, dither=False, freq_step_hz=2e6)
    np.testing.assert_allclose(np.diff(regular.freq_hz), 2e6)
    bins = np.rint((native.freq_hz - native.freq_hz[0]) / 2e6).astype(int)
    assert np.isnan(regular.power[:, np.setdiff1d(np.arange(regular.n_freq), bins)]).all()
    for b in np.unique(bins):
        members = native.power[:, bins == b]
        counts = np.isfinite(members).sum(axis=1)
        expected = np.where(counts > 0, np.nansum(members, axis=1) / np.maximum(counts, 1), np.nan)
        np.testing.assert_allclose(regular.power[:, b], expected, rtol=1e-5)


# --- bad files ---------------------------------------------------------------------------------
def _bad_file(tmp_path: Path, kind: str) -> Path:
    good = write_callisto_fits(tmp_path / "good.fit", _simulate(duration_s=10.0))
    path = tmp_path / f"bad_{kind}.fit"
    raw = good.read_bytes()
    with fits.open(good) as hdus:
        image, table = hdus[0].copy(), hdus[1].copy()
    if kind == "text":
        path.write_text("SIMPLE? no: a text file\n")
    elif kind == "truncated":
        path.write_bytes(raw[: len(raw) * 2 // 3])
    elif kind == "truncated_gz":
        path = tmp_path / "bad.fit.gz"
        path.write_bytes(gzip.compress(raw)[:2000])
    elif kind == "primary_only":
        fits.PrimaryHDU(image.data, image.header).writeto(path)
    elif kind == "no_frequency":
        columns = fits.BinTableHDU.from_columns([table.columns["TIME"]])
        fits.HDUList([image, columns]).writeto(path)
    elif kind == "shape":
        fits.HDUList([fits.PrimaryHDU(image.data[:, :-1], image.header), table]).writeto(path)
    elif kind == "year_1970":
        image.header["DATE-OBS"] = "1970/01/01"
        fits.HDUList([image, table]).writeto(path)
    elif kind == "gap":
        table.data["TIME"][0][20:] += 5.0
        fits.HDUList([image, table]).writeto(path)
    return path


@pytest.mark.parametrize(("kind", "says"), [
    ("text", "not a FITS file (begins"),
    ("truncated", "truncated or garbled FITS file"),
    ("truncated_gz", "not a readable gzip file"),
    ("primary_only", "no binary table extension with TIME and FREQUENCY"),
    ("no_frequency", "no FREQUENCY column"),
    ("shape", "image is 40 channels x 39 samples"),
    ("year_1970", "not a plausible observing date"),
    ("gap", "TIME is not regular: sample 20"),
])
def test_bad_file_raises_callisto_file_error_naming_it(tmp_path: Path, kind: str, says: str):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(CallistoFileError, match=f"^{re.escape(str(path))}: .*{re.escape(says)}"):
        CallistoFile(path)


def test_missing_file_raises_callisto_file_error(tmp_path: Path):
    with pytest.raises(CallistoFileError, match="nowhere.fit: no such file"):
        CallistoFile(tmp_path / "nowhere.fit")


@pytest.mark.parametrize("name", ["nowhere.fit", "not_fits.fit.gz"])
def test_cli_refuses_a_missing_or_non_fits_file_in_one_line(tmp_path: Path, name: str):
    path = tmp_path / name
    if name.startswith("not_fits"):
        path.write_text("hello\n")
    result = CliRunner().invoke(app, ["edge", "ingest", str(path)])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"nenubroker edge ingest: {path}: ") and "Traceback" not in result.output


# --- the edge path -------------------------------------------------------------------------------
def test_file_blocks_picks_the_fits_reader_by_suffix_and_streams_whole_file(tmp_path: Path):
    path = write_callisto_fits(tmp_path / "s.fit.gz", _simulate(duration_s=70.0))
    settings = settings_for_file(load_settings(env={}), path)
    assert (settings.ingest.downsample_time, settings.ingest.downsample_freq, settings.ingest.chunk_time_samples) \
        == (1, 1, 64)
    blocks = list(file_blocks(path, "cal0", callisto=settings.ingest.callisto))
    assert [b.n_time for b in blocks] == [240, 40] and {b.beam for b in blocks} == {"cal0"}
    assert blocks[1].time_start_unix_s == pytest.approx(START + 60.0, abs=1e-3)
    np.testing.assert_array_equal(np.concatenate([b.data for b in blocks]), CallistoFile(path).power)
    assert settings_for_file(load_settings(env={}), tmp_path / "x.spectra").ingest.downsample_freq == 16


def test_type_iii_and_spike_in_a_simulated_file_are_detected(tmp_path: Path):
    type_iii = InjectedEvent("type_iii", "c", START + 40.0, 80e6, 10.0, duration_s=float(type_iii_decay_s(80e6)),
                             freq_stop_hz=20e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(80e6)))
    spike = InjectedEvent("spike", "c", START + 90.0, 55e6, 15.0, duration_s=0.3, bandwidth_hz=1e6)
    sim = _simulate(duration_s=120.0, receiver=CallistoReceiver(gain_steps=0, seed=0), events=[type_iii, spike])
    found = _candidates(_chunks(write_callisto_fits(tmp_path / "bursts.fit", sim)), flag=False)
    assert len(found) == 2, [(c["time_start_s"] - START, c["freq_peak_hz"]) for c in found]
    burst = min(found, key=lambda c: c["time_start_s"])
    spiky = max(found, key=lambda c: c["time_start_s"])
    assert START + 38.0 <= burst["time_start_s"] <= START + 40.5 <= burst["time_peak_s"] + 0.5
    assert burst["freq_min_hz"] == 20e6 and burst["freq_max_hz"] > 75e6
    drift_at_peak = type_iii_drift_hz_per_s(burst["freq_peak_hz"])
    assert burst["drift_hz_per_s"] == pytest.approx(drift_at_peak, rel=0.3)
    assert spiky["time_peak_s"] == pytest.approx(START + 90.0, abs=0.5) and spiky["drift_hz_per_s"] == 0
    assert spiky["freq_min_hz"] - 0.5e6 <= 55e6 <= spiky["freq_max_hz"] + 0.5e6


def _quiet_file(tmp_path: Path, gain_steps: int) -> tuple[Path, SimulatedCallisto]:
    sim = _simulate(duration_s=300.0, receiver=CallistoReceiver(gain_steps=gain_steps, seed=0))
    return write_callisto_fits(tmp_path / "quiet.fit", sim), sim


def test_quiet_file_with_drift_rfi_and_saturation_gives_no_candidates(tmp_path: Path):
    path, _ = _quiet_file(tmp_path, gain_steps=0)
    assert _candidates(_chunks(path), flag=True) == []


def test_quiet_file_gives_candidates_only_at_gain_steps(tmp_path: Path):
    """A known limit: a gain step (all channels, one sample, for good) looks like a broadband onset
    to the per-chunk normalisation; here one of the two 1.5 dB steps gives a candidate (README.md)."""
    path, sim = _quiet_file(tmp_path, gain_steps=2)
    found = _candidates(_chunks(path), flag=True)
    assert 1 <= len(found) <= sim.gain_step_times_s.size
    step_s = START + sim.gain_step_times_s
    for candidate in found:
        start, stop = candidate["time_start_s"], candidate["time_start_s"] + candidate["duration_s"]
        assert np.any((step_s > start - 1.0) & (step_s < stop + 1.0)), (start - START, sim.gain_step_times_s)
        assert candidate["freq_max_hz"] - candidate["freq_min_hz"] > 0.5 * (90e6 - 20e6)


# --- a real file (radiospectra's test data, see tests/data/callisto/README.md) --------------------
def test_real_file_axes_shape_and_values():
    fits_file = CallistoFile(REAL_FILE, dither=False)
    assert fits_file.station == "BIR" and fits_file.time_column == "offset"
    assert (fits_file.n_time, fits_file.n_freq, fits_file.n_dropped_channels) == (3600, 192, 8)
    assert fits_file.time_start_unix_s == pytest.approx(calendar.timegm((2011, 6, 7, 6, 24, 0)) + 0.213, abs=1e-6)
    assert fits_file.time_step_s == 0.25
    assert fits_file.time_stop_unix_s == pytest.approx(calendar.timegm((2011, 6, 7, 6, 39, 0)) + 0.213, abs=1e-3)
    assert fits_file.freq_hz[0] == 20e6 and fits_file.freq_hz[-1] == pytest.approx(91.813e6, abs=1e3)
    steps_khz = np.diff(fits_file.freq_hz) / 1e3
    assert steps_khz.min() == pytest.approx(62, abs=1) and steps_khz.max() == pytest.approx(688, abs=1)
    assert fits_file.n_saturated == 0 and fits_file.n_no_data == 0
    digits = _digits_read(fits_file.power)
    np.testing.assert_allclose(digits, np.rint(digits), atol=1e-3)
    assert (digits.min(), digits.max()) == pytest.approx((105, 201), abs=1e-3)
    assert float(fits_file.power.max()) == pytest.approx(float(digits_to_power(np.array([201]))[0]), rel=1e-6)


def test_real_file_holds_the_broadband_emission_of_2011_06_07():
    fits_file = CallistoFile(REAL_FILE, dither=False)
    excess_db = (_digits_read(fits_file.power) - np.median(_digits_read(fits_file.power[:400]), axis=0)) \
        * DB_PER_DIGIT
    band = np.median(excess_db, axis=1)  # over the channels, per sample
    assert np.abs(band[:400]).max() < 1.0  # quiet for 100 s
    onset_s = np.argmax(band > 3.0) * 0.25
    assert onset_s == pytest.approx(122.75, abs=1.0) and band.max() == pytest.approx(17.4, abs=0.5)


def test_burst_search_finds_the_onset_of_the_real_emission():
    fits_file = CallistoFile(REAL_FILE)
    t0 = fits_file.time_start_unix_s
    downsampler = Downsampler(settings_for_file(load_settings(env={}), REAL_FILE).ingest)
    block = fits_file.read(t0 + 90.0, t0 + 150.0)
    chunks = downsampler.push(block.to_chunk("bir", 0)) + downsampler.flush()
    found = _candidates(chunks, flag=True)
    assert any(100.0 < c["time_start_s"] - t0 < 130.0 and c["snr"] > 20 for c in found)
