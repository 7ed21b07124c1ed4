"""Threshold burst detector: robust per-channel normalisation, smoothing, connected regions.

Each channel is normalised by its median and MAD over the chunk, which removes the bandpass and
the ν^-2.55 sky slope and is barely moved by short bursts or RFI. The normalised spectrum is box
smoothed (time x frequency) to gain S/N on extended bursts; pixels above ``snr_threshold`` (in units
of the smoothed noise, itself measured robustly) are grouped into 8-connected regions, and each
region of at least ``min_pixels`` pixels is a candidate.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> spectra = rng.gamma(256, 1 / 256, size=(64, 128)).astype("f4")
>>> spectra[30:34, 40:60] += 0.5
>>> candidates = detect_bursts(spectra, np.linspace(20e6, 80e6, 128), 0.0, 0.1)
>>> len(candidates), bool(3.0 <= candidates[0]["time_peak_s"] <= 3.4)
(1, True)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import ndimage

MODULE_NAME = "burst_threshold"
MODULE_VERSION = "1.0.0"

#: The Gaussian MAD-to-sigma factor.
_MAD_TO_SIGMA = 1.4826


def normalise_channels(spectra: np.ndarray) -> np.ndarray:
    """(x - median) / sigma per channel, sigma from the MAD; NaN stays NaN, dead channels become NaN."""
    with warnings.catch_warnings():  # all-NaN channels are expected (lost data) and become NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(spectra, axis=0)
        sigma = _MAD_TO_SIGMA * np.nanmedian(np.abs(spectra - median), axis=0)
    sigma = np.where(sigma > 0, sigma, np.nan)
    return (spectra - median) / sigma


def _robust_sigma(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan")
    return float(_MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))


def detect_bursts(
    spectra: np.ndarray,
    freq_hz: np.ndarray,
    time_start_s: float,
    time_step_s: float,
    snr_threshold: float = 7.0,
    smooth_time_samples: int = 3,
    smooth_freq_channels: int = 3,
    min_pixels: int = 4,
) -> list[dict[str, Any]]:
    """Candidates in one (n_time, n_freq) dynamic spectrum, brightest first.

    Each candidate gives ``time_peak_s``, ``time_start_s``, ``duration_s`` (s, on the chunk's time
    axis), ``freq_peak_hz``, ``freq_min_hz``, ``freq_max_hz``, ``snr``, ``peak_power`` (relative to
    the channel background) and ``n_pixels``.
    """
    spectra = np.asarray(spectra, dtype=np.float64)
    normalised = normalise_channels(spectra)
    valid = np.isfinite(normalised)
    filled = np.where(valid, normalised, 0.0)
    size = (smooth_time_samples, smooth_freq_channels)
    # Average over valid pixels only, so lost samples neither add nor dilute signal.
    weight = ndimage.uniform_filter(valid.astype(np.float64), size=size, mode="nearest")
    smoothed = ndimage.uniform_filter(filled, size=size, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = np.where(weight > 0, smoothed / weight, np.nan)
    noise = _robust_sigma(smoothed)
    if not np.isfinite(noise) or noise <= 0:
        return []
    snr = smoothed / noise
    above = np.nan_to_num(snr, nan=0.0) > snr_threshold
    labels, n_regions = ndimage.label(above, structure=np.ones((3, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        background = np.nanmedian(spectra, axis=0)
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    candidates = []
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[region] == index
        n_pixels = int(mask.sum())
        if n_pixels < min_pixels:
            continue
        region_snr = np.where(mask, snr[region], -np.inf)
        peak_t, peak_f = np.unravel_index(np.argmax(region_snr), mask.shape)
        t_index = region[0].start + peak_t
        f_index = region[1].start + peak_f
        channels = freq_hz[region[1]]
        candidates.append(
            {
                "time_peak_s": time_start_s + t_index * time_step_s,
                "time_start_s": time_start_s + region[0].start * time_step_s,
                "duration_s": (region[0].stop - region[0].start) * time_step_s,
                "freq_peak_hz": float(freq_hz[f_index]),
                "freq_min_hz": float(channels.min()),
                "freq_max_hz": float(channels.max()),
                "snr": float(snr[t_index, f_index]),
                "peak_power": float(spectra[t_index, f_index] / background[f_index] - 1.0),
                "n_pixels": n_pixels,
            }
        )
    return sorted(candidates, key=lambda c: -c["snr"])


__all__ = ["MODULE_NAME", "MODULE_VERSION", "detect_bursts", "normalise_channels"]
