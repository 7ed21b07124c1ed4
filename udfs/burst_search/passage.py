"""A burst's passage across its band: sub-sample passage times per block of channels, the straight
line or type III law fitted to them, and whether the drift they give is resolved.

Each block's passage time is the intensity-weighted centroid of its best short window and one
sample either side, so a burst shorter than a sample that falls across two samples is timed by how
it shares itself between them; its error adds the centroid's noise and the spread of a time known
only to a sample. A drift is resolved when the fitted passage spans at least ``MIN_SPAN_SAMPLES``
across the band (an S-burst crossing its band within a sample or two steps from one sample to the
next, and a line fitted through one or two steps can have almost any slope) and differs from none
by ``DRIFT_SIGNIFICANCE`` standard errors.

>>> import numpy as np
>>> x = np.arange(8.0); fit = fit_passage(x, 10 + 0.5 * x, np.full(8, 0.3))
>>> round(fit.rate, 3), round(fit.span, 2)
(0.5, 3.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAWS = ("linear", "type_iii")
TYPE_III_INDEX = 0.84  # t(f) ∝ f^-0.84 from df/dt = -0.01 f^1.84 MHz/s (f in MHz)
TYPE_III_RATE = 0.01
MIN_SPAN_SAMPLES = 2.0  # a shorter passage across the band is a step or two of the time grid: unresolved
SHORT_SPAN_SAMPLES = 3.0  # a passage shorter than this must agree with its steps (:func:`step_rate`)
DRIFT_SIGNIFICANCE = 3.0  # standard errors by which a resolved drift differs from none
MIN_FIT_BLOCKS = 3
TIMING_WIDTH = 2  # samples: the longest window used to time a burst's passage in each block
_QUANTISATION = 1 / 12  # variance (samples^2) of a time known only to lie within one sample
_SHARP_TIMING = 0.35  # samples: a block timed this well keeps its own passage time in the matched filter
_LAW_TOLERANCE = 1.25  # misfit ratio within which a plausible type III law is preferred


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

    def centres(self, x: np.ndarray) -> np.ndarray:
        """Passage time (sample index, fractional) at coordinate ``x``: the middle of the window."""
        return self.t_pivot + (self.width - 1) / 2 + self.rate * (x - self.x_pivot)


def best_windows(light: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block: first sample and S/N of its best window of ``width`` samples (S/N -inf: no valid pixel)."""
    n_t = light.shape[1]
    width = min(width, n_t)
    cumulative = np.zeros((2, n_t + 1, light.shape[2]))
    np.cumsum(light, axis=1, out=cumulative[:, 1:])
    total = cumulative[:, width:] - cumulative[:, :-width]
    snr = np.where(total[1] > 0, total[0] / np.sqrt(np.maximum(total[1], 1)), -np.inf)
    best = snr.argmax(axis=0)
    return best, snr[best, np.arange(snr.shape[1])]


