"""The alert client on the suite's real Kafka: topics, subscriptions, start positions, groups and lag,
filters, de-duplication, savers, cutout plots, schemas, credentials, and the failures it must survive."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import voeventparse as vp
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from typer.testing import CliRunner, Result

from nenubroker import client
from nenubroker.apps.local_kafka import free_port
from nenubroker.client import AlertSelection, SubscribeStats, consumer_config, subscribe
from nenubroker.client import admin as client_admin
from nenubroker.client import savers as client_io
from nenubroker.client.admin import KafkaUnreachable, consumer_lag, effective_config, list_topics, schema_json
from nenubroker.client.cli import app
from nenubroker.client.savers import read_avro, save_alerts
from nenubroker.conf.settings import SCHEMA_DIR, AlertFilter, RoutingSettings, Settings, load_settings
from nenubroker.kafka import client_config, ensure_topics
from nenubroker.plots.cutout import plot_cutout
from nenubroker.records import avro

pytestmark = pytest.mark.integration

T0 = 1714564800.0  # 2024-05-01T12:00:00Z


def make_alert(i: int, *, beam: str = "beam0", time_peak: float | None = None, label: str | None = "type_iii",
               snr: float = 10.0, freq_min_hz: float = 30e6, freq_max_hz: float = 50e6) -> dict[str, Any]:
    """A valid alert.v1 record with a 32 x 32 float32 cutout (a ramp, so orientation shows)."""
    peak = T0 + 10.0 * i if time_peak is None else time_peak
    return {
        "alert_id": f"alert-{i:04d}", "beam": beam, "chunk_index": i, "time_peak_unix_s": peak,
        "time_start_unix_s": peak - 1.0, "duration_s": 3.0, "freq_peak_hz": (freq_min_hz + freq_max_hz) / 2,
        "freq_min_hz": freq_min_hz, "freq_max_hz": freq_max_hz, "drift_hz_per_s": -5e6, "snr": snr,
        "peak_power": 0.5, "class_label": label, "class_probabilities": {label: 0.9} if label else {},
        "classifier": "classifier_forest 1.0.0" if label else None, "rfi_flagged_fraction": 0.01,
        "cutout": (np.arange(32 * 32, dtype="<f4") / 100).tobytes(), "detector": "burst_search",
        "module_versions": {"burst_search": "1.1.0"}, "nenubroker_version": "0.1.0",
        "chunk_created_unix_s": peak + 2, "kafka_ingest_unix_s": peak + 2.1, "processed_unix_s": peak + 3,
    }


def produce(settings: Settings, topic: str, alerts: list[dict[str, Any]], partition: int | None = None,
            timestamp_ms: int | None = None, version: int | None = None) -> None:
    producer = Producer(client_config(settings.kafka))
    extra: dict[str, Any] = {} if partition is None else {"partition": partition}
    if timestamp_ms is not None:
        extra["timestamp"] = timestamp_ms
    for alert in alerts:
        value, headers = avro.encode("alert", alert, version)
        producer.produce(topic, value, key=alert["beam"].encode(), headers=headers, **extra)
    assert producer.flush(10) == 0


def read(settings: Settings, topics: list[str], **options: Any) -> list[dict[str, Any]]:
    options.setdefault("idle_timeout_s", 4)
    return list(subscribe(topics, settings, **options))


def ids_of(alerts: list[dict[str, Any]]) -> list[str]:
    return [alert["alert_id"] for alert in alerts]


def cli(settings: Settings | None, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``nenubroker client ARGS`` with ``settings`` written to a configuration file."""
    config: list[str] = []
    if settings is not None:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
        config = ["--config", str(path)]
    return CliRunner().invoke(app, [*args, *config], env=env)


@pytest.fixture
def alerts_topic(settings: Settings) -> str:
    ensure_topics(settings.kafka)
    return settings.kafka.topics.alerts


