"""Average a Measurement Set in time and frequency with DP3's averager."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from nenubroker.batch.steps.base import DP3Params, Step


class AverageParams(DP3Params):
    time_factor: int = Field(1, ge=1, description="Input time steps averaged into one (DP3 avg.timestep).")
    freq_factor: int = Field(1, ge=1, description="Input channels averaged into one (DP3 avg.freqstep).")


class Average(Step):
    """DP3 ``averager``: flagged samples are left out of the averages and weights add up."""

    name = "average"
    Params = AverageParams
    inputs = ("ms",)
    outputs = ("ms",)
    software = ("DP3", "nenubroker")

    def time_factor(self) -> int:
        return self.params.time_factor  # type: ignore[attr-defined]

    def freq_factor(self) -> int:
        return self.params.freq_factor  # type: ignore[attr-defined]

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        ms = Path(out_dir).resolve() / "averaged.ms"  # absolute: tools run in out_dir
        self.dp3({
            "msin": Path(inputs["ms"]).resolve(), "msout": ms, "msout.overwrite": True, "steps": ["avg"],
            "avg.type": "averager", "avg.timestep": self.time_factor(), "avg.freqstep": self.freq_factor(),
        }, out_dir)
        return {"ms": ms}


__all__ = ["AverageParams", "Average"]
