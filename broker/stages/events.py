"""Streaming stage ``events``: alert topic -> one event per burst, however many chunks it spans.

Spark's Kafka source reads the alert topic; ``transformWithStateInPandas`` groups the alerts by
beam and hands them to :class:`EventProcessor`, which keeps each beam's open events
(:class:`nenubroker.broker.tracking.EventTracker`) in Spark's state store and a processing-time
timer for the next event to end. Each micro-batch writes, to the topic each names: an ``event``
record (``new``, ``update`` or ``final``) on the events topic, and from the second revision on a
VOEvent update citing the first alert's packet. Alerts that do not decode become dead letters.
An event is final once no alert continued it for ``events.close_after_s`` while the stage ran: a
timer that fires late (the driver was down) restarts the quiet time instead, so that alerts
waiting in Kafka still join their event.

State and offsets live in the checkpoint (``<checkpoint_dir>/events``, RocksDB state store), so a
restarted driver goes on with the same open events: a burst seen before and after a restart is
one event id.

Run it in-process (``nenubroker broker events``) or with spark-submit, like the detect stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle, StreamingQuery
from pyspark.sql.types import StringType, StructField, StructType

from nenubroker.broker.messages import OutputMessage, SourceRecord
from nenubroker.broker.processing import dead_letters
from nenubroker.broker.stages import run_stage
from nenubroker.broker.stages.detect import SINK_DDL
from nenubroker.broker.tracking import EventTracker, TrackedEvent, event_messages
from nenubroker.conf.settings import Settings
from nenubroker.kafka import spark_options
from nenubroker.records import avro

STAGE = "events"
_STATE_SCHEMA = StructType([StructField("open_events_json", StringType(), True)])
_SINK_COLUMNS = ["topic", "key", "value", "headers"]


def checkpoint_path(settings: Settings) -> Path:
    return Path(settings.paths.checkpoint_dir).resolve() / STAGE


def _frame(messages: list[OutputMessage]) -> pd.DataFrame:
    return pd.DataFrame([{"topic": m.topic, "key": m.key, "value": m.value,
                          "headers": [{"key": k, "value": v} for k, v in m.headers]} for m in messages],
                        columns=_SINK_COLUMNS)


class EventProcessor(StatefulProcessor):
    """One beam's open events in a value state (JSON), and a timer for the next to end."""

    def __init__(self, settings: Settings):
        self.settings = settings
        #: A timer that fires later than this after its time means the stage was not running then.
        self.late_timer_s = 3 * settings.events.trigger_interval_s + 5.0

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.handle = handle
        self.state = handle.getValueState("open_events", _STATE_SCHEMA)

    def _tracker(self) -> EventTracker:
        stored = self.state.get() if self.state.exists() else None
        records = json.loads(stored[0]) if stored and stored[0] else []
        return EventTracker.from_state(self.settings.events, records)

    def _save(self, tracker: EventTracker) -> None:
        for expiry_ms in list(self.handle.listTimers()):
            self.handle.deleteTimer(expiry_ms)
        if not tracker.open_events:
            self.state.clear()
            return
        self.state.update((json.dumps(tracker.state()),))
        self.handle.registerTimer(int(tracker.next_expiry_unix_s() * 1000) + 1)

    def _emit(self, changed: list[TrackedEvent], rejected: list[tuple[SourceRecord, str]],
              now_unix_s: float) -> Iterator[pd.DataFrame]:
        messages = event_messages(changed, self.settings)
        messages += dead_letters(rejected, self.settings.kafka.topics.dead_letter, now_unix_s, stage=STAGE)
        if messages:
            yield _frame(messages)

    def handleInputRows(self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any) -> Iterator[pd.DataFrame]:
        now = timerValues.getCurrentProcessingTimeInMs() / 1000.0
        alerts, rejected = [], []
        for frame in rows:
            for row in frame.itertuples(index=False):
                headers = [(h["key"], h["value"]) for h in (row.headers if row.headers is not None else ())]
                try:
                    alerts.append(avro.decode("alert", row.value, headers))
                except avro.DecodeError as error:
                    record = SourceRecord(row.topic, int(row.partition), int(row.offset), row.key, row.value, headers)
                    rejected.append((record, str(error)))
        tracker = self._tracker()
        changed = tracker.add(alerts, now) + tracker.close_expired(now)
        self._save(tracker)
        yield from self._emit(changed, rejected, now)

    def handleExpiredTimer(self, key: Any, timerValues: Any, expiredTimerInfo: Any) -> Iterator[pd.DataFrame]:
        now = timerValues.getCurrentProcessingTimeInMs() / 1000.0
        tracker = self._tracker()
        if now - expiredTimerInfo.getExpiryTimeInMs() / 1000.0 > self.late_timer_s:
            tracker.postpone(now)  # the stage was down or behind: alerts may wait in Kafka, watch again
            finals = []
        else:
            finals = tracker.close_expired(now)
        self._save(tracker)
        yield from self._emit(finals, [], now)

    def close(self) -> None:
        pass


def build_query_input(spark: SparkSession, settings: Settings) -> DataFrame:
    kafka = settings.kafka
    raw = (spark.readStream.format("kafka").options(**spark_options(kafka))
           .option("subscribe", kafka.topics.alerts).option("startingOffsets", settings.spark.starting_offsets)
           .option("includeHeaders", "true").option("failOnDataLoss", "false").load())
    alerts = raw.selectExpr("CAST(key AS STRING) AS beam", "key", "value", "headers", "topic", "partition", "offset")
    return alerts.groupBy("beam").transformWithStateInPandas(
        statefulProcessor=EventProcessor(settings), outputStructType=SINK_DDL, outputMode="Append",
        timeMode="ProcessingTime")


def start(spark: SparkSession, settings: Settings, available_now: bool = False) -> StreamingQuery:
    """Start the stage; ``available_now`` processes what is on the topic, then stops (bounded runs:
    events still open then stay open in the state, and end in a later run)."""
    writer = (build_query_input(spark, settings).writeStream.format("kafka")
              .options(**spark_options(settings.kafka)).option("kafka.enable.idempotence", "true")
              .option("checkpointLocation", str(checkpoint_path(settings))).queryName(STAGE).outputMode("append"))
    if available_now:
        return writer.trigger(availableNow=True).start()
    return writer.trigger(processingTime=f"{settings.events.trigger_interval_s} seconds").start()


def main(argv: list[str] | None = None) -> None:
    run_stage(start, __doc__.splitlines()[0], argv)


__all__ = ["EventProcessor", "build_query_input", "checkpoint_path", "main", "start"]

if __name__ == "__main__":
    main()
