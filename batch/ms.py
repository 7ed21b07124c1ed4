"""Measurement Set I/O with python-casacore: create an MS and describe it (partitions: ``ms_slice.py``).

Everything here is an adapter at the edge: the visibilities themselves come from pure numpy code
(``generate.py``). Tables are always opened in ``with`` blocks, so no lock outlives a call (a table
left write-locked makes a WSClean or DP3 subprocess wait forever). Big MSs are written and read in
row blocks of whole timestamps, so memory stays bounded whatever the MS size.

Only single-spectral-window MSs with one DATA_DESC_ID are handled (what NenuFAR's NICKEL
correlator writes per subband group, and what ``generate_ms`` makes).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from casacore.tables import default_ms, makearrcoldesc, maketabdesc, table, taql

__all__ = [
    "AntennaLike",
    "MsInfo",
    "create_ms",
    "ms_info",
    "times_per_block",
    "write_spectral_window",
    "CORR_TYPES_LINEAR",
]


CORR_TYPES_LINEAR = (9, 10, 11, 12)  # casacore Stokes enum: XX, XY, YX, YY
_CORR_PRODUCTS_LINEAR = [[0, 0], [0, 1], [1, 0], [1, 1]]
_MEAS_FREQ_REF_TOPO = 5
_BLOCK_BYTES = 32 * 2**20  # visibility bytes per row block, read or written at once
_DISH_DIAMETER_M = 25.0  # a NenuFAR mini-array (19 dipoles on a 5.5 m hexagonal grid) is ~25 m across

# predict(uvw_m (n, 3), antenna1 (n,), antenna2 (n,), time_s (n,)) -> DATA (n, n_chan, n_corr)
Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class AntennaLike(Protocol):
    name: str
    itrf_xyz_m: tuple[float, float, float]


@dataclass(frozen=True)
class MsInfo:
    """What the partitioner and the pipeline steps need to know about an MS."""

    path: Path
    n_rows: int
    n_antennas: int
    rows_per_time: int  # baselines per timestamp (rows are TIME-major, whole timestamps)
    times_s: np.ndarray  # unique TIME values (MJD seconds, integration centres)
    interval_s: float
    freqs_hz: np.ndarray
    channel_width_hz: float
    phase_centre_rad: tuple[float, float]  # (ra, dec), J2000
    telescope: str
    n_correlations: int

    @property
    def n_times(self) -> int:
        return len(self.times_s)

    @property
    def n_channels(self) -> int:
        return len(self.freqs_hz)


# --------------------------------------------------------------------------- creation


def _main_desc(n_chan: int, n_corr: int) -> dict:
    """Fixed-shape tiled DATA, FLAG and WEIGHT_SPECTRUM: what DP3, AOFlagger and WSClean expect."""
    shape = [n_chan, n_corr]
    return maketabdesc(
        [
            makearrcoldesc("DATA", 0j, valuetype="complex", shape=shape,
                           datamanagertype="TiledColumnStMan", datamanagergroup="TiledDATA"),
            makearrcoldesc("FLAG", False, valuetype="boolean", shape=shape,
                           datamanagertype="TiledColumnStMan", datamanagergroup="TiledFLAG"),
            makearrcoldesc("WEIGHT_SPECTRUM", 0.0, valuetype="float", shape=shape,
                           datamanagertype="TiledColumnStMan", datamanagergroup="TiledWEIGHT_SPECTRUM"),
        ]
    )


def times_per_block(rows_per_time: int, n_chan: int, n_corr: int) -> int:
    return max(1, _BLOCK_BYTES // max(1, rows_per_time * n_chan * n_corr * 8))


def _add_rows(path: Path, columns: dict[str, object]) -> None:
    """Append rows to a subtable, one value list (or array with rows first) per column."""
    n_rows = len(next(iter(columns.values())))  # type: ignore[arg-type]
    with table(str(path), readonly=False, ack=False) as t:
        start = t.nrows()
        t.addrows(n_rows)
        for col, values in columns.items():
            t.putcol(col, values, startrow=start, nrow=n_rows)


def _fill_subtables(path: Path, antennas: Sequence[AntennaLike], freqs_hz: np.ndarray,
                    channel_width_hz: float, times_s: np.ndarray, interval_s: float,
                    phase_centre_rad: tuple[float, float], field_name: str, telescope: str) -> None:
    """Fill the subtables ``default_ms`` leaves empty; DP3/WSClean/AOFlagger read every one."""
    n = len(antennas)
    _add_rows(path / "ANTENNA", {
        "NAME": [a.name for a in antennas], "STATION": [telescope] * n, "TYPE": ["GROUND-BASED"] * n,
        "MOUNT": ["X-Y"] * n, "POSITION": np.array([a.itrf_xyz_m for a in antennas], dtype=float),
        "OFFSET": np.zeros((n, 3)), "DISH_DIAMETER": np.full(n, _DISH_DIAMETER_M),
        "FLAG_ROW": np.zeros(n, bool)})
    _add_rows(path / "FEED", {  # one dual-linear feed per mini-array, valid for the whole observation
        "ANTENNA_ID": np.arange(n, dtype=np.int32), "FEED_ID": np.zeros(n, np.int32),
        "SPECTRAL_WINDOW_ID": np.full(n, -1, np.int32), "TIME": np.full(n, float(times_s[0])),
        "INTERVAL": np.full(n, 1e30), "NUM_RECEPTORS": np.full(n, 2, np.int32),
        "BEAM_ID": np.full(n, -1, np.int32), "BEAM_OFFSET": np.zeros((n, 2, 2)),
        "POLARIZATION_TYPE": np.array([["X", "Y"]] * n),
        "POL_RESPONSE": np.tile(np.eye(2, dtype=complex), (n, 1, 1)), "POSITION": np.zeros((n, 3)),
        "RECEPTOR_ANGLE": np.tile([0.0, np.pi / 2], (n, 1))})
    write_spectral_window(path, freqs_hz, np.full(len(freqs_hz), channel_width_hz), new=True)
    _add_rows(path / "POLARIZATION", {
        "NUM_CORR": [4], "CORR_TYPE": np.array([CORR_TYPES_LINEAR], np.int32),
        "CORR_PRODUCT": np.array([_CORR_PRODUCTS_LINEAR], np.int32), "FLAG_ROW": [False]})
    _add_rows(path / "DATA_DESCRIPTION",
              {"SPECTRAL_WINDOW_ID": [0], "POLARIZATION_ID": [0], "FLAG_ROW": [False]})
    direction = np.array([[phase_centre_rad]], dtype=float)  # (row, polynomial term, 2)
    _add_rows(path / "FIELD", {
        "NAME": [field_name], "CODE": [""], "TIME": [float(times_s[0])], "NUM_POLY": [0],
        "DELAY_DIR": direction, "PHASE_DIR": direction, "REFERENCE_DIR": direction, "SOURCE_ID": [-1],
        "FLAG_ROW": [False]})
    start_s, end_s = float(times_s[0] - interval_s / 2), float(times_s[-1] + interval_s / 2)
    _add_rows(path / "OBSERVATION", {
        "TELESCOPE_NAME": [telescope], "TIME_RANGE": np.array([[start_s, end_s]]),
        "OBSERVER": ["nenubroker"], "PROJECT": ["nenubroker-simulation"], "RELEASE_DATE": [end_s],
        "SCHEDULE_TYPE": [""], "SCHEDULE": np.array([[""]]), "LOG": np.array([[""]]), "FLAG_ROW": [False]})
    _add_rows(path / "STATE", {
        "SIG": [True], "REF": [False], "CAL": [0.0], "LOAD": [0.0], "SUB_SCAN": [0],
        "OBS_MODE": ["OBSERVE_TARGET.ON_SOURCE"], "FLAG_ROW": [False]})
    _add_rows(path / "PROCESSOR", {
        "TYPE": ["CORRELATOR"], "SUB_TYPE": [telescope], "TYPE_ID": [-1], "MODE_ID": [-1],
        "FLAG_ROW": [False]})


def write_spectral_window(path: Path, freqs_hz: np.ndarray, widths_hz: np.ndarray, new: bool) -> None:
    """(Re)write the one SPECTRAL_WINDOW row for these channels (a partition rewrites it)."""
    freqs_hz, widths_hz = np.asarray(freqs_hz, float), np.asarray(widths_hz, float)
    with table(str(path / "SPECTRAL_WINDOW"), readonly=False, ack=False) as t:
        if new:
            t.addrows(1)
            for col, value in (("NAME", "SB-0"), ("MEAS_FREQ_REF", _MEAS_FREQ_REF_TOPO), ("NET_SIDEBAND", 1),
                               ("FREQ_GROUP", 0), ("FREQ_GROUP_NAME", ""), ("FLAG_ROW", False)):
                t.putcell(col, 0, value)
        if t.nrows() != 1:
            raise ValueError(f"{path}: expected one spectral window, found {t.nrows()}")
        t.putcell("NUM_CHAN", 0, len(freqs_hz))
        t.putcell("CHAN_FREQ", 0, freqs_hz)
        for col in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
            t.putcell(col, 0, widths_hz)
        t.putcell("REF_FREQUENCY", 0, float(freqs_hz[len(freqs_hz) // 2]))
        t.putcell("TOTAL_BANDWIDTH", 0, float(widths_hz.sum()))


def _baselines(n_ant: int, autocorrelations: bool) -> tuple[np.ndarray, np.ndarray]:
    a1, a2 = np.triu_indices(n_ant, k=0 if autocorrelations else 1)
    return a1.astype(np.int32), a2.astype(np.int32)


def create_ms(
    path: str | Path,
    antennas: Sequence[AntennaLike],
    freqs_hz: Sequence[float] | np.ndarray,
    channel_width_hz: float,
    times_s: Sequence[float] | np.ndarray,
    interval_s: float,
    phase_centre: tuple[float, float],
    *,
    predict: Predictor | None = None,
    autocorrelations: bool = False,
    field_name: str = "target",
    telescope: str = "NenuFAR",
    overwrite: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Create a valid NenuFAR Measurement Set, written block by block.

    Rows are ordered by TIME, then baseline (antenna1 < antenna2; autocorrelations only if asked).
    UVW comes from TaQL ``mscal.uvwj2000()`` (casacore convention, antenna2 − antenna1). DATA is
    filled by ``predict(uvw_m, antenna1, antenna2, time_s)`` one block of whole timestamps at a
    time (zeros when ``predict`` is None); FLAG is false and the weights are 1.

    Parameters
    ----------
    path
        Directory of the new MS.
    antennas
        Objects with ``name`` and ``itrf_xyz_m`` (see ``layout.miniarrays``).
    freqs_hz, channel_width_hz
        Channel centres and width.
    times_s, interval_s
        Integration centres (MJD seconds, UTC) and integration length.
    phase_centre
        (ra_rad, dec_rad), J2000.
    progress
        Called as ``progress(rows_done, n_rows)`` after each data block.

    Examples
    --------
    >>> from nenubroker.batch.layout import miniarrays
    >>> p = create_ms(getfixture("tmp_path") / "t.ms", miniarrays(count=3), [5e7], 1e4,
    ...               [5.0e9, 5.0e9 + 1], 1.0, (0.0, 1.0))
    >>> ms_info(p).n_rows
    6
    """
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(path)
        shutil.rmtree(path)
    freqs_hz, times_s = np.asarray(freqs_hz, float), np.asarray(times_s, float)
    n_chan, n_corr, n_time = len(freqs_hz), len(CORR_TYPES_LINEAR), len(times_s)
    ant1, ant2 = _baselines(len(antennas), autocorrelations)
    n_bl = len(ant1)
    n_rows = n_time * n_bl
    with default_ms(str(path), _main_desc(n_chan, n_corr)) as t:
        t.addrows(n_rows)
    _fill_subtables(path, antennas, freqs_hz, channel_width_hz, times_s, interval_s,
                    phase_centre, field_name, telescope)

    block_t = times_per_block(n_bl, n_chan, n_corr)
    with table(str(path), readonly=False, ack=False) as t:
        for t0 in range(0, n_time, block_t):  # metadata first: mscal needs TIME and ANTENNA1/2
            ts = times_s[t0 : t0 + block_t]
            start, n = t0 * n_bl, len(ts) * n_bl
            time_col = np.repeat(ts, n_bl)
            columns = {"TIME": time_col, "TIME_CENTROID": time_col,
                       "ANTENNA1": np.tile(ant1, len(ts)), "ANTENNA2": np.tile(ant2, len(ts)),
                       "INTERVAL": np.full(n, interval_s), "EXPOSURE": np.full(n, interval_s),
                       "SCAN_NUMBER": np.ones(n, np.int32), "FLAG_ROW": np.zeros(n, bool),
                       "WEIGHT": np.ones((n, n_corr), np.float32), "SIGMA": np.ones((n, n_corr), np.float32)}
            for col in ("ARRAY_ID", "DATA_DESC_ID", "FEED1", "FEED2", "FIELD_ID", "OBSERVATION_ID",
                        "PROCESSOR_ID", "STATE_ID"):
                columns[col] = np.zeros(n, np.int32)
            for col, values in columns.items():
                t.putcol(col, values, startrow=start, nrow=n)
        t.flush()
        taql("UPDATE $t SET UVW = mscal.uvwj2000()")
        for t0 in range(0, n_time, block_t):
            start, n = t0 * n_bl, min(block_t, n_time - t0) * n_bl
            if predict is None:
                data = np.zeros((n, n_chan, n_corr), np.complex64)
            else:
                data = predict(t.getcol("UVW", startrow=start, nrow=n),
                               t.getcol("ANTENNA1", startrow=start, nrow=n),
                               t.getcol("ANTENNA2", startrow=start, nrow=n),
                               t.getcol("TIME", startrow=start, nrow=n))
                if data.shape != (n, n_chan, n_corr):
                    raise ValueError(f"predict returned {data.shape}, expected {(n, n_chan, n_corr)}")
            t.putcol("DATA", data.astype(np.complex64, copy=False), startrow=start, nrow=n)
            t.putcol("FLAG", np.zeros((n, n_chan, n_corr), bool), startrow=start, nrow=n)
            t.putcol("WEIGHT_SPECTRUM", np.ones((n, n_chan, n_corr), np.float32), startrow=start, nrow=n)
            if progress is not None:
                progress(start + n, n_rows)
    return path


