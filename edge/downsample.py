"""Full-resolution blocks in, detection-stream chunks out: average in time and frequency, then cut.

The broker needs to see bursts, not every 3 kHz channel: averaging ``downsample_time`` spectra and
``downsample_freq`` channels cuts the stream by their product and raises the S/N of extended
bursts by its square root. Lost samples (NaN) are left out of the averages; a bin with no valid
sample stays NaN, so the broker sees the gap.

>>> import numpy as np
>>> from nenubroker.conf.settings import IngestSettings
>>> from nenubroker.records.chunk import SpectraChunk
>>> block = SpectraChunk("b", 0, 1.7e9, 0.021, 20e6 + 3e3 * np.arange(64), np.ones((64, 64), "f4"))
>>> cutter = Downsampler(IngestSettings(downsample_time=4, downsample_freq=16, chunk_time_samples=16,
...                                    overlap_time_samples=4))
>>> [(c.n_time, c.overlap_samples, c.trailing_overlap_samples) for c in cutter.push(block)]
[(16, 0, 4)]
>>> [(c.n_time, c.overlap_samples, c.trailing_overlap_samples) for c in cutter.flush()]  # the stream ends
[(4, 4, 0)]
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from nenubroker.conf.settings import IngestSettings
from nenubroker.records.chunk import SpectraChunk

#: The shortest final chunk :meth:`Downsampler.flush` sends, in samples (the search needs two).
MIN_FINAL_CHUNK_SAMPLES = 2


def average_bins(data: np.ndarray, time_factor: int, freq_factor: int) -> np.ndarray:
    """NaN-aware mean over (time_factor x freq_factor) bins; shapes must divide exactly."""
    n_time, n_freq = data.shape
    if n_time % time_factor or n_freq % freq_factor:
        raise ValueError(f"shape {data.shape} is not a multiple of ({time_factor}, {freq_factor})")
    binned = data.reshape(n_time // time_factor, time_factor, n_freq // freq_factor, freq_factor)
    if np.isfinite(data).all():
        return binned.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins stay NaN on purpose
        return np.nanmean(binned, axis=(1, 3)).astype(np.float32)


class Downsampler:
    """Per beam: accumulates full-resolution spectra and emits detection chunks as they fill.

    Consecutive chunks overlap by ``overlap_time_samples``: a chunk starts with the last samples of
    the previous one, so a burst on the boundary is whole in one of them. Each chunk says how many
    leading samples are repeats (``overlap_samples``: 0 for the first chunk of a stream) and how
    many of its last samples the next chunk will repeat (``trailing_overlap_samples``: the
    configured overlap, 0 for the final chunk), and detectors split each shared stretch in the
    middle, so that each burst is reported once. When the stream ends, :meth:`flush` sends what
    is left as a final, shorter chunk.
    """

    def __init__(self, ingest: IngestSettings):
        if not 0 <= ingest.overlap_time_samples < ingest.chunk_time_samples:
            raise ValueError("overlap_time_samples must be >= 0 and < chunk_time_samples")
        self.ingest = ingest
        self.chunk_index = 0
        self._pending: list[np.ndarray] = []  # full-resolution rows not yet averaged
        self._n_pending = 0
        self._rows: list[np.ndarray] = []  # averaged rows not yet sent (or kept as overlap)
        self._carried = 0
        self._start_unix_s: float | None = None  # time of self._rows[0]

    def push(self, block: SpectraChunk) -> list[SpectraChunk]:
        """Take one block; return the chunks it completed (none, one or several)."""
        factor_t, factor_f = self.ingest.downsample_time, self.ingest.downsample_freq
        if self._start_unix_s is None:
            self._start_unix_s = block.time_start_unix_s
            self._freq_hz = block.freq_hz.reshape(-1, factor_f).mean(axis=1)
            self._step_s = block.time_step_s * factor_t
            self._beam, self._source = block.beam, block.source
        self._pending.append(block.data)
        self._n_pending += block.n_time
        usable = self._n_pending - self._n_pending % factor_t
        if usable:
            rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._rows.extend(average_bins(rows[:usable], factor_t, factor_f))
            self._pending = [rows[usable:]] if usable < len(rows) else []
            self._n_pending -= usable
        chunks = []
        while len(self._rows) >= self.ingest.chunk_time_samples:
            chunks.append(self._cut())
        return chunks

    def flush(self) -> list[SpectraChunk]:
        """End the stream: the samples not yet in a chunk, as a final chunk (none, or one).

        The final chunk starts, like any other, with the last ``overlap_time_samples`` samples of
        the previous chunk and holds every sample after them (at most ``chunk_time_samples``); no
        chunk repeats its end (``trailing_overlap_samples`` 0), so it reports every burst whose
        onset lies after the middle of its shared samples. It is sent even when no sample came
        after the previous chunk (it is then the shared samples alone): the previous chunk left the
        bursts beginning in the second half of its last samples to its successor, and this is it.
        Fewer than :data:`MIN_FINAL_CHUNK_SAMPLES` samples in all make no chunk: nothing to search,
        and nothing left unreported (with an overlap of 0 or 1 the previous chunk owns to its end).

        Spectra short of a full time bin are averaged into a last, partial sample if they are at
        least half a bin: a sample of fewer is so much noisier than the rest that the search
        finds noise in it (with 4-spectrum bins on the simulator: 1 spectrum, 5 false alarms in
        ~130 final chunks of noise; 2 spectra, 0 in 300; 3, 0 in 200), so a lone spectrum (21 ms)
        is left out. The downsampler is then empty: a later block starts a new stream, chunk
        indices going on.
        """
        if self._n_pending and 2 * self._n_pending >= self.ingest.downsample_time:
            rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._rows.extend(average_bins(rows, len(rows), self.ingest.downsample_freq))
        chunks = [self._chunk(len(self._rows), trailing=0)] if len(self._rows) >= MIN_FINAL_CHUNK_SAMPLES else []
        self._pending, self._n_pending, self._rows, self._carried = [], 0, [], 0
        self._start_unix_s = None
        return chunks

    def _cut(self) -> SpectraChunk:
        size, overlap = self.ingest.chunk_time_samples, self.ingest.overlap_time_samples
        chunk = self._chunk(size, trailing=overlap)
        self._rows = self._rows[size - overlap:]
        self._carried = overlap
        self._start_unix_s = chunk.time_start_unix_s + (size - overlap) * self._step_s
        return chunk

    def _chunk(self, n_time: int, trailing: int) -> SpectraChunk:
        """The next chunk: the first ``n_time`` rows, the next chunk to repeat ``trailing`` of them."""
        assert self._start_unix_s is not None
        chunk = SpectraChunk(
            beam=self._beam, chunk_index=self.chunk_index, time_start_unix_s=self._start_unix_s,
            time_step_s=self._step_s, freq_hz=self._freq_hz, data=np.stack(self._rows[:n_time]),
            source=self._source, created_unix_s=time.time(), overlap_samples=self._carried,
            trailing_overlap_samples=trailing,
        )
        self.chunk_index += 1
        return chunk


__all__ = ["MIN_FINAL_CHUNK_SAMPLES", "Downsampler", "average_bins"]
