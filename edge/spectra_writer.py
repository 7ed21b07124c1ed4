"""Write NenuFAR ``.spectra`` files: the layout ``spectra_file.SpectraFile`` reads, block by block.

Used by the simulator's file output, the tests and the benchmarks, so simulated data goes through
the same reader as the telescope's.

>>> import tempfile
>>> import numpy as np
>>> path = tempfile.mkdtemp() + "/demo.spectra"
>>> with SpectraWriter(path, fftlen=16, nfft2int=4, nffte=8, subbands=[200, 201]) as writer:
...     writer.write(1.7e9, xx=np.ones((8, 32), np.float32), yy=np.ones((8, 32), np.float32))
>>> spectra = SpectraFile(path)
>>> block = next(spectra.iter_blocks(stokes="I", correct_bandpass=False))
>>> block.data.shape, float(block.data[0, 0]), float(block.freq_hz[0]), spectra.dt_s
((8, 32), 2.0, 38964843.75, 0.00032768)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from nenubroker.edge.pfb_bandpass import pfb_power_response
from nenubroker.edge.spectra_file import SUBBAND_WIDTH_HZ, SpectraFile, SpectraLayout, split_unix  # noqa: F401 (SpectraFile: the doctest)


class SpectraWriter:
    """Write a ``.spectra`` file block by block, flushing each so a follower sees it whole.

    Parameters
    ----------
    path : str or Path
        Created or overwritten.
    fftlen, nfft2int, nffte : int
        Channels per subband, FFTs per spectrum, spectra per block.
    subbands : sequence of int
        Beamlet ``channel`` numbers (subband n is centred at n·195312.5 Hz).
    beams, lanes : sequence of int, optional
        Per beamlet; zeros by default.
    """

    def __init__(self, path: str | Path, *, fftlen: int, nfft2int: int, nffte: int,
                 subbands: Sequence[int], beams: Sequence[int] | None = None,
                 lanes: Sequence[int] | None = None, fftovlp: int = 0, apodisation: int = 0) -> None:
        self.path = Path(path)
        self.layout = SpectraLayout(fftlen, nfft2int, nffte, len(subbands), fftovlp, apodisation)
        self.layout.check(self.path, 0)
        zeros = [0] * len(subbands)
        self._ids = tuple(np.asarray(zeros if ids is None else ids) for ids in (lanes, beams, subbands))
        self.n_written = 0
        self._next_start_s = 0.0
        self._file = open(self.path, "wb")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def write_raw(self, fft0: np.ndarray, fft1: np.ndarray, *, timestamp: int, blockseqnumber: int,
                  idx: int | None = None, nbchan: int | None = None) -> None:
        """Append one block as stored: arrays (n_subbands, nffte, fftlen, 2) in FFT channel order."""
        lay = self.layout
        rec = np.zeros((), dtype=lay.dtype)
        rec["idx"] = self.n_written * lay.nffte * lay.fftlen * lay.nfft2int if idx is None else idx
        rec["TIMESTAMP"], rec["BLOCKSEQNUMBER"] = timestamp, blockseqnumber
        for name in ("fftlen", "nfft2int", "fftovlp", "apodisation", "nffte"):
            rec[name] = getattr(lay, name)
        rec["nbchan"] = lay.n_subbands if nbchan is None else nbchan
        for name, values in zip(("lane", "beam", "channel"), self._ids):
            rec["data"][name] = values
        rec["data"]["fft0"], rec["data"]["fft1"] = fft0, fft1
        self._file.write(rec.tobytes())
        self._file.flush()
        self.n_written += 1
        self._next_start_s = timestamp + blockseqnumber / SUBBAND_WIDTH_HZ + lay.block_duration_s

    def write(self, time_start_unix_s: float, xx: np.ndarray, yy: np.ndarray,
              u: np.ndarray | None = None, v: np.ndarray | None = None,
              apply_pfb_ripple: bool = False) -> None:
        """Append one block from physical-order (nffte, n_freq) arrays, as the reader returns them.

        The start is rounded to the 5.12 µs BLOCKSEQNUMBER tick. ``apply_pfb_ripple`` multiplies
        by the PFB response, as the instrument does, so the reader's correction undoes it.
        """
        lay = self.layout
        gain = pfb_power_response(lay.fftlen) if apply_pfb_ripple else np.ones(lay.fftlen)

        def raw(a: np.ndarray | None) -> np.ndarray:
            if a is None:
                return np.zeros((lay.n_subbands, lay.nffte, lay.fftlen), dtype=np.float32)
            cube = np.asarray(a, dtype=np.float64).reshape(lay.nffte, lay.n_subbands, lay.fftlen) * gain
            return np.fft.ifftshift(cube, axes=-1).transpose(1, 0, 2).astype(np.float32)

        fft0 = np.stack([raw(xx), raw(yy)], axis=-1)
        fft1 = np.stack([raw(None if u is None else np.asarray(u) / 2),
                         raw(None if v is None else np.asarray(v) / 2)], axis=-1)
        seconds, ticks = split_unix(time_start_unix_s)
        self.write_raw(fft0, fft1, timestamp=seconds, blockseqnumber=ticks)

    def write_lost(self, reason: str = "timestamp") -> None:
        """Append a lost block of zeros, flagged as UnDySPuTeD does: TIMESTAMP = 0 (``"timestamp"``),
        idx = 0 (``"idx"``) or a negative nbchan (``"nbchan"``)."""
        if reason not in ("timestamp", "idx", "nbchan"):
            raise ValueError(f"reason must be timestamp, idx or nbchan, got {reason!r}")
        lay = self.layout
        zeros = np.zeros((lay.n_subbands, lay.nffte, lay.fftlen, 2), dtype=np.float32)
        start_s = self._next_start_s
        seconds, ticks = (0, 0) if reason == "timestamp" else split_unix(start_s)
        self.write_raw(zeros, zeros, timestamp=seconds, blockseqnumber=ticks,
                       idx=0 if reason == "idx" else None,
                       nbchan=-lay.n_subbands if reason == "nbchan" else None)
        self._next_start_s = start_s + lay.block_duration_s


__all__ = ["SpectraWriter"]
