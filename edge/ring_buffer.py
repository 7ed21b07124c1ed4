"""The last seconds of one beam at full resolution, kept so that a trigger can still record them.

The broker decides what is worth keeping only after it has seen the downsampled stream, seconds
later: the edge keeps the full-resolution blocks that long. The buffer is bounded both in time and
in memory, whichever is smaller, so that a burst of data cannot exhaust the edge machine.

>>> import numpy as np
>>> from nenubroker.records.chunk import SpectraChunk, TimeFrequencyData
>>> freq_hz = 20e6 + 12207.03125 * np.arange(64)  # 64 channels of 12 kHz
>>> buffer = RingBuffer("beam0", max_duration_s=1.0, max_mb=64.0)
>>> for i in range(10):  # blocks of 32 spectra of 5.24 ms
...     buffer.append(SpectraChunk("beam0", i, 1.7e9 + i * 32 * 0.00524288, 0.00524288, freq_hz,
...                                np.ones((32, 64), "f4")))
>>> buffer.n_blocks, buffer.nbytes
(5, 40960)
>>> buffer.window(1.7e9 + 1.0, 1.7e9 + 1.1, 20.3e6, 20.4e6).data.shape
(20, 9)
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from nenubroker.conf.settings import IngestSettings
from nenubroker.records.chunk import SpectraChunk, TimeFrequencyData

log = logging.getLogger(__name__)

#: Grid positions closer than this fraction of a sample are the same sample: unix times near 1.7e9 s
#: carry only about 0.2 us of precision, up to 1e-3 of the shortest NenuFAR sample (0.33 ms).
_GRID_TOLERANCE = 1e-2

Interval = tuple[float, float]


@dataclass(frozen=True)
class Window(TimeFrequencyData):
    """Full-resolution data of one beam inside a time-frequency box, as far as the buffer holds it.

    The time axis is the buffer's sample grid clipped to what the buffer covers; rows with no data
    (blocks never received, or received as lost) are NaN. ``missing_unix_s`` lists the parts of the
    requested time range that have no data at all, so that a partial recording can say so.
    """

    beam: str
    time_unix_s: np.ndarray
    freq_hz: np.ndarray
    data: np.ndarray
    time_step_s: float
    channel_width_hz: float
    requested_unix_s: Interval
    missing_unix_s: tuple[Interval, ...]
    sources: tuple[str, ...] = ()

    @property
    def time_stop_unix_s(self) -> float:
        """End of the last sample's integration (the start of the first one is ``time_unix_s[0]``)."""
        return float(self.time_unix_s[-1] + self.time_step_s) if self.n_time else math.nan


def _block_stop_s(block: SpectraChunk) -> float:
    return block.time_start_unix_s + block.n_time * block.time_step_s


def _subtract(span: Interval, covered: list[Interval]) -> tuple[Interval, ...]:
    """The parts of ``span`` outside the sorted, disjoint ``covered`` intervals."""
    missing, cursor = [], span[0]
    for start, stop in covered:
        if start > cursor:
            missing.append((cursor, min(start, span[1])))
        cursor = max(cursor, stop)
        if cursor >= span[1]:
            break
    if cursor < span[1]:
        missing.append((cursor, span[1]))
    return tuple((a, b) for a, b in missing if b > a)


