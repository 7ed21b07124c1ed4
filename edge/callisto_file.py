"""Read e-CALLISTO FITS dynamic spectra (``.fit``, ``.fit.gz``, ``.fits``) as blocks for the edge ingester.

An e-CALLISTO file (the layout of the network's archive, read the same way by sunpy's radiospectra
and by pyCallisto) holds:

- a primary image of uint8 **digits**, frequency x time (``NAXIS2`` channels x ``NAXIS1`` samples,
  numpy shape ``(n_freq, n_time)``), BZERO/BSCALE applied if present, ``BUNIT = 'digits'``;
- a binary table with one row holding the vectors ``TIME`` (s) and ``FREQUENCY`` (MHz);
- ``DATE-OBS``/``TIME-OBS`` (start, ``2011/06/07`` and ``06:24:00.213``), ``DATE-END``/``TIME-END``
  (the hour can read 24 after midnight), ``CRVAL1`` (start, seconds of day) and ``CDELT1`` (0.25 s).

``TIME`` counts seconds from ``TIME-OBS`` in the archive's files, seconds of day in some others: the
reader takes the reading that puts the first and last samples nearer ``TIME-OBS``/``TIME-END``.
The frequency program is stored as measured: usually descending, irregular (on the tuner's 62.5 kHz
raster, 0.06-0.7 MHz apart) and with unused slots repeating a frequency. The reader sorts channels
ascending and keeps the first of each repeated frequency.

**Digits to power.** The receiver's logarithmic detector gives 25.4 mV per dB and its 8-bit ADC
spans 2500 mV, so one digit is 2500 / 255 / 25.4 = 0.386 dB (``DB_PER_DIGIT``; the e-CALLISTO
hardware figures, C. Monstein's CALLISTO documentation). Power = 10^(digits x 0.386 / 10), in the
receiver's arbitrary linear unit; a 1-digit step is a 9 % power step. Samples at 255 (``saturated_digit``,
the ADC clipped) and at 0 (``lost_digit``: no data) are lost: NaN, counted, never averaged in. Before
converting, each digit is spread over its quantisation interval (a seeded +-0.5-digit dither, see
:class:`CallistoFile`): noise under one digit rms otherwise makes median statistics step in whole
digits or vanish, and the RFI flagger then flags 12-37 % of the channels as dead in the quiet
first 100 s of the real file in tests/data/callisto/ (3-5 % with the dither).

**Irregular channels** are kept as they are by default (``freq_step_hz=None``): the detector
(``udfs/burst_search``) normalises every channel by its own noise and then bins channels by
frequency with a count per bin, so irregular and uneven spacing give correct S/N, extents and
drifts; the downsampler averages adjacent channels (by default none for these files). Resampling
to a regular grid before that normalisation would mix channels averaged from one and from two
measurements, whose noise differs by sqrt(2), and so bias the detector. ``freq_step_hz`` bins onto
a regular grid anyway (mean of the channels in each bin, NaN where none) for consumers that need one.

A truncated, garbled or wrongly shaped file raises :class:`CallistoFileError` naming the file.

>>> import tempfile, numpy as np
>>> from astropy.io import fits
>>> path = tempfile.mkdtemp() + "/SIM_20240101_120000_01.fit"
>>> image = fits.PrimaryHDU(np.full((3, 8), 100, np.uint8))
>>> image.header.update({"DATE-OBS": "2024/01/01", "TIME-OBS": "12:00:00.000", "CDELT1": 0.25})
>>> table = fits.BinTableHDU.from_columns([fits.Column("TIME", "8D", array=[0.25 * np.arange(8)]),
...                                        fits.Column("FREQUENCY", "3D", array=[[45.0, 44.5, 44.0]])])
>>> fits.HDUList([image, table]).writeto(path)
>>> block = CallistoFile(path, dither=False).read()
>>> block.data.shape, block.freq_hz.tolist(), float(block.time_unix_s[0]), round(float(block.data[0, 0]), 1)
((8, 3), [44000000.0, 44500000.0, 45000000.0], 1704110400.0, 7241.2)
"""

from __future__ import annotations

import calendar
import gzip
import re
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from nenubroker.records.chunk import SpectraChunk

