"""Plan partitions of a Measurement Set by time and by channel range, without copying it.

The planner reads only the TIME column and the spectral window. A partition is a row range on
whole-timestamp boundaries (the MS must be sorted by time, as correlators write it) times a channel
range; its length is a whole number of calibration solution intervals, so a partition never splits
a solution. A task turns its partition into a standalone MS by reading just those rows and channels
from the source (``nenubroker.batch.ms.write_partition``), so tasks can run on any node that sees
the source MS (a shared filesystem).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from casacore import tables

MJD_UNIX_OFFSET_S = 3506716800.0  # 1970-01-01 (MJD 40587) in the MS's MJD seconds


@dataclass(frozen=True)
class Partition:
    ms: str
    time_index: int
    freq_index: int
    row_start: int
    row_stop: int
    chan_start: int
    chan_stop: int
    n_times: int
    time_start_mjd_s: float  # edges of the first and last integrations
    time_stop_mjd_s: float
    freq_min_hz: float  # edges of the first and last channels
    freq_max_hz: float

    @property
    def name(self) -> str:
        return f"t{self.time_index:03d}_f{self.freq_index:03d}"

    @property
    def time_start_unix_s(self) -> float:
        return self.time_start_mjd_s - MJD_UNIX_OFFSET_S

    @property
    def time_stop_unix_s(self) -> float:
        return self.time_stop_mjd_s - MJD_UNIX_OFFSET_S


@dataclass(frozen=True)
class MsTimeAxis:
    """What planning needs from an MS: its timestamps with their first rows, and its channels."""

    times_mjd_s: np.ndarray
    first_rows: np.ndarray  # first row of each timestamp, plus the row count at the end
    interval_s: float
    freqs_hz: np.ndarray
    widths_hz: np.ndarray

    @classmethod
    def read(cls, ms: str | Path) -> MsTimeAxis:
        with tables.table(str(ms), ack=False) as main:
            times = main.getcol("TIME")
            interval_s = float(main.getcell("INTERVAL", 0)) if main.nrows() else 0.0
        if np.any(np.diff(times) < 0):
            raise ValueError(f"{ms}: rows are not sorted by TIME; sort it first "
                             f"(taql 'select from {ms} orderby TIME giving sorted.ms as plain')")
        unique, first = np.unique(times, return_index=True)
        with tables.table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
            if spw.nrows() != 1:
                raise ValueError(f"{ms}: {spw.nrows()} spectral windows; partitioning needs exactly one")
            freqs, widths = spw.getcell("CHAN_FREQ", 0), spw.getcell("CHAN_WIDTH", 0)
        return cls(unique, np.append(first, len(times)), interval_s, np.asarray(freqs), np.abs(widths))

    def time_range_unix_s(self) -> tuple[float, float]:
        half = self.interval_s / 2
        return (float(self.times_mjd_s[0] - half - MJD_UNIX_OFFSET_S),
                float(self.times_mjd_s[-1] + half - MJD_UNIX_OFFSET_S))


def plan_partitions(
    ms: str | Path,
    steps_per_partition: int,
    channels_per_partition: int = 0,
    time_window_unix_s: tuple[float, float] | None = None,
    freq_window_hz: tuple[float, float] | None = None,
    axis: MsTimeAxis | None = None,
) -> list[Partition]:
    """Partitions covering the timestamps (centres) and channels (centres) inside the windows.

    ``steps_per_partition`` timestamps per time partition (the last may be shorter), and
    ``channels_per_partition`` channels per frequency partition (0: all in one).
    """
    ms = str(Path(ms).resolve())
    axis = axis or MsTimeAxis.read(ms)
    time_index = np.arange(len(axis.times_mjd_s))
    if time_window_unix_s is not None:
        unix = axis.times_mjd_s - MJD_UNIX_OFFSET_S
        time_index = time_index[(unix >= time_window_unix_s[0]) & (unix <= time_window_unix_s[1])]
    channels = np.arange(len(axis.freqs_hz))
    if freq_window_hz is not None:
        channels = channels[(axis.freqs_hz >= freq_window_hz[0]) & (axis.freqs_hz <= freq_window_hz[1])]
    if not len(time_index) or not len(channels):
        raise ValueError(f"{ms}: no data in time window {time_window_unix_s} (MS spans "
                         f"{axis.time_range_unix_s()} unix s) and frequency window {freq_window_hz} Hz")
    step_chan = channels_per_partition or len(channels)
    half_interval = axis.interval_s / 2
    partitions = []
    for t, start in enumerate(range(0, len(time_index), steps_per_partition)):
        stamps = time_index[start:start + steps_per_partition]
        for f, chan0 in enumerate(range(0, len(channels), step_chan)):
            chans = channels[chan0:chan0 + step_chan]
            low, high = chans[0], chans[-1]
            partitions.append(Partition(
                ms=ms, time_index=t, freq_index=f,
                row_start=int(axis.first_rows[stamps[0]]), row_stop=int(axis.first_rows[stamps[-1] + 1]),
                chan_start=int(low), chan_stop=int(high) + 1, n_times=len(stamps),
                time_start_mjd_s=float(axis.times_mjd_s[stamps[0]] - half_interval),
                time_stop_mjd_s=float(axis.times_mjd_s[stamps[-1]] + half_interval),
                freq_min_hz=float(axis.freqs_hz[low] - axis.widths_hz[low] / 2),
                freq_max_hz=float(axis.freqs_hz[high] + axis.widths_hz[high] / 2),
            ))
    return partitions


__all__ = ["MJD_UNIX_OFFSET_S", "MsTimeAxis", "Partition", "plan_partitions"]
