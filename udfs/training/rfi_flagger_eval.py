"""Simulated detection chunks with truth masks: writes sample.parquet and measures the flagger.

The edge simulator (edge/sim/simulator.py) makes full-resolution blocks with events and RFI; the edge
downsampler (edge/downsample.py) cuts them into detection chunks, as the broker receives them.
Truth is rebuilt on the same grid from the injected events: each burst's excess power in units of
the chunk's noise sigma, and the RFI pixels (persistent channels, impulse rows). Lost samples are
the NaN pixels.

Run ``python -m nenubroker.udfs.training.rfi_flagger_eval`` to rewrite sample.parquet, and
``python -m nenubroker.udfs.training.rfi_flagger_eval --evaluate 40`` to print flag rates and the
CPU time per chunk on a random set of full-band (64 x 768) chunks.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nenubroker.conf.settings import IngestSettings, SimulatorSettings
from nenubroker.edge.downsample import Downsampler, average_bins
from nenubroker.edge.sim.events import InjectedEvent, add_event_power
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.rfi_flagger.core import flag_rfi

SAMPLE = Path(__file__).parents[1] / "rfi_flagger" / "sample.parquet"
BURST_KINDS = ("type_iii", "type_iiib", "spike", "jupiter_s")
#: A pixel belongs to a burst when the burst adds at least this many noise sigma to it.
BURST_PIXEL_SIGMA = 2.0
#: A pixel is clean (counts for the false-flag rate) when bursts add less than this.
CLEAN_PIXEL_SIGMA = 0.5
START_UNIX_S = 1.7e9
INGEST = IngestSettings(downsample_time=4, downsample_freq=16, chunk_time_samples=64)


@dataclass
class Truth:
    """What one detection chunk holds: burst excess (noise sigma) per kind, RFI and lost pixels."""

    burst_sigma: dict[str, np.ndarray]
    persistent: np.ndarray
    impulse: np.ndarray
    lost: np.ndarray
    events: list[InjectedEvent] = field(default_factory=list)

    @property
    def rfi(self) -> np.ndarray:
        return self.persistent | self.impulse

    @property
    def burst_total(self) -> np.ndarray:
        return sum(self.burst_sigma.values(), np.zeros(self.rfi.shape))


def _truth(chunk: SpectraChunk, events: Sequence[InjectedEvent], sim: BeamSimulator,
           ingest: IngestSettings) -> Truth:
    """Burst excess and RFI pixels of ``chunk``, evaluated at full resolution, then averaged."""
    factor_t, factor_f = ingest.downsample_time, ingest.downsample_freq
    rows = chunk.n_time * factor_t
    times = chunk.time_start_unix_s + sim.time_step_s * np.arange(rows)
    sigma_chunk = average_bins(sim.sigma[None, :], 1, factor_f)[0] / np.sqrt(factor_t * factor_f)
    full = np.zeros((rows, sim.freq_hz.size))
    burst, impulse = {}, np.zeros(chunk.data.shape, dtype=bool)
    for kind in (*BURST_KINDS, "rfi_impulse"):
        full[:] = 0.0
        for event in events:
            if event.kind == kind:
                add_event_power(full, event, times, sim.freq_hz, sim.sigma, time_step_s=sim.time_step_s,
                                channel_width_hz=sim.channel_width_hz)
        excess = average_bins(full, factor_t, factor_f) / sigma_chunk
        if kind == "rfi_impulse":
            impulse = excess > 0
        else:
            burst[kind] = excess
    persistent = np.zeros_like(impulse)
    persistent[:, np.unique(sim.rfi_channels // factor_f)] = True
    return Truth(burst, persistent, impulse, ~np.isfinite(chunk.data),
                 [e for e in events if e.kind in (*BURST_KINDS, "rfi_impulse")])


def simulate(settings: SimulatorSettings, n_chunks: int, inject: Sequence[InjectedEvent] = (),
             ingest: IngestSettings = INGEST, beam: str = "beam0") -> list[tuple[SpectraChunk, Truth]]:
    """``n_chunks`` consecutive detection chunks of one simulated beam, each with its truth."""
    sim = BeamSimulator(beam, settings, start_unix_s=START_UNIX_S)
    for event in inject:
        sim.inject(event)
    cutter = Downsampler(ingest)
    events: list[InjectedEvent] = []
    out: list[tuple[SpectraChunk, Truth]] = []
    while len(out) < n_chunks:
        block, started = sim.next_block()
        events += [e for e in started if e.kind in (*BURST_KINDS, "rfi_impulse")]
        out += [(chunk, _truth(chunk, events, sim, ingest)) for chunk in cutter.push(block)]
    return out[:n_chunks]


def rates(mask: np.ndarray, truth: Truth) -> dict[str, float]:
    """Fractions flagged: of RFI pixels (recall), of each burst kind's pixels, of clean pixels."""
    seen = ~truth.lost
    out = {"flagged": float(mask.mean()), "rfi_flagged": _fraction(mask, truth.rfi & seen),
           "persistent_flagged": _fraction(mask, truth.persistent & seen),
           "impulse_flagged": _fraction(mask, truth.impulse & seen),
           "clean_flagged": _fraction(mask, seen & ~truth.rfi & (truth.burst_total < CLEAN_PIXEL_SIGMA)),
           "lost_flagged": _fraction(mask, truth.lost)}
    for kind, excess in truth.burst_sigma.items():
        out[f"{kind}_flagged"] = _fraction(mask, seen & ~truth.rfi & (excess >= BURST_PIXEL_SIGMA))
    return out


