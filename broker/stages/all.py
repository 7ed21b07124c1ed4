"""Every streaming stage of the broker in one driver: ``detect`` (chunks -> alerts) and ``events``
(alerts -> one event per burst), each with its own query and checkpoint.

One driver saves a second JVM and Spark session on a small machine (the demo runs this); on a
cluster the stages can equally run as separate spark-submit jobs.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from nenubroker.broker.stages import detect, events, run_stage
from nenubroker.conf.settings import Settings


def start(spark: SparkSession, settings: Settings, available_now: bool = False) -> list[StreamingQuery]:
    """Start both stages; ``available_now`` processes what is on their topics, then stops."""
    return [detect.start(spark, settings, available_now), events.start(spark, settings, available_now)]


def main(argv: list[str] | None = None) -> None:
    run_stage(start, __doc__.splitlines()[0], argv)


__all__ = ["main", "start"]

if __name__ == "__main__":
    main()
