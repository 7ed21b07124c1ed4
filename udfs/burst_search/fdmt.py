"""Drift-rate search by the fast dispersion measure transform (FDMT), for straight and type III tracks.

A burst drifting to lower frequency reaches each channel later. Along a track whose delay is
linear in a coordinate ``x`` (``x = -f`` for straight drifts, ``x = f^-0.84`` for the type III
law), the FDMT of Zackay & Ofek (2017, ApJ 835, 11) sums a dynamic spectrum over every dyadic
sub-band, every delay ``D`` (in samples, first to last bin of the sub-band) and every arrival time,
by merging pairs of sub-bands level by level: ``n_t * (D_max + n_bins) * log2(n_bins)`` additions
instead of one gather per track. Every level is also a search level: one bin (narrowband spikes)
up to the whole band (broadband type III), so the frequency scale comes for free.

The sum and the number of valid pixels are carried together, so that lost or flagged pixels
(NaN) neither add signal nor dilute it: a track's statistic is sum / sqrt(count), which is unit
Gaussian noise for a normalised spectrum, and its scale is then re-measured robustly per level
and boxcar width (correlated noise, median offsets).

>>> import numpy as np
>>> data = np.zeros((2, 4, 8), "f4"); data[1] = 1
>>> data[0, [0, 1, 2, 3], [1, 2, 3, 4]] = 1      # one sample later per bin: D = 3 across 4 bins
>>> top = list(fdmt_levels(data, max_slope=1.0, max_delay=8))[-1]
>>> float(top[0, 0, 3, 1]), int(top[1, 0, 3, 1])
(4.0, 4)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_SIGMA_SAMPLES = 2048  # entries sampled for the noise scale of one level and width (~2 % error)


@dataclass(frozen=True)
class Binning:
    """Channels (sorted from high to low frequency) grouped into bins uniform in ``x``.

    ``first_channel[b]`` .. ``first_channel[b + 1]`` are the channels of bin ``b`` (possibly none).
    ``x0`` is the coordinate of bin 0 and ``step`` the bin width, in the units of ``x``.
    """

    first_channel: np.ndarray
    x0: float
    step: float

    @property
    def n_bins(self) -> int:
        return int(self.first_channel.size - 1)


def make_binning(x: np.ndarray, step: float) -> Binning:
    """Bins of width ``step`` from the first channel's ``x``; ``x`` must not decrease."""
    index = np.rint((x - x[0]) / step).astype(np.int64)
    first = np.searchsorted(index, np.arange(int(index[-1]) + 2), side="left")
    return Binning(first_channel=first.astype(np.int64), x0=float(x[0]), step=float(step))


def rebin(values: np.ndarray, counts: np.ndarray, binning: Binning) -> np.ndarray:
    """Sum (n_t, n_chan) values and counts into an FDMT input (2, n_bins_padded, n_t), float32.

    Bins are padded with empty ones up to a power of two, below the band.
    """
    n_t = values.shape[0]
    n_padded = 1 << max(0, int(np.ceil(np.log2(binning.n_bins))))
    out = np.zeros((2, n_padded, n_t), dtype=np.float32)
    starts = binning.first_channel[:-1]
    filled = np.flatnonzero(np.diff(binning.first_channel) > 0)
    if values.shape[1] == binning.n_bins and filled.size == binning.n_bins:
        out[0, : binning.n_bins] = values.T
        out[1, : binning.n_bins] = counts.T
        return out
    out[0, filled] = np.add.reduceat(values, starts[filled], axis=1).T
    out[1, filled] = np.add.reduceat(counts, starts[filled], axis=1).T
    return out


def fdmt_levels(data: np.ndarray, max_slope: float, max_delay: int) -> Iterator[np.ndarray]:
    """Yield, for sub-bands of 1, 2, 4, ... bins, an array (2, n_subbands, n_delays, n_t).

    ``data`` is (2, n_bins, n_t) with n_bins a power of two: sums and counts per bin, bin 0 the
    earliest-arriving (top) one. Entry [:, s, D, t] sums the sub-band ``s`` along the track that
    enters its first bin at sample ``t`` and its last bin at ``t + D``. Delays go up to
    ``max_slope`` samples per bin times (bins - 1), and never beyond ``max_delay``.
    """
    n_t = data.shape[2]
    state = data[:, :, None, :]
    yield state
    m = 1
    while 2 * m <= data.shape[1]:
        child_max = state.shape[2] - 1
        n_delays = min(max_delay, int(np.ceil(max_slope * (2 * m - 1)))) + 1
        delays = np.arange(n_delays)
        upper_delay = np.minimum(np.rint(delays * (m - 1) / (2 * m - 1)).astype(int), child_max)
        offset = np.rint(delays * m / (2 * m - 1)).astype(int)
        lower_delay = np.minimum(delays - offset, child_max)
        upper, lower = state[:, 0::2], state[:, 1::2]
        padded = np.concatenate([lower, np.zeros((*lower.shape[:3], int(offset.max())), np.float32)], axis=3)
        times = np.arange(n_t)[None, :] + offset[:, None]
        state = upper[:, :, upper_delay, :] + padded[:, :, lower_delay[:, None], times]
        m *= 2
        yield state


