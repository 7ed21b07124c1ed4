"""Intermittent RFI lines: channels that light up again and again while the band around them stays quiet.

One short narrowband pulse looks like a solar spike in one chunk. A transmitter keyed on and off
(the 27 MHz citizens' band, a pulsed line near 85 MHz in real e-CALLISTO data) lights the *same*
channels again, seconds later, with nothing around them. A spike cluster scatters its members over
a few percent of the band, type IIIb striae and S-bursts drift from channel to channel, and
broadband emission lights the neighbours too. So a channel is an intermittent RFI line, and is
flagged for the whole chunk, when

- it holds at least ``min_events`` separate narrowband events above ``event_sigma`` (runs
  closer than ``gap_s`` count as one: a stria's noisy top is one event), and
- the median event count of the ``window`` channels around it is 0 (its neighbourhood is quiet).

The channels next to such a line (``group_channels`` on each side) that rise above
``group_sigma`` at at least half of its events are the same transmitter's: flagged too.

Events are measured on a narrowband residual of the chunk flattened by each channel's median over
time (the bandpass and any static line structure go), against a frequency-smooth model of
``block_channels`` channels (wide, so that a transmitter spanning several coarse channels is not
absorbed into it), in units of each channel's own sample-to-sample noise combined with the model's
error at sharp burst edges. Being relative, the noise stays uniform under bright bursts.

>>> rng = np.random.default_rng(1)
>>> spectra = rng.gamma(200, 1 / 200, size=(64, 96)).astype("f4")
>>> spectra[[5, 30, 50], 40:42] *= 3.0       # the same two channels keyed on three times
>>> spectra[20, 70] *= 3.0                   # a lone spike
>>> flags = flag_recurrent(spectra, np.zeros(64, bool), time_step_s=0.25)
>>> np.flatnonzero(flags).tolist()
[40, 41]
"""

from __future__ import annotations

import math

import numpy as np

_MAD_TO_SIGMA = 1.4826


def narrowband_z(spectra: np.ndarray, skip_rows: np.ndarray, block_channels: int,
                 model_error_factor: float) -> np.ndarray:
    """Narrowband excess of each sample, in sigma of its channel (0 where lost or in ``skip_rows``)."""
    from nenubroker.udfs.rfi_flagger.core import column_quantiles, narrowband_residual

    data = np.where(skip_rows[:, None], np.nan, np.asarray(spectra, dtype=np.float32))
    [background] = column_quantiles(data, [0.5])
    with np.errstate(invalid="ignore", divide="ignore"):
        flat = data / np.where(background > 0, background, np.nan).astype(np.float32)
    valid = np.isfinite(flat)
    residual, model_error = narrowband_residual(np.where(valid, flat, np.float32(1.0)), block_channels,
                                                model_error_factor)
    residual[~valid] = np.nan
    [step] = column_quantiles(np.abs(np.diff(residual, axis=0)), [0.5])
    noise = _MAD_TO_SIGMA / math.sqrt(2) * step
    with np.errstate(invalid="ignore", divide="ignore"):
        z = residual / np.sqrt(noise**2 + model_error**2)
    return np.where(np.isfinite(z), z, 0.0).astype(np.float32)


def _events(hot: np.ndarray, gap_samples: int) -> np.ndarray:
    """Starts of the runs of ``hot`` along time, gaps of up to ``gap_samples`` closed: (n_time, n_freq) bool."""
    if gap_samples > 0 and hot.any():
        n_time = hot.shape[0]
        index = np.arange(n_time)[:, None]
        previous = np.maximum.accumulate(np.where(hot, index, -n_time), axis=0)
        following = np.minimum.accumulate(np.where(hot, index, 2 * n_time)[::-1], axis=0)[::-1]
        hot = hot | ((previous >= 0) & (following < n_time) & (following - previous - 1 <= gap_samples))
    return hot & ~np.vstack([np.zeros((1, hot.shape[1]), bool), hot[:-1]])


def flag_recurrent(spectra: np.ndarray, skip_rows: np.ndarray, time_step_s: float, *, event_sigma: float = 6.0,
                   min_events: int = 2, gap_s: float = 1.0, window: int = 15, block_channels: int = 32,
                   group_channels: int = 3, group_sigma: float = 4.0, model_error_factor: float = 0.5) -> np.ndarray:
    """(n_freq,) bool: the channels of intermittent RFI lines in one chunk (see the module docstring).

    ``spectra`` is (n_time, n_freq) power in frequency order, NaN = lost; ``skip_rows`` are rows
    already flagged (impulses, lost), which neither make nor split events.
    """
    from nenubroker.udfs.rfi_flagger.core import neighbour_median

    n_time, n_freq = spectra.shape
    if n_time < 3 or n_freq < 3:
        return np.zeros(n_freq, dtype=bool)
    z = narrowband_z(spectra, skip_rows, block_channels, model_error_factor)
    z = z[~skip_rows]
    starts = _events(z > event_sigma, max(0, math.ceil(gap_s / time_step_s) - 1))
    events = starts.sum(axis=0)
    seeds = (events >= min_events) & (neighbour_median(events.astype(np.float32), window) <= 0)
    flags = seeds.copy()
    if group_channels > 0 and seeds.any():
        warm = z > group_sigma
        warm[1:] |= warm[:-1].copy()
        warm[:-1] |= warm[1:].copy()  # one sample either way: a sweep measures channels at different moments
        for seed in np.flatnonzero(seeds):
            onsets = starts[:, seed]
            need = math.ceil(0.5 * onsets.sum())
            lo, hi = max(0, seed - group_channels), min(n_freq, seed + group_channels + 1)
            flags[lo:hi] |= (warm[:, lo:hi] & onsets[:, None]).sum(axis=0) >= need
    return flags


__all__ = ["flag_recurrent", "narrowband_z"]
