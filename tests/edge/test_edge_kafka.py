"""Edge -> Kafka on the suite's real broker: topics, the chunk producer, the client reading back."""

import numpy as np
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from nenubroker.client import subscribe
from nenubroker.edge.producer import ChunkProducer, ChunkTooLarge
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.stream import detection_chunks, stream_simulated_beams
from nenubroker.kafka import client_config, ensure_topics
from nenubroker.records.chunk import SpectraChunk

pytestmark = pytest.mark.integration


def _chunks(settings):
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=1.7e9)
    return (chunk for chunk, _ in detection_chunks(beam, settings))


def test_topics_are_created_once(settings):
    assert sorted(ensure_topics(settings.kafka)) == sorted(settings.kafka.topics.model_dump().values())
    assert ensure_topics(settings.kafka) == []
    topics = AdminClient(client_config(settings.kafka)).list_topics(timeout=10).topics
    assert len(topics[settings.kafka.topics.chunks].partitions) == settings.kafka.partitions


def test_simulated_beams_arrive_keyed_by_beam_with_version_header(settings, tmp_path):
    ensure_topics(settings.kafka)
    report, volume = stream_simulated_beams(settings, max_chunks=3, truth_path=tmp_path / "truth.jsonl")
    assert (report.sent, report.delivered, report.dropped) == (8, 8, [])  # 3 chunks and the final one per beam
    assert volume.beams == 2
    assert volume.data_duration_s == pytest.approx((64 + 2 * 48) * 4 * 16 * 256 / 195312.5)  # overlap 16
    assert volume.streamed_bytes == report.bytes_delivered
    assert volume.reduction_factor == pytest.approx(volume.full_resolution_bytes / report.bytes_delivered)
    consumer = Consumer(client_config(settings.kafka, **{"group.id": "t", "auto.offset.reset": "earliest"}))
    consumer.subscribe([settings.kafka.topics.chunks])
    chunks = []
    while len(chunks) < 8:
        message = consumer.poll(10)
        assert message is not None, f"only {len(chunks)} of 8 chunks came back"
        headers = dict(message.headers())
        assert headers["schema_version"] == b"2"
        chunk = SpectraChunk.decode(message.value(), message.headers())
        assert message.key() == chunk.beam.encode()
        chunks.append(chunk)
    consumer.close()
    assert sorted((c.beam, c.chunk_index) for c in chunks) == [(b, i) for b in ("beam0", "beam1") for i in range(4)]
    assert all(np.isfinite(c.data).all() for c in chunks)
    # the stream stops on a chunk boundary: the final chunk is the 16 samples chunk 2 shares with it
    assert sorted((c.chunk_index, c.data.shape, c.overlap_samples, c.trailing_overlap_samples) for c in chunks
                  if c.beam == "beam0") == [(0, (64, 192), 0, 16), (1, (64, 192), 16, 16), (2, (64, 192), 16, 16),
                                            (3, (16, 192), 16, 0)]


def test_oversized_chunk_is_refused_with_a_clear_error(settings):
    ensure_topics(settings.kafka)
    small = settings.kafka.model_copy(update={"max_message_bytes": 10_000})
    chunk = next(_chunks(settings))
    with pytest.raises(ChunkTooLarge, match="over the 10000-byte message limit"):
        ChunkProducer(small).send(chunk)


def test_client_reports_undecodable_records_and_goes_on(settings):
    from confluent_kafka import Producer

    ensure_topics(settings.kafka)
    producer = Producer(client_config(settings.kafka))
    chunk = next(_chunks(settings))
    producer.produce(settings.kafka.topics.chunks, b"garbage", key=b"beam0", headers=[("schema", b"spectra_chunk"),
                                                                       ("schema_version", b"1")])
    value, headers = chunk.encode()
    producer.produce(settings.kafka.topics.chunks, value, key=b"beam0", headers=headers)  # same partition, after
    producer.flush(10)
    skipped = []
    records = list(subscribe([settings.kafka.topics.chunks], settings, from_beginning=True, idle_timeout_s=5,
                             max_messages=1, on_error=lambda message, error: skipped.append(str(error))))
    assert [r["chunk_index"] for r in records] == [0]
    assert len(skipped) == 1 and "not a 'spectra_chunk' v1 Avro record" in skipped[0]


def test_unreachable_kafka_drops_are_reported_chunk_by_chunk(settings):
    from nenubroker.apps.local_kafka import free_port

    nowhere = settings.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    ingest = settings.ingest.model_copy(update={"send_buffer_max_mb": 0.3, "send_timeout_s": 3.0})
    producer = ChunkProducer(nowhere, ingest, send_block_s=0.5)
    chunks = [chunk for chunk, _ in zip(_chunks(settings), range(8))]  # 8 x ~50 kB: over the 0.3 MB buffer
    accepted = [producer.send(chunk) for chunk in chunks]
    report = producer.flush(10)
    assert report.delivered == 0 and report.pending == 0
    assert sorted(index for _, index, _ in report.dropped) == list(range(8))
    refused = [i for i, ok in enumerate(accepted) if not ok]
    assert refused, "the bounded buffer should have refused some chunks"
    reasons = dict(((beam, index), reason) for beam, index, reason in report.dropped)
    assert all("send buffer full" in reasons[("beam0", i)] for i in refused)
    assert any("not delivered" in reason for reason in reasons.values())


def test_simulated_ingest_serves_a_trigger_from_its_ring_buffer(settings):
    from confluent_kafka import Producer

    from nenubroker.edge.ingest import Ingester
    from nenubroker.edge.ring_buffer import RingBuffer
    from nenubroker.edge.triggers import TriggerListener
    from nenubroker.records.trigger import Trigger

    ensure_topics(settings.kafka)
    trigger = Trigger("t-1", "beam1", 1.7e9 + 6.0, 1.7e9 + 7.0, 30e6, 32e6, reason="test")
    producer = Producer(client_config(settings.kafka))
    value, headers = trigger.encode()
    producer.produce(settings.kafka.topics.triggers, value, key=b"beam1", headers=headers)
    producer.flush(10)
    rings = {beam: RingBuffer.from_settings(beam, settings.ingest) for beam in settings.simulator.beams}
    ingester = Ingester(settings, ring_buffers=rings,
                        trigger_listener=TriggerListener(settings, rings, from_beginning=True))
    ingester.trigger_listener.poll(5.0)  # joins the group and takes the trigger: its window is still to come
    report, volume = stream_simulated_beams(settings, max_chunks=3, start_unix_s=1.7e9, ingester=ingester)
    [announcement] = list(subscribe([settings.kafka.topics.recordings], settings, from_beginning=True,
                                    idle_timeout_s=5))
    assert announcement["status"] == "recorded" and announcement["trigger_ids"] == ["t-1"]
    assert announcement["beam"] == "beam1" and announcement["bytes"] > 0
    assert volume.recorded_bytes == announcement["bytes"]
    assert (settings.recording.output_dir / "beam1").is_dir()


def test_schemas_are_published_on_the_schema_topic(settings):
    from nenubroker.kafka import ensure_all_topics, fetch_schemas

    ensure_all_topics(settings)
    ensure_all_topics(settings)  # idempotent: the topic is compacted by key
    schemas = fetch_schemas(settings.kafka)
    assert {"alert.v1", "alert.v2", "spectra_chunk.v1", "spectra_chunk.v2", "trigger.v1"} <= set(schemas)
    assert schemas["alert.v2"]["name"] == "Alert"
