"""Flag RFI with AOFlagger's NenuFAR strategy, on a private copy of the Measurement Set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from casacore import tables
from pydantic import Field

from nenubroker.batch.steps.base import Step, StepParams, copy_ms

DEFAULT_STRATEGY = "/usr/share/aoflagger/strategies/nenufar-default.lua"


class FlagParams(StepParams):
    strategy: str = Field(DEFAULT_STRATEGY, description="AOFlagger Lua strategy file (NenuFAR default).")
    column: str = Field("DATA", description="Visibility column to flag.")
    threads: int = Field(1, ge=1, description="AOFlagger threads (-j).")


def flagged_fraction(ms: Path) -> float:
    """Fraction of visibilities (all rows, channels and correlations) whose FLAG is set."""
    with tables.table(str(ms), ack=False) as t:
        flags = t.getcol("FLAG")
    return float(np.mean(flags)) if flags.size else 0.0


class Flag(Step):
    """AOFlagger CLI on a copy of the input MS (AOFlagger flags in place; inputs stay untouched).

    Metrics: ``flagged_fraction`` after flagging and ``new_flagged_fraction`` (flagged by this run).
    """

    name = "flag"
    Params = FlagParams
    inputs = ("ms",)
    outputs = ("ms",)
    software = ("AOFlagger", "python-casacore", "nenubroker")

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        p: FlagParams = self.params  # type: ignore[assignment]
        ms = copy_ms(Path(inputs["ms"]), Path(out_dir).resolve() / "flagged.ms")  # tools run in out_dir
        before = flagged_fraction(ms)
        self.tool(["aoflagger", "-strategy", p.strategy, "-column", p.column, "-j", str(p.threads), str(ms)],
                  out_dir)
        after = flagged_fraction(ms)
        self.metrics = {"flagged_fraction": after, "new_flagged_fraction": after - before}
        return {"ms": ms}


__all__ = ["FlagParams", "flagged_fraction", "Flag"]
