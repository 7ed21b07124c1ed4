"""Full-resolution blocks in, detection-stream chunks out: average in time and frequency, then cut.

The broker needs to see bursts, not every 3 kHz channel: averaging ``downsample_time`` spectra and
``downsample_freq`` channels cuts the stream by their product and raises the S/N of extended
bursts by its square root. Lost samples (NaN) are left out of the averages; a bin with no valid
sample stays NaN, so the broker sees the gap.

>>> from nenubroker.conf.settings import IngestSettings, SimulatorSettings
>>> from nenubroker.edge.simulator import BeamSimulator
>>> beam = BeamSimulator("b", SimulatorSettings(realtime=False, fftlen=16, n_subbands=4), 1.7e9)
>>> cutter = Downsampler(IngestSettings(downsample_time=4, downsample_freq=16, chunk_time_samples=16))
>>> chunks = cutter.push(beam.next_block()[0])
>>> [c.data.shape for c in chunks]
[(16, 4)]
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from nenubroker.conf.settings import IngestSettings
from nenubroker.spectra_chunk import SpectraChunk


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
    """Per beam: accumulates full-resolution spectra and emits detection chunks as they fill."""

    def __init__(self, ingest: IngestSettings):
        self.ingest = ingest
        self.chunk_index = 0
        self._rows: list[np.ndarray] = []
        self._n_rows = 0
        self._start_unix_s: float | None = None
        self._freq_hz: np.ndarray | None = None

    @property
    def rows_per_chunk(self) -> int:
        return self.ingest.downsample_time * self.ingest.chunk_time_samples

    def push(self, block: SpectraChunk) -> list[SpectraChunk]:
        """Take one block; return the chunks it completed (none, one or several)."""
        if self._start_unix_s is None:
            self._start_unix_s = block.time_start_unix_s
            self._freq_hz = block.freq_hz
            self._time_step_s = block.time_step_s
            self._beam, self._source = block.beam, block.source
        self._rows.append(block.data)
        self._n_rows += block.n_time
        chunks = []
        while self._n_rows >= self.rows_per_chunk:
            chunks.append(self._cut())
        return chunks

    def _cut(self) -> SpectraChunk:
        rows = np.concatenate(self._rows) if len(self._rows) > 1 else self._rows[0]
        take, rest = rows[: self.rows_per_chunk], rows[self.rows_per_chunk :]
        self._rows, self._n_rows = ([rest], len(rest)) if len(rest) else ([], 0)
        factor_t, factor_f = self.ingest.downsample_time, self.ingest.downsample_freq
        assert self._freq_hz is not None and self._start_unix_s is not None
        chunk = SpectraChunk(
            beam=self._beam,
            chunk_index=self.chunk_index,
            time_start_unix_s=self._start_unix_s,
            time_step_s=self._time_step_s * factor_t,
            freq_hz=self._freq_hz.reshape(-1, factor_f).mean(axis=1),
            data=average_bins(take, factor_t, factor_f),
            source=self._source,
            created_unix_s=time.time(),
        )
        self.chunk_index += 1
        self._start_unix_s += self.rows_per_chunk * self._time_step_s
        return chunk


__all__ = ["Downsampler", "average_bins"]
