"""The recipe on Spark: partitioned against unpartitioned, retries and failures, the standalone
cluster through spark-submit, and batch requests from Kafka (real Spark, real Kafka, real tools)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.wcs import WCS
from pyspark import cloudpickle

from nenubroker.apps.local_kafka import free_port
from nenubroker.apps.local_spark import LocalSparkCluster
from nenubroker.batch.generate import load_truth
from nenubroker.batch.partition import MsTimeAxis
from nenubroker.batch.pipeline import Pipeline
from nenubroker.batch.recipe import PartitionSpec, Recipe, StepSpec, load_recipe
from nenubroker.batch.requests import list_requests, submit
from nenubroker.batch.runner import run_partitions
from nenubroker.batch.steps.base import Step, StepError
from nenubroker.conf.settings import load_settings
from nenubroker.kafka import ensure_all_topics

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _recipe(time_solutions: int, channels: int) -> Recipe:
    recipe = load_recipe("image_window", load_settings(env={}))
    return recipe.model_copy(update={"partition": PartitionSpec(
        solution_intervals_per_partition=time_solutions, channels_per_partition=channels)})


def _source_pixels(image: Path, ms: Path) -> list[tuple[int, int]]:
    wcs = WCS(fits.getheader(image)).celestial
    return [tuple(int(round(float(v))) for v in wcs.all_world2pix(s["ra_deg"], s["dec_deg"], 0))
            for s in load_truth(ms).sources]


def test_partitioned_and_unpartitioned_runs_give_the_same_image(spark, tiny_ms: Path, tmp_path: Path):
    whole = Pipeline(_recipe(100, 0), tiny_ms, tmp_path / "whole")
    assert len(whole.plan()) == 1
    whole_report = run_partitions(whole, whole.plan(), spark)
    split = Pipeline(_recipe(2, 4), tiny_ms, tmp_path / "split")
    split_report = run_partitions(split, split.plan(), spark)
    assert not whole_report.failed and not split_report.failed and len(split_report.results) == 4

    full = np.squeeze(fits.getdata(whole_report.results[0].products["fits"]))
    with fits.open(split_report.merged["fits"]) as cube:
        planes, header = cube[0].data, cube[0].header
    assert planes.shape[:2] == (2, 2)  # (time, frequency) partitions
    cube_wcs = WCS(header)
    axis = MsTimeAxis.read(tiny_ms)
    freq_hz = cube_wcs.sub(["spectral"]).all_pix2world([0, 1], 0)[0]
    assert freq_hz == pytest.approx([axis.freqs_hz[:4].mean(), axis.freqs_hz[4:].mean()], rel=1e-6)

    mean = planes.reshape(-1, *full.shape).mean(axis=0)
    noise = np.std(full[:40, :40])  # a corner without sources
    for x, y in _source_pixels(whole_report.results[0].products["fits"], tiny_ms):
        assert abs(mean[y, x] - full[y, x]) < max(5 * noise, 0.05 * full[y, x])
    difference = mean - full
    assert np.sqrt(np.mean(difference ** 2)) < 3 * noise


class FlakyStep(Step):
    """Fails the first attempt on t000, every attempt on t001 (counted in a file beside the work)."""

    name = "flaky"

    def run(self, inputs: dict[str, Path], out_dir: Path) -> dict[str, Path]:
        partition = out_dir.parent.name
        counter = out_dir.parents[2] / f"attempts-{partition}"
        attempt = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempt))
        (out_dir / "flaky.log").write_text(f"tool output of attempt {attempt}\n")
        if partition == "t001_f000" or (partition == "t000_f000" and attempt == 1):
            raise StepError(f"flaky: attempt {attempt} on {partition} failed")
        return {"ms": inputs["ms"]}


def test_a_failed_partition_is_retried_then_reported_and_the_others_complete(spark, tiny_ms: Path, tmp_path: Path):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # executors cannot import a test module
    recipe = Recipe(name="flaky", partition=PartitionSpec(solution_intervals_per_partition=10),
                    steps=[StepSpec(step=f"{__name__}:FlakyStep")], merge=None)
    pipeline = Pipeline(recipe, tiny_ms, tmp_path)
    report = run_partitions(pipeline, pipeline.plan(), spark)
    states = {r.partition.name: (r.state, r.attempts) for r in report.results}
    assert states == {"t000_f000": ("done", 2), "t001_f000": ("failed", 2), "t002_f000": ("done", 1),
                      "t003_f000": ("done", 1)}
    failed = report.failed[0]
    assert "attempt 2 on t001_f000 failed" in failed.error and "tool output of attempt 2" in failed.log
    saved = json.loads((report.run_dir / "report.json").read_text())
    assert [p["state"] for p in saved["partitions"]].count("failed") == 1
    progress = (report.run_dir / "progress" / "t001_f000.jsonl").read_text()
    assert progress.count('"failed"') == 2


def test_the_same_job_runs_through_spark_submit_on_a_standalone_cluster(tiny_ms: Path, tmp_path: Path):
    settings = load_settings(env={}, overrides={
        "batch": {"work_dir": str(tmp_path / "work"), "cluster": {
            "master_port": free_port(), "master_webui_port": free_port(), "workers": 2, "worker_memory": "1g"}},
        "paths": {"cache_dir": str(REPO / ".cache"), "run_dir": str(tmp_path / "run")}})
    config = tmp_path / "nenubroker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    with LocalSparkCluster(settings.batch.cluster, tmp_path / "cluster") as cluster:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("nenubroker")), "batch", "run", "--recipe", "image_window",
             "--ms", str(tiny_ms), "--submit", "--master", cluster.master_url, "--config", str(config)],
            capture_output=True, text=True, timeout=900)
        applications = cluster.master_state()["completedapps"]
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr  # spark-submit passes the driver's stderr to its stdout
    assert "2/2 partitions done" in output and "batch progress: t001_f000 image made" in output
    assert [app["name"] for app in applications] == ["nenubroker-batch"]
    reports = list((tmp_path / "work" / "runs").glob("*/report.json"))
    merged = json.loads(reports[0].read_text())["merged"]["fits"]
    assert fits.getdata(merged).shape[:2] == (2, 1)


def test_a_batch_request_from_kafka_runs_on_its_window_and_reports_products(settings, spark, tiny_ms: Path):
    import shutil

    ensure_all_topics(settings)
    settings.batch.ms_dir.mkdir(parents=True)
    ms = settings.batch.ms_dir / "obs.ms"
    shutil.copytree(tiny_ms, ms)
    for suffix in (".truth.json", ".skymodel"):
        shutil.copy(f"{tiny_ms}{suffix}", f"{ms}{suffix}")
    first, last = MsTimeAxis.read(ms).time_range_unix_s()
    inside = submit(settings, "image_window", first, first + (last - first) / 2 - 1, reason="test")
    outside = submit(settings, "image_window", last + 100, last + 200, reason="no data")
    from nenubroker.batch.service import serve

    assert serve(settings, spark, idle_timeout_s=5) == 2
    listed = {r["request_id"]: r for r in list_requests(settings)}
    assert listed[inside]["status"] == "done" and "1/1 partitions" in listed[inside]["detail"]
    products = [Path(p) for p in listed[inside]["products"]]
    assert products[0].name == "cube.fits" and all(p.exists() for p in products)
    assert listed[outside]["status"] == "failed" and "no Measurement Set" in listed[outside]["detail"]
