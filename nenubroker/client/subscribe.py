"""Read nenubroker topics from a notebook or the CLI: decoded records, one at a time.

Records are decoded with the schema their headers name (``schema``, ``schema_version``). Nothing
ends the loop but its caller: an undecodable record goes to ``on_error`` (topic, partition, offset,
reason) and is skipped; a missing topic is reported with the topics that exist, and read from its
start once it appears; an unreachable broker is reported after ``connect_timeout_s``, then retried.

Where to start (``start``): ``"earliest"`` (the oldest record kept), ``"latest"`` (only new ones),
a time (unix seconds, ``datetime`` or ISO 8601 text: each partition from its first record written at
or after it), or ``"stored"``: the positions a consumer group committed. An explicit start applies
the first time this session is given a partition, even in a group that has committed positions.

Delivery is at-least-once: with ``group_id``, the position of a record is committed only once the
caller has asked for the next one, so a record being handled when the process dies is read again on
resume (``start="stored"``, the default with a group). Repeats are dropped within a session by
``alert_id`` (deterministic: a replayed chunk gives the same id); across sessions, de-duplicate on
``alert_id`` too (the TFCat and VOEvent savers do, by construction).

In a notebook: ``for alert in subscribe([topic], start="2024-05-01T12:00Z", selection=cuts)``.
>>> alert = {"alert_id": "a", "class_label": "spike", "snr": 9.0, "time_start_unix_s": 0.0, "duration_s": 1.0}
>>> AlertSelection(classes=("spike",), min_snr=8).matches(alert)
True
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from nenubroker.conf.settings import Settings, load_settings
from nenubroker.kafka import client_config
from nenubroker.records import avro

#: librdkafka's own log lines go here rather than to stderr; the client reports what matters itself.
LIBRDKAFKA_LOGGER = logging.getLogger("nenubroker.client.librdkafka")
LIBRDKAFKA_LOGGER.addHandler(logging.NullHandler())

_START_ALIASES = {"earliest": "earliest", "beginning": "earliest", "oldest": "earliest", "latest": "latest",
                  "end": "latest", "now": "latest", "stored": "stored", "resume": "stored"}
_TROUBLE = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._SSL,
            KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._TIMED_OUT}


def _report_to_stderr(message: Message, error: Exception) -> None:
    print(f"skipped {message.topic()}[{message.partition()}]@{message.offset()}: {error}", file=sys.stderr)


def _status_to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _where(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a record: never None for a message without an error."""
    return str(message.topic()), int(message.partition() or 0), int(message.offset() or 0)


def parse_time(value: str | float | datetime) -> float:
    """Unix seconds from unix seconds, a ``datetime`` or ISO 8601 text (no zone means UTC).

    >>> parse_time("2024-05-01T12:00:00Z"), parse_time("1714564800")
    (1714564800.0, 1714564800.0)
    """
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            value = datetime.fromisoformat(value.strip())
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def parse_start(value: str | float | datetime) -> str | float:
    """``"earliest"``, ``"latest"``, ``"stored"`` or unix seconds, from what people type.

    >>> parse_start("beginning"), parse_start("2024-05-01T12:00:00")
    ('earliest', 1714564800.0)
    """
    if isinstance(value, str) and value.strip().lower() in _START_ALIASES:
        return _START_ALIASES[value.strip().lower()]
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"start {value!r} is not earliest/beginning, latest, stored, unix seconds or "
                         "an ISO 8601 time") from None


