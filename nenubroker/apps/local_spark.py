"""A standalone Spark cluster on loopback: one master and N workers, from pyspark's own jars.

``nenubroker cluster start`` runs it in the background (its process ids in
``<run_dir>/spark-cluster/pids.json``, so ``nenubroker cluster stop`` can end it from another
shell); tests use it as a context manager. Jobs then run on it with ``--master spark://host:port``
exactly as on a production cluster whose workers share the filesystem holding the Measurement Sets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pyspark

from nenubroker.conf.settings import SparkClusterSettings


class SparkClusterError(RuntimeError):
    """The cluster did not come up; the message carries the end of the logs."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class LocalSparkCluster:
    def __init__(self, settings: SparkClusterSettings, work_dir: Path) -> None:
        self.settings = settings
        self.work_dir = Path(work_dir).resolve()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def master_url(self) -> str:
        return f"spark://{self.settings.host}:{self.settings.master_port}"

    @property
    def pid_file(self) -> Path:
        return self.work_dir / "pids.json"

    def _spark_class(self, *args: str, log_name: str) -> subprocess.Popen[bytes]:
        spark_home = Path(pyspark.__file__).parent
        env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_NO_DAEMONIZE": "1",
               "SPARK_LOG_DIR": str(self.work_dir), "SPARK_WORKER_DIR": str(self.work_dir / "work")}
        with (self.work_dir / log_name).open("ab") as log:
            return subprocess.Popen([str(spark_home / "bin" / "spark-class"), *args], stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def master_state(self) -> dict:
        """The master's JSON status page (workers and their state)."""
        url = f"http://{self.settings.host}:{self.settings.master_webui_port}/json/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)

    def start(self) -> LocalSparkCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        host = self.settings.host
        self.processes.append(self._spark_class(
            "org.apache.spark.deploy.master.Master", "--host", host, "--port", str(self.settings.master_port),
            "--webui-port", str(self.settings.master_webui_port), log_name="master.log"))
        for index in range(self.settings.workers):
            self.processes.append(self._spark_class(
                "org.apache.spark.deploy.worker.Worker", self.master_url, "--host", host,
                "--cores", str(self.settings.worker_cores), "--memory", self.settings.worker_memory,
                "--webui-port", "0", "--work-dir", str(self.work_dir / "work"), log_name=f"worker-{index}.log"))
        self.pid_file.write_text(json.dumps([p.pid for p in self.processes]))
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                break
            try:
                workers = [w for w in self.master_state().get("workers", []) if w.get("state") == "ALIVE"]
                if len(workers) >= self.settings.workers:
                    return
            except OSError:  # the master's page is not up yet
                pass
            time.sleep(0.5)
        logs = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                         for p in sorted(self.work_dir.glob("*.log")))
        self.stop()
        raise SparkClusterError(f"the Spark cluster at {self.master_url} did not get {self.settings.workers} "
                                f"workers within {self.settings.startup_timeout_s:.0f} s:\n{logs}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop this object's processes, or those a ``start`` in another process recorded."""
        pids = [p.pid for p in self.processes]
        if not pids and self.pid_file.is_file():
            pids = json.loads(self.pid_file.read_text())
        for pid in reversed(pids):  # workers first, then the master
            if _alive(pid):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        self.processes = []
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> LocalSparkCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["LocalSparkCluster", "SparkClusterError"]
