"""What the detect stage does to a batch of Kafka records, without Spark: the chain

    decode_records -> run_science -> make_alerts -> route   (+ chunk_features, dead letters)

of pure steps (:mod:`nenubroker.broker.detection`, :mod:`nenubroker.broker.routing`), composed by
:meth:`ChunkProcessor.process` into the messages Spark's Kafka sink writes. No step writes files.

Every record ends as alerts (possibly none) or as exactly one dead letter with the reason: nothing
is dropped silently, and no record can stop the stream. If a module fails on a batch, the chunks
are retried one by one so that only the chunks that break it are dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from nenubroker.broker.detection import (
    AlertContext,
    DecodedChunk,
    Rejected,
    chunk_features,
    decode_records,
    make_alerts,
    run_science,
)
from nenubroker.broker.messages import OutputMessage, SourceRecord
from nenubroker.broker.routing import route
from nenubroker.conf.settings import Settings
from nenubroker.records.dead_letter import DeadLetter
from nenubroker.udfs.contract import ScienceModule
from nenubroker.udfs.registry import resolve

#: The stage's name: in dead letters, its checkpoint folder and its Spark query.
STAGE = "detect"


def dead_letters(rejected: Sequence[Rejected], topic: str, now_unix_s: float,
                 stage: str = STAGE) -> list[OutputMessage]:
    """One dead letter per rejected record, keyed like it, with the reason also in a header."""
    messages = []
    for record, reason in rejected:
        value, headers = DeadLetter.of(record, stage, reason, now_unix_s).encode()
        messages.append(OutputMessage(topic, record.key, value, headers + [("reason", reason.encode()[:1000])]))
    return messages


class ChunkProcessor:
    """The enabled modules, resolved once per Python worker, applied to batches of records."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.modules: list[ScienceModule] = resolve(settings.modules.enabled)
        self.context = AlertContext.of(self.modules, settings.modules.alert_classifier, settings.routing.pointings)

    def process(self, records: Sequence[SourceRecord]) -> list[OutputMessage]:
        """Alerts for the bursts in a batch of chunk records, dead letters for the records that fail."""
        now = time.time()
        dead_letter_topic = self.settings.kafka.topics.dead_letter
        decoded, rejected = decode_records(records, self.settings.modules.max_nonfinite_fraction)
        messages = dead_letters(rejected, dead_letter_topic, now)
        try:
            return messages + self.outputs(decoded, now)
        except Exception:  # some chunk breaks a module: find which, one at a time
            for one in decoded:
                try:
                    messages += self.outputs([one], now)
                except Exception as error:
                    reason = f"science modules failed: {type(error).__name__}: {error}"
                    messages += dead_letters([Rejected(one.record, reason)], dead_letter_topic, now)
            return messages

    def outputs(self, decoded: Sequence[DecodedChunk], now_unix_s: float) -> list[OutputMessage]:
        """The routed alerts of decoded chunks, then each chunk's features."""
        if not decoded:
            return []
        chunk_rows, candidates = run_science([chunk for _, chunk in decoded], self.modules,
                                             self.settings.modules.params)
        alerts = make_alerts(candidates, chunk_rows, decoded, self.context, now_unix_s)
        features = chunk_features(candidates, chunk_rows, decoded, self.context, now_unix_s)
        topic = self.settings.kafka.topics.chunk_features
        return (route(alerts, self.settings, now_unix_s)
                + [OutputMessage.of(topic, record.beam, record) for record in features])


__all__ = ["ChunkProcessor", "STAGE", "dead_letters"]
