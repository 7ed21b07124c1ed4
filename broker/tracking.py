"""Events longer than a chunk: a beam's alerts grouped into events as they arrive, without Spark.

The detect stage sees one chunk at a time (5.4 s by default), so a 12 s type III or a 5-minute
type II arrives as several alerts. :class:`EventTracker` joins each alert to the open event of its
beam that it continues, or opens a new event, and says what changed:

- ``new`` (revision 1) the moment an event is first seen: the fast path stays fast;
- ``update`` (revision 2, 3, ...) each time an alert makes it longer, wider or brighter;
- ``final`` once no alert has continued it for ``close_after_s``: the whole duration, band and drift.

An alert *continues* an event when both are long-lived kinds (see :data:`SHORT_CLASSES`), it starts
at most ``gap_s`` after the event's last emission ends, and its band overlaps the event's band at
that time: the band the event's drift carries it to, widened by ``freq_tolerance`` of its centre.
Short bursts (spikes, Jupiter S-bursts, RFI impulses) are one event each: a cluster of spikes is a
cluster of events. The event id hashes the beam and the first alert's id, so a replay of the same
alerts gives the same events.

>>> a = {"alert_id": "a1", "beam": "b", "time_start_unix_s": 0.0, "duration_s": 5.0, "time_peak_unix_s": 1.0,
...      "freq_min_hz": 30e6, "freq_max_hz": 60e6, "freq_peak_hz": 50e6, "drift_hz_per_s": -6e6, "snr": 40.0,
...      "class_label": "type_iii", "class_probabilities": {"type_iii": 0.9, "spike": 0.1}, "source": "simulator"}
>>> tracker = EventTracker(EventsSettings())
>>> [(e.status, e.revision) for e in tracker.add([a], now_unix_s=100.0)]
[('new', 1)]
>>> b = dict(a, alert_id="a2", time_start_unix_s=5.1, time_peak_unix_s=5.5, freq_min_hz=20e6, freq_max_hz=31e6,
...          freq_peak_hz=28e6, snr=20.0)
>>> [(e.status, e.revision, e.n_alerts, round(e.duration_s, 1)) for e in tracker.add([b], now_unix_s=101.0)]
[('update', 2, 2, 10.1)]
>>> [(e.status, e.event_id == tracker_event_id("b", "a1")) for e in tracker.close_expired(now_unix_s=200.0)]
[('final', True)]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nenubroker.broker.messages import OutputMessage
from nenubroker.conf.settings import EventsSettings, Settings
from nenubroker.formats.voevent import role_for_source, update
from nenubroker.records import avro

#: Kinds that last no longer than a chunk: each alert of these is an event of its own.
SHORT_CLASSES = frozenset({"spike", "jupiter_s", "rfi"})
#: Alert fields an event keeps of its latest alert, for the VOEvent of an update.
CARRIED_FIELDS = ("detector", "module_versions", "classifier", "nenubroker_version", "source", "pointing_ra_deg",
                  "pointing_dec_deg", "chunk_index", "chunk_created_unix_s", "kafka_ingest_unix_s", "peak_power",
                  "rfi_flagged_fraction")



def tracker_event_id(beam: str, first_alert_id: str) -> str:
    """Deterministic: the same first alert of the same beam always names the same event."""
    return hashlib.sha256(f"event|{beam}|{first_alert_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class TrackedEvent:
    """One event of one beam: its extent so far, its class, and the alerts it is made of."""

    event_id: str
    beam: str
    status: str
    revision: int
    first_alert_id: str
    alert_ids: tuple[str, ...]
    class_label: str | None
    class_probabilities: dict[str, float]
    time_start_unix_s: float
    time_stop_unix_s: float
    time_peak_unix_s: float
    freq_peak_hz: float
    freq_min_hz: float
    freq_max_hz: float
    drift_hz_per_s: float
    snr: float
    last_seen_unix_s: float
    #: (time, frequency, S/N) of each alert's peak: what the event's drift is fitted to.
    peaks: tuple[tuple[float, float, float], ...] = ()
    #: Summed S/N-weighted class probabilities (the event's class is their maximum).
    class_weights: dict[str, float] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.time_stop_unix_s - self.time_start_unix_s

    @property
    def n_alerts(self) -> int:
        return len(self.alert_ids)

    def band_at(self, time_unix_s: float) -> tuple[float, float]:
        """The band the event's drift carries its last band to at ``time_unix_s`` (never narrower)."""
        shift = self.drift_hz_per_s * max(0.0, time_unix_s - self.time_stop_unix_s)
        return min(self.freq_min_hz, self.freq_min_hz + shift), max(self.freq_max_hz, self.freq_max_hz + shift)

    def to_record(self) -> dict[str, Any]:
        """The ``event`` record (conf/schemas/event.v1.avsc)."""
        return {
            "event_id": self.event_id, "beam": self.beam, "status": self.status, "revision": self.revision,
            "first_alert_id": self.first_alert_id, "alert_ids": list(self.alert_ids), "n_alerts": self.n_alerts,
            "class_label": self.class_label, "class_probabilities": dict(self.class_probabilities),
            "time_start_unix_s": self.time_start_unix_s, "time_stop_unix_s": self.time_stop_unix_s,
            "duration_s": self.duration_s, "time_peak_unix_s": self.time_peak_unix_s,
            "freq_peak_hz": self.freq_peak_hz, "freq_min_hz": self.freq_min_hz, "freq_max_hz": self.freq_max_hz,
            "drift_hz_per_s": self.drift_hz_per_s, "snr": self.snr, "source": self.latest.get("source", ""),
            "updated_unix_s": self.last_seen_unix_s,
        }


