"""The edge ingester: full-resolution blocks in; detection chunks to Kafka, full resolution kept.

For each beam, every block (from a ``.spectra`` file or the simulator) goes to the beam's ring
buffer at full resolution and to its downsampler; finished detection chunks go to Kafka. Between
blocks, the trigger listener serves the broker's recording requests out of the ring buffers.
:class:`VolumeReport` accounts for what was streamed and recorded against what keeping everything
at full resolution would have cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nenubroker.conf.settings import Settings
from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.events import InjectedEvent
from nenubroker.edge.producer import ChunkProducer, DeliveryReport
from nenubroker.edge.simulator import BeamSimulator
from nenubroker.spectra_chunk import SpectraChunk

if TYPE_CHECKING:
    from nenubroker.edge.ring_buffer import RingBuffer
    from nenubroker.edge.triggers import TriggerListener

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


def simulated_blocks(settings: Settings, start_unix_s: float | None = None,
                     on_events: Callable[[list[InjectedEvent]], None] | None = None) -> Iterator[SpectraChunk]:
    """Blocks of every configured beam in time order; paced to the wall clock in real-time mode."""
    sim = settings.simulator
    start = time.time() if start_unix_s is None else start_unix_s
    beams = [BeamSimulator(beam, sim, start_unix_s=start) for beam in sim.beams]
    while True:
        for beam in beams:
            block, events = beam.next_block()
            if on_events and events:
                on_events(events)
            if sim.realtime:  # a block exists once its last spectrum has been integrated
                time.sleep(max(0.0, block.time_start_unix_s + beam.block_duration_s - time.time()))
                block = replace(block, created_unix_s=time.time())
            yield block


def file_blocks(path: Path, beam: str, follow: bool = False, idle_timeout_s: float = 30.0) -> Iterator[SpectraChunk]:
    """Stokes I blocks of a ``.spectra`` file, lost blocks as NaN; ``follow`` tails a growing file."""
    from nenubroker.edge.spectra_file import SpectraFile

    spectra = SpectraFile(path)
    blocks = (spectra.follow(idle_timeout_s=idle_timeout_s, include_lost=True) if follow
              else spectra.iter_blocks(include_lost=True))
    for block in blocks:
        yield block.to_chunk(beam, block.block_index, source=str(path))


def detection_chunks(beam: BeamSimulator, settings: Settings) -> Iterator[tuple[SpectraChunk, list[InjectedEvent]]]:
    """One simulated beam's detection chunks, without Kafka: for tests, benchmarks and notebooks.

    Each chunk comes with the events that started during it.
    """
    downsampler = Downsampler(settings.ingest)
    events: list[InjectedEvent] = []
    while True:
        block, started = beam.next_block()
        events += started
        for chunk in downsampler.push(block):
            chunk_end_s = chunk.time_start_unix_s + chunk.n_time * chunk.time_step_s
            inside = [e for e in events if e.time_start_unix_s < chunk_end_s]
            events = [e for e in events if e.time_start_unix_s >= chunk_end_s]
            yield chunk, inside


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

    def close(self) -> DeliveryReport:
        report = self.producer.flush()
        self.volume.streamed_bytes = report.bytes_delivered
        if self.trigger_listener is not None:
            self.trigger_listener.close()
        return report


__all__ = ["FULL_RESOLUTION_BYTES_PER_CHANNEL", "Ingester", "VolumeReport", "detection_chunks", "file_blocks",
           "simulated_blocks"]