# --------------------------------------------------------------------------- description


def ms_info(path: str | Path) -> MsInfo:
    """Describe an MS from its TIME column and subtables (reads no visibilities).

    Raises ValueError unless rows are TIME-sorted with the same number of rows per timestamp,
    which is what partitioning on whole timestamps relies on.
    """
    path = Path(path)
    with table(str(path), ack=False) as t:
        n_rows, time_s = t.nrows(), t.getcol("TIME")
        interval_s = float(t.getcell("INTERVAL", 0)) if n_rows else 0.0
    if np.any(np.diff(time_s) < 0):
        raise ValueError(f"{path}: rows are not sorted by TIME")
    times_s, counts = np.unique(time_s, return_counts=True)
    if len(counts) and np.any(counts != counts[0]):
        raise ValueError(f"{path}: timestamps hold {counts.min()}..{counts.max()} rows, not one number")
    with table(str(path / "SPECTRAL_WINDOW"), ack=False) as t:
        if t.nrows() != 1:
            raise ValueError(f"{path}: expected one spectral window, found {t.nrows()}")
        freqs_hz, widths_hz = t.getcell("CHAN_FREQ", 0), t.getcell("CHAN_WIDTH", 0)
    sub = {name: table(str(path / name), ack=False)
           for name in ("ANTENNA", "FIELD", "OBSERVATION", "POLARIZATION")}
    with sub["ANTENNA"] as ant, sub["FIELD"] as field, sub["OBSERVATION"] as obs, sub["POLARIZATION"] as pol:
        n_ant, (ra, dec) = ant.nrows(), field.getcell("PHASE_DIR", 0)[0]
        telescope, n_corr = str(obs.getcell("TELESCOPE_NAME", 0)), int(pol.getcell("NUM_CORR", 0))
    return MsInfo(path=path, n_rows=n_rows, n_antennas=n_ant,
                  rows_per_time=int(counts[0]) if len(counts) else 0, times_s=times_s,
                  interval_s=interval_s, freqs_hz=freqs_hz, channel_width_hz=float(np.median(widths_hz)),
                  phase_centre_rad=(float(ra), float(dec)), telescope=telescope, n_correlations=n_corr)
