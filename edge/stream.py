"""Streams simulated beams to the chunk topic, in real time or as fast as Kafka takes them.

Every injected event is appended to a truth catalogue (JSON lines), so what the broker finds can be
checked against what was put in.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from nenubroker.conf.settings import Settings
from nenubroker.edge.producer import ChunkProducer, DeliveryReport
from nenubroker.edge.simulator import BeamSimulator


def stream_simulated_beams(
    settings: Settings,
    duration_s: float | None = None,
    max_chunks: int | None = None,
    truth_path: Path | None = None,
    start_unix_s: float | None = None,
) -> DeliveryReport:
    """Send chunks of every configured beam until ``duration_s`` or ``max_chunks`` per beam."""
    sim = settings.simulator
    start = time.time() if start_unix_s is None else start_unix_s
    beams = [BeamSimulator(beam, sim, start_unix_s=start) for beam in sim.beams]
    producer = ChunkProducer(settings.kafka)
    truth = open(truth_path, "a") if truth_path else None
    began = time.monotonic()
    try:
        while True:
            if max_chunks is not None and beams[0].chunk_index >= max_chunks:
                break
            if duration_s is not None and time.monotonic() - began >= duration_s:
                break
            for beam in beams:
                chunk, events = beam.next_chunk()
                if sim.realtime:  # a chunk exists once its last sample has been integrated
                    time.sleep(max(0.0, chunk.time_start_unix_s + beam.chunk_duration_s - time.time()))
                    chunk = replace(chunk, created_unix_s=time.time())
                producer.send(chunk)
                if truth:
                    for event in events:
                        truth.write(json.dumps(asdict(event)) + "\n")
                    truth.flush()
    finally:
        report = producer.flush()
        if truth:
            truth.close()
    return report


__all__ = ["stream_simulated_beams"]
