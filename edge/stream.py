"""The ingest loop: blocks from a source through the :class:`Ingester` until told to stop.

Every injected event of a simulated source goes to a truth catalogue (JSON lines while streaming,
TFCat at the end), so what the broker finds can be checked against what was put in. The volume report is logged every
``report_every_s`` seconds and at the end.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from nenubroker.conf.settings import Settings
from nenubroker.edge.events import InjectedEvent
from nenubroker.edge.ingest import Ingester, VolumeReport, simulated_blocks
from nenubroker.edge.producer import DeliveryReport
from nenubroker.edge.tfcat import write_tfcat
from nenubroker.spectra_chunk import SpectraChunk

log = logging.getLogger("nenubroker.edge")


def run_ingest(settings: Settings, blocks: Iterator[SpectraChunk], ingester: Ingester | None = None,
               duration_s: float | None = None, max_chunks: int | None = None,
               report_every_s: float = 60.0) -> tuple[DeliveryReport, VolumeReport]:
    """Ingest ``blocks`` until they end, ``duration_s`` passes or ``max_chunks`` chunks per beam were cut."""
    ingester = ingester or Ingester(settings)
    began = last_report = time.monotonic()
    chunks_per_beam: dict[str, int] = {}
    try:
        for block in blocks:
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
            write_tfcat(injected, Path(truth_path).with_suffix(".tfcat.json"))


__all__ = ["run_ingest", "stream_simulated_beams"]