def test_topics_lists_configured_and_filter_topics_with_presence_and_counts(settings, alerts_topic, tmp_path):
    solar = AlertFilter(name="solar", topic=f"{alerts_topic}.solar", description="solar bursts, S/N > 8",
                        expression="snr > 8")
    settings = settings.model_copy(update={"routing": RoutingSettings(filters=[solar])})
    produce(settings, alerts_topic, [make_alert(i) for i in range(3)])
    infos = {info.name: info for info in list_topics(settings)}
    alerts = infos[alerts_topic]
    assert (alerts.exists, alerts.messages, alerts.partitions) == (True, 3, 2)
    assert "every burst alert" in alerts.description
    assert not infos[solar.topic].exists and "solar bursts, S/N > 8" in infos[solar.topic].description
    assert set(infos) >= set(settings.kafka.topics.model_dump().values())
    result = cli(settings, tmp_path, "topics")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith(solar.topic)]
    assert "not yet" in line and "solar bursts" in line


def test_subscribe_reads_several_topics(settings, alerts_topic):
    other = settings.kafka.topics.dead_letter
    produce(settings, alerts_topic, [make_alert(i) for i in range(3)])
    produce(settings, other, [make_alert(i) for i in range(10, 12)])
    got = read(settings, [alerts_topic, other], start="earliest")
    assert sorted(ids_of(got)) == [f"alert-{i:04d}" for i in (0, 1, 2, 10, 11)]


def test_selection_keeps_alerts_by_class_snr_frequency_and_time(settings, alerts_topic):
    produce(settings, alerts_topic, [
        make_alert(0, label="type_iii", snr=12), make_alert(1, label="rfi", snr=30),
        make_alert(2, label=None, snr=9), make_alert(3, label="type_iii", snr=5),
        make_alert(4, freq_min_hz=60e6, freq_max_hz=70e6), make_alert(5, time_peak=T0 + 3600)])

    def kept(selection: AlertSelection) -> set[int]:
        got = read(settings, [alerts_topic], start="earliest", selection=selection)
        return {int(alert_id[-4:]) for alert_id in ids_of(got)}

    assert kept(AlertSelection(classes=("type_iii", "unclassified"))) == {0, 2, 3, 4, 5}
    assert kept(AlertSelection(min_snr=10)) == {0, 1, 4, 5}
    assert kept(AlertSelection(freq_min_hz=55e6, freq_max_hz=80e6)) == {4}
    assert kept(AlertSelection(time_min_unix_s=T0 + 1000, time_max_unix_s=T0 + 4000)) == {5}


def test_cli_subscribe_applies_filters(settings, alerts_topic, tmp_path):
    produce(settings, alerts_topic, [make_alert(0, snr=20), make_alert(1, snr=5), make_alert(2, label="rfi")])
    result = cli(settings, tmp_path, "subscribe", "--topic", alerts_topic, "--from", "beginning",
                 "--timeout", "4", "--class", "type_iii", "--min-snr", "10", "--freq-min", "35",
                 "--freq-max", "40", "--time-max", "2024-05-01T12:10:00Z")
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    assert "alert-0000" in line and "2 filtered out" in result.stderr


def test_start_latest_skips_what_was_already_there(settings, alerts_topic):
    produce(settings, alerts_topic, [make_alert(i) for i in range(3)])
    stop = threading.Event()

    def keep_producing() -> None:
        for i in range(100, 1000):
            if stop.wait(0.3):
                return
            produce(settings, alerts_topic, [make_alert(i)])

    producer = threading.Thread(target=keep_producing)
    producer.start()
    try:
        got = read(settings, [alerts_topic], start="latest", max_messages=2, idle_timeout_s=20)
    finally:
        stop.set()
        producer.join()
    assert len(got) == 2 and all(int(i[-4:]) >= 100 for i in ids_of(got))


@pytest.mark.parametrize("start", ["2024-05-01T12:30:00Z", T0 + 1800, "1714566600"])
def test_start_at_a_time_reads_from_the_first_record_written_after_it(settings, alerts_topic, start):
    produce(settings, alerts_topic, [make_alert(i) for i in range(3)], timestamp_ms=int(T0 * 1000))
    produce(settings, alerts_topic, [make_alert(i) for i in (3, 4)], timestamp_ms=int((T0 + 3600) * 1000))
    assert sorted(ids_of(read(settings, [alerts_topic], start=start))) == ["alert-0003", "alert-0004"]


