"""The README's run command: the whole pipeline as separate processes, then nothing left behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nenubroker.apps.local_kafka import free_port

pytestmark = pytest.mark.integration


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_demo_streams_alerts_and_stops_cleanly(settings, tmp_path):
    run_dir = tmp_path / "demo-run"
    config = settings.model_dump(mode="json")
    config["local_kafka"].update(port=free_port(), controller_port=free_port())
    config["simulator"].update(realtime=True, event_rates_per_min={"type_iii": 6.0, "spike": 12.0})
    config["paths"].update(run_dir=str(run_dir), checkpoint_dir=str(tmp_path / "demo-checkpoints"))
    config_file = tmp_path / "demo.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "nenubroker.cli", "demo", "--duration", "90", "--config", str(config_file)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    alert_lines = [line for line in result.stdout.splitlines() if "burst_search" in line]
    assert alert_lines, result.stdout
    summary = result.stdout[result.stdout.index("summary"):]
    assert f"{len(alert_lines)} alerts" in summary and "events injected" in summary
    assert (run_dir / "truth.jsonl").is_file()
    assert _processes_mentioning(str(run_dir)) == []  # Kafka, the edge and spark-submit all name it
