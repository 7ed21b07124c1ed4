"""A real single-node Apache Kafka broker in KRaft mode on loopback, run from Maven Central jars.

Used by ``nenubroker demo`` and by the test suite; production brokers are configured with
``kafka.bootstrap_servers`` instead. The node is one process (``kafka.Kafka``) acting as both
broker and controller; its storage is formatted once with a fresh cluster id.

>>> # with LocalKafka(settings.local_kafka, Path(".cache/run/kafka"), jar_dir) as kafka:
>>> #     print(kafka.bootstrap_servers)
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from nenubroker.apps.jars import classpath
from nenubroker.conf.settings import LocalKafkaSettings

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=2
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes={max_message_bytes}
log.retention.hours=168
"""

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message carries the end of its log."""


class LocalKafka:
    """Start, wait for, and stop one KRaft node; usable as a context manager."""

    def __init__(self, settings: LocalKafkaSettings, work_dir: Path, jar_dir: Path,
                 max_message_bytes: int = 8 * 1024 * 1024, log_level: str = "INFO"):
        self.settings = settings
        self.work_dir = Path(work_dir).resolve()
        self.jar_dir = Path(jar_dir)
        self.max_message_bytes = max_message_bytes
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "kafka.log"

    def _java(self, main_class: str, *args: str) -> list[str]:
        heap = self.settings.heap
        return [
            "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.work_dir}",
            "-cp", os.pathsep.join(classpath(self.jar_dir)), main_class, *args,
        ]

    def _write_config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        properties = self.work_dir / "server.properties"
        properties.write_text(_SERVER_PROPERTIES.format(
            host=self.settings.host, port=self.settings.port,
            controller_port=self.settings.controller_port,
            data_dir=self.work_dir / "data", max_message_bytes=self.max_message_bytes,
        ))
        (self.work_dir / "log4j2.properties").write_text(
            _LOG4J2.format(log_file=self.log_file, level=self.log_level))
        return properties

    def _format_storage(self, properties: Path) -> None:
        if (self.work_dir / "data" / "meta.properties").is_file():
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the storage tool would read a leading '-' as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise KafkaStartError(f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}")

    def _log_tail(self, lines: int = 40) -> str:
        if not self.log_file.is_file():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> LocalKafka:
        host, port = self.settings.host, self.settings.port
        for taken in (port, self.settings.controller_port):
            if _port_open(host, taken):
                raise KafkaStartError(
                    f"port {host}:{taken} is already in use; stop what holds it or set "
                    "NENUBROKER_LOCAL_KAFKA__PORT / NENUBROKER_LOCAL_KAFKA__CONTROLLER_PORT")
        properties = self._write_config()
        self._format_storage(properties)
        stdout = open(self.work_dir / "kafka.stdout", "ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(properties)),
            stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True,
        )
        stdout.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        admin = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise KafkaStartError(f"Kafka exited with code {self.process.returncode}:\n{self._log_tail()}")
            if _port_open(self.settings.host, self.settings.port):
                # Created only once the port answers, so librdkafka does not log refused connections.
                admin = admin or AdminClient({"bootstrap.servers": self.bootstrap_servers})
                try:
                    metadata = admin.list_topics(timeout=2)
                    if metadata.brokers:
                        return
                except Exception:  # not ready yet: the listener is up before the metadata is
                    pass
            time.sleep(0.5)
        self.stop()
        raise KafkaStartError(
            f"Kafka did not answer on {self.bootstrap_servers} within "
            f"{self.settings.startup_timeout_s:.0f} s:\n{self._log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM for a clean shutdown, SIGKILL if it does not end in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["KafkaStartError", "LocalKafka", "free_port"]
