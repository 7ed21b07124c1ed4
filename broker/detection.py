"""From chunk records to alerts, one pure step at a time: decode, run the science modules, make
the alerts and the per-chunk features.

No Kafka, no Spark, no files: each step takes and returns plain Python and pandas values, and
:class:`~nenubroker.broker.processing.ChunkProcessor` chains them (then :func:`~nenubroker.broker.routing.route`).
Times are passed in (``processed_unix_s``) rather than read from the clock, so a step's output
depends only on its arguments.

>>> bad = SourceRecord("chunks", 0, 7, b"beam0", b"junk", [("schema_version", b"1")], 0.0)
>>> decoded, [rejected] = decode_records([bad], max_nonfinite_fraction=0.5)
>>> decoded, rejected.reason.startswith("not a 'spectra_chunk' v1 Avro record")
([], True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nenubroker import __version__
from nenubroker.broker.messages import SourceRecord
from nenubroker.conf.settings import Pointing
from nenubroker.records import avro
from nenubroker.records.alert import UNIX_EPOCH_MJD, Alert, alert_id
from nenubroker.records.chunk import ChunkError, SpectraChunk
from nenubroker.records.chunk_features import ChunkFeatures
from nenubroker.udfs.contract import ScienceModule
from nenubroker.udfs.registry import chunk_table, run_modules, versions

#: Candidate columns an alert copies as floats.
_CANDIDATE_FLOATS = ("time_peak_unix_s", "time_start_unix_s", "duration_s", "freq_peak_hz", "freq_min_hz",
                     "freq_max_hz", "drift_hz_per_s", "snr", "peak_power")


class DecodedChunk(NamedTuple):
    """A record and the chunk it holds."""

    record: SourceRecord
    chunk: SpectraChunk


class Rejected(NamedTuple):
    """A record that cannot be used, and why, in words a person can act on."""

    record: SourceRecord
    reason: str


def decode_chunk(record: SourceRecord, max_nonfinite_fraction: float) -> SpectraChunk:
    """The record's chunk, checked; raises :class:`~nenubroker.records.avro.DecodeError` or
    :class:`~nenubroker.records.chunk.ChunkError` when it is unusable (too many lost samples, too)."""
    chunk = SpectraChunk.decode(record.value, record.headers)
    nonfinite = 1.0 - np.isfinite(chunk.data).mean()
    if nonfinite > max_nonfinite_fraction:
        raise ChunkError(f"{nonfinite:.0%} of the samples are NaN or infinite "
                         f"(more than max_nonfinite_fraction={max_nonfinite_fraction:.0%})")
    return chunk


def decode_records(records: Sequence[SourceRecord],
                   max_nonfinite_fraction: float) -> tuple[list[DecodedChunk], list[Rejected]]:
    """Each record either decoded into its chunk or rejected with the reason, in input order."""
    decoded: list[DecodedChunk] = []
    rejected: list[Rejected] = []
    for record in records:
        try:
            decoded.append(DecodedChunk(record, decode_chunk(record, max_nonfinite_fraction)))
        except (avro.DecodeError, ChunkError) as error:
            rejected.append(Rejected(record, str(error)))
    return decoded, rejected


def run_science(chunks: Sequence[SpectraChunk], modules: Sequence[ScienceModule],
                params: Mapping[str, Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chunk table (one row per chunk, in order) and the candidate table the modules make of it."""
    return run_modules(chunk_table(chunks), modules, params)


@dataclass(frozen=True)
class AlertContext:
    """What an alert carries besides its candidate: which modules found and classified it, and
    where each beam points (ICRS, degrees). The same for every batch of a worker."""

    detector: str
    module_versions: dict[str, str]
    classifier: str | None = None
    pointings: Mapping[str, Pointing] = field(default_factory=dict)

    @classmethod
    def of(cls, modules: Sequence[ScienceModule], classifier: str | None,
           pointings: Mapping[str, Pointing]) -> AlertContext:
        """The context of ``modules`` (one detector among them); ``classifier`` must be one of them."""
        module_versions = versions(modules)
        if classifier and classifier not in module_versions:
            raise ValueError(f"alert_classifier {classifier!r} is not an enabled module")
        detector = next(m.name for m in modules if m.level == "detector")
        return cls(detector, module_versions, classifier or None, pointings)


