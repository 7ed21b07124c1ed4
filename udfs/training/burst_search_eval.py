"""Measure burst_search on the edge simulator: speed, false alarms on noise, completeness and drift by kind.

Chunks come from ``detection_chunks`` (the edge's own downsampling, with its overlapping chunks),
and each chunk is searched with its ``overlap_samples``, as the broker does. An injected event is
found when a candidate peaks inside its time span (± one sample) and overlaps its band (± one
channel); its drift is that of the widest such candidate (a type III cut by a chunk boundary is
also seen, narrower, by the neighbouring chunk). Its detection-resolution S/N is the peak S/N of
one pixel of the detection grid (the simulator's per-pixel ``snr`` at full resolution, averaged
over the 4 x 16 pixels of a detection pixel, times sqrt(64)).

Run ``python -m nenubroker.udfs.training.burst_search_eval --help``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np

from nenubroker.conf.settings import Settings, load_settings
from nenubroker.edge.sim.events import InjectedEvent, event_power, type_iii_decay_s, type_iii_drift_hz_per_s
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.udfs.burst_search.core import detect_bursts

START_UNIX_S = 1.7e9
KINDS = ("spike", "type_iii", "jupiter_s", "jupiter_long")


def stream_settings(fftlen: int = 64, nfft2int: int = 64, seed: int = 1, overlap: int = 16) -> Settings:
    """One quiet beam (no random events, 3 persistent RFI channels), 64-sample chunks averaged 4 x 16."""
    return load_settings(
        env={},
        overrides={
            "simulator": {
                "fftlen": fftlen,
                "nfft2int": nfft2int,
                "event_rates_per_min": {},
                "realtime": False,
                "seed": seed,
                "beams": ["beam0"],
            },
            "ingest": {
                "downsample_time": 4,
                "downsample_freq": 16,
                "chunk_time_samples": 64,
                "overlap_time_samples": overlap,
            },
        },
    )


def search_stream(
    beam: BeamSimulator, settings: Settings, n_chunks: int, params: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[float]]:
    """Candidates of ``n_chunks`` consecutive chunks (each with its ``chunk_index``), and the CPU time
    of each search (s)."""
    found, cpu_s = [], []
    stream = detection_chunks(beam, settings)
    for _ in range(n_chunks):
        chunk, _ = next(stream)
        began = time.process_time()
        candidates = detect_bursts(
            chunk.data,
            chunk.freq_hz,
            chunk.time_start_unix_s,
            chunk.time_step_s,
            overlap_samples=chunk.overlap_samples,
            **(params or {}),
        )
        cpu_s.append(time.process_time() - began)
        found += [{**c, "chunk_index": chunk.chunk_index} for c in candidates]
    return found, cpu_s


def chunk_stride_s(settings: Settings, beam: BeamSimulator) -> float:
    ingest = settings.ingest
    return (
        (ingest.chunk_time_samples - ingest.overlap_time_samples) * ingest.downsample_time * beam.time_step_s
    )


def false_alarms(
    hours: float,
    fftlen: int = 64,
    nfft2int: int = 64,
    seed: int = 1,
    thresholds: tuple[float, ...] = (6.0, 6.5, 7.0, 7.5, 8.0),
) -> dict[str, Any]:
    """Candidates per hour of noise-only data (with persistent RFI channels) above each S/N threshold.

    One search at the lowest threshold; a candidate's S/N is its best detection's, so the count
    above a higher threshold is what a search at that threshold finds. Also the search CPU time.
    """
    settings = stream_settings(fftlen, nfft2int, seed)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=START_UNIX_S)
    n_chunks = int(np.ceil(hours * 3600 / chunk_stride_s(settings, beam)))
    found, cpu_s = search_stream(beam, settings, n_chunks, {"snr_threshold": min(thresholds)})
    snr = np.array([c["snr"] for c in found])
    return {
        "chunks": n_chunks,
        "hours": hours,
        "max_snr": float(snr.max(initial=0.0)),
        "per_hour": {t: float((snr >= t).sum() / hours) for t in thresholds},
        "cpu_ms_median": 1e3 * float(np.median(cpu_s)),
    }


def draw_event(kind: str, rng: np.random.Generator, at_s: float, lo_hz: float, hi_hz: float) -> InjectedEvent:
    """One event of unit ``snr`` (scaled later); ``jupiter_long`` is a Jupiter-like sweep of 6-12 MHz."""
    if kind == "spike":
        f = float(rng.uniform(lo_hz + 1e6, hi_hz - 1e6))
        return InjectedEvent(
            "spike",
            "beam0",
            at_s,
            f,
            1.0,
            duration_s=float(rng.uniform(0.01, 0.3)),
            bandwidth_hz=f * float(rng.uniform(0.001, 0.02)),
        )
    if kind == "type_iii":
        f0 = float(rng.uniform(lo_hz + 0.5 * (hi_hz - lo_hz), hi_hz))
        return InjectedEvent(
            "type_iii",
            "beam0",
            at_s,
            f0,
            1.0,
            duration_s=float(type_iii_decay_s(f0)),
            freq_stop_hz=lo_hz,
            drift_hz_per_s=float(type_iii_drift_hz_per_s(f0)),
        )
    drift = float(rng.uniform(-25e6, -15e6))
    top = float(rng.uniform(34e6, 39.5e6))
    if kind == "jupiter_s":
        sweep_s, duration_s = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.001, 0.005))
    else:
        sweep_s, duration_s = float(rng.uniform(6e6, 12e6)) / -drift, float(rng.uniform(0.02, 0.06))
    return InjectedEvent(
        "jupiter_s",
        "beam0",
        at_s,
        top,
        1.0,
        duration_s=duration_s,
        freq_stop_hz=max(lo_hz, top + drift * sweep_s),
        drift_hz_per_s=drift,
    )


def detection_snr(event: InjectedEvent, beam: BeamSimulator, settings: Settings) -> float:
    """Peak S/N of one detection pixel (the detection grid is aligned on the stream's start)."""
    ft, ff = settings.ingest.downsample_time, settings.ingest.downsample_freq
    dt = beam.time_step_s
    lo_s, hi_s = event.time_range_unix_s()
    first = int(np.floor((lo_s - 1.0 - START_UNIX_S) / (dt * ft))) * ft
    n_rows = (int(np.ceil((hi_s + 1.0 - START_UNIX_S) / dt)) - first + ft) // ft * ft
    times = START_UNIX_S + dt * (first + np.arange(n_rows))
    excess = event_power(
        event,
        times,
        beam.freq_hz,
        np.ones(beam.freq_hz.size),
        time_step_s=dt,
        channel_width_hz=beam.channel_width_hz,
    )
    binned = excess.reshape(n_rows // ft, ft, -1, ff).mean(axis=(1, 3))
    return float(binned.max() * np.sqrt(ft * ff))


def _truth_drift(event: InjectedEvent, freq_hz: float) -> float:
    return float(type_iii_drift_hz_per_s(freq_hz)) if event.kind == "type_iii" else event.drift_hz_per_s


def completeness(
    kind: str,
    n_events: int,
    fftlen: int = 64,
    nfft2int: int = 64,
    seed: int = 2,
    snr_range: tuple[float, float] = (4.0, 40.0),
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Inject ``n_events`` isolated events (log-uniform detection S/N) and match candidates to them."""
    rng = np.random.default_rng(seed)
    settings = stream_settings(fftlen, nfft2int, seed)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=START_UNIX_S)
    lo_hz, hi_hz = float(beam.freq_hz.min()), float(beam.freq_hz.max())
    spacing_s = 14.0 if kind == "type_iii" else 6.0
    events = []
    for k in range(n_events):
        unit = draw_event(
            kind, rng, START_UNIX_S + 2.0 + k * spacing_s + float(rng.uniform(0, 2.0)), lo_hz, hi_hz
        )
        target = float(np.exp(rng.uniform(*np.log(snr_range))))
        event = replace(unit, snr=target / detection_snr(unit, beam, settings))
        events.append((beam.inject(event), detection_snr(event, beam, settings)))
    n_chunks = int(np.ceil((n_events * spacing_s + 12.0) / chunk_stride_s(settings, beam)))
    found, _ = search_stream(beam, settings, n_chunks, params)
    step_s = settings.ingest.downsample_time * beam.time_step_s
    channel_hz = beam.channel_width_hz * settings.ingest.downsample_freq
    rows, claimed = [], np.zeros(len(found), dtype=bool)
    for event, snr in events:
        t0, t1 = event.time_range_unix_s()
        f0, f1 = event.freq_range_hz()
        matches = [
            i
            for i, c in enumerate(found)
            if t0 - step_s <= c["time_peak_s"] <= t1 + step_s
            and c["freq_min_hz"] <= f1 + channel_hz
            and c["freq_max_hz"] >= f0 - channel_hz
        ]
        claimed[matches] = True
        best = (
            max(matches, key=lambda i: found[i]["freq_max_hz"] - found[i]["freq_min_hz"]) if matches else None
        )
        drift = found[best]["drift_hz_per_s"] if best is not None else float("nan")
        truth = _truth_drift(event, found[best]["freq_peak_hz"]) if best is not None else event.drift_hz_per_s
        rows.append(
            {
                "kind": kind,
                "time_unix_s": t0,
                "det_snr": snr,
                "found": bool(matches),
                "n_matches": len(matches),
                "n_chunks": len({found[i]["chunk_index"] for i in matches}),
                "drift": drift,
                "truth_drift": truth,
            }
        )
    rows.append(
        {
            "kind": kind,
            "unmatched": int((~claimed).sum()),
            "hours": n_chunks * chunk_stride_s(settings, beam) / 3600,
        }
    )
    return rows


def summarise(rows: list[dict[str, Any]]) -> str:
    """Completeness per S/N bin, duplicates, drift accuracy and unmatched candidates, one line per bin."""
    events = [r for r in rows if "det_snr" in r]
    tail = next(r for r in rows if "unmatched" in r)
    lines = []
    for lo, hi in ((4, 6), (6, 8), (8, 10), (10, 15), (15, 1e9)):
        sel = [r for r in events if lo <= r["det_snr"] < hi]
        if sel:
            found = [r for r in sel if r["found"]]
            lines.append(f"  S/N {lo:>2}-{hi if hi < 1e9 else 'inf'}: {len(found)}/{len(sel)} found")
    bright = [r for r in events if r["det_snr"] >= 8]
    found = [r for r in bright if r["found"]]
    ratio = np.array([r["drift"] / r["truth_drift"] for r in found if r["truth_drift"] != 0])
    line = f"  S/N >= 8: {len(found)}/{len(bright)} = {100 * len(found) / max(len(bright), 1):.1f} %"
    line += f", duplicates {sum(r['n_matches'] > 1 for r in found)}"
    line += f" (in two chunks {sum(r['n_chunks'] > 1 for r in found)})"
    if ratio.size:
        line += (
            f", drift within 30 %: {np.mean(np.abs(ratio - 1) <= 0.3) * 100:.0f} %"
            f" (median ratio {np.median(ratio):.2f})"
        )
    line += f"; unmatched candidates {tail['unmatched']} in {tail['hours']:.2f} h"
    return "\n".join([*lines, line])


def speed(n_chunks: int = 50, n_freq: int = 768, seed: int = 0) -> dict[str, float]:
    """CPU ms per 64 x ``n_freq`` noise chunk (numpy Gamma noise), min and median."""
    rng = np.random.default_rng(seed)
    freq_hz = np.linspace(20e6, 57.5e6, n_freq)
    cpu = []
    for _ in range(n_chunks):
        data = rng.gamma(16384, 1 / 16384, size=(64, n_freq)).astype(np.float32)
        began = time.process_time()
        detect_bursts(data, freq_hz, 0.0, 0.0839)
        cpu.append(time.process_time() - began)
    return {"min_ms": 1e3 * min(cpu), "median_ms": 1e3 * float(np.median(cpu))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="noise-only data for the false-alarm rate")
    parser.add_argument("--events", type=int, default=100, help="events injected per kind")
    parser.add_argument("--fftlen", type=int, default=64)
    parser.add_argument("--nfft2int", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", nargs="*", default=list(KINDS))
    args = parser.parse_args()
    print("speed (64 x 768):", speed())
    if args.hours > 0:
        print("false alarms:", false_alarms(args.hours, args.fftlen, args.nfft2int, args.seed))
    for kind in args.kinds:
        rows = completeness(kind, args.events, args.fftlen, args.nfft2int, args.seed + 1)
        print(kind)
        print(summarise(rows))


if __name__ == "__main__":
    main()