def test_group_resumes_after_its_committed_position(settings, alerts_topic):
    produce(settings, alerts_topic, [make_alert(i) for i in range(6)], partition=0)
    group = f"g-{alerts_topic}"
    first = read(settings, [alerts_topic], group_id=group, from_beginning=True, max_messages=3)
    assert ids_of(first) == [f"alert-{i:04d}" for i in range(3)]
    assert sum(lag.lag for lag in consumer_lag(settings, group)) == 3
    rest = read(settings, [alerts_topic], group_id=group)  # start="stored" by default with a group
    assert ids_of(rest) == [f"alert-{i:04d}" for i in range(3, 6)]
    replay = read(settings, [alerts_topic], group_id=group, start="earliest")  # an explicit start wins
    assert len(replay) == 6
    with pytest.raises(ValueError, match="needs a group_id"):
        subscribe([alerts_topic], settings, start="stored")


def test_group_reads_again_the_record_being_handled_when_a_session_stops(settings, alerts_topic):
    produce(settings, alerts_topic, [make_alert(i) for i in range(4)], partition=0)
    group = f"alo-{alerts_topic}"
    with contextlib.closing(subscribe([alerts_topic], settings, group_id=group, start="earliest")) as records:
        handled = [next(records), next(records)]  # the second is still being handled when the session stops
    assert ids_of(handled) == ["alert-0000", "alert-0001"]
    resumed = read(settings, [alerts_topic], group_id=group)
    assert ids_of(resumed) == ["alert-0001", "alert-0002", "alert-0003"]


def test_lag_per_partition_and_total(settings, alerts_topic, tmp_path):
    produce(settings, alerts_topic, [make_alert(i) for i in range(5)], partition=0)
    produce(settings, alerts_topic, [make_alert(i) for i in range(5, 8)], partition=1)
    group = f"lag-{alerts_topic}"
    committer = Consumer(consumer_config(settings, group))
    committer.commit(offsets=[TopicPartition(alerts_topic, 0, 2), TopicPartition(alerts_topic, 1, 3)],
                     asynchronous=False)
    committer.close()
    lags = consumer_lag(settings, group, [alerts_topic])
    assert {(lag.partition, lag.committed, lag.end, lag.lag) for lag in lags} == {(0, 2, 5, 3), (1, 3, 3, 0)}
    result = cli(settings, tmp_path, "lag", "--group", group)
    assert result.exit_code == 0, result.output
    assert f"total lag of {group}: 3" in result.stdout
    assert "no committed positions" in cli(settings, tmp_path, "lag", "--group", "nobody").stdout
    missing = cli(settings, tmp_path, "lag", "--group", group, "--topic", "no.such.topic")
    assert missing.exit_code == 1 and "topic no.such.topic does not exist" in missing.stderr


def test_repeated_alert_ids_are_yielded_once(settings, alerts_topic):
    produce(settings, alerts_topic, [make_alert(i) for i in (0, 1, 0, 2, 1)], partition=0)
    stats = SubscribeStats()
    got = read(settings, [alerts_topic], start="earliest", stats=stats)
    assert ids_of(got) == ["alert-0000", "alert-0001", "alert-0002"] and stats.duplicates == 2
    assert len(read(settings, [alerts_topic], start="earliest", dedupe=False)) == 5


def _features(directory: Path) -> list[str]:
    catalogues = [json.loads(path.read_text()) for path in directory.rglob("*.tfcat.json")]
    return [feature["id"] for catalogue in catalogues for feature in catalogue["features"]]