#: One ADC digit in dB: 2500 mV / 255 digits / 25.4 mV per dB (e-CALLISTO log detector and ADC).
DB_PER_DIGIT = 2500.0 / 255.0 / 25.4
SATURATED_DIGIT = 255
LOST_DIGIT = 0
#: File names the edge reads with this module (case-insensitive).
CALLISTO_SUFFIXES = (".fit", ".fits", ".fts", ".fit.gz", ".fits.gz", ".fts.gz")
_UNIX_RANGE_S = (calendar.timegm((1990, 1, 1, 0, 0, 0)), calendar.timegm((2100, 1, 1, 0, 0, 0)))
_DAY_S = 86400.0
FITS_BLOCK_BYTES = 2880
DITHER_SEED = 20110607


class CallistoFileError(ValueError):
    """An e-CALLISTO FITS file that cannot be read as one; names the file and what is wrong."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class CallistoHeaderWarning(UserWarning):
    """A header value that disagrees with the data (the data are trusted)."""


def is_callisto_path(path: str | Path) -> bool:
    """Whether the file name says FITS (``.fit``, ``.fits``, ``.fts``, optionally gzipped)."""
    return str(path).lower().endswith(CALLISTO_SUFFIXES)


def digits_to_power(digits: np.ndarray) -> np.ndarray:
    """Linear power (arbitrary unit, digit 0 = 1) of log-detector digits: 10^(digits x 0.386 / 10)."""
    return np.power(10.0, np.asarray(digits, dtype=np.float64) * (DB_PER_DIGIT / 10.0)).astype(np.float32)


@dataclass(frozen=True)
class CallistoBlock:
    """Consecutive samples: ``data`` (n_time, n_freq) float32 linear power, NaN where ``lost``.

    ``lost`` marks saturated and no-data samples (and, with a regular grid, empty channels).
    """

    block_index: int
    time_unix_s: np.ndarray
    time_step_s: float
    freq_hz: np.ndarray
    data: np.ndarray
    lost: np.ndarray

    def to_chunk(self, beam: str, chunk_index: int, source: str = "callisto_file") -> SpectraChunk:
        """The broker's unit of data, as ``SpectraBlock.to_chunk`` makes from ``.spectra`` files."""
        return SpectraChunk(beam=beam, chunk_index=chunk_index, time_start_unix_s=float(self.time_unix_s[0]),
                            time_step_s=self.time_step_s, freq_hz=self.freq_hz, data=self.data,
                            source=source, created_unix_s=time.time())


def _parse_date(text: str) -> tuple[int, int, int]:
    match = re.match(r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})", text)
    if not match:
        raise ValueError(f"date {text!r} is not YYYY/MM/DD")
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"date {text!r} is not a calendar date")
    return year, month, day


def _parse_clock(text: str) -> float:
    """Seconds after midnight of ``hh:mm:ss[.fff]``; the hour may be 24 or more (the next day)."""
    match = re.match(r"\s*(\d{1,3}):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$", text)
    if not match:
        raise ValueError(f"time {text!r} is not hh:mm:ss")
    hours, minutes, seconds = int(match[1]), int(match[2]), float(match[3])
    if minutes >= 60 or seconds >= 61:
        raise ValueError(f"time {text!r} is not a clock time")
    return hours * 3600.0 + minutes * 60.0 + seconds


def _header_time(header: fits.Header, date_key: str, time_key: str) -> tuple[float, float] | None:
    """(unix s of that day's midnight, seconds of day) from a DATE/TIME pair; None if absent."""
    date, clock = header.get(date_key), header.get(time_key)
    if not isinstance(date, str):
        return None
    if not isinstance(clock, str) and "T" in date:  # ISO DATE-OBS with the time in it
        date, clock = date.split("T", 1)
    if not isinstance(clock, str):
        return None
    midnight = float(calendar.timegm((*_parse_date(date), 0, 0, 0)))
    return midnight, _parse_clock(clock)


