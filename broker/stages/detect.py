"""Streaming stage ``detect``: chunk topic -> science modules -> alert topic (+ dead-letter topic).

Spark's Kafka source reads the chunk topic; ``mapInArrow`` hands batches of records to
:class:`nenubroker.broker.processing.ChunkProcessor` (decode, the enabled science modules, alerts,
routing) on the Python workers; Spark's Kafka sink writes each output row (alerts, filter topics,
triggers, batch requests, VOEvents, chunk features, dead letters) to the topic it names. The
checkpoint (``<checkpoint_dir>/detect``) holds the source offsets, so a restart resumes where the
last completed micro-batch stopped.

Run it in-process (``nenubroker broker detect``) or with spark-submit on any master::

    spark-submit --master spark://host:7077 --jars <connector jars> broker/stages/detect.py
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from nenubroker.broker.messages import SourceRecord
from nenubroker.broker.processing import STAGE, ChunkProcessor
from nenubroker.broker.stages import run_stage
from nenubroker.conf.settings import Settings
from nenubroker.kafka import spark_options, topic_max_bytes

_HEADERS = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))
SINK_SCHEMA = pa.schema([("topic", pa.string()), ("key", pa.binary()), ("value", pa.binary()), ("headers", _HEADERS)])
SINK_DDL = "topic string, key binary, value binary, headers array<struct<key: string, value: binary>>"


def checkpoint_path(settings: Settings) -> Path:
    return Path(settings.paths.checkpoint_dir).resolve() / STAGE


def _records(batch: pa.RecordBatch) -> Iterator[SourceRecord]:
    columns = batch.to_pydict()
    for i in range(batch.num_rows):
        timestamp = columns["timestamp"][i]
        yield SourceRecord(
            topic=columns["topic"][i],
            partition=columns["partition"][i],
            offset=columns["offset"][i],
            key=columns["key"][i],
            value=columns["value"][i],
            headers=[(h["key"], h["value"]) for h in columns["headers"][i] or ()],
            kafka_timestamp_unix_s=timestamp.timestamp() if timestamp is not None else 0.0,
        )


def process_batches(settings: Settings):
    """The function ``mapInArrow`` runs on the Python workers."""

    def process(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        processor = ChunkProcessor(settings)
        for batch in batches:
            rows = processor.process(list(_records(batch)))
            yield pa.RecordBatch.from_pylist(
                [{"topic": m.topic, "key": m.key, "value": m.value,
                  "headers": [{"key": k, "value": v} for k, v in m.headers]} for m in rows],
                schema=SINK_SCHEMA,
            )

    return process


def build_query_input(spark: SparkSession, settings: Settings) -> DataFrame:
    kafka = settings.kafka
    reader = (
        spark.readStream.format("kafka")
        .options(**spark_options(kafka))
        .option("subscribe", kafka.topics.chunks)
        .option("startingOffsets", settings.spark.starting_offsets)
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "false")
        .option("kafka.max.partition.fetch.bytes", str(kafka.max_message_bytes))
    )
    real_time = settings.spark.real_time_batch_s is not None  # Spark refuses both options then
    if settings.spark.max_offsets_per_trigger and not real_time:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.spark.max_offsets_per_trigger))
    min_partitions = settings.spark.min_partitions or spark.sparkContext.defaultParallelism
    if min_partitions > 1 and not real_time:
        reader = reader.option("minPartitions", str(min_partitions))
    raw = reader.load().select("key", "value", "headers", "topic", "partition", "offset", "timestamp")
    return raw.mapInArrow(process_batches(settings), SINK_DDL)


def start(spark: SparkSession, settings: Settings, available_now: bool = False) -> StreamingQuery:
    """Start the stage; ``available_now`` processes what is on the topic, then stops (bounded runs).

    Micro-batches every ``spark.trigger_interval_s``, or Spark's real-time mode when
    ``spark.real_time_batch_s`` is set (experimental: bench/results/latency.md).
    """
    kafka = settings.kafka
    writer = (
        build_query_input(spark, settings).writeStream.format("kafka")
        .options(**spark_options(kafka))
        .option("kafka.max.request.size", str(topic_max_bytes(kafka, kafka.topics.dead_letter)))
        .option("kafka.enable.idempotence", "true")
        .option("checkpointLocation", str(checkpoint_path(settings)))
        .queryName(STAGE)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    elif settings.spark.real_time_batch_s is not None:
        # MapInArrowExec is not on Spark's real-time allowlist (4.2): without this the query is refused
        spark.conf.set("spark.sql.streaming.realTimeMode.allowlistCheck", "false")
        writer = writer.outputMode("update").trigger(realTime=f"{settings.spark.real_time_batch_s} seconds")
    else:
        writer = writer.trigger(processingTime=f"{settings.spark.trigger_interval_s} seconds")
        if settings.spark.async_progress_tracking:  # not allowed with availableNow
            writer = (writer.option("asyncProgressTrackingEnabled", "true")
                      .option("asyncProgressTrackingCheckpointIntervalMs",
                              str(settings.spark.async_checkpoint_interval_ms)))
    return writer.start()


def main(argv: list[str] | None = None) -> None:
    run_stage(start, __doc__.splitlines()[0], argv)


__all__ = ["SINK_DDL", "SINK_SCHEMA", "build_query_input", "checkpoint_path", "main", "process_batches", "start"]

if __name__ == "__main__":
    main()
