"""What the detect stage does to one Kafka record, without Spark: decode, check, detect, encode.

Every record ends as alerts (possibly none) or as exactly one dead letter with the reason: nothing
is dropped silently, and no record can stop the stream.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nenubroker import __version__, avro
from nenubroker.conf.settings import Settings
from nenubroker.spectra_chunk import ChunkError, SpectraChunk
from nenubroker.udfs.burst_threshold import core as burst_threshold

STAGE = "detect"


@dataclass(frozen=True)
class SourceRecord:
    """A record as Spark's Kafka source gives it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    kafka_timestamp_unix_s: float


@dataclass(frozen=True)
class OutputMessage:
    """A row for Spark's Kafka sink: the topic is chosen per message."""

    topic: str
    key: bytes | None
    value: bytes
    headers: avro.Headers


def alert_id(beam: str, chunk_index: int, candidate: dict[str, Any], module: str) -> str:
    """Same chunk and same candidate, same id: a replay of the stream repeats ids, never invents."""
    identity = f"{beam}|{chunk_index}|{module}|{candidate['time_peak_s']:.6f}|{candidate['freq_peak_hz']:.1f}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def make_alert(chunk: SpectraChunk, candidate: dict[str, Any], record: SourceRecord) -> dict[str, Any]:
    module = burst_threshold.MODULE_NAME
    return {
        "alert_id": alert_id(chunk.beam, chunk.chunk_index, candidate, module),
        "beam": chunk.beam,
        "chunk_index": chunk.chunk_index,
        "time_peak_unix_s": candidate["time_peak_s"],
        "time_start_unix_s": candidate["time_start_s"],
        "duration_s": candidate["duration_s"],
        "freq_peak_hz": candidate["freq_peak_hz"],
        "freq_min_hz": candidate["freq_min_hz"],
        "freq_max_hz": candidate["freq_max_hz"],
        "snr": candidate["snr"],
        "peak_power": candidate["peak_power"],
        "n_pixels": candidate["n_pixels"],
        "module": module,
        "module_version": burst_threshold.MODULE_VERSION,
        "nenubroker_version": __version__,
        "chunk_created_unix_s": chunk.created_unix_s,
        "kafka_ingest_unix_s": record.kafka_timestamp_unix_s,
        "processed_unix_s": time.time(),
    }


def dead_letter(record: SourceRecord, reason: str, topic: str) -> OutputMessage:
    value, headers = avro.encode("dead_letter", {
        "stage": STAGE,
        "reason": reason,
        "source_topic": record.topic,
        "source_partition": record.partition,
        "source_offset": record.offset,
        "source_key": record.key,
        "source_headers": {k: v or b"" for k, v in record.headers},
        "source_value": record.value,
        "rejected_unix_s": time.time(),
    })
    return OutputMessage(topic, record.key, value, headers + [("reason", reason.encode()[:1000])])


def detect_in_chunk(chunk: SpectraChunk, settings: Settings) -> list[dict[str, Any]]:
    detector = settings.detector
    nonfinite = 1.0 - np.isfinite(chunk.data).mean()
    if nonfinite > detector.max_nonfinite_fraction:
        raise ChunkError(
            f"{nonfinite:.0%} of the samples are NaN or infinite "
            f"(more than max_nonfinite_fraction={detector.max_nonfinite_fraction:.0%})")
    return burst_threshold.detect_bursts(
        chunk.data, chunk.freq_hz, chunk.time_start_unix_s, chunk.time_step_s,
        snr_threshold=detector.snr_threshold,
        smooth_time_samples=detector.smooth_time_samples,
        smooth_freq_channels=detector.smooth_freq_channels,
        min_pixels=detector.min_pixels,
    )


def process_record(record: SourceRecord, settings: Settings) -> list[OutputMessage]:
    """Alerts for the bursts in one chunk record, or one dead letter saying why there can be none."""
    topics = settings.kafka.topics
    try:
        chunk = SpectraChunk.decode(record.value, record.headers)
        candidates = detect_in_chunk(chunk, settings)
    except (avro.DecodeError, ChunkError) as error:
        return [dead_letter(record, str(error), topics.dead_letter)]
    except Exception as error:  # a bug must not stop the stream either; it is reported in full
        return [dead_letter(record, f"detector failed: {type(error).__name__}: {error}", topics.dead_letter)]
    messages = []
    for candidate in candidates:
        value, headers = avro.encode("alert", make_alert(chunk, candidate, record))
        messages.append(OutputMessage(topics.alerts, chunk.beam.encode(), value, headers))
    return messages


__all__ = ["OutputMessage", "SourceRecord", "alert_id", "make_alert", "process_record"]
