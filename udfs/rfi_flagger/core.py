"""RFI flagger for one chunk of a dynamic spectrum that spares solar and Jovian bursts.

A plain SumThreshold flagger (AOFlagger) flags anything that stands out from a smooth background,
bursts included. Here the broker blanks flagged pixels before the burst detector runs, so every
test looks for a shape that RFI has and bursts lack. Most work on the *narrowband residual*: the
power over a frequency-smooth model of the same instant, minus 1, which cancels broadband
emission (type III, S-burst trains) and the band shape.

1. **Lost samples** (NaN) are flagged.
2. **Channel statistics**: a channel whose residual has a median over the chunk far above 0 is
   persistent narrowband RFI; one whose relative spread is several times its neighbours' (or 0)
   is intermittent RFI or a dead channel.
3. **Impulses**: a sample whose band-averaged power jumps many sigma above the samples on both
   sides, with the jump in every sub-band (flat, no drift), is flagged as a whole row. At one
   instant a type III lights only the part of the band its front has reached.
4. **Intermittent lines** (recurrence.py): a channel that lights up in two or more separate
   narrowband events (at least ``recurrence_gap_s`` apart) while the channels around it stay
   quiet is a transmitter keyed on and off: flagged for the whole chunk, with the neighbours
   that rise with it. Spikes scatter in frequency, striae and S-bursts drift.
5. **SumThreshold** (Offringa et al. 2010) in time and frequency, windows 1..32, on the residual
   over each channel's own median level (a band with dB steps between channels, as e-CALLISTO's,
   then hides nothing); the flags are closed along time with the scale-invariant rank operator
   (Offringa et al. 2012) and kept only in runs of at least ``min_narrowband_duration_s``: spikes
   (< 0.3 s), S-bursts (tens of ms) and type IIIb striae (< 1 s) are narrowband but short.

>>> rng = np.random.default_rng(0)
>>> spectra = rng.gamma(256, 1 / 256, size=(64, 128)).astype("f4")
>>> spectra[:, 40] *= 1.5       # a persistent narrowband channel
>>> spectra[20] += 0.3          # a broadband impulse
>>> spectra[50, :8] = np.nan    # lost samples
>>> mask = flag_rfi(spectra, time_step_s=0.084)
>>> bool(mask[:, 40].all()), bool(mask[20].all()), bool(mask[50, :8].all()), round(float(mask.mean()), 3)
(True, True, True, 0.024)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from nenubroker.udfs.rfi_flagger.recurrence import flag_recurrent

MODULE_NAME = "rfi_flagger"
MODULE_VERSION = "1.1.0"

#: The Gaussian MAD-to-sigma factor.
_MAD_TO_SIGMA = 1.4826


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x MAD of the finite values: a noise sigma that bright RFI and bursts barely move."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan")
    return float(_MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """np.nanmedian, but np.median (much faster on small arrays) when nothing is NaN."""
    return np.nanmedian(values, axis=axis) if np.isnan(values).any() else np.median(values, axis=axis)


def column_quantiles(values: np.ndarray, quantiles: Sequence[float]) -> list[np.ndarray]:
    """Quantiles of each column's finite values (midpoint of the two nearest order statistics).

    Partitions when nothing is lost, which is several times faster than np.median; sorts (NaN
    last) otherwise. All-NaN columns give NaN.
    """
    n_valid = np.isfinite(values).sum(axis=0)
    n = values.shape[0]
    if (n_valid == n).all():
        ranks = [(n - 1) * q for q in quantiles]
        kth = sorted({math.floor(r) for r in ranks} | {math.ceil(r) for r in ranks})
        part = np.partition(values, kth, axis=0)
        return [0.5 * (part[math.floor(r)] + part[math.ceil(r)]) for r in ranks]
    ordered = np.sort(values, axis=0)
    last = np.maximum(n_valid - 1, 0)
    out = []
    for q in quantiles:
        low = np.take_along_axis(ordered, np.floor(last * q).astype(int)[None, :], axis=0)[0]
        high = np.take_along_axis(ordered, np.ceil(last * q).astype(int)[None, :], axis=0)[0]
        out.append(np.where(n_valid > 0, 0.5 * (low + high), np.nan))
    return out


def median_with_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column medians and their standard errors, from the order statistics around the median.

    The distribution-free interval grows where the median sits in a sparse gap, as when a burst
    covers about half of a channel's samples, so such channels do not look significant.
    """
    n = max(int(np.isfinite(values).sum(axis=0).max(initial=0)), 1)
    half_width = 0.5 / math.sqrt(n)
    low, median, high = column_quantiles(values, [0.5 - half_width, 0.5, 0.5 + half_width])
    return median, (high - low) / (4 * half_width * math.sqrt(n))


