"""Batch-job requests on the suite's Kafka: durable, with a status anyone can read."""

import pytest
from typer.testing import CliRunner

from nenubroker.batch.requests import list_requests, report_status, submit
from nenubroker.broker.routing import triggered
from nenubroker.conf.settings import BatchRule
from nenubroker.kafka import ensure_all_topics
from nenubroker.records.alert import Alert
from nenubroker.records.batch_request import BatchRequest


def test_rule_selects_alerts_and_pads_their_window():
    import pandas as pd

    alerts = pd.DataFrame({"snr": [25.0, 30.0], "class_label": ["type_iii", "spike"],
                           "class_probabilities": [{"type_iii": 0.9}, {"spike": 0.9}]})
    rule = BatchRule(name="img", classes=["type_iii"], min_snr=20, min_probability=0.8, padding_s=30)
    assert triggered(alerts, rule).tolist() == [True, False]
    alert = Alert(alert_id="a", beam="beam0", chunk_index=0, time_peak_unix_s=101.0, time_start_unix_s=100.0,
                  duration_s=2.0, freq_peak_hz=1.5, freq_min_hz=1.0, freq_max_hz=2.0, drift_hz_per_s=0.0,
                  snr=25.0, peak_power=1.0, class_label="type_iii", cutout=b"", detector="d", module_versions={},
                  nenubroker_version="x", chunk_created_unix_s=0.0, kafka_ingest_unix_s=0.0, processed_unix_s=0.0)
    request = BatchRequest.for_alert(alert, rule, 0.0).to_record()
    assert (request["time_start_unix_s"], request["time_stop_unix_s"]) == (70.0, 132.0)
    assert request["request_id"] == "a-img" and request["requested_by"] == "rule:img"


@pytest.mark.integration
def test_requests_are_listed_with_their_latest_status(settings):
    ensure_all_topics(settings)
    first = submit(settings, "image_window", 100.0, 160.0, reason="by hand")
    second = submit(settings, "image_window", 200.0, 260.0)
    report_status(settings, second, "queued")
    report_status(settings, second, "done", products=["cube.fits"])
    listed = {r["request_id"]: r for r in list_requests(settings)}
    assert listed[first]["status"] == "requested" and listed[first]["reason"] == "by hand"
    assert listed[second]["status"] == "done" and listed[second]["products"] == ["cube.fits"]


@pytest.mark.integration
def test_status_command_prints_each_request(settings, tmp_path):
    import yaml

    from nenubroker.cli import app

    ensure_all_topics(settings)
    request_id = submit(settings, "image_window", 1.0, 2.0, reason="cli")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    result = CliRunner().invoke(app, ["batch", "status", "--config", str(config)])
    assert result.exit_code == 0 and request_id in result.output and "requested" in result.output
