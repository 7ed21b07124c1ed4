"""Measure burst_search on the edge simulator: speed, false alarms on noise, completeness, drift and S/N by kind.

Chunks come from ``detection_chunks`` (the edge's own downsampling, with its overlapping chunks),
and each chunk is searched with its ``overlap_samples`` and ``trailing_overlap_samples``, as the
broker does. An injected event is found when a candidate peaks inside its time span (± one sample)
and overlaps its band (± one channel); its drift and S/N are those of the widest such candidate (a
type III cut by a chunk boundary is also seen, narrower, by the neighbouring chunk). Its expected
S/N (``detection_snr``) is the one the alerts carry (udfs/burst_search/matched.py): the matched-
filter S/N at detection resolution, computed on the noiseless event (each channel's best window of
1, 2, 4, 8 or 16 samples, summed over the best contiguous run of channels, over the square root of
the pixels).

Run ``python -m nenubroker.udfs.training.burst_search_eval --help``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.special import erf

from nenubroker.conf.settings import Settings, load_settings
from nenubroker.edge.sim.events import (
    InjectedEvent,
    event_power,
    type_iii_arrival_s,
    type_iii_decay_s,
    type_iii_drift_hz_per_s,
)
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.udfs.burst_search.core import detect_bursts
from nenubroker.udfs.burst_search.passage import MIN_SPAN_SAMPLES
from nenubroker.udfs.burst_search.search import MEASURED_FRACTION

START_UNIX_S = 1.7e9
KINDS = ("spike", "type_iii", "jupiter_s", "jupiter_long")
WIDTHS = (1, 2, 4, 8, 16)  # the detector's boxcar widths (samples), those of the matched filter


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
            trailing_overlap_samples=chunk.trailing_overlap_samples,
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

    One search at the lowest threshold; a candidate is reported when its best detection's S/N
    (``detection_snr``) reaches the threshold and its measured S/N (``snr``) ``MEASURED_FRACTION``
    of it, so the count of candidates with min(detection_snr, snr / MEASURED_FRACTION) above a
    higher threshold is what a search at that threshold finds (``max_snr``: the largest of those).
    Also the search CPU time.
    """
    settings = stream_settings(fftlen, nfft2int, seed)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=START_UNIX_S)
    n_chunks = int(np.ceil(hours * 3600 / chunk_stride_s(settings, beam)))
    found, cpu_s = search_stream(beam, settings, n_chunks, {"snr_threshold": min(thresholds)})
    snr = np.array([min(c["detection_snr"], c["snr"] / MEASURED_FRACTION) for c in found])
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