@dataclass(frozen=True)
class AlertSelection:
    """Client-side cuts on decoded alerts; an unset cut keeps everything.

    ``classes`` keeps those labels (``"unclassified"`` for alerts no classifier labelled). The
    frequency and time cuts keep alerts whose band ``[freq_min_hz, freq_max_hz]`` and span
    ``[time_start, time_start + duration]`` overlap the ranges given. Records that are not alerts
    (dead letters) pass only an empty selection.
    """

    classes: tuple[str, ...] | None = None
    min_snr: float | None = None
    freq_min_hz: float | None = None
    freq_max_hz: float | None = None
    time_min_unix_s: float | None = None
    time_max_unix_s: float | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        if all(value is None for value in vars(self).values()):
            return True
        if "alert_id" not in record or "snr" not in record:
            return False
        start, end = record["time_start_unix_s"], record["time_start_unix_s"] + record["duration_s"]
        return ((self.classes is None or (record.get("class_label") or "unclassified") in self.classes)
                and (self.min_snr is None or record["snr"] >= self.min_snr)
                and (self.freq_min_hz is None or record["freq_max_hz"] >= self.freq_min_hz)
                and (self.freq_max_hz is None or record["freq_min_hz"] <= self.freq_max_hz)
                and (self.time_min_unix_s is None or end >= self.time_min_unix_s)
                and (self.time_max_unix_s is None or start <= self.time_max_unix_s))


@dataclass
class SubscribeStats:
    """What a subscription did with the records it read, for summaries and tests."""

    received: int = 0
    yielded: int = 0
    undecodable: int = 0
    duplicates: int = 0
    filtered: int = 0


class _SeenIds:
    """Alert ids met in this session, the oldest forgotten past ``limit`` so memory stays bounded."""

    def __init__(self, limit: int = 1_000_000):
        self.limit, self._ids = limit, OrderedDict[str, None]()

    def add(self, alert_id: str) -> bool:
        """True the first time ``alert_id`` is met."""
        if alert_id in self._ids:
            return False
        self._ids[alert_id] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True


def consumer_config(settings: Settings, group_id: str | None = None, reset: str = "latest",
                    **extra: Any) -> dict[str, Any]:
    """A subscriber's consumer: :func:`~nenubroker.kafka.client_config` (security from ``settings``,
    an anonymous group that never commits unless ``group_id``), with offsets stored only for records
    the caller finished and librdkafka's log lines sent to :data:`LIBRDKAFKA_LOGGER`."""
    return client_config(settings.kafka, "consumer", {"group.id": group_id} if group_id else {}, **{
        "auto.offset.reset": reset, "enable.auto.offset.store": False, "logger": LIBRDKAFKA_LOGGER, **extra})


def _resolve_start(start: str | float | datetime | None, from_beginning: bool, group_id: str | None,
                   from_unix_s: float | None) -> str | float:
    given = start if start is not None else from_unix_s
    if given is not None:
        position = parse_start(given)
    else:
        position = "stored" if group_id else "earliest" if from_beginning else "latest"
    if position == "stored" and group_id is None:
        raise ValueError("start='stored' needs a group_id: only a consumer group has stored positions")
    return position


class _Health:
    """Turns librdkafka's stream of connection errors into a few sentences for people."""

    def __init__(self, bootstrap: str, on_status: Callable[[str], None], patience_s: float):
        self.bootstrap, self.on_status, self.patience_s, self.every_s = bootstrap, on_status, patience_s, 30.0
        self.since: float | None = None
        self.reported_at: float | None = None
        self.reason = ""

    def bad(self, reason: str) -> None:
        now = time.monotonic()
        self.since, self.reason = self.since or now, reason or self.reason
        waited = now - self.since
        if waited >= self.patience_s and (self.reported_at is None or now - self.reported_at >= self.every_s):
            self.on_status(f"cannot reach Kafka at {self.bootstrap} ({waited:.0f} s): {self.reason}; "
                           "still trying")
            self.reported_at = now

    def good(self) -> None:
        if self.reported_at is not None:
            self.on_status(f"reached Kafka at {self.bootstrap} again")
        self.since = self.reported_at = None

    @property
    def troubled_for(self) -> float:
        return 0.0 if self.since is None else time.monotonic() - self.since


