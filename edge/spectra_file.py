"""Read NenuFAR beamformed UnDySPuTeD "TF" ``.spectra`` files, one block at a time.

A file is a run of fixed-size blocks. Each holds ``nffte`` spectra of ``nbchan`` subbands of
``fftlen`` channels as raw polarisation products (XX*, YY*, Re XY*, -Im XY*). The reader
memory-maps the file and decodes one block at a time, so a multi-GB file costs one block of
RAM, and it can follow a file the recorder is still writing. ``spectra_writer.SpectraWriter``
makes the same layout, so simulated data goes through the same reader. Layout, timing and lost-block rules
are those of nenupy 2.8.5 (``nenupy/io/tf.py``); unlike nenupy, lost blocks come back as NaN
and times are exact to the spectrum.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nenubroker.edge.pfb_bandpass import pfb_correction
from nenubroker.records.chunk import SpectraChunk

SUBBAND_WIDTH_HZ = 195312.5
HEADER_DTYPE = np.dtype(
    [("idx", "<u8"), ("TIMESTAMP", "<u8"), ("BLOCKSEQNUMBER", "<u8"), ("fftlen", "<i4"),
     ("nfft2int", "<i4"), ("fftovlp", "<i4"), ("apodisation", "<i4"), ("nffte", "<i4"),
     ("nbchan", "<i4")]
)
FFTLEN_RANGE = (16, 2048)
NFFT2INT_RANGE = (4, 1024)
MAX_BEAMLETS = 768  # 4 lanes x 192 beamlets
MAX_NFFTE = 1 << 20
MAX_SUBBAND = 1023
MAX_UNIX_S = 2.0**32  # a good block starting later is garbage, not data


class SpectraFileError(ValueError):
    """A ``.spectra`` file that cannot be read as one; names the file and the byte offset."""

    def __init__(self, path: str | Path, offset: int, message: str) -> None:
        self.path = str(path)
        self.offset = int(offset)
        super().__init__(f"{self.path}: at byte offset {self.offset}: {message}")


class SpectraTruncatedWarning(UserWarning):
    """The file ends inside a block (a copy cut short, or a recorder still writing)."""


@dataclass(frozen=True)
class SpectraLayout:
    """The block geometry every block of a file shares."""

    fftlen: int
    nfft2int: int
    nffte: int
    n_subbands: int
    fftovlp: int = 0
    apodisation: int = 0

    @property
    def df_hz(self) -> float:
        return SUBBAND_WIDTH_HZ / self.fftlen

    @property
    def dt_s(self) -> float:
        return self.fftlen * self.nfft2int / SUBBAND_WIDTH_HZ

    @property
    def block_duration_s(self) -> float:
        return self.nffte * self.dt_s

    @property
    def n_freq(self) -> int:
        return self.n_subbands * self.fftlen

    @property
    def dtype(self) -> np.dtype:
        shape = (self.nffte, self.fftlen, 2)
        beamlet = np.dtype([("lane", "<i4"), ("beam", "<i4"), ("channel", "<i4"),
                            ("fft0", "<f4", shape), ("fft1", "<f4", shape)])
        return np.dtype(HEADER_DTYPE.descr + [("data", beamlet, (self.n_subbands,))])

    @property
    def block_bytes(self) -> int:
        return int(self.dtype.itemsize)

    def check(self, path: str | Path, offset: int) -> None:
        """Refuse settings UnDySPuTeD cannot produce: they mean a wrong header or garbage."""
        for name, value, ok, allowed in (
            ("fftlen", self.fftlen, FFTLEN_RANGE[0] <= self.fftlen <= FFTLEN_RANGE[1]
             and self.fftlen % 2 == 0, "even, 16..2048"),
            ("nfft2int", self.nfft2int, NFFT2INT_RANGE[0] <= self.nfft2int <= NFFT2INT_RANGE[1], "4..1024"),
            ("nffte", self.nffte, 1 <= self.nffte <= MAX_NFFTE, f"1..{MAX_NFFTE}"),
            ("nbchan", self.n_subbands, 1 <= self.n_subbands <= MAX_BEAMLETS, f"±1..{MAX_BEAMLETS}"),
        ):
            if not ok:
                raise SpectraFileError(path, offset, f"{name}={value}, expected {allowed}")


@dataclass(frozen=True)
class SpectraBlock:
    """A stretch of dynamic spectrum: ``data`` is (n_time, n_freq) float32, axes in unix s and Hz.

    ``beam`` is the beam number of each frequency column; ``lost`` flags the rows of lost blocks,
    which hold NaN.
    """

    block_index: int
    time_unix_s: np.ndarray
    time_step_s: float
    freq_hz: np.ndarray
    data: np.ndarray
    beam: np.ndarray
    lost: np.ndarray

    def to_chunk(self, beam: str, chunk_index: int, source: str = "spectra_file") -> SpectraChunk:
        """The broker's unit of data, so recorded files feed the same stream as the simulator."""
        return SpectraChunk(beam=beam, chunk_index=chunk_index,
                            time_start_unix_s=float(self.time_unix_s[0]),
                            time_step_s=self.time_step_s, freq_hz=self.freq_hz, data=self.data,
                            source=source, created_unix_s=time.time())


