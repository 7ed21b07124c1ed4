"""Each batch step: declared interface, parameters, failures, and what it does on a tiny MS.

The full chain and its accuracy are in ``test_correctness.py``; here each behaviour is checked alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from losoto.h5parm import h5parm
from pydantic import ValidationError

from nenubroker.batch import provenance
from nenubroker.batch.steps import STEPS
from nenubroker.batch.steps.base import StepError, parset_args
from nenubroker.batch.steps.calibrate import skymodel_patches
from nenubroker.batch.steps.merge import Merge

pytestmark = pytest.mark.filterwarnings("ignore:The use of uppercase keyword:DeprecationWarning")  # losoto


def test_registry_holds_every_step_with_its_kinds_and_software() -> None:
    assert set(STEPS) == {"flag", "average", "calibrate", "apply", "image", "merge"}
    assert STEPS["calibrate"].inputs == ("ms", "skymodel") and STEPS["calibrate"].outputs == ("h5parm",)
    assert STEPS["apply"].inputs == ("ms", "h5parm") and STEPS["image"].outputs == ("fits",)
    assert STEPS["merge"].inputs == ("fits_list",)
    for name, step in STEPS.items():
        assert step.name == name and "nenubroker" in step.software


def test_every_parameter_is_typed_documented_and_defaulted() -> None:
    for step in STEPS.values():
        for field_name, field in step.Params.model_fields.items():
            assert field.description, f"{step.name}.{field_name} has no description"
            assert field.annotation is not None and not field.is_required()


def test_params_reject_unknown_and_out_of_range_values() -> None:
    with pytest.raises(ValidationError):
        STEPS["average"]({"timestep": 2})
    with pytest.raises(ValidationError):
        STEPS["average"]({"time_factor": 0})
    with pytest.raises(ValidationError):
        STEPS["calibrate"]({"mode": "rotation+diagonal"})


def test_steps_tell_the_planner_their_time_factor_and_solution_interval() -> None:
    assert STEPS["average"]({"time_factor": 4, "freq_factor": 2}).time_factor() == 4
    assert STEPS["average"]({"freq_factor": 2}).freq_factor() == 2
    assert STEPS["calibrate"]({"solint_steps": 5}).solution_interval_steps() == 5
    assert STEPS["flag"]().solution_interval_steps() is None


def test_parset_args_use_dp3_list_syntax() -> None:
    assert parset_args({"cal.directions": [["S0", "S1"]], "msout.overwrite": True, "msout": ""}) == [
        "cal.directions=[[S0,S1]]", "msout.overwrite=true", "msout="]


def test_sources_without_patches_are_their_own_patches(tiny_ms: Path) -> None:
    assert skymodel_patches(Path(f"{tiny_ms}.skymodel")) == ["S0", "S1", "S2"]


def test_flag_reports_the_flagged_fraction_and_leaves_its_input(tiny_ms: Path, tmp_path: Path) -> None:
    before = provenance.checksum(tiny_ms)
    step = STEPS["flag"]()
    out = step.run({"ms": tiny_ms}, tmp_path)["ms"]
    assert out.parent == tmp_path and provenance.checksum(tiny_ms) == before
    assert 0.0 < step.metrics["new_flagged_fraction"] <= step.metrics["flagged_fraction"] < 0.5


def test_calibrate_solves_all_sources_as_one_direction(tiny_ms: Path, tmp_path: Path) -> None:
    step = STEPS["calibrate"]({"solint_steps": 20})
    h5 = step.run({"ms": tiny_ms, "skymodel": Path(f"{tiny_ms}.skymodel")}, tmp_path)["h5parm"]
    solutions = h5parm(str(h5), readonly=True)
    try:
        solset = solutions.getSolset("sol000")
        assert sorted(solset.getSoltabNames()) == ["amplitude000", "phase000"]
        amplitude = solset.getSoltab("amplitude000")
        assert list(amplitude.dir) == ["[S0,S1,S2]"] and len(amplitude.time) == 2
    finally:
        solutions.close()


def test_steps_accept_relative_paths(tiny_ms: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tools run inside out_dir, so relative paths must be resolved before they are handed over."""
    monkeypatch.chdir(tmp_path)
    Path("avg").mkdir()
    out = STEPS["average"]({"time_factor": 2}).run({"ms": Path(os.path.relpath(tiny_ms))}, Path("avg"))["ms"]
    assert out == tmp_path / "avg" / "averaged.ms" and out.is_dir()


