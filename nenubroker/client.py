"""Read nenubroker topics from a notebook or the CLI: decoded records, one at a time.

>>> # for alert in subscribe(["nenubroker.alerts"], from_beginning=True, max_messages=10):
>>> #     print(format_alert(alert))

Records are decoded with the schema their headers name (``schema``, ``schema_version``). A record
that does not decode is reported through ``on_error`` and skipped; the loop goes on.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from nenubroker import avro
from nenubroker.conf.settings import Settings, load_settings
from nenubroker.kafka import client_config


def _report_to_stderr(message: Message, error: Exception) -> None:
    print(f"skipped {message.topic()}[{message.partition()}]@{message.offset()}: {error}", file=sys.stderr)


def subscribe(
    topics: Sequence[str],
    settings: Settings | None = None,
    from_beginning: bool = False,
    group_id: str | None = None,
    max_messages: int | None = None,
    idle_timeout_s: float | None = None,
    from_unix_s: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_error: Callable[[Message, Exception], None] = _report_to_stderr,
) -> Iterator[dict[str, Any]]:
    """Decoded records of ``topics``, until ``max_messages``, ``idle_timeout_s`` without any, or
    ``should_stop()`` is true (checked twice a second).

    ``from_unix_s`` starts each partition at the first record written at or after that time, and
    overrides ``from_beginning``.

    Without ``group_id`` the consumer is anonymous (a fresh group each time, nothing committed);
    with one, positions are committed and the next call resumes after the last record read.
    """
    settings = settings or load_settings()
    consumer = Consumer(client_config(
        settings.kafka,
        **{
            "group.id": group_id or f"nenubroker-client-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": group_id is not None,
        },
    ))
    if from_unix_s is None:
        consumer.subscribe(list(topics))
    else:
        consumer.subscribe(list(topics), on_assign=lambda c, partitions: c.assign(
            c.offsets_for_times([TopicPartition(p.topic, p.partition, int(from_unix_s * 1000)) for p in partitions])))
    received = 0
    last_seen = time.monotonic()
    try:
        while max_messages is None or received < max_messages:
            if idle_timeout_s is not None and time.monotonic() - last_seen > idle_timeout_s:
                return
            if should_stop is not None and should_stop():
                return
            message = consumer.poll(0.5)
            if message is None:
                continue
            last_seen = time.monotonic()
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    on_error(message, RuntimeError(message.error().str()))
                continue
            schema = (avro.header_value(message.headers(), avro.SCHEMA_HEADER) or b"alert").decode()
            try:
                record = avro.decode(schema, message.value(), message.headers())
            except avro.DecodeError as error:
                on_error(message, error)
                continue
            received += 1
            yield record
    finally:
        consumer.close()


def _utc(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_alert(alert: dict[str, Any]) -> str:
    """One line per alert, for people."""
    if "reason" in alert:  # a dead letter
        return (f"DEAD LETTER {alert['source_topic']}[{alert['source_partition']}]@{alert['source_offset']}: "
                f"{alert['reason']}")
    return (
        f"{_utc(alert['time_peak_unix_s'])}  {alert['beam']:<8} "
        f"{alert['freq_peak_hz'] / 1e6:6.2f} MHz [{alert['freq_min_hz'] / 1e6:.1f}-{alert['freq_max_hz'] / 1e6:.1f}]  "
        f"{alert['duration_s']:5.2f} s  {alert['drift_hz_per_s'] / 1e6:+6.2f} MHz/s  S/N {alert['snr']:6.1f}  "
        f"{alert.get('class_label') or '-':<9} {alert['detector']}  id {alert['alert_id']}"
    )


__all__ = ["format_alert", "subscribe"]
