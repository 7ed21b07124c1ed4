"""From one detection to one measured burst: its region, frequency extent, drift, peak and time span.

A detection is the best track through part of a burst. The burst itself is the set of pixels the
track covers plus the connected regions of significant emission they touch (a type III's decay, a
spike's wings). Within that region, each block of channels has a light curve; its peak time and
S/N say where the burst is significant (the extent) and when it passes (the drift: a straight
line or the type III law fitted to the block peak times). Fitting the passage time rather than
trusting the best track matters for type III bursts: they last seconds at each frequency, so many
tracks through them score alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

LAWS = ("linear", "type_iii")
TYPE_III_INDEX = 0.84  # t(f) ∝ f^-0.84 from df/dt = -0.01 f^1.84 MHz/s (f in MHz)
TYPE_III_RATE = 0.01
_MIN_FIT_BLOCKS = 3
_TIMING_WIDTH = 4  # samples: the longest window used to time a burst's passage in each block
_LAW_TOLERANCE = 1.25  # misfit ratio within which a plausible type III law is preferred
ONSET_BAND_FRACTION = 16  # a burst's onset is timed on the top 1/16 of the chunk's channels
ONSET_SNR = 5.0  # rise (S/N of one sample summed over those channels) that marks the onset
ONSET_BASELINE = 4  # samples before it that a rise is measured from


def law_coordinate(law: str, freq_hz: np.ndarray) -> np.ndarray:
    """The coordinate in which a track's delay is linear: -f (Hz) or f^-0.84 (f in MHz)."""
    freq = np.asarray(freq_hz, dtype=float)
    return -freq if law == "linear" else (freq / 1e6) ** -TYPE_III_INDEX


def drift_hz_per_s(law: str, rate: float, freq_hz: float, time_step_s: float) -> float:
    """df/dt at ``freq_hz`` of a track delayed by ``rate`` samples per unit of its coordinate (0: none)."""
    if rate == 0:
        return 0.0
    if law == "linear":
        return -1.0 / (rate * time_step_s)
    return float(-1e6 * (freq_hz / 1e6) ** (1 + TYPE_III_INDEX) / (TYPE_III_INDEX * rate * time_step_s))


@dataclass(frozen=True)
class Track:
    """Enters channel c at sample ``t_pivot + rate * (x_c - x_pivot)``, for ``width`` samples."""

    law: str
    rate: float
    t_pivot: float
    x_pivot: float
    width: int

    def starts(self, x: np.ndarray) -> np.ndarray:
        return np.rint(self.t_pivot + self.rate * (x - self.x_pivot)).astype(np.int64)


@dataclass(frozen=True)
class ChunkMaps:
    """What measuring a burst needs, computed once per chunk (sorted high to low frequency).

    ``components`` labels the connected regions where the 3 x 3-smoothed normalised spectrum
    exceeds ``extent_snr``; ``smoothed`` is the spectrum averaged over 3 channels (not in time),
    where the peak is looked for.
    """

    values: np.ndarray
    counts: np.ndarray
    freq_hz: np.ndarray
    x: dict[str, np.ndarray]
    time_step_s: float
    components: np.ndarray
    smoothed: np.ndarray

    @classmethod
    def build(
        cls,
        values: np.ndarray,
        counts: np.ndarray,
        freq_hz: np.ndarray,
        time_step_s: float,
        extent_snr: float,
    ) -> ChunkMaps:
        total = ndimage.uniform_filter(values, 3, mode="constant")
        count = ndimage.uniform_filter(counts, 3, mode="constant")
        significant = (count > 0) & (total * 3 > extent_snr * np.sqrt(np.maximum(count, 1e-6)))
        return cls(
            values,
            counts,
            freq_hz,
            {law: law_coordinate(law, freq_hz) for law in LAWS},
            time_step_s,
            ndimage.label(significant)[0],
            ndimage.uniform_filter1d(values, 3, axis=1, mode="constant"),
        )


