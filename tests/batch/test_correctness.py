"""The real chain flag -> calibrate -> apply -> image on a simulated MS recovers what was put in.

Real tools (AOFlagger, DP3, WSClean) on a tiny MS: 24 mini-arrays, 40 integrations, 16 channels,
three sources far enough apart (> 2.5 beams) that their restored images do not blend. The truth
(gains, sources, RFI) comes from ``generate_ms``. About 15 s on 2 cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from casacore import tables
from losoto.h5parm import h5parm

from nenubroker.batch import provenance
from nenubroker.batch.generate import PointSource, Truth, generate_ms
from nenubroker.batch.ms import ms_info
from nenubroker.batch.ms_slice import write_partition
from nenubroker.batch.steps import STEPS

# WSClean writes DATE-OBS without MJD-OBS, which astropy fills in with a warning;
# losoto uses PyTables keywords that PyTables now deprecates.
pytestmark = [pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
              pytest.mark.filterwarnings("ignore:The use of uppercase keyword:DeprecationWarning")]

PHASE_CENTRE_DEG = (350.0, 52.0)
N_TIMES, N_CHANNELS = 40, 16
IMAGE = {"size_px": 256, "scale_arcsec": 280.0, "niter": 2000, "auto_threshold": 1.0}
POSITION_TOLERANCE_PX, FLUX_TOLERANCE, GAIN_TOLERANCE = 0.5, 0.05, 0.02


def _sources() -> list[PointSource]:
    ra0, dec0 = PHASE_CENTRE_DEG
    offsets = [(2.5, 1.5, 100.0), (-3.0, -0.5, 60.0), (0.5, -3.5, 40.0)]  # (dRA cos dec, dDec) deg, Jy
    return [PointSource(ra0 + dx / np.cos(np.radians(dec0 + dy)), dec0 + dy, flux, name=f"S{i}")
            for i, (dx, dy, flux) in enumerate(offsets)]


def _run(name: str, params: dict, inputs: dict, root: Path, timings: dict[str, float]) -> dict[str, Path]:
    """One step in its own folder, recorded in provenance, as the pipeline runs it."""
    step = STEPS[name](params)
    out_dir = root / name
    out_dir.mkdir()
    started = time.time()
    outputs = step.run(inputs, out_dir)
    ended = time.time()
    provenance.record(name, step.params.model_dump(mode="json"), inputs, outputs, started, ended,
                      provenance.software_versions(step.software), step.metrics)
    timings[name] = ended - started
    return outputs


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("chain")
    ms = root / "sim.ms"
    truth = generate_ms(ms, n_antennas=24, n_times=N_TIMES, channels_per_subband=N_CHANNELS,
                        phase_centre_deg=PHASE_CENTRE_DEG, sources=_sources(), rfi_jy=100.0, seed=3)
    source_checksum = provenance.checksum(ms)
    timings: dict[str, float] = {}
    flagged = _run("flag", {}, {"ms": ms}, root, timings)
    solved = _run("calibrate", {"solint_steps": N_TIMES},
                  {"ms": flagged["ms"], "skymodel": Path(f"{ms}.skymodel")}, root, timings)
    corrected = _run("apply", {}, {"ms": flagged["ms"], "h5parm": solved["h5parm"]}, root, timings)
    image = _run("image", IMAGE, corrected, root, timings)
    print("chain timings (s):", {k: round(v, 2) for k, v in timings.items()})
    return {"root": root, "ms": ms, "truth": truth, "source_checksum": source_checksum, "timings": timings,
            "flagged": flagged["ms"], "h5parm": solved["h5parm"], "corrected": corrected["ms"],
            "fits": image["fits"]}


def _rfi_mask(truth: Truth, shape: tuple[int, int, int]) -> np.ndarray:
    """(time, baseline, channel) True where the generator put RFI."""
    mask = np.zeros(shape, bool)
    mask[:, :, truth.rfi_channels] = True
    mask[truth.rfi_times] = True
    return mask


def test_flag_finds_the_injected_rfi_and_little_else(chain: dict) -> None:
    with tables.table(str(chain["flagged"]), ack=False) as t:
        flags = t.getcol("FLAG").any(axis=-1)
    flags = flags.reshape(N_TIMES, -1, N_CHANNELS)
    rfi = _rfi_mask(chain["truth"], flags.shape)
    found, false_alarms = flags[rfi].mean(), flags[~rfi].mean()
    print(f"RFI flagged {100 * found:.1f} %, clean data flagged {100 * false_alarms:.2f} %")
    assert found >= 0.95
    assert false_alarms <= 0.02


def test_steps_leave_their_inputs_untouched(chain: dict) -> None:
    assert provenance.checksum(chain["ms"]) == chain["source_checksum"]


def _solved_gains(h5: Path) -> tuple[np.ndarray, list[str]]:
    """Complex gains (antenna, pol) of the single solution interval and direction, and antenna names."""
    solutions = h5parm(str(h5), readonly=True)
    try:
        solset = solutions.getSolset("sol000")
        amplitude, axes = solset.getSoltab("amplitude000").getValues(retAxesVals=True)
        phase, _ = solset.getSoltab("phase000").getValues(retAxesVals=True)
    finally:
        solutions.close()
    assert list(axes["pol"]) == ["XX", "YY"] and len(axes["dir"]) == 1
    return (amplitude * np.exp(1j * phase))[0, 0, :, 0, :], [str(a) for a in axes["ant"]]


def test_calibration_recovers_the_injected_gains(chain: dict) -> None:
    solved, antennas = _solved_gains(chain["h5parm"])
    truth = chain["truth"]
    injected = truth.gains_array()
    assert antennas == list(truth.gains)
    # Gauge: one phase per polarisation is free (the reference antenna); amplitudes are fixed by the model.
    gauge = np.exp(1j * np.angle(np.sum(solved * np.conj(injected), axis=0)))
    rms = np.sqrt(np.mean(np.abs(solved / gauge - injected) ** 2 / np.abs(injected) ** 2))
    print(f"gain rms error {100 * rms:.3f} %")
    assert rms <= GAIN_TOLERANCE


def _position(source: dict) -> SkyCoord:
    return SkyCoord(source["ra_deg"] * u.deg, source["dec_deg"] * u.deg)


def _fitted_peak(image: np.ndarray, x: int, y: int) -> tuple[float, float, float]:
    """Sub-pixel peak (x, y, value) of a 2-D quadratic fitted to the 3x3 pixels around (x, y)."""
    dy, dx = (g.ravel() for g in np.mgrid[-1:2, -1:2])
    design = np.stack([np.ones(9), dx, dy, dx * dx, dx * dy, dy * dy], axis=1)
    a, bx, by, cxx, cxy, cyy = np.linalg.lstsq(design, image[y - 1:y + 2, x - 1:x + 2].ravel(), rcond=None)[0]
    ox, oy = np.linalg.solve([[2 * cxx, cxy], [cxy, 2 * cyy]], [-bx, -by])
    return x + ox, y + oy, a + bx * ox + by * oy + cxx * ox * ox + cxy * ox * oy + cyy * oy * oy


def test_image_recovers_source_positions_and_fluxes(chain: dict) -> None:
    with fits.open(chain["fits"]) as hdul:
        image, header = hdul[0].data.squeeze(), hdul[0].header
    sky = WCS(header).celestial
    freq_hz = header["CRVAL3"]
    for source in chain["truth"].sources:
        x, y = (float(v) for v in sky.world_to_pixel(_position(source)))
        x0, y0 = round(x), round(y)
        window = image[y0 - 3:y0 + 4, x0 - 3:x0 + 4]
        wy, wx = np.unravel_index(np.argmax(window), window.shape)
        fx, fy, peak_jy = _fitted_peak(image, x0 - 3 + wx, y0 - 3 + wy)
        true_jy = source["flux_jy"] * (freq_hz / source["ref_freq_hz"]) ** source["spectral_index"]
        offset_px, flux_error = np.hypot(fx - x, fy - y), peak_jy / true_jy - 1
        print(f"{source['name']}: offset {offset_px:.3f} px, flux {peak_jy:.2f} / {true_jy:.2f} Jy "
              f"({100 * flux_error:+.2f} %)")
        assert offset_px <= POSITION_TOLERANCE_PX
        assert abs(flux_error) <= FLUX_TOLERANCE


def test_image_header_carries_the_ms_time_range(chain: dict) -> None:
    info = ms_info(chain["corrected"])
    header = fits.getheader(chain["fits"])
    begin = Time(header["DATE-BEG"], scale="utc").mjd * 86400
    assert begin == pytest.approx(info.times_s[0] - info.interval_s / 2, abs=1e-3)
    end = Time(header["DATE-END"], scale="utc").mjd * 86400
    assert end == pytest.approx(info.times_s[-1] + info.interval_s / 2, abs=1e-3)


def test_average_reduces_time_and_frequency_by_its_factors(chain: dict, tmp_path: Path) -> None:
    before = ms_info(chain["corrected"])
    step = STEPS["average"]({"time_factor": 4, "freq_factor": 2})
    after = ms_info(step.run({"ms": chain["corrected"]}, tmp_path)["ms"])
    assert (after.n_times, after.n_channels) == (before.n_times // 4, before.n_channels // 2)
    assert after.rows_per_time == before.rows_per_time
    assert after.interval_s == pytest.approx(4 * before.interval_s)
    assert after.channel_width_hz == pytest.approx(2 * before.channel_width_hz)
    np.testing.assert_allclose(after.freqs_hz, before.freqs_hz.reshape(-1, 2).mean(axis=1))
    np.testing.assert_allclose(after.times_s, before.times_s.reshape(-1, 4).mean(axis=1))


def test_merge_cube_wcs_gives_each_partition_frequency_and_time(chain: dict, tmp_path: Path) -> None:
    """Cut the source MS in 2 times x 2 bands; flag, apply, image each; merge; read the WCS back."""
    info = ms_info(chain["ms"])
    half_rows, half_chan = info.n_rows // 2, info.n_channels // 2
    images, expected = [], []
    for ti, (r0, r1) in enumerate([(0, half_rows), (half_rows, info.n_rows)]):
        for fi, (c0, c1) in enumerate([(0, half_chan), (half_chan, info.n_channels)]):
            part = tmp_path / f"t{ti}f{fi}"
            part.mkdir()
            ms = write_partition(chain["ms"], part / "part.ms", r0, r1, c0, c1)
            for name, params, inputs in [("flag", {}, {"ms": ms}),
                                         ("apply", {}, {"h5parm": chain["h5parm"]}),
                                         ("image", {**IMAGE, "niter": 200}, {})]:
                ms = STEPS[name](params).run({"ms": ms, **inputs}, part).get("ms", ms)
            images.append(part / "image-image.fits")
            times = info.times_s[r0 // info.rows_per_time:r1 // info.rows_per_time]
            expected.append((ti, fi, info.freqs_hz[c0:c1].mean(), times.mean()))
    merge = STEPS["merge"]()
    cube = merge.run({"fits_list": images[::-1]}, tmp_path)["fits"]  # order must not matter
    with fits.open(cube) as hdul:
        data, wcs = hdul[0].data, WCS(hdul[0].header)
        assert data.shape == (2, 2, IMAGE["size_px"], IMAGE["size_px"])
        assert len(hdul["PLANES"].data) == 4
    assert list(wcs.wcs.ctype) == ["RA---SIN", "DEC--SIN", "FREQ", "TIME"]
    source = chain["truth"].sources[0]
    for ti, fi, freq_hz, time_mjd_s in expected:
        sky, spectral, when = wcs.pixel_to_world(IMAGE["size_px"] / 2, IMAGE["size_px"] / 2, fi, ti)
        assert spectral.to_value(u.Hz) == pytest.approx(freq_hz, rel=1e-9)
        assert when.utc.mjd * 86400 == pytest.approx(time_mjd_s, abs=1e-3)
        x, y = (float(v) for v in wcs.celestial.world_to_pixel(_position(source)))
        plane = data[ti, fi]
        assert np.unravel_index(np.nanargmax(plane), plane.shape) == pytest.approx((y, x), abs=1.0)


def test_products_carry_their_lineage(chain: dict) -> None:
    text = provenance.describe(chain["fits"])
    for step in ("image", "apply", "calibrate", "flag"):
        assert f"step {step}" in text
    assert "WSClean version" in text and "AOFlagger" in text and "DP3" in text
    assert f"{chain['ms']}  (no provenance: an original input)" in text
