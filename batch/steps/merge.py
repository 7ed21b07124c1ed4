"""Merge per-partition images into one time x frequency image cube (RA, Dec, FREQ, TIME).

A many-to-one step: it runs once, on the driver, after every partition has been imaged. Its only
input kind is ``fits_list``, which maps to the list of all partitions' FITS images (the ``fits``
product of each partition, in any order, some possibly missing). Each image is one plane of a
regular grid, placed by its lower frequency edge (WSClean: band centre ``CRVAL3``, width ``CDELT3``)
and its start time (``DATE-BEG``, written by the ``image`` step); grid steps are the smallest
spacings. So a shorter last partition still finds its plane, and the WCS gives each plane's centre
for full-size partitions. Missing planes are NaN. A ``PLANES`` table extension lists each plane's
exact band, time range and restoring beam (beams differ with frequency).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS, FITSFixedWarning
from pydantic import Field

from nenubroker.batch.steps.base import Step, StepError, StepParams

S_PER_DAY = 86400.0
_COPIED_KEYS = ("BUNIT", "TELESCOP", "OBSERVER", "OBJECT", "SPECSYS", "BTYPE")
_SKY_GRID_KEYS = ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2", "CRPIX1", "CRPIX2")


class MergeParams(StepParams):
    name: str = Field("cube", description="Output file name, without .fits.")
    grid_tolerance: float = Field(
        1e-3, gt=0, lt=0.5, description="Allowed offset of a plane from the regular grid, in grid steps.")


def _grid(values: np.ndarray, width: float, tolerance: float, what: str) -> tuple[float, float, np.ndarray]:
    """Start, step and integer index of each value on a regular grid (step = smallest spacing)."""
    unique = np.unique(values)
    step = float(np.min(np.diff(unique))) if unique.size > 1 else float(width)
    index = np.round((values - unique[0]) / step).astype(int)
    if np.any(np.abs(values - (unique[0] + index * step)) > tolerance * step):
        raise StepError(f"merge: the {what} planes do not lie on a regular grid: {unique}")
    return float(unique[0]), step, index


def _wcs(header: fits.Header) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)  # WSClean writes DATE-OBS without MJD-OBS
        return WCS(header)


class Plane(NamedTuple):
    """One partition's image and where it sits in frequency and time."""

    data: np.ndarray  # (y, x)
    header: fits.Header
    freq_hz: float  # band centre
    bandwidth_hz: float
    start_mjd_s: float
    end_mjd_s: float


def read_plane(path: Path) -> Plane:
    """A partition image: band from its spectral axis, time range from ``DATE-BEG``/``DATE-END``."""
    with fits.open(path) as hdul:
        header, data = hdul[0].header, hdul[0].data
    wcs = _wcs(header)
    spectral = wcs.wcs.spec
    if spectral < 0 or "DATE-BEG" not in header or "DATE-END" not in header:
        raise StepError(f"merge: {path} has no frequency axis or no DATE-BEG/DATE-END "
                        "(was it made by the image step?)")
    start_s, end_s = (Time(header[key], scale="utc").mjd * S_PER_DAY for key in ("DATE-BEG", "DATE-END"))
    freq_hz = float(wcs.wcs.crval[spectral] + (1 - wcs.wcs.crpix[spectral]) * wcs.wcs.cdelt[spectral])
    return Plane(np.squeeze(data), header, freq_hz, abs(float(wcs.wcs.cdelt[spectral])), start_s, end_s)


def _check_same_sky_grid(paths: list[Path], planes: list[Plane]) -> None:
    first = planes[0]
    for path, plane in zip(paths, planes):
        if plane.data.shape != first.data.shape or any(
                plane.header.get(k) != first.header.get(k) for k in _SKY_GRID_KEYS):
            raise StepError(f"merge: {path} is not on the same sky grid as {paths[0]}")


