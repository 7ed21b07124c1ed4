"""A standalone Measurement Set from a row range (whole timestamps) and channel range of another.

This is how a partition becomes an MS a tool can open: only its rows and channels are read from the
source, in blocks (so it works in place, on any node that sees the source), subtables are copied and
SPECTRAL_WINDOW and OBSERVATION's TIME_RANGE rewritten for the slice.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from casacore.tables import table

from nenubroker.batch.ms import times_per_block, write_spectral_window

__all__ = ["read_rows", "write_partition"]

_SPW_CHANNEL_COLUMNS = ("CHAN_FREQ", "CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION")


def _unfix_spw_shapes(spw_path: Path) -> None:
    """Make SPECTRAL_WINDOW's per-channel columns variable-shape, so fewer channels fit.

    DP3 writes them with a fixed shape (the full band), which a partition cannot shrink in place:
    the table is rebuilt with the same description minus the fixed shapes, and the same rows.
    """
    with table(str(spw_path), ack=False) as t:
        desc = t.getdesc()
        fixed = [c for c in _SPW_CHANNEL_COLUMNS if "shape" in desc.get(c, {})]
        if not fixed:
            return
        values = {c: t.getcol(c) for c in t.colnames() if c not in _SPW_CHANNEL_COLUMNS and t.iscelldefined(c, 0)}
        n_rows, info = t.nrows(), t.info()
    for column in fixed:
        desc[column].pop("shape")
        desc[column]["option"] = desc[column].get("option", 0) & ~5  # neither Direct (1) nor FixedShape (4)
    shutil.rmtree(spw_path)
    with table(str(spw_path), desc, nrow=n_rows, readonly=False, ack=False) as t:
        t.putinfo(info)
        for column, value in values.items():
            t.putcol(column, value)



def _channel_columns(desc: dict, n_chan: int) -> set[str]:
    """Array columns whose first (numpy-order) axis is frequency: DATA, FLAG, WEIGHT_SPECTRUM ..."""
    return {name for name, cd in desc.items() if isinstance(cd, dict) and cd.get("ndim") == 2
            and (len(cd.get("shape", [])) == 0 or cd["shape"][0] == n_chan)}


def _partition_desc(desc: dict, n_corr_of: dict[str, int], n_chan_out: int) -> tuple[dict, dict]:
    """Source description with the channel columns (``n_corr_of``) resized, and fresh storage managers."""
    new, dminfo = {}, {}
    for name, cd in desc.items():
        if name == "_define_hypercolumn_":
            continue  # hypercolumns belong to the source's storage managers
        cd = {**cd, "dataManagerType": "StandardStMan", "dataManagerGroup": "StandardStMan"}
        if name in n_corr_of:
            cd.update(shape=np.array([n_chan_out, n_corr_of[name]]), ndim=2, option=4,  # fixed, direct
                      dataManagerType="TiledColumnStMan", dataManagerGroup=f"Tiled{name}")
            tile = np.array([n_corr_of[name], n_chan_out, 64], np.int32)
            dminfo[f"*{len(dminfo) + 1}"] = {"NAME": f"Tiled{name}", "TYPE": "TiledColumnStMan",
                                              "SPEC": {"DEFAULTTILESHAPE": tile}, "COLUMNS": [name]}
        new[name] = cd
    return new, dminfo


def _check_time_boundaries(t, row_start: int, row_stop: int) -> None:
    n = t.nrows()
    if not 0 <= row_start < row_stop <= n:
        raise ValueError(f"rows {row_start}:{row_stop} outside 0:{n}")
    if row_start > 0 and t.getcell("TIME", row_start - 1) == t.getcell("TIME", row_start):
        raise ValueError(f"row_start {row_start} splits a timestamp")
    if row_stop < n and t.getcell("TIME", row_stop - 1) == t.getcell("TIME", row_stop):
        raise ValueError(f"row_stop {row_stop} splits a timestamp")


def write_partition(source_ms: str | Path, dest_ms: str | Path, row_start: int, row_stop: int,
                    chan_start: int = 0, chan_stop: int | None = None, *, overwrite: bool = True) -> Path:
    """Write rows ``row_start:row_stop`` and channels ``chan_start:chan_stop`` as a standalone MS.

    Only those rows and channels are read from the source, in blocks; subtables are copied and
    SPECTRAL_WINDOW (and OBSERVATION's TIME_RANGE) are rewritten for the slice. The row range must
    hold whole timestamps. The result opens in DP3, AOFlagger and WSClean.

    Examples
    --------
    >>> from nenubroker.batch.layout import miniarrays
    >>> from nenubroker.batch.ms import create_ms, ms_info
    >>> src = create_ms(getfixture("tmp_path") / "s.ms", miniarrays(count=3), [5e7, 5.001e7], 1e4,
    ...                 [5.0e9, 5.0e9 + 1], 1.0, (0.0, 1.0))
    >>> ms_info(write_partition(src, src.with_suffix(".p.ms"), 3, 6, 1, 2)).freqs_hz
    array([50010000.])
    """
    source_ms, dest_ms = Path(source_ms), Path(dest_ms)
    dest_ms.parent.mkdir(parents=True, exist_ok=True)
    if dest_ms.exists():
        if not overwrite:
            raise FileExistsError(dest_ms)
        shutil.rmtree(dest_ms)
    with table(str(source_ms / "SPECTRAL_WINDOW"), ack=False) as t:
        src_freqs_hz, src_widths_hz = t.getcell("CHAN_FREQ", 0), t.getcell("CHAN_WIDTH", 0)
    n_chan_src = len(src_freqs_hz)
    chan_stop = n_chan_src if chan_stop is None else chan_stop
    if not 0 <= chan_start < chan_stop <= n_chan_src:
        raise ValueError(f"channels {chan_start}:{chan_stop} outside 0:{n_chan_src}")
    n_out, n_chan_out = row_stop - row_start, chan_stop - chan_start

    with table(str(source_ms), ack=False) as src:
        _check_time_boundaries(src, row_start, row_stop)
        desc = src.getdesc()
        n_corr_of = {col: src.getcell(col, row_start).shape[1] for col in _channel_columns(desc, n_chan_src)
                     if src.iscelldefined(col, row_start)}
        new_desc, dminfo = _partition_desc(desc, n_corr_of, n_chan_out)
        with table(str(dest_ms), new_desc, nrow=n_out, dminfo=dminfo, readonly=False, ack=False) as dst:
            dst.putinfo(src.info())
            for key, value in src.getkeywords().items():  # subtables: deep copies, referenced relatively
                if isinstance(value, str) and value.startswith("Table: "):
                    with table(value[len("Table: "):], ack=False) as sub:
                        sub.copy(str(dest_ms / key), deep=True).close()
                    dst.putkeyword(key, f"Table: {dest_ms / key}")
                else:
                    dst.putkeyword(key, value)
            block = times_per_block(1, n_chan_src, max(n_corr_of.values(), default=4))  # rows per block
            for off in range(0, n_out, block):
                n, first = min(block, n_out - off), row_start + off
                for col in src.colnames():
                    if not src.iscelldefined(col, first):
                        continue  # e.g. FLAG_CATEGORY, never written
                    if col in n_corr_of:
                        values = src.getcolslice(col, [chan_start, 0], [chan_stop - 1, n_corr_of[col] - 1],
                                                 startrow=first, nrow=n)
                    else:
                        values = src.getcol(col, startrow=first, nrow=n)
                    dst.putcol(col, values, startrow=off, nrow=n)
            t_first, t_last = dst.getcell("TIME", 0), dst.getcell("TIME", n_out - 1)
            half_s = dst.getcell("INTERVAL", 0) / 2
    _unfix_spw_shapes(dest_ms / "SPECTRAL_WINDOW")
    write_spectral_window(dest_ms, src_freqs_hz[chan_start:chan_stop], src_widths_hz[chan_start:chan_stop], new=False)
    with table(str(dest_ms / "OBSERVATION"), readonly=False, ack=False) as t:
        t.putcol("TIME_RANGE", np.tile([t_first - half_s, t_last + half_s], (t.nrows(), 1)))
    return dest_ms


def read_rows(path: str | Path, row_start: int, row_stop: int, chan_start: int = 0,
              chan_stop: int | None = None,
              columns: Sequence[str] = ("DATA", "FLAG", "UVW", "ANTENNA1", "ANTENNA2", "TIME")
              ) -> dict[str, np.ndarray]:
    """Read a row range (and channel range for per-channel columns) into numpy arrays."""
    with table(str(path), ack=False) as t:
        out = {}
        for col in columns:
            cd = t.getcoldesc(col)
            if cd.get("ndim", 0) == 2:
                n_chan, n_corr = t.getcell(col, row_start).shape
                stop = n_chan if chan_stop is None else chan_stop
                out[col] = t.getcolslice(col, [chan_start, 0], [stop - 1, n_corr - 1],
                                         startrow=row_start, nrow=row_stop - row_start)
            else:
                out[col] = t.getcol(col, startrow=row_start, nrow=row_stop - row_start)
    return out
