"""Client benchmark: alerts per second a subscriber reads and decodes, alone and ten at once.

On a real single-node Kafka started here, N valid alerts (newest alert schema, 32 x 32 float32
cutouts, about 4.5 kB each) are written to one topic of 2 partitions. Then, from the oldest record:

1. one ``nenubroker.client.subscribe`` (decode, de-duplicate, offsets bookkeeping), and the baseline
   in the same run: a bare confluent-kafka consumer that reads the same records without decoding;
2. ten subscribers at once, each a process reading all N alerts (each has its own anonymous group),
   and ten bare consumers: aggregate and per-subscriber rates.

Rates are counted from each reader's first record to its last, so group joining is left out (it is
reported separately). The broker, the producer and the readers share this machine's cores: compare
the ratios, not the absolute rates, across machines.

Run: ``.venv/bin/python bench/bench_client.py [--alerts 40000]``. Writes bench/results/client.md
and client.png.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TOPIC = "bench.alerts"
SUBSCRIBERS = 10


def make_alerts(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """N distinct, valid alerts with random cutouts (so nothing compresses away)."""
    rng = np.random.default_rng(seed)
    t0 = 1.75e9
    alerts = []
    for i in range(n):
        peak = t0 + i * 0.5
        alerts.append({
            "alert_id": f"bench-{i:08d}", "beam": f"beam{i % 2}", "chunk_index": i, "time_peak_unix_s": peak,
            "time_start_unix_s": peak - 0.5, "duration_s": 1.5, "freq_peak_hz": 40e6, "freq_min_hz": 30e6,
            "freq_max_hz": 55e6, "drift_hz_per_s": -4e6, "snr": float(rng.uniform(6, 40)), "peak_power": 0.6,
            "class_label": "type_iii", "class_probabilities": {"type_iii": 0.8, "rfi": 0.2},
            "classifier": "classifier_forest 1.0.0", "rfi_flagged_fraction": 0.01,
            "cutout": rng.standard_normal((32, 32)).astype("<f4").tobytes(), "detector": "burst_search",
            "module_versions": {"burst_search": "1.1.0"}, "nenubroker_version": "0.1.0",
            "chunk_created_unix_s": peak + 2, "kafka_ingest_unix_s": peak + 2.1, "processed_unix_s": peak + 3,
        })
    return alerts


def decode_only(alerts: list[dict[str, Any]]) -> float:
    """Alerts/s of ``avro.decode`` alone on the same records, no Kafka: the floor decoding sets."""
    from nenubroker.records import avro

    encoded = [avro.encode("alert", alert) for alert in alerts]
    began = time.perf_counter()
    for value, headers in encoded:
        avro.decode("alert", value, headers)
    return len(encoded) / (time.perf_counter() - began)


def produce(bootstrap: str, alerts: list[dict[str, Any]]) -> tuple[int, float]:
    """Write the alerts; returns (bytes written, seconds)."""
    from confluent_kafka import Producer

    from nenubroker.conf.settings import KafkaSettings
    from nenubroker.kafka import client_config
    from nenubroker.records import avro

    # A bare producer (no role defaults: the cutouts are random, zstd would only cost CPU).
    producer = Producer(client_config(KafkaSettings(bootstrap_servers=bootstrap), config={
        "linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.kbytes": 512 * 1024}))
    began, n_bytes = time.perf_counter(), 0
    for alert in alerts:
        value, headers = avro.encode("alert", alert)
        n_bytes += len(value)
        while True:
            try:
                producer.produce(TOPIC, value, key=alert["beam"].encode(), headers=cast(Any, headers))
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0, "alerts not delivered"
    return n_bytes, time.perf_counter() - began


def read_decoded(bootstrap: str, n: int) -> dict[str, float]:
    """One nenubroker subscriber from the oldest record to the N-th alert: first/last record times."""
    from nenubroker.client import subscribe
    from nenubroker.conf.settings import load_settings

    settings = load_settings(env={}, overrides={"kafka": {"bootstrap_servers": bootstrap}})
    began = time.time()
    first = last = 0.0
    count = 0
    for _ in subscribe([TOPIC], settings, start="earliest", max_messages=n, idle_timeout_s=30):
        count += 1
        last = time.time()
        first = first or last
    return {"began": began, "first": first, "last": last, "count": count}


def read_raw(bootstrap: str, n: int) -> dict[str, float]:
    """The baseline: a bare confluent-kafka consumer, same settings, records fetched but not decoded."""
    from confluent_kafka import Consumer

    from nenubroker.client.subscribe import LIBRDKAFKA_LOGGER
    from nenubroker.conf.settings import KafkaSettings
    from nenubroker.kafka import client_config

    # An anonymous group of its own, never committing, as a subscriber without group_id.
    consumer = Consumer(client_config(KafkaSettings(bootstrap_servers=bootstrap), "consumer",
                                      {"auto.offset.reset": "earliest"}, logger=LIBRDKAFKA_LOGGER))
    consumer.subscribe([TOPIC])
    began = time.time()
    first = last = 0.0
    count = n_bytes = 0
    while count < n and time.time() - (last or began) < 30:
        for message in consumer.consume(500, 0.5):
            if message.error():
                continue
            n_bytes += len(message.value() or b"")
            count += 1
        if count:
            last = time.time()
            first = first or last
    consumer.close()
    return {"began": began, "first": first, "last": last, "count": count}


def _rate(run: dict[str, float]) -> float:
    return run["count"] / max(run["last"] - run["first"], 1e-9)


def concurrent(reader: Any, bootstrap: str, n: int) -> dict[str, Any]:
    """Ten readers in ten processes, each reading all N alerts."""
    with ProcessPoolExecutor(SUBSCRIBERS, mp_context=get_context("spawn")) as pool:
        list(pool.map(_warm, range(SUBSCRIBERS)))  # imports done before the clock starts
        runs = list(pool.map(reader, [bootstrap] * SUBSCRIBERS, [n] * SUBSCRIBERS))
    window = max(r["last"] for r in runs) - min(r["first"] for r in runs)
    return {"aggregate": sum(r["count"] for r in runs) / window, "per": [_rate(r) for r in runs],
            "complete": all(r["count"] == n for r in runs)}


def _warm(_: int) -> int:
    import nenubroker.client  # noqa: F401

    return os.getpid()


def plot(results: dict[str, Any], path: Path) -> None:
    from figures import two_panels, versus

    one, ten = results["one"], results["ten"]
    with two_panels(path) as (left, right):
        versus(left, ("bare consumer\n(no decoding)", one["raw"]), ("nenubroker\nsubscribe", one["decoded"]),
               "tab:blue", "alerts/s", f"one reader: subscribe = {one['decoded'] / one['raw']:.2f} x bare")
        versus(right, ("bare, aggregate", ten["raw"]["aggregate"]),
               ("subscribe, aggregate", ten["decoded"]["aggregate"]), "tab:blue", "alerts/s",
               f"{SUBSCRIBERS} readers at once, each reading all alerts", alpha=0.6)
        for x, per in ((0, ten["raw"]["per"]), (1, ten["decoded"]["per"])):
            right.scatter([x] * len(per), per, color="black", s=12, zorder=3,
                          label="per reader" if x == 0 else None)
        right.legend()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=40_000)
    args = parser.parse_args()
    from nenubroker.apps.jars import resolve_jars
    from nenubroker.apps.local_kafka import LocalKafka, free_port
    from nenubroker.conf.settings import load_settings
    from nenubroker.kafka import ensure_topics

    settings = load_settings(env={}, overrides={
        "local_kafka": {"port": free_port(), "controller_port": free_port(), "heap": "1g"}})
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jars = resolve_jars("kafka-broker", REPO / ".cache")
    with tempfile.TemporaryDirectory() as tmp, LocalKafka(settings.local_kafka, Path(tmp), jars) as kafka:
        bootstrap = kafka.bootstrap_servers
        ensure_topics(settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}), [TOPIC])
        alerts = make_alerts(args.alerts)
        n_bytes, produce_s = produce(bootstrap, alerts)
        print(f"{args.alerts} alerts, {n_bytes / 1e6:.0f} MB written in {produce_s:.1f} s", file=sys.stderr)
        read_raw(bootstrap, args.alerts)  # page cache and broker warm for both
        raw_runs = [read_raw(bootstrap, args.alerts) for _ in range(3)]
        decoded_runs = [read_decoded(bootstrap, args.alerts) for _ in range(3)]
        assert all(r["count"] == args.alerts for r in raw_runs + decoded_runs), "a reader missed alerts"
        one = {"raw": statistics.median(map(_rate, raw_runs)),
               "decoded": statistics.median(map(_rate, decoded_runs)),
               "join_s": statistics.median(r["first"] - r["began"] for r in decoded_runs),
               "decode_only": decode_only(alerts[:10_000])}
        print(f"one reader: bare {one['raw']:.0f}/s, subscribe {one['decoded']:.0f}/s", file=sys.stderr)
        ten = {"raw": concurrent(read_raw, bootstrap, args.alerts),
               "decoded": concurrent(read_decoded, bootstrap, args.alerts)}
        assert ten["raw"]["complete"] and ten["decoded"]["complete"], "a concurrent reader missed alerts"
    results = {"alerts": args.alerts, "mb": n_bytes / 1e6, "produce_s": produce_s, "one": one, "ten": ten,
               "runtime_s": time.perf_counter() - started, "cores": os.cpu_count()}
    plot(results, RESULTS / "client.png")
    write_report(results, RESULTS / "client.md")
    print((RESULTS / "client.md").read_text())


def _spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})"


def write_report(r: dict[str, Any], path: Path) -> None:
    one, ten = r["one"], r["ten"]
    dec, raw = ten["decoded"], ten["raw"]
    path.write_text(f"""# Client benchmark

