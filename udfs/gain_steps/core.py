"""Receiver gain steps in one chunk: found, measured and given as the correction to divide out.

A gain step is a change of the receiver's gain: the level of every channel jumps at the same
instant by the same amount in dB, and stays. Per-chunk channel normalisation (the detector's)
sees it as a broadband onset lasting to the end of the chunk. Solar and Jovian bursts have none
of the three properties together: they add power (so their rise in dB depends on the
background of each channel), they drift (their onset differs across the band), and they decay.

1. Each sample is turned into dB and each channel's median over the chunk taken off. The median
   over all channels of what is left, per sample, is the *band profile*; the same over each of
   ``n_subbands`` sub-bands gives the sub-band profiles.
2. At each split, the step of a profile is the median of the ``window_samples`` samples after
   minus that of those before (medians: one impulse moves neither). The split with the largest
   significance (the band's step over its noise: the larger of the band profile's
   sample-to-sample scatter and the radiometer noise of a median of that many channels) is a
   candidate if it is ``step_sigma`` up and at least ``min_step_db``.
3. It is a gain step when it is **flat**: every sub-band steps within ``flat_tolerance`` of the
   band's step plus 4 sigma of that sub-band's radiometer noise (varying emission does not widen
   this), and by at least 3 of those sigma in the band's direction.
4. Found steps are taken off the profiles and the search repeats, up to ``max_steps`` steps at
   least ``window_samples`` apart; a candidate that fails is masked and the search goes on.
5. Each step must be **lasting**: over the rest of its segments (to the chunk's edges or the
   next steps) the median levels stay within ``lasting_tolerance`` of the step (plus 4 sigma) of
   the levels just before and after it. One that fails is put back and the others checked again.
6. The correction is the running sum of the steps, from the chunk's first sample. A sweeping
   receiver (e-CALLISTO measures its channels one after another in each 0.25 s sweep) can
   change gain in mid-sweep: then some channels step one sample later. For steps of at least 4
   times a channel's noise, each channel's own step sample (one before to one after the band's)
   is the one that best splits its samples there into the two levels.

>>> rng = np.random.default_rng(0)
>>> spectra = rng.gamma(200, 1 / 200, size=(64, 96)).astype("f4")
>>> spectra[40:] *= 10 ** (1.5 / 10)                  # +1.5 dB in every channel from sample 40
>>> [step] = find_gain_steps(spectra)
>>> step.sample, round(step.step_db, 1), gain_db(spectra)[[0, 39, 40, 63], 5].round(1).tolist()
(40, 1.5, [0.0, 0.0, 1.5, 1.5])
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MODULE_NAME = "gain_steps"
MODULE_VERSION = "1.0.0"

_MAD_TO_SIGMA = 1.4826
_MEDIAN_EFFICIENCY = 1.2533  # sigma of a median of n Gaussian samples: 1.2533 sigma / sqrt(n)
_SUBBAND_SIGMA = 4.0
_SUBBAND_STEP_SIGMA = 3.0  # every sub-band must step this many of its sigma, in the band's direction
_TRANSITION_SIGMA = 4.0  # steps this many channel sigma up get a per-channel step sample


@dataclass(frozen=True)
class GainStep:
    """A step of ``step_db`` dB between samples ``sample - 1`` and ``sample``, ``significance`` sigma."""

    sample: int
    step_db: float
    significance: float


def _median(values: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """NaN-ignoring median along ``axis`` (NaN where all are): np.median when nothing is NaN, else one
    sort (NaN last), both much faster than np.nanmedian on small axes."""
    if not np.isnan(values).any():
        return np.asarray(np.median(values, axis=axis, keepdims=keepdims))
    ordered = np.sort(values, axis=axis)
    count = np.isfinite(ordered).sum(axis=axis, keepdims=True)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0) // 2, axis=axis)
    high = np.take_along_axis(ordered, np.maximum(count, 1) // 2 - (count == 0), axis=axis)
    median = np.where(count > 0, 0.5 * (low + high), np.nan)
    return median if keepdims else np.squeeze(median, axis=axis)


def _robust_sigma(values: np.ndarray, axis: int = 0) -> np.ndarray:
    median = _median(values, axis, keepdims=True)
    return _MAD_TO_SIGMA * _median(np.abs(values - median), axis)


def _difference_sigma(profiles: np.ndarray) -> np.ndarray:
    """Noise of each column from its successive differences: a step, slow drift or burst barely moves it."""
    return _robust_sigma(np.diff(profiles, axis=0)) / math.sqrt(2)


def _white_noise(channel: np.ndarray, n_subbands: int) -> np.ndarray:
    """Radiometer noise of the band and sub-band profiles, from each ``channel``'s sample-to-sample
    noise: the median channel's over the square root of the channels each median takes. Unlike
    the profiles' own scatter, emission that varies over seconds does not raise it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = float(np.nanmedian(channel))
    edges = np.linspace(0, channel.size, min(n_subbands, channel.size) + 1).astype(int)
    counts = [np.isfinite(channel).sum()] + [np.isfinite(channel[lo:hi]).sum()
                                             for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    with np.errstate(divide="ignore"):
        return _MEDIAN_EFFICIENCY * typical / np.sqrt(np.asarray(counts, dtype=float))


def level_db(spectra: np.ndarray) -> np.ndarray:
    """10 log10 of the power, each channel's median over the chunk taken off; NaN where lost or not > 0."""
    power = np.asarray(spectra, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(power > 0, np.float32(10) * np.log10(np.where(power > 0, power, np.float32(1))), np.nan)
    return (level - _median(level, 0)).astype(np.float32)


def profiles_db(level: np.ndarray, n_subbands: int) -> np.ndarray:
    """(n_time, 1 + n_subbands): the band profile and the sub-band profiles (medians over channels)."""
    n_freq = level.shape[1]
    edges = np.linspace(0, n_freq, min(n_subbands, n_freq) + 1).astype(int)
    columns = [_median(level, 1)] + [_median(level[:, lo:hi], 1) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return np.column_stack(columns).astype(np.float64)


def _window_medians(profiles: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per split t (step between t - 1 and t): medians of the ``window`` samples before and after, and
    how many valid samples each holds (band profile)."""
    n_time = profiles.shape[0]
    padded = np.pad(profiles, ((window, window), (0, 0)), constant_values=np.nan)
    windows = sliding_window_view(padded, window, axis=0)  # (n_time + window + 1, n_col, window)
    before, after = windows[:n_time], windows[window:window + n_time]
    return (_median(before, 2), _median(after, 2),
            np.isfinite(before[:, 0]).sum(axis=1), np.isfinite(after[:, 0]).sum(axis=1))


def _segment_median(profile: np.ndarray, start: int, stop: int) -> float:
    part = profile[start:stop]
    part = part[np.isfinite(part)]
    return float(np.median(part)) if part.size else float("nan")


def find_gain_steps(spectra: np.ndarray, *, window_samples: int = 8, min_side_samples: int = 3,
                    step_sigma: float = 8.0, min_step_db: float = 0.1, n_subbands: int = 8,
                    flat_tolerance: float = 0.35, lasting_tolerance: float = 0.35,
                    max_steps: int = 4) -> list[GainStep]:
    """The gain steps of one (n_time, n_freq) chunk of linear power, in time order (module docstring)."""
    level = level_db(spectra)
    if level.shape[0] < 2 * min_side_samples or not np.isfinite(level).any():
        return []
    profiles = profiles_db(level, n_subbands)
    white = _white_noise(_difference_sigma(level), n_subbands)
    noise = np.fmax(_difference_sigma(profiles), white)
    if not (np.isfinite(noise[0]) and noise[0] > 0):
        return []
    n_time = profiles.shape[0]
    found: list[GainStep] = []
    masked = np.zeros(n_time, dtype=bool)
    masked[:min_side_samples] = True  # a split needs min_side_samples on each side
    masked[n_time - min_side_samples + 1:] = True
    for _ in range(4 * max_steps):
        before, after, n_before, n_after = _window_medians(profiles, window_samples)
        jump = after - before
        with np.errstate(invalid="ignore", divide="ignore"):
            error = _MEDIAN_EFFICIENCY * np.sqrt(1 / n_before + 1 / n_after)
            significance = np.abs(jump[:, 0]) / (noise[0] * error)
        significance[masked | (n_before < min_side_samples) | (n_after < min_side_samples)] = 0.0
        significance = np.nan_to_num(significance)
        t = int(np.argmax(significance))
        if significance[t] < step_sigma:
            break
        t = _best_split(profiles[:, 0], t, before[t, 0], after[t, 0], window_samples)
        step = float(jump[t, 0])
        if abs(step) >= min_step_db and significance[t] >= step_sigma \
                and _is_flat(jump[t], white, error[t], flat_tolerance):
            found.append(GainStep(t, step, float(significance[t])))
            profiles[t:] -= step
            masked[max(0, t - window_samples + 1):t + window_samples] = True  # no staircase: steps are rare
            if len(found) == max_steps:
                break
        else:
            masked[max(0, t - window_samples // 2):t + window_samples // 2 + 1] = True
    return _lasting(found, profiles[:, 0], window_samples, noise[0], lasting_tolerance)


def _best_split(profile: np.ndarray, t: int, low: float, high: float, window: int) -> int:
    """The split near ``t`` that best divides the samples around it into the two levels (L1):
    medians over windows make a plateau of equal steps a few samples wide."""
    lo, hi = max(1, t - window // 2), min(profile.size - 1, t + window // 2)
    around = profile[max(0, t - window):t + window]
    first = max(0, t - window)
    best, best_cost = t, math.inf
    for split in range(lo, hi + 1):
        model = np.where(np.arange(first, first + around.size) < split, low, high)
        cost = float(np.nansum(np.abs(around - model)))
        if cost < best_cost - 1e-12:
            best, best_cost = split, cost
    return best


def _is_flat(jumps: np.ndarray, noise: np.ndarray, error: float, tolerance: float) -> bool:
    """Every sub-band steps like the band: within ``tolerance`` of it plus 4 of its sigma, and at least
    3 of its sigma in the band's direction."""
    band, subbands = jumps[0], jumps[1:]
    valid = np.isfinite(subbands) & np.isfinite(noise[1:])
    if valid.sum() < 2:
        return False
    sigma = noise[1:][valid] * error
    allowed = tolerance * abs(band) + _SUBBAND_SIGMA * sigma
    return bool(np.all(np.abs(subbands[valid] - band) <= allowed)
                and np.all(np.sign(band) * subbands[valid] >= _SUBBAND_STEP_SIGMA * sigma))


def _lasting(steps: list[GainStep], profile: np.ndarray, window: int, noise: float,
             tolerance: float) -> list[GainStep]:
    """The steps whose levels hold on both sides, over the rest of their segments (to the chunk's
    edge or the next step), within ``tolerance`` of the step plus 4 sigma: a decaying burst's
    don't. ``profile`` has every step taken off; a step that fails is put back and the rest
    checked again."""
    kept = sorted(steps, key=lambda s: s.sample)
    profile = profile.copy()
    while kept:
        edges = [0, *(s.sample for s in kept), profile.size]
        failed = None
        for k, step in enumerate(kept):
            t, start, stop = step.sample, edges[k], edges[k + 2]
            allowed = tolerance * abs(step.step_db) + _SUBBAND_SIGMA * noise
            after = _segment_median(profile, t, min(stop, t + window))
            before = _segment_median(profile, max(start, t - window), t)
            if not (abs(_segment_median(profile, t, stop) - after) <= allowed
                    and abs(_segment_median(profile, start, t) - before) <= allowed):
                failed = step
                break
        if failed is None:
            return kept
        kept.remove(failed)
        profile[failed.sample:] += failed.step_db
    return kept


def channel_gain_db(spectra: np.ndarray, steps: list[GainStep]) -> np.ndarray:
    """(n_time, n_freq) float32: each sample's gain change (dB) since the chunk's first, from ``steps``.

    A step of at least 4 times a channel's noise starts in that channel at its own sample, one
    before to one after the band's (:func:`_channel_onsets`): a sweeping receiver can change gain
    in mid-sweep.
    """
    data = np.asarray(spectra, dtype=np.float32)
    gain = np.zeros(data.shape, dtype=np.float32)
    if not steps:
        return gain
    level = level_db(data)
    channel_noise = _difference_sigma(level)
    rows = np.arange(data.shape[0])[:, None]
    for step in sorted(steps, key=lambda s: s.sample):
        onset = np.full(data.shape[1], step.sample)
        with np.errstate(invalid="ignore"):
            large = abs(step.step_db) >= _TRANSITION_SIGMA * channel_noise
        if large.any() and 1 <= step.sample < data.shape[0] - 1:
            onset[large] = _channel_onsets(level[:, large], step.sample, step.step_db)
        stepped = rows >= onset[None, :]
        gain += np.where(stepped, np.float32(step.step_db), np.float32(0.0))
        level -= np.where(stepped, step.step_db, 0.0)
    return gain


def gain_db(spectra: np.ndarray, freq_hz: np.ndarray | None = None, **params: float) -> np.ndarray:
    """:func:`channel_gain_db` of the steps :func:`find_gain_steps` finds; ``freq_hz`` orders the
    channels into sub-bands by frequency. Dividing the power by 10^(gain_db / 10)
    (:func:`remove_gain`) takes the steps out; zeros when there is none."""
    data = np.asarray(spectra, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"spectra must be (n_time, n_freq), got shape {data.shape}")
    order = np.argsort(np.asarray(freq_hz), kind="stable") if freq_hz is not None else np.arange(data.shape[1])
    return channel_gain_db(data, find_gain_steps(data[:, order], **params))  # type: ignore[arg-type]


def _channel_onsets(level: np.ndarray, sample: int, step: float) -> np.ndarray:
    """Each channel's step sample among ``sample - 1``, ``sample``, ``sample + 1``: the one that best
    splits those three samples into the level before (the median of the three before them) and
    that plus ``step``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanmedian(level[max(0, sample - 4):sample - 1], axis=0)
    three = level[sample - 1:sample + 2]
    costs = []
    for onset in (sample - 1, sample, sample + 1):
        model = low[None, :] + np.where(np.arange(sample - 1, sample + 2)[:, None] >= onset, step, 0.0)
        costs.append(np.nansum(np.abs(three - model), axis=0))
    onsets = sample - 1 + np.argmin(np.vstack(costs), axis=0)
    return np.where(np.isfinite(low), onsets, sample)


def remove_gain(spectra: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """The power with the gain taken out: spectra / 10^(gain_db / 10), float32, NaN kept."""
    return (np.asarray(spectra, dtype=np.float32) * np.power(10.0, -np.asarray(gain) / 10.0)).astype(np.float32)


__all__ = ["MODULE_NAME", "MODULE_VERSION", "GainStep", "channel_gain_db", "find_gain_steps", "gain_db", "level_db",
           "profiles_db", "remove_gain"]
