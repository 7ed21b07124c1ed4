"""Where the alerts of a batch go: the alert topic, the topics of the user filters that select
them, recording triggers and batch-job requests per rule, and a VOEvent packet each.

Pure: rule and filter verdicts are pandas on the table of the batch's alerts, and :func:`route`
returns the messages for Spark's Kafka sink. Nothing is written anywhere else; subscribers save
VOEvents to folders themselves (``nenubroker client subscribe --save voevent``).

>>> import pandas as pd
>>> table = pd.DataFrame({"snr": [25.0, 9.0], "class_label": ["type_iii", None], "class_probabilities": [{}, {}]})
>>> triggered(table, TriggerRule(name="bright", min_snr=20)).tolist()
[True, False]
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache

import numpy as np
import pandas as pd

from nenubroker.broker.messages import OutputMessage
from nenubroker.conf.settings import AlertFilter, BatchRule, RoutingSettings, Settings, TriggerRule
from nenubroker.formats.voevent import alert_to_voevent, role_for_source
from nenubroker.records.alert import Alert
from nenubroker.records.batch_request import BatchRequest
from nenubroker.records.trigger import Trigger

FilterFunction = Callable[[pd.DataFrame], pd.Series]


class FilterError(ValueError):
    """A filter that cannot be loaded or does not return one boolean per alert."""


@cache
def load_function(reference: str) -> FilterFunction:
    """``package.module:function`` -> the function."""
    module_name, _, name = reference.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise FilterError(f"cannot load filter function {reference!r}: {error}") from None


def select(alerts: pd.DataFrame, alert_filter: AlertFilter) -> pd.Series:
    """The filter's verdict on each alert (aligned with ``alerts``' index)."""
    if (alert_filter.expression is None) == (alert_filter.function is None):
        raise FilterError(f"filter {alert_filter.name!r} needs exactly one of 'expression' or 'function'")
    if alert_filter.expression is not None:
        mask = alerts.eval(alert_filter.expression)
    else:
        mask = load_function(alert_filter.function)(alerts)
    if not isinstance(mask, pd.Series) or len(mask) != len(alerts):
        raise FilterError(f"filter {alert_filter.name!r} must return one boolean per alert")
    return mask.fillna(False).astype(bool)


def triggered(alerts: pd.DataFrame, rule: TriggerRule | BatchRule) -> pd.Series:
    """Alerts a trigger or batch rule selects: class among ``classes`` (any if empty), S/N and
    class probability at least the rule's minimums."""
    mask = alerts["snr"] >= rule.min_snr
    if rule.classes:
        mask &= alerts["class_label"].isin(rule.classes)
    if rule.min_probability > 0:
        best = alerts["class_probabilities"].map(lambda p: max(p.values()) if p else 0.0)
        mask &= best >= rule.min_probability
    return mask


def alert_table(alerts: Sequence[Alert]) -> pd.DataFrame:
    """One row per alert, one column per alert field: what filters and rules select on."""
    return pd.DataFrame([alert.to_record() for alert in alerts])


def _selected(mask: pd.Series) -> list[int]:
    return np.flatnonzero(mask.to_numpy()).tolist()


def voevent_message(alert: Alert, routing: RoutingSettings, topic: str) -> OutputMessage:
    """The alert's VOEvent 2.0 packet (role ``test`` for simulated data), keyed by beam."""
    xml = alert_to_voevent(alert.to_record(), authority=routing.voevent_authority, stream=routing.voevent_stream,
                           role=role_for_source(alert.source), pointing_ra_deg=alert.pointing_ra_deg,
                           pointing_dec_deg=alert.pointing_dec_deg)
    return OutputMessage(topic, alert.beam.encode(), xml.encode(),
                         [("content-type", b"application/xml"), ("format", b"voevent-2.0"),
                          ("alert_id", alert.alert_id.encode())])


def route(alerts: Sequence[Alert], settings: Settings, now_unix_s: float) -> list[OutputMessage]:
    """The messages of a batch's alerts: triggers and batch requests per rule, then each alert (with
    the ids of the triggers it caused) to the alert topic and its filters' topics, and its VOEvent."""
    if not alerts:
        return []
    topics, routing = settings.kafka.topics, settings.routing
    table = alert_table(alerts)
    triggers = [(i, Trigger.for_alert(alerts[i], rule, now_unix_s))
                for rule in routing.triggers for i in _selected(triggered(table, rule))]
    messages = [OutputMessage.of(topics.triggers, trigger.beam, trigger) for _, trigger in triggers]
    messages += [OutputMessage.of(topics.batch_requests, alerts[i].beam,
                                  BatchRequest.for_alert(alerts[i], rule, now_unix_s))
                 for rule in routing.batch_requests for i in _selected(triggered(table, rule))]
    destinations = [[topics.alerts] for _ in alerts]
    for alert_filter in routing.filters:
        for i in _selected(select(table, alert_filter)):
            destinations[i].append(alert_filter.topic)
    for i, (alert, topic_list) in enumerate(zip(alerts, destinations)):
        caused = [trigger.trigger_id for row, trigger in triggers if row == i]
        alert = replace(alert, trigger_ids=[*alert.trigger_ids, *caused])
        value, headers = alert.encode()
        messages += [OutputMessage(topic, alert.beam.encode(), value, headers) for topic in topic_list]
        messages.append(voevent_message(alert, routing, topics.voevents))
    return messages


__all__ = ["FilterError", "alert_table", "load_function", "route", "select", "triggered", "voevent_message"]