def track_footprint(shape: tuple[int, int], track: Track, x: np.ndarray, channels: slice) -> np.ndarray:
    """Pixels within half a width of the track's windows, over ``channels``."""
    mask = np.zeros(shape, dtype=bool)
    pad = max(1, track.width // 2)
    rows = np.arange(shape[0])[:, None]
    start = track.starts(x[channels])[None, :]
    mask[:, channels] = (rows >= start - pad) & (rows < start + track.width + pad)
    return mask


def burst_region(footprint: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The footprint and every significant component it touches."""
    touched = np.zeros(int(components.max()) + 1, dtype=bool)
    touched[components[footprint]] = True
    touched[0] = False
    region: np.ndarray = footprint | touched[components]
    return region


def block_peaks(
    values: np.ndarray, counts: np.ndarray, region: np.ndarray, block: int, widths: tuple[int, ...]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per block of ``block`` channels and per width: centre time (samples) and S/N of the block's
    best window of that many samples inside ``region``; S/N is -inf where it has no valid pixel."""
    n_t, n_f = values.shape
    n_blocks = -(-n_f // block)
    both = np.zeros((2, n_t, n_blocks * block), dtype=np.float32)
    both[0, :, :n_f] = np.where(region, values, 0)
    both[1, :, :n_f] = np.where(region, counts, 0)
    cumulative = np.zeros((2, n_t + 1, n_blocks))
    np.cumsum(both.reshape(2, n_t, n_blocks, block).sum(axis=3), axis=1, out=cumulative[:, 1:])
    peaks = []
    for width in widths:
        width = min(width, n_t)
        total = cumulative[:, width:] - cumulative[:, :-width]
        snr = np.where(total[1] > 0, total[0] / np.sqrt(np.maximum(total[1], 1)), -np.inf)
        best = snr.argmax(axis=0)
        peaks.append((best + (width - 1) / 2, snr[best, np.arange(n_blocks)]))
    return peaks


def grow_extent(snr: np.ndarray, seed: int, threshold: float) -> tuple[int, int]:
    """First and last block around ``seed`` with S/N >= threshold; empty blocks (-inf) are stepped
    over (flagged channels, the region's gaps), a block below threshold ends the extent."""
    weak = np.flatnonzero(np.isfinite(snr) & (snr < threshold))
    low = weak[weak < seed]
    high = weak[weak > seed]
    lo, hi = (int(low[-1]) + 1 if low.size else 0), (int(high[0]) if high.size else snr.size)
    strong = lo + np.flatnonzero(np.isfinite(snr[lo:hi]))
    return int(strong.min(initial=seed)), int(strong.max(initial=seed))


def fit_passage(x: np.ndarray, times: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """Weighted straight-line fit of passage time against a law's coordinate, with one outlier pass.

    Returns (rate, time at the weighted mean x, weighted RMS residual in samples).
    """
    keep = np.ones(x.size, dtype=bool)
    rate = intercept = residual = 0.0
    for _ in range(2):
        w, xk, tk = weights[keep], x[keep], times[keep]
        mean_x, mean_t = np.average(xk, weights=w), np.average(tk, weights=w)
        spread = np.average((xk - mean_x) ** 2, weights=w)
        rate = float(np.average((xk - mean_x) * (tk - mean_t), weights=w) / spread) if spread > 0 else 0.0
        intercept = float(mean_t - rate * mean_x)
        misfit = times - (intercept + rate * x)
        residual = float(np.sqrt(np.average(misfit[keep] ** 2, weights=w)))
        keep = np.abs(misfit) <= max(2.0, 3.0 * residual)
        if keep.sum() < _MIN_FIT_BLOCKS:
            break
    x_mean = float(np.average(x, weights=weights))
    return rate, intercept + rate * x_mean, residual


def _choose_law(fits: dict[str, tuple[float, Track]], time_step_s: float) -> Track:
    """The law with the smaller misfit; the type III law when its speed is plausible for a type III
    (0.5-2 times the law's) and it fits nearly as well, since a straight line fitted to part of a
    curved type III gives the wrong drift away from the middle of that part."""
    (linear_misfit, linear), (curve_misfit, curve) = fits["linear"], fits["type_iii"]
    speed = 1 / (curve.rate * TYPE_III_INDEX * TYPE_III_RATE * time_step_s) if curve.rate > 0 else 0.0
    if 0.5 <= speed <= 2.0 and curve_misfit <= _LAW_TOLERANCE * linear_misfit:
        return curve
    return linear if linear_misfit <= curve_misfit else curve


def measure(maps: ChunkMaps, track: Track, seed: slice, extent_snr: float) -> dict[str, Any]:
    """One burst from a detection through channels ``seed``: region, extent, track, peak and time span."""
    values, counts, freq_hz, x = maps.values, maps.counts, maps.freq_hz, maps.x
    n_t, n_f = values.shape
    region = burst_region(track_footprint((n_t, n_f), track, x[track.law], seed), maps.components)
    block = int(np.clip((seed.stop - seed.start) // 4, 1, max(1, n_f // 64)))
    # Passage times come from short windows (a long one delays a fast-rising, slowly decaying
    # burst); a block peaking at either end of the chunk is cut there, and its time is not the passage.
    timing_width = min(track.width, _TIMING_WIDTH)
    (_, snr), (times, timing_snr) = block_peaks(values, counts, region, block, (track.width, timing_width))
    lo = seed.start // block
    hi = max(lo + 1, -(-seed.stop // block))
    first, last = grow_extent(snr, lo + int(np.argmax(snr[lo:hi])), extent_snr)
    extent = slice(first * block, min(n_f, (last + 1) * block))
    used = np.arange(first, last + 1)
    edge = (timing_width - 1) / 2
    used = used[
        (snr[used] >= extent_snr)
        & (timing_snr[used] > 0)
        & (times[used] > edge)
        & (times[used] < n_t - 1 - edge)
    ]
    if used.size >= _MIN_FIT_BLOCKS and np.ptp(times[used]) >= 2:
        centre_hz = np.array([freq_hz[b * block : (b + 1) * block].mean() for b in used])
        fits = {}
        for law in LAWS:
            xb = law_coordinate(law, centre_hz)
            rate, t_mean, residual = fit_passage(xb, times[used], timing_snr[used])
            x_mean = float(np.average(xb, weights=timing_snr[used]))
            fits[law] = (residual, Track(law, rate, t_mean - edge, x_mean, track.width))
        track = _choose_law(fits, maps.time_step_s)
    region |= track_footprint((n_t, n_f), track, x[track.law], extent)
    inside = np.zeros_like(region)
    inside[:, extent] = region[:, extent]
    if not inside.any():  # the track left the chunk over its extent: keep the detection's own pixels
        inside[:, seed] = True
    t_peak, c_peak = np.unravel_index(np.argmax(np.where(inside, maps.smoothed, -np.inf)), inside.shape)
    rows = np.flatnonzero(inside.any(axis=1))
    return {
        "track": track,
        "extent": extent,
        "region": region,
        "peak_time": int(t_peak),
        "peak_channel": int(c_peak),
        "time_range": (int(rows.min()), int(rows.max()) + 1),
        "onset_time": onset(values, counts, region, extent),
    }


def onset(values: np.ndarray, counts: np.ndarray, region: np.ndarray, extent: slice) -> int:
    """First sample at which the burst rises at the top of its band: where it begins.

    The top of the band is its highest ``1 / ONSET_BAND_FRACTION`` of the chunk's channels (fewer
    for a narrower burst), where a drifting burst appears first and which an earlier burst's
    decaying tail, merged into the region lower down, does not reach. Summed over those channels
    (all of them, not only the region's, so that a noise blob the region swallowed does not
    count), each sample is compared with the median of the ``ONSET_BASELINE`` samples before it;
    the onset is the first sample covered by the region there that rises by ``ONSET_SNR`` over
    them, or, with no such rise (a burst already in progress), the region's first sample there.
    A rise does not depend on the channel backgrounds, which two overlapping chunks estimate
    differently (a long burst raises its chunk's), so both find the same onset from the samples
    they share: this is what decides which of them reports the burst.
    """
    n_top = max(1, values.shape[1] // ONSET_BAND_FRACTION)
    top = slice(extent.start, min(extent.stop, extent.start + n_top))
    rows = np.flatnonzero(region[:, top].any(axis=1))
    if not rows.size:
        return 0
    first, stop = int(rows.min()), int(rows.max()) + 1
    count = counts[:, top].sum(axis=1)
    light = np.where(count > 0, values[:, top].sum(axis=1) / np.sqrt(np.maximum(count, 1)), np.nan)
    for t in range(max(first, 1), stop):
        before = light[max(0, t - ONSET_BASELINE) : t]
        before = before[np.isfinite(before)]
        if before.size and light[t] - np.median(before) >= ONSET_SNR:
            return t
    return first


__all__ = [
    "LAWS",
    "TYPE_III_INDEX",
    "TYPE_III_RATE",
    "ChunkMaps",
    "Track",
    "block_peaks",
    "burst_region",
    "drift_hz_per_s",
    "fit_passage",
    "grow_extent",
    "law_coordinate",
    "measure",
    "onset",
    "track_footprint",
]
