"""Broker benchmark: throughput of Kafka -> Spark -> science modules -> alerts, and latency.

1. Throughput: the same detection chunks (the 34 GB/h mode's stream: 768 channels x 64 samples)
   through (a) the configured science modules in plain pandas, one process and two processes, and
   (b) the Spark detect stage reading them from a real Kafka topic and writing alerts back, in the
   same run, ``--runs`` times in turn. Reported as MB/s of chunks and as the ratio Spark / plain
   (2 processes), medians of the runs.
2. Latency: beams of the 34 GB/h mode simulated in real time at the edge (full resolution ->
   ring buffer -> downsampled chunks -> Kafka), the detect stage running continuously; latency from
   a chunk's creation at the edge to its alerts and triggers on Kafka (Kafka append times), p50/p95.

Run: ``.venv/bin/python bench/bench_broker.py [--quick] [--chunks 400] [--runs 3] [--beams 4] [--latency-s 120]``
(full run ~20 min on 2 cores). Writes bench/results/broker.md, broker.json and broker.png.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
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


def prepare_spark(spark, settings, records) -> None:
    """Warm the detect stage up on a topic of its own (JIT, Python workers, connections), then put
    ``records`` on the chunk topic for the timed runs."""
    from nenubroker.broker.stages import detect
    from nenubroker.kafka import ensure_all_topics

    warm_topics = settings.kafka.topics.model_copy(update={"chunks": settings.kafka.topics.chunks + ".warm"})
    warm_paths = settings.paths.model_copy(update={"checkpoint_dir": settings.paths.checkpoint_dir / "warm"})
    warm = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topics": warm_topics}),
                                       "paths": warm_paths})
    ensure_all_topics(warm)
    produce(warm, records[:32])
    detect.start(spark, warm, available_now=True).awaitTermination()
    produce(settings, records)


def bench_spark(spark, settings, records, run: int) -> float:
    """MB/s of the detect stage over every chunk on the topic: one bounded run from a fresh checkpoint."""
    from nenubroker.broker.stages import detect

    n_bytes = sum(len(r.value) for r in records)
    paths = settings.paths.model_copy(update={"checkpoint_dir": settings.paths.checkpoint_dir / f"run{run}"})
    began = time.perf_counter()
    detect.start(spark, settings.model_copy(update={"paths": paths}), available_now=True).awaitTermination()
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
    runs = t["runs"]
    names = ["plain, 1 process", "plain, 2 processes", "Spark detect stage"]
    for i, key in enumerate(("plain_1_mb_s", "plain_2_mb_s", "spark_mb_s")):
        left.bar(i, t[key], color="tab:orange" if i == 2 else "grey")
        left.plot([i] * len(runs), [r[key] for r in runs], "k.")
    left.set_xticks(range(3), names)
    left.set_ylabel("MB/s of chunks (bar: median, dots: runs)")
    left.set_title(f"Spark / plain(2 proc) = {t['ratio_vs_2']:.2f} (median of {len(runs)} runs)")
    lat = results["latency"]["alert_latencies_s"]
    if lat:
        right.hist(lat, bins=30, color="tab:blue")
    right.set_xlabel("chunk created at the edge -> alert on Kafka (s)")
    right.set_title(f"{results['latency']['beams']} beams: p50 {results['latency']['alert_latency_p50_s']:.2f} s, "
                    f"p95 {results['latency']['alert_latency_p95_s']:.2f} s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def throughput(spark, settings, records, runs: int) -> dict:
    """Plain (1 and 2 processes) and Spark, ``runs`` times in turn; medians, and the median of the ratios."""
    prepare_spark(spark, settings, records)
    rows = []
    for run in range(runs):
        row = {"plain_1_mb_s": bench_plain(settings, records, 1), "plain_2_mb_s": bench_plain(settings, records, 2),
               "spark_mb_s": bench_spark(spark, settings, records, run), "load_avg_1min": os.getloadavg()[0]}
        row["ratio_vs_2"] = row["spark_mb_s"] / row["plain_2_mb_s"]
        print(f"run {run + 1}/{runs}: {row}", file=sys.stderr, flush=True)
        rows.append(row)
    per_beam_mb_s = len(records[0].value) / 1e6 / (48 * 4 * 64 * 64 / 195312.5)  # a chunk every 48 x 4 spectra
    median = {key: float(np.median([r[key] for r in rows])) for key in rows[0]}
    return {"chunks": len(records), "mb": sum(len(r.value) for r in records) / 1e6, "runs": rows, **median,
            "ratio_vs_1": median["spark_mb_s"] / median["plain_1_mb_s"],
            "stream_mb_s_per_beam": per_beam_mb_s, "beams_sustained": median["spark_mb_s"] / per_beam_mb_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3, help="throughput runs; the medians are reported")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--latency-s", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 chunks, 1 run, 20 s of latency")
    parser.add_argument("--modules", help="comma-separated science modules instead of the configured ones")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for broker.md/json/png")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.runs, args.latency_s = 64, 1, 20.0
    from nenubroker.apps.jars import resolve_jars
    from nenubroker.apps.local_kafka import LocalKafka, free_port
    from nenubroker.broker.spark import get_session
    from nenubroker.conf.settings import LocalKafkaSettings
    from nenubroker.kafka import ensure_all_topics

    modules = {}
    if args.modules:
        enabled = args.modules.split(",")
        modules = {"modules": {"enabled": enabled,
                               "alert_classifier": "classifier_forest" if "classifier_forest" in enabled else None}}
    began, load_start = time.monotonic(), os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = LocalKafkaSettings(port=free_port(), controller_port=free_port())
        with LocalKafka(local, work / "kafka", resolve_jars("kafka-broker", REPO / ".cache")) as kafka:
            settings = make_settings(work, kafka.bootstrap_servers, **modules)
            ensure_all_topics(settings)
            records = simulated_records(settings, args.chunks)
            mb = sum(len(r.value) for r in records) / 1e6
            print(f"{args.chunks} chunks, {mb:.0f} MB; modules: {settings.modules.enabled}", file=sys.stderr)
            spark = get_session(settings)
            try:
                t = throughput(spark, settings, records, args.runs)
                live = make_settings(work, kafka.bootstrap_servers, kafka={"topics": {
                    name: f"live.{name}" for name in ("chunks", "alerts", "dead_letter", "triggers", "recordings")}},
                    paths={"checkpoint_dir": str(work / "live-checkpoints")}, **modules)
                ensure_all_topics(live)
                lat = bench_latency(spark, live, args.beams, args.latency_s)
            finally:
                spark.stop()
    load_end, wall_min = os.getloadavg(), (time.monotonic() - began) / 60
    results = {"throughput": t, "latency": lat, "modules": settings.modules.enabled,
               "load_avg_start": load_start, "load_avg_end": load_end, "wall_min": wall_min}
    (args.out / "broker.json").write_text(json.dumps({**results, "latency": {
        k: v for k, v in lat.items() if k != "alert_latencies_s"}}, indent=2))
    plot(results, args.out / "broker.png")
    alert_row = f"{lat['alert_latency_p50_s']:.2f} s | {lat['alert_latency_p95_s']:.2f} s"
    trigger_row = f"{lat['trigger_latency_p50_s']:.2f} s | {lat['trigger_latency_p95_s']:.2f} s"
    runs = " / ".join(f"{r['ratio_vs_2']:.2f}" for r in t["runs"])
    loads = " / ".join(f"{r['load_avg_1min']:.1f}" for r in t["runs"])
    (args.out / "broker.md").write_text(f"""# Broker benchmark