def _class_weights(alert: Mapping[str, Any]) -> dict[str, float]:
    probabilities = alert.get("class_probabilities") or {}
    if not probabilities and alert.get("class_label"):
        probabilities = {alert["class_label"]: 1.0}
    return {label: float(p) * float(alert["snr"]) for label, p in probabilities.items()}


def _classified(weights: Mapping[str, float]) -> tuple[str | None, dict[str, float]]:
    total = sum(weights.values())
    if total <= 0:
        return None, {}
    probabilities = {label: w / total for label, w in sorted(weights.items())}
    return max(probabilities, key=probabilities.__getitem__), probabilities


def _fitted_drift(peaks: tuple[tuple[float, float, float], ...], fallback_hz_per_s: float) -> float:
    """S/N-weighted straight-line drift of the alerts' peaks once they span more than a second; the
    brightest alert's own drift before that (one alert's peak says nothing about a drift)."""
    t, f, w = (np.array(column) for column in zip(*peaks))
    if np.ptp(t) < 1.0:
        return fallback_hz_per_s
    slope = np.polyfit(t - t.mean(), f, 1, w=np.sqrt(w))[0]
    return float(slope)


def _open(alert: Mapping[str, Any], now_unix_s: float) -> TrackedEvent:
    label, probabilities = _classified(_class_weights(alert))
    start = float(alert["time_start_unix_s"])
    return TrackedEvent(
        event_id=tracker_event_id(alert["beam"], alert["alert_id"]), beam=alert["beam"], status="new", revision=1,
        first_alert_id=alert["alert_id"], alert_ids=(alert["alert_id"],), class_label=label,
        class_probabilities=probabilities, time_start_unix_s=start,
        time_stop_unix_s=start + float(alert["duration_s"]), time_peak_unix_s=float(alert["time_peak_unix_s"]),
        freq_peak_hz=float(alert["freq_peak_hz"]), freq_min_hz=float(alert["freq_min_hz"]),
        freq_max_hz=float(alert["freq_max_hz"]), drift_hz_per_s=float(alert["drift_hz_per_s"]),
        snr=float(alert["snr"]), last_seen_unix_s=now_unix_s,
        peaks=((float(alert["time_peak_unix_s"]), float(alert["freq_peak_hz"]), float(alert["snr"])),),
        class_weights=_class_weights(alert), latest={k: alert.get(k) for k in CARRIED_FIELDS},
    )


