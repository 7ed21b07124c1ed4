"""Streaming stages, one entry point and one checkpoint each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def run_stage(start: Callable[..., Any], description: str, argv: list[str] | None = None) -> None:
    """A stage's command line: ``--config``, ``--available-now``; runs until its queries end or Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", help="configuration file (default: conf/nenubroker.yaml or $NENUBROKER_CONFIG)")
    parser.add_argument("--available-now", action="store_true", help="process what is on the topics, then stop")
    args = parser.parse_args(argv)
    from nenubroker.broker.spark import get_session
    from nenubroker.conf.settings import load_settings

    settings = load_settings(args.config)
    spark = get_session(settings)
    started = start(spark, settings, available_now=args.available_now)
    queries = started if isinstance(started, list) else [started]
    try:
        for query in queries:
            query.awaitTermination()
    except KeyboardInterrupt:
        for query in queries:
            query.stop()
    finally:
        spark.stop()


__all__ = ["run_stage"]
