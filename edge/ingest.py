"""The edge ingester: full-resolution blocks in; detection chunks to Kafka, full resolution kept.

For each beam, every block (from a ``.spectra`` file, an e-CALLISTO FITS file or the simulator) goes
to the beam's ring buffer at full resolution and to its downsampler; finished detection chunks go to
Kafka. Between blocks, the trigger listener serves the broker's recording requests out of the ring
buffers. When the stream ends (its blocks end, a duration or chunk count is reached, Ctrl-C or
SIGTERM), each beam's remaining samples go out as a final, shorter chunk before the producer flushes
(:meth:`Downsampler.flush <nenubroker.edge.downsample.Downsampler.flush>`).
:class:`VolumeReport` accounts for what was streamed and recorded against what keeping everything
at full resolution would have cost.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nenubroker.conf.settings import CallistoIngestSettings, Settings
from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.producer import ChunkProducer, DeliveryReport
from nenubroker.records.chunk import SpectraChunk

if TYPE_CHECKING:
    from nenubroker.edge.callisto_file import CallistoFile
    from nenubroker.edge.ring_buffer import RingBuffer
    from nenubroker.edge.triggers import TriggerListener

log = logging.getLogger("nenubroker.edge")

#: A beamformer spectrum stores 4 float32 products per channel (XX, YY, Re XY, Im XY).
FULL_RESOLUTION_BYTES_PER_CHANNEL = 16


@dataclass
class VolumeReport:
    """Data volumes over ``data_duration_s`` of sky time per beam, and their hourly rates."""

    beams: int = 0
    data_duration_s: float = 0.0
    full_resolution_bytes: int = 0
    streamed_bytes: int = 0
    recorded_bytes: int = 0

    def _per_hour_gb(self, n_bytes: int) -> float:
        return n_bytes / 1e9 * 3600 / self.data_duration_s if self.data_duration_s > 0 else 0.0

    @property
    def full_resolution_gb_per_h(self) -> float:
        return self._per_hour_gb(self.full_resolution_bytes)

    @property
    def streamed_gb_per_h(self) -> float:
        return self._per_hour_gb(self.streamed_bytes)

    @property
    def recorded_gb_per_h(self) -> float:
        return self._per_hour_gb(self.recorded_bytes)

    @property
    def reduction_factor(self) -> float:
        """Full-resolution volume over what was actually kept (streamed + recorded)."""
        kept = self.streamed_bytes + self.recorded_bytes
        return self.full_resolution_bytes / kept if kept else float("inf")

    def summary(self) -> str:
        return (f"full resolution {self.full_resolution_gb_per_h:.3f} GB/h, streamed "
                f"{self.streamed_gb_per_h:.4f} GB/h, recorded {self.recorded_gb_per_h:.4f} GB/h, "
                f"reduction x{self.reduction_factor:.1f} over {self.data_duration_s:.0f} s x {self.beams} beams")


def file_blocks(path: Path, beam: str, follow: bool = False, idle_timeout_s: float = 30.0,
                callisto: CallistoIngestSettings | None = None) -> Iterator[SpectraChunk]:
    """Stokes I blocks of a ``.spectra`` file, lost blocks as NaN; ``follow`` tails a growing file.

    An e-CALLISTO FITS file (``.fit``, ``.fits``, ``.fts``, gzipped or not; ``edge/callisto_file.py``)
    gives blocks of ``callisto.block_time_samples`` samples instead, lost samples as NaN.
    """
    from nenubroker.edge.callisto_file import is_callisto_path

    if is_callisto_path(path):
        yield from _callisto_blocks(path, beam, follow, callisto or CallistoIngestSettings())
        return
    from nenubroker.edge.spectra_file import SpectraFile

    spectra = SpectraFile(path)
    blocks = (spectra.follow(idle_timeout_s=idle_timeout_s, include_lost=True) if follow
              else spectra.iter_blocks(include_lost=True))
    for block in blocks:
        yield block.to_chunk(beam, block.block_index, source=str(path))


def _open_callisto(path: Path, follow: bool, callisto: CallistoIngestSettings) -> CallistoFile:
    from nenubroker.edge.callisto_file import CallistoFile

    if follow:
        raise ValueError(f"{path}: --follow tails a growing .spectra file; an e-CALLISTO FITS file is written whole")
    return CallistoFile(path, freq_step_hz=callisto.freq_step_hz, dither=callisto.dither,
                        saturated_digit=callisto.saturated_digit, lost_digit=callisto.lost_digit)


def _callisto_blocks(path: Path, beam: str, follow: bool, callisto: CallistoIngestSettings) -> Iterator[SpectraChunk]:
    fits_file = _open_callisto(path, follow, callisto)
    log.info("%s", fits_file.summary())
    for block in fits_file.iter_blocks(callisto.block_time_samples):
        yield block.to_chunk(beam, block.block_index, source=str(path))


def describe_file(path: Path, follow: bool = False, callisto: CallistoIngestSettings | None = None) -> str:
    """Open ``path`` as :func:`file_blocks` will and say what it holds, so that a missing, unreadable or
    garbled file fails at once, naming the file (FileNotFoundError, SpectraFileError, CallistoFileError,
    ValueError), before anything is sent."""
    from nenubroker.edge.callisto_file import is_callisto_path
    from nenubroker.edge.spectra_file import SpectraFile

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if is_callisto_path(path):
        return _open_callisto(path, follow, callisto or CallistoIngestSettings()).summary()
    spectra = SpectraFile(path, warn_truncated=not follow)
    spectra.close()
    return (f"{Path(path).name}: {spectra.n_blocks} blocks ({spectra.n_lost_blocks} lost) of {spectra.nffte} "
            f"spectra x {spectra.layout.n_freq} channels")


def settings_for_file(settings: Settings, path: Path) -> Settings:
    """``settings`` with the averaging and chunk sizes for ``path``: those of ``ingest.callisto`` for an
    e-CALLISTO FITS file (already at 0.25 s x ~0.35 MHz), unchanged for a ``.spectra`` file."""
    from nenubroker.edge.callisto_file import is_callisto_path

    if not is_callisto_path(path):
        return settings
    callisto = settings.ingest.callisto
    ingest = settings.ingest.model_copy(update={
        name: getattr(callisto, name)
        for name in ("downsample_time", "downsample_freq", "chunk_time_samples", "overlap_time_samples")})
    return settings.model_copy(update={"ingest": ingest})


class Ingester:
    """Routes blocks to ring buffers, downsamplers and Kafka, and serves recording triggers."""

    def __init__(self, settings: Settings, producer: ChunkProducer | None = None,
                 ring_buffers: dict[str, RingBuffer] | None = None,
                 trigger_listener: TriggerListener | None = None):
        self.settings = settings
        self.producer = producer or ChunkProducer(settings.kafka, settings.ingest)
        self.ring_buffers = ring_buffers if ring_buffers is not None else {}
        self.trigger_listener = trigger_listener
        self.volume = VolumeReport()
        self._downsamplers: dict[str, Downsampler] = {}
        self._duration_s: dict[str, float] = {}

    @classmethod
    def with_recording(cls, settings: Settings, beams: list[str]) -> Ingester:
        """An ingester that keeps a ring buffer per beam and serves the broker's recording triggers."""
        from nenubroker.edge.ring_buffer import RingBuffer
        from nenubroker.edge.triggers import TriggerListener

        rings = {beam: RingBuffer.from_settings(beam, settings.ingest) for beam in beams}
        return cls(settings, ring_buffers=rings, trigger_listener=TriggerListener(settings, rings))

    def ingest(self, block: SpectraChunk) -> list[SpectraChunk]:
        """Take one block; return the detection chunks it completed (already sent)."""
        if block.beam in self.ring_buffers:
            self.ring_buffers[block.beam].append(block)
        downsampler = self._downsamplers.setdefault(block.beam, Downsampler(self.settings.ingest))
        chunks = downsampler.push(block)
        for chunk in chunks:
            self.producer.send(chunk)
        self._account(block)
        self.service()
        return chunks

    def _account(self, block: SpectraChunk) -> None:
        self._duration_s[block.beam] = self._duration_s.get(block.beam, 0.0) + block.n_time * block.time_step_s
        self.volume.beams = len(self._duration_s)
        self.volume.data_duration_s = max(self._duration_s.values())
        self.volume.full_resolution_bytes += block.n_time * block.n_freq * FULL_RESOLUTION_BYTES_PER_CHANNEL
        self.volume.streamed_bytes = self.producer.report.bytes_delivered

    def service(self) -> list[dict]:
        """Delivery reports, and recording triggers whose data is in the ring buffers."""
        self.producer.poll()
        if self.trigger_listener is None:
            return []
        announcements = self.trigger_listener.poll(0.0)
        self.volume.recorded_bytes += sum(a.get("bytes", 0) for a in announcements)
        return announcements

    def end_streams(self) -> list[SpectraChunk]:
        """End every beam's stream: send its final chunk (the samples not yet sent); return them."""
        chunks = [chunk for downsampler in self._downsamplers.values() for chunk in downsampler.flush()]
        for chunk in chunks:
            self.producer.send(chunk)
        return chunks

    def close(self) -> DeliveryReport:
        """End the streams, wait for Kafka to take every chunk, stop serving triggers."""
        try:
            self.end_streams()
        finally:
            report = self.producer.flush()
            self.volume.streamed_bytes = report.bytes_delivered
            if self.trigger_listener is not None:
                self.trigger_listener.close()
        return report


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so the stream ends cleanly (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _until_interrupted(blocks: Iterator[SpectraChunk]) -> Iterator[SpectraChunk]:
    """``blocks`` until they end or Ctrl-C / SIGTERM arrives (then logged, not raised)."""
    try:
        yield from blocks
    except KeyboardInterrupt:
        log.info("interrupted: ending the streams and flushing what is queued")


def run_ingest(settings: Settings, blocks: Iterator[SpectraChunk], ingester: Ingester | None = None,
               duration_s: float | None = None, max_chunks: int | None = None,
               report_every_s: float = 60.0) -> tuple[DeliveryReport, VolumeReport]:
    """Ingest ``blocks`` until they end, ``duration_s`` passes or ``max_chunks`` chunks per beam were
    cut, then end the streams (a final chunk per beam) and flush. Ctrl-C or SIGTERM ends them the
    same way: an ordinary stop, whose report says what was delivered and what was dropped."""
    ingester = ingester or Ingester(settings)
    began = last_report = time.monotonic()
    chunks_per_beam: dict[str, int] = {}
    with _sigterm_as_interrupt():
        try:
            for block in _until_interrupted(blocks):
                for chunk in ingester.ingest(block):
                    chunks_per_beam[chunk.beam] = chunks_per_beam.get(chunk.beam, 0) + 1
                now = time.monotonic()
                if now - last_report >= report_every_s:
                    log.info("volume: %s", ingester.volume.summary())
                    last_report = now
                if duration_s is not None and now - began >= duration_s:
                    break
                if max_chunks is not None and chunks_per_beam and min(chunks_per_beam.values()) >= max_chunks \
                        and len(chunks_per_beam) == len(settings.simulator.beams):
                    break
        finally:
            report = ingester.close()
    log.info("volume: %s", ingester.volume.summary())
    return report, ingester.volume


__all__ = ["FULL_RESOLUTION_BYTES_PER_CHANNEL", "Ingester", "VolumeReport", "describe_file", "file_blocks",
           "run_ingest", "settings_for_file"]
