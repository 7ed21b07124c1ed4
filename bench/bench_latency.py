"""Latency benchmark: a burst's onset at the telescope -> its first alert at an independent Kafka consumer.

The real path at the 34 GB/h mode (simulator fftlen 64, nfft2int 64, 192 subbands, paced to the wall
clock): simulated beams -> edge ingester (ring buffer, downsampler, producer) -> Kafka -> Spark detect
stage -> alerts topic -> a consumer of its own in this process. Each injected burst's onset comes from
the simulator's truth catalogue; its first matching alert's arrival at the consumer ends the clock, so
the wait for the chunk to fill is included. Per class (spike, Jupiter S-burst, type III), p50 and p95,
and the breakdown along the way (chunk and alert topics keep Kafka's append time):

- fill: onset -> the chunk holding it leaves the edge (samples still to come, the block they arrive in);
- edge -> Kafka: the chunk's append time on the chunk topic;
- Kafka -> batch: the Python worker starts on it (trigger wait, scheduling, fetch, Arrow transfer);
- processing: the science modules and the Kafka sink, to the alert's append time;
- delivery: alert topic -> the consumer.

Each configuration (``default``: conf/nenubroker.yaml; a profile of conf/profiles/, ``low_latency`` by
default) also gets an offline check of the detection itself (no Spark, no Kafka; faster than real
time): which bursts of each class some alert finds, and alerts on noise (persistent RFI only).
``--real-time-mode`` tries Spark's real-time trigger on the detect stage's query and reports what Spark
says (the stage's mapInArrow, then with Spark's allowlist check off).

Run: ``.venv/bin/python bench/bench_latency.py [--quick] [--seconds 240] [--beams 2] [--real-time-mode]
[--modules a,b,c] [--report-only]`` (full run ~16 min on 2 cores; ``--quick`` ~6 min). Writes
bench/results/latency.md, latency.json and latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CLASSES = ("spike", "jupiter_s", "type_iii")
#: Draws per minute per beam in the live and offline runs: more bursts than the defaults, for percentiles.
EVENT_RATES_PER_MIN = {"type_iii": 4.0, "spike": 4.0, "jupiter_s": 2.0, "type_iiib": 0.5, "rfi_impulse": 0.5}
#: Spikes at S/N 3 per pixel are mostly below the search threshold; brighter ones give the percentiles.
EVENT_SNR = {"spike": 5.0}
#: An alert is a burst's first if it matches it (truth.matches) and its onset is this close to the truth's.
ONSET_TOLERANCE_S = (-0.5, 1.0)
STEPS = ("fill", "edge_to_kafka", "kafka_to_batch", "processing", "delivery")
TARGET_P95_S = 2.0
#: Real-time mode's batch (checkpoint interval) in the live run; outputs do not wait for it.
REAL_TIME_BATCH_S = 5.0
DOCUMENTATION = """## Using the low-latency configuration

`conf/profiles/low_latency.env` holds the few values that change (documented in the file): chunks of
16 detection samples (1.34 s) overlapping by 4 (a chunk every 1.0 s instead of 5.4 s chunks every
4.0 s), 16-spectrum blocks from simulated beams (0.34 s instead of 1.34 s: a chunk leaves the edge
only with the block that completes it; for real `.spectra` files record with nffte = 16), and a
micro-batch every 0.1 s. It is a file of `NENUBROKER_*` variables, so it layers over
`conf/nenubroker.yaml` like the environment, and variables already set win:

    set -a; . conf/profiles/low_latency.env; set +a
    nenubroker demo                      # or: nenubroker edge simulate / nenubroker broker detect

From Python: `nenubroker.conf.profile.load_profile("low_latency")` (same arguments as `load_settings`).
The edge and the broker must both run with it: the chunk length is cut at the edge, the trigger
interval is the broker's. The defaults are unchanged (64-sample chunks), so nothing else moves.

What it costs: four times as many chunks and micro-batches (per-chunk overheads count more: about
80 ms of modules per 16-sample chunk against 200 ms per 64-sample one, so ~1.6x the CPU per hour of
data), and a burst longer than 1.3 s comes as several alerts, one per chunk it starts in (the
events stage joins them into one event). Detection and false alarms: the offline table above.

## Spark real-time mode: what works and what does not (pyspark 4.2.0)

