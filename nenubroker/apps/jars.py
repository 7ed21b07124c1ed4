"""Java dependencies resolved once from Maven Central into the cache, keyed by their POM.

``conf/maven/<set>/pom.xml`` declares each set (the Kafka broker, Spark's Kafka connector).
``mvn dependency:copy-dependencies`` copies the runtime jars into ``<cache>/jars/<set>``; a stamp
holding the POM's hash makes the next call instant, and a changed POM resolves again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from nenubroker.conf.settings import CONF_DIR

JAR_SETS = ("kafka-broker", "spark-connectors")
_STAMP = ".pom-sha256"
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def _pom(jar_set: str) -> Path:
    if jar_set not in JAR_SETS:
        raise ValueError(f"unknown jar set {jar_set!r}; known: {JAR_SETS}")
    return CONF_DIR / "maven" / jar_set / "pom.xml"


def _artifact(jar_name: str) -> str:
    match = _VERSIONED_JAR.match(jar_name)
    return match.group("artifact") if match else jar_name


def _drop_jars_spark_has(folder: Path) -> None:
    """Keep only what pyspark lacks: two versions of one library on a classpath break at run time."""
    import pyspark

    shipped = {_artifact(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    for jar in folder.glob("*.jar"):
        if _artifact(jar.name) in shipped:
            jar.unlink()


def resolve_jars(jar_set: str, cache_dir: Path) -> Path:
    """The folder of ``jar_set``'s jars, resolving them with Maven if the cache is missing or stale."""
    pom = _pom(jar_set)
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    target = Path(cache_dir).resolve() / "jars" / jar_set
    stamp = target / _STAMP
    if stamp.is_file() and stamp.read_text() == digest:
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch the Java dependencies; "
                           "install it (apt-get install maven)")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"resolving {jar_set} jars failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    if jar_set == "spark-connectors":
        _drop_jars_spark_has(staging)
    (staging / _STAMP).write_text(digest)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def classpath(folder: Path) -> list[str]:
    return sorted(str(p) for p in Path(folder).glob("*.jar"))


__all__ = ["JAR_SETS", "classpath", "resolve_jars"]