def test_saves_exactly_the_alerts_sent_in_every_format(settings, alerts_topic, tmp_path):
    sent = [make_alert(i, beam=f"beam{i % 2}", time_peak=T0 + 86_400 * (i % 3) + i) for i in range(25)]
    for alert in sent[10:]:
        alert["source"] = "simulator" if alert["chunk_index"] % 2 else "nenufar"  # alert v2 says where from
    produce(settings, alerts_topic, sent[:10], version=1)  # written before the schema changed
    produce(settings, alerts_topic, sent[10:] + sent[:5])  # an at-least-once upstream repeated five
    paths = save_alerts(read(settings, [alerts_topic], start="earliest"), client_io.FORMATS, tmp_path)
    ids = sorted(ids_of(sent))
    [avro_file], [parquet_file] = paths["avro"], paths["parquet"]
    assert sorted(ids_of(read_avro(avro_file))) == ids
    assert sorted(pq.read_table(parquet_file).column("alert_id").to_pylist()) == ids
    assert sorted(p.stem for p in paths["voevent"]) == ids == sorted(p.stem for p in tmp_path.rglob("*.xml"))
    assert sorted(_features(tmp_path / "tfcat")) == ids and len(paths["tfcat"]) == 6  # 3 nights x 2 beams
    assert read_avro(avro_file)[0]["cutout"] == sent[0]["cutout"]
    roles = {p.stem: vp.load(p.open("rb")).attrib["role"] for p in paths["voevent"]}
    assert roles["alert-0011"] == "test" and roles["alert-0012"] == roles["alert-0001"] == "observation"


def test_cli_saves_exactly_the_alerts_sent_with_the_role_given(settings, alerts_topic, tmp_path):
    sent = [make_alert(i) for i in range(7)]
    produce(settings, alerts_topic, sent + sent[:2])
    out = tmp_path / "out"
    saves = [arg for fmt in client_io.FORMATS for arg in ("--save", fmt)]
    result = cli(settings, tmp_path, "subscribe", "--topic", alerts_topic, "--from-beginning",
                 "--timeout", "4", "--quiet", *saves, "--role", "test", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "2 repeats dropped" in result.stderr
    assert len(read_avro(next(out.glob("*.avro")))) == 7
    assert pq.read_table(next(out.glob("*.parquet"))).num_rows == 7
    packets = sorted((out / "voevent").glob("*.xml"))
    assert len(packets) == 7 and {vp.load(p.open("rb")).attrib["role"] for p in packets} == {"test"}
    assert len(_features(out / "tfcat")) == 7


def test_plot_cutout_axes_span_the_alerts_time_and_frequency(settings, alerts_topic, tmp_path):
    alert = make_alert(3, label="spike", snr=17.25)
    axes = plot_cutout(alert, tmp_path / "cutout.png").axes[0]
    assert axes.get_xlim() == (-1.0, 2.0) and axes.get_ylim() == (30.0, 50.0)
    assert "spike" in axes.get_title() and "S/N 17.2" in axes.get_title()
    assert "2024-05-01T12:00:30.000Z" in axes.get_xlabel()
    assert (tmp_path / "cutout.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    produce(settings, alerts_topic, [make_alert(0), alert])
    png = tmp_path / "from-topic.png"
    result = cli(settings, tmp_path, "plot", alert["alert_id"], "--topic", alerts_topic, "--output", str(png),
                 "--timeout", "4")
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 1000


def test_schema_dump_is_the_avro_json_of_a_record_type_and_version(tmp_path):
    newest = avro.known_versions("alert")[-1]
    assert json.loads(schema_json("alert")) == json.loads((SCHEMA_DIR / f"alert.v{newest}.avsc").read_text())
    assert json.loads(schema_json("alert", 1)) == json.loads((SCHEMA_DIR / "alert.v1.avsc").read_text())
    result = cli(None, tmp_path, "schema", "dead_letter", "--version", "1")
    assert result.exit_code == 0 and json.loads(result.stdout)["name"] == "DeadLetter"
    missing = cli(None, tmp_path, "schema", "alert", "--version", "99")
    assert missing.exit_code == 1 and "has no version 99" in missing.stderr


SASL_ENV = {
    "NENUBROKER_KAFKA__BOOTSTRAP_SERVERS": "broker.example.org:9094",
    "NENUBROKER_KAFKA__SECURITY__PROTOCOL": "SASL_SSL",
    "NENUBROKER_KAFKA__SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
    "NENUBROKER_KAFKA__SECURITY__SASL_USERNAME": "astro",
    "NENUBROKER_KAFKA__SECURITY__SASL_PASSWORD": "s3cret",
    "NENUBROKER_KAFKA__SECURITY__SSL_CA_LOCATION": "/etc/ssl/certs/ca.pem",
}


def test_credentials_from_environment_reach_the_consumer(tmp_path):
    config = consumer_config(load_settings(env=SASL_ENV))
    assert {key: config[key] for key in ("bootstrap.servers", "security.protocol", "sasl.mechanism",
                                         "sasl.username", "sasl.password", "ssl.ca.location")} == {
        "bootstrap.servers": "broker.example.org:9094", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "astro", "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ssl/certs/ca.pem"}
    assert effective_config(load_settings(env=SASL_ENV))["sasl.password"] == "***"
    result = cli(None, tmp_path, "config", env=SASL_ENV)
    assert result.exit_code == 0 and "sasl.mechanism = SCRAM-SHA-512" in result.stdout
    assert "s3cret" not in result.stdout and "sasl.password = ***" in result.stdout


def test_missing_topic_is_reported_and_read_once_it_appears(settings, alerts_topic):
    late = f"{alerts_topic}.late"
    statuses: list[str] = []

    def create_then_produce() -> None:
        time.sleep(3)
        ensure_topics(settings.kafka, [late])
        produce(settings, late, [make_alert(0), make_alert(1)])

    maker = threading.Thread(target=create_then_produce)
    maker.start()
    got = read(settings, [late], max_messages=2, idle_timeout_s=30, on_status=statuses.append)
    maker.join()
    assert ids_of(got) == ["alert-0000", "alert-0001"]
    assert f"topic {late} does not exist yet" in statuses[0] and alerts_topic in statuses[0]
    assert any(f"topic {late} now exists" in s for s in statuses)


def test_unreachable_broker_gives_a_clear_message_after_a_bounded_wait(settings, tmp_path):
    nowhere = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})})
    where = nowhere.kafka.bootstrap_servers
    began = time.monotonic()
    with pytest.raises(KafkaUnreachable, match=rf"cannot reach Kafka at {where} \(2 s\)"):
        list_topics(nowhere, timeout_s=2)
    assert time.monotonic() - began < 6
    result = cli(nowhere, tmp_path, "topics", "--timeout", "1")
    assert result.exit_code == 1 and f"cannot reach Kafka at {where} (1 s)" in result.stderr
    statuses: list[str] = []
    got = read(nowhere, ["anything"], connect_timeout_s=1, idle_timeout_s=4, on_status=statuses.append)
    assert got == [] and any(s.startswith(f"cannot reach Kafka at {where} (") and "still trying" in s
                             for s in statuses)


