"""The search over both track laws, as a table of detections, and one burst per group of detections.

A bright type III gives thousands of detections (every channel, every sub-band that it crosses),
so detections are kept as columns of arrays and their track sums are computed all at once from
per-channel cumulative sums: one candidate's pixels can then be taken out of every remaining
detection in a millisecond.

Detections are taken brightest first (``one_per_burst``). Each is measured (candidates.py); its
own pixels (its ridge, and its rise and decay up to any valley: ``candidates.own_pixels``) are then
removed from every remaining detection, and those that fall below the threshold belong to it. A
remaining detection inside the region of a burst already found (a type III's decay, a second burst
beside it) is measured too, but becomes a candidate only if a valley separates it from that burst
along its own track (``matched.separated``): a type III's decay is absorbed into the burst, a
parallel type III 1.2 MHz away is not. A burst that passes 2f when an earlier one passes f (or the
reverse) is the harmonic of that type III, part of it; so is a burst on its track carried on,
beside its band.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from nenubroker.udfs.burst_search.candidates import (
    LAWS,
    TYPE_III_INDEX,
    TYPE_III_RATE,
    ChunkMaps,
    Track,
    law_coordinate,
    measure,
    merged,
)
from nenubroker.udfs.burst_search.fdmt import (
    Binning,
    fdmt_levels,
    make_binning,
    rebin,
    search_level,
    track_norms,
)
from nenubroker.udfs.burst_search.matched import separated

_MAX_ABSORBED = 64  # most detections measured without giving a burst of their own, per chunk
MEASURED_FRACTION = 0.8  # a burst is reported when its measured S/N reaches this fraction of the threshold
_VALLEY_WIDTH = 1  # samples: the window along which two ridges are told apart
_SAME_TRACK_SAMPLES = 2.0  # a burst beside another's band, this close to its track carried on, is part of it
_HARMONIC_SAMPLES = 2.5  # a burst passing 2f this close to when another passes f is its harmonic
_HARMONIC_CHANNELS = 8  # fewest channels on which a harmonic is compared with its fundamental


@dataclass(frozen=True)
class DetectionTable:
    """Detections, brightest first: S/N, noise scale, law (index in LAWS), channels and ideal track.

    The track of detection ``i`` enters channel c (sorted high to low frequency) at sample
    ``t_pivot[i] + rate[i] * (x_c - x_pivot[i])`` and lasts ``width[i]`` samples, over channels
    ``first[i]`` to ``stop[i]``.
    """

    snr: np.ndarray
    sigma: np.ndarray
    law: np.ndarray
    first: np.ndarray
    stop: np.ndarray
    rate: np.ndarray
    t_pivot: np.ndarray
    x_pivot: np.ndarray
    width: np.ndarray

    def __len__(self) -> int:
        return int(self.snr.size)

    def track(self, i: int) -> tuple[Track, slice]:
        return (
            Track(
                LAWS[int(self.law[i])],
                float(self.rate[i]),
                float(self.t_pivot[i]),
                float(self.x_pivot[i]),
                int(self.width[i]),
            ),
            slice(int(self.first[i]), int(self.stop[i])),
        )


@functools.lru_cache(maxsize=8)
def _lossless_norms(
    n_t: int, first_channel: bytes, max_slope: float, max_width: int
) -> list[dict[int, np.ndarray]]:
    """Track norms of every level for chunks without lost pixels (the same for all of a stream)."""
    per_bin = np.diff(np.frombuffer(first_channel, dtype=np.int64)).astype(np.float32)
    n_padded = 1 << max(0, int(np.ceil(np.log2(per_bin.size))))
    counts = np.zeros((1, n_padded, n_t), dtype=np.float32)
    counts[0, : per_bin.size] = per_bin[:, None]
    return [track_norms(state[0], max_width) for state in fdmt_levels(counts, max_slope, n_t)]


def _binning(law: str, x: np.ndarray, df_hz: float, f_low_mhz: float) -> Binning:
    """Straight tracks: one bin per channel. Type III: bins uniform in f^-0.84, one channel wide at
    the bottom of the band, their number rounded down to a power of two (no half-empty padding)."""
    if law == "linear":
        return make_binning(x, df_hz)
    one_channel = TYPE_III_INDEX * f_low_mhz ** -(1 + TYPE_III_INDEX) * df_hz / 1e6
    n_bins = 1 << max(1, int(np.log2(max((x[-1] - x[0]) / one_channel, 2.0))))
    return make_binning(x, (x[-1] - x[0]) / (n_bins - 1))


def search(
    values: np.ndarray,
    counts: np.ndarray,
    freq_hz: np.ndarray,
    x: dict[str, np.ndarray],
    time_step_s: float,
    threshold: float,
    max_width: int,
    min_drift_hz_per_s: float,
    type_iii_max_speed_factor: float,
    type_iii_min_band_fraction: float,
) -> DetectionTable:
    """Detections of both laws in a normalised chunk sorted from high to low frequency.

    Straight tracks are searched at every level (one channel up to the whole band); type III
    tracks only in sub-bands of at least ``type_iii_min_band_fraction`` of the band, where their
    curvature matters. The slowest drifts searched are ``min_drift_hz_per_s`` and
    ``type_iii_max_speed_factor`` times slower than the type III law.
    """
    n_t = values.shape[0]
    df_hz = float(np.median(np.abs(np.diff(freq_hz)))) if freq_hz.size > 1 else 0.0
    f_low_mhz = float(freq_hz[-1]) / 1e6
    columns: dict[str, list[np.ndarray]] = {name: [] for name in DetectionTable.__dataclass_fields__}
    lossless = bool(counts.all())
    for law_index, law in enumerate(LAWS if f_low_mhz > 0 else LAWS[:1]):
        if not df_hz > 0:
            break
        binning = _binning(law, x[law], df_hz, f_low_mhz)
        if law == "linear":
            max_slope, min_bins = binning.step / (min_drift_hz_per_s * time_step_s), 1.0
        else:
            max_slope = (
                type_iii_max_speed_factor * binning.step / (TYPE_III_INDEX * TYPE_III_RATE * time_step_s)
            )
            min_bins = type_iii_min_band_fraction * binning.n_bins
        data = rebin(values, counts, binning)
        shared = (
            _lossless_norms(n_t, binning.first_channel.tobytes(), max_slope, max_width) if lossless else None
        )
        x_sum = np.concatenate([[0.0], np.cumsum(x[law])])
        n_bins = 1
        for level, state in enumerate(fdmt_levels(data[:1] if lossless else data, max_slope, n_t)):
            if n_bins >= min_bins:
                norms = shared[level] if shared is not None else track_norms(state[1], max_width)
                det = search_level(state[0], norms, threshold)
                top = det.subband * n_bins
                first = binning.first_channel[np.minimum(top, binning.n_bins)]
                stop = binning.first_channel[np.minimum(top + n_bins, binning.n_bins)]
                rate = det.delay / ((n_bins - 1) * binning.step) if n_bins > 1 else np.zeros(det.delay.size)
                x_top = binning.x0 + top * binning.step
                x_pivot = np.where(
                    stop > first, (x_sum[stop] - x_sum[first]) / np.maximum(stop - first, 1), x_top
                )
                for name, column in (
                    ("snr", det.snr),
                    ("sigma", np.array([det.sigma[w] for w in det.width])),
                    ("law", np.full(det.snr.size, law_index)),
                    ("first", first),
                    ("stop", stop),
                    ("rate", rate),
                    ("t_pivot", det.time + rate * (x_pivot - x_top)),
                    ("x_pivot", x_pivot),
                    ("width", det.width),
                ):
                    columns[name].append(np.asarray(column))
            n_bins *= 2
    merged = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in columns.items()}
    keep = np.flatnonzero(merged["stop"] > merged["first"])
    order = keep[np.argsort(-merged["snr"][keep], kind="stable")]
    return DetectionTable(**{name: column[order] for name, column in merged.items()})


class Residuals:
    """Each detection's S/N once the pixels already given to candidates are removed from its track.

    Track sums are gathered from per-channel cumulative sums, only for the detections still in
    question: after a bright burst is taken, most of its thousands of detections are centred on
    its pixels and are dropped without summing anything.
    """

    def __init__(
        self, table: DetectionTable, values: np.ndarray, counts: np.ndarray, x: dict[str, np.ndarray]
    ):
        self.table = table
        self.x_all = np.stack([x[law] for law in LAWS])
        self.values, self.counts = values, counts
        self.cumulative = self._cumulative(values, counts)
        n_t = values.shape[0]
        self.centre_row = np.clip(np.rint(table.t_pivot).astype(np.int64) + table.width // 2, 0, n_t - 1)
        self.centre_channel = ((table.first + table.stop - 1) // 2).astype(np.int64)

    @staticmethod
    def _cumulative(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        cumulative = np.zeros((2, values.shape[0] + 1, values.shape[1]), dtype=np.float32)
        np.cumsum(np.stack([values, counts]), axis=1, out=cumulative[:, 1:])
        return cumulative

    def _sums(self, which: np.ndarray, cumulatives: list[np.ndarray]) -> list[np.ndarray]:
        """Sums of values and counts, (2, len(which)), along the tracks of detections ``which``."""
        t = self.table
        sizes = (t.stop[which] - t.first[which]).astype(np.int64)
        owner = np.repeat(np.arange(which.size), sizes)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        det = which[owner]
        channel = t.first.astype(np.int64)[det] + np.arange(int(sizes.sum())) - offsets[owner]
        start = np.rint(
            t.t_pivot[det] + t.rate[det] * (self.x_all[t.law.astype(np.int64)[det], channel] - t.x_pivot[det])
        )
        n_t = self.values.shape[0]
        lo = np.clip(start, 0, n_t).astype(np.int64)
        hi = np.clip(start + t.width[det], 0, n_t).astype(np.int64)
        return [
            np.stack(
                [
                    np.bincount(owner, weights=c[k, hi, channel] - c[k, lo, channel], minlength=which.size)
                    for k in (0, 1)
                ]
            )
            for c in cumulatives
        ]

    def snr_without(self, mask: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """S/N of the ``alive`` detections without the masked pixels in their tracks (0 for the others).

        A detection centred on a masked pixel is part of a burst already found: it gets 0 without
        summing its track.
        """
        alive = alive & ~mask[self.centre_row, self.centre_channel]
        which = np.flatnonzero(alive)
        snr = np.zeros(alive.size)
        if which.size:
            masked = self._cumulative(np.where(mask, self.values, 0), np.where(mask, self.counts, 0))
            full, taken = self._sums(which, [self.cumulative, masked])
            total, count = full - taken
            snr[which] = total / np.sqrt(np.maximum(count, 1)) / self.table.sigma[which]
        return snr


def _apart(maps: ChunkMaps, burst: dict[str, Any], earlier: dict[str, Any]) -> bool:
    """Whether ``burst``, measured after ``earlier``, is a burst of its own.

    Beside the earlier burst's band (within the larger of the two bands), it is the same burst
    when it lies on the earlier one's track carried on; sharing channels with it and touching its
    region, when no valley separates the two along its own track (:func:`separated`).
    """
    a, b = earlier["extent"], burst["extent"]
    own, other = burst["passage"], earlier["passage"]
    channels = np.arange(max(a.start, b.start), min(a.stop, b.stop))
    if not channels.size:
        beside = max(a.start, b.start) - min(a.stop, b.stop) <= max(a.stop - a.start, b.stop - b.start)
        delay = [
            float(np.median(other.centres(maps.x[other.law][c]) - own.centres(maps.x[own.law][c])))
            for c in (np.arange(b.start, b.stop), np.arange(a.start, a.stop))
        ]
        return not (beside and min(abs(d) for d in delay) < _SAME_TRACK_SAMPLES)
    if not (burst["footprint"] & earlier["region"]).any():
        return True
    width = min(_VALLEY_WIDTH, burst["track"].width)
    centres = own.centres(maps.x[own.law][channels])
    starts = np.rint(centres - (width - 1) / 2).astype(np.int64)
    delay = other.centres(maps.x[other.law][channels]) - centres
    return separated(maps.cumulative, starts, width, delay, channels)


def _harmonic(maps: ChunkMaps, burst: dict[str, Any], earlier: dict[str, Any]) -> bool:
    """Whether one of the two is the other's harmonic: the upper one passes 2f when the lower passes f.

    A type III's harmonic ridge (plasma emission at twice the local plasma frequency) arrives at
    2f when the fundamental arrives at f; both are one burst. Compared on the lower burst's
    channels whose double lies in the upper burst's band (at least ``_HARMONIC_CHANNELS``).
    """
    lower, upper = sorted((burst, earlier), key=lambda b: -b["extent"].start)  # high channel index: low f
    freq = maps.freq_hz[np.arange(lower["extent"].start, lower["extent"].stop)]
    top, bottom = maps.freq_hz[upper["extent"].start], maps.freq_hz[upper["extent"].stop - 1]
    freq = freq[(2 * freq <= top) & (2 * freq >= bottom)]
    if freq.size < _HARMONIC_CHANNELS:
        return False
    low, up = lower["passage"], upper["passage"]
    delay = up.centres(law_coordinate(up.law, 2 * freq)) - low.centres(law_coordinate(low.law, freq))
    return abs(float(np.median(delay))) < _HARMONIC_SAMPLES


def one_per_burst(
    table: DetectionTable,
    residuals: Residuals,
    maps: ChunkMaps,
    threshold: float,
    extent_snr: float,
    widths: tuple[int, ...],
    max_candidates: int,
) -> list[dict[str, Any]]:
    """Measured bursts, brightest detection first, each with its ``detection_snr`` (see the module docstring).

    A burst is reported when its measured S/N (the matched filter of its measured track) also
    reaches ``MEASURED_FRACTION`` of ``threshold``: a detection left over from a burst already
    found, whose measured track holds no burst of its own (S/N 1-3), is not.
    """
    n_t, n_f = maps.values.shape
    alive = np.ones(len(table), dtype=bool)
    taken = np.zeros((n_t, n_f), dtype=bool)  # own pixels of every burst measured
    found = np.zeros((n_t, n_f), dtype=bool)  # regions of the bursts found
    bursts: list[dict[str, Any]] = []
    parts: list[tuple[dict[str, Any], int]] = []  # the bursts and their parts, with the index of their burst
    others = 0  # detections measured that gave no burst of their own
    while alive.any() and len(bursts) < max_candidates and others < _MAX_ABSORBED:
        i = int(np.flatnonzero(alive)[0])
        alive[i] = False
        track, seed = table.track(i)
        burst = measure(maps, track, seed, extent_snr, widths, taken, found)
        burst["detection_snr"] = float(table.snr[i])
        owner = next(
            (k for earlier, k in parts if not _apart(maps, burst, earlier) or _harmonic(maps, burst, earlier)),
            None,
        )
        if owner is not None:  # part of a burst found before
            bursts[owner] = merged(maps, bursts[owner], burst, widths)
            others += 1
        elif burst["snr"] >= MEASURED_FRACTION * threshold:
            owner = len(bursts)
            bursts.append(burst)
        else:
            others += 1
        if owner is not None:
            found |= burst["region"]
            parts.append((burst, owner))
        taken |= burst["footprint"]
        alive &= residuals.snr_without(taken, alive) >= threshold
    return bursts


__all__ = ["MEASURED_FRACTION", "DetectionTable", "Residuals", "one_per_burst", "search"]
