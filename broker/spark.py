"""SparkSession and spark-submit settings shared by every stage, built from the one configuration."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from nenubroker.apps.jars import classpath, resolve_jars
from nenubroker.conf.settings import Settings


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for a stage: connector jars, this interpreter for Python workers, quiet logs."""
    jars = classpath(resolve_jars("spark-connectors", settings.paths.cache_dir))
    conf = {
        "spark.master": settings.spark.master,
        "spark.app.name": settings.spark.app_name,
        "spark.jars": ",".join(jars),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "256",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        # the events stage's transformWithState needs it; a checkpoint keeps the provider it was made with
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    }
    conf.update(settings.spark.extra_conf)
    return conf


def spark_submit_command(settings: Settings, script: Path, *args: str) -> list[str]:
    """``spark-submit`` of a stage's entry-point file, with the same settings as ``get_session``."""
    import pyspark

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    conf = spark_conf(settings)
    command = [str(submit), "--master", conf.pop("spark.master"), "--jars", conf.pop("spark.jars")]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(script), *args]


def get_session(settings: Settings) -> SparkSession:
    """The active session, or a new one configured from ``settings`` (under spark-submit, the
    master and jars of its command line)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    conf = spark_conf(settings)
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # launched by spark-submit: its --master and --jars rule
        conf = {k: v for k, v in conf.items() if k not in ("spark.master", "spark.jars")}
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


__all__ = ["get_session", "spark_conf", "spark_submit_command"]
