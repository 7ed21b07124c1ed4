"""Image a Measurement Set with WSClean (Stokes I, no primary beam: fluxes are apparent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time
from casacore import tables
from pydantic import Field

from nenubroker.batch.steps.base import Step, StepParams

S_PER_DAY = 86400.0


class ImageParams(StepParams):
    size_px: int = Field(256, ge=16, description="Image width and height in pixels.")
    scale_arcsec: float = Field(60.0, gt=0, description="Pixel size in arcseconds.")
    niter: int = Field(1000, ge=0, description="Maximum CLEAN iterations (0: dirty image only).")
    mgain: float = Field(0.8, gt=0, le=1, description="Major-cycle gain.")
    auto_threshold: float = Field(3.0, gt=0,
                                  description="Stop CLEAN at this many sigma of the residual noise.")
    weight: str = Field("briggs 0",
                        description="WSClean weighting: 'natural', 'uniform' or 'briggs <robust>'.")
    data_column: str = Field("DATA", description="Visibility column to image.")
    threads: int = Field(1, ge=1, description="WSClean threads (-j).")


def time_range_mjd_s(ms: Path) -> tuple[float, float]:
    """Start of the first and end of the last integration, in MJD seconds (the MS's TIME is centred)."""
    with tables.table(str(ms), ack=False) as t:
        time, interval = t.getcol("TIME"), t.getcol("INTERVAL")
    return float(np.min(time - interval / 2)), float(np.max(time + interval / 2))


def release(ms: Path) -> None:
    """Drop any lock this process still holds on the MS, so that WSClean cannot wait on it."""
    with tables.table(str(ms), ack=False) as t:
        t.unlock()


def stamp_time_range(fits_path: Path, start_mjd_s: float, end_mjd_s: float) -> None:
    """Write the observed time range into the FITS header (WCS paper VII keywords); ``merge`` reads it."""
    begin, end = (Time(t / S_PER_DAY, format="mjd", scale="utc", precision=6)
                  for t in (start_mjd_s, end_mjd_s))
    with fits.open(fits_path, mode="update") as hdul:
        header = hdul[0].header
        header["TIMESYS"] = "UTC"
        header["DATE-BEG"] = (begin.isot, "start of the first integration")
        header["DATE-END"] = (end.isot, "end of the last integration")


class Image(Step):
    """WSClean on the whole band (one plane); the restored image is ``image-image.fits``.

    ``-no-update-model-required`` keeps WSClean from adding MODEL_DATA to the input MS, and its
    temporary files go to ``out_dir``. The header gets the MS's time range (``DATE-BEG``/``DATE-END``).
    """

    name = "image"
    Params = ImageParams
    inputs = ("ms",)
    outputs = ("fits",)
    software = ("WSClean", "python-casacore", "nenubroker")

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        p: ImageParams = self.params  # type: ignore[assignment]
        ms = Path(inputs["ms"]).resolve()
        start, end = time_range_mjd_s(ms)
        release(ms)
        prefix = out_dir.resolve() / "image"
        self.tool(["wsclean", "-name", str(prefix), "-size", str(p.size_px), str(p.size_px),
                   "-scale", f"{p.scale_arcsec}asec", "-niter", str(p.niter), "-mgain", str(p.mgain),
                   "-auto-threshold", str(p.auto_threshold), "-weight", *p.weight.split(),
                   "-data-column", p.data_column, "-j", str(p.threads), "-no-update-model-required",
                   "-temp-dir", str(out_dir.resolve()), str(ms)], out_dir)
        image = prefix.with_name("image-image.fits")
        stamp_time_range(image, start, end)
        return {"fits": image}


__all__ = ["ImageParams", "time_range_mjd_s", "release", "stamp_time_range", "Image"]
