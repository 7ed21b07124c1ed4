"""Numeric features of burst candidates for the classifiers: shape, extent, drift and cutout statistics.

Every feature is finite (NaN and inf become 0 or a clipped bound), so any classifier can use them.
Extent features come from the detector's columns; shape features come from the (32, 32) cutout, the
channel-normalised spectrum (S/N units) around the burst with a margin of half its extent each side
(:func:`nenubroker.udfs.cutout.make_cutout`). Cutout rows are time (ascending), columns frequency
(ascending). The cutout covers about twice the candidate's duration and bandwidth, so a slope in
cutout pixels converts to Hz/s with ``bandwidth / duration``.

>>> import numpy as np
>>> t, f = np.mgrid[0:32, 0:32]
>>> spike = (10 * np.exp(-((t - 16) ** 2 + (f - 16) ** 2) / 8)).astype("f4")
>>> stats = cutout_statistics(spike)
>>> round(stats["feat_time_width"], 3), stats["feat_freq_peaks"]
(0.156, 1.0)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODULE_NAME = "burst_features"
MODULE_VERSION = "2.0.0"
#: Classes the burst classifiers give: the solar radio bursts (types I-V, IIIb incl., U and J bursts being
#: type III) and spikes, Jupiter's S- and L-bursts, RFI and ``other`` (nothing fits). Physics in
#: edge/sim/README.md.
CLASSES = ("type_i", "type_ii", "type_iii", "type_iiib", "type_iv", "type_v", "spike", "jupiter_s", "jupiter_l",
           "rfi", "other")
CUTOUT_SHAPE = (32, 32)
#: Pixels above this (S/N) count as emission.
EMISSION_SNR = 3.0
#: Cutout rows / columns whose RMS (S/N) is below this are dead: flagged channels or lost blocks (NaN -> 0).
DEAD_RMS = 0.2
_LAW_CLIP = 10.0
#: Relative drifts (df/dt / f, 1/s) beyond this, either sign, are unresolved at any resolution the broker
#: sees (a near-vertical track can give 1e37 Hz/s): clipped. A Jupiter S-burst is about -0.7 /s.
MAX_RELATIVE_DRIFT_PER_S = 30.0
#: Relative drifts below this (1/s) count as none in the log feature (a type II lane: about -0.002 /s).
MIN_RELATIVE_DRIFT_PER_S = 1e-4
_EPS = 1e-9

CUTOUT_FEATURES = (
    "feat_cutout_max", "feat_cutout_mean", "feat_emission_fraction", "feat_time_width", "feat_freq_width",
    "feat_impulsiveness", "feat_time_asymmetry", "feat_time_peaks", "feat_freq_peaks", "feat_freq_modulation",
    "feat_striation", "feat_brightest_row_fraction", "feat_brightest_column_fraction",
    "feat_time_freq_correlation", "feat_cutout_slope", "feat_centroid_time_spread",
    "feat_dead_column_fraction", "feat_dead_row_fraction", "feat_time_skewness", "feat_ridge_modulation",
    "feat_ridge_peaks", "feat_central_fraction",
)
#: Physical, scale-free features: no absolute frequency, bandwidth in Hz or receiver power (version 2).
FEATURES = (
    "feat_log_duration_s", "feat_frac_bandwidth", "feat_peak_position", "feat_log_snr",
    "feat_relative_drift_per_s", "feat_log_relative_drift", "feat_drift_law_ratio", "feat_log_decay_ratio",
    "feat_log_aspect", "feat_peak_to_snr", *CUTOUT_FEATURES,
)


def as_cutout(value: Any) -> np.ndarray:
    """A (32, 32) float64 cutout from an array or little-endian float32 bytes; NaN becomes 0."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        array = np.frombuffer(value, dtype="<f4").reshape(CUTOUT_SHAPE)
    else:
        array = np.asarray(value, dtype=np.float64).reshape(CUTOUT_SHAPE)
    return np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def type_iii_drift_hz_per_s(freq_hz: np.ndarray | float) -> np.ndarray:
    """The type III law df/dt = -0.01 f^1.84 MHz/s, f in MHz (shared/notes/radio.md)."""
    return -0.01 * (np.maximum(np.asarray(freq_hz, dtype=np.float64), 1e6) / 1e6) ** 1.84 * 1e6