def _fraction(mask: np.ndarray, where: np.ndarray) -> float:
    return float(mask[where].mean()) if where.any() else float("nan")


def _settings(**changes: object) -> SimulatorSettings:
    quiet = {"realtime": False, "event_rates_per_min": {}, "persistent_rfi_channels": 0, "seed": 7}
    return SimulatorSettings.model_validate({**quiet, **changes})


def sample_cases() -> dict[str, tuple[SpectraChunk, Truth]]:
    """Seven 64 x 384 chunks (20.3-39.1 MHz, 83.9 ms x 48.8 kHz) with bursts at S/N 5 (full resolution)."""
    small = {"first_subband": 104, "n_subbands": 96}
    t0, top = START_UNIX_S + 1.0, 39.0e6
    type_iii = InjectedEvent("type_iii", "beam0", t0, top, 5.0, duration_s=1.7, freq_stop_hz=20e6,
                             drift_hz_per_s=-8.0e6)
    spikes = [InjectedEvent("spike", "beam0", t0 + 0.4 * i, f, 5.0, duration_s=d, bandwidth_hz=f * r)
              for i, (f, d, r) in enumerate([(25e6, 0.05, 0.005), (25.2e6, 0.2, 0.01), (33e6, 0.3, 0.02),
                                             (33.4e6, 0.1, 0.002), (36e6, 0.02, 0.001)])]
    rng = np.random.default_rng(3)
    jupiter = [InjectedEvent("jupiter_s", "beam0", t0 + 0.03 * i, 37e6 - rng.uniform(0, 1.5e6), 5.0,
                             duration_s=0.02, freq_stop_hz=33e6, drift_hz_per_s=-rng.uniform(15e6, 25e6))
               for i in range(40)]
    striae = np.arange(36e6, 30e6, -0.2e6)
    type_iiib = InjectedEvent("type_iiib", "beam0", t0, 36e6, 5.0, duration_s=0.8, freq_stop_hz=30e6,
                              drift_hz_per_s=-7e6, striae_freq_hz=tuple(striae),
                              striae_width_hz=(60e3,) * striae.size, striae_amplitude=(1.0,) * striae.size,
                              stria_drift_hz_per_s=-0.1e6)
    impulses = [InjectedEvent("rfi_impulse", "beam0", t0 + dt, top, 3.0, duration_s=0.0, bandwidth_hz=20e6,
                              freq_stop_hz=19e6) for dt in (0.5, 2.9)]
    cases = {
        "noise": simulate(_settings(**small), 1)[0],
        "rfi": simulate(_settings(persistent_rfi_channels=3, **small), 1, impulses)[0],
        "type_iii": simulate(_settings(**small), 1, [type_iii])[0],
        "type_iiib": simulate(_settings(**small), 1, [type_iiib])[0],
        "spike": simulate(_settings(**small), 1, spikes)[0],
        "jupiter_s": simulate(_settings(**small), 1, jupiter)[0],
        "mixed": simulate(_settings(persistent_rfi_channels=3, **small), 1, [type_iii, *impulses])[0],
    }
    for name in ("rfi", "mixed"):  # a lost block: 16 NaN rows
        chunk, truth = cases[name]
        data = chunk.data.copy()
        data[40:56] = np.nan
        lost_chunk = SpectraChunk(chunk.beam, chunk.chunk_index, chunk.time_start_unix_s, chunk.time_step_s,
                                  chunk.freq_hz, data, chunk.source)
        lost = ~np.isfinite(data)
        lost_truth = Truth(truth.burst_sigma, truth.persistent, truth.impulse, lost, truth.events)
        cases[name] = (lost_chunk, lost_truth)
    return cases