class RingBuffer:
    """The most recent full-resolution blocks of one beam, appended in time order.

    Parameters
    ----------
    beam
        The beam whose blocks this buffer takes; others are refused.
    max_duration_s
        Longest time span held, from the oldest block's start to the newest block's end.
    max_mb
        Most data held, in 10^6 bytes of sample values.

    Notes
    -----
    One lock guards the block list: the ingester may append from one thread while the trigger
    listener reads windows from another. Blocks are never modified once appended, so a window is
    copied out of them after the lock is released.
    """

    def __init__(self, beam: str, max_duration_s: float, max_mb: float):
        if max_duration_s <= 0 or max_mb <= 0:
            raise ValueError(f"ring buffer bounds must be > 0, got {max_duration_s} s and {max_mb} MB")
        self.beam = beam
        self.max_duration_s = float(max_duration_s)
        self.max_bytes = int(max_mb * 1e6)
        self.n_appended = 0
        self.n_evicted = 0
        self._blocks: deque[SpectraChunk] = deque()
        self._nbytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, beam: str, ingest: IngestSettings) -> RingBuffer:
        """A buffer with the configured bounds (``ring_buffer_s``, ``ring_buffer_max_mb``)."""
        return cls(beam, ingest.ring_buffer_s, ingest.ring_buffer_max_mb)

    @property
    def n_blocks(self) -> int:
        with self._lock:
            return len(self._blocks)

    @property
    def nbytes(self) -> int:
        """Bytes of sample values held."""
        with self._lock:
            return self._nbytes

    @property
    def time_range_unix_s(self) -> Interval | None:
        """Start of the oldest block and end of the newest one; None while empty."""
        with self._lock:
            if not self._blocks:
                return None
            return self._blocks[0].time_start_unix_s, _block_stop_s(self._blocks[-1])

    def oldest_kept_after_next_block_unix_s(self) -> float | None:
        """Start of the oldest data still held once one more block like the newest is appended.

        Lets a reader save a window before its head is evicted, rather than notice afterwards.
        """
        with self._lock:
            if not self._blocks:
                return None
            newest = self._blocks[-1]
            stop_s = _block_stop_s(newest) + newest.n_time * newest.time_step_s
            nbytes = self._nbytes + newest.data.nbytes
            for block in self._blocks:
                if (
                    stop_s - block.time_start_unix_s <= self.max_duration_s * (1 + 1e-9)
                    and nbytes <= self.max_bytes
                ):
                    return block.time_start_unix_s
                nbytes -= block.data.nbytes
            return _block_stop_s(newest)

    def _same_axes(self, block: SpectraChunk) -> bool:
        last = self._blocks[-1]
        return (
            math.isclose(block.time_step_s, last.time_step_s, rel_tol=1e-9)
            and block.freq_hz.shape == last.freq_hz.shape
            and np.array_equal(block.freq_hz, last.freq_hz)
        )

    def append(self, block: SpectraChunk) -> None:
        """Add the newest block, then drop the oldest ones until both bounds hold.

        A block with other axes than those held (the observation was reconfigured) starts the
        buffer afresh: windows must have one sample grid. A block that starts before the end of
        the newest one is refused: the buffer's time order is what makes windows cheap.
        """
        if block.beam != self.beam:
            raise ValueError(f"block of beam '{block.beam}' appended to the ring buffer of '{self.beam}'")
        with self._lock:
            if self._blocks and not self._same_axes(block):
                log.warning(
                    "beam %s: block %d has new axes; ring buffer restarted", self.beam, block.chunk_index
                )
                self.n_evicted += len(self._blocks)
                self._blocks.clear()
                self._nbytes = 0
            if self._blocks:
                newest_stop_s = _block_stop_s(self._blocks[-1])
                if block.time_start_unix_s < newest_stop_s - 0.5 * block.time_step_s:
                    raise ValueError(
                        f"beam {self.beam}: block {block.chunk_index} starts at "
                        f"{block.time_start_unix_s:.6f}, before the end of the newest block "
                        f"({newest_stop_s:.6f}): blocks must come in time order"
                    )
            self._blocks.append(block)
            self._nbytes += block.data.nbytes
            self.n_appended += 1
            self._evict()

    def _evict(self) -> None:
        newest_stop_s = _block_stop_s(self._blocks[-1])
        while self._blocks and (
            newest_stop_s - self._blocks[0].time_start_unix_s > self.max_duration_s * (1 + 1e-9)
            or self._nbytes > self.max_bytes
        ):
            oldest = self._blocks.popleft()
            self._nbytes -= oldest.data.nbytes
            self.n_evicted += 1

    def window(
        self, time_start_unix_s: float, time_stop_unix_s: float, freq_min_hz: float, freq_max_hz: float
    ) -> Window:
        """Samples whose integration overlaps [start, stop) and channels whose band overlaps [min, max].

        Only the selected part of the selected blocks is copied. Rows before the oldest or after
        the newest data are not returned (they are listed in ``missing_unix_s``); rows inside the
        buffer with no block are NaN.
        """
        requested = (float(time_start_unix_s), float(time_stop_unix_s))
        with self._lock:
            if not self._blocks:
                return _empty_window(self.beam, requested)
            reference = self._blocks[0]
            coverage = reference.time_start_unix_s, _block_stop_s(self._blocks[-1])
            blocks = [
                b
                for b in self._blocks
                if b.time_start_unix_s < requested[1] and _block_stop_s(b) > requested[0]
            ]
        if coverage[0] >= requested[1] or coverage[1] <= requested[0]:
            return _empty_window(self.beam, requested)
        step_s = reference.time_step_s
        grid_origin_s = reference.time_start_unix_s
        lo_s, hi_s = max(requested[0], coverage[0]), min(requested[1], coverage[1])
        k_lo = math.floor((lo_s - grid_origin_s) / step_s + _GRID_TOLERANCE)
        k_hi = max(k_lo, math.ceil((hi_s - grid_origin_s) / step_s - _GRID_TOLERANCE))
        channels, width_hz = _channel_selection(reference.freq_hz, freq_min_hz, freq_max_hz)
        freq_hz = reference.freq_hz[channels]
        data = np.full((k_hi - k_lo, freq_hz.size), np.nan, dtype=np.float32)
        covered: list[Interval] = []
        for block in blocks:
            k0 = round((block.time_start_unix_s - grid_origin_s) / step_s)
            r0, r1 = max(k_lo, k0), min(k_hi, k0 + block.n_time)
            if r1 > r0 and freq_hz.size:
                data[r0 - k_lo : r1 - k_lo] = block.data[r0 - k0 : r1 - k0, channels]
            if np.isfinite(block.data).any():
                _extend(covered, (block.time_start_unix_s, _block_stop_s(block)), 0.5 * step_s)
        return Window(
            beam=self.beam,
            time_unix_s=grid_origin_s + step_s * np.arange(k_lo, k_hi),
            freq_hz=freq_hz.copy(),
            data=data,
            time_step_s=step_s,
            channel_width_hz=width_hz,
            requested_unix_s=requested,
            missing_unix_s=_subtract(requested, covered),
            sources=tuple(sorted({b.source for b in blocks})),
        )