- The detect stage's query (Kafka source -> `mapInArrow` -> Kafka sink, update mode) is refused at
  start: `MapInArrowExec is not in the operator allowlist for Real-Time Mode`. A scalar Arrow UDF
  (`arrow_udf`) or `pandas_udf` is refused the same way (`ArrowEvalPythonExec`). The 4.2.0 allowlist
  holds JVM operators only (project, filter, generate, map partitions, union, broadcast joins; sinks
  Kafka, console, foreach, memory).
- A query without Python (Kafka -> projection -> Kafka) runs.
- With `spark.sql.streaming.realTimeMode.allowlistCheck=false` (Spark: "at your own risk"), Spark
  then refuses the Kafka source options the stage uses: `maxOffsetsPerTrigger is not compatible with
  real time mode`, then `minpartitions is not compatible with real time mode`.
- Without them the query runs and gives alerts, late and unevenly: the first 2.4 s after sending in
  one probe, 18.1 s in another (this run's is above). Trials with other settings: `mapInArrow` gave
  no output in 30 s with `realTime='10 seconds'` and 256 records per Arrow batch, and outputs 10-21 s after sending with
  `realTime='2 seconds'` and one record per Arrow batch; a scalar `arrow_udf` query's outputs came
  only at the end of each 10 s batch.
- So it is an experimental option of the detect stage, off by default: `spark.real_time_batch_s`
  (`NENUBROKER_SPARK__REAL_TIME_BATCH_S=5` over the low-latency profile) runs it in real-time mode
  with 5 s batches, the allowlist check off for the session, and neither `maxOffsetsPerTrigger` nor
  `minPartitions` (the configuration table's maxOffsetsPerTrigger is not applied). Its latency is
  the `low_latency+real_time` rows above: worse than micro-batches, since a chunk waits in the
  Python runner's Arrow batch (kafka_to_batch) for several seconds. The micro-batch profile stays
  the fast path.
"""


def bench_settings(profile: str, work: Path, bootstrap: str, beams: int, tag: str, modules: list[str] | None = None,
                   spark: dict | None = None):
    """Settings of one configuration: its own topics and checkpoint, denser bursts, 2 local cores."""
    from nenubroker.conf.profile import load_profile
    from nenubroker.conf.settings import load_settings

    overrides = {
        "kafka": {"bootstrap_servers": bootstrap, "topics": {
            name: f"{tag}.{name}" for name in ("chunks", "alerts", "dead_letter", "triggers", "recordings",
                                               "chunk_features", "voevents", "events", "batch_requests")}},
        "simulator": {"realtime": True, "seed": 5, "beams": [f"beam{i}" for i in range(beams)],
                      "event_rates_per_min": EVENT_RATES_PER_MIN, "event_snr": EVENT_SNR},
        "spark": {"master": "local[2]", **(spark or {})},
        "paths": {"cache_dir": str(REPO / ".cache"), "checkpoint_dir": str(work / tag / "checkpoints")},
        "recording": {"output_dir": str(work / tag / "recordings")},
    }
    if modules:
        overrides["modules"] = {"enabled": modules,
                                "alert_classifier": "classifier_forest" if "classifier_forest" in modules else None}
    if profile == "default":
        return load_settings(env={}, overrides=overrides)
    return load_profile(profile, env={}, overrides=overrides)


def config_summary(settings) -> dict:
    ingest, spark = settings.ingest, settings.spark
    step_s = settings.simulator.fftlen * settings.simulator.nfft2int / 195312.5 * ingest.downsample_time
    return {"chunk_samples": ingest.chunk_time_samples, "overlap_samples": ingest.overlap_time_samples,
            "chunk_s": ingest.chunk_time_samples * step_s,
            "hop_s": (ingest.chunk_time_samples - ingest.overlap_time_samples) * step_s,
            "block_s": settings.simulator.block_spectra * step_s / ingest.downsample_time,
            "trigger_interval_s": spark.trigger_interval_s, "real_time_batch_s": spark.real_time_batch_s,
            "max_offsets_per_trigger": spark.max_offsets_per_trigger,
            "partitions": settings.kafka.partitions}


# --- offline detection check ------------------------------------------------------------------------

def offline_check(settings, minutes: float, block_spectra: int = 64) -> dict:
    """Bursts of each class found by some alert, and alerts on noise, for this chunking (no Spark).

    Every configuration gets the same blocks (``block_spectra``), hence the same data and bursts.
    """
    from nenubroker.broker.messages import SourceRecord
    from nenubroker.broker.processing import ChunkProcessor
    from nenubroker.edge.sim.simulator import BeamSimulator
    from nenubroker.edge.sim.stream import detection_chunks
    from nenubroker.edge.sim.truth import matches
    from nenubroker.records.alert import Alert

    def alerts_and_events(rates: dict, seed: int) -> tuple[list[dict], list]:
        sim = settings.simulator.model_copy(update={"realtime": False, "seed": seed, "event_rates_per_min": rates,
                                                    "block_spectra": block_spectra})
        local = settings.model_copy(update={"simulator": sim})
        processor = ChunkProcessor(local)
        t0 = 1.7e9
        stream = detection_chunks(BeamSimulator("beam0", sim, start_unix_s=t0), local)
        alerts, events, offset = [], [], 0
        while True:
            chunk, started = next(stream)
            if chunk.time_start_unix_s > t0 + minutes * 60:
                return alerts, [e for e in events if e.time_start_unix_s < t0 + minutes * 60 - 10]
            events += started
            value, headers = chunk.encode()
            for message in processor.process([SourceRecord("chunks", 0, offset, b"beam0", value, headers, t0)]):
                if message.topic == local.kafka.topics.alerts:
                    alerts.append(vars(Alert.decode(message.value, message.headers)))
            offset += 1

    rates = {**{kind: 0.0 for kind in settings.simulator.event_rates_per_min}, **EVENT_RATES_PER_MIN}
    alerts, events = alerts_and_events(rates, seed=3)
    found = {}
    for kind in CLASSES:
        of_kind = [e for e in events if e.kind == kind]
        found[kind] = {"found": sum(any(matches(e, a) for a in alerts) for e in of_kind), "events": len(of_kind)}
    noise_alerts, _ = alerts_and_events({}, seed=11)
    return {"minutes": minutes, "found": found, "noise_alerts": len(noise_alerts), "noise_minutes": minutes}


# --- live run -----------------------------------------------------------------------------------------

def create_timed_topics(settings) -> None:
    """Chunk and alert topics stamped by the broker (LogAppendTime), then the rest as usual."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from nenubroker.kafka import client_config, ensure_all_topics, topic_max_bytes

    kafka = settings.kafka
    admin = AdminClient(client_config(kafka, "admin"))
    futures = admin.create_topics([
        NewTopic(topic, kafka.partitions, kafka.replication_factor,
                 config={"max.message.bytes": str(topic_max_bytes(kafka, topic)),
                         "message.timestamp.type": "LogAppendTime"})
        for topic in (kafka.topics.chunks, kafka.topics.alerts)])
    for future in futures.values():
        future.result(30)
    ensure_all_topics(settings)


class AlertListener(threading.Thread):
    """An independent consumer of the alerts topic: each alert with its arrival (wall clock) and append time."""

    def __init__(self, settings):
        super().__init__(daemon=True)
        self.settings = settings
        self.received: list[tuple[dict, float, float]] = []
        self.stopping = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        from confluent_kafka import Consumer

        from nenubroker.kafka import client_config
        from nenubroker.records.alert import Alert

        consumer = Consumer(client_config(self.settings.kafka, "consumer", {
            "group.id": f"latency-{time.time()}", "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10}))
        consumer.subscribe([self.settings.kafka.topics.alerts], on_assign=lambda *_: self.ready.set())
        while not self.stopping.is_set():
            message = consumer.poll(0.05)
            if message is None or message.error():
                continue
            arrived = time.time()
            alert = vars(Alert.decode(message.value(), message.headers()))
            self.received.append((alert, arrived, message.timestamp()[1] / 1000))
        consumer.close()


def warm_up(spark_query, settings) -> float:
    """Two chunks through the query first: the Python workers start and the modules load (a one-off)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_broker import produce, simulated_records

    produce(settings, simulated_records(settings.model_copy(update={"simulator": settings.simulator.model_copy(
        update={"realtime": False})}), 2))
    began = time.monotonic()
    while not any(p.get("numInputRows") for p in spark_query.recentProgress):
        if spark_query.exception():
            raise RuntimeError(spark_query.exception())
        time.sleep(0.2)
    return time.monotonic() - began


def live_run(spark, settings, seconds: float, work: Path) -> dict:
    """Real-time beams through the edge, the detect stage and Kafka; the first alert of every burst."""
    from nenubroker.broker.stages import detect
    from nenubroker.edge.sim.stream import stream_simulated_beams
    from nenubroker.edge.sim.truth import load_truth

    create_timed_topics(settings)
    query = detect.start(spark, settings)
    warm_up_s = warm_up(query, settings)
    listener = AlertListener(settings)
    listener.start()
    listener.ready.wait(30)
    truth_path = work / f"truth-{settings.kafka.topics.chunks}.jsonl"
    load_1min = os.getloadavg()[0]
    began = time.time()
    stream_simulated_beams(settings, duration_s=seconds, truth_path=truth_path)
    ended = time.time()
    time.sleep(8)  # the last chunks through the stage
    listener.stopping.set()
    listener.join()
    batches_s = [p["durationMs"].get("triggerExecution", 0) / 1000 for p in query.recentProgress
                 if p.get("numInputRows")]
    query.stop()
    events = [e for e in load_truth(truth_path) if e.kind in CLASSES and e.time_start_unix_s < ended - 1]
    result = first_alerts(events, [r for r in listener.received if r[0]["chunk_created_unix_s"] >= began])
    result.update({"seconds": seconds, "beams": len(settings.simulator.beams), "warm_up_s": warm_up_s,
                   "alerts": len(listener.received), "load_avg_1min_start": load_1min,
                   "load_avg_1min_end": os.getloadavg()[0], "micro_batch_p50_s": _pct(batches_s[1:], 50),
                   "micro_batch_p95_s": _pct(batches_s[1:], 95)})
    return result


def first_alerts(events: list, received: list[tuple[dict, float, float]]) -> dict:
    """Per class: each burst's first matching alert (by arrival), its latency and the steps of it."""
    from nenubroker.edge.sim.truth import matches

    per_class: dict[str, dict] = {}
    for kind in CLASSES:
        rows = []
        of_kind = [e for e in events if e.kind == kind]
        for event in of_kind:
            onset = event.time_start_unix_s
            candidates = [(arrived, alert, appended) for alert, arrived, appended in received
                          if matches(event, alert) and arrived >= onset
                          and ONSET_TOLERANCE_S[0] <= alert["time_start_unix_s"] - onset <= ONSET_TOLERANCE_S[1]]
            if not candidates:
                continue
            arrived, alert, appended = min(candidates, key=lambda c: c[0])
            rows.append({"latency_s": arrived - onset,
                         "fill": alert["chunk_created_unix_s"] - onset,
                         "edge_to_kafka": alert["kafka_ingest_unix_s"] - alert["chunk_created_unix_s"],
                         "kafka_to_batch": alert["processed_unix_s"] - alert["kafka_ingest_unix_s"],
                         "processing": appended - alert["processed_unix_s"],
                         "delivery": arrived - appended})
        latencies = [r["latency_s"] for r in rows]
        per_class[kind] = {"events": len(of_kind), "alerted": len(rows),
                           "p50_s": _pct(latencies, 50), "p95_s": _pct(latencies, 95),
                           "steps_p50_s": {s: _pct([r[s] for r in rows], 50) for s in STEPS},
                           "steps_p95_s": {s: _pct([r[s] for r in rows], 95) for s in STEPS},
                           "latencies_s": latencies, "steps_s": {s: [r[s] for r in rows] for s in STEPS}}
    return {"classes": per_class}


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


# --- Spark real-time mode ------------------------------------------------------------------------------

def real_time_probe(spark, settings, work: Path, wait_s: float = 45.0) -> list[dict]:
    """The detect stage's query under ``trigger(realTime=...)``: as the stage builds it, then with
    Spark's allowlist check off, then also without ``maxOffsetsPerTrigger``, then also without
    ``minPartitions``: each time without what Spark refused the time before.

    Each attempt reports Spark's error verbatim, or what came out for chunks sent while it ran.
    """
    from nenubroker.broker.stages import detect
    from nenubroker.kafka import spark_options

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_broker import produce, simulated_records

    records = simulated_records(settings.model_copy(update={"simulator": settings.simulator.model_copy(
        update={"realtime": False})}), 4)
    create_timed_topics(settings)
    attempts = []
    unlimited = settings.model_copy(update={"spark": settings.spark.model_copy(
        update={"max_offsets_per_trigger": None})})
    one_task = unlimited.model_copy(update={"spark": unlimited.spark.model_copy(update={"min_partitions": 1})})
    tries = (("true", settings), ("false", settings), ("false", unlimited), ("false", one_task))
    for i, (check, stage_settings) in enumerate(tries):
        spark.conf.set("spark.sql.streaming.realTimeMode.allowlistCheck", check)
        attempt = {"allowlist_check": check == "true", "trigger": "realTime='5 seconds'",
                   "max_offsets_per_trigger": stage_settings.spark.max_offsets_per_trigger,
                   "min_partitions": stage_settings.spark.min_partitions}
        query = (detect.build_query_input(spark, stage_settings).writeStream.format("kafka")
                 .options(**spark_options(settings.kafka)).outputMode("update")
                 .option("checkpointLocation", str(work / f"rtm-{i}"))
                 .trigger(realTime="5 seconds").start())
        listener = AlertListener(settings)
        listener.start()
        listener.ready.wait(30)
        time.sleep(5)
        sent = time.time()
        produce(settings, records)
        while time.time() - sent < wait_s and query.isActive and not listener.received:
            time.sleep(0.5)
        time.sleep(2)
        error = query.exception()
        attempt.update({"error": str(error).split("\n=== Streaming Query")[0].strip() if error else None,
                        "active": query.isActive, "chunks_sent": len(records),
                        "alerts_received": len(listener.received),
                        "first_alert_after_s": min((r[1] - sent for r in listener.received), default=None),
                        "batches": [(p.get("batchId"), p.get("numInputRows")) for p in query.recentProgress]})
        listener.stopping.set()
        listener.join()
        if query.isActive:
            query.stop()
        attempts.append(attempt)
    spark.conf.set("spark.sql.streaming.realTimeMode.allowlistCheck", "true")
    return attempts


# --- report -------------------------------------------------------------------------------------------

def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = [c for c in results["configs"] if "live" in c]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    left, right = axes
    data, labels = [], []
    for config in configs:
        for kind in CLASSES:
            data.append(config["live"]["classes"][kind]["latencies_s"] or [np.nan])
            labels.append(f"{config['name']}\n{kind}")
    left.boxplot(data, whis=(5, 95), showfliers=True)
    left.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
    left.axhline(TARGET_P95_S, color="red", linestyle="--", label=f"target p95 {TARGET_P95_S:.0f} s")
    left.set_yscale("log")
    left.set_ylabel("burst onset -> first alert at a consumer (s)")
    left.set_title("latency per class (box: quartiles, whiskers: 5-95 %)")
    left.legend(fontsize=8)
    bottom = np.zeros(len(configs) * len(CLASSES))
    for step in STEPS:
        values = np.array([c["live"]["classes"][k]["steps_p50_s"][step] for c in configs for k in CLASSES])
        values = np.nan_to_num(values)
        right.bar(range(len(values)), values, bottom=bottom, label=step)
        bottom += values
    right.set_xticks(range(len(labels)), labels, fontsize=7)
    right.set_ylabel("median of each step (s)")
    right.set_title("where the time goes")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def markdown(results: dict) -> str:
    lines = [f"# Latency benchmark: burst onset -> first alert\n\n`{results['command']}` took "
             f"{results['wall_s'] / 60:.0f} min on this machine (2 cores, shared with other jobs: load average "
             f"{results['load_avg_start'][0]:.2f} / {results['load_avg_start'][1]:.2f} / "
             f"{results['load_avg_start'][2]:.2f} (1/5/15 min) at the start, "
             f"{results['load_avg_end'][0]:.2f} / {results['load_avg_end'][1]:.2f} / "
             f"{results['load_avg_end'][2]:.2f} at the end).\n",
             "The real path at the 34 GB/h mode (simulator fftlen 64, nfft2int 64, 192 subbands, real time; "
             f"{results['beams']} beams): simulated beams -> edge -> Kafka -> Spark detect stage (`local[2]`) -> "
             "alerts topic -> an independent consumer. The clock starts at each burst's onset in the "
             "simulator's truth catalogue and stops when its first alert reaches the consumer. Modules: "
             f"{', '.join(results['modules'])}.\n",
             "## Configurations\n",
             "| configuration | chunk | hop | block | trigger | maxOffsetsPerTrigger | partitions |",
             "|---|---|---|---|---|---|---|"]
    for c in results["configs"]:
        s = c["config"]
        trigger = (f"realTime {s['real_time_batch_s']} s" if s.get("real_time_batch_s")
                   else f"{s['trigger_interval_s']} s")
        lines.append(f"| {c['name']} | {s['chunk_samples']} samples ({s['chunk_s']:.2f} s), overlap "
                     f"{s['overlap_samples']} | {s['hop_s']:.2f} s | {s['block_s']:.2f} s | "
                     f"{trigger} | {s['max_offsets_per_trigger']} | {s['partitions']} |")
    lines += ["", "## Latency per class (live run)\n",
              "| configuration | class | bursts | first alert within tolerance | p50 | p95 (target <= 2 s) |",
              "|---|---|---|---|---|---|"]
    for c in results["configs"]:
        if "live" not in c:
            continue
        for kind in CLASSES:
            k = c["live"]["classes"][kind]
            lines.append(f"| {c['name']} | {kind} | {k['events']} | {k['alerted']} | {k['p50_s']:.2f} s | "
                         f"**{k['p95_s']:.2f} s** |")
    lines += ["", "## Breakdown (median / p95 of each step, s)\n",
              "| configuration | class | " + " | ".join(STEPS) + " |", "|---|---|" + "---|" * len(STEPS)]
    for c in results["configs"]:
        if "live" not in c:
            continue
        for kind in CLASSES:
            k = c["live"]["classes"][kind]
            lines.append(f"| {c['name']} | {kind} | " + " | ".join(
                f"{k['steps_p50_s'][s]:.2f} / {k['steps_p95_s'][s]:.2f}" for s in STEPS) + " |")
    lines += ["", "fill: onset -> the chunk leaves the edge; edge_to_kafka: -> its append time on the chunk topic; "
              "kafka_to_batch: -> the Python worker starts on it; processing: modules + Kafka sink -> the alert's "
              "append time; delivery: -> the consumer.\n"]
    for c in results["configs"]:
        if "live" in c:
            live = c["live"]
            lines.append(f"- {c['name']}: {live['alerts']} alerts in {live['seconds']:.0f} s; micro-batch "
                         f"{live['micro_batch_p50_s']:.2f} s (p50) / {live['micro_batch_p95_s']:.2f} s (p95); "
                         f"first batch after start {live['warm_up_s']:.1f} s (left out); load average "
                         f"{live['load_avg_1min_start']:.2f} -> {live['load_avg_1min_end']:.2f} (1 min) during it.")
    lines += ["", "## Detection at each chunking (offline, no Spark)\n",
              "| configuration | " + " | ".join(f"{k} found" for k in CLASSES) + " | alerts on noise |",
              "|---|" + "---|" * (len(CLASSES) + 1)]
    for c in results["configs"]:
        o = c["offline"]
        lines.append(f"| {c['name']} | " + " | ".join(
            f"{o['found'][k]['found']}/{o['found'][k]['events']}" for k in CLASSES)
            + f" | {o['noise_alerts']} in {o['noise_minutes']:.0f} min |")
    lines.append(f"\n{results['configs'][0]['offline']['minutes']:.0f} simulated minutes of one beam per "
                 "configuration (same seed), a burst found if any alert matches it (`edge/sim/truth.py` "
                 "`matches`); then the same length of noise with persistent RFI only.\n")
    if results.get("real_time_mode"):
        lines += ["## Spark real-time mode (`trigger(realTime=...)`, pyspark "
                  f"{results['pyspark']}) on the detect stage's query\n"]
        for a in results["real_time_mode"]:
            first = "none" if a["first_alert_after_s"] is None else f"{a['first_alert_after_s']:.1f} s"
            state = (f"error: `{a['error']}`" if a["error"] else
                     f"ran (active {a['active']}); {a['alerts_received']} alerts for {a['chunks_sent']} chunks "
                     f"sent, the first {first} after sending; (batch, rows) {a['batches'][-6:]}")
            lines.append(f"- allowlist check {'on' if a['allowlist_check'] else 'off'}, maxOffsetsPerTrigger "
                         f"{a['max_offsets_per_trigger']}, spark.min_partitions {a['min_partitions']}: {state}")
        lines.append("")
    lines.append(DOCUMENTATION)
    lines.append("\n![latency](latency.png)\n")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run: 60 s live, 1 min offline")
    parser.add_argument("--seconds", type=float, default=240.0, help="live run per configuration")
    parser.add_argument("--offline-minutes", type=float, default=4.0)
    parser.add_argument("--beams", type=int, default=2)
    parser.add_argument("--profiles", default="default,low_latency",
                        help="comma-separated: default and/or profiles of conf/profiles/")
    parser.add_argument("--modules", help="comma-separated science modules instead of the configured ones")
    parser.add_argument("--real-time-mode", action="store_true",
                        help="also try trigger(realTime=...), then run low_latency in real-time mode")
    parser.add_argument("--merge", action="store_true",
                        help="keep the configurations of the existing latency.json that this run does not redo")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for latency.md/json/png")
    parser.add_argument("--report-only", action="store_true", help="redraw latency.md and .png from latency.json")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads((args.out / "latency.json").read_text())
        plot(results, args.out / "latency.png")
        (args.out / "latency.md").write_text(markdown(results))
        return
    if args.quick:
        args.seconds, args.offline_minutes = 60.0, 1.0
    import pyspark

    from nenubroker.apps.jars import resolve_jars
    from nenubroker.apps.local_kafka import LocalKafka, free_port
    from nenubroker.broker.spark import get_session
    from nenubroker.conf.settings import LocalKafkaSettings

    began, load_start = time.monotonic(), os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    configs = []
    modules = args.modules.split(",") if args.modules else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = LocalKafkaSettings(port=free_port(), controller_port=free_port())
        with LocalKafka(local, work / "kafka", resolve_jars("kafka-broker", REPO / ".cache")) as kafka:
            spark = None
            try:
                for i, name in enumerate(filter(None, args.profiles.split(","))):
                    settings = bench_settings(name, work, kafka.bootstrap_servers, args.beams, f"c{i}", modules)
                    print(f"{name}: offline detection check", file=sys.stderr, flush=True)
                    config = {"name": name, "config": config_summary(settings),
                              "offline": offline_check(settings, args.offline_minutes)}
                    spark = spark or get_session(settings)
                    print(f"{name}: live run, {args.seconds:.0f} s", file=sys.stderr, flush=True)
                    config["live"] = live_run(spark, settings, args.seconds, work)
                    configs.append(config)
                rtm = None
                if args.real_time_mode:
                    print("real-time mode probe", file=sys.stderr, flush=True)
                    probe = bench_settings("low_latency", work, kafka.bootstrap_servers, args.beams, "rtm", modules)
                    spark = spark or get_session(probe)
                    rtm = real_time_probe(spark, probe, work)
                    settings = bench_settings("low_latency", work, kafka.bootstrap_servers, args.beams, "rt", modules,
                                              {"real_time_batch_s": REAL_TIME_BATCH_S})
                    print("low_latency in real-time mode: live run", file=sys.stderr, flush=True)
                    configs.append({"name": "low_latency+real_time", "config": config_summary(settings),
                                    "offline": offline_check(settings, args.offline_minutes),
                                    "live": live_run(spark, settings, args.seconds, work)})
            finally:
                if spark is not None:
                    spark.stop()
    command = "bench/bench_latency.py " + " ".join(sys.argv[1:])
    if args.merge and (args.out / "latency.json").is_file():
        previous = json.loads((args.out / "latency.json").read_text())
        redone = {c["name"] for c in configs}
        configs = [c for c in previous["configs"] if c["name"] not in redone] + configs
        rtm = rtm or previous.get("real_time_mode")
        command = f"{previous['command']}; then {command}"
    results = {"command": command.strip(), "wall_s": time.monotonic() - began, "load_avg_start": load_start,
               "load_avg_end": os.getloadavg(), "beams": args.beams, "modules": settings.modules.enabled,
               "pyspark": pyspark.__version__, "configs": configs, "real_time_mode": rtm}
    stripped = json.loads(json.dumps(results, default=float))
    for config in stripped["configs"]:
        for k in config["live"]["classes"].values():
            k.pop("steps_s", None)
    (args.out / "latency.json").write_text(json.dumps(stripped, indent=2))
    plot(results, args.out / "latency.png")
    (args.out / "latency.md").write_text(markdown(results))
    print((args.out / "latency.md").read_text())


__all__ = ["bench_settings", "first_alerts", "live_run", "main", "offline_check", "real_time_probe"]

if __name__ == "__main__":
    main()