def test_a_failing_tool_raises_with_the_end_of_its_log(tiny_ms: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.skymodel"
    missing.write_text("format = Name, Type, Ra, Dec, I\nS9, POINT, 00:00:00, +90.00.00, 1.0\n")
    with pytest.raises(StepError, match="calibrate: .*DP3.py exited"):
        STEPS["calibrate"]().run({"ms": tiny_ms / "no-such.ms", "skymodel": missing}, tmp_path)
    assert (tmp_path / "calibrate.log").is_file()


# --- merge, on synthetic WSClean-like images -----------------------------------------------------

T0_MJD_S = 60389.5 * 86400


def _image(path: Path, freq_hz: float, bandwidth_hz: float, start_s: float, end_s: float,
           value: float) -> Path:
    """A 8x8 single-plane image with WSClean's axes (RA, Dec, FREQ, STOKES) and the image step's times."""
    header = fits.Header({
        "CTYPE1": "RA---SIN", "CRVAL1": 350.0, "CDELT1": -0.1, "CRPIX1": 5.0, "CUNIT1": "deg",
        "CTYPE2": "DEC--SIN", "CRVAL2": 52.0, "CDELT2": 0.1, "CRPIX2": 5.0, "CUNIT2": "deg",
        "CTYPE3": "FREQ", "CRVAL3": freq_hz, "CDELT3": bandwidth_hz, "CRPIX3": 1.0, "CUNIT3": "Hz",
        "CTYPE4": "STOKES", "CRVAL4": 1.0, "CDELT4": 1.0, "CRPIX4": 1.0, "BUNIT": "JY/BEAM",
        "BMAJ": 1.0, "BMIN": 0.5, "BPA": 10.0,
        "DATE-BEG": Time((T0_MJD_S + start_s) / 86400, format="mjd", precision=6).isot,
        "DATE-END": Time((T0_MJD_S + end_s) / 86400, format="mjd", precision=6).isot})
    fits.PrimaryHDU(np.full((1, 1, 8, 8), value, np.float32), header).writeto(path)
    return path


def test_merge_places_planes_on_the_grid_and_leaves_missing_ones_nan(tmp_path: Path) -> None:
    images = [_image(tmp_path / f"{t}{f}.fits", 50e6 + f * 1e6, 1e6, t * 60, t * 60 + 60, 10 * t + f)
              for t in range(3) for f in range(2) if (t, f) != (1, 0)]
    step = Merge()
    cube = step.run({"fits_list": images}, tmp_path)["fits"]
    data, header = fits.getdata(cube), fits.getheader(cube)
    assert data.shape == (3, 2, 8, 8) and np.isnan(data[1, 0]).all()
    assert data[2, 1, 0, 0] == 21 and step.metrics == {"planes": 5.0, "missing_planes": 1.0}
    sky, spectral, when = WCS(header).pixel_to_world(4, 4, 1, 2)
    assert spectral.to_value("Hz") == pytest.approx(51e6)
    assert when.mjd * 86400 == pytest.approx(T0_MJD_S + 150, abs=1e-3)
    assert sky.ra.deg == pytest.approx(350.0) and sky.dec.deg == pytest.approx(52.0)


def test_merge_places_a_shorter_last_partition_by_its_start(tmp_path: Path) -> None:
    images = [_image(tmp_path / "a.fits", 50e6, 1e6, 0, 60, 1),
              _image(tmp_path / "b.fits", 50e6, 1e6, 60, 100, 2)]
    cube = Merge().run({"fits_list": images}, tmp_path)["fits"]
    assert fits.getdata(cube)[:, 0, 0, 0].tolist() == [1, 2]
    assert fits.getheader(cube)["DATE-END"].startswith(Time((T0_MJD_S + 100) / 86400, format="mjd").isot[:19])


def test_merge_refuses_images_off_the_grid_or_on_another_sky(tmp_path: Path) -> None:
    a = _image(tmp_path / "a.fits", 50e6, 1e6, 0, 60, 1)
    off_grid = (_image(tmp_path / "b.fits", 50e6, 1e6, 60, 120, 1),
                _image(tmp_path / "c.fits", 50e6, 1e6, 150, 210, 1))
    with pytest.raises(StepError, match="regular grid"):
        Merge().run({"fits_list": [a, *off_grid]}, tmp_path)
    other_sky = tmp_path / "d.fits"
    with fits.open(a) as hdul:
        hdul[0].header["CRVAL1"] = 10.0
        hdul.writeto(other_sky)
    with pytest.raises(StepError, match="same sky grid"):
        Merge().run({"fits_list": [a, other_sky]}, tmp_path)


def test_a_hung_tool_fails_its_step_with_its_log(tmp_path: Path) -> None:
    from nenubroker.batch.steps.base import Step, StepError

    class Sleepy(Step):
        name = "sleepy"
        tool_timeout_s = 1.0

        def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
            self.tool(["bash", "-c", "echo started; sleep 30"], out_dir)
            return {}

    with pytest.raises(StepError, match="was stopped after 1 s") as failure:
        Sleepy().run({}, tmp_path)
    assert "started" in str(failure.value)
