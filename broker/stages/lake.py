"""Streaming stage ``lake``: alerts and chunk features from Kafka into a Parquet data lake.

Two queries, one per table, each with its own checkpoint (``<checkpoint_dir>/lake-<table>``):
``<lake_dir>/alerts`` partitioned by ``date`` (UTC date of the peak) and ``class`` (class label, or
``unclassified``), and ``<lake_dir>/chunk_features`` partitioned by ``date`` and ``beam``. Spark's
file sink commits each micro-batch's files together with its offsets, so a restart neither loses
nor repeats a batch; alerts are also de-duplicated on their deterministic ``alert_id`` (and chunk
features on beam + chunk index) within a watermark, so a record the upstream stage wrote twice
after a crash lands once. Read the lake with Spark, pandas or pyarrow::

    pandas.read_parquet(".cache/lake/alerts", filters=[("class", "==", "type_iii")])
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from nenubroker.broker.stages import run_stage
from nenubroker.conf.settings import Settings
from nenubroker.kafka import spark_options
from nenubroker.records import avro

STAGE = "lake"


def table_schema(name: str) -> pa.Schema:
    """The Arrow schema of a lake table: the record's Avro fields plus its partition columns."""
    columns = [field.with_nullable(True) for field in avro.arrow_schema(name)]  # as Spark's file sink writes
    partitions = [pa.field("date", pa.string()),
                  pa.field("class" if name == "alert" else "partition_beam", pa.string())]
    return pa.schema([*columns, *partitions, pa.field("kafka_timestamp", pa.timestamp("us", tz="UTC"))])


def _date(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d")


def decode_batches(name: str):
    """The ``mapInArrow`` function: Kafka records -> decoded rows; undecodable ones are skipped
    (the detect stage wrote them, with a known schema: a failure here is a bug, reported in the log)."""
    schema = table_schema(name)

    def decode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            columns = batch.to_pydict()
            rows = []
            for value, headers, timestamp in zip(columns["value"], columns["headers"], columns["timestamp"]):
                record = avro.decode(name, value, [(h["key"], h["value"]) for h in headers or ()])
                if name == "alert":
                    record.update(date=_date(record["time_peak_unix_s"]),
                                  **{"class": record["class_label"] or "unclassified"})
                else:
                    record.update(date=_date(record["time_start_unix_s"]), partition_beam=record["beam"])
                record["kafka_timestamp"] = timestamp
                rows.append(record)
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return decode


def _spark_ddl(schema: pa.Schema) -> str:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema).simpleString()[len("struct<"):-1]


def table_stream(spark: SparkSession, settings: Settings, name: str, topic: str, keys: list[str]) -> DataFrame:
    raw = (spark.readStream.format("kafka").options(**spark_options(settings.kafka))
           .option("subscribe", topic).option("startingOffsets", "earliest")
           .option("includeHeaders", "true").option("failOnDataLoss", "false").load()
           .select("value", "headers", "timestamp"))
    decoded = raw.mapInArrow(decode_batches(name), _spark_ddl(table_schema(name)))
    return decoded.withWatermark("kafka_timestamp", "10 minutes").dropDuplicatesWithinWatermark(keys)


def start(spark: SparkSession, settings: Settings, available_now: bool = False) -> list[StreamingQuery]:
    """Start both queries; ``available_now`` writes what is on the topics, then stops."""
    lake = Path(settings.paths.lake_dir).resolve()
    checkpoints = Path(settings.paths.checkpoint_dir).resolve()
    topics = settings.kafka.topics
    tables = [("alert", topics.alerts, ["alert_id"], "alerts", ["date", "class"]),
              ("chunk_features", topics.chunk_features, ["beam", "chunk_index"], "chunk_features",
               ["date", "partition_beam"])]
    queries = []
    for name, topic, keys, folder, partitions in tables:
        writer = (table_stream(spark, settings, name, topic, keys).writeStream.format("parquet")
                  .option("path", str(lake / folder))
                  .option("checkpointLocation", str(checkpoints / f"{STAGE}-{folder}"))
                  .partitionBy(*partitions).queryName(f"{STAGE}-{folder}"))
        writer = writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime="10 seconds")
        queries.append(writer.start())
    return queries


def main(argv: list[str] | None = None) -> None:
    run_stage(start, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