def type_iii_decay_s(freq_hz: np.ndarray | float) -> np.ndarray:
    """The type III decay time at one frequency, 1.8 s x 36 MHz / f (Barrow & Achong 1975; edge/sim/README.md)."""
    return 1.8 * 36e6 / np.maximum(np.asarray(freq_hz, dtype=np.float64), 1e6)


def _width_above_half(profile: np.ndarray) -> float:
    """Fraction of the profile's samples at or above half its maximum (0 for a flat or negative one)."""
    peak = profile.max()
    return float(np.mean(profile >= peak / 2)) if peak > 0 else 0.0


def _count_peaks(profile: np.ndarray) -> float:
    """Local maxima reaching half the maximum, in a profile lightly smoothed over three samples."""
    if profile.max() <= 0:
        return 0.0
    smooth = np.convolve(np.pad(profile, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    inner = smooth[1:-1]
    is_peak = (inner > smooth[:-2]) & (inner >= smooth[2:]) & (inner >= smooth.max() / 2)
    edges = int(smooth[0] > smooth[1] and smooth[0] >= smooth.max() / 2) + int(
        smooth[-1] > smooth[-2] and smooth[-1] >= smooth.max() / 2)
    return float(is_peak.sum() + edges)


def cutout_statistics(cutout: Any) -> dict[str, float]:
    """Shape features of one cutout (names in ``CUTOUT_FEATURES``), all finite.

    Profiles are means of the positive part over the other axis. Widths are fractions of the cutout
    above half the profile's peak; ``impulsiveness`` is the brightest time row's share of the time
    profile; ``time_asymmetry`` is (after - before the peak) / total, each channel about its own peak
    (> 0 for a fast rise and slow decay); ``freq_modulation`` is the modulation index (std / mean) of
    the frequency profile where it exceeds a quarter of its peak; ``striation`` is the power in
    channel-to-channel jumps over twice the variance, in the bright rows (about 1 for white noise,
    near 0 when smooth along frequency);
    ``cutout_slope`` is d(time)/d(frequency) of the emission's time centroids, in pixels (negative for
    a drift to lower frequencies); ``centroid_time_spread`` is their weighted standard deviation.
    ``dead_column_fraction`` / ``dead_row_fraction`` are the shares of columns / rows with an RMS
    below ``DEAD_RMS`` (flagged channels, lost blocks); ``time_skewness`` is the skewness of the time
    profile; ``ridge_modulation`` and ``ridge_peaks`` are the modulation index and peak count of
    each column's maximum over the columns reaching ``EMISSION_SNR`` (striae); ``central_fraction``
    is the share of the positive part inside the central half of each axis (the candidate's box).
    """
    z = as_cutout(cutout)
    positive = np.clip(z, 0.0, None)
    n_time, n_freq = z.shape
    time_profile, freq_profile = positive.mean(axis=1), positive.mean(axis=0)
    emission = z > EMISSION_SNR
    peak_row = int(np.argmax(time_profile))
    total_time = time_profile.sum() + _EPS
    band = freq_profile >= 0.25 * freq_profile.max() if freq_profile.max() > 0 else np.zeros(n_freq, bool)
    in_band = freq_profile[band]
    modulation = float(in_band.std() / (in_band.mean() + _EPS)) if in_band.size > 1 else 0.0

    bright = time_profile >= 0.5 * time_profile.max() if time_profile.max() > 0 else np.zeros(n_time, bool)
    bright_rows = positive[bright]
    if bright_rows.size:
        centred = bright_rows - bright_rows.mean(axis=1, keepdims=True)
        jumps = np.diff(bright_rows, axis=1)
        striation = float((jumps**2).sum() / (2 * (centred**2).sum() * (n_freq - 1) / n_freq + _EPS))
    else:
        striation = 0.0

    weights = np.where(emission, z, 0.0)
    t_index, f_index = np.mgrid[0:n_time, 0:n_freq].astype(np.float64)
    column_peak = np.argmax(positive, axis=0)[None, :]
    after, before = t_index > column_peak, t_index < column_peak
    correlation = 0.0
    if emission.sum() > 2:
        w = weights / weights.sum()
        mt, mf = (w * t_index).sum(), (w * f_index).sum()
        ct, cf = t_index - mt, f_index - mf
        cov = (w * ct * cf).sum()
        correlation = float(cov / np.sqrt((w * ct**2).sum() * (w * cf**2).sum() + _EPS))

    column_weight = weights.sum(axis=0)
    columns = column_weight > 0
    slope, spread = 0.0, 0.0
    if columns.sum() >= 2:
        centroids = (weights * t_index).sum(axis=0)[columns] / column_weight[columns]
        f_used, w_used = np.flatnonzero(columns).astype(np.float64), column_weight[columns]
        f_mean = np.average(f_used, weights=w_used)
        c_mean = np.average(centroids, weights=w_used)
        var_f = np.average((f_used - f_mean) ** 2, weights=w_used)
        slope = float(np.average((f_used - f_mean) * (centroids - c_mean), weights=w_used) / (var_f + _EPS))
        spread = float(np.sqrt(np.average((centroids - c_mean) ** 2, weights=w_used)) / n_time)

    column_rms, row_rms = np.sqrt((z**2).mean(axis=0)), np.sqrt((z**2).mean(axis=1))
    t_axis = np.arange(n_time, dtype=np.float64)
    t_mean = (time_profile * t_axis).sum() / total_time
    t_var = (time_profile * (t_axis - t_mean) ** 2).sum() / total_time
    skewness = float((time_profile * (t_axis - t_mean) ** 3).sum() / total_time / (t_var**1.5 + _EPS))
    ridge = z.max(axis=0)
    ridge_on = ridge[ridge > EMISSION_SNR]
    ridge_modulation = float(ridge_on.std() / (ridge_on.mean() + _EPS)) if ridge_on.size > 1 else 0.0
    quarter_t, quarter_f = n_time // 4, n_freq // 4
    central = positive[quarter_t:n_time - quarter_t, quarter_f:n_freq - quarter_f].sum()

    return {
        "feat_cutout_max": float(z.max()),
        "feat_cutout_mean": float(z.mean()),
        "feat_emission_fraction": float(emission.mean()),
        "feat_time_width": _width_above_half(time_profile),
        "feat_freq_width": _width_above_half(freq_profile),
        "feat_impulsiveness": float(time_profile.max() / total_time),
        "feat_time_asymmetry": float(((positive * after).sum() - (positive * before).sum())
                                     / (positive.sum() + _EPS)),
        "feat_time_peaks": _count_peaks(time_profile),
        "feat_freq_peaks": _count_peaks(freq_profile),
        "feat_freq_modulation": modulation,
        "feat_striation": striation,
        "feat_brightest_row_fraction": float(emission[peak_row].mean()),
        "feat_brightest_column_fraction": float(emission[:, int(np.argmax(freq_profile))].mean()),
        "feat_time_freq_correlation": correlation,
        "feat_cutout_slope": float(np.clip(slope, -n_time, n_time)),
        "feat_centroid_time_spread": spread,
        "feat_dead_column_fraction": float(np.mean(column_rms < DEAD_RMS)),
        "feat_dead_row_fraction": float(np.mean(row_rms < DEAD_RMS)),
        "feat_time_skewness": float(np.clip(skewness, -_LAW_CLIP, _LAW_CLIP)),
        "feat_ridge_modulation": ridge_modulation,
        "feat_ridge_peaks": _count_peaks(np.clip(ridge, 0.0, None)),
        "feat_central_fraction": float(central / (positive.sum() + _EPS)),
    }


def burst_features(candidates: pd.DataFrame) -> pd.DataFrame:
    """The ``FEATURES`` columns of a candidate table (same index), all finite.

    None depends on where the burst sits in the band or on the receiver's power scale, so a model
    trained on one band and resolution can be used on another. The drift is the detector's when it
    measures one, otherwise the cutout slope converted with bandwidth / duration.
    ``relative_drift_per_s`` is drift / f_peak (1/s: about -0.15 for a type III at 30 MHz, -0.7 for a
    Jupiter S-burst, -0.002 for a type II lane), clipped to +-``MAX_RELATIVE_DRIFT_PER_S``;
    ``log_relative_drift`` is log10 of its size (at least ``MIN_RELATIVE_DRIFT_PER_S``);
    ``drift_law_ratio`` compares the drift with the type III law at the peak frequency (1 on the
    law, 0 without drift, about 4 for an S-burst), clipped to +-10; ``log_decay_ratio`` is log10 of
    the duration over the type III decay time at the peak frequency (about 0 for a type III, below
    for spikes, above for storms and continua).
    """
    duration_s = np.maximum(candidates["duration_s"].to_numpy(np.float64), 1e-3)
    f_min = candidates["freq_min_hz"].to_numpy(np.float64)
    f_max = candidates["freq_max_hz"].to_numpy(np.float64)
    f_peak = candidates["freq_peak_hz"].to_numpy(np.float64)
    bandwidth_hz = np.maximum(f_max - f_min, 0.0)
    drift = np.nan_to_num(candidates["drift_hz_per_s"].to_numpy(np.float64))
    stats = pd.DataFrame([cutout_statistics(c) for c in candidates["cutout"]], columns=list(CUTOUT_FEATURES))
    slope_px = stats["feat_cutout_slope"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        drift_from_cutout = np.where(np.abs(slope_px) > 1e-3, bandwidth_hz / (duration_s * slope_px), 0.0)
        measured = np.nan_to_num(np.where(drift != 0, drift, drift_from_cutout))
        law_ratio = measured / type_iii_drift_hz_per_s(f_peak)
        position = np.where(bandwidth_hz > 0, (f_peak - f_min) / bandwidth_hz, 0.5)
    relative_drift = np.clip(measured / np.maximum(f_peak, 1e6), -MAX_RELATIVE_DRIFT_PER_S, MAX_RELATIVE_DRIFT_PER_S)
    features = pd.DataFrame({
        "feat_log_duration_s": np.log10(duration_s),
        "feat_frac_bandwidth": bandwidth_hz / np.maximum(f_peak, 1e6),
        "feat_peak_position": position,
        "feat_log_snr": np.log10(np.maximum(candidates["snr"].to_numpy(np.float64), 1e-3)),
        "feat_relative_drift_per_s": relative_drift,
        "feat_log_relative_drift": np.log10(np.maximum(np.abs(relative_drift), MIN_RELATIVE_DRIFT_PER_S)),
        "feat_drift_law_ratio": np.clip(np.nan_to_num(law_ratio), -_LAW_CLIP, _LAW_CLIP),
        "feat_log_decay_ratio": np.log10(duration_s / type_iii_decay_s(f_peak)),
        "feat_log_aspect": np.log10(duration_s)
        - np.log10(np.maximum(bandwidth_hz, 1e3) / np.maximum(f_peak, 1e6)),
        "feat_peak_to_snr": stats["feat_cutout_max"].to_numpy() / np.maximum(
            candidates["snr"].to_numpy(np.float64), 1e-3),
    })
    features = pd.concat([features, stats], axis=1)
    features = features.replace([np.inf, -np.inf], np.nan).fillna(0.0).astype(np.float64)
    features.index = candidates.index
    return features[list(FEATURES)]


def calibrated(probabilities: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Temperature scaling (Guo et al. 2017): softmax(log p / T), rows summing to 1.

    T > 1 softens over-confident probabilities; the classifiers keep the T fitted on validation data.
    """
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, None)) / temperature
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def read_calibration(meta_path: Path) -> tuple[float, float]:
    """A classifier's ``temperature`` and ``other_below`` from its ``model.json`` ((1, 0) when absent)."""
    meta = json.loads(Path(meta_path).read_text()) if Path(meta_path).is_file() else {}
    return float(meta.get("temperature", 1.0)), float(meta.get("other_below", 0.0))


def class_table(module_name: str, probabilities: np.ndarray, index: pd.Index,
                other_below: float = 0.0) -> pd.DataFrame:
    """A classifier's output columns: ``<name>_label`` and ``<name>_probabilities`` (dict class -> p).

    ``probabilities`` is (n, len(CLASSES)) in ``CLASSES`` order; the label is the most probable class,
    or ``other`` where that class's probability is under ``other_below`` (nothing fits well enough).
    """
    labels = [CLASSES[i] if p[i] >= other_below else "other"
              for i, p in zip(np.argmax(probabilities, axis=1), probabilities, strict=True)]
    as_dicts = [{c: float(p) for c, p in zip(CLASSES, row, strict=True)} for row in probabilities]
    return pd.DataFrame({f"{module_name}_label": pd.Series(labels, index=index, dtype=object),
                         f"{module_name}_probabilities": pd.Series(as_dicts, index=index, dtype=object)},
                        index=index)


__all__ = ["CLASSES", "CUTOUT_FEATURES", "CUTOUT_SHAPE", "FEATURES", "MAX_RELATIVE_DRIFT_PER_S",
           "MIN_RELATIVE_DRIFT_PER_S", "MODULE_NAME", "MODULE_VERSION", "as_cutout", "burst_features", "calibrated",
           "class_table", "cutout_statistics", "read_calibration", "type_iii_decay_s", "type_iii_drift_hz_per_s"]