`bench/bench_client.py --alerts {r['alerts']}`: {r['alerts']} alerts ({r['mb']:.0f} MB of Avro, 32 x 32
float32 cutouts) on one topic of 2 partitions of a local single-node Kafka; every reader starts at
the oldest record and reads them all. Broker, readers and producer share {r['cores']} cores. Rates
run from a reader's first record to its last; one-reader figures are medians of 3 runs.
Whole run: {r['runtime_s']:.0f} s.

| measure | alerts/s |
|---|---|
| one bare confluent-kafka consumer, no decoding (baseline) | {one['raw']:.0f} |
| one `nenubroker.client.subscribe` (decode, de-duplicate, offsets) | {one['decoded']:.0f} |
| **subscribe / bare, one reader** | **{one['decoded'] / one['raw']:.2f}** |
| `avro.decode` alone on the same records, no Kafka (10 000 of them) | {one['decode_only']:.0f} |
| {SUBSCRIBERS} bare consumers at once, aggregate | {raw['aggregate']:.0f} |
| {SUBSCRIBERS} subscribers at once, aggregate | {dec['aggregate']:.0f} |
| **subscribe / bare, {SUBSCRIBERS} readers** | **{dec['aggregate'] / raw['aggregate']:.2f}** |
| {SUBSCRIBERS} subscribers: per subscriber, median (min-max) | {_spread(dec['per'])} |
| {SUBSCRIBERS} bare consumers: per consumer, median (min-max) | {_spread(raw['per'])} |

Decoding is most of a subscriber's cost: `avro.decode` alone runs at
{one['decode_only']:.0f} alerts/s here, and one subscriber spends the rest of its time fetching (in
librdkafka's threads, competing with the broker for the same cores) and on its own bookkeeping.
Joining the consumer group before the first record took {one['join_s']:.1f} s (median). Writing the
alerts took {r['produce_s']:.1f} s from one Python producer. Each reader is its own process, so
decoding is not serialised by one interpreter's lock; with {SUBSCRIBERS} readers on {r['cores']} cores the
aggregate is bounded by the cores, and per-reader rates fall accordingly.

![client benchmark](client.png)
""")


if __name__ == "__main__":
    main()