# One polarisation product from the raw (..., 2) arrays, in nenupy's conventions.
_PRODUCTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "I": lambda fft0, fft1: fft0[..., 0] + fft0[..., 1],
    "Q": lambda fft0, fft1: fft0[..., 0] - fft0[..., 1],
    "U": lambda fft0, fft1: 2 * fft1[..., 0],
    "V": lambda fft0, fft1: 2 * fft1[..., 1],
    "XX": lambda fft0, fft1: fft0[..., 0],
    "YY": lambda fft0, fft1: fft0[..., 1],
}
STOKES = tuple(_PRODUCTS)


def split_unix(time_unix_s: float) -> tuple[int, int]:
    """(TIMESTAMP, BLOCKSEQNUMBER): whole seconds and 5.12 µs ticks."""
    seconds = int(np.floor(time_unix_s))
    return seconds, round((time_unix_s - seconds) * SUBBAND_WIDTH_HZ)


def _fill_lost_times(start_s: np.ndarray, lost: np.ndarray, block_duration_s: float) -> np.ndarray:
    """Place lost blocks one nominal block after the previous good one (before the first good one
    for leading losses): their own TIMESTAMP cannot be trusted."""
    k = np.arange(start_s.size)
    prev = np.maximum.accumulate(np.where(lost, -1, k))
    out = np.where(lost, np.nan, start_s)
    after = lost & (prev >= 0)
    out[after] = start_s[prev[after]] + (k - prev)[after] * block_duration_s
    if (~lost).any():
        first = int(np.argmax(~lost))
        lead = k < first
        out[lead] = start_s[first] - (first - k[lead]) * block_duration_s
    return out


