"""Drift-rate burst search: normalise channels, search straight and type III tracks, one candidate per burst.

1. Each channel is normalised by its background and noise sigma over the chunk (NaN-aware; see
   :func:`channel_statistics`), which removes the bandpass and the sky slope.
2. Tracks linear in frequency (no delay, down to ``min_drift_hz_per_s``) and tracks following the
   type III law t(f) = k (f^-0.84 - f0^-0.84) / (0.84 x 0.01) s (f in MHz, k a speed factor) are
   summed over every dyadic sub-band by the FDMT (fdmt.py), then over 1, 2, 4 ... ``max_width``
   samples; S/N is scaled by the robust noise of each level and width.
3. Detections are taken brightest first (search.one_per_burst). Each is measured in
   candidates.py (extent, sub-sample passage times and a drift fitted to them, reported only when
   resolved, peak, time span) and matched.py (its S/N: the matched filter of its measured track),
   and its own pixels (its ridge and the slopes falling away from it) are masked; a detection
   whose S/N falls below the threshold once those pixels are removed belongs to a burst already
   found. One that survives inside a found burst's region is a burst of its own only if a valley
   separates the two (a second type III beside the first) and it is not the first's harmonic.
4. Overlapping chunks share samples (a chunk repeats ``overlap_samples`` of the previous one, and
   the next repeats ``trailing_overlap_samples`` of it): a burst is reported by the chunk whose
   half of the shared samples holds its onset (the first sample of significant emission at the top
   of its band), so it is reported once, even when it lasts longer than the overlap.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> spectra = rng.gamma(4096, 1 / 4096, size=(64, 192)).astype("f4")
>>> spectra[30, 100:104] += 0.2                  # a short narrowband spike
>>> [c] = detect_bursts(spectra, np.linspace(20e6, 57e6, 192), 0.0, 0.084)
>>> round(c["time_peak_s"], 3), 100 <= c["peak_channel"] < 104
(2.52, True)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nenubroker.udfs.burst_search.candidates import LAWS, ChunkMaps, drift_hz_per_s, law_coordinate
from nenubroker.udfs.burst_search.search import Residuals, one_per_burst, search
from nenubroker.udfs.cutout import make_cutout

MODULE_NAME = "burst_search"
MODULE_VERSION = "1.2.0"

_MAD_TO_SIGMA = 1.4826
_QUARTILE_TO_MEDIAN = 0.6745  # Gaussian median - lower quartile, in sigma
_MIN_VALID_SAMPLES = 8  # a channel with fewer valid sample pairs has no usable statistics
_RATIO_WINDOW = 17  # channels over which the sigma/background ratio is smoothed
_EXCESS_VARIANCE = 1.5  # a channel this much noisier than its neighbours keeps its own sigma


def _sorted_quantile(values: np.ndarray, axis: int, q: float = 0.5) -> np.ndarray:
    """NaN-aware quantile along ``axis`` by one sort (NaN sorts last): faster than ``np.nanquantile``."""
    ordered = np.sort(values, axis=axis)
    n = np.isfinite(ordered).sum(axis=axis, keepdims=True)
    position = q * np.maximum(n - 1, 0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(n - 1, 0))
    weight = position - low
    value = (1 - weight) * np.take_along_axis(ordered, low, axis=axis) + weight * np.take_along_axis(
        ordered, high, axis=axis
    )
    return np.squeeze(np.where(n > 0, value, np.nan), axis=axis)


def channel_statistics(spectra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background level and noise sigma per channel (NaN for channels with too few valid samples).

    Sigma comes from the MAD of successive differences, which a burst lasting many samples barely
    changes (a type III can cover most of a chunk at low frequencies, and would otherwise be
    normalised away). The background is the lower quartile plus 0.674 sigma: the median for pure
    noise, and still the noise level when a burst covers up to ~half the samples. The
    sigma/background ratio, which radiometer noise makes the same in all channels, is then
    smoothed over neighbouring channels, so that a channel whose 63-difference MAD came out low by
    chance does not make false alarms; a channel much noisier than its neighbours keeps its own.
    """
    steps = np.abs(np.diff(spectra, axis=0))
    sigma = _MAD_TO_SIGMA / np.sqrt(2) * _sorted_quantile(steps, axis=0)
    background = _sorted_quantile(spectra, axis=0, q=0.25) + _QUARTILE_TO_MEDIAN * sigma
    few = np.isfinite(steps).sum(axis=0) < _MIN_VALID_SAMPLES
    sigma = np.where(few | ~(sigma > 0), np.nan, sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(background > 0, sigma / background, np.nan)
    half = _RATIO_WINDOW // 2
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(ratio, half, constant_values=np.nan), _RATIO_WINDOW
    )
    smooth = _sorted_quantile(windows, axis=1)
    use_smooth = np.isfinite(smooth) & np.isfinite(ratio) & (ratio < _EXCESS_VARIANCE * smooth)
    return background, np.where(use_smooth, smooth * background, sigma)