def write_sample(path: Path = SAMPLE) -> pd.DataFrame:
    """Write the sample cases with their truth: packed-bit masks of RFI and of burst pixels."""
    rows = []
    for case, (chunk, truth) in sample_cases().items():
        rows.append({"case": case, **chunk.to_record(),
                     "truth_rfi": np.packbits(truth.rfi).tobytes(),
                     "truth_burst": np.packbits(truth.burst_total >= BURST_PIXEL_SIGMA).tobytes(),
                     "truth_clean": np.packbits(truth.burst_total < CLEAN_PIXEL_SIGMA).tobytes()})
    table = pd.DataFrame(rows).drop(columns=["created_unix_s"])
    table.to_parquet(path, index=False, compression="zstd")
    return table


def evaluate(n_chunks: int, snr: float, rfi_snr: float, seed: int = 1) -> pd.DataFrame:
    """Flag rates and CPU time per chunk on ``n_chunks`` full-band chunks with random events and RFI.

    Bursts and impulses peak at ``snr``, persistent RFI channels at ``rfi_snr`` x U(0.5, 1), per
    full-resolution pixel; six persistent channels, 3 % of blocks lost.
    """
    settings = _settings(
        seed=seed, persistent_rfi_channels=6, lost_block_fraction=0.03,
        event_rates_per_min={"type_iii": 4.0, "type_iiib": 2.0, "spike": 8.0, "jupiter_s": 4.0,
                             "rfi_impulse": 6.0},
        event_snr={**{kind: snr for kind in (*BURST_KINDS, "rfi_impulse")}, "rfi_persistent": rfi_snr})
    rows = []
    for chunk, truth in simulate(settings, n_chunks):
        start = time.thread_time()  # CPU time of this thread: one core, whatever else the machine runs
        mask = flag_rfi(chunk.data, chunk.time_step_s, chunk.freq_hz)
        rows.append({"cpu_ms": 1e3 * (time.thread_time() - start), **rates(mask, truth)})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", type=int, default=0, metavar="N", help="chunks per S/N to evaluate on")
    parser.add_argument("--snr", type=float, nargs="+", default=[3.0, 10.0],
                        help="full-resolution S/N of bursts and impulses")
    parser.add_argument("--rfi-snr", type=float, default=30.0, help="full-resolution S/N of persistent RFI")
    args = parser.parse_args(argv)
    if not args.evaluate:
        table = write_sample()
        print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size / 1e3:.0f} kB, cases {list(table['case'])})")
        return
    for snr in args.snr:
        result = evaluate(args.evaluate, snr, args.rfi_snr)
        print(f"S/N {snr}, persistent RFI S/N {args.rfi_snr}: over {len(result)} chunks (NaN = none present)")
        print(result.agg(["mean", "max", "count"]).T.round(4).to_string())


if __name__ == "__main__":
    main()