`bench/bench_broker.py {' '.join(sys.argv[1:])}` took {wall_min:.0f} min on this machine (2 cores, shared
with other jobs: load average {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f} (1/5/15 min) at the start,
{load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} at the end; 1-min load after each throughput run:
{loads}). Modules: {', '.join(settings.modules.enabled)}. `--quick` is a smoke run of about 3 min.

## Throughput ({t['chunks']} chunks of the 34 GB/h mode's detection stream, {t['mb']:.0f} MB; median of {args.runs})
| path | MB/s |
|---|---|
| modules in plain pandas, 1 process | {t['plain_1_mb_s']:.1f} |
| modules in plain pandas, 2 processes | {t['plain_2_mb_s']:.1f} |
| Kafka -> Spark detect stage -> Kafka | {t['spark_mb_s']:.1f} |
| **Spark / plain (2 processes)**, median of the ratios | **{t['ratio_vs_2']:.2f}** (target >= 0.6; runs {runs}) |
| Spark / plain (1 process) | {t['ratio_vs_1']:.2f} |
| one beam's detection stream | {t['stream_mb_s_per_beam'] * 1000:.1f} kB/s |
| beams the Spark stage sustains | {t['beams_sustained']:.0f} |

Each run times the three paths in turn on the same chunks; the Spark run is one `availableNow` query of
the detect stage over the whole topic from a fresh checkpoint, after a warm-up query (Python workers,
modules, connections). All the chunks are of one beam, so on one Kafka partition: the stage's
`spark.min_partitions` (default: the session's cores) splits it over both cores.

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
Latency from the burst itself (chunk accumulation included) and the low-latency configuration:
bench/results/latency.md.

![broker benchmark](broker.png)
""")
    print((args.out / "broker.md").read_text())


__all__ = ["bench_latency", "bench_plain", "bench_spark", "main", "make_settings", "prepare_spark", "produce",
           "read_timestamps", "simulated_records", "throughput"]

if __name__ == "__main__":
    main()
