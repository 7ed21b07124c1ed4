"""The lake stage on real Spark and Kafka: alerts and chunk features into Parquet, exactly once."""

import pandas as pd
import pyarrow.dataset as ds
import pytest
from confluent_kafka import Producer

from nenubroker.broker.stages import detect, lake
from nenubroker.client import subscribe
from nenubroker.edge.producer import ChunkProducer
from nenubroker.edge.sim.events import InjectedEvent
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks
from nenubroker.kafka import client_config, ensure_all_topics
from nenubroker.records import avro

pytestmark = pytest.mark.integration
T0 = 1.7e9


def _run(queries):
    for query in queries if isinstance(queries, list) else [queries]:
        query.awaitTermination()
        assert query.exception() is None


def test_alerts_and_chunk_features_land_once_in_parquet(spark, settings):
    ensure_all_topics(settings)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=T0)
    for i in range(3):
        beam.inject(InjectedEvent("spike", "beam0", T0 + 1.0 + 4.0 * i, 30e6 + 8e6 * i, snr=3.0,
                                  duration_s=0.25, bandwidth_hz=8e5))
    producer = ChunkProducer(settings.kafka)
    chunks = detection_chunks(beam, settings)
    for _ in range(3):
        producer.send(next(chunks)[0])
    producer.flush()
    _run(detect.start(spark, settings, available_now=True))
    _run(lake.start(spark, settings, available_now=True))
    alerts = pd.read_parquet(settings.paths.lake_dir / "alerts")
    assert len(alerts) >= 3 and alerts["alert_id"].is_unique
    assert set(alerts["date"].astype(str)) == {"2023-11-14"} and set(alerts["class"].astype(str)) == {"spike"}
    features = ds.dataset(settings.paths.lake_dir / "chunk_features", format="parquet", partitioning="hive").to_table()
    assert sorted(features.column("chunk_index").to_pylist()) == [0, 1, 2]

    # The alerts again on the topic (what an at-least-once writer does after a crash): still once.
    written = list(subscribe([settings.kafka.topics.alerts], settings, from_beginning=True, idle_timeout_s=4))
    replay = Producer(client_config(settings.kafka))
    for alert in written:
        value, headers = avro.encode("alert", alert)
        replay.produce(settings.kafka.topics.alerts, value, key=b"beam0", headers=headers)
    replay.flush(10)
    _run(lake.start(spark, settings, available_now=True))
    again = spark.read.parquet(str(settings.paths.lake_dir / "alerts"))
    assert again.count() == len(alerts) and again.select("alert_id").distinct().count() == len(alerts)