def normalise_channels(spectra: np.ndarray) -> np.ndarray:
    """(x - background) / sigma per channel; NaN stays NaN, unusable channels become NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        background, sigma = channel_statistics(np.asarray(spectra, dtype=np.float32))
        normalised: np.ndarray = ((spectra - background) / sigma).astype(np.float32)
        return normalised


class _Chunk:
    """One chunk, sorted from high to low frequency (the order in which drifting bursts arrive)."""

    def __init__(self, spectra: np.ndarray, freq_hz: np.ndarray, time_step_s: float):
        self.order = np.argsort(-np.asarray(freq_hz, float), kind="stable")
        self.freq_hz = np.asarray(freq_hz, float)[self.order]
        self.raw = np.asarray(spectra, dtype=np.float32)[:, self.order]
        self.time_step_s = float(time_step_s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.background, sigma = channel_statistics(self.raw)
            self.normalised = ((self.raw - self.background) / sigma).astype(np.float32)
        self.valid = np.isfinite(self.normalised)
        self.values = np.where(self.valid, self.normalised, np.float32(0))
        self.counts = self.valid.astype(np.float32)
        self.n_t, self.n_f = self.raw.shape
        self.x = {law: law_coordinate(law, self.freq_hz) for law in LAWS}


def detect_bursts(
    spectra: np.ndarray,
    freq_hz: np.ndarray,
    time_start_s: float,
    time_step_s: float,
    overlap_samples: int = 0,
    trailing_overlap_samples: int | None = None,
    snr_threshold: float = 7.5,
    max_width_samples: int = 16,
    min_drift_hz_per_s: float = 1e6,
    type_iii_max_speed_factor: float = 3.0,
    type_iii_min_band_fraction: float = 0.125,
    extent_snr: float = 3.0,
    max_candidates: int = 32,
) -> list[dict[str, Any]]:
    """Candidates in one (n_time, n_freq) chunk, brightest first (see the module docstring).

    The first ``overlap_samples`` samples repeat the end of the previous chunk of the beam (0: the
    first chunk of a stream), and the next chunk will repeat the last ``trailing_overlap_samples``
    (0: the final chunk of a stream; None: as many as ``overlap_samples``): bursts whose onset falls
    in the first half of the repeated samples, or already in progress at sample 0, are left to the
    previous chunk, and bursts beginning in the second half of the samples the next chunk repeats
    are left to it (:func:`_owned`). Times are unix s
    (``time_start_s`` is the start of sample 0), frequencies Hz, drifts Hz/s (0: none resolved);
    ``peak_channel``, ``time_range`` and ``channel_range`` index the chunk as given, and
    ``cutout`` is the normalised spectrum around the burst (:func:`make_cutout`).
    """
    spectra = np.asarray(spectra)
    if spectra.ndim != 2 or spectra.shape[1] != np.size(freq_hz):
        raise ValueError(
            f"spectra must be (n_time, n_freq) with n_freq = {np.size(freq_hz)}, got {spectra.shape}"
        )
    if min(spectra.shape) < 2 or not np.isfinite(spectra).any():
        return []
    chunk = _Chunk(spectra, freq_hz, time_step_s)
    if not chunk.valid.any():
        return []
    detections = search(
        chunk.values,
        chunk.counts,
        chunk.freq_hz,
        chunk.x,
        chunk.time_step_s,
        snr_threshold,
        max_width_samples,
        min_drift_hz_per_s,
        type_iii_max_speed_factor,
        type_iii_min_band_fraction,
    )
    if not len(detections):
        return []
    residuals = Residuals(detections, chunk.values, chunk.counts, chunk.x)
    maps = ChunkMaps.build(chunk.values, chunk.counts, chunk.freq_hz, chunk.time_step_s, extent_snr)
    widths = tuple(1 << k for k in range(max_width_samples.bit_length()))
    results = one_per_burst(detections, residuals, maps, snr_threshold, extent_snr, widths, max_candidates)
    trailing = overlap_samples if trailing_overlap_samples is None else trailing_overlap_samples
    return [_describe(chunk, b, time_start_s) for b in results
            if _owned(b["onset_time"], overlap_samples, trailing, chunk.n_t)]


def _owned(onset: int, overlap_samples: int, trailing_overlap_samples: int, n_time: int) -> bool:
    """Whether this chunk reports the burst whose onset (:func:`onset`) is at sample ``onset``.

    A chunk shares its first ``overlap_samples`` samples with the previous chunk and its last
    ``trailing_overlap_samples`` with the next. Each shared stretch is split in the middle: a
    burst whose onset falls in its first half belongs to the earlier chunk, one whose onset falls
    in its second half to the later one, which sees it from at least half the overlap before its
    onset. A burst already in progress at sample 0 has its onset there, before the split, and is
    left to the previous chunk, which saw it begin, however long it lasts. Both chunks see an
    onset near the split with the same data around it, so they nearly always agree (each
    normalises its channels over its own samples, so an onset within a sample of the split can
    come out on different sides of it: then the burst is reported twice, or not at all). The
    first chunk of a stream (no previous chunk: ``overlap_samples`` 0) owns every onset from
    sample 0; the final one (no next chunk: ``trailing_overlap_samples`` 0) every onset to its end.

    >>> [t for t in range(64) if _owned(t, 0, 16, 64)][-1], [t for t in range(64) if _owned(t, 16, 16, 64)][0]
    (55, 8)
    >>> [t for t in range(20) if _owned(t, 16, 0, 20)]
    [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    """
    first = -(-overlap_samples // 2)
    end = n_time - trailing_overlap_samples // 2
    return first <= onset < end


def _describe(chunk: _Chunk, burst: dict[str, Any], time_start_s: float) -> dict[str, Any]:
    """The candidate's physical description, indexed in the chunk's own channel order."""
    dt, track, extent = chunk.time_step_s, burst["track"], burst["extent"]
    c_peak, t_peak = burst["peak_channel"], burst["peak_time"]
    t_first, t_stop = burst["time_range"]
    original = chunk.order[extent]
    freq_peak = float(chunk.freq_hz[c_peak])
    power = chunk.raw[t_peak, c_peak] / chunk.background[c_peak] - 1.0
    normalised = np.empty_like(chunk.normalised)
    normalised[:, chunk.order] = chunk.normalised
    channel_range = (int(original.min()), int(original.max()) + 1)
    return {
        "time_peak_s": time_start_s + t_peak * dt,
        "time_start_s": time_start_s + t_first * dt,
        "duration_s": (t_stop - t_first) * dt,
        "freq_peak_hz": freq_peak,
        "freq_min_hz": float(chunk.freq_hz[extent].min()),
        "freq_max_hz": float(chunk.freq_hz[extent].max()),
        "drift_hz_per_s": drift_hz_per_s(track.law, track.rate if burst["resolved"] else 0.0, freq_peak, dt),
        "snr": float(burst["snr"]),
        "detection_snr": float(burst["detection_snr"]),
        "peak_power": float(power) if np.isfinite(power) else float("nan"),
        "law": track.law,
        "width_samples": track.width,
        "peak_channel": int(chunk.order[c_peak]),
        "time_range": (t_first, t_stop),
        "channel_range": channel_range,
        "cutout": make_cutout(normalised, (t_first, t_stop), channel_range),
    }


__all__ = ["MODULE_NAME", "MODULE_VERSION", "channel_statistics", "detect_bursts", "normalise_channels"]
