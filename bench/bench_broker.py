"""Broker benchmark: throughput of Kafka -> Spark -> science modules -> alerts, and latency.

1. Throughput: the same detection chunks (the 34 GB/h mode's stream: 768 channels x 64 samples)
   through (a) the configured science modules in plain pandas, one process and two processes, and
   (b) the Spark detect stage reading them from a real Kafka topic and writing alerts back, in the
   same run. Reported as MB/s of chunks and as the ratio Spark / plain.
2. Latency: beams of the 34 GB/h mode simulated in real time at the edge (full resolution ->
   ring buffer -> downsampled chunks -> Kafka), the detect stage running continuously; latency from
   a chunk's creation at the edge to its alerts and triggers on Kafka (Kafka append times), p50/p95.

Run: ``.venv/bin/python bench/bench_broker.py [--chunks 400] [--beams 4] [--latency-s 120]``.
Writes bench/results/broker.md, broker.json and broker.png.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
T0 = 1.7e9


def make_settings(work_dir: Path, kafka_bootstrap: str, **overrides):
    from nenubroker.conf.settings import load_settings

    base = {
        "kafka": {"bootstrap_servers": kafka_bootstrap},
        "simulator": {"realtime": False, "seed": 7},
        "spark": {"master": "local[2]", "max_offsets_per_trigger": None, "trigger_interval_s": 0.2},
        "paths": {"cache_dir": str(REPO / ".cache"), "checkpoint_dir": str(work_dir / "checkpoints")},
        "recording": {"output_dir": str(work_dir / "recordings")},
    }
    for key, value in overrides.items():
        base.setdefault(key, {}).update(value)
    return load_settings(env={}, overrides=base)


def simulated_records(settings, n_chunks: int) -> list:
    """Encoded chunks of one simulated beam with random events, as SourceRecords."""
    from nenubroker.broker.messages import SourceRecord
    from nenubroker.edge.sim.simulator import BeamSimulator
    from nenubroker.edge.sim.stream import detection_chunks

    stream = detection_chunks(BeamSimulator("beam0", settings.simulator, start_unix_s=T0), settings)
    records = []
    for offset in range(n_chunks):
        chunk, _ = next(stream)
        value, headers = chunk.encode()
        records.append(SourceRecord("chunks", 0, offset, b"beam0", value, headers, T0))
    return records


def _plain_worker(args) -> int:
    from nenubroker.broker.processing import ChunkProcessor

    settings, records = args
    processor = ChunkProcessor(settings)
    return sum(len(processor.process(records[i:i + 64])) for i in range(0, len(records), 64))


def bench_plain(settings, records, processes: int) -> float:
    """MB/s of the modules in plain pandas over ``processes`` processes."""
    n_bytes = sum(len(r.value) for r in records)
    parts = [(settings, records[i::processes]) for i in range(processes)]
    began = time.perf_counter()
    if processes == 1:
        _plain_worker(parts[0])
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(_plain_worker, parts)
    return n_bytes / 1e6 / (time.perf_counter() - began)


def produce(settings, records) -> None:
    from confluent_kafka import Producer

    from nenubroker.kafka import client_config

    producer = Producer(client_config(settings.kafka, **{"linger.ms": 20, "compression.type": "zstd"}))
    for record in records:
        while True:
            try:
                producer.produce(settings.kafka.topics.chunks, record.value, key=record.key, headers=record.headers)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)


def bench_spark(spark, settings, records) -> float:
    """MB/s of the detect stage over chunks already on the topic (one bounded run, warmed up first)."""
    from nenubroker.broker.stages import detect

    n_bytes = sum(len(r.value) for r in records)
    warm_topics = settings.kafka.topics.model_copy(update={"chunks": settings.kafka.topics.chunks + ".warm"})
    warm_paths = settings.paths.model_copy(update={"checkpoint_dir": settings.paths.checkpoint_dir / "warm"})
    warm = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topics": warm_topics}),
                                       "paths": warm_paths})
    from nenubroker.kafka import ensure_all_topics

    ensure_all_topics(warm)
    produce(warm, records[:32])
    detect.start(spark, warm, available_now=True).awaitTermination()  # JIT, Python workers, connections
    produce(settings, records)
    began = time.perf_counter()
    query = detect.start(spark, settings, available_now=True)
    query.awaitTermination()
    return n_bytes / 1e6 / (time.perf_counter() - began)


def read_timestamps(settings, topic: str, idle_timeout_s: float = 5.0) -> list[tuple[dict, float]]:
    """Every record of a topic with its Kafka (append) timestamp in seconds."""
    from confluent_kafka import Consumer

    from nenubroker.kafka import client_config
    from nenubroker.records import avro

    consumer = Consumer(client_config(settings.kafka, **{"group.id": f"bench-{time.time()}",
                                                         "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    out, last = [], time.monotonic()
    while time.monotonic() - last < idle_timeout_s:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        last = time.monotonic()
        schema = dict(message.headers())["schema"].decode()
        out.append((avro.decode(schema, message.value(), message.headers()), message.timestamp()[1] / 1000))
    consumer.close()
    return out


def bench_latency(spark, settings, beams: int, seconds: float) -> dict:
    """Real-time edge beams and a continuous detect stage; latencies from chunk creation."""
    from nenubroker.broker.stages import detect
    from nenubroker.edge.sim.stream import stream_simulated_beams

    sim = settings.simulator.model_copy(update={"realtime": True, "beams": [f"beam{i}" for i in range(beams)]})
    live = settings.model_copy(update={"simulator": sim})
    query = detect.start(spark, live)
    # Warm-up: the first micro-batch with data starts the Python workers and imports the modules
    # (a one-off of several seconds); it is timed separately and left out of the percentiles.
    produce(live, simulated_records(live, 2))
    while not any(p.get("numInputRows") for p in query.recentProgress):
        time.sleep(0.2)
    warm_up_s = next(p for p in query.recentProgress if p.get("numInputRows"))["durationMs"]["triggerExecution"] / 1000
    started = time.time()
    edge = threading.Thread(target=stream_simulated_beams, args=(live,), kwargs={"duration_s": seconds})
    edge.start()
    edge.join()
    time.sleep(10)
    progress = query.recentProgress
    query.stop()
    alerts = [(a, ts) for a, ts in read_timestamps(live, live.kafka.topics.alerts)
              if a["chunk_created_unix_s"] >= started]
    created = {alert["alert_id"]: alert["chunk_created_unix_s"] for alert, _ in alerts}
    alert_latency = [ts - alert["chunk_created_unix_s"] for alert, ts in alerts]
    triggers = read_timestamps(live, live.kafka.topics.triggers, idle_timeout_s=3)
    trigger_latency = [ts - created[t["alert_id"]] for t, ts in triggers if t["alert_id"] in created]
    batch_s = [p["durationMs"].get("triggerExecution", 0) / 1000 for p in progress if p.get("numInputRows")][1:]

    def pct(values, q):
        return float(np.percentile(values, q)) if values else float("nan")

    return {"beams": beams, "seconds": seconds, "alerts": len(alerts), "triggers": len(triggers),
            "alert_latency_p50_s": pct(alert_latency, 50), "alert_latency_p95_s": pct(alert_latency, 95),
            "trigger_latency_p50_s": pct(trigger_latency, 50), "trigger_latency_p95_s": pct(trigger_latency, 95),
            "micro_batch_p50_s": pct(batch_s, 50), "micro_batch_p95_s": pct(batch_s, 95),
            "warm_up_batch_s": warm_up_s, "alert_latencies_s": alert_latency}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    t = results["throughput"]
    left.bar(["plain, 1 process", "plain, 2 processes", "Spark detect stage"],
             [t["plain_1_mb_s"], t["plain_2_mb_s"], t["spark_mb_s"]], color=["grey", "grey", "tab:orange"])
    left.set_ylabel("MB/s of chunks")
    left.set_title(f"Spark / plain(2 proc) = {t['ratio_vs_2']:.2f}")
    lat = results["latency"]["alert_latencies_s"]
    if lat:
        right.hist(lat, bins=30, color="tab:blue")
    right.set_xlabel("chunk created at the edge -> alert on Kafka (s)")
    right.set_title(f"{results['latency']['beams']} beams: p50 {results['latency']['alert_latency_p50_s']:.2f} s, "
                    f"p95 {results['latency']['alert_latency_p95_s']:.2f} s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=400)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--latency-s", type=float, default=120.0)
    args = parser.parse_args()
    from nenubroker.apps.jars import resolve_jars
    from nenubroker.apps.local_kafka import LocalKafka, free_port
    from nenubroker.broker.spark import get_session
    from nenubroker.conf.settings import LocalKafkaSettings
    from nenubroker.kafka import ensure_all_topics

    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = LocalKafkaSettings(port=free_port(), controller_port=free_port())
        with LocalKafka(local, work / "kafka", resolve_jars("kafka-broker", REPO / ".cache")) as kafka:
            settings = make_settings(work, kafka.bootstrap_servers)
            ensure_all_topics(settings)
            records = simulated_records(settings, args.chunks)
            mb = sum(len(r.value) for r in records) / 1e6
            print(f"{args.chunks} chunks, {mb:.0f} MB; modules: {settings.modules.enabled}", file=sys.stderr)
            plain_1 = bench_plain(settings, records, 1)
            plain_2 = bench_plain(settings, records, 2)
            spark = get_session(settings)
            spark_mb_s = bench_spark(spark, settings, records)
            per_beam_mb_s = len(records[0].value) / 1e6 / (48 * 4 * 64 * 64 / 195312.5)
            throughput = {"chunks": args.chunks, "mb": mb, "plain_1_mb_s": plain_1, "plain_2_mb_s": plain_2,
                          "spark_mb_s": spark_mb_s, "ratio_vs_1": spark_mb_s / plain_1,
                          "ratio_vs_2": spark_mb_s / plain_2,
                          "stream_mb_s_per_beam": per_beam_mb_s, "beams_sustained": spark_mb_s / per_beam_mb_s}
            live = make_settings(work, kafka.bootstrap_servers, kafka={"topics": {
                name: f"live.{name}" for name in ("chunks", "alerts", "dead_letter", "triggers", "recordings")}},
                paths={"checkpoint_dir": str(work / "live-checkpoints")})
            ensure_all_topics(live)
            latency = bench_latency(spark, live, args.beams, args.latency_s)
            spark.stop()
    results = {"throughput": throughput, "latency": latency, "modules": settings.modules.enabled}
    (RESULTS / "broker.json").write_text(json.dumps({**results, "latency": {
        k: v for k, v in latency.items() if k != "alert_latencies_s"}}, indent=2))
    plot(results, RESULTS / "broker.png")
    t, lat = throughput, latency
    alert_row = f"{lat['alert_latency_p50_s']:.2f} s | {lat['alert_latency_p95_s']:.2f} s (target <= 2 s)"
    trigger_row = f"{lat['trigger_latency_p50_s']:.2f} s | {lat['trigger_latency_p95_s']:.2f} s"
    (RESULTS / "broker.md").write_text(f"""# Broker benchmark

