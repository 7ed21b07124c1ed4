"""``nenubroker demo``: the whole pipeline on this machine, as separate processes.

1. a single-node Kafka (KRaft) on loopback, 2. the edge streaming simulated beams, 3. the Spark
broker (``spark-submit broker/stages/all.py``: the detect and events stages), and in the foreground
4. a subscriber printing each alert and dead letter as it arrives, and each event that spanned
several alerts once it has ended. Ctrl-C or ``--duration`` stops everything, children
first, and prints a summary. Logs and the truth catalogue are in ``paths.run_dir``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml
from rich.console import Console

from nenubroker.apps.jars import resolve_jars
from nenubroker.apps.local_kafka import LocalKafka
from nenubroker.broker.spark import spark_submit_command
from nenubroker.broker.stages import all as broker_stages
from nenubroker.client import format_alert, subscribe
from nenubroker.conf.settings import Settings
from nenubroker.edge.sim.truth import found_events, load_truth, to_find
from nenubroker.kafka import ensure_all_topics, topic_max_bytes

console = Console(highlight=False, soft_wrap=True)


def local_kafka(settings: Settings) -> LocalKafka:
    """The demo's Kafka node; ``settings.kafka.bootstrap_servers`` should point at it."""
    return LocalKafka(
        settings.local_kafka,
        Path(settings.paths.run_dir) / "kafka",
        resolve_jars("kafka-broker", settings.paths.cache_dir),
        max_message_bytes=topic_max_bytes(settings.kafka, settings.kafka.topics.dead_letter),
        log_level="WARN",
    )


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Stop a child and everything it started (its process group)."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _effective_config(settings: Settings, run_dir: Path) -> Path:
    """The settings the children must share, written where NENUBROKER_CONFIG can name them."""
    path = run_dir / "effective-config.yaml"
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False))
    return path


def run_demo(settings: Settings, duration_s: float | None = None, fresh: bool = False) -> int:
    run_dir = Path(settings.paths.run_dir).resolve()
    kafka_dir = run_dir / "kafka"
    checkpoints = Path(settings.paths.checkpoint_dir).resolve()
    if fresh or not (kafka_dir / "data" / "meta.properties").is_file():
        # Checkpoints hold offsets of the old topics: they must go with the Kafka data.
        shutil.rmtree(kafka_dir, ignore_errors=True)
        shutil.rmtree(checkpoints, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    console.print("[bold]nenubroker demo[/] - resolving Java dependencies (cached after the first run)")
    resolve_jars("spark-connectors", settings.paths.cache_dir)
    kafka = local_kafka(settings)
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": kafka.bootstrap_servers})})
    config_file = _effective_config(settings, run_dir)
    env = {**os.environ, "NENUBROKER_CONFIG": str(config_file), "PYSPARK_PYTHON": sys.executable}
    env = {k: v for k, v in env.items() if not k.startswith("NENUBROKER_") or k == "NENUBROKER_CONFIG"}
    truth_path = run_dir / "truth.jsonl"
    truth_path.unlink(missing_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    alerts: list[dict] = []
    dead_letters = finals = 0
    crashed: list[subprocess.Popen[bytes]] = []
    started = time.time()
    with kafka:
        ensure_all_topics(settings)
        console.print(f"Kafka (KRaft) on {kafka.bootstrap_servers}, logs in {kafka.log_file}")
        try:
            children.append(_start(spark_submit_command(settings, Path(broker_stages.__file__), "--config",
                                                        str(config_file)), run_dir / "broker.log", env))
            children.append(_start([sys.executable, "-m", "nenubroker.cli", "edge", "simulate",
                                    "--truth", str(truth_path)], run_dir / "edge.log", env))
            console.print(f"edge: simulated beams {', '.join(settings.simulator.beams)} -> "
                          f"{settings.kafka.topics.chunks}  (log {run_dir / 'edge.log'})")
            console.print(f"broker: spark-submit detect + events on {settings.spark.master} -> "
                          f"{settings.kafka.topics.alerts}, {settings.kafka.topics.events}  "
                          f"(log {run_dir / 'broker.log'})")
            console.print(f"alerts as they arrive ({settings.kafka.topics.alerts}, "
                          f"{settings.kafka.topics.dead_letter}), and each burst's event when it has ended "
                          f"({settings.kafka.topics.events}); the first take ~20 s while Spark starts."
                          + (f" Stopping after {duration_s:.0f} s." if duration_s else " Ctrl-C stops."))

            def should_stop() -> bool:
                if duration_s is not None and time.time() - started >= duration_s:
                    return True
                crashed.extend(c for c in children if c.poll() is not None)
                for child in crashed:
                    console.print(f"[red]{Path(str(child.args[-1])).name} ended on its own "
                                  f"(exit {child.returncode}); see its log in {run_dir}[/]")
                return bool(crashed)

            topics = [settings.kafka.topics.alerts, settings.kafka.topics.dead_letter, settings.kafka.topics.events]
            for record in subscribe(topics, settings, from_unix_s=started, should_stop=should_stop):
                if "reason" in record:
                    dead_letters += 1
                    console.print(f"[yellow]{format_alert(record)}[/]")
                elif "event_id" in record:
                    finals += record["status"] == "final"
                    if record["status"] == "final" and record["n_alerts"] > 1:  # a burst longer than a chunk
                        console.print(f"[cyan]{format_alert(record)}[/]")
                else:
                    alerts.append(record)
                    console.print(format_alert(record))
        except KeyboardInterrupt:
            console.print("\nstopping...")
        finally:
            for child in reversed(children):
                _stop(child)
    _summary(alerts, dead_letters, finals, load_truth(truth_path), time.time() - started)
    return 1 if crashed else 0


def _summary(alerts: list[dict], dead_letters: int, finals: int, events: list[dict], elapsed_s: float) -> None:
    per_beam = Counter(alert["beam"] for alert in alerts)
    found = found_events(events, alerts)
    console.print(f"\n[bold]summary[/] after {elapsed_s:.0f} s: {len(alerts)} alerts "
                  f"({', '.join(f'{beam}: {n}' for beam, n in sorted(per_beam.items())) or 'none'}), "
                  f"{dead_letters} dead letters, {finals} events ended; {len(to_find(events))} events injected "
                  f"(each spike of a cluster and S-burst of a train counts), {len(found)} of them inside an alert.")
    if alerts:
        latencies = sorted(a["processed_unix_s"] - a["chunk_created_unix_s"] for a in alerts)
        console.print(f"latency chunk created -> alert made: median {latencies[len(latencies) // 2]:.2f} s, "
                      f"max {latencies[-1]:.2f} s")


__all__ = ["local_kafka", "run_demo"]
