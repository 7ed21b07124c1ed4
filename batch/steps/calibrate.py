"""Solve per-antenna gains against a sky model with DP3 DDECal; solutions go to an H5parm."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from nenubroker.batch.steps.base import DP3Params, Step

# "FORMAT = Name, Type, ..." or "# (Name, Type, ...) = format"
_FORMAT = re.compile(r"^\s*(?:#\s*\((?P<commented>[^)]*)\)\s*=\s*format|format\s*=\s*(?P<plain>.*))\s*$",
                     re.IGNORECASE)


class CalibrateParams(DP3Params):
    mode: Literal["scalar", "diagonal", "scalarphase", "diagonalphase", "fulljones"] = Field(
        "diagonal",
        description="DDECal solving mode (diagonal: one complex gain per antenna and polarisation).")
    solint_steps: int = Field(1, ge=1, description="Time steps per solution interval (DDECal solint).")
    channels_per_solution: int = Field(0, ge=0, description="Channels per solution (DDECal nchan; 0: all).")
    max_iterations: int = Field(100, ge=1, description="DDECal maxiter.")
    tolerance: float = Field(1e-5, gt=0, description="DDECal convergence tolerance.")
    solver: Literal["directioniterative", "directionsolve", "hybrid", "lbfgs"] = Field(
        "directioniterative",
        description="DDECal solveralgorithm; directioniterative is ~4x faster for one direction.")
    uv_min_lambda: float = Field(0.0, ge=0, description="Ignore baselines shorter than this (wavelengths).")


def skymodel_patches(skymodel: Path) -> list[str]:
    """Patch names of a DP3/makesourcedb text sky model, in file order.

    Sources without a patch are their own patch, so their names are returned instead. Solving all of
    them as one direction needs ``directions=[[P1,P2,...]]``: a flat list makes DDECal solve one
    direction per patch.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "sky.skymodel"
    >>> _ = p.write_text("FORMAT = Name, Type, Patch, Ra, Dec, I\\n, , cal, 00:00:00, +90.00.00\\n"
    ...                  "s0, POINT, cal, 00:00:00, +90.00.00, 1.0\\n")
    >>> skymodel_patches(p)
    ['cal']
    """
    columns, names, patches = ["name", "type", "patch"], [], []
    for line in Path(skymodel).read_text().splitlines():
        header = _FORMAT.match(line)
        if header:
            fields = header.group("commented") or header.group("plain")
            columns = [field.split("=")[0].strip().lower() for field in fields.split(",")]
        elif line.strip() and not line.lstrip().startswith("#"):
            row = dict(zip(columns, (value.strip() for value in line.split(","))))
            if row.get("name"):  # a source; a line without a name only defines a patch's position
                names.append(row["name"])
                if row.get("patch") and row["patch"] not in patches:
                    patches.append(row["patch"])
    return patches if patches else names


class Calibrate(Step):
    """DP3 DDECal, all sky-model patches solved as one direction; the MS is only read.

    Outputs an H5parm (``solutions.h5``) with ``amplitude000`` and ``phase000`` soltabs in diagonal
    mode, readable by losoto.
    """

    name = "calibrate"
    Params = CalibrateParams
    inputs = ("ms", "skymodel")
    outputs = ("h5parm",)
    software = ("DP3", "nenubroker")

    def solution_interval_steps(self) -> int | None:
        return self.params.solint_steps  # type: ignore[attr-defined]

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        p: CalibrateParams = self.params  # type: ignore[assignment]
        h5parm = Path(out_dir).resolve() / "solutions.h5"  # absolute: tools run in out_dir
        h5parm.unlink(missing_ok=True)  # DDECal refuses to overwrite
        skymodel = Path(inputs["skymodel"]).resolve()
        self.dp3({
            "msin": Path(inputs["ms"]).resolve(), "msout": "", "steps": ["cal"],
            "cal.type": "ddecal", "cal.mode": p.mode, "cal.sourcedb": skymodel,
            "cal.directions": [skymodel_patches(skymodel)], "cal.h5parm": h5parm,
            "cal.solint": p.solint_steps, "cal.nchan": p.channels_per_solution,
            "cal.maxiter": p.max_iterations, "cal.tolerance": p.tolerance, "cal.uvlambdamin": p.uv_min_lambda,
            "cal.solveralgorithm": p.solver,
        }, out_dir)
        return {"h5parm": h5parm}


__all__ = ["CalibrateParams", "skymodel_patches", "Calibrate"]