def passage_times(light: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: passage time (sample index, fractional), its standard error, and whether it is cut.

    The time is the centroid of the positive excess over the block's best window of ``width``
    samples and one sample either side: a burst shorter than a sample that falls across the
    boundary of two samples is timed by how it shares itself between them. The error adds the
    noise of that centroid and the spread of a time known only to lie within one sample. A window
    at either end of the chunk is cut there: its centroid is not the passage.
    """
    n_t = light.shape[1]
    width = min(width, n_t)
    start, _ = best_windows(light, width)
    rows = np.arange(n_t)[:, None]
    near = (rows >= start - 1) & (rows < start + width + 1)
    weight = np.where(near, np.maximum(light[0], 0), 0)
    total = weight.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    centroid = np.where(total > 0, (rows * weight).sum(axis=0) / safe, start + (width - 1) / 2)
    noise = (np.where(near, light[1], 0) * (rows - centroid) ** 2).sum(axis=0) / safe**2
    sigma = np.sqrt(np.where(total > 0, noise, np.inf) + _QUANTISATION)
    cut = (start == 0) | (start + width >= n_t)
    return centroid, sigma, cut


@dataclass(frozen=True)
class Fit:
    """Passage time t = t_mean + rate (x - x_mean) (samples), its RMS misfit and the rate's standard error."""

    rate: float
    t_mean: float
    x_mean: float
    misfit: float
    rate_sigma: float
    span: float  # |rate| times the range of x fitted: the passage's duration across the band, samples

    @property
    def resolved(self) -> bool:
        """Whether the drift is resolved: a passage of ``MIN_SPAN_SAMPLES`` or more across the band,
        its rate ``DRIFT_SIGNIFICANCE`` standard errors from none."""
        return self.span >= MIN_SPAN_SAMPLES and abs(self.rate) >= DRIFT_SIGNIFICANCE * self.rate_sigma


def fit_passage(x: np.ndarray, times: np.ndarray, sigma: np.ndarray) -> Fit:
    """Weighted straight-line fit of passage time against a law's coordinate, with one outlier pass.

    The rate's error is the formal one, scaled up by the misfit when the times scatter more than
    their errors say.
    """
    weights = 1 / sigma**2
    keep = np.ones(x.size, dtype=bool)
    rate = intercept = misfit = 0.0
    rate_sigma = np.inf
    for _ in range(2):
        w, xk, tk = weights[keep], x[keep], times[keep]
        mean_x, mean_t = np.average(xk, weights=w), np.average(tk, weights=w)
        spread = float(np.sum(w * (xk - mean_x) ** 2))
        rate = float(np.sum(w * (xk - mean_x) * (tk - mean_t)) / spread) if spread > 0 else 0.0
        intercept = float(mean_t - rate * mean_x)
        residual = times - (intercept + rate * x)
        misfit = float(np.sqrt(np.average(residual[keep] ** 2, weights=w)))
        chi2 = float(np.sum(w * residual[keep] ** 2)) / max(int(keep.sum()) - 2, 1)
        rate_sigma = float(np.sqrt(max(chi2, 1.0) / spread)) if spread > 0 else np.inf
        keep = np.abs(residual) <= max(2.0, 3.0 * misfit)
        if keep.sum() < MIN_FIT_BLOCKS:
            break
    x_mean = float(np.average(x, weights=weights))
    return Fit(rate, intercept + rate * x_mean, x_mean, misfit, rate_sigma, abs(rate) * float(np.ptp(x)))


def choose_law(fits: dict[str, Fit], time_step_s: float) -> str:
    """The law with the smaller misfit; the type III law when its speed is plausible for a type III
    (0.5-2 times the law's) and it fits nearly as well, since a straight line fitted to part of a
    curved type III gives the wrong drift away from the middle of that part."""
    linear, curve = fits["linear"], fits["type_iii"]
    speed = 1 / (curve.rate * TYPE_III_INDEX * TYPE_III_RATE * time_step_s) if curve.rate > 0 else 0.0
    if 0.5 <= speed <= 2.0 and curve.misfit <= _LAW_TOLERANCE * linear.misfit:
        return "type_iii"
    return "linear" if linear.misfit <= curve.misfit else "type_iii"


def fit_laws(
    freq_hz: np.ndarray, time_step_s: float, blocks: np.ndarray, block: int, times: np.ndarray, sigma: np.ndarray
) -> tuple[str, Fit]:
    """The law (and its fit) that best describes the passage ``times`` of ``blocks`` of ``block``
    channels of ``freq_hz`` (:func:`choose_law`). A short passage (under ``SHORT_SPAN_SAMPLES``)
    is resolved only if the line agrees within 20 % with the rate given by where the times step
    from one sample to the next (:func:`step_rate`): a line through one or two steps of a burst
    shorter than a sample can be much steeper than the steps are apart."""
    padded = np.full(-(-freq_hz.size // block) * block, np.nan)
    padded[: freq_hz.size] = freq_hz
    centre_hz = np.nanmean(padded.reshape(-1, block), axis=1)[blocks]
    fits = {law: fit_passage(law_coordinate(law, centre_hz), times, sigma) for law in LAWS}
    law = choose_law(fits, time_step_s)
    fit = fits[law]
    if fit.resolved and fit.span < SHORT_SPAN_SAMPLES:
        steps = step_rate(law_coordinate(law, centre_hz), times)
        if not abs(steps / fit.rate - 1) <= 0.2:
            fit = Fit(fit.rate, fit.t_mean, fit.x_mean, fit.misfit, np.inf, fit.span)
    return law, fit


def step_rate(x: np.ndarray, times: np.ndarray) -> float:
    """Rate (samples per unit of ``x``) from where passage ``times`` step from one sample to the next.

    A burst shorter than a sample is timed in sample k on one side of a frequency and k + 1 on the
    other: its times cross k + 1/2 there. Only samples that two or more blocks fall in count (a lone
    block out of line is noise). With two or more crossings, the rate is the fitted slope of the
    crossing levels against their positions; NaN with fewer.

    >>> round(step_rate(np.arange(12.0), np.floor(0.25 * np.arange(12.0))), 6)  # steps 4 blocks apart
    0.25
    """
    level, members = np.unique(np.rint(times), return_counts=True)
    keep = np.isin(np.rint(times), level[members >= 2])
    order = np.argsort(x[keep])
    x, times = x[keep][order], times[keep][order]
    crossings: dict[int, list[float]] = {}
    for a, b, ta, tb in zip(x[:-1], x[1:], times[:-1], times[1:], strict=True):
        low, high = min(ta, tb), max(ta, tb)
        for level in range(int(np.ceil(low - 0.5)), int(np.floor(high - 0.5)) + 1):
            if low < level + 0.5 <= high:
                crossings.setdefault(level, []).append(a + (level + 0.5 - ta) * (b - a) / (tb - ta))
    if len(crossings) < 2:
        return float("nan")
    levels = np.array(sorted(crossings), dtype=float)
    where = np.array([np.mean(crossings[int(k)]) for k in levels])
    return float(np.polyfit(where, levels, 1)[0])


@dataclass(frozen=True)
class Passage:
    """A burst's measured passage: fitted track, extent, block size, timed blocks and their times."""

    track: Track
    extent: slice
    block: int
    fitted: bool
    resolved: bool
    blocks: np.ndarray
    times: np.ndarray
    sigma: np.ndarray

    def centres(self, x: np.ndarray) -> np.ndarray:
        """Passage time at each channel of the extent (coordinates ``x`` of the track's law).

        Along the fitted track, but each block timed to better than ``_SHARP_TIMING`` samples (or
        any timed block when the drift is not resolved) at its own time: a burst shorter than a
        sample steps from one sample to the next across its band, which a straight line through
        the steps misses by a sample at some channels.
        """
        line = self.track.centres(x)
        own = np.full(x.size, np.nan)
        for b, t, s in zip(self.blocks, self.times, self.sigma, strict=True):
            if s < _SHARP_TIMING or not self.resolved:
                own[b * self.block - self.extent.start : (b + 1) * self.block - self.extent.start] = t
        return np.where(np.isfinite(own), own, line)


__all__ = [
    "DRIFT_SIGNIFICANCE",
    "LAWS",
    "MIN_FIT_BLOCKS",
    "MIN_SPAN_SAMPLES",
    "SHORT_SPAN_SAMPLES",
    "TIMING_WIDTH",
    "TYPE_III_INDEX",
    "TYPE_III_RATE",
    "Fit",
    "Passage",
    "Track",
    "best_windows",
    "choose_law",
    "drift_hz_per_s",
    "fit_laws",
    "fit_passage",
    "step_rate",
    "law_coordinate",
    "passage_times",
]
