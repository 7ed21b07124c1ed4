"""Simulated beams streamed like live ones: blocks in time order, detection chunks without Kafka,
and the truth catalogue of every injected event (JSON lines while streaming, TFCat at the end)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path

from nenubroker.conf.settings import Settings
from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.ingest import Ingester, VolumeReport, run_ingest
from nenubroker.edge.producer import DeliveryReport
from nenubroker.edge.sim.events import InjectedEvent
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.truth import write_truth_tfcat
from nenubroker.records.chunk import SpectraChunk


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


def stream_simulated_beams(settings: Settings, duration_s: float | None = None, max_chunks: int | None = None,
                           truth_path: Path | None = None, start_unix_s: float | None = None,
                           ingester: Ingester | None = None) -> tuple[DeliveryReport, VolumeReport]:
    """Simulated beams through the ingester, their events appended to ``truth_path`` (JSON lines)
    as they happen, and the whole truth written in TFCat beside it at the end (``.tfcat.json``)."""
    truth = open(truth_path, "a") if truth_path else None
    injected: list[InjectedEvent] = []

    def record(events: list[InjectedEvent]) -> None:
        injected.extend(events)
        if truth:
            truth.writelines(json.dumps(asdict(event)) + "\n" for event in events)
            truth.flush()

    try:
        blocks = simulated_blocks(settings, start_unix_s, on_events=record)
        ingester = ingester or Ingester.with_recording(settings, settings.simulator.beams)
        return run_ingest(settings, blocks, ingester, duration_s=duration_s, max_chunks=max_chunks)
    finally:
        if truth:
            truth.close()
            write_truth_tfcat(injected, Path(truth_path).with_suffix(".tfcat.json"))


__all__ = ["detection_chunks", "simulated_blocks", "stream_simulated_beams"]
