"""Selective recording: full-resolution windows around the broker's triggers, from the ring buffers to HDF5.

Keeping everything at full resolution costs tens of GB per hour and beam; the broker sees the
downsampled stream and asks for what is worth keeping. For each trigger the recorder writes the
padded window (``RecordingSettings.padding_s`` each side) out of the beam's ring buffer, and makes an
announcement (``conf/schemas/recording.v1.avsc``) that says what was written and what was not:

- ``recorded``: a file was written; parts with no data are listed in ``missing`` and in the reason.
- ``missed``: nothing could be written (the trigger came after its data left the buffer, or it was
  invalid); the reason says why.
- ``merged``: the trigger lies inside a recording written before it arrived; no new file.

Triggers whose padded windows overlap on one beam become one recording of the union of their time
and frequency windows. A window that ends after the newest data waits (``n_pending``) until the
buffer covers it, the next block would evict its head, or ``max_pending_s`` has passed.

>>> recording_id(["t1"], "beam0", 1.7e9 - 1.0)
'beam0-20231114T221319-e5353879bd69'
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from nenubroker import __version__
from nenubroker.conf.settings import RecordingSettings
from nenubroker.edge.ring_buffer import Interval, RingBuffer, Window

if TYPE_CHECKING:
    from nenubroker.records.trigger import Trigger

log = logging.getLogger(__name__)

#: How many written recordings per beam are remembered to recognise late, overlapping triggers.
_REMEMBERED_RECORDINGS = 256
#: NenuFAR beamlet (subband) bandwidth: the beamformer's sampling rate.
SUBBAND_WIDTH_HZ = 195312.5
#: Aim for chunks of about 1 MiB: big enough for gzip, small enough to read a slice cheaply.
_CHUNK_BYTES = 2**20
#: A buffer end this close to a window's stop covers it (unix times near 1.7e9 s carry ~0.2 us).
_COVER_S = 1e-5


@dataclass
class _Group:
    """Pending triggers of one beam whose padded windows overlap, to be written as one recording."""

    beam: str
    triggers: list[Trigger]
    start_s: float
    stop_s: float
    freq_min_hz: float
    freq_max_hz: float
    received_s: float
    head_covered: bool = False
    notes: list[str] = field(default_factory=list)

    def overlaps(self, other: _Group) -> bool:
        return self.start_s < other.stop_s and other.start_s < self.stop_s

    def absorb(self, other: _Group) -> None:
        self.triggers += other.triggers
        self.start_s, self.stop_s = min(self.start_s, other.start_s), max(self.stop_s, other.stop_s)
        self.freq_min_hz = min(self.freq_min_hz, other.freq_min_hz)
        self.freq_max_hz = max(self.freq_max_hz, other.freq_max_hz)
        self.received_s = min(self.received_s, other.received_s)
        self.head_covered = self.head_covered or other.head_covered
        self.notes += other.notes

    @property
    def trigger_ids(self) -> list[str]:
        return sorted(t.trigger_id for t in self.triggers)


def _utc(unix_s: float, fmt: str = "%Y-%m-%dT%H:%M:%S.%f") -> str:
    text = datetime.fromtimestamp(unix_s, UTC).strftime(fmt)
    return text[:-3] if fmt.endswith("%f") else text


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def recording_id(trigger_ids: list[str], beam: str, start_unix_s: float) -> str:
    """Deterministic: the same triggers give the same id (and file name) on a replay."""
    digest = hashlib.sha1("\n".join(sorted(trigger_ids)).encode()).hexdigest()[:12]
    return f"{_safe(beam)}-{_utc(start_unix_s, '%Y%m%dT%H%M%S')}-{digest}"


def _missing_reason(missing: tuple[Interval, ...], window: Window, written_when: str) -> str:
    parts = []
    for start_s, stop_s in missing:
        if window.n_time and stop_s <= window.time_unix_s[0] + _COVER_S:
            cause = "older than the oldest data in the ring buffer"
        elif window.n_time and start_s >= window.time_stop_unix_s - _COVER_S:
            cause = f"not received when {written_when}"
        else:
            cause = "blocks lost or not received"
        parts.append(f"{_utc(start_s)}–{_utc(stop_s)} UTC ({stop_s - start_s:.3f} s, {cause})")
    return "missing " + "; ".join(parts)


def beamformer_settings(freq_hz: np.ndarray, time_step_s: float, channel_width_hz: float) -> dict[str, Any]:
    """The NenuFAR beamformer settings the axes imply, as far as they are consistent with it.

    df = 195312.5 / fftlen and dt = fftlen * nfft2int / 195312.5; channel j of subband n lies at
    n * 195312.5 + (j - fftlen / 2) * df. Settings that do not fit (another instrument, a
    downsampled stream) are left out rather than guessed.

    >>> freq_hz = np.array([20214843.75, 20227050.78125])
    >>> settings = beamformer_settings(freq_hz, 16 * 64 / 195312.5, 12207.03125)
    >>> settings["fftlen"], settings["nfft2int"], settings["subbands"]
    (16, 64, [104])
    """
    derived: dict[str, Any] = {"time_step_s": float(time_step_s), "channel_width_hz": float(channel_width_hz)}
    if not channel_width_hz > 0:
        return derived
    fftlen = SUBBAND_WIDTH_HZ / channel_width_hz
    if abs(fftlen - round(fftlen)) > 1e-6 or not 16 <= round(fftlen) <= 2048:
        return derived
    derived["fftlen"] = fftlen = round(fftlen)
    nfft2int = time_step_s * SUBBAND_WIDTH_HZ / fftlen
    if abs(nfft2int - round(nfft2int)) < 1e-6 and 4 <= round(nfft2int) <= 1024:
        derived["nfft2int"] = round(nfft2int)
    subband = np.floor(freq_hz / SUBBAND_WIDTH_HZ + 0.5 + 1e-9)
    channel = (freq_hz - subband * SUBBAND_WIDTH_HZ) / channel_width_hz + fftlen / 2
    if np.allclose(channel, np.round(channel), atol=1e-6):
        derived["subbands"] = [int(n) for n in np.unique(subband)]
    return derived


def write_window(path: Path, window: Window, attrs: Mapping[str, Any], compression: str) -> int:
    """Write ``window`` as chunked, compressed HDF5 with its axes as dimension scales; returns its size.

    The file appears under its final name only once complete (written aside, then renamed), so a
    reader never sees half a recording.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    freq_chunk = min(window.n_freq, _CHUNK_BYTES // 4)
    time_chunk = max(1, min(window.n_time, _CHUNK_BYTES // (4 * freq_chunk)))
    with h5py.File(part, "w") as f:
        data = f.create_dataset("data", data=window.data.astype(np.float32, copy=False),
                                chunks=(time_chunk, freq_chunk), compression=compression,
                                compression_opts=4 if compression == "gzip" else None, shuffle=True)
        data.attrs.update({"quantity": "Stokes I power", "units": "arbitrary (uncalibrated beamformer power)",
                           "axes": ["time", "frequency"], "nan": "no data: block lost or not received"})
        time_axis = f.create_dataset("time_unix_s", data=window.time_unix_s.astype(np.float64))
        time_axis.attrs.update({"units": "s", "reference": "unix time, UTC, seconds since 1970-01-01",
                                "meaning": "start of each sample's integration"})
        freq_axis = f.create_dataset("freq_hz", data=window.freq_hz.astype(np.float64))
        freq_axis.attrs.update({"units": "Hz", "meaning": "centre of each channel"})
        for dim, (axis, name) in enumerate([(time_axis, "time"), (freq_axis, "frequency")]):
            axis.make_scale(name)
            data.dims[dim].attach_scale(axis)
            data.dims[dim].label = name
        gaps = np.asarray(window.missing_unix_s, dtype=np.float64).reshape(-1, 2)
        missing = f.create_dataset("missing_unix_s", data=gaps)
        missing.attrs.update({"units": "s", "meaning": "[start, stop) of requested time ranges with no data"})
        instrument = beamformer_settings(window.freq_hz, window.time_step_s, window.channel_width_hz)
        described = {"telescope": "NenuFAR", "stokes": "I", "sources": list(window.sources),
                     **instrument, **attrs}
        for key, value in described.items():
            is_text = isinstance(value, list) and (not value or isinstance(value[0], str))
            f.attrs[key] = np.array(value, dtype=h5py.string_dtype()) if is_text else value
    os.replace(part, path)
    return path.stat().st_size


def _written(window: Window | None) -> dict[str, Any]:
    """The announcement fields that describe what was written (null when nothing was)."""
    if window is None or window.n_time == 0 or window.n_freq == 0:
        return {"time_start_unix_s": None, "time_stop_unix_s": None, "freq_min_hz": None, "freq_max_hz": None,
                "n_time": 0, "n_freq": 0, "missing": []}
    return {
        "time_start_unix_s": float(window.time_unix_s[0]),
        "time_stop_unix_s": window.time_stop_unix_s,
        "freq_min_hz": float(window.freq_hz.min()),
        "freq_max_hz": float(window.freq_hz.max()),
        "n_time": window.n_time,
        "n_freq": window.n_freq,
        "missing": [{"time_start_unix_s": a, "time_stop_unix_s": b} for a, b in window.missing_unix_s],
    }


class Recorder:
    """Turns triggers into HDF5 recordings and announcements (records of the ``recording`` schema).

    Parameters
    ----------
    settings
        Output folder, padding and compression.
    ring_buffers
        The ring buffer of each beam this edge serves, by beam.
    max_pending_s
        Longest wait (wall clock) for a window's data to arrive; by default the longest ring
        buffer span, since waiting longer would lose the window's head anyway.
    clock
        Wall clock, unix s (a parameter so that tests can move time).
    """

    def __init__(self, settings: RecordingSettings, ring_buffers: Mapping[str, RingBuffer], *,
                 max_pending_s: float | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.ring_buffers = ring_buffers
        longest_s = max((b.max_duration_s for b in ring_buffers.values()), default=60.0)
        self.max_pending_s = longest_s if max_pending_s is None else max_pending_s
        self.clock = clock
        self._pending: dict[str, list[_Group]] = {}
        self._written: dict[str, deque[dict[str, Any]]] = {}

    @property
    def n_pending(self) -> int:
        """Triggers waiting for their data."""
        return sum(len(g.triggers) for groups in self._pending.values() for g in groups)

    def submit(self, trigger: Trigger) -> list[dict[str, Any]]:
        """Take a trigger; return the announcements this makes now (pending ones come later)."""
        buffer = self.ring_buffers.get(trigger.beam)
        if buffer is None:
            return [self._missed(trigger.beam, [trigger], None, f"beam '{trigger.beam}' is not served here")]
        if self._is_duplicate(trigger):
            log.info("trigger %s seen before: ignored", trigger.trigger_id)
            return []
        pad_s = self.settings.padding_s
        start_s, stop_s = trigger.time_start_unix_s - pad_s, trigger.time_stop_unix_s + pad_s
        group = _Group(trigger.beam, [trigger], start_s, stop_s, trigger.freq_min_hz, trigger.freq_max_hz,
                       received_s=self.clock())
        earlier = self._earlier_recording(group)
        if earlier is not None:
            return [self._merged_late(trigger, earlier)]
        coverage = buffer.time_range_unix_s
        if coverage is not None and trigger.time_stop_unix_s <= coverage[0]:
            box = (group.start_s, group.stop_s, group.freq_min_hz, group.freq_max_hz)
            return [self._missed(trigger.beam, [trigger], box,
                                 f"too late: the trigger window ended at {_utc(trigger.time_stop_unix_s)} "
                                 f"UTC, before the oldest data in the ring buffer ({_utc(coverage[0])} UTC)")]
        groups = self._pending.setdefault(trigger.beam, [])
        for other in [g for g in groups if g.overlaps(group)]:
            groups.remove(other)
            group.absorb(other)
        groups.append(group)
        return self.serve_pending()

    def serve_pending(self) -> list[dict[str, Any]]:
        """Write the pending windows that the buffers now cover, or that cannot wait any longer."""
        announcements = []
        now_s = self.clock()
        for beam, groups in self._pending.items():
            buffer = self.ring_buffers[beam]
            coverage = buffer.time_range_unix_s
            kept_s = buffer.oldest_kept_after_next_block_unix_s()
            waiting = []
            for group in groups:
                if coverage is not None and coverage[0] <= group.start_s:
                    group.head_covered = True
                if coverage is not None and coverage[1] >= group.stop_s - _COVER_S:
                    announcements.append(self._record(group, "its data arrived"))
                elif group.head_covered and kept_s is not None and kept_s > group.start_s + _COVER_S:
                    announcements.append(self._record(group, "the next block would evict its head"))
                elif now_s - group.received_s >= self.max_pending_s:
                    why = f"max_pending_s = {self.max_pending_s:g} s had passed"
                    announcements.append(self._record(group, why))
                else:
                    waiting.append(group)
            groups[:] = waiting
        return announcements

    def flush_pending(self) -> list[dict[str, Any]]:
        """Write every pending window with what exists now (at shutdown)."""
        announcements = [self._record(g, "the recorder stopped") for gs in self._pending.values() for g in gs]
        self._pending.clear()
        return announcements

    def reject(self, reason: str, beam: str = "", reference: str = "") -> dict[str, Any]:
        """The announcement of a trigger that could not even be read (``reference`` says which message)."""
        digest = hashlib.sha1(f"{reference}\n{reason}".encode()).hexdigest()[:12]
        return self._announcement("missed", f"rejected-{digest}", beam, [], reason=reason)

    def _is_duplicate(self, trigger: Trigger) -> bool:
        pending = (t.trigger_id for g in self._pending.get(trigger.beam, []) for t in g.triggers)
        written = (i for a in self._written.get(trigger.beam, ()) for i in a["trigger_ids"])
        return trigger.trigger_id in pending or trigger.trigger_id in written

    def _earlier_recording(self, group: _Group) -> dict[str, Any] | None:
        """A recording written before this trigger came that holds its whole window; or None.

        A window that only continues one (same band, later stop) starts where that one stopped, so
        that no sample is written twice.
        """
        for earlier in self._written.get(group.beam, ()):
            inside_band = (earlier["requested_freq_min_hz"] <= group.freq_min_hz
                           and group.freq_max_hz <= earlier["requested_freq_max_hz"])
            start_s, stop_s = earlier["requested_time_start_unix_s"], earlier["requested_time_stop_unix_s"]
            if inside_band and start_s <= group.start_s and group.stop_s <= stop_s:
                return earlier
            if inside_band and start_s <= group.start_s < stop_s < group.stop_s:
                group.start_s = max(stop_s, earlier["time_stop_unix_s"])  # after its last sample
                group.notes.append(f"continues recording {earlier['recording_id']}")
        return None

    def _merged_late(self, trigger: Trigger, earlier: dict[str, Any]) -> dict[str, Any]:
        alert_ids = sorted({*earlier["alert_ids"], *([trigger.alert_id] if trigger.alert_id else [])})
        reason = (f"trigger {trigger.trigger_id} lies inside recording {earlier['recording_id']}, "
                  "written before it arrived: no new file")
        announcement = {**earlier, "status": "merged", "bytes": 0, "created_unix_s": self.clock(),
                        "trigger_ids": sorted([*earlier["trigger_ids"], trigger.trigger_id]),
                        "alert_ids": alert_ids, "reason": reason}
        earlier["trigger_ids"] = announcement["trigger_ids"]
        return announcement

    def _record(self, group: _Group, written_when: str) -> dict[str, Any]:
        """Write the group's window now; ``written_when`` says why now, for the reason text."""
        box = (group.start_s, group.stop_s, group.freq_min_hz, group.freq_max_hz)
        window = self.ring_buffers[group.beam].window(*box)
        lost = ~np.isfinite(window.data)
        if window.n_time == 0:
            return self._missed(group.beam, group.triggers, box, f"no data in the ring buffer for the window "
                                f"{_utc(box[0])}–{_utc(box[1])} UTC when {written_when}")
        if window.n_freq == 0:
            return self._missed(group.beam, group.triggers, box, "no channel in the frequency window")
        if lost.all():
            return self._missed(group.beam, group.triggers, box, "every sample in the window was lost")
        rec_id = recording_id(group.trigger_ids, group.beam, group.start_s)
        day = _utc(group.start_s, "%Y-%m-%d")
        path = Path(self.settings.output_dir) / _safe(group.beam) / day / f"{rec_id}.h5"
        reasons = [f"recorded {window.n_time} x {window.n_freq} samples at full resolution", *group.notes]
        if len(group.triggers) > 1:
            reasons.append(f"{len(group.triggers)} overlapping triggers merged")
        if window.missing_unix_s:
            reasons.append(_missing_reason(window.missing_unix_s, window, written_when))
        if lost.any():
            reasons.append(f"{lost.mean():.1%} of samples NaN (lost)")
        created_s = self.clock()
        attrs = {
            "recording_id": rec_id, "beam": group.beam, "trigger_ids": group.trigger_ids,
            "alert_ids": sorted({t.alert_id for t in group.triggers if t.alert_id}),
            "trigger_reasons": [t.reason for t in sorted(group.triggers, key=lambda t: t.trigger_id)],
            "padding_s": self.settings.padding_s, "requested_unix_s": list(box[:2]),
            "requested_hz": list(box[2:]),
            "nenubroker_version": __version__, "created_unix_s": created_s, "created_utc": _utc(created_s),
            "notes": "; ".join(reasons),
        }
        try:
            nbytes = write_window(path, window, attrs, self.settings.compression)
        except (OSError, ValueError) as error:
            log.exception("recording %s could not be written", rec_id)
            return self._missed(group.beam, group.triggers, box, f"could not write {path}: {error}")
        announcement = self._announcement("recorded", rec_id, group.beam, group.triggers, box, window,
                                          str(path), nbytes, "; ".join(reasons))
        self._written.setdefault(group.beam, deque(maxlen=_REMEMBERED_RECORDINGS)).append(announcement)
        log.info("recording %s: %s", rec_id, announcement["reason"])
        return dict(announcement)

    def _missed(self, beam: str, triggers: list[Trigger], box: tuple[float, float, float, float] | None,
                reason: str) -> dict[str, Any]:
        start_s = box[0] if box else min(t.time_start_unix_s for t in triggers)
        rec_id = recording_id([t.trigger_id for t in triggers], beam, start_s)
        log.warning("recording %s missed: %s", rec_id, reason)
        return self._announcement("missed", rec_id, beam, triggers, box, reason=reason)

    def _announcement(self, status: str, rec_id: str, beam: str, triggers: list[Trigger],
                      box: tuple[float, float, float, float] | None = None, window: Window | None = None,
                      path: str | None = None, nbytes: int = 0, reason: str = "") -> dict[str, Any]:
        return {
            "recording_id": rec_id,
            "status": status,
            "beam": beam,
            "trigger_ids": sorted(t.trigger_id for t in triggers),
            "alert_ids": sorted({t.alert_id for t in triggers if t.alert_id}),
            "requested_time_start_unix_s": box[0] if box else None,
            "requested_time_stop_unix_s": box[1] if box else None,
            "requested_freq_min_hz": box[2] if box else None,
            "requested_freq_max_hz": box[3] if box else None,
            **_written(window),
            "path": path,
            "bytes": int(nbytes),
            "reason": reason,
            "nenubroker_version": __version__,
            "created_unix_s": self.clock(),
        }


__all__ = ["SUBBAND_WIDTH_HZ", "Recorder", "beamformer_settings", "recording_id", "write_window"]