def neighbour_median(values: np.ndarray, window: int) -> np.ndarray:
    """The median of the ``window`` channels around each one (NaN ignored), as a reference level."""
    if values.size < 3:
        return values.copy()
    half = max(1, min(window // 2, values.size - 1))
    windows = sliding_window_view(np.pad(values, half, mode="reflect"), 2 * half + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(windows, axis=1) if np.isnan(values).any() else np.median(windows, axis=1)


def narrowband_residual(spectra: np.ndarray, block_channels: int,
                        model_error_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Power over a frequency-smooth model of the same instant, minus 1, and that model's error.

    The model is the median of each block of ``block_channels`` channels, linearly interpolated
    (and extrapolated at the band edges). Broadband emission and the band shape go; features
    narrower than about half a block stay. Being relative, the residual's noise stays uniform under
    bright bursts, where radiometer noise grows with the power. Where the model bends sharply (the
    edge of a bright burst) interpolation misses: its error is taken as ``model_error_factor``
    times the second difference of the block medians, relative to the model. NaN must be filled.
    """
    n_time, n_freq = spectra.shape
    block = max(1, min(block_channels, n_freq))
    n_blocks = -(-n_freq // block)
    padded = np.pad(spectra, ((0, 0), (0, n_blocks * block - n_freq)), mode="edge")
    part = np.partition(padded.reshape(n_time, n_blocks, block), [(block - 1) // 2, block // 2], axis=2)
    medians = 0.5 * (part[:, :, (block - 1) // 2] + part[:, :, block // 2])
    if n_blocks < 3:
        model = np.broadcast_to(np.median(medians, axis=1, keepdims=True), spectra.shape)
        bend = np.zeros_like(spectra)
    else:
        position = (np.arange(n_freq) - (block - 1) / 2) / block
        left = np.clip(np.floor(position).astype(int), 0, n_blocks - 2)
        fraction = (position - left).astype(np.float32)
        model = medians[:, left] * (1 - fraction) + medians[:, left + 1] * fraction
        curvature = np.abs(medians[:, 2:] - 2 * medians[:, 1:-1] + medians[:, :-2])
        curvature = np.pad(curvature, ((0, 0), (1, 1)), mode="edge")
        bend = np.maximum(curvature[:, left], curvature[:, left + 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse = 1 / np.where(model > 0, model, np.nan)
        return spectra * inverse - 1, model_error_factor * bend * inverse


def flag_channels(level: np.ndarray, level_error: np.ndarray, spread: np.ndarray, window: int,
                  level_sigma: float, spread_sigma: float, spread_factor: float) -> np.ndarray:
    """Persistent narrowband RFI and dead channels, from per-channel statistics over the chunk.

    ``level`` is the median of a channel's narrowband residual: flagged when above ``level_sigma``
    times the robust sigma across channels (or the channel's own ``level_error`` if larger).
    ``spread`` is the relative spread (sigma over median): flagged when more than
    ``spread_factor`` times (or less than 1 / ``spread_factor`` of) the neighbours' and
    ``spread_sigma`` out, or when 0 (a dead channel).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        dead = spread <= 0
        scale = np.maximum(robust_sigma(level), level_error)
        flags = dead | (level > level_sigma * scale)
        log_spread = np.where(np.isfinite(spread) & ~dead, np.log(spread), np.nan)
    if np.isfinite(log_spread).sum() < 3:
        return flags
    deviation = log_spread - neighbour_median(log_spread, window)
    limit = max(math.log(spread_factor), spread_sigma * robust_sigma(deviation))
    with np.errstate(invalid="ignore"):
        return flags | (np.abs(deviation) > limit)


def flag_impulses(ratio: np.ndarray, channel_flags: np.ndarray, n_subbands: int, time_window: int,
                  impulse_sigma: float, subband_sigma: float, flatness: float) -> np.ndarray:
    """Rows of a broadband impulse: a flat jump, in every sub-band, above the samples on both sides.

    ``ratio`` is the power over its channel median. For the band and each of ``n_subbands``
    sub-bands, the mean power of a sample is compared with the mean of the medians of the
    ``time_window // 2`` samples before and of those after it: a rise or decay lasting seconds
    (type III) passes through that level, an impulse stands above both sides. A row is flagged
    when the band's relative jump is ``impulse_sigma`` up, every sub-band's ``subband_sigma`` up
    (robust sigma over the chunk), and the weakest sub-band's at least ``flatness`` of the median
    one. A sample next to a gap of lost samples, with no side to compare with, is not flagged.
    """
    n_time, n_freq = ratio.shape
    if n_time < 3:
        return np.zeros(n_time, dtype=bool)
    valid = np.isfinite(ratio) & ~channel_flags[None, :]
    filled = np.where(valid, ratio, 0.0)
    starts = np.linspace(0, n_freq, min(n_subbands, n_freq) + 1).astype(int)[:-1]
    sums = np.add.reduceat(filled, starts, axis=1)
    counts = np.add.reduceat(valid, starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        profiles = np.column_stack([sums.sum(axis=1) / counts.sum(axis=1), sums / counts])
    half = max(1, min(time_window // 2, n_time - 1))
    sides = sliding_window_view(np.pad(profiles, ((half, half), (0, 0)), mode="reflect"), half, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = 0.5 * (_nanmedian(sides[:n_time], axis=2) + _nanmedian(sides[half + 1:], axis=2))
        jump = (profiles - reference) / reference
        jump -= _nanmedian(jump, axis=0)
        significance = jump / (_MAD_TO_SIGMA * _nanmedian(np.abs(jump), axis=0))
        subbands = np.where(np.isnan(significance[:, 1:]), np.inf, significance[:, 1:])
        weakest = np.min(np.where(np.isnan(jump[:, 1:]), np.inf, jump[:, 1:]), axis=1)
        typical = _nanmedian(jump[:, 1:], axis=1)
        return ((significance[:, 0] > impulse_sigma) & (subbands > subband_sigma).all(axis=1)
                & (weakest >= flatness * typical))


def sum_threshold(values: np.ndarray, flags: np.ndarray, windows: Sequence[int], first_threshold: float,
                  rho: float = 1.5, axes: Sequence[int] = (0, 1)) -> np.ndarray:
    """SumThreshold: flag windows whose mean exceeds chi_N = chi_1 / rho^log2(N), along each axis.

    For each window size in turn, both directions run, as in AOFlagger. One-sided (RFI adds
    power). As in Offringa et al. (2010), samples flagged by a smaller window count as the current
    threshold, so one bright short burst does not spread into the wide windows; ``flags`` (lost or
    otherwise flagged data) count as zero and are never added. Returns the new flags.
    """
    base = np.where(flags | ~np.isfinite(values), np.float32(0.0), values.astype(np.float32, copy=False))
    allowed = ~flags
    found = np.zeros(values.shape, dtype=bool)
    for window in windows:
        threshold = np.float32(first_threshold / rho ** math.log2(window))
        for axis in axes if window > 1 else axes[:1]:
            if window > values.shape[axis]:
                continue
            current = np.where(found, threshold, base) if found.any() else base
            if window == 1:
                hits = current > threshold
            else:
                mean = ndimage.uniform_filter1d(current, window, axis=axis, mode="constant")
                hits = ndimage.maximum_filter1d(mean > threshold, window, axis=axis, mode="constant",
                                                origin=-1 if window % 2 == 0 else 0)
            found |= hits & allowed
    return found


def scale_invariant_rank(flags: np.ndarray, eta: float) -> np.ndarray:
    """Scale-invariant rank operator along axis 0 (Offringa et al. 2012).

    Flags a sample when some interval around it is at least (1 - eta) flagged: it closes gaps in
    intermittent RFI in proportion to the flagged stretches around them.
    """
    closed = flags.copy()
    columns = np.flatnonzero(flags.any(axis=0))
    if columns.size == 0:
        return closed
    weights = np.where(flags[:, columns], -eta, 1.0 - eta)
    prefix = np.concatenate([np.zeros((1, columns.size)), np.cumsum(weights, axis=0)])
    left_max = np.maximum.accumulate(prefix[:-1], axis=0)
    right_min = np.minimum.accumulate(prefix[:0:-1], axis=0)[::-1]
    closed[:, columns] = right_min <= left_max + 1e-9
    return closed


def keep_long_runs(flags: np.ndarray, min_samples: int) -> np.ndarray:
    """Flags in runs of at least ``min_samples`` along axis 0 (a morphological opening)."""
    columns = np.flatnonzero(flags.any(axis=0))
    kept = np.zeros_like(flags)
    if columns.size == 0 or min_samples > flags.shape[0]:
        return kept
    size = min_samples | 1  # odd, so erosion and dilation stay centred on each other
    eroded = ndimage.minimum_filter1d(flags[:, columns], size, axis=0, mode="constant", cval=0)
    kept[:, columns] = ndimage.maximum_filter1d(eroded, size, axis=0, mode="constant", cval=0)
    return kept


def flag_narrowband(residual: np.ndarray, flags: np.ndarray, min_samples: int, sumthreshold_sigma: float,
                    sumthreshold_rho: float, windows: Sequence[int], sir_eta: float) -> np.ndarray:
    """Narrowband RFI that lasts: SumThreshold on the residual, closed, then gated by duration.

    SumThreshold runs in time and frequency for each window size in turn, as AOFlagger does, on
    the residual in units of its robust sigma; runs shorter than ``min_samples`` are dropped.
    """
    scale = robust_sigma(np.where(flags, np.nan, residual)[:, ::3])
    if not (np.isfinite(scale) and scale > 0):
        return np.zeros_like(flags)
    found = sum_threshold(residual / np.float32(scale), flags, windows, sumthreshold_sigma, sumthreshold_rho)
    return keep_long_runs(scale_invariant_rank(found, sir_eta), min_samples)


def flag_rfi(
    spectra: np.ndarray,
    time_step_s: float,
    freq_hz: np.ndarray | None = None,
    *,
    sumthreshold_sigma: float = 6.0,
    sumthreshold_rho: float = 1.5,
    windows: Sequence[int] = (1, 2, 4, 8, 16, 32),
    narrowband_block_channels: int = 8,
    model_error_factor: float = 0.5,
    min_narrowband_duration_s: float = 2.5,
    sir_eta: float = 0.2,
    channel_window: int = 15,
    channel_level_sigma: float = 6.0,
    channel_spread_sigma: float = 6.0,
    channel_spread_factor: float = 3.0,
    impulse_sigma: float = 8.0,
    impulse_subbands: int = 8,
    impulse_subband_sigma: float = 3.0,
    impulse_flatness: float = 0.25,
    impulse_time_window: int = 7,
    recurrence_sigma: float = 6.0,
    recurrence_events: int = 2,
    recurrence_gap_s: float = 1.0,
    recurrence_block_channels: int = 32,
    recurrence_group_channels: int = 3,
) -> np.ndarray:
    """RFI mask of one (n_time, n_freq) chunk of Stokes I power: True = flagged, NaN always flagged.

    ``time_step_s`` (s) turns ``min_narrowband_duration_s`` into samples; ``freq_hz`` (Hz), when
    given, orders the channels so that neighbours are neighbours in frequency. Thresholds are in
    robust sigma; see the module docstring and README.md for the method.
    """
    data = np.asarray(spectra, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"spectra must be (n_time, n_freq), got shape {data.shape}")
    order = None
    if freq_hz is not None and data.shape[1] > 1 and bool(np.any(np.diff(np.asarray(freq_hz)) < 0)):
        order = np.argsort(np.asarray(freq_hz), kind="stable")
        data = data[:, order]
    lost = ~np.isfinite(data)
    median, mad, filled = _channel_medians(data, lost)
    residual, model_error = narrowband_residual(filled, narrowband_block_channels, model_error_factor)
    residual[lost] = np.nan
    noise = robust_sigma(residual[:, ::3])
    if not (np.isfinite(noise) and noise > 0):  # nothing to measure against: flag what is lost or dead
        mask = lost | ~(mad > 0)[None, :]
        return mask if order is None else mask[:, np.argsort(order)]
    transient, transient_error = _transient_residual(residual, model_error)
    residual /= np.sqrt(noise**2 + model_error**2)
    level, level_error = median_with_error(residual)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(median > 0, _MAD_TO_SIGMA * mad / median, np.where(np.isnan(median), np.nan, 0.0))
        ratio = data / np.where(median > 0, median, np.nan).astype(np.float32)
    channels = flag_channels(level, level_error, spread, channel_window, channel_level_sigma,
                             channel_spread_sigma, channel_spread_factor)
    rows = flag_impulses(ratio, channels, impulse_subbands, impulse_time_window, impulse_sigma,
                         impulse_subband_sigma, impulse_flatness) | lost.all(axis=1)
    if recurrence_events > 0:
        channels |= flag_recurrent(data, rows, time_step_s, event_sigma=recurrence_sigma,
                                   min_events=recurrence_events, gap_s=recurrence_gap_s, window=channel_window,
                                   block_channels=recurrence_block_channels,
                                   group_channels=recurrence_group_channels, model_error_factor=model_error_factor)
    prior = lost | channels[None, :] | rows[:, None]
    narrowband = np.zeros_like(prior)
    kept = np.flatnonzero(~rows)  # flagged rows leave the time axis: they neither add to nor break runs
    noise = robust_sigma(transient[:, ::3])
    if kept.size and np.isfinite(noise) and noise > 0:
        centred = (transient / np.sqrt(noise**2 + transient_error**2))[kept]
        min_samples = max(1, math.ceil(min_narrowband_duration_s / time_step_s))
        narrowband[kept] = flag_narrowband(centred, prior[kept], min_samples, sumthreshold_sigma,
                                           sumthreshold_rho, windows, sir_eta)
    mask = prior | narrowband
    return mask if order is None else mask[:, np.argsort(order)]


def _transient_residual(residual: np.ndarray, model_error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The narrowband residual over each channel's median over the chunk, minus 1, and its model error alike.

    The frequency-smooth model misses a band with sharp structure (e-CALLISTO's coarse, irregular
    channels differ by several dB): the power over the model then has a different static level in
    each channel, and the model's bend (its error) is large everywhere. Dividing each channel by its
    median over time takes that static part out, so transient narrowband RFI is measured against the
    channel's own level, in units of the radiometer noise. NaN stays NaN.
    """
    [ratio] = column_quantiles(residual + 1, [0.5])
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse = (1 / np.where(ratio > 0, ratio, np.nan)).astype(np.float32)
    error = model_error * inverse
    return (residual + 1) * inverse - 1, np.where(np.isfinite(error), error, np.float32(0.0))


def _channel_medians(data: np.ndarray, lost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel medians and MADs over the chunk, and the data with lost samples set to their median."""
    [median] = column_quantiles(data, [0.5])
    [mad] = column_quantiles(np.abs(data - median), [0.5])
    if not lost.any():
        return median, mad, data
    fill = np.where(np.isfinite(median), median, np.nanmedian(median) if np.isfinite(median).any() else 1.0)
    return median, mad, np.where(lost, fill.astype(np.float32), data)


def flagged_fraction(mask: np.ndarray) -> float:
    """Fraction of pixels flagged (lost samples included): what the detector will not see."""
    return float(np.mean(mask)) if mask.size else 0.0


__all__ = ["MODULE_NAME", "MODULE_VERSION", "column_quantiles", "flag_channels", "flag_impulses",
           "flag_narrowband", "flag_rfi", "flagged_fraction", "keep_long_runs", "median_with_error",
           "narrowband_residual", "neighbour_median", "robust_sigma", "scale_invariant_rank", "sum_threshold"]
