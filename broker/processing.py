"""What the detect stage does to a batch of Kafka records, without Spark: decode, check, run the
enabled science modules, encode alerts.

Every record ends as alerts (possibly none) or as exactly one dead letter with the reason: nothing
is dropped silently, and no record can stop the stream. If a module fails on a batch, the chunks
are retried one by one so that only the chunks that break it are dead-lettered.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nenubroker import __version__, avro
from nenubroker.broker.routing import batch_request_record, select, trigger_record, triggered
from nenubroker.conf.settings import Settings
from nenubroker.formats.voevent import alert_to_voevent, role_for_source, write_voevent
from nenubroker.spectra_chunk import ChunkError, SpectraChunk
from nenubroker.udfs.contract import ScienceModule
from nenubroker.udfs.registry import chunk_table, resolve, run_modules, versions

STAGE = "detect"
#: MJD of 1970-01-01T00:00 UTC; unix time has no leap seconds, so MJD(UTC) = this + unix_s / 86400.
UNIX_EPOCH_MJD = 40587.0


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


def alert_id(beam: str, chunk_index: int, detector: str, time_peak_unix_s: float, freq_peak_hz: float) -> str:
    """Same chunk and same candidate, same id: a replay of the stream repeats ids, never invents."""
    identity = f"{beam}|{chunk_index}|{detector}|{time_peak_unix_s:.6f}|{freq_peak_hz:.1f}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


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


class ChunkProcessor:
    """The enabled modules, resolved once per Python worker, applied to batches of records."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.modules: list[ScienceModule] = resolve(settings.modules.enabled)
        self.detector = next(m for m in self.modules if m.level == "detector")
        self.versions = versions(self.modules)
        self.classifier = settings.modules.alert_classifier
        if self.classifier and self.classifier not in self.versions:
            raise ValueError(f"alert_classifier {self.classifier!r} is not an enabled module")

    def decode(self, record: SourceRecord) -> SpectraChunk:
        chunk = SpectraChunk.decode(record.value, record.headers)
        nonfinite = 1.0 - np.isfinite(chunk.data).mean()
        limit = self.settings.modules.max_nonfinite_fraction
        if nonfinite > limit:
            raise ChunkError(f"{nonfinite:.0%} of the samples are NaN or infinite (more than max_nonfinite_fraction={limit:.0%})")
        return chunk

    def process(self, records: Sequence[SourceRecord]) -> list[OutputMessage]:
        """Alerts for the bursts in a batch of chunk records, dead letters for the records that fail."""
        dead_letter_topic = self.settings.kafka.topics.dead_letter
        outputs: list[OutputMessage] = []
        good: list[tuple[SourceRecord, SpectraChunk]] = []
        for record in records:
            try:
                good.append((record, self.decode(record)))
            except (avro.DecodeError, ChunkError) as error:
                outputs.append(dead_letter(record, str(error), dead_letter_topic))
        if not good:
            return outputs
        try:
            return outputs + self._alerts(good)
        except Exception:  # some chunk breaks a module: find which, one at a time
            for pair in good:
                try:
                    outputs += self._alerts([pair])
                except Exception as error:
                    outputs.append(dead_letter(pair[0], f"science modules failed: {type(error).__name__}: {error}",
                                               dead_letter_topic))
            return outputs

    def _alerts(self, good: list[tuple[SourceRecord, SpectraChunk]]) -> list[OutputMessage]:
        chunks, candidates = run_modules(chunk_table([chunk for _, chunk in good]), self.modules,
                                         self.settings.modules.params)
        alerts = [self.make_alert(candidate._asdict(), chunks.iloc[candidate.chunk_row], *good[candidate.chunk_row][::-1])
                  for candidate in candidates.itertuples(index=False)]
        counts = candidates["chunk_row"].value_counts() if len(candidates) else pd.Series(dtype=int)
        features = [self.chunk_features(chunk, chunks.iloc[row], int(counts.get(row, 0)))
                    for row, (_, chunk) in enumerate(good)]
        return self.route(alerts) + features

    def chunk_features(self, chunk: SpectraChunk, chunk_row: pd.Series, n_candidates: int) -> OutputMessage:
        """The per-chunk record for the data lake (conf/schemas/chunk_features.v1.avsc)."""
        flagged = chunk_row.get("rfi_flagged_fraction")
        finite = np.isfinite(chunk.data)
        value, headers = avro.encode("chunk_features", {
            "beam": chunk.beam, "chunk_index": chunk.chunk_index, "time_start_unix_s": chunk.time_start_unix_s,
            "duration_s": chunk.n_time * chunk.time_step_s, "freq_min_hz": float(chunk.freq_hz.min()),
            "freq_max_hz": float(chunk.freq_hz.max()), "n_candidates": n_candidates,
            "nonfinite_fraction": float(1 - finite.mean()),
            "rfi_flagged_fraction": None if flagged is None else float(flagged),
            "median_power": float(np.median(chunk.data[finite])) if finite.any() else 0.0,
            "module_versions": self.versions, "nenubroker_version": __version__,
            "chunk_created_unix_s": chunk.created_unix_s, "processed_unix_s": time.time(),
        })
        return OutputMessage(self.settings.kafka.topics.chunk_features, chunk.beam.encode(), value, headers)

    def route(self, alerts: list[dict[str, Any]]) -> list[OutputMessage]:
        """Each alert to the alert topic and to every filter topic that selects it; triggers per rule."""
        if not alerts:
            return []
        topics, routing = self.settings.kafka.topics, self.settings.routing
        table = pd.DataFrame(alerts)
        messages = []
        now = time.time()
        for rule in routing.triggers:
            for i in np.flatnonzero(triggered(table, rule).to_numpy()):
                trigger = trigger_record(alerts[i], rule, now)
                alerts[i]["trigger_ids"] = [*alerts[i].get("trigger_ids", []), trigger["trigger_id"]]
                value, headers = avro.encode("trigger", trigger)
                messages.append(OutputMessage(topics.triggers, alerts[i]["beam"].encode(), value, headers))
        for rule in routing.batch_requests:
            for i in np.flatnonzero(triggered(table, rule).to_numpy()):
                value, headers = avro.encode("batch_request", batch_request_record(alerts[i], rule, now))
                messages.append(OutputMessage(topics.batch_requests, alerts[i]["beam"].encode(), value, headers))
        destinations = [[topics.alerts] for _ in alerts]
        for alert_filter in routing.filters:
            for i in np.flatnonzero(select(table, alert_filter).to_numpy()):
                destinations[i].append(alert_filter.topic)
        for alert, topic_list in zip(alerts, destinations):
            value, headers = avro.encode("alert", alert)
            messages += [OutputMessage(topic, alert["beam"].encode(), value, headers) for topic in topic_list]
            messages.append(self.voevent(alert))
        return messages

    def voevent(self, alert: dict[str, Any]) -> OutputMessage:
        """The alert's VOEvent 2.0 packet (role "test" for simulated data), also written to a folder if set."""
        routing = self.settings.routing
        xml = alert_to_voevent(alert, authority=routing.voevent_authority, stream=routing.voevent_stream,
                               role=role_for_source(alert.get("source", "")),
                               pointing_ra_deg=alert.get("pointing_ra_deg"), pointing_dec_deg=alert.get("pointing_dec_deg"))
        if routing.voevent_dir is not None:
            write_voevent(xml, routing.voevent_dir)
        return OutputMessage(self.settings.kafka.topics.voevents, alert["beam"].encode(), xml.encode(),
                             [("content-type", b"application/xml"), ("format", b"voevent-2.0"),
                              ("alert_id", alert["alert_id"].encode())])

    def make_alert(self, candidate: dict[str, Any], chunk_row: pd.Series, chunk: SpectraChunk,
                   record: SourceRecord) -> dict[str, Any]:
        """The alert record (conf/schemas/alert.v1.avsc) of one candidate."""
        label, probabilities, classifier = None, {}, None
        if self.classifier:
            label = candidate[f"{self.classifier}_label"]
            probabilities = {k: float(v) for k, v in candidate[f"{self.classifier}_probabilities"].items()}
            classifier = f"{self.classifier} {self.versions[self.classifier]}"
        flagged = chunk_row.get("rfi_flagged_fraction")
        pointing = self.settings.routing.pointings.get(chunk.beam)
        now = time.time()
        return {
            "alert_id": alert_id(chunk.beam, chunk.chunk_index, self.detector.name,
                                 candidate["time_peak_unix_s"], candidate["freq_peak_hz"]),
            "beam": chunk.beam,
            "chunk_index": chunk.chunk_index,
            **{name: float(candidate[name]) for name in (
                "time_peak_unix_s", "time_start_unix_s", "duration_s", "freq_peak_hz", "freq_min_hz",
                "freq_max_hz", "drift_hz_per_s", "snr", "peak_power")},
            "class_label": label,
            "class_probabilities": probabilities,
            "classifier": classifier,
            "rfi_flagged_fraction": None if flagged is None else float(flagged),
            "cutout": np.ascontiguousarray(candidate["cutout"], dtype="<f4").tobytes(),
            "detector": self.detector.name,
            "module_versions": self.versions,
            "nenubroker_version": __version__,
            "chunk_created_unix_s": chunk.created_unix_s,
            "kafka_ingest_unix_s": record.kafka_timestamp_unix_s,
            "processed_unix_s": now,
            "source": chunk.source,
            "pointing_ra_deg": pointing.ra_deg if pointing else None,
            "pointing_dec_deg": pointing.dec_deg if pointing else None,
            "time_peak_mjd": UNIX_EPOCH_MJD + float(candidate["time_peak_unix_s"]) / 86400.0,
            "trigger_ids": [],
            "stage_times_unix_s": {"edge_created": chunk.created_unix_s,
                                   "kafka_ingest": record.kafka_timestamp_unix_s, "broker_processed": now},
        }


__all__ = ["ChunkProcessor", "OutputMessage", "SourceRecord", "alert_id", "dead_letter"]
