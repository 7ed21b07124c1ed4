"""The alert client: subscribe to topics (``subscribe``), inspect the broker (``admin``), save
alerts in community formats (``savers``), and the ``nenubroker client`` commands (``cli``)."""

from nenubroker.client.subscribe import (
    AlertSelection,
    SubscribeStats,
    consumer_config,
    format_alert,
    parse_start,
    parse_time,
    subscribe,
)

__all__ = ["AlertSelection", "SubscribeStats", "consumer_config", "format_alert", "parse_start", "parse_time",
           "subscribe"]
