"""Edge -> Kafka on the suite's real broker: topics, the chunk producer, the client reading back."""

import numpy as np
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from nenubroker.client import subscribe
from nenubroker.edge.producer import ChunkProducer, ChunkTooLarge
from nenubroker.edge.simulator import BeamSimulator
from nenubroker.edge.stream import stream_simulated_beams
from nenubroker.kafka import client_config, ensure_topics
from nenubroker.spectra_chunk import SpectraChunk

pytestmark = pytest.mark.integration


def test_topics_are_created_once(settings):
    assert sorted(ensure_topics(settings.kafka)) == sorted(settings.kafka.topics.model_dump().values())
    assert ensure_topics(settings.kafka) == []
    topics = AdminClient(client_config(settings.kafka)).list_topics(timeout=10).topics
    assert len(topics[settings.kafka.topics.chunks].partitions) == settings.kafka.partitions


def test_simulated_beams_arrive_keyed_by_beam_with_version_header(settings, tmp_path):
    ensure_topics(settings.kafka)
    report = stream_simulated_beams(settings, max_chunks=3, truth_path=tmp_path / "truth.jsonl")
    assert (report.sent, report.delivered, dict(report.failed)) == (6, 6, {})
    consumer = Consumer(client_config(settings.kafka, **{"group.id": "t", "auto.offset.reset": "earliest"}))
    consumer.subscribe([settings.kafka.topics.chunks])
    chunks = []
    while len(chunks) < 6:
        message = consumer.poll(10)
        assert message is not None, f"only {len(chunks)} of 6 chunks came back"
        headers = dict(message.headers())
        assert headers["schema_version"] == b"1"
        chunk = SpectraChunk.decode(message.value(), message.headers())
        assert message.key() == chunk.beam.encode()
        chunks.append(chunk)
    consumer.close()
    assert sorted((c.beam, c.chunk_index) for c in chunks) == [(b, i) for b in ("beam0", "beam1") for i in range(3)]
    assert all(c.data.shape == (64, 256) and np.isfinite(c.data).all() for c in chunks)


def test_oversized_chunk_is_refused_with_a_clear_error(settings):
    ensure_topics(settings.kafka)
    small = settings.kafka.model_copy(update={"max_message_bytes": 10_000})
    chunk, _ = BeamSimulator("beam0", settings.simulator, start_unix_s=1.7e9).next_chunk()
    with pytest.raises(ChunkTooLarge, match="over the 10000-byte message limit"):
        ChunkProducer(small).send(chunk)


def test_client_reports_undecodable_records_and_goes_on(settings):
    from confluent_kafka import Producer

    ensure_topics(settings.kafka)
    producer = Producer(client_config(settings.kafka))
    chunk, _ = BeamSimulator("beam0", settings.simulator, start_unix_s=1.7e9).next_chunk()
    producer.produce(settings.kafka.topics.chunks, b"garbage", headers=[("schema", b"spectra_chunk"),
                                                                       ("schema_version", b"1")])
    value, headers = chunk.encode()
    producer.produce(settings.kafka.topics.chunks, value, headers=headers)
    producer.flush(10)
    skipped = []
    records = list(subscribe([settings.kafka.topics.chunks], settings, from_beginning=True, idle_timeout_s=5,
                             max_messages=1, on_error=lambda message, error: skipped.append(str(error))))
    assert [r["chunk_index"] for r in records] == [0]
    assert len(skipped) == 1 and "not a 'spectra_chunk' v1 Avro record" in skipped[0]
