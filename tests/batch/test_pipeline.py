"""Partition planning, step-by-step runs, re-runs that redo only what changed, provenance (no Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from casacore import tables

from nenubroker.batch import provenance
from nenubroker.batch.partition import MJD_UNIX_OFFSET_S, MsTimeAxis, plan_partitions
from nenubroker.batch.pipeline import Pipeline
from nenubroker.batch.recipe import Recipe, load_recipe, step_class
from nenubroker.conf.settings import load_settings


@pytest.fixture
def recipe() -> Recipe:
    return load_recipe("image_window", load_settings(env={}))


def test_partitions_cover_every_row_once_on_timestamp_and_solution_boundaries(tiny_ms: Path, recipe: Recipe):
    axis = MsTimeAxis.read(tiny_ms)
    steps = recipe.time_steps_per_solution()
    assert steps == 2 * 5  # average time_factor 2 x calibrate solint_steps 5
    parts = plan_partitions(tiny_ms, steps * 2, 4, axis=axis)
    assert [p.name for p in parts] == ["t000_f000", "t000_f001", "t001_f000", "t001_f001"]
    with tables.table(str(tiny_ms), ack=False) as main:
        times, n_rows = main.getcol("TIME"), main.nrows()
    for part in parts:
        assert part.n_times == 20 and part.chan_stop - part.chan_start == 4
        inside = times[part.row_start:part.row_stop]
        assert len(np.unique(inside)) == 20  # whole timestamps only
        assert part.row_start == 0 or times[part.row_start - 1] != inside[0]
        assert part.row_stop == n_rows or times[part.row_stop] != inside[-1]
    time_parts = {(p.row_start, p.row_stop) for p in parts}
    assert sorted(time_parts) == [(0, n_rows // 2), (n_rows // 2, n_rows)]
    assert parts[0].freq_max_hz == pytest.approx(parts[1].freq_min_hz)


def test_windows_select_whole_timestamps_and_channels(tiny_ms: Path):
    axis = MsTimeAxis.read(tiny_ms)
    unix = axis.times_mjd_s - MJD_UNIX_OFFSET_S
    parts = plan_partitions(tiny_ms, 10, 0, time_window_unix_s=(unix[5], unix[24]),
                            freq_window_hz=(axis.freqs_hz[2], axis.freqs_hz[5]), axis=axis)
    assert [p.n_times for p in parts] == [10, 10]
    assert (parts[0].chan_start, parts[0].chan_stop) == (2, 6)
    assert parts[0].time_start_unix_s < unix[5] < parts[0].time_stop_unix_s
    with pytest.raises(ValueError, match="no data in time window"):
        plan_partitions(tiny_ms, 10, 0, time_window_unix_s=(0.0, 1.0), axis=axis)


def test_step_by_step_then_rerun_with_one_parameter_changed(tiny_ms: Path, recipe: Recipe, tmp_path: Path):
    pipeline = Pipeline(recipe, tiny_ms, tmp_path)
    part = pipeline.plan()[0]
    products = pipeline.start(part)
    with tables.table(str(products["ms"]), ack=False) as ms:
        assert ms.nrows() == part.row_stop - part.row_start
    products, flagged = pipeline.run_step(0, part, products)
    assert flagged.state == "made" and 0 < flagged.metrics["flagged_fraction"] < 0.5
    first = pipeline.run_partition(part)
    assert first.state == "done" and [s.state for s in first.steps] == ["reused", "made", "made", "made", "made"]

    changed = Pipeline(recipe.with_params("calibrate", max_iterations=50), tiny_ms, tmp_path).run_partition(part)
    assert [s.state for s in changed.steps] == ["reused", "reused", "made", "made", "made"]
    assert changed.products["fits"] != first.products["fits"]
    again = Pipeline(recipe, tiny_ms, tmp_path).run_partition(part)
    assert all(s.state == "reused" for s in again.steps) and again.products == first.products


def test_every_product_says_what_made_it(tiny_ms: Path, recipe: Recipe, tmp_path: Path):
    pipeline = Pipeline(recipe, tiny_ms, tmp_path)
    result = pipeline.run_partition(pipeline.plan()[0])
    image = Path(result.products["fits"])
    document = provenance.load(image)
    text = json.dumps(document)
    assert "image" in text and "size_px" in text and "WSClean" in text
    lineage = provenance.describe(image)
    for step in ("image", "apply", "calibrate", "average", "flag", "partition"):
        assert step in lineage
    assert str(tiny_ms) in lineage  # back to the source MS


def test_unknown_steps_and_parameters_are_refused_when_the_recipe_loads(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - step: image\n    params: {size: 12}\n")
    with pytest.raises(ValueError, match="size"):
        load_recipe(bad)
    with pytest.raises(KeyError, match="registered steps"):
        step_class("deconvolve")


def test_the_command_line_generates_plans_and_tells_provenance(tmp_path: Path):
    from typer.testing import CliRunner

    from nenubroker.cli import app

    ms = tmp_path / "cli.ms"
    runner = CliRunner()
    made = runner.invoke(app, ["batch", "generate-ms", str(ms), "--antennas", "8", "--times", "20",
                               "--subbands", "1", "--channels-per-subband", "4"])
    assert made.exit_code == 0, made.output
    assert Path(f"{ms}.truth.json").is_file() and Path(f"{ms}.skymodel").is_file()
    planned = runner.invoke(app, ["batch", "plan", "--recipe", "image_window", "--ms", str(ms)])
    assert planned.exit_code == 0 and planned.output.count("rows ") == 1  # 20 times = 2 solutions of 10
    pipeline = Pipeline(load_recipe("image_window", load_settings(env={})), ms, tmp_path / "work")
    flagged_ms = pipeline.run_step(0, pipeline.plan()[0], pipeline.start(pipeline.plan()[0]))[0]["ms"]
    told = runner.invoke(app, ["batch", "provenance", str(flagged_ms)])
    assert told.exit_code == 0 and "flag" in told.output and "strategy" in told.output
    as_json = runner.invoke(app, ["batch", "provenance", str(flagged_ms), "--json"])
    assert json.loads(as_json.output)["activity"]
