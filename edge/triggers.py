"""Recording triggers from the broker: the message, and the edge's listener that serves them.

The broker publishes a trigger (``conf/schemas/trigger.v1.avsc``) on the triggers topic when it
wants one beam's full-resolution data around a burst. Every edge reads every trigger and keeps those
of the beams it serves. Each trigger ends in an announcement on the recordings topic (Avro,
schema-version header, key = beam): recorded, missed or merged, with the reason. A message that
cannot be read is logged and announced as missed with the decoding error, and the loop goes on.

>>> trigger = Trigger("t1", "beam0", 1.7e9 + 1.0, 1.7e9 + 1.5, 20.3e6, 20.4e6, reason="type_iii snr=9")
>>> Trigger.decode(*trigger.encode()) == trigger
True
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Self

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from nenubroker.conf.settings import Settings
from nenubroker.edge.recorder import Recorder
from nenubroker.edge.ring_buffer import RingBuffer
from nenubroker.kafka import client_config
from nenubroker.records import avro
from nenubroker.records.trigger import Trigger, TriggerError

log = logging.getLogger(__name__)


def _key(message: Message) -> str | None:
    key = message.key()
    return key.decode(errors="replace") if key is not None else None


class TriggerListener:
    """Consumes triggers for this edge's beams, records them, and publishes the announcements.

    Parameters
    ----------
    settings
        Kafka (topics ``triggers`` and ``recordings``) and recording settings.
    ring_buffers
        The ring buffer of each beam this edge serves; triggers for other beams are ignored.
    group_id
        Kafka consumer group; by default one per set of beams, so that every edge reads every trigger.
    from_beginning
        Read triggers already on the topic when the group has no committed offset (tests, replays).
    max_pending_s, clock
        Passed to :class:`~nenubroker.edge.recorder.Recorder`.

    Notes
    -----
    Call :meth:`poll` between blocks from the ingester loop, or :meth:`run_in_thread`; a lock
    makes both safe together. Triggers still pending at :meth:`close` are written with what exists.
    """

    def __init__(
        self,
        settings: Settings,
        ring_buffers: Mapping[str, RingBuffer],
        *,
        group_id: str | None = None,
        from_beginning: bool = False,
        max_pending_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        kafka = settings.kafka
        self.beams = frozenset(ring_buffers)
        self.topic = kafka.topics.triggers
        self.recordings_topic = kafka.topics.recordings
        self.recorder = Recorder(settings.recording, ring_buffers, max_pending_s=max_pending_s, clock=clock)
        self.counts: Counter[str] = Counter()
        self._consumer = Consumer(client_config(kafka, "consumer", {
            "group.id": group_id or "nenubroker-edge-" + "+".join(sorted(self.beams)),
            "auto.offset.reset": "earliest" if from_beginning else "latest",
        }))
        self._consumer.subscribe([self.topic])
        self._producer = Producer(client_config(kafka, "producer"))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def poll(self, timeout_s: float = 0.0, max_messages: int = 100) -> list[dict[str, Any]]:
        """Read waiting triggers, serve pending ones whose data has arrived; return the announcements made."""
        with self._lock:
            if self._closed:
                return []
            announcements: list[dict[str, Any]] = []
            for message in self._consumer.consume(max_messages, timeout_s):
                announcements += self._handle(message)
            announcements += self.recorder.serve_pending()
            self._publish(announcements)
            return announcements

    def _handle(self, message: Message) -> list[dict[str, Any]]:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self.counts["consumer_errors"] += 1
                log.warning("trigger topic %s: %s", self.topic, error.str())
            return []
        self.counts["received"] += 1
        key = _key(message)
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        try:
            trigger = Trigger.decode(message.value(), message.headers())
        except (avro.DecodeError, TriggerError, TypeError, KeyError) as error:
            self.counts["rejected"] += 1
            log.warning("unusable trigger at %s (key %r): %s", where, key, error)
            if key is not None and key not in self.beams:
                return []  # another edge's beam: that edge reports it
            return [self.recorder.reject(f"unusable trigger message at {where}: {error}", key or "", where)]
        if trigger.beam not in self.beams:
            self.counts["ignored"] += 1
            return []
        return self.recorder.submit(trigger)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.counts["published"] += 1
        else:
            self.counts["publish_failed"] += 1
            log.error("announcement %r not published: %s", message.key(), error.str())

    def _publish(self, announcements: list[dict[str, Any]]) -> None:
        for announcement in announcements:
            value, avro_headers = avro.encode("recording", announcement)
            headers: list[tuple[str, str | bytes | None]] = list(avro_headers)
            while True:
                try:
                    self._producer.produce(
                        self.recordings_topic,
                        value,
                        key=announcement["beam"].encode(),
                        headers=headers,
                        on_delivery=self._on_delivery,
                    )
                    break
                except BufferError:  # local queue full: wait for Kafka to take some
                    self._producer.poll(0.5)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for announcements to be delivered; returns how many are still queued."""
        return self._producer.flush(timeout_s)

    def run_in_thread(self, interval_s: float = 0.1) -> threading.Thread:
        """Poll in a daemon thread until :meth:`stop`, for an ingester that cannot poll."""
        if self._thread is not None:
            raise RuntimeError("the trigger listener already runs in a thread")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), name="trigger-listener", daemon=True
        )
        self._thread.start()
        return self._thread

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.poll(timeout_s=interval_s)
            except KafkaException as error:  # a broker outage must not end the listener
                log.error("trigger listener: %s; retrying", error)
                self._stop.wait(1.0)

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the polling thread (if any)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def close(self, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Stop, write and announce pending triggers with what exists, flush, and leave the group."""
        self.stop(timeout_s)
        with self._lock:
            if self._closed:
                return []
            announcements = self.recorder.flush_pending()
            self._publish(announcements)
            self._producer.flush(timeout_s)
            self._consumer.close()
            self._closed = True
            return announcements

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["TriggerListener"]