class CallistoFile:
    """An e-CALLISTO FITS file, read whole (files hold 15 min: about 0.7 MB).

    Parameters
    ----------
    path : str or Path
        ``.fit``, ``.fits`` or ``.fts``, gzipped or not.
    freq_step_hz : float or None
        None keeps the file's channels (sorted, repeats dropped); a step bins them onto a regular
        grid from the lowest frequency (see the module docstring for why the default is None).
    dither : bool
        Spread each digit uniformly over its quantisation interval (+-0.5 digit) before converting.
        Digits are integers and a quiet channel's noise is under one digit rms, so over a chunk more
        than half of its samples share one value: median statistics then come out 0 (the RFI
        flagger calls such a channel dead) or move in whole digits (burst_search's noise). The
        dither (seeded: the same on every read) makes them continuous; it adds 1/12 digit^2 of
        variance to the ~0.7 digit^2 of the noise.
    saturated_digit, lost_digit : int
        Samples at or above ``saturated_digit`` (clipped ADC) and at or below ``lost_digit`` (no
        data) become NaN.

    Raises
    ------
    CallistoFileError
        Missing file, not FITS, truncated, no image or no TIME/FREQUENCY table, shapes that
        disagree, or timestamps that are not a plausible regular time axis.
    """

    def __init__(self, path: str | Path, *, freq_step_hz: float | None = None, dither: bool = True,
                 saturated_digit: int = SATURATED_DIGIT, lost_digit: int = LOST_DIGIT) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CallistoFileError(self.path, "no such file")
        header, digits, time_column, freq_mhz = self._load()
        self.header = header
        self.station = str(header.get("INSTRUME", "")).strip()
        self.time_unix_s, self.time_step_s, self.time_column = self._time_axis(header, time_column)
        order, self.duplicate_freq_hz = self._channel_order(freq_mhz)
        self.n_dropped_channels = int(freq_mhz.size - order.size)
        self.native_freq_hz = freq_mhz[order] * 1e6
        digits = digits[order].T  # (n_time, n_freq), ascending frequency
        self.saturated = digits >= saturated_digit
        self.no_data = digits <= lost_digit
        if dither:  # the same draw every time the file is read: re-reading gives the same power
            digits = digits + np.random.default_rng(DITHER_SEED).uniform(-0.5, 0.5, digits.shape)
        power = digits_to_power(digits)
        power[self.saturated | self.no_data] = np.nan
        if freq_step_hz is None:
            self.freq_hz, self.power = self.native_freq_hz, power
        else:
            self.freq_hz, self.power = _regrid(self.native_freq_hz, power, float(freq_step_hz))

    # --- loading -----------------------------------------------------------------------------
    def _fail(self, message: str) -> CallistoFileError:
        return CallistoFileError(self.path, message)

    def _fits_head_and_size(self) -> tuple[bytes, int]:
        """The first card and the number of bytes of FITS (after gunzip): a whole FITS file is whole
        2880-byte blocks."""
        gzipped = self.path.name.lower().endswith(".gz")
        try:
            with (gzip.open if gzipped else open)(self.path, "rb") as stream:
                head = stream.read(80)
                return head, len(head) + sum(len(part) for part in iter(lambda: stream.read(1 << 20), b""))
        except (OSError, EOFError, zlib.error) as error:
            raise self._fail(f"not a readable {'gzip ' if gzipped else ''}file ({error})") from error

    @staticmethod
    def _truncation(caught: list[warnings.WarningMessage]) -> str:
        said = [str(w.message) for w in caught if "truncated" in str(w.message).lower()]
        return f"truncated FITS file ({said[0]})" if said else ""

    def _load(self) -> tuple[fits.Header, np.ndarray, np.ndarray, np.ndarray]:
        """Header, digits (n_freq, n_time) float64, TIME and FREQUENCY vectors; every FITS failure
        becomes a CallistoFileError."""
        head, size = self._fits_head_and_size()
        if not head.startswith(b"SIMPLE  ="):
            raise self._fail(f"not a FITS file (begins {head[:16]!r}, not 'SIMPLE  =')")
        if size % FITS_BLOCK_BYTES:
            raise self._fail(f"truncated or garbled FITS file: {size} bytes, not whole {FITS_BLOCK_BYTES}-byte blocks")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with fits.open(self.path, memmap=False, do_not_scale_image_data=True) as hdus:
                    header = hdus[0].header.copy()
                    image = hdus[0].data
                    table = hdus[1].data if len(hdus) > 1 and isinstance(hdus[1], fits.BinTableHDU) else None
                    names = {n.upper(): n for n in table.columns.names} if table is not None else {}
                    columns = {key: np.asarray(table[names[key]], dtype=np.float64).ravel()
                               for key in ("TIME", "FREQUENCY") if key in names}
                    image = None if image is None else np.array(image)
            except (OSError, EOFError, zlib.error, ValueError, TypeError, KeyError, IndexError) as error:
                said = str(error).split(". ")[0]  # astropy's first sentence, without its advice
                raise self._fail(self._truncation(caught) or f"not a readable FITS file ({said})") from error
        if self._truncation(caught):
            raise self._fail(self._truncation(caught))
        if image is None or image.ndim != 2:
            raise self._fail(f"primary HDU holds no 2-D image (NAXIS={header.get('NAXIS')}): not e-CALLISTO")
        if table is None:
            raise self._fail("no binary table extension with TIME and FREQUENCY")
        for key in ("TIME", "FREQUENCY"):
            if key not in columns:
                raise self._fail(f"binary table has no {key} column (columns: {sorted(names)})")
        n_freq, n_time = image.shape
        if columns["FREQUENCY"].size != n_freq or columns["TIME"].size != n_time:
            raise self._fail(
                f"image is {n_freq} channels x {n_time} samples (NAXIS2 x NAXIS1) but the table holds "
                f"{columns['FREQUENCY'].size} FREQUENCY and {columns['TIME'].size} TIME values")
        digits = image.astype(np.float64) * float(header.get("BSCALE", 1.0)) + float(header.get("BZERO", 0.0))
        return header, digits, columns["TIME"], columns["FREQUENCY"]

    def _time_axis(self, header: fits.Header, seconds: np.ndarray) -> tuple[np.ndarray, float, str]:
        """Unix times of the samples, the step, and how TIME was read ("offset" or "seconds_of_day")."""
        try:
            start = _header_time(header, "DATE-OBS", "TIME-OBS")
            end = _header_time(header, "DATE-END", "TIME-END")
            if start is None and isinstance(header.get("DATE-OBS"), str) and "CRVAL1" in header:
                midnight = float(calendar.timegm((*_parse_date(header["DATE-OBS"]), 0, 0, 0)))
                start = (midnight, float(header["CRVAL1"]))  # seconds of day
        except (ValueError, TypeError) as error:
            raise self._fail(f"header DATE/TIME: {error}") from error
        if start is None:
            raise self._fail("header has no DATE-OBS/TIME-OBS (nor CRVAL1): no start time")
        if not np.isfinite(seconds).all():
            raise self._fail("TIME holds non-finite values")
        midnight, start_of_day = start
        start_unix = midnight + start_of_day
        of_day = seconds.copy()
        of_day[1:] += _DAY_S * np.cumsum(np.diff(seconds) < -_DAY_S / 2)  # past midnight
        readings = {"offset": start_unix + seconds, "seconds_of_day": midnight + of_day}
        end_unix = None if end is None else end[0] + end[1]

        def mismatch(times: np.ndarray) -> float:
            return abs(times[0] - start_unix) + (0.0 if end_unix is None else abs(times[-1] - end_unix))

        kind = min(readings, key=lambda k: mismatch(readings[k]))
        times = readings[kind]
        if not _UNIX_RANGE_S[0] <= times[0] <= _UNIX_RANGE_S[1]:
            raise self._fail(f"start {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(times[0]))} UTC "
                             "is not a plausible observing date (1990-2100)")
        if times.size < 2:
            raise self._fail("fewer than 2 samples")
        steps = np.diff(times)
        step = float(np.median(steps))
        if not 0 < step <= 60:
            raise self._fail(f"median TIME step {step:g} s is no sampling interval")
        jitter = np.abs(times - times[0] - step * np.arange(times.size))
        if (jitter > step / 2).any():
            k = int(np.argmax(jitter > step / 2))
            raise self._fail(f"TIME is not regular: sample {k} is {jitter[k]:.3g} s off the {step:g} s grid")
        cdelt = header.get("CDELT1")
        if isinstance(cdelt, int | float) and cdelt > 0 and abs(cdelt - step) > 0.01 * step:
            warnings.warn(f"{self.path}: CDELT1 = {cdelt} s but TIME steps by {step:g} s; using TIME",
                          CallistoHeaderWarning, stacklevel=3)
        if end_unix is not None and abs(times[-1] - end_unix) > max(60.0, 10 * step):
            warnings.warn(f"{self.path}: last sample at {times[-1] - start_unix:.1f} s but TIME-END says "
                          f"{end_unix - start_unix:.1f} s after TIME-OBS; using TIME", CallistoHeaderWarning,
                          stacklevel=3)
        return times, step, kind

    def _channel_order(self, freq_mhz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the kept channels, ascending in frequency, and the repeated frequencies (Hz)."""
        bad = ~np.isfinite(freq_mhz) | (freq_mhz <= 0)
        if bad.any():
            raise self._fail(f"FREQUENCY holds {int(bad.sum())} non-positive or non-finite values")
        order = np.argsort(freq_mhz, kind="stable")  # the first of repeated frequencies stays first
        keep = np.concatenate([[True], np.diff(freq_mhz[order]) > 0])
        if keep.sum() < 2:
            raise self._fail("fewer than 2 distinct frequencies")
        return order[keep], np.unique(freq_mhz[order][~keep]) * 1e6

    # --- what the file holds -----------------------------------------------------------------
    n_time = property(lambda self: int(self.power.shape[0]))
    n_freq = property(lambda self: int(self.power.shape[1]))
    n_saturated = property(lambda self: int(self.saturated.sum()))
    n_no_data = property(lambda self: int(self.no_data.sum()))

    @property
    def time_start_unix_s(self) -> float:
        return float(self.time_unix_s[0])

    @property
    def time_stop_unix_s(self) -> float:
        """End of the last sample."""
        return float(self.time_unix_s[-1] + self.time_step_s)

    def summary(self) -> str:
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.time_start_unix_s))
        return (f"{self.path.name}: {self.station or '?'} {start} UTC, {self.n_time} x {self.time_step_s:g} s, "
                f"{self.n_freq} channels {self.freq_hz[0] / 1e6:.3f}-{self.freq_hz[-1] / 1e6:.3f} MHz "
                f"({self.n_dropped_channels} repeats dropped), {self.n_saturated} saturated and "
                f"{self.n_no_data} no-data samples lost")

    # --- blocks ------------------------------------------------------------------------------
    def _block(self, index: int, rows: slice) -> CallistoBlock:
        data = self.power[rows]
        return CallistoBlock(block_index=index, time_unix_s=self.time_unix_s[rows], time_step_s=self.time_step_s,
                             freq_hz=self.freq_hz, data=data, lost=np.isnan(data))

    def read(self, time_start_unix_s: float | None = None, time_stop_unix_s: float | None = None) -> CallistoBlock:
        """The samples that start in [start, stop) (all by default), as one block."""
        lo = 0 if time_start_unix_s is None else int(np.searchsorted(self.time_unix_s, time_start_unix_s, "left"))
        hi = self.n_time if time_stop_unix_s is None else int(np.searchsorted(self.time_unix_s, time_stop_unix_s,
                                                                               "left"))
        return self._block(0, slice(lo, max(lo, hi)))

    def iter_blocks(self, block_time_samples: int = 240) -> Iterator[CallistoBlock]:
        """Consecutive blocks of ``block_time_samples`` samples (the last one may be shorter)."""
        if block_time_samples < 1:
            raise ValueError(f"block_time_samples must be >= 1, got {block_time_samples}")
        for index, first in enumerate(range(0, self.n_time, block_time_samples)):
            yield self._block(index, slice(first, first + block_time_samples))


def _regrid(freq_hz: np.ndarray, power: np.ndarray, step_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean power of the channels nearest each point of a regular grid from the lowest frequency; NaN
    where no channel (or no valid sample) falls."""
    if not step_hz > 0:
        raise ValueError(f"freq_step_hz must be > 0, got {step_hz}")
    index = np.rint((freq_hz - freq_hz[0]) / step_hz).astype(np.int64)
    n_out = int(index[-1]) + 1
    valid = np.isfinite(power)
    sums = np.zeros((power.shape[0], n_out))
    counts = np.zeros((power.shape[0], n_out))
    np.add.at(sums.T, index, np.where(valid, power, 0.0).T)
    np.add.at(counts.T, index, valid.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        regular = np.where(counts > 0, sums / counts, np.nan).astype(np.float32)
    return freq_hz[0] + step_hz * np.arange(n_out), regular


__all__ = ["CALLISTO_SUFFIXES", "DB_PER_DIGIT", "DITHER_SEED", "LOST_DIGIT", "SATURATED_DIGIT", "CallistoBlock",
           "CallistoFile", "CallistoFileError", "CallistoHeaderWarning", "digits_to_power", "is_callisto_path"]
