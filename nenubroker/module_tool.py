"""``nenubroker module test``: run one science module on a file or on simulated data, no cluster.

The module runs after what it needs: chunk modules and the detector enabled in the configuration
come first when the module works on candidates. Input is a Parquet chunk file (columns ``beam``,
``time_start_unix_s``, ``time_step_s``, ``n_time``, ``n_freq``, ``freq_hz``, ``data`` = float32
bytes, optional ``chunk_index``, ``overlap_samples``) or chunks from the edge simulator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nenubroker.conf.settings import Settings
from nenubroker.spectra_chunk import SpectraChunk
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
    from nenubroker.edge.ingest import detection_chunks
    from nenubroker.edge.simulator import BeamSimulator

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
    detector = next((n for n in enabled if known[n].level == "detector"), "burst_threshold")
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


def plot(chunks: list[SpectraChunk], candidates: pd.DataFrame, label_column: str | None, path: Path) -> None:
    """Dynamic spectra (normalised per channel) side by side, candidates boxed and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nenubroker.udfs.burst_threshold.core import normalise_channels

    n = min(len(chunks), 6)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 4), squeeze=False, sharey=True)
    for i, (axis, chunk) in enumerate(zip(axes[0], chunks)):
        t = chunk.time_unix_s - chunks[0].time_start_unix_s
        extent = (t[0], t[-1] + chunk.time_step_s, chunk.freq_hz[0] / 1e6, chunk.freq_hz[-1] / 1e6)
        axis.imshow(np.clip(normalise_channels(chunk.data).T, -3, 10), origin="lower", aspect="auto",
                    extent=extent, cmap="viridis")
        for candidate in candidates[candidates["chunk_row"] == i].itertuples() if len(candidates) else ():
            t0 = candidate.time_start_unix_s - chunks[0].time_start_unix_s
            axis.add_patch(plt.Rectangle((t0, candidate.freq_min_hz / 1e6), candidate.duration_s,
                                         (candidate.freq_max_hz - candidate.freq_min_hz) / 1e6,
                                         fill=False, edgecolor="red", linewidth=1.2))
            text = getattr(candidate, label_column) if label_column else f"S/N {candidate.snr:.0f}"
            axis.text(t0, candidate.freq_max_hz / 1e6, str(text), color="red", fontsize=7, va="bottom")
        axis.set_title(f"{chunk.beam} #{chunk.chunk_index}", fontsize=9)
        axis.set_xlabel("time (s)")
    axes[0][0].set_ylabel("frequency (MHz)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["chain_for", "chunks_from_parquet", "plot", "run_module", "simulated_chunks"]
