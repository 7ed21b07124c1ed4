"""Write sample.parquet: simulated detection chunks (64 x 192, 20.3-57.6 MHz, 83.9 ms) with their truth.

Cases: ``noise``; ``spike`` (45 MHz); ``type_iii`` (from 50 MHz); ``jupiter`` (a Jupiter-like sweep
39 -> 28 MHz at -20 MHz/s, longer than real S-bursts so that its drift is resolved at 84 ms);
``overlap_a`` and ``overlap_b``, consecutive chunks that share 16 samples, with a spike in the
shared samples; ``boundary_a`` and ``boundary_b``, the same with a type III beginning in the second
half of the shared samples (the first chunk sees its first 4 samples, the second all of it).
``truth_snr`` is the peak S/N of one detection pixel. Events are made by the edge simulator
(fftlen 16, nfft2int 256, averaged 4 x 16). Run
``python -m nenubroker.udfs.training.burst_search_sample``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nenubroker.edge.sim.events import InjectedEvent, type_iii_decay_s, type_iii_drift_hz_per_s
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.training.burst_search_eval import START_UNIX_S, detection_snr, stream_settings

SAMPLE = Path(__file__).parents[1] / "burst_search" / "sample.parquet"


def _event(case: str, at_s: float, low_hz: float) -> InjectedEvent:
    if case in ("spike", "overlap"):
        return InjectedEvent("spike", "beam0", at_s, 45e6, 1.0, duration_s=0.1, bandwidth_hz=0.4e6)
    if case in ("type_iii", "boundary"):
        return InjectedEvent(
            "type_iii",
            "beam0",
            at_s,
            50e6,
            1.0,
            duration_s=float(type_iii_decay_s(50e6)),
            freq_stop_hz=low_hz,
            drift_hz_per_s=float(type_iii_drift_hz_per_s(50e6)),
        )
    return InjectedEvent(
        "jupiter_s", "beam0", at_s, 39e6, 1.0, duration_s=0.04, freq_stop_hz=28e6, drift_hz_per_s=-20e6
    )


def _row(case: str, chunk: SpectraChunk, event: InjectedEvent | None, snr: float) -> dict[str, Any]:
    truth = {
        "truth_kind": "",
        "truth_time_unix_s": np.nan,
        "truth_freq_hz": np.nan,
        "truth_freq_stop_hz": np.nan,
        "truth_drift_hz_per_s": np.nan,
        "truth_snr": np.nan,
    }
    if event is not None:
        truth = {
            "truth_kind": event.kind,
            "truth_time_unix_s": event.time_start_unix_s,
            "truth_freq_hz": event.freq_start_hz,
            "truth_freq_stop_hz": event.freq_stop_hz,
            "truth_drift_hz_per_s": event.drift_hz_per_s,
            "truth_snr": snr,
        }
    return {
        "case": case,
        "beam": chunk.beam,
        "chunk_index": chunk.chunk_index,
        "time_start_unix_s": chunk.time_start_unix_s,
        "time_step_s": chunk.time_step_s,
        "n_time": chunk.n_time,
        "n_freq": chunk.n_freq,
        "freq_hz": [float(f) for f in chunk.freq_hz],
        "data": np.ascontiguousarray(chunk.data, dtype="<f4").tobytes(),
        "overlap_samples": chunk.overlap_samples,
        **truth,
    }


def make_sample(seed: int = 1) -> pd.DataFrame:
    """The sample table; each case is its own simulated beam, so that events do not mix."""
    settings = stream_settings(fftlen=16, nfft2int=256, seed=seed)
    rows = []
    targets = {"noise": 0.0, "spike": 15.0, "type_iii": 10.0, "jupiter": 12.0, "overlap": 15.0, "boundary": 15.0}
    in_chunk_1 = {"overlap": 54.5, "boundary": 60.0}  # samples of chunk 1 (the last 16 are repeated)
    offsets_s = {"spike": 2.0, "type_iii": 0.4, "jupiter": 1.5}
    for k, (case, target) in enumerate(targets.items()):
        sim = settings.simulator.model_copy(update={"seed": seed + k})
        beam = BeamSimulator("beam0", sim, start_unix_s=START_UNIX_S)
        stride_s = 48 * 4 * beam.time_step_s
        event = None
        if target:  # the overlap spike sits in samples 54-56 of chunk 1, which chunk 2 repeats
            at_s = START_UNIX_S + (
                stride_s + in_chunk_1[case] * 4 * beam.time_step_s if case in in_chunk_1 else offsets_s[case]
            )
            unit = _event(case, at_s, float(beam.freq_hz.min()))
            event = beam.inject(replace(unit, snr=target / detection_snr(unit, beam, settings)))
        stream = detection_chunks(beam, settings)
        chunks = [next(stream)[0] for _ in range(3)]
        snr = detection_snr(event, beam, settings) if event else 0.0
        if case in in_chunk_1:
            rows += [_row(f"{case}_a", chunks[1], event, snr), _row(f"{case}_b", chunks[2], event, snr)]
        else:
            rows.append(_row(case, chunks[0], event, snr))
    return pd.DataFrame(rows)


if __name__ == "__main__":
    table = make_sample()
    table.to_parquet(SAMPLE, index=False)
    print(
        table[["case", "chunk_index", "overlap_samples", "truth_kind", "truth_snr"]],
        SAMPLE.stat().st_size,
        "bytes",
    )
