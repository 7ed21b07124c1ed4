"""Apply calibration solutions from an H5parm with DP3 applycal, into a new Measurement Set."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from nenubroker.batch.steps.base import DP3Params, Step


class ApplyParams(DP3Params):
    amplitude_soltab: str = Field("amplitude000",
                                  description="H5parm soltab with gain amplitudes ('' to skip).")
    phase_soltab: str = Field("phase000", description="H5parm soltab with gain phases ('' to skip).")
    solset: str = Field("sol000", description="H5parm solution set.")


class Apply(Step):
    """DP3 ``applycal`` of the amplitude and phase soltabs; corrected visibilities become DATA of a new MS.

    The H5parm must hold one direction (``calibrate`` solves all patches as one), so applycal needs no
    direction to be named.
    """

    name = "apply"
    Params = ApplyParams
    inputs = ("ms", "h5parm")
    outputs = ("ms",)
    software = ("DP3", "nenubroker")

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        p: ApplyParams = self.params  # type: ignore[assignment]
        ms = Path(out_dir).resolve() / "corrected.ms"  # absolute: tools run in out_dir
        corrections = {"amplitude": p.amplitude_soltab, "phase": p.phase_soltab}
        corrections = {kind: soltab for kind, soltab in corrections.items() if soltab}
        parset: dict[str, object] = {
            "msin": Path(inputs["ms"]).resolve(), "msout": ms, "msout.overwrite": True,
            "msout.datacolumn": "DATA", "steps": ["ac"], "ac.type": "applycal",
            "ac.parmdb": Path(inputs["h5parm"]).resolve(), "ac.solset": p.solset,
            "ac.steps": list(corrections),
        }
        for kind, soltab in corrections.items():
            parset[f"ac.{kind}.correction"] = soltab
        self.dp3(parset, out_dir)
        return {"ms": ms}


__all__ = ["ApplyParams", "Apply"]