`bench/bench_broker.py --chunks {args.chunks} --beams {args.beams} --latency-s {args.latency_s:.0f}` on this
machine (2 cores); modules: {', '.join(settings.modules.enabled)}.

## Throughput ({t['chunks']} chunks of the 34 GB/h mode's detection stream, {t['mb']:.0f} MB)
| path | MB/s |
|---|---|
| modules in plain pandas, 1 process | {t['plain_1_mb_s']:.1f} |
| modules in plain pandas, 2 processes | {t['plain_2_mb_s']:.1f} |
| Kafka -> Spark detect stage -> Kafka | {t['spark_mb_s']:.1f} |
| **Spark / plain (2 processes)** | **{t['ratio_vs_2']:.2f}** (target >= 0.5) |
| Spark / plain (1 process) | {t['ratio_vs_1']:.2f} |
| one beam's detection stream | {t['stream_mb_s_per_beam'] * 1000:.1f} kB/s |
| beams the Spark stage sustains | {t['beams_sustained']:.0f} |

## Latency ({lat['beams']} beams of the 34 GB/h mode in real time for {lat['seconds']:.0f} s, on the same 2 cores)
| measure | p50 | p95 |
|---|---|---|
| chunk created at the edge -> alert on Kafka | {alert_row} |
| chunk created at the edge -> trigger on Kafka | {trigger_row} |
| micro-batch duration | {lat['micro_batch_p50_s']:.2f} s | {lat['micro_batch_p95_s']:.2f} s |

{lat['alerts']} alerts and {lat['triggers']} triggers in the latency run. Trigger every
{live.spark.trigger_interval_s} s, checkpoint progress tracked asynchronously:
{live.spark.async_progress_tracking}. The first micro-batch with data after the query started
({lat['warm_up_batch_s']:.1f} s: Python workers start, modules load) is a one-off, left out above.

![broker benchmark](broker.png)
""")
    print((RESULTS / "broker.md").read_text())


if __name__ == "__main__":
    main()