class SpectraFile:
    """A ``.spectra`` file opened by memory map; blocks are decoded only when asked for.

    Parameters
    ----------
    path : str or Path
        The file. Only its first block header needs to exist: a file still being written is fine.
    warn_truncated : bool
        Warn (``SpectraTruncatedWarning``) when the file ends inside a block. The complete
        blocks are read either way; pass False for a file still being written.

    Raises
    ------
    SpectraFileError
        Header values UnDySPuTeD cannot produce, or a block inconsistent with the first one.

    Notes
    -----
    A block is lost when TIMESTAMP = 0, idx = 0 (except block 0) or nbchan < 0, as in nenupy.
    Lost blocks are counted, skipped by ``iter_blocks`` and NaN in ``read``.
    """

    def __init__(self, path: str | Path, *, warn_truncated: bool = True) -> None:
        self.path = Path(path)
        size = self.path.stat().st_size
        if size < HEADER_DTYPE.itemsize:
            raise SpectraFileError(self.path, size, f"file holds {size} bytes, less than a 48-byte header")
        with open(self.path, "rb") as f:
            head = np.frombuffer(f.read(HEADER_DTYPE.itemsize), dtype=HEADER_DTYPE)[0]
        self.layout = SpectraLayout(
            fftlen=int(head["fftlen"]), nfft2int=int(head["nfft2int"]), nffte=int(head["nffte"]),
            n_subbands=abs(int(head["nbchan"])), fftovlp=int(head["fftovlp"]),
            apodisation=int(head["apodisation"]))
        self.layout.check(self.path, 0)
        self.truncated_bytes = 0
        self._mm: np.memmap | None = None
        self._lost = np.zeros(0, dtype=bool)
        self._raw_start_s = np.zeros(0)
        self._start_s = np.zeros(0)
        self._ref: tuple[np.ndarray, np.ndarray] | None = None
        self._refresh(warn=warn_truncated)

    def close(self) -> None:
        """Drop the memory map (no file handle stays open; returned blocks own their data)."""
        self._mm = None

    # --- geometry and axes -------------------------------------------------------------------
    fftlen = property(lambda self: self.layout.fftlen)
    nfft2int = property(lambda self: self.layout.nfft2int)
    nffte = property(lambda self: self.layout.nffte)
    n_subbands = property(lambda self: self.layout.n_subbands)
    df_hz = property(lambda self: self.layout.df_hz)
    dt_s = property(lambda self: self.layout.dt_s)
    block_bytes = property(lambda self: self.layout.block_bytes)

    @property
    def n_blocks(self) -> int:
        """Complete blocks, lost ones included."""
        return int(self._lost.size)

    @property
    def n_lost_blocks(self) -> int:
        return int(self._lost.sum())

    @property
    def lost_block_indices(self) -> np.ndarray:
        return np.flatnonzero(self._lost)

    @property
    def lost_block_times_unix_s(self) -> np.ndarray:
        """Start of each lost block, placed by its good neighbours (see ``_fill_lost_times``)."""
        return self._start_s[self._lost]

    @property
    def block_start_unix_s(self) -> np.ndarray:
        return self._start_s.copy()

    @property
    def time_start_unix_s(self) -> float:
        return float(self._start_s[0]) if self.n_blocks else float("nan")

    @property
    def time_stop_unix_s(self) -> float:
        """End of the last complete block's last integration."""
        return float(self._start_s[-1] + self.layout.block_duration_s) if self.n_blocks else float("nan")

    @property
    def subbands(self) -> np.ndarray:
        """Subband (beamlet ``channel``) numbers, from the first good block."""
        return self._ref[0].copy() if self._ref else np.zeros(0, dtype=np.int32)

    @property
    def beam(self) -> np.ndarray:
        """Beam number of each frequency column."""
        return np.repeat(self._ref[1], self.fftlen) if self._ref else np.zeros(0, dtype=np.int32)

    @property
    def freq_hz(self) -> np.ndarray:
        """Centre of each channel: subband n, channel j (after fftshift) is n·195312.5 + (j − fftlen/2)·df."""
        offsets_hz = (np.arange(self.fftlen) - self.fftlen // 2) * self.df_hz
        return (self.subbands[:, None] * SUBBAND_WIDTH_HZ + offsets_hz).ravel()

    # --- scanning ----------------------------------------------------------------------------
    def _refresh(self, warn: bool) -> None:
        """Map the complete blocks present now and check the new ones' headers."""
        size = self.path.stat().st_size
        n_complete = size // self.block_bytes
        if n_complete > self.n_blocks:
            mm = np.memmap(self.path, dtype=self.layout.dtype, mode="r", shape=(n_complete,))
            self._scan(mm, self.n_blocks, n_complete)
            self._mm = mm
        self.truncated_bytes = size - n_complete * self.block_bytes
        if warn and self.truncated_bytes:
            warnings.warn(
                f"{self.path}: at byte offset {n_complete * self.block_bytes}: incomplete block "
                f"({self.truncated_bytes} of {self.block_bytes} bytes); reading the {n_complete} "
                "complete blocks", SpectraTruncatedWarning, stacklevel=3)

    def _fail(self, block: int, message: str) -> SpectraFileError:
        return SpectraFileError(self.path, block * self.block_bytes, f"block {block}: {message}")

    def _scan(self, mm: np.memmap, k0: int, k1: int) -> None:
        """Flag lost blocks and refuse garbage: good blocks must share the first one's layout,
        a plausible start time and the same beamlets; lost ones the layout or zeros."""
        h = mm[k0:k1]
        nbchan = np.asarray(h["nbchan"])
        lost = (h["TIMESTAMP"] == 0) | (nbchan < 0) | ((h["idx"] == 0) & (np.arange(k0, k1) != 0))
        lay = self.layout
        for name, want in (("fftlen", lay.fftlen), ("nfft2int", lay.nfft2int), ("nffte", lay.nffte),
                           ("nbchan", lay.n_subbands)):
            got = np.abs(np.asarray(h[name]))
            bad = np.flatnonzero((got != want) & ~(lost & (got == 0)))
            if bad.size:
                i = int(bad[0])
                raise self._fail(k0 + i, f"header says {name}={int(h[name][i])} but block 0 says {want} "
                                 f"(garbage, or block 0's header is wrong and so is its "
                                 f"{lay.block_bytes}-byte block size)")
        start_s = h["TIMESTAMP"].astype(np.float64) + h["BLOCKSEQNUMBER"] / SUBBAND_WIDTH_HZ
        late = np.flatnonzero(~lost & (start_s >= MAX_UNIX_S))
        if late.size:
            raise self._fail(k0 + int(late[0]), f"start {start_s[late[0]]:.6g} s is no unix time (garbage?)")
        good = np.flatnonzero(~lost)
        channels, beams = np.asarray(h["data"]["channel"]), np.asarray(h["data"]["beam"])
        if self._ref is None and good.size:
            first = channels[good[0]]
            if first.min() < 0 or first.max() > MAX_SUBBAND:
                raise self._fail(k0 + int(good[0]), f"subband numbers outside 0..{MAX_SUBBAND} (garbage?)")
            self._ref = (first.copy(), beams[good[0]].copy())
        if self._ref is not None:
            differ = (channels[good] != self._ref[0]).any(axis=1) | (beams[good] != self._ref[1]).any(axis=1)
            if differ.any():
                raise self._fail(k0 + int(good[np.argmax(differ)]),
                                 "beamlet subbands/beams differ from the first good block's")
        self._lost = np.concatenate([self._lost, lost])
        self._raw_start_s = np.concatenate([self._raw_start_s, start_s])
        self._start_s = _fill_lost_times(self._raw_start_s, self._lost, lay.block_duration_s)

    # --- decoding ----------------------------------------------------------------------------
    def block(self, index: int, stokes: str = "I", correct_bandpass: bool = True) -> SpectraBlock:
        """Decode one block; a lost block comes back as NaN rows at its reconstructed time.

        Parameters
        ----------
        index : int
            Block number, 0-based, < ``n_blocks``.
        stokes : str
            One of ``STOKES``: I = XX + YY, Q = XX − YY, U = 2 Re XY*, V = −2 Im XY*.
        correct_bandpass : bool
            Flatten the PFB ripple inside each subband (``pfb_bandpass``).
        """
        if self._mm is None or not 0 <= index < self.n_blocks:
            raise IndexError(f"{self.path}: block {index} not in 0..{self.n_blocks - 1}")
        stokes = stokes.upper()
        if stokes not in STOKES:
            raise ValueError(f"stokes must be one of {STOKES}, got {stokes!r}")
        lay = self.layout
        times_s = self._start_s[index] + np.arange(lay.nffte) * lay.dt_s
        lost = bool(self._lost[index])
        if lost:
            data = np.full((lay.nffte, lay.n_freq), np.nan, dtype=np.float32)
        else:
            beamlets = self._mm[index]["data"]
            per_subband = _PRODUCTS[stokes](beamlets["fft0"], beamlets["fft1"])
            shifted = np.fft.fftshift(per_subband, axes=-1)  # DC first -> lowest channel first
            if correct_bandpass:
                shifted *= pfb_correction(lay.fftlen).astype(np.float32)
            data = np.ascontiguousarray(shifted.transpose(1, 0, 2)).reshape(lay.nffte, lay.n_freq)
        return SpectraBlock(block_index=index, time_unix_s=times_s, time_step_s=lay.dt_s,
                            freq_hz=self.freq_hz, data=data, beam=self.beam,
                            lost=np.full(lay.nffte, lost))

    def iter_blocks(self, stokes: str = "I", correct_bandpass: bool = True,
                    include_lost: bool = False, start_block: int = 0) -> Iterator[SpectraBlock]:
        """Yield the blocks in file order, skipping lost ones unless ``include_lost``."""
        for k in range(start_block, self.n_blocks):
            if include_lost or not self._lost[k]:
                yield self.block(k, stokes, correct_bandpass)

    def read(self, time_start_unix_s: float | None = None, time_stop_unix_s: float | None = None,
             stokes: str = "I", correct_bandpass: bool = True) -> SpectraBlock:
        """The spectra whose integration starts in [start, stop), lost blocks as NaN rows.

        Only the blocks in the range are decoded; the result is the one array allocated.
        """
        t0 = -np.inf if time_start_unix_s is None else time_start_unix_s
        t1 = np.inf if time_stop_unix_s is None else time_stop_unix_s
        times_s = self._start_s[:, None] + np.arange(self.nffte) * self.dt_s
        with np.errstate(invalid="ignore"):
            selected = (times_s >= t0) & (times_s < t1)
        blocks = np.flatnonzero(selected.any(axis=1))
        data = np.empty((int(selected.sum()), self.layout.n_freq), dtype=np.float32)
        row = 0
        for k in blocks:
            rows = selected[k]
            data[row:row + rows.sum()] = self.block(int(k), stokes, correct_bandpass).data[rows]
            row += int(rows.sum())
        return SpectraBlock(block_index=int(blocks[0]) if blocks.size else -1,
                            time_unix_s=times_s[selected], time_step_s=self.dt_s, freq_hz=self.freq_hz,
                            data=data, beam=self.beam,
                            lost=np.broadcast_to(self._lost[:, None], selected.shape)[selected])

    def follow(self, poll_s: float = 0.5, idle_timeout_s: float = 30.0,
               stop: Callable[[], bool] | None = None, stokes: str = "I",
               correct_bandpass: bool = True, include_lost: bool = False,
               start_block: int = 0) -> Iterator[SpectraBlock]:
        """Yield blocks as the recorder completes them (tail mode).

        A partly written block is left until it is whole. Stops when ``stop()`` is true (checked
        before each block and each poll), or when no new block has come for ``idle_timeout_s``.
        """
        next_block = start_block
        last_new_s = time.monotonic()
        while True:
            self._refresh(warn=False)
            if next_block < self.n_blocks:
                for k in range(next_block, self.n_blocks):
                    if stop is not None and stop():
                        return
                    next_block = k + 1
                    if include_lost or not self._lost[k]:
                        yield self.block(k, stokes, correct_bandpass)
                last_new_s = time.monotonic()
                continue
            if stop is not None and stop():
                return
            if time.monotonic() - last_new_s >= idle_timeout_s:
                return
            time.sleep(poll_s)


__all__ = [
    "HEADER_DTYPE", "STOKES", "SUBBAND_WIDTH_HZ", "SpectraBlock", "SpectraFile", "SpectraFileError",
    "SpectraLayout", "SpectraTruncatedWarning", "split_unix",
]