def _grow(event: TrackedEvent, alert: Mapping[str, Any], now_unix_s: float) -> TrackedEvent:
    weights = dict(event.class_weights)
    for label, w in _class_weights(alert).items():
        weights[label] = weights.get(label, 0.0) + w
    label, probabilities = _classified(weights)
    brighter = float(alert["snr"]) > event.snr
    peaks = (*event.peaks, (float(alert["time_peak_unix_s"]), float(alert["freq_peak_hz"]), float(alert["snr"])))
    brightest_drift = float(alert["drift_hz_per_s"]) if brighter else event.drift_hz_per_s
    return replace(
        event, status="update", alert_ids=(*event.alert_ids, alert["alert_id"]),
        class_label=label, class_probabilities=probabilities,
        time_start_unix_s=min(event.time_start_unix_s, float(alert["time_start_unix_s"])),
        time_stop_unix_s=max(event.time_stop_unix_s,
                             float(alert["time_start_unix_s"]) + float(alert["duration_s"])),
        time_peak_unix_s=float(alert["time_peak_unix_s"]) if brighter else event.time_peak_unix_s,
        freq_peak_hz=float(alert["freq_peak_hz"]) if brighter else event.freq_peak_hz,
        freq_min_hz=min(event.freq_min_hz, float(alert["freq_min_hz"])),
        freq_max_hz=max(event.freq_max_hz, float(alert["freq_max_hz"])),
        drift_hz_per_s=_fitted_drift(peaks, brightest_drift), snr=max(event.snr, float(alert["snr"])),
        last_seen_unix_s=now_unix_s, peaks=peaks, class_weights=weights,
        latest={k: alert.get(k) for k in CARRIED_FIELDS},
    )


def continues(event: TrackedEvent, alert: Mapping[str, Any], params: EventsSettings) -> bool:
    """Whether ``alert`` is more of ``event``: long-lived kinds, close in time, overlapping in band."""
    if alert["beam"] != event.beam or alert["alert_id"] in event.alert_ids:
        return False
    if event.class_label in SHORT_CLASSES or alert.get("class_label") in SHORT_CLASSES:
        return False
    start = float(alert["time_start_unix_s"])
    if start > event.time_stop_unix_s + params.gap_s or start + float(alert["duration_s"]) < event.time_start_unix_s:
        return False
    low, high = event.band_at(start)
    margin = params.freq_tolerance * (low + high) / 2
    return float(alert["freq_min_hz"]) <= high + margin and float(alert["freq_max_hz"]) >= low - margin


class EventTracker:
    """The open events of the beams it has seen; :meth:`add` alerts, :meth:`close_expired` the quiet ones.

    Its whole state is :attr:`open_events`, which :meth:`from_state`/:meth:`state` turn to and from
    plain records, so a streaming stage can keep it in its checkpoint.
    """

    def __init__(self, params: EventsSettings, open_events: Iterable[TrackedEvent] = ()):
        self.params = params
        self.open_events: list[TrackedEvent] = list(open_events)

    def add(self, alerts: Iterable[Mapping[str, Any]], now_unix_s: float) -> list[TrackedEvent]:
        """Join ``alerts`` (any order) to events; the events they opened or changed, once each, as they now are."""
        changed: dict[str, TrackedEvent] = {}
        opened: set[str] = set()
        for alert in sorted(alerts, key=lambda a: (a["time_start_unix_s"], a["alert_id"])):
            if any(alert["alert_id"] in event.alert_ids for event in self.open_events):
                continue  # a replayed alert: already part of its event
            candidates = [i for i, event in enumerate(self.open_events) if continues(event, alert, self.params)]
            if candidates:
                i = max(candidates, key=lambda k: self.open_events[k].snr)
                self.open_events[i] = _grow(self.open_events[i], alert, now_unix_s)
            else:
                self.open_events.append(_open(alert, now_unix_s))
                i = len(self.open_events) - 1
                opened.add(self.open_events[i].event_id)
            changed[self.open_events[i].event_id] = self.open_events[i]
        # one new revision per call, however many alerts grew an event: revisions count what was sent
        self.open_events = [replace(e, revision=e.revision + 1) if e.event_id in changed and e.event_id not in opened
                            else e for e in self.open_events]
        changed = {e.event_id: e for e in self.open_events if e.event_id in changed}
        finals = self._evict_oldest()
        return [*finals, *(e for e in changed.values() if e.event_id not in {f.event_id for f in finals})]

    def close_expired(self, now_unix_s: float) -> list[TrackedEvent]:
        """Events no alert has continued for ``close_after_s``: removed, and returned as ``final``."""
        expired = [e for e in self.open_events if now_unix_s - e.last_seen_unix_s >= self.params.close_after_s]
        return self._close(expired)

    def postpone(self, now_unix_s: float) -> None:
        """Restart every open event's quiet time at ``now_unix_s``: after the stage was down or behind,
        quiet time it could not watch does not count, so alerts still waiting in Kafka can continue them."""
        self.open_events = [replace(e, last_seen_unix_s=max(e.last_seen_unix_s, now_unix_s)) for e in self.open_events]

    def close_all(self) -> list[TrackedEvent]:
        return self._close(list(self.open_events))

    def next_expiry_unix_s(self) -> float | None:
        """When the next open event will be final if nothing continues it."""
        if not self.open_events:
            return None
        return min(e.last_seen_unix_s for e in self.open_events) + self.params.close_after_s

    def _evict_oldest(self) -> list[TrackedEvent]:
        """Bound the state: beyond ``max_open_per_beam`` open events, the longest quiet ones are closed."""
        excess = len(self.open_events) - self.params.max_open_per_beam
        if excess <= 0:
            return []
        return self._close(sorted(self.open_events, key=lambda e: e.last_seen_unix_s)[:excess])

    def _close(self, events: list[TrackedEvent]) -> list[TrackedEvent]:
        ids = {e.event_id for e in events}
        self.open_events = [e for e in self.open_events if e.event_id not in ids]
        return [replace(e, status="final", revision=e.revision + 1) for e in events]

    def state(self) -> list[dict[str, Any]]:
        """The open events as JSON-ready records (for a state store)."""
        return [{**e.__dict__, "alert_ids": list(e.alert_ids), "peaks": [list(p) for p in e.peaks]}
                for e in self.open_events]

    @classmethod
    def from_state(cls, params: EventsSettings, records: Iterable[Mapping[str, Any]]) -> EventTracker:
        events = [TrackedEvent(**{**r, "alert_ids": tuple(r["alert_ids"]), "peaks": tuple(map(tuple, r["peaks"]))})
                  for r in records]
        return cls(params, events)


