"""Where alerts go besides the main alert topic: user filters' topics, recording triggers, and
batch-job requests.

Pure pandas on the table of alerts of one batch; the detect stage encodes what these select.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

import pandas as pd

from nenubroker.conf.settings import AlertFilter, BatchRule, TriggerRule

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


def trigger_record(alert: dict, rule: TriggerRule, now_unix_s: float) -> dict:
    """The trigger for one alert: its time and frequency window (the edge adds padding)."""
    return {
        "trigger_id": f"{alert['alert_id']}-{rule.name}",
        "beam": alert["beam"],
        "time_start_unix_s": alert["time_start_unix_s"],
        "time_stop_unix_s": alert["time_start_unix_s"] + alert["duration_s"],
        "freq_min_hz": alert["freq_min_hz"],
        "freq_max_hz": alert["freq_max_hz"],
        "reason": f"rule {rule.name}: {alert['class_label'] or 'unclassified'} S/N {alert['snr']:.1f}",
        "alert_id": alert["alert_id"],
        "created_unix_s": now_unix_s,
    }


def batch_request_record(alert: dict, rule: BatchRule, now_unix_s: float) -> dict:
    """A batch-job request over the alert's time window widened by the rule's padding."""
    return {
        "request_id": f"{alert['alert_id']}-{rule.name}",
        "recipe": rule.recipe,
        "time_start_unix_s": alert["time_start_unix_s"] - rule.padding_s,
        "time_stop_unix_s": alert["time_start_unix_s"] + alert["duration_s"] + rule.padding_s,
        "freq_min_hz": alert["freq_min_hz"],
        "freq_max_hz": alert["freq_max_hz"],
        "reason": f"rule {rule.name}: {alert['class_label'] or 'unclassified'} S/N {alert['snr']:.1f}",
        "alert_id": alert["alert_id"],
        "requested_by": f"rule:{rule.name}",
        "created_unix_s": now_unix_s,
    }


__all__ = ["batch_request_record", "FilterError", "load_function", "select", "trigger_record", "triggered"]
