"""The simulated MS matches its truth, as seen by WSClean, DP3 and AOFlagger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from nenubroker.batch.generate import (
    PointSource,
    apply_gains,
    channel_freqs_hz,
    generate_ms,
    load_truth,
    sky_visibilities,
)
from nenubroker.batch.ms import ms_info
from nenubroker.batch.ms_slice import read_rows, write_partition
from nenubroker.batch.steps.base import dp3_command

TINY = dict(n_antennas=16, n_times=30, channels_per_subband=8)


@pytest.fixture(scope="module")
def clean_ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No gains, no RFI, little noise: what imaging and prediction should reproduce exactly."""
    path = tmp_path_factory.mktemp("gen") / "clean.ms"
    generate_ms(path, **TINY, gain_amp_rms=0.0, gain_phase_rms_deg=0.0, rfi=False, noise_jy=0.1, seed=1)
    return path


@pytest.fixture(scope="module")
def full_ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "full.ms"
    generate_ms(path, **TINY, noise_jy=0.0, seed=2)
    return path


def _dp3(*args: str) -> None:
    subprocess.run([*dp3_command(), *args], check=True, capture_output=True,
                   env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})


def test_channels_split_subbands_around_their_centre() -> None:
    freqs_hz, width_hz = channel_freqs_hz(first_subband=100, n_subbands=2, channels_per_subband=4)
    assert width_hz == 195312.5 / 4
    assert freqs_hz[2] == 100 * 195312.5 and freqs_hz[6] == 101 * 195312.5
    assert np.allclose(np.diff(freqs_hz), width_hz)


def test_generated_ms_has_the_requested_shape(full_ms: Path) -> None:
    info = ms_info(full_ms)
    assert (info.n_antennas, info.n_times, info.n_channels) == (16, 30, 8)
    assert info.n_rows == 30 * 16 * 15 // 2
    data = read_rows(full_ms, 0, info.rows_per_time, columns=["DATA"])["DATA"]
    assert data.dtype == np.complex64 and data.shape == (120, 8, 4)


def test_truth_file_records_everything(full_ms: Path) -> None:
    raw = json.loads(Path(str(full_ms) + ".truth.json").read_text())
    for key in ("sources", "gains", "noise_jy", "rfi_channels", "rfi_times", "params", "seed", "conventions"):
        assert key in raw, key
    truth = load_truth(full_ms)
    assert len(truth.gains) == 16 and set(truth.gains["MA003"]) == {"x", "y"}
    assert truth.gains_array()[0, 0].imag == 0  # phases are relative to MA000
    assert truth.rfi_channels and truth.rfi_times
    assert truth.params["n_times"] == 30 and truth.seed == 2


def test_same_seed_gives_the_same_visibilities(full_ms: Path, tmp_path: Path) -> None:
    generate_ms(tmp_path / "again.ms", **TINY, noise_jy=0.0, seed=2)
    a = read_rows(full_ms, 0, 240, columns=["DATA"])["DATA"]
    assert np.array_equal(a, read_rows(tmp_path / "again.ms", 0, 240, columns=["DATA"])["DATA"])


def test_gains_corrupt_each_polarisation_separately(tmp_path: Path) -> None:
    path = tmp_path / "g.ms"
    truth = generate_ms(path, n_antennas=5, n_times=3, channels_per_subband=4, rfi=False, noise_jy=0.0,
                        seed=4)
    rows = read_rows(path, 0, 30, columns=["DATA", "UVW", "ANTENNA1", "ANTENNA2"])
    info = ms_info(path)
    sources = [PointSource(**s) for s in truth.sources]
    sky = sky_visibilities(rows["UVW"], info.freqs_hz, sources, info.phase_centre_rad)
    zero = np.zeros_like(sky)
    want = apply_gains(sky, zero, zero, sky, truth.gains_array(), rows["ANTENNA1"], rows["ANTENNA2"])
    assert np.allclose(rows["DATA"], want, rtol=1e-5, atol=1e-3)


def test_rfi_is_present_but_not_flagged(full_ms: Path) -> None:
    truth = load_truth(full_ms)
    rows = read_rows(full_ms, 0, ms_info(full_ms).n_rows, columns=["DATA", "FLAG"])
    assert not rows["FLAG"].any()
    amp = np.abs(rows["DATA"][..., 0]).reshape(30, 120, 8)
    clean_channels = [c for c in range(8) if c not in truth.rfi_channels]
    clean_times = [t for t in range(30) if t not in truth.rfi_times]
    base = np.median(amp[clean_times][:, :, clean_channels])
    assert np.median(amp[clean_times][:, :, truth.rfi_channels]) > 1.5 * base
    assert np.median(amp[truth.rfi_times][:, :, clean_channels]) > 1.5 * base


@pytest.mark.skipif(shutil.which("wsclean") is None, reason="wsclean not installed")
def test_wsclean_puts_the_brightest_source_at_its_true_pixel(clean_ms: Path, tmp_path: Path) -> None:
    subprocess.run(["wsclean", "-quiet", "-size", "256", "256", "-scale", "300asec", "-niter", "0",
                    "-name", str(tmp_path / "img"), str(clean_ms)], check=True, capture_output=True)
    hdu = fits.open(tmp_path / "img-dirty.fits")[0]
    image = hdu.data[0, 0]
    y, x = np.unravel_index(np.argmax(image), image.shape)
    # Sub-pixel peak: a parabola through the peak and its neighbours on each axis.
    dx = 0.5 * (image[y, x - 1] - image[y, x + 1]) / (image[y, x - 1] - 2 * image[y, x] + image[y, x + 1])
    dy = 0.5 * (image[y - 1, x] - image[y + 1, x]) / (image[y - 1, x] - 2 * image[y, x] + image[y + 1, x])
    brightest = max(load_truth(clean_ms).sources, key=lambda s: s["flux_jy"])
    true_x, true_y = WCS(hdu.header).celestial.all_world2pix(brightest["ra_deg"], brightest["dec_deg"], 0)
    assert abs(x + dx - true_x) <= 0.5 and abs(y + dy - true_y) <= 0.5


def test_dp3_predict_from_the_skymodel_matches_the_data(clean_ms: Path, tmp_path: Path) -> None:
    part = write_partition(clean_ms, tmp_path / "p.ms", 0, 10 * 120)  # DP3 writes into it
    _dp3(f"msin={part}", "msout=.", "msout.datacolumn=MODEL_DATA", "steps=[predict]",
         f"predict.sourcedb={clean_ms}.skymodel")
    rows = read_rows(part, 0, 1200, columns=["DATA", "MODEL_DATA"])
    residual = (rows["DATA"] - rows["MODEL_DATA"])[..., [0, 3]]
    assert np.abs(rows["MODEL_DATA"]).mean() > 50
    assert residual.real.std() < 0.15 and residual.imag.std() < 0.15  # the 0.1 Jy noise only


@pytest.mark.skipif(shutil.which("aoflagger") is None, reason="aoflagger not installed")
def test_aoflagger_flags_the_rfi_of_a_partition(full_ms: Path, tmp_path: Path) -> None:
    part = write_partition(full_ms, tmp_path / "p.ms", 0, ms_info(full_ms).n_rows)
    subprocess.run(["aoflagger", str(part)], check=True, capture_output=True)
    flags = read_rows(part, 0, 3600, columns=["FLAG"])["FLAG"].reshape(30, 120, 8, 4)
    truth = load_truth(full_ms)
    assert flags[:, :, truth.rfi_channels].mean() > 0.5
    assert flags[truth.rfi_times].mean() > 0.5
