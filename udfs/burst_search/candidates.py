"""From one detection to one measured burst: its region, frequency extent, passage, drift, peak and time span.

A detection is the best track through part of a burst. The burst itself is the set of pixels the
track covers plus the connected regions of significant emission they touch (a type III's decay, a
spike's wings). Within that region, each block of channels has a light curve; its best window
says where the burst is significant (the extent), and the intensity-weighted centroid around that
window says when it passes, to a fraction of a sample. A straight line and the type III law are
fitted to these passage times, with an uncertainty; the drift is reported only when it is
resolved: the passage must span at least ``MIN_SPAN_SAMPLES`` across the band and the drift must
differ from none by ``DRIFT_SIGNIFICANCE`` standard errors (an S-burst crossing its band within a
sample or two at 84 ms is found, with drift 0: unresolved). Fitting the passage rather than
trusting the best track matters for type III bursts: they last seconds at each frequency, so many
tracks through them score alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from nenubroker.udfs.burst_search.matched import matched_snr, own_pixels
from nenubroker.udfs.burst_search.passage import (
    LAWS,
    MIN_FIT_BLOCKS,
    TIMING_WIDTH,
    TYPE_III_INDEX,
    TYPE_III_RATE,
    Passage,
    Track,
    best_windows,
    drift_hz_per_s,
    fit_laws,
    law_coordinate,
    passage_times,
)

ONSET_BAND_FRACTION = 16  # a burst's onset is timed on the top 1/16 of the chunk's channels
ONSET_SNR = 5.0  # rise (S/N of one sample summed over those channels) that marks the onset
ONSET_BASELINE = 4  # samples before it that a rise is measured from
ONSET_FRACTION = 0.5  # a bright burst's onset is where it has risen by this fraction of its peak


@dataclass(frozen=True)
class ChunkMaps:
    """What measuring a burst needs, computed once per chunk (sorted high to low frequency).

    ``components`` labels the connected regions where the 3 x 3-smoothed normalised spectrum
    exceeds ``extent_snr``; ``smoothed`` is the spectrum averaged over 3 channels (not in time),
    where the peak is looked for; ``cumulative`` holds the sums of values and counts over the
    first t samples of each channel, (2, n_t + 1, n_f), for window sums along any track.
    """

    values: np.ndarray
    counts: np.ndarray
    freq_hz: np.ndarray
    x: dict[str, np.ndarray]
    time_step_s: float
    components: np.ndarray
    smoothed: np.ndarray
    cumulative: np.ndarray

    @classmethod
    def build(
        cls,
        values: np.ndarray,
        counts: np.ndarray,
        freq_hz: np.ndarray,
        time_step_s: float,
        extent_snr: float,
    ) -> ChunkMaps:
        total = ndimage.uniform_filter(values, 3, mode="constant")
        count = ndimage.uniform_filter(counts, 3, mode="constant")
        significant = (count > 0) & (total * 3 > extent_snr * np.sqrt(np.maximum(count, 1e-6)))
        cumulative = np.zeros((2, values.shape[0] + 1, values.shape[1]))
        np.cumsum(np.stack([values, counts]), axis=1, out=cumulative[:, 1:])
        return cls(
            values,
            counts,
            freq_hz,
            {law: law_coordinate(law, freq_hz) for law in LAWS},
            time_step_s,
            ndimage.label(significant)[0],
            ndimage.uniform_filter1d(values, 3, axis=1, mode="constant"),
            cumulative,
        )


def track_footprint(shape: tuple[int, int], track: Track, x: np.ndarray, channels: slice, pad: int = 0) -> np.ndarray:
    """Pixels within ``pad`` (default half a width) of the track's windows, over ``channels``."""
    mask = np.zeros(shape, dtype=bool)
    pad = pad or max(1, track.width // 2)
    rows = np.arange(shape[0])[:, None]
    start = track.starts(x[channels])[None, :]
    mask[:, channels] = (rows >= start - pad) & (rows < start + track.width + pad)
    return mask


def burst_region(footprint: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The footprint and every significant component it touches."""
    touched = np.zeros(int(components.max()) + 1, dtype=bool)
    touched[components[footprint]] = True
    touched[0] = False
    region: np.ndarray = footprint | touched[components]
    return region


def block_light(values: np.ndarray, counts: np.ndarray, region: np.ndarray, block: int) -> np.ndarray:
    """Light curves of the region per block of ``block`` channels: (2, n_t, n_blocks) sums of values, counts."""
    n_t, n_f = values.shape
    n_blocks = -(-n_f // block)
    both = np.zeros((2, n_t, n_blocks * block))
    both[0, :, :n_f] = np.where(region, values, 0)
    both[1, :, :n_f] = np.where(region, counts, 0)
    light: np.ndarray = both.reshape(2, n_t, n_blocks, block).sum(axis=3)
    return light










def grow_extent(snr: np.ndarray, seed: int, threshold: float) -> tuple[int, int]:
    """First and last block around ``seed`` with S/N >= threshold; empty blocks (-inf) are stepped
    over (flagged channels, the region's gaps), a block below threshold ends the extent."""
    weak = np.flatnonzero(np.isfinite(snr) & (snr < threshold))
    low = weak[weak < seed]
    high = weak[weak > seed]
    lo, hi = (int(low[-1]) + 1 if low.size else 0), (int(high[0]) if high.size else snr.size)
    strong = lo + np.flatnonzero(np.isfinite(snr[lo:hi]))
    return int(strong.min(initial=seed)), int(strong.max(initial=seed))












def _passage(maps: ChunkMaps, region: np.ndarray, track: Track, seed: slice, extent_snr: float) -> Passage:
    """The burst's extent and fitted passage from a track through channels ``seed``, within ``region``
    (the given track at its mean passage time when too few blocks could be timed)."""
    n_f = maps.values.shape[1]
    block = int(np.clip((seed.stop - seed.start) // 4, 1, max(1, n_f // 64)))
    light = block_light(maps.values, maps.counts, region, block)
    _, snr = best_windows(light, track.width)
    lo = seed.start // block
    hi = max(lo + 1, -(-seed.stop // block))
    first, last = grow_extent(snr, lo + int(np.argmax(snr[lo:hi])), extent_snr)
    extent = slice(first * block, min(n_f, (last + 1) * block))
    significant = np.arange(first, last + 1)
    significant = significant[snr[significant] >= extent_snr]
    # Passage times come from short windows (a long one delays a fast-rising, slowly decaying burst).
    times, sigma, cut = passage_times(light, min(track.width, TIMING_WIDTH))
    used = significant[~cut[significant] & np.isfinite(sigma[significant])]
    if used.size >= MIN_FIT_BLOCKS:
        law, fit = fit_laws(maps.freq_hz, maps.time_step_s, used, block, times[used], sigma[used])
        resolved = fit.resolved
        fitted = Track(law, fit.rate, fit.t_mean - (track.width - 1) / 2, fit.x_mean, track.width)
        return Passage(fitted, extent, block, True, bool(resolved), used, times[used], sigma[used])
    if used.size:  # too few blocks to fit: no drift, at the mean passage time
        t_mean = float(np.average(times[used], weights=1 / sigma[used] ** 2))
        track = Track(track.law, 0.0, t_mean - (track.width - 1) / 2, track.x_pivot, track.width)
    return Passage(track, extent, block, False, False, used, times[used], sigma[used])


def measure(
    maps: ChunkMaps,
    track: Track,
    seed: slice,
    extent_snr: float,
    widths: tuple[int, ...],
    taken: np.ndarray | None = None,
    found: np.ndarray | None = None,
) -> dict[str, Any]:
    """One burst from a detection through channels ``seed``: region, extent, passage, S/N, peak and time span.

    ``taken`` are the pixels of the bursts already found in the chunk (:func:`own_pixels`), left
    out of this one's region; when the region reaches into the ``found`` bursts' regions, it is
    also narrowed to the detection's own track (half a width plus 4 samples either side), so that
    a second burst running beside a brighter one is timed on its own ridge. A burst whose passage
    could be fitted is measured again along its fitted track, extended over the whole band (a faint
    burst's significant components do not reach beyond the detection's sub-band), from its extent.
    """
    values, counts, x = maps.values, maps.counts, maps.x
    n_t, n_f = values.shape
    own = track_footprint((n_t, n_f), track, x[track.law], seed)
    free = ~taken if taken is not None else np.ones((n_t, n_f), dtype=bool)
    region = burst_region(own, maps.components) & free
    near = found is not None and bool((region & found).any())
    everywhere = slice(0, n_f)
    # Timed on one ridge: near the detection's track, then near the fitted one (two bursts a few
    # samples apart in one component would otherwise be timed on either, block by block).
    seed_band = track_footprint((n_t, n_f), track, x[track.law], everywhere, track.width // 2 + 2)
    passage = _passage(maps, (region & seed_band) | (own & free), track, seed, extent_snr)
    if passage.fitted:  # again along the fitted track, over the whole band: the extent can grow along it
        fitted = passage.track
        along = track_footprint((n_t, n_f), fitted, x[fitted.law], everywhere, max(2, track.width // 2)) & free
        passage = _passage(maps, along, fitted, passage.extent, extent_snr)
    track, extent, block, resolved = passage.track, passage.extent, passage.block, passage.resolved
    if near:
        region &= track_footprint((n_t, n_f), track, x[track.law], everywhere, track.width // 2 + 4)
    centres = passage.centres(x[track.law][extent])
    matched = matched_snr(maps.cumulative, centres, extent, block, widths)
    centre_pivot = track.t_pivot + (track.width - 1) / 2
    measured = Track(track.law, track.rate, centre_pivot + matched.offset, track.x_pivot, matched.width)
    region |= track_footprint((n_t, n_f), measured, x[track.law], extent)
    footprint = own_pixels(values, counts, region, centres, extent, block)
    burst = {
        "track": measured,
        "passage": track,
        "centres": centres,
        "block": block,
        "resolved": bool(resolved),
        "snr": matched.snr,
        "region": region,
        "footprint": footprint,
    }
    return {**burst, **locate(maps, region, extent, seed)}


def locate(maps: ChunkMaps, region: np.ndarray, extent: slice, seed: slice | None = None) -> dict[str, Any]:
    """Extent, peak (brightest pixel of the region over the extent, averaged over 3 channels), time
    span and onset of a burst; over the ``seed`` channels when its region left them all out."""
    inside = np.zeros_like(region)
    inside[:, extent] = region[:, extent]
    if not inside.any():  # the track left the chunk over its extent: keep the detection's own pixels
        inside[:, seed if seed is not None else extent] = True
    t_peak, c_peak = np.unravel_index(np.argmax(np.where(inside, maps.smoothed, -np.inf)), inside.shape)
    rows = np.flatnonzero(inside.any(axis=1))
    return {
        "extent": extent,
        "peak_time": int(t_peak),
        "peak_channel": int(c_peak),
        "time_range": (int(rows.min()), int(rows.max()) + 1),
        "onset_time": onset(maps.values, maps.counts, region, extent),
    }


def merged(maps: ChunkMaps, burst: dict[str, Any], part: dict[str, Any], widths: tuple[int, ...]) -> dict[str, Any]:
    """``burst`` with a ``part`` of it measured apart (its band carried on, its decay, its harmonic).

    The band becomes the union of both bands, each channel timed by the measurement that covers it
    (the burst's own first; its fitted track across any gap), and the S/N is measured again over
    it; the drift is the burst's, the detection S/N the larger.
    """
    a, b = burst["extent"], part["extent"]
    extent = slice(min(a.start, b.start), max(a.stop, b.stop))
    channels = np.arange(extent.start, extent.stop)
    passage = burst["passage"]
    centres = passage.centres(maps.x[passage.law][channels])
    centres[b.start - extent.start : b.stop - extent.start] = part["centres"]
    centres[a.start - extent.start : a.stop - extent.start] = burst["centres"]
    region = burst["region"] | part["region"]
    out = {**burst, "region": region, "detection_snr": max(burst["detection_snr"], part["detection_snr"])}
    matched = matched_snr(maps.cumulative, centres, extent, max(burst["block"], part["block"]), widths)
    if matched.snr <= burst["snr"]:
        return out
    measured = Track(passage.law, passage.rate, passage.t_pivot + (passage.width - 1) / 2 + matched.offset,
                     passage.x_pivot, matched.width)
    return {**out, "snr": matched.snr, "track": measured, "centres": centres, **locate(maps, region, extent)}


def onset(values: np.ndarray, counts: np.ndarray, region: np.ndarray, extent: slice) -> int:
    """First sample at which the burst rises at the top of its band: where it begins.

    The top of the band is its highest ``1 / ONSET_BAND_FRACTION`` of the chunk's channels (fewer
    for a narrower burst), where a drifting burst appears first and which an earlier burst's
    decaying tail, merged into the region lower down, does not reach. Summed over those channels
    (all of them, not only the region's, so that a noise blob the region swallowed does not
    count), each sample is compared with the median of the ``ONSET_BASELINE`` samples before it;
    the onset is the first sample covered by the region there that rises by ``ONSET_SNR`` over
    them, or, with no such rise (a burst already in progress), the region's first sample there.
    A rise does not depend on the channel backgrounds, which two overlapping chunks estimate
    differently (a long burst raises its chunk's), so both find the same onset from the samples
    they share: this is what decides which of them reports the burst.
    """
    n_top = max(1, values.shape[1] // ONSET_BAND_FRACTION)
    top = slice(extent.start, min(extent.stop, extent.start + n_top))
    rows = np.flatnonzero(region[:, top].any(axis=1))
    if not rows.size:
        return 0
    first, stop = int(rows.min()), int(rows.max()) + 1
    count = counts[:, top].sum(axis=1)
    light = np.where(count > 0, values[:, top].sum(axis=1) / np.sqrt(np.maximum(count, 1)), np.nan)
    for t in range(max(first, 1), stop):
        before = light[max(0, t - ONSET_BASELINE) : t]
        before = before[np.isfinite(before)]
        if before.size and light[t] - np.median(before) >= ONSET_SNR:
            rise = light[t:stop] - np.median(before)
            half = np.flatnonzero(rise >= ONSET_FRACTION * np.nanmax(rise))
            return t + int(half[0])
    return first


__all__ = [  # with the passage names that core.py and search.py take from here
    "LAWS",
    "TYPE_III_INDEX",
    "TYPE_III_RATE",
    "ChunkMaps",
    "Track",
    "block_light",
    "burst_region",
    "drift_hz_per_s",
    "grow_extent",
    "law_coordinate",
    "locate",
    "measure",
    "merged",
    "onset",
    "track_footprint",
]