def make_alerts(candidates: pd.DataFrame, chunk_rows: pd.DataFrame, decoded: Sequence[DecodedChunk],
                context: AlertContext, processed_unix_s: float) -> list[Alert]:
    """One alert per candidate; ``chunk_rows`` (the chunk table :func:`run_science` returned) and
    ``decoded`` are in the order candidates' ``chunk_row`` counts in."""
    return [_alert(candidate, chunk_rows.iloc[candidate["chunk_row"]], decoded[candidate["chunk_row"]],
                   context, processed_unix_s)
            for candidate in candidates.to_dict("records")]


def _alert(candidate: dict[str, Any], chunk_row: pd.Series, decoded: DecodedChunk, context: AlertContext,
           processed_unix_s: float) -> Alert:
    record, chunk = decoded
    label, probabilities, classifier = None, {}, None
    if context.classifier:
        label = candidate[f"{context.classifier}_label"]
        probabilities = {k: float(v) for k, v in candidate[f"{context.classifier}_probabilities"].items()}
        classifier = f"{context.classifier} {context.module_versions[context.classifier]}"
    flagged = chunk_row.get("rfi_flagged_fraction")
    pointing = context.pointings.get(chunk.beam)
    return Alert(
        alert_id=alert_id(chunk.beam, chunk.chunk_index, context.detector,
                          candidate["time_peak_unix_s"], candidate["freq_peak_hz"]),
        beam=chunk.beam,
        chunk_index=chunk.chunk_index,
        **{name: float(candidate[name]) for name in _CANDIDATE_FLOATS},
        class_label=label,
        class_probabilities=probabilities,
        classifier=classifier,
        rfi_flagged_fraction=None if flagged is None else float(flagged),
        cutout=np.ascontiguousarray(candidate["cutout"], dtype="<f4").tobytes(),
        detector=context.detector,
        module_versions=context.module_versions,
        nenubroker_version=__version__,
        chunk_created_unix_s=chunk.created_unix_s,
        kafka_ingest_unix_s=record.kafka_timestamp_unix_s,
        processed_unix_s=processed_unix_s,
        source=chunk.source,
        pointing_ra_deg=pointing.ra_deg if pointing else None,
        pointing_dec_deg=pointing.dec_deg if pointing else None,
        time_peak_mjd=UNIX_EPOCH_MJD + float(candidate["time_peak_unix_s"]) / 86400.0,
        stage_times_unix_s={"edge_created": chunk.created_unix_s,
                            "kafka_ingest": record.kafka_timestamp_unix_s, "broker_processed": processed_unix_s},
    )


def chunk_features(candidates: pd.DataFrame, chunk_rows: pd.DataFrame, decoded: Sequence[DecodedChunk],
                   context: AlertContext, processed_unix_s: float) -> list[ChunkFeatures]:
    """The data lake's record of every chunk, alerts or not, with its candidate count; same
    arguments as :func:`make_alerts`."""
    counts = candidates["chunk_row"].value_counts() if len(candidates) else pd.Series(dtype=int)
    return [_features(chunk, chunk_rows.iloc[row], int(counts.get(row, 0)), context, processed_unix_s)
            for row, (_, chunk) in enumerate(decoded)]


def _features(chunk: SpectraChunk, chunk_row: pd.Series, n_candidates: int, context: AlertContext,
              processed_unix_s: float) -> ChunkFeatures:
    flagged = chunk_row.get("rfi_flagged_fraction")
    finite = np.isfinite(chunk.data)
    return ChunkFeatures(
        beam=chunk.beam, chunk_index=chunk.chunk_index, time_start_unix_s=chunk.time_start_unix_s,
        duration_s=chunk.n_time * chunk.time_step_s, freq_min_hz=float(chunk.freq_hz.min()),
        freq_max_hz=float(chunk.freq_hz.max()), n_candidates=n_candidates,
        nonfinite_fraction=float(1 - finite.mean()),
        rfi_flagged_fraction=None if flagged is None else float(flagged),
        median_power=float(np.median(chunk.data[finite])) if finite.any() else 0.0,
        module_versions=context.module_versions, nenubroker_version=__version__,
        chunk_created_unix_s=chunk.created_unix_s, processed_unix_s=processed_unix_s,
    )


__all__ = ["AlertContext", "DecodedChunk", "Rejected", "chunk_features", "decode_chunk", "decode_records",
           "make_alerts", "run_science"]
