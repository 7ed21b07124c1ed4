"""``nenubroker module test``: run one science module on a file or on simulated data, no cluster.

The module runs after what it needs: chunk modules and the detector enabled in the configuration
come first when the module works on candidates. Input is a Parquet chunk file (columns ``beam``,
``time_start_unix_s``, ``time_step_s``, ``n_time``, ``n_freq``, ``freq_hz``, ``data`` = float32
bytes, optional ``chunk_index``, ``overlap_samples``) or chunks from the edge simulator. The plot
of the result is ``nenubroker.plots.spectra.plot_chunks``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nenubroker.conf.settings import Settings
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.contract import CANDIDATE_COLUMNS, ModuleError, ScienceModule
from nenubroker.udfs.registry import chunk_table, discover, resolve, run_modules


def chunks_from_parquet(path: Path) -> list[SpectraChunk]:
    frame = pd.read_parquet(path)
    chunks = []
    for i, row in enumerate(frame.itertuples(index=False)):
        data = np.frombuffer(row.data, dtype="<f4").reshape(row.n_time, row.n_freq)
        chunks.append(SpectraChunk(
            beam=row.beam, chunk_index=int(getattr(row, "chunk_index", i)), time_start_unix_s=row.time_start_unix_s,
            time_step_s=row.time_step_s, freq_hz=np.asarray(row.freq_hz), data=data, source=str(path),
            overlap_samples=int(getattr(row, "overlap_samples", 0))))
    return chunks


def simulated_chunks(settings: Settings, n_chunks: int, seed: int) -> list[SpectraChunk]:
    """Chunks of one simulated beam with the configured random events (not in real time)."""
    from nenubroker.edge.sim.simulator import BeamSimulator
    from nenubroker.edge.sim.stream import detection_chunks

    simulator = settings.simulator.model_copy(update={"realtime": False, "seed": seed})
    beam = BeamSimulator(simulator.beams[0], simulator, start_unix_s=1.7e9)
    stream = detection_chunks(beam, settings.model_copy(update={"simulator": simulator}))
    return [chunk for chunk, _ in (next(stream) for _ in range(n_chunks))]


def _providers(module: ScienceModule, known: dict[str, ScienceModule]) -> list[str]:
    """Candidate modules that make the columns ``module`` needs, in the order they must run."""
    base = {column.name for column in CANDIDATE_COLUMNS}
    order: list[str] = []
    for column in (c for c in module.inputs if c not in base):
        provider = next((m for m in known.values() if m.level == "candidate" and column in m.output_names), None)
        if provider is None:
            raise ModuleError(f"no module makes the column {column!r} that {module.name} needs")
        order += [name for name in [*_providers(provider, known), provider.name] if name not in order]
    return order


def chain_for(module: ScienceModule, settings: Settings) -> list[ScienceModule]:
    """``module`` with what it needs: the enabled chunk modules, a detector, the modules making its inputs."""
    known, enabled = discover(), settings.modules.enabled
    chunk_modules = [n for n in enabled if known[n].level == "chunk" and n != module.name]
    detector = next((n for n in enabled if known[n].level == "detector"), "burst_search")
    if module.level == "chunk":
        return resolve([*chunk_modules, module.name, detector])
    if module.level == "detector":
        return resolve([*chunk_modules, module.name])
    return resolve([*chunk_modules, detector, *_providers(module, known), module.name])


def run_module(module_name: str, chunks: list[SpectraChunk], settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chunk table and candidate table after the module (and what it needs) ran."""
    known = discover()
    if module_name not in known:
        raise KeyError(f"unknown module {module_name!r}; known: {sorted(known)}")
    return run_modules(chunk_table(chunks), chain_for(known[module_name], settings), settings.modules.params)


__all__ = ["chain_for", "chunks_from_parquet", "run_module", "simulated_chunks"]