def test_undecodable_record_is_reported_with_its_position_and_skipped(settings, alerts_topic, tmp_path):
    producer = Producer(client_config(settings.kafka))
    producer.produce(alerts_topic, b"garbage", partition=0, headers=[("schema", b"alert"),
                                                                     ("schema_version", b"1")])
    producer.flush(10)
    produce(settings, alerts_topic, [make_alert(0)], partition=0)
    skipped: list[str] = []
    got = read(settings, [alerts_topic], start="earliest",
               on_error=lambda m, e: skipped.append(f"{m.topic()}[{m.partition()}]@{m.offset()}: {e}"))
    assert ids_of(got) == ["alert-0000"]
    [report] = skipped
    assert report.startswith(f"{alerts_topic}[0]@0: not a 'alert' v1 Avro record")
    result = cli(settings, tmp_path, "subscribe", "--topic", alerts_topic, "--from", "beginning",
                 "--timeout", "4")
    assert result.exit_code == 0 and f"skipped {alerts_topic}[0]@0: not a 'alert' v1" in result.stderr
    assert "alert-0000" in result.stdout and "1 undecodable skipped" in result.stderr


def test_bad_start_is_refused_before_reading(settings, tmp_path):
    with pytest.raises(ValueError, match="not earliest/beginning"):
        subscribe(["x"], settings, start="yesterday-ish")
    result = cli(None, tmp_path, "subscribe", "--from", "stored")
    assert result.exit_code == 2 and "needs a group_id" in result.output


def test_public_names_exist():
    for module in (client, client_admin, client_io):
        assert all(hasattr(module, name) for name in module.__all__), module.__name__
