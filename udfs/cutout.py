"""Fixed-size cutouts of a dynamic spectrum around a candidate: what classifiers and alerts carry.

A cutout is the channel-normalised spectrum ((x - median) / sigma per channel) around the burst's
time and frequency extent, with a margin, resampled to ``CUTOUT_SHAPE`` (time, frequency) by
linear interpolation, NaN replaced by 0. The same code makes training cutouts and live ones.

>>> import numpy as np
>>> make_cutout(np.ones((64, 128), "f4"), (10, 20), (30, 60)).shape
(32, 32)
"""

from __future__ import annotations

import numpy as np

CUTOUT_SHAPE = (32, 32)


def _resample_axis(values: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    n_in = values.shape[axis]
    positions = np.linspace(0, n_in - 1, n_out)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    weight = positions - low
    shape = [1, 1]
    shape[axis] = n_out
    weight = weight.reshape(shape)
    return np.take(values, low, axis=axis) * (1 - weight) + np.take(values, high, axis=axis) * weight


def make_cutout(normalised: np.ndarray, time_range: tuple[int, int], freq_range: tuple[int, int],
                margin: float = 0.5, shape: tuple[int, int] = CUTOUT_SHAPE) -> np.ndarray:
    """Crop [start, stop) index ranges widened by ``margin`` of their size each side; resample to ``shape``."""
    n_time, n_freq = normalised.shape

    def widen(start: int, stop: int, size: int, minimum: int) -> tuple[int, int]:
        extra = max(int(round((stop - start) * margin)), (minimum - (stop - start) + 1) // 2, 1)
        return max(0, start - extra), min(size, stop + extra)

    t0, t1 = widen(*time_range, n_time, 8)
    f0, f1 = widen(*freq_range, n_freq, 8)
    crop = np.nan_to_num(np.asarray(normalised[t0:t1, f0:f1], dtype=np.float64), nan=0.0)
    return _resample_axis(_resample_axis(crop, shape[0], 0), shape[1], 1).astype(np.float32)


__all__ = ["CUTOUT_SHAPE", "make_cutout"]