def robust_sigma(values: np.ndarray) -> float:
    """Noise scale from the negative half of a strided subsample: RMS about zero of the values
    below zero, clipped twice at 5 times the current estimate.

    The statistics searched are zero-mean and symmetric for noise, and bursts only add positive
    values: a bright type III lights up a third of a chunk's pixels, which would inflate any
    two-sided estimate (even the MAD) and hide the other bursts. ~1000 values give ~2 %.
    """
    flat = values.ravel()
    flat = flat[:: max(1, flat.size // _SIGMA_SAMPLES)].astype(np.float64)
    sigma = 1.0
    for _ in range(2):
        kept = flat[(flat < 0) & (flat > -5.0 * sigma)]
        if kept.size == 0:
            return float("nan")
        sigma = float(np.sqrt(np.mean(kept**2)))
    return sigma


@dataclass(frozen=True)
class Detections:
    """Local maxima in time above threshold at one level: arrays of sub-band, delay, time, width, S/N."""

    subband: np.ndarray
    delay: np.ndarray
    time: np.ndarray
    width: np.ndarray
    snr: np.ndarray
    sigma: dict[int, float]


def boxcars(values: np.ndarray, max_width: int, axis: int) -> Iterator[tuple[int, np.ndarray]]:
    """Sums over 1, 2, 4, ... ``max_width`` consecutive samples along ``axis``, by doubling."""
    width, total = 1, values
    while width <= min(max_width, values.shape[axis]):
        yield width, total
        head = [slice(None)] * total.ndim
        tail = list(head)
        head[axis], tail[axis] = slice(None, -width), slice(width, None)
        total = total[tuple(head)] + total[tuple(tail)]
        width *= 2


def _stride(width: int) -> int:
    return max(1, width // 2)


def track_norms(counts: np.ndarray, max_width: int) -> dict[int, np.ndarray]:
    """1 / sqrt(pixels) of every boxcar of a level's tracks, 0 where none is valid.

    ``counts`` is the count half (n_subbands, n_delays, n_t) of an FDMT level; the result, per
    width, is laid out as :func:`search_level` evaluates it: (n_delays, n_subbands, n_starts).
    Chunks without lost pixels all share these, so the caller can compute them once.
    """
    by_delay = np.ascontiguousarray(counts.transpose(1, 0, 2))
    norms = {}
    for width, total in boxcars(by_delay, max_width, axis=2):
        pixels = total[..., :: _stride(width)]
        norms[width] = np.where(pixels > 0, 1 / np.sqrt(np.maximum(pixels, 1)), 0).astype(np.float32)
    return norms


def search_level(values: np.ndarray, norms: dict[int, np.ndarray], threshold: float) -> Detections:
    """Boxcar each track over time, scale by the robust noise, keep local maxima above ``threshold``.

    ``values`` is the sum half (n_subbands, n_delays, n_t) of an FDMT level and ``norms`` its
    :func:`track_norms`. A boxcar of ``w`` samples is evaluated every ``max(1, w // 2)`` samples
    (a burst of that duration still fills at least 3/4 of one window). For each sub-band, the best
    (delay, width) at each time forms a profile; its local maxima over time and neighbouring
    sub-bands are the detections, so one burst gives few of them per level.
    """
    n_sub, _, n_t = values.shape
    by_delay = np.ascontiguousarray(values.transpose(1, 0, 2))  # the max over delays runs on rows
    best = np.full((n_sub, n_t), -np.inf, dtype=np.float32)
    best_width = np.zeros((n_sub, n_t), dtype=np.int64)
    statistics: dict[int, np.ndarray] = {}
    sigmas: dict[int, float] = {}
    for width, total in boxcars(by_delay, max(norms), axis=2):
        stride = _stride(width)
        statistic = total[..., ::stride] * norms[width]
        step = max(1, statistic.size // _SIGMA_SAMPLES)
        sigma = robust_sigma(statistic.ravel()[::step][norms[width].ravel()[::step] > 0])
        if not np.isfinite(sigma) or sigma <= 0:
            continue
        statistics[width], sigmas[width] = statistic, sigma
        peak = statistic.max(axis=0) / sigma
        view = (slice(None), slice(0, stride * peak.shape[1], stride))
        better = peak > best[view]
        best[view] = np.where(better, peak, best[view])
        best_width[view] = np.where(better, width, best_width[view])
    sub, time = np.nonzero(
        (best >= threshold) & (best >= ndimage.maximum_filter(best, 3, mode="constant", cval=-np.inf))
    )
    widths = best_width[sub, time]
    delay = np.zeros(sub.size, dtype=np.int64)
    for w in np.unique(widths):
        chosen = widths == w
        delay[chosen] = statistics[int(w)][:, sub[chosen], time[chosen] // _stride(int(w))].argmax(axis=0)
    return Detections(sub, delay, time, widths, best[sub, time], sigmas)


__all__ = [
    "Binning",
    "Detections",
    "boxcars",
    "fdmt_levels",
    "make_binning",
    "rebin",
    "robust_sigma",
    "search_level",
    "track_norms",
]