def _planes_table(paths: list[Path], planes: list[Plane], t_index: np.ndarray,
                  f_index: np.ndarray) -> fits.BinTableHDU:
    """Each plane's exact band, time range and restoring beam, and the image it came from."""
    def iso(mjd_s: float) -> str:
        return Time(mjd_s / S_PER_DAY, format="mjd", scale="utc", precision=6).isot

    return fits.BinTableHDU.from_columns([
        fits.Column("TIME_INDEX", "J", array=t_index), fits.Column("FREQ_INDEX", "J", array=f_index),
        fits.Column("FREQ", "D", unit="Hz", array=[q.freq_hz for q in planes]),
        fits.Column("BANDWIDTH", "D", unit="Hz", array=[q.bandwidth_hz for q in planes]),
        fits.Column("DATE_BEG", "26A", array=[iso(q.start_mjd_s) for q in planes]),
        fits.Column("DATE_END", "26A", array=[iso(q.end_mjd_s) for q in planes]),
        *(fits.Column(key, "D", unit="deg", array=[q.header.get(key, np.nan) for q in planes])
          for key in ("BMAJ", "BMIN", "BPA")),
        fits.Column("SOURCE", "120A", array=[str(path)[-120:] for path in paths]),
    ], name="PLANES")


def cube_header(celestial: fits.Header, freq0_hz: float, dfreq_hz: float, time0_mjd_s: float,
                dtime_s: float) -> fits.Header:
    """FITS WCS for (RA, Dec, FREQ, TIME); plane 0 is centred on ``freq0_hz`` and ``time0_mjd_s``.

    FREQ is in Hz, TIME in seconds from MJDREF (UTC), which is ``time0_mjd_s``.
    """
    header = _wcs(celestial).celestial.to_header()
    for key in [k for k in header if k.startswith(("DATE-", "MJD-"))]:  # one plane's times, not the cube's
        del header[key]
    reference = Time(time0_mjd_s / S_PER_DAY, format="mjd", scale="utc", precision=6)
    header.update({
        "CTYPE3": "FREQ", "CUNIT3": "Hz", "CRPIX3": 1.0, "CRVAL3": freq0_hz, "CDELT3": dfreq_hz,
        "CTYPE4": "TIME", "CUNIT4": "s", "CRPIX4": 1.0, "CRVAL4": 0.0, "CDELT4": dtime_s,
        "TIMESYS": "UTC", "MJDREF": reference.mjd, "DATEREF": reference.isot,
    })
    return header


class Merge(Step):
    """Stack partition images into a cube ``<name>.fits`` with a 4-D WCS (see the module docstring)."""

    name = "merge"
    Params = MergeParams
    inputs = ("fits_list",)
    outputs = ("fits",)
    software = ("astropy", "nenubroker")

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:  # type: ignore[override]
        p: MergeParams = self.params  # type: ignore[assignment]
        paths = [Path(f) for f in inputs["fits_list"]]  # type: ignore[union-attr]
        if not paths:
            raise StepError("merge: no images to merge")
        planes = [read_plane(path) for path in paths]
        _check_same_sky_grid(paths, planes)
        low_edges = np.array([q.freq_hz - q.bandwidth_hz / 2 for q in planes])
        starts, ends = np.array([q.start_mjd_s for q in planes]), np.array([q.end_mjd_s for q in planes])
        f_edge0, df, f_index = _grid(low_edges, planes[0].bandwidth_hz, p.grid_tolerance, "frequency")
        t_start0, dt, t_index = _grid(starts, ends[0] - starts[0], p.grid_tolerance, "time")
        cube = np.full((t_index.max() + 1, f_index.max() + 1, *planes[0].data.shape), np.nan, np.float32)
        for plane, ti, fi in zip(planes, t_index, f_index):
            cube[ti, fi] = plane.data
        header = cube_header(planes[0].header, f_edge0 + df / 2, df, t_start0 + dt / 2, dt)
        header.update({key: planes[0].header[key] for key in _COPIED_KEYS if key in planes[0].header})
        for suffix, edge_s in (("BEG", starts.min()), ("END", ends.max())):
            edge = Time(edge_s / S_PER_DAY, format="mjd", scale="utc", precision=6)
            header[f"DATE-{suffix}"], header[f"MJD-{suffix}"] = edge.isot, edge.mjd
        output = out_dir / f"{p.name}.fits"
        fits.HDUList([fits.PrimaryHDU(cube, header), _planes_table(paths, planes, t_index, f_index)]).writeto(
            output, overwrite=True)
        n_missing = cube[:, :, 0, 0].size - len(planes)
        self.metrics = {"planes": float(len(planes)), "missing_planes": float(n_missing)}
        return {"fits": output}


__all__ = ["MergeParams", "Plane", "read_plane", "cube_header", "Merge"]