def event_snr_map(
    event: InjectedEvent, beam: BeamSimulator, settings: Settings, samples: tuple[int, int] | None = None
) -> np.ndarray:
    """The noiseless event on the detection grid (aligned on the stream's start), in units of each
    detection pixel's noise: (n_samples, n_channels) over detection ``samples`` [first, stop) of the
    stream, by default around the event's time span."""
    ft, ff = settings.ingest.downsample_time, settings.ingest.downsample_freq
    dt = beam.time_step_s
    if samples is None:
        lo_s, hi_s = event.time_range_unix_s()
        first = int(np.floor((lo_s - 1.0 - START_UNIX_S) / (dt * ft))) * ft
        n_rows = (int(np.ceil((hi_s + 1.0 - START_UNIX_S) / dt)) - first + ft) // ft * ft
    else:
        first, n_rows = samples[0] * ft, (samples[1] - samples[0]) * ft
    times = START_UNIX_S + dt * (first + np.arange(n_rows))
    excess = event_power(
        event,
        times,
        beam.freq_hz,
        np.ones(beam.freq_hz.size),
        time_step_s=dt,
        channel_width_hz=beam.channel_width_hz,
    )
    binned: np.ndarray = excess.reshape(n_rows // ft, ft, -1, ff).mean(axis=(1, 3)) * np.sqrt(ft * ff)
    return binned


def matched_filter_snr(snr_map: np.ndarray, widths: tuple[int, ...] = WIDTHS) -> float:
    """Matched-filter S/N of a noiseless (n_samples, n_channels) S/N map, the definition of the alerts' ``snr``.

    For each width, each channel contributes its best window of that many samples; the S/N is
    the sum over the best contiguous run of channels divided by the square root of its pixels.

    >>> snr_map = np.zeros((20, 6)); snr_map[4:6, 1:5] = 2.0     # 2 samples x 4 channels at S/N 2
    >>> round(matched_filter_snr(snr_map), 6)                    # 16 / sqrt(8)
    5.656854
    """
    best = 0.0
    cumulative = np.concatenate([np.zeros((1, snr_map.shape[1])), np.cumsum(snr_map, axis=0)])
    for width in widths:
        if width > snr_map.shape[0]:
            break
        per_channel = (cumulative[width:] - cumulative[:-width]).max(axis=0)
        prefix = np.concatenate([[0.0], np.cumsum(per_channel)])
        n = np.arange(prefix.size)
        length = n[None, :] - n[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = np.where(length > 0, (prefix[None, :] - prefix[:, None]) / np.sqrt(width * length), 0.0)
        best = max(best, float(snr.max()))
    return best


def chunk_normalised(snr_map: np.ndarray) -> np.ndarray:
    """A noiseless chunk (n_samples, n_channels, in noise units) as the detector normalises it.

    The detector takes each channel's background from its chunk (lower quartile + 0.674 sigma,
    core.channel_statistics): over unit Gaussian noise plus the event, that quartile q solves
    mean_t Phi(q - e_t) = 1/4, so the background rises by q + 0.674 and every pixel loses as much.
    A faint burst covering a fraction p of a channel's samples keeps about 1 - p of its contrast.
    """
    low, high = np.full(snr_map.shape[1], -0.6745), np.full(snr_map.shape[1], -0.6745 + float(snr_map.max()))
    for _ in range(40):
        q = (low + high) / 2
        below = np.mean(0.5 * (1 + erf((q[None, :] - snr_map) / np.sqrt(2))), axis=0) < 0.25
        low, high = np.where(below, q, low), np.where(below, high, q)
    shifted: np.ndarray = snr_map - ((low + high) / 2 + 0.6745)[None, :]
    return shifted


def owning_chunk(event: InjectedEvent, beam: BeamSimulator, settings: Settings) -> int:
    """Index of the chunk whose half of the shared samples holds the event's start (the one that reports it)."""
    ingest = settings.ingest
    stride = ingest.chunk_time_samples - ingest.overlap_time_samples
    sample = (event.time_start_unix_s - START_UNIX_S) / (ingest.downsample_time * beam.time_step_s)
    return max(0, int(np.floor((sample - ingest.overlap_time_samples / 2) / stride)))


def detection_snr(
    event: InjectedEvent, beam: BeamSimulator, settings: Settings, chunk_index: int | None = None
) -> float:
    """Expected S/N of an event, the definition of the alerts' ``snr`` (udfs/burst_search/matched.py):
    the matched-filter S/N of the noiseless event in the chunk that reports it (``chunk_index``,
    by default :func:`owning_chunk`), normalised as the detector normalises that chunk."""
    ingest = settings.ingest
    index = owning_chunk(event, beam, settings) if chunk_index is None else chunk_index
    first = index * (ingest.chunk_time_samples - ingest.overlap_time_samples)
    snr_map = event_snr_map(event, beam, settings, (first, first + ingest.chunk_time_samples))
    return matched_filter_snr(chunk_normalised(snr_map))


def raw_snr(event: InjectedEvent, beam: BeamSimulator, settings: Settings) -> float:
    """The same matched filter on the whole noiseless event, with its true background (no chunk)."""
    return matched_filter_snr(event_snr_map(event, beam, settings))


def peak_pixel_snr(event: InjectedEvent, beam: BeamSimulator, settings: Settings) -> float:
    """S/N of the event's brightest detection pixel: the scale of burst_search 1.1.0's benchmarks."""
    return float(event_snr_map(event, beam, settings).max())


def sweep_samples(event: InjectedEvent, beam: BeamSimulator, settings: Settings) -> float:
    """Detection samples the event takes to cross its band (its drift is resolvable from 1.5; 0 for spikes)."""
    step_s = settings.ingest.downsample_time * beam.time_step_s
    lo_hz, hi_hz = event.freq_range_hz()
    if event.kind == "type_iii":
        return float(type_iii_arrival_s(lo_hz, hi_hz) / step_s)
    if event.kind == "jupiter_s":
        return float((hi_hz - lo_hz) / abs(event.drift_hz_per_s) / step_s)
    return 0.0


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
    scale: str = "matched",
) -> list[dict[str, Any]]:
    """Inject ``n_events`` isolated events and match candidates to them.

    Their S/N is log-uniform in ``snr_range`` on the ``scale`` "matched" (:func:`raw_snr`, the alerts'
    S/N with the true background) or "pixel" (:func:`peak_pixel_snr`, burst_search 1.1.0's scale).
    Each row has both, and ``det_snr`` (:func:`detection_snr`, in the chunk that reports it); a found
    event also has the S/N of its candidate (``snr``) and the expected S/N in that candidate's chunk
    (``expected_snr``).
    """
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
        reference = raw_snr if scale == "matched" else peak_pixel_snr
        events.append(beam.inject(replace(unit, snr=target / reference(unit, beam, settings))))
    n_chunks = int(np.ceil((n_events * spacing_s + 12.0) / chunk_stride_s(settings, beam)))
    found, _ = search_stream(beam, settings, n_chunks, params)
    step_s = settings.ingest.downsample_time * beam.time_step_s
    channel_hz = beam.channel_width_hz * settings.ingest.downsample_freq
    rows, claimed = [], np.zeros(len(found), dtype=bool)
    for event in events:
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
                "det_snr": detection_snr(event, beam, settings),
                "raw_snr": raw_snr(event, beam, settings),
                "pixel_snr": peak_pixel_snr(event, beam, settings),
                "found": bool(matches),
                "n_matches": len(matches),
                "n_chunks": len({found[i]["chunk_index"] for i in matches}),
                "drift": drift,
                "truth_drift": truth,
                "snr": found[best]["snr"] if best is not None else float("nan"),
                "expected_snr": (
                    detection_snr(event, beam, settings, found[best]["chunk_index"])
                    if best is not None
                    else float("nan")
                ),
                "sweep_samples": sweep_samples(event, beam, settings),
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


def summarise(rows: list[dict[str, Any]], key: str = "det_snr") -> str:
    """Completeness per S/N bin (of ``key``), duplicates, drift accuracy, S/N and unmatched candidates."""
    events = [r for r in rows if "det_snr" in r]
    tail = next(r for r in rows if "unmatched" in r)
    lines = []
    for lo, hi in ((4, 6), (6, 8), (8, 10), (10, 15), (15, 1e9)):
        sel = [r for r in events if lo <= r[key] < hi]
        if sel:
            found = [r for r in sel if r["found"]]
            lines.append(f"  {key} {lo:>2}-{hi if hi < 1e9 else 'inf'}: {len(found)}/{len(sel)} found")
    bright = [r for r in events if r[key] >= 8]
    found = [r for r in bright if r["found"]]
    line = f"  {key} >= 8: {len(found)}/{len(bright)} = {100 * len(found) / max(len(bright), 1):.1f} %"
    line += f", duplicates {sum(r['n_matches'] > 1 for r in found)}"
    line += f" (in two chunks {sum(r['n_chunks'] > 1 for r in found)})"
    line += f"; unmatched candidates {tail['unmatched']} in {tail['hours']:.2f} h"
    stats = drift_and_snr(events)
    more = f"  S/N >= {stats['min_snr']:.0f}: measured / expected S/N median {stats['snr_ratio']:.2f}"
    if stats["resolvable"]:
        more += (
            f"; drift within 20 % for {stats['within_20pc']:.0%} of {stats['resolvable']} resolvable"
            f" (median ratio {stats['drift_ratio']:.2f})"
        )
    if stats["unresolvable"]:
        more += (
            f"; unresolvable {stats['unresolvable']}: drift 0 for {stats['zero']:.0%},"
            f" within 20 % {stats['unresolvable_within_20pc']:.0%}"
        )
    return "\n".join([*lines, line, more])


def drift_and_snr(rows: list[dict[str, Any]], min_snr: float = 15.0) -> dict[str, Any]:
    """Found events at expected S/N >= ``min_snr``: median measured / expected S/N; for drifting ones
    whose passage spans >= MIN_SPAN_SAMPLES (resolvable) the fraction with drift within 20 % of the
    truth, for the others the fraction reported 0 (unresolved) and the fraction within 20 %."""
    found = [r for r in rows if "det_snr" in r and r["found"] and r["det_snr"] >= min_snr]
    drifting = [r for r in found if r["truth_drift"] != 0]
    resolvable = [r for r in drifting if r["sweep_samples"] >= MIN_SPAN_SAMPLES]
    other = [r for r in drifting if r["sweep_samples"] < MIN_SPAN_SAMPLES]
    ratio = np.array([r["drift"] / r["truth_drift"] for r in resolvable])
    other_ratio = np.array([r["drift"] / r["truth_drift"] for r in other])
    return {
        "min_snr": min_snr,
        "n": len(found),
        "snr_ratio": float(np.median([r["snr"] / r["expected_snr"] for r in found])) if found else float("nan"),
        "resolvable": len(resolvable),
        "within_20pc": float(np.mean(np.abs(ratio - 1) <= 0.2)) if ratio.size else float("nan"),
        "drift_ratio": float(np.median(ratio)) if ratio.size else float("nan"),
        "unresolvable": len(other),
        "zero": float(np.mean(other_ratio == 0)) if other_ratio.size else float("nan"),
        "unresolvable_within_20pc": (
            float(np.mean(np.abs(other_ratio - 1) <= 0.2)) if other_ratio.size else float("nan")
        ),
    }


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
    parser.add_argument(
        "--scale", choices=("matched", "pixel"), default="matched", help="S/N the events are drawn in (4-40)"
    )
    args = parser.parse_args()
    print("speed (64 x 768):", speed())
    if args.hours > 0:
        print("false alarms:", false_alarms(args.hours, args.fftlen, args.nfft2int, args.seed))
    for kind in args.kinds:
        rows = completeness(kind, args.events, args.fftlen, args.nfft2int, args.seed + 1, scale=args.scale)
        print(kind)
        print(summarise(rows, "det_snr" if args.scale == "matched" else "pixel_snr"))


if __name__ == "__main__":
    main()
