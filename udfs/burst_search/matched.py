"""The S/N of a measured burst, and whether a second burst inside a brighter one's region is a burst of its own.

**S/N** (the one the alert carries, ``matched_snr``): the matched-filter S/N at the detection
resolution. Along the burst's measured passage (the fitted track), each channel of its band
contributes its normalised excess (in units of that pixel's noise) summed over a window of w
samples; the S/N is that sum over the channels divided by its noise, the square root of the
number of valid pixels summed. The window's width w (1, 2, 4 ... 16 samples), its placement
against the passage (a few samples either way: a type III's window starts near its peak and runs
down its decay) and the part of the band (a contiguous run of blocks of channels within the
measured extent) are those that maximise it. The evaluation (udfs/training/burst_search_eval.py
``detection_snr``) computes the same on a noiseless injected event, each channel's window on its
own peak, so that measured / expected is 1 but for noise.

**Separate bursts** (``separated``): a burst found inside the region of one found before it is
its own burst only if, along its own track, its light stands above a valley that separates it from
the earlier burst's ridge; a type III's decay falls steadily away from its ridge, with no valley.

>>> import numpy as np
>>> values = np.zeros((16, 8)); values[5, 2:6] = 3.0      # 4 channels, one sample, 3 sigma each
>>> cumulative = np.zeros((2, 17, 8))
>>> cumulative[0, 1:], cumulative[1, 1:] = values.cumsum(0), np.arange(1, 17)[:, None]
>>> m = matched_snr(cumulative, np.full(8, 5.0), slice(0, 8), 1, (1, 2, 4))
>>> round(m.snr, 2), m.width, (m.band.start, m.band.stop)
(6.0, 1, (2, 6))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BLOCKS = 64  # the band is chosen among contiguous runs of at most this many blocks
_OFFSETS_KEPT = 3  # window placements (best over the whole extent) for which the band is chosen
VALLEY_SNR = 5.0  # how far (standard errors of a pixel mean) both ridges stand above the valley
RISE_SNR = 3.5  # rise (S/N of one sample of a block of channels) after a valley: another ridge begins


@dataclass(frozen=True)
class Matched:
    """Best matched filter: S/N, window width, window start minus passage time (samples), channels summed."""

    snr: float
    width: int
    offset: float
    band: slice


def _window_sums(cumulative: np.ndarray, starts: np.ndarray, width: int, channels: np.ndarray) -> np.ndarray:
    """Sums of values and counts (2, ...) over ``width`` samples from ``starts`` (clipped to the chunk)."""
    n_t = cumulative.shape[1] - 1
    lo = np.clip(starts, 0, n_t)
    hi = np.clip(starts + width, 0, n_t)
    sums: np.ndarray = cumulative[:, hi, channels] - cumulative[:, lo, channels]
    return sums


def matched_snr(
    cumulative: np.ndarray, centres: np.ndarray, extent: slice, block: int, widths: tuple[int, ...]
) -> Matched:
    """Matched-filter S/N along passage times ``centres`` (one per channel of ``extent``, fractional samples).

    ``cumulative`` is (2, n_t + 1, n_f): cumulative sums over time of normalised values and valid
    counts. Bands are whole blocks of ``block`` channels (enlarged to at most ``MAX_BLOCKS`` blocks).
    """
    n_t = cumulative.shape[1] - 1
    channels = np.arange(extent.start, extent.stop)
    block = max(block, -(-channels.size // MAX_BLOCKS))
    n_blocks = -(-channels.size // block)
    best = Matched(-np.inf, widths[0], -(widths[0] - 1) / 2, extent)
    for width in widths:
        if width > n_t:
            break
        offsets = -(width - 1) / 2 + np.arange(-(width // 2) - 1, width // 2 + 2)
        starts = np.rint(centres[None, :] + offsets[:, None]).astype(np.int64)
        window = _window_sums(cumulative, starts, width, channels)
        whole = window[0].sum(axis=1) / np.sqrt(np.maximum(window[1].sum(axis=1), 1))
        best_offsets = np.sort(np.argsort(-whole)[:_OFFSETS_KEPT])  # the band is chosen for these only
        offsets, window = offsets[best_offsets], window[:, best_offsets]
        sums = np.zeros((2, offsets.size, n_blocks * block))
        sums[..., : channels.size] = window
        prefix = np.zeros((2, offsets.size, n_blocks + 1))
        np.cumsum(sums.reshape(2, offsets.size, n_blocks, block).sum(axis=3), axis=2, out=prefix[..., 1:])
        total = prefix[:, :, None, :] - prefix[:, :, :, None]  # [., offset, i, j]: blocks i .. j - 1
        snr = np.where(total[1] > 0.5, total[0] / np.sqrt(np.maximum(total[1], 1)), -np.inf)
        k, i, j = np.unravel_index(int(np.argmax(snr)), snr.shape)
        if snr[k, i, j] > best.snr:
            band = slice(extent.start + int(i) * block, min(extent.stop, extent.start + int(j) * block))
            best = Matched(float(snr[k, i, j]), width, float(offsets[k]), band)
    return best


def separated(
    cumulative: np.ndarray, starts: np.ndarray, width: int, delay: np.ndarray, channels: np.ndarray
) -> bool:
    """Whether a burst whose windows start at ``starts`` (on ``channels``) is apart from an earlier ridge.

    ``delay`` is, per channel, the earlier burst's passage minus this one's (samples). Along this
    burst's own track shifted by every delay between the two, the mean normalised excess must dip
    between them: both ridges stand ``VALLEY_SNR`` standard errors above the lowest point between.
    """
    if not channels.size:
        return True
    shift = int(np.rint(np.median(delay)))
    if abs(shift) < 2:
        return False
    taus = np.arange(min(shift, 0), max(shift, 0) + 1)
    sums = _window_sums(cumulative, starts[None, :] + taus[:, None], width, channels).sum(axis=2)
    count = np.maximum(sums[1], 1.0)
    mean = np.where(sums[1] > 0, sums[0] / count, np.nan)
    ends = [0, taus.size - 1]
    inner = np.arange(1, taus.size - 1)
    inner = inner[np.isfinite(mean[inner])]
    if not inner.size or not np.isfinite(mean[ends]).all():
        return False
    low = int(inner[np.argmin(mean[inner])])
    depth = mean[ends] - mean[low]
    noise = np.sqrt(1 / count[ends] + 1 / count[low])
    return bool(np.all(depth >= VALLEY_SNR * noise))


def own_pixels(
    values: np.ndarray, counts: np.ndarray, region: np.ndarray, centres: np.ndarray, extent: slice, block: int
) -> np.ndarray:
    """The burst's own pixels over ``extent``: per block, its :func:`slopes` around its passage ``centres``.

    Each channel's light is first shifted by its passage relative to its block's, so that the
    block's light curve follows the burst's track and two ridges a few samples apart stay apart.
    """
    n_t, n_f = values.shape
    channels = np.arange(extent.start, extent.stop)
    n_blocks = -(-channels.size // block)
    padded = np.full(n_blocks * block, np.nan)
    padded[: channels.size] = centres
    reference = np.rint(np.nanmean(padded.reshape(n_blocks, block), axis=1)).astype(np.int64)
    shift = np.rint(centres).astype(np.int64) - np.repeat(reference, block)[: channels.size]
    rows = np.arange(n_t)[:, None] + shift[None, :]
    inside = (rows >= 0) & (rows < n_t)
    rows = np.clip(rows, 0, n_t - 1)
    keep = inside & region[rows, channels]
    both = np.zeros((2, n_t, n_blocks * block))
    both[0, :, : channels.size] = np.where(keep, values[rows, channels], 0)
    both[1, :, : channels.size] = np.where(keep, counts[rows, channels], 0)
    light = both.reshape(2, n_t, n_blocks, block).sum(axis=3)
    low, high = slopes(light, reference, np.arange(n_blocks))
    low = np.repeat(low, block)[: channels.size] + shift
    high = np.repeat(high, block)[: channels.size] + shift
    pixels = np.zeros((n_t, n_f), dtype=bool)
    t = np.arange(n_t)[:, None]
    pixels[:, extent] = (t >= low) & (t <= high)
    return pixels


def slopes(light: np.ndarray, rows: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block of ``blocks``, the samples from which its light falls away on both sides of ``rows``.

    From the burst's passage in each block, its light curve is followed forward and backward while
    it does not rise again by ``RISE_SNR`` (S/N of one sample of the block) over the lowest point
    passed, nor sink into the noise: the first and last samples reached, a valley before another
    ridge or where the burst fades. These are the burst's own pixels (its ridge, its rise and
    decay), which hide the detections of its decay but not those of a second burst beyond a valley.
    """
    n_t = light.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(light[1][:, blocks] > 0, light[0][:, blocks] / np.sqrt(light[1][:, blocks]), np.nan)
    start = np.clip(rows, 0, n_t - 1)
    columns = np.arange(blocks.size)
    first = snr[start, columns]
    first = np.where(np.isfinite(first), first, np.inf)
    steps = np.arange(1, n_t)[:, None]
    ends = []
    for step in (-1, 1):
        at = start + step * steps  # the samples reached, step by step
        inside = (at >= 0) & (at < n_t)
        value = np.where(inside, snr[np.clip(at, 0, n_t - 1), columns], np.nan)
        lowest = np.fmin.accumulate(np.vstack([first, value]), axis=0)[:-1]  # lowest passed before
        with np.errstate(invalid="ignore"):
            rising = value - lowest >= RISE_SNR
            faded = value <= 1.0
            deeper = value < lowest
        lowest_at = np.maximum.accumulate(np.where(deeper, steps, 0), axis=0)
        lowest_at = np.vstack([np.zeros((1, blocks.size), dtype=lowest_at.dtype), lowest_at[:-1]])
        stop = rising | faded | ~inside
        k = stop.argmax(axis=0)  # row of the first stop (k + 1 steps from the start)
        reached = np.where(rising[k, columns], lowest_at[k, columns], np.where(faded[k, columns], k + 1, k))
        reached = np.where(stop.any(axis=0), reached, n_t - 1)
        ends.append(np.clip(start + step * reached, 0, n_t - 1))
    return ends[0], ends[1]


__all__ = ["MAX_BLOCKS", "RISE_SNR", "VALLEY_SNR", "Matched", "matched_snr", "own_pixels", "separated", "slopes"]