def event_voevent(event: TrackedEvent, settings: Settings) -> str:
    """The VOEvent of an event that grew or ended: an update of its first alert's packet, citing it,
    with the event's whole extent so far (its IVORN ends in ``#<first alert id>-v<revision>``)."""
    latest = event.latest
    as_alert = {**latest, **event.to_record(), "alert_id": event.first_alert_id,
                "processed_unix_s": event.last_seen_unix_s,
                "chunk_created_unix_s": latest.get("chunk_created_unix_s") or event.last_seen_unix_s,
                "kafka_ingest_unix_s": latest.get("kafka_ingest_unix_s") or event.last_seen_unix_s,
                "module_versions": latest.get("module_versions") or {},
                "detector": latest.get("detector") or "unknown", "nenubroker_version": latest.get("nenubroker_version")
                or "", "peak_power": latest.get("peak_power") or 0.0, "chunk_index": latest.get("chunk_index") or 0}
    routing = settings.routing
    reason = (f"event {event.event_id} {'ended' if event.status == 'final' else 'grew'}: {event.n_alerts} alerts, "
              f"{event.duration_s:.1f} s, {event.freq_min_hz / 1e6:.2f}-{event.freq_max_hz / 1e6:.2f} MHz")
    return update(as_alert, event.first_alert_id, revision=event.revision, reason=reason,
                  authority=routing.voevent_authority, stream=routing.voevent_stream,
                  role=role_for_source(latest.get("source") or ""),
                  pointing_ra_deg=latest.get("pointing_ra_deg"), pointing_dec_deg=latest.get("pointing_dec_deg"))


def event_messages(events: Iterable[TrackedEvent], settings: Settings) -> list[OutputMessage]:
    """Each changed event on the events topic; from its second revision on, its VOEvent update too
    (the first sighting's packet is the first alert's own, which the detect stage sent)."""
    topics = settings.kafka.topics
    messages = []
    for event in events:
        value, headers = avro.encode("event", event.to_record())
        messages.append(OutputMessage(topics.events, event.beam.encode(), value, headers))
        if event.revision > 1:
            messages.append(OutputMessage(topics.voevents, event.beam.encode(), event_voevent(event, settings).encode(),
                                          [("content-type", b"application/xml"), ("format", b"voevent-2.0"),
                                           ("event_id", event.event_id.encode())]))
    return messages


__all__ = ["CARRIED_FIELDS", "SHORT_CLASSES", "EventTracker", "TrackedEvent", "continues", "event_messages",
           "event_voevent", "tracker_event_id"]