def _empty_window(beam: str, requested: Interval) -> Window:
    empty = np.empty((0, 0), dtype=np.float32)
    return Window(beam, np.empty(0), np.empty(0), empty, math.nan, math.nan, requested, (requested,))


def _extend(covered: list[Interval], span: Interval, tolerance_s: float) -> None:
    """Append ``span`` (later than all of ``covered``), joining it to the last one when they touch."""
    if covered and span[0] <= covered[-1][1] + tolerance_s:
        covered[-1] = (covered[-1][0], max(covered[-1][1], span[1]))
    else:
        covered.append(span)


def _channel_selection(
    freq_hz: np.ndarray, freq_min_hz: float, freq_max_hz: float
) -> tuple[slice | np.ndarray, float]:
    """Channels whose band overlaps [min, max], and the channel width.

    The selection is a slice when contiguous, so that taking it does not copy through fancy indexing.
    """
    ordered = np.unique(freq_hz)
    steps = np.diff(ordered)
    width_hz = float(steps.min()) if steps.size else math.nan
    if math.isnan(width_hz):
        inside = np.flatnonzero((freq_hz >= freq_min_hz) & (freq_hz <= freq_max_hz))
    else:
        inside = np.flatnonzero(
            (freq_hz + 0.5 * width_hz > freq_min_hz) & (freq_hz - 0.5 * width_hz < freq_max_hz)
        )
    if inside.size == 0:
        return slice(0, 0), width_hz
    if inside[-1] - inside[0] + 1 == inside.size:
        return slice(int(inside[0]), int(inside[-1]) + 1), width_hz
    return inside, width_hz


__all__ = ["Interval", "RingBuffer", "Window"]
