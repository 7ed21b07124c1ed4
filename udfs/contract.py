"""What a science module is: a typed pandas function with declared inputs, outputs and version.

The broker runs modules on two tables, both plain pandas:

- the **chunk table**, one row per spectra chunk, with the columns in :data:`CHUNK_COLUMNS`;
- the **candidate table**, one row per burst candidate, made by the detector, with the columns in
  :data:`CANDIDATE_COLUMNS` and ``chunk_row`` (the index of its chunk in the chunk table).

A module has a ``level``:

- ``chunk``: adds columns to the chunk table (e.g. an RFI mask), same rows;
- ``detector``: reads the chunk table, returns the candidate table;
- ``candidate``: adds columns to the candidate table (features, class probabilities), same rows.

Everything here is pandas and numpy: modules run and are tested without Spark. The broker wraps
the same functions (see :func:`nenubroker.udfs.registry.run_modules` and ``udf.py``).

>>> import pandas as pd
>>> def double_snr(candidates: pd.DataFrame) -> pd.DataFrame:
...     return pd.DataFrame({"snr2": candidates["snr"] * 2}, index=candidates.index)
>>> module = ScienceModule("double_snr", "0.1.0", "candidate", double_snr,
...                        inputs=("snr",), outputs=(Column("snr2", "double", "", "twice the S/N"),))
>>> module.run(pd.DataFrame({"snr": [7.5]}))["snr2"].tolist()
[15.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel

Level = Literal["chunk", "detector", "candidate"]


@dataclass(frozen=True)
class Column:
    """One column a module makes: name, Spark SQL type, unit, meaning."""

    name: str
    dtype: str
    unit: str = ""
    doc: str = ""


def classifier_columns(module_name: str, classes: tuple[str, ...] | list[str]) -> tuple[Column, Column]:
    """The two columns every classifier makes; the broker reads them for the alert's class."""
    return (Column(f"{module_name}_label", "string", "", f"most probable class: {', '.join(classes)}"),
            Column(f"{module_name}_probabilities", "map<string,double>", "", "probability of each class"))


#: Columns of the chunk table, as the broker decodes them from the chunk topic.
CHUNK_COLUMNS = (
    Column("beam", "string", "", "beam id"),
    Column("chunk_index", "bigint", "", "chunk sequence number in the beam's stream"),
    Column("time_start_unix_s", "double", "s", "start of the first sample, UTC unix time"),
    Column("time_step_s", "double", "s", "integration time of a sample"),
    Column("freq_hz", "array<double>", "Hz", "channel centres (numpy array per row)"),
    Column("spectra", "binary", "", "Stokes I power, numpy float32 (n_time, n_freq) per row; NaN = lost"),
    Column("overlap_samples", "int", "",
           "leading samples repeated from the previous chunk (0: the first of a stream); bursts beginning "
           "in their first half are the previous chunk's"),
    Column("trailing_overlap_samples", "int", "",
           "last samples the next chunk repeats (0: the final chunk of a stream); bursts beginning in "
           "their second half are the next chunk's"),
)

#: Columns every detector gives each candidate (beside ``chunk_row``).
CANDIDATE_COLUMNS = (
    Column("beam", "string"),
    Column("chunk_index", "bigint"),
    Column("time_peak_unix_s", "double", "s", "time of the peak"),
    Column("time_start_unix_s", "double", "s", "start of the burst in this chunk"),
    Column("duration_s", "double", "s"),
    Column("freq_peak_hz", "double", "Hz"),
    Column("freq_min_hz", "double", "Hz"),
    Column("freq_max_hz", "double", "Hz"),
    Column("drift_hz_per_s", "double", "Hz/s", "frequency drift; negative = to lower frequencies"),
    Column(
        "snr",
        "double",
        "",
        "matched-filter S/N at the detection resolution: the channel-normalised excess summed along the "
        "burst's measured track, over its band and its best window of 1-16 samples, divided by the noise "
        "of that sum (the S/N benchmarks give a noiseless simulated event)",
    ),
    Column("peak_power", "double", "", "peak power over the channel background, minus 1"),
    Column("cutout", "binary", "", "numpy float32 (32, 32): normalised dynamic spectrum around the burst"),
)


class ModuleError(RuntimeError):
    """A module broke its contract (missing input, wrong rows, missing output)."""


class NoParams(BaseModel):
    """For modules without parameters."""


@dataclass(frozen=True)
class ScienceModule:
    """A science module: ``function(table, **params) -> table of its outputs``."""

    name: str
    version: str
    level: Level
    function: Callable[..., pd.DataFrame]
    inputs: tuple[str, ...]
    outputs: tuple[Column, ...]
    params: type[BaseModel] = NoParams
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output_names(self) -> list[str]:
        return [column.name for column in self.outputs]

    def make_params(self, values: dict[str, Any] | None = None) -> BaseModel:
        return self.params.model_validate(values or {})

    def run(self, table: pd.DataFrame, params: dict[str, Any] | BaseModel | None = None) -> pd.DataFrame:
        """Call the function with checks; returns only the module's output columns."""
        missing = [name for name in self.inputs if name not in table.columns]
        if missing:
            raise ModuleError(f"module {self.name} needs columns {missing}; it got {list(table.columns)}")
        values = params if isinstance(params, BaseModel) else self.make_params(params)
        result = self.function(table[list(self.inputs)], **values.model_dump())
        absent = [name for name in self.output_names if name not in result.columns]
        if absent:
            raise ModuleError(f"module {self.name} did not return its declared outputs {absent}")
        if self.level == "detector":
            if "chunk_row" not in result.columns:
                raise ModuleError(f"detector {self.name} must give each candidate its 'chunk_row'")
            return result[["chunk_row", *self.output_names]].reset_index(drop=True)
        if len(result) != len(table) or not result.index.equals(table.index):
            raise ModuleError(f"{self.level} module {self.name} must return one row per input row, same index")
        return result[self.output_names]


class ModelParams(BaseModel):
    """For classifiers: where their trained model is."""

    model_dir: str = ""  # a folder with the model file and its model.json; empty: the shipped model


def classifier_module(name: str, classify: Callable[..., pd.DataFrame], inputs: Sequence[str],
                      classes: Sequence[str], description: str, model_version: str) -> ScienceModule:
    """A candidate-level classifier: ``classify(candidates, model_dir="")`` gives the two
    :func:`classifier_columns`; its version is that of its model.

    >>> def constant(candidates: pd.DataFrame, model_dir: str = "") -> pd.DataFrame:
    ...     return pd.DataFrame({"const_label": "rfi", "const_probabilities": [{"rfi": 1.0}] * len(candidates)},
    ...                         index=candidates.index)
    >>> module = classifier_module("const", constant, ["snr"], ["rfi"], "always rfi", "1.0.0")
    >>> module.run(pd.DataFrame({"snr": [9.0]}))["const_label"].tolist(), module.params.__name__
    (['rfi'], 'ModelParams')
    """
    return ScienceModule(name=name, version=model_version, level="candidate", function=classify,
                         inputs=tuple(inputs), outputs=classifier_columns(name, tuple(classes)),
                         params=ModelParams, description=description, extra={"classes": tuple(classes)})


__all__ = ["CANDIDATE_COLUMNS", "CHUNK_COLUMNS", "Column", "ModelParams", "ModuleError", "NoParams", "ScienceModule",
           "classifier_columns", "classifier_module"]