class _Subscription:
    """One consumer and what it knows: positions, topics still missing, offsets to commit."""

    def __init__(self, settings: Settings, topics: Sequence[str], position: str | float, group_id: str | None,
                 reset: str, on_status: Callable[[str], None], connect_timeout_s: float):
        self.settings, self.position, self.group_id, self.on_status = settings, position, group_id, on_status
        self.health = _Health(settings.kafka.bootstrap_servers, on_status, connect_timeout_s)
        self.consumer = Consumer(consumer_config(settings, group_id, reset, error_cb=self._on_kafka_error))
        self.wanted, self.subscribed = list(dict.fromkeys(topics)), list[str]()
        self.positions: dict[tuple[str, int], int] = {}
        self.late_topics: set[str] = set()
        self.missing: set[str] = set()
        self.to_store: dict[tuple[str, int], int] = {}
        self.active_at = time.monotonic()  # the last record, or the last assignment (joining takes time)
        self.next_check = 0.0

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.code() in _TROUBLE:
            self.health.bad(error.str())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume partitions this session already read; start new ones where asked."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key in self.positions:  # a group resumes where it committed, an anonymous reader where it was
                tp.offset = tp.offset if self.group_id else self.positions[key]
            elif isinstance(self.position, float):
                [found] = consumer.offsets_for_times(
                    [TopicPartition(tp.topic, tp.partition, int(self.position * 1000))], 10)
                tp.offset = found.offset if found.offset >= 0 else confluent_kafka.OFFSET_END
            elif tp.topic in self.late_topics or self.position == "earliest":
                tp.offset = confluent_kafka.OFFSET_BEGINNING
            elif self.position == "latest":
                tp.offset = confluent_kafka.OFFSET_END
            self.positions.setdefault(key, tp.offset)
        consumer.assign(partitions)
        self.active_at = time.monotonic()

    def done(self, message: Message) -> None:
        """The caller finished ``message``: its position may be committed."""
        topic, partition, offset = _where(message)
        self.to_store[(topic, partition)] = offset + 1

    def store(self, *_: Any) -> None:
        """Hand the positions of records the caller finished to librdkafka, which commits them."""
        if self.group_id and self.to_store:
            try:
                self.consumer.store_offsets(offsets=[TopicPartition(*k, o) for k, o in self.to_store.items()])
            except KafkaException:  # a partition taken away by a rebalance: its new owner goes on
                pass
        self.to_store.clear()

    def refresh_topics(self) -> None:
        """Subscribe to the wanted topics that exist; say which do not, and when they appear."""
        try:
            existing = set(self.consumer.list_topics(timeout=0.5).topics)
        except KafkaException as error:
            self.health.bad(error.args[0].str())
            return
        self.health.good()
        missing = [t for t in self.wanted if t not in existing]
        if new := [t for t in missing if t not in self.missing]:
            others = sorted(t for t in existing if not t.startswith("__")) or ["(none)"]
            self.on_status(f"topic {', '.join(new)} does not exist yet on Kafka at "
                           f"{self.settings.kafka.bootstrap_servers}; topics there: {', '.join(others)}. "
                           "Waiting for it to appear.")
        for topic in sorted(self.missing - set(missing)):
            self.on_status(f"topic {topic} now exists: reading it from its first record")
            self.late_topics.add(topic)
        self.missing = set(missing)
        present = [t for t in self.wanted if t in existing]
        if present != self.subscribed:
            self.consumer.subscribe(present, on_assign=self._on_assign, on_revoke=self.store)
            self.subscribed = present

    def poll(self, counts: SubscribeStats,
             on_error: Callable[[Message, Exception], None]) -> list[tuple[Message, dict[str, Any]]]:
        """The next batch of decoded records; undecodable ones go to ``on_error`` and are done."""
        now = time.monotonic()
        if (self.subscribed != self.wanted or self.health.troubled_for >= self.health.patience_s) \
                and now >= self.next_check:
            self.next_check = now + 1.0
            self.refresh_topics()
        if not self.subscribed:
            time.sleep(0.1)
            return []
        self.store()
        batch = []
        for message in self.consumer.consume(500, 0.5):
            if (failure := message.error()) is not None:
                if failure.code() != KafkaError._PARTITION_EOF:
                    self.on_status(f"{message.topic()}[{message.partition()}]: {failure.str()}")
                continue
            self.health.good()
            topic, partition, offset = _where(message)
            self.positions[(topic, partition)] = offset + 1
            self.active_at = time.monotonic()
            counts.received += 1
            headers = cast(avro.Headers, message.headers())
            schema = (avro.header_value(headers, avro.SCHEMA_HEADER) or b"alert").decode("ascii", "replace")
            try:
                batch.append((message, avro.decode(schema, message.value(), headers)))
            except avro.DecodeError as error:
                counts.undecodable += 1
                on_error(message, error)
                self.done(message)
        return batch


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
    *,
    start: str | float | datetime | None = None,
    selection: AlertSelection | None = None,
    dedupe: bool = True,
    on_status: Callable[[str], None] = _status_to_stderr,
    connect_timeout_s: float = 10.0,
    stats: SubscribeStats | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Decoded records of ``topics``, until ``max_messages`` are yielded, ``idle_timeout_s`` pass
    without any record, or ``should_stop()`` is true (checked at least once a second).

    Arguments are checked at once; the broker is contacted on the first ``next()``.

    Parameters
    ----------
    start : where to begin (see the module doc); by default ``"stored"`` with a ``group_id``, else
        ``from_unix_s`` if given, else ``"earliest"`` with ``from_beginning``, else ``"latest"``.
    from_beginning : with a group, where partitions it never committed start (else the latest).
    group_id : a consumer group whose positions are committed (at-least-once); anonymous without.
    selection : client-side cuts; records it rejects are skipped (and committed).
    dedupe : drop records whose ``alert_id`` this session already met.
    on_status : sentences about the broker and missing topics (stderr by default).
    stats : filled in as records are read.
    """
    settings = settings or load_settings()
    position = _resolve_start(start, from_beginning, group_id, from_unix_s)
    reset = "earliest" if from_beginning else "latest"
    counts = stats if stats is not None else SubscribeStats()

    def records() -> Generator[dict[str, Any], None, None]:
        session = _Subscription(settings, topics, position, group_id, reset, on_status, connect_timeout_s)
        seen = _SeenIds()
        try:
            while max_messages is None or counts.yielded < max_messages:
                idle = idle_timeout_s is not None and time.monotonic() - session.active_at > idle_timeout_s
                if idle or (should_stop and should_stop()):
                    return
                for message, record in session.poll(counts, on_error):
                    alert_id = record.get("alert_id")
                    if dedupe and alert_id is not None and not seen.add(str(alert_id)):
                        counts.duplicates += 1
                    elif selection is not None and not selection.matches(record):
                        counts.filtered += 1
                    else:
                        counts.yielded += 1
                        yield record
                    session.done(message)
                    if max_messages is not None and counts.yielded >= max_messages:
                        break
        finally:
            session.store()
            session.consumer.close()

    return records()


def _utc(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_alert(alert: dict[str, Any]) -> str:
    """One line per alert (or event, or dead letter), for people watching a terminal."""
    if "reason" in alert:  # a dead letter
        return (f"DEAD LETTER {alert['source_topic']}[{alert['source_partition']}]@{alert['source_offset']}: "
                f"{alert['reason']}")
    low, high, drift = alert["freq_min_hz"] / 1e6, alert["freq_max_hz"] / 1e6, alert["drift_hz_per_s"] / 1e6
    line = (f"{_utc(alert['time_peak_unix_s'])}  {alert['beam']:<8} {alert['freq_peak_hz'] / 1e6:6.2f} MHz "
            f"[{low:.1f}-{high:.1f}]  {alert['duration_s']:5.2f} s  {drift:+6.2f} MHz/s  "
            f"S/N {alert['snr']:6.1f}  {alert.get('class_label') or '-':<9} ")
    if "event_id" in alert:  # an event of the events stage
        return (line + f"event {alert['status']} r{alert['revision']} ({alert['n_alerts']} alerts)  "
                       f"id {alert['event_id']}")
    return line + f"{alert['detector']}  id {alert['alert_id']}"


__all__ = ["AlertSelection", "SubscribeStats", "consumer_config", "format_alert",
           "parse_start", "parse_time", "subscribe"]
