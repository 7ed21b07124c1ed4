"""Finding science modules, and running the enabled ones in order on plain pandas tables.

Modules are found in two places: every sub-package of ``nenubroker.udfs`` whose ``__init__``
defines ``MODULE`` (a :class:`ScienceModule`), and every installed package that declares one in the
``nenubroker.modules`` entry-point group::

    [project.entry-points."nenubroker.modules"]
    my_module = "my_package.my_module:MODULE"

Which modules run, in which order, and with which parameters is configuration
(``modules.enabled`` and ``modules.params`` in conf/nenubroker.yaml).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import numpy as np
import pandas as pd

from nenubroker.udfs.contract import ModuleError, ScienceModule

ENTRY_POINT_GROUP = "nenubroker.modules"


@cache
def discover() -> dict[str, ScienceModule]:
    """All modules, by name: those in udfs/ first, then installed plugins."""
    import nenubroker.udfs as package

    found: dict[str, ScienceModule] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "MODULE", None)
        if isinstance(module, ScienceModule):
            found[module.name] = module
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        module = entry.load()
        if not isinstance(module, ScienceModule):
            raise ModuleError(f"entry point {entry.name} = {entry.value} is not a ScienceModule")
        found.setdefault(module.name, module)
    return found


def resolve(names: Sequence[str]) -> list[ScienceModule]:
    """The named modules in order, checked: one detector, chunk modules before it, candidate ones after."""
    known = discover()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ModuleError(f"unknown science modules {unknown}; known: {sorted(known)}")
    modules = [known[name] for name in names]
    levels = [m.level for m in modules]
    if levels.count("detector") != 1:
        raise ModuleError(f"exactly one detector module must be enabled, got {levels.count('detector')}")
    split = levels.index("detector")
    if any(level != "chunk" for level in levels[:split]) or any(level != "candidate" for level in levels[split + 1:]):
        raise ModuleError("order must be chunk modules, the detector, candidate modules; "
                          f"got {list(zip(names, levels))}")
    return modules


def run_modules(chunks: pd.DataFrame, modules: Sequence[ScienceModule],
                params: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``modules`` (as :func:`resolve` orders them) on a chunk table.

    Returns the chunk table with the chunk modules' columns, and the candidate table with the
    chunk's identity, the detector's columns and the candidate modules' columns. Pixels a chunk
    module flags in ``rfi_mask`` are NaN for the detector; a chunk module's ``gain_db`` (the
    receiver's gain change, dB per pixel) is divided out of ``spectra`` for the modules after it.
    """
    params = params or {}
    chunks = chunks.reset_index(drop=True)
    candidates = pd.DataFrame()
    for module in modules:
        if module.level == "chunk":
            made = module.run(chunks, params.get(module.name))
            chunks = _remove_gain(pd.concat([chunks, made], axis=1), made)
        elif module.level == "detector":
            candidates = module.run(_blank_flagged(chunks), params.get(module.name))
        elif not candidates.empty:
            candidates = pd.concat([candidates, module.run(candidates, params.get(module.name))], axis=1)
    return chunks, candidates


def _remove_gain(chunks: pd.DataFrame, made: pd.DataFrame) -> pd.DataFrame:
    """The spectra over 10^(gain_db / 10) when a chunk module just made ``gain_db`` (udfs/gain_steps)."""
    if "gain_db" not in made.columns:
        return chunks
    corrected = [spectra if not np.any(gain) else
                 (np.asarray(spectra, dtype=np.float32) * np.power(10.0, -np.asarray(gain) / 10.0)).astype(np.float32)
                 for spectra, gain in zip(chunks["spectra"], made["gain_db"], strict=True)]
    return chunks.assign(spectra=corrected)


def _blank_flagged(chunks: pd.DataFrame) -> pd.DataFrame:
    """The detector sees RFI-flagged pixels (a chunk module's ``rfi_mask``) as lost: NaN."""
    if "rfi_mask" not in chunks.columns:
        return chunks
    blanked = [np.where(mask, np.float32(np.nan), spectra)
               for spectra, mask in zip(chunks["spectra"], chunks["rfi_mask"])]
    return chunks.assign(spectra=blanked)


def versions(modules: Sequence[ScienceModule]) -> dict[str, str]:
    return {module.name: module.version for module in modules}


def chunk_table(chunks: Sequence[Any]) -> pd.DataFrame:
    """The chunk table of :class:`~nenubroker.records.chunk.SpectraChunk` objects."""
    return pd.DataFrame({
        "overlap_samples": np.array([c.overlap_samples for c in chunks], dtype=np.int64),
        "trailing_overlap_samples": np.array([c.trailing_overlap_samples for c in chunks], dtype=np.int64),
        "beam": [c.beam for c in chunks],
        "chunk_index": np.array([c.chunk_index for c in chunks], dtype=np.int64),
        "time_start_unix_s": np.array([c.time_start_unix_s for c in chunks], dtype=np.float64),
        "time_step_s": np.array([c.time_step_s for c in chunks], dtype=np.float64),
        "freq_hz": [np.asarray(c.freq_hz) for c in chunks],
        "spectra": [c.data for c in chunks],
    })


__all__ = ["ENTRY_POINT_GROUP", "chunk_table", "discover", "resolve", "run_modules", "versions"]
