"""Batch-job requests: made by alert rules (the detect stage) or by people, kept on Kafka.

The requests topic holds every request; the status topic holds its life (queued, running, done,
failed, with products), newest last. A request without any status record is ``requested``: no
batch runner has taken it yet.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Producer

from nenubroker.client import subscribe
from nenubroker.conf.settings import Settings
from nenubroker.kafka import client_config
from nenubroker.records import avro


def submit(settings: Settings, recipe: str, time_start_unix_s: float, time_stop_unix_s: float,
           freq_min_hz: float = 0.0, freq_max_hz: float = 1e9, reason: str = "", requested_by: str = "user") -> str:
    """Put a request on the requests topic; returns its id."""
    request_id = f"{requested_by}-{uuid.uuid4().hex[:12]}"
    value, headers = avro.encode("batch_request", {
        "request_id": request_id, "recipe": recipe, "time_start_unix_s": time_start_unix_s,
        "time_stop_unix_s": time_stop_unix_s, "freq_min_hz": freq_min_hz, "freq_max_hz": freq_max_hz,
        "reason": reason, "alert_id": None, "requested_by": requested_by, "created_unix_s": time.time()})
    producer = Producer(client_config(settings.kafka, "producer"))
    producer.produce(settings.kafka.topics.batch_requests, value, key=request_id.encode(), headers=headers)
    if producer.flush(30):
        raise RuntimeError(f"could not deliver the request to {settings.kafka.topics.batch_requests}")
    return request_id


def report_status(settings: Settings, request_id: str, status: str, detail: str = "",
                  products: list[str] | None = None) -> None:
    """Record a step in a request's life (for batch runners)."""
    value, headers = avro.encode("batch_status", {"request_id": request_id, "status": status, "detail": detail,
                                                  "products": products or [], "updated_unix_s": time.time()})
    producer = Producer(client_config(settings.kafka, "producer"))
    producer.produce(settings.kafka.topics.batch_status, value, key=request_id.encode(), headers=headers)
    producer.flush(30)


def list_requests(settings: Settings, idle_timeout_s: float = 6.0) -> list[dict[str, Any]]:
    """Every request with its latest status (``requested`` when none), oldest first."""
    topics = settings.kafka.topics
    requests: dict[str, dict[str, Any]] = {}
    statuses: dict[str, dict[str, Any]] = {}
    for record in subscribe([topics.batch_requests, topics.batch_status], settings, from_beginning=True,
                            idle_timeout_s=idle_timeout_s):
        if "recipe" in record:
            requests.setdefault(record["request_id"], record)
        elif record["updated_unix_s"] >= statuses.get(record["request_id"], {}).get("updated_unix_s", -1.0):
            statuses[record["request_id"]] = record
    listed = []
    for request_id, request in sorted(requests.items(), key=lambda item: item[1]["created_unix_s"]):
        status = statuses.get(request_id, {})
        listed.append({**request, "status": status.get("status", "requested"), "detail": status.get("detail", ""),
                       "products": status.get("products", [])})
    return listed


__all__ = ["list_requests", "report_status", "submit"]
