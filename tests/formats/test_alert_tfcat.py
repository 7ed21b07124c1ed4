"""TFCat catalogues of detections: one valid file per UTC night and beam, merged without duplicates,
with outlines that contain each alert's peak. No Spark, no Kafka."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nenubroker.edge.sim.truth import truth_tfcat
from nenubroker.formats.tfcat import (
    alert_geometry,
    alerts_to_tfcat,
    read_tfcat,
    utc_night,
    validate_tfcat,
    write_night_catalogues,
)

MIDNIGHT_UNIX_S = 1714608000.0  # 2024-05-02T00:00:00 UTC


def make_alert(alert_id: str, time_peak_unix_s: float, beam: str = "beam0", drift_hz_per_s: float = -15e6,
               snr: float = 10.0) -> dict[str, Any]:
    """A type III-like alert: 30-60 MHz, peak at 45 MHz, its drift line inside a 4 s box."""
    return {
        "alert_id": alert_id, "beam": beam, "chunk_index": 7, "time_peak_unix_s": time_peak_unix_s,
        "time_start_unix_s": time_peak_unix_s - 1.5, "duration_s": 4.0, "freq_peak_hz": 45e6,
        "freq_min_hz": 30e6, "freq_max_hz": 60e6, "drift_hz_per_s": drift_hz_per_s, "snr": snr,
        "peak_power": 0.5, "class_label": "type_iii", "class_probabilities": {"type_iii": 0.8, "rfi": 0.2},
        "classifier": "classifier_forest 1.0.0", "rfi_flagged_fraction": None, "cutout": b"",
        "detector": "burst_search", "module_versions": {"burst_search": "1.2.0"}, "nenubroker_version": "0.1.0",
        "chunk_created_unix_s": time_peak_unix_s + 3, "kafka_ingest_unix_s": time_peak_unix_s + 3,
        "processed_unix_s": time_peak_unix_s + 4,
    }


def contains(ring: list[list[float]], t_s: float, f_hz: float) -> bool:
    """Even-odd ray casting, in coordinates relative to the first vertex to keep precision."""
    t0, f0 = ring[0]
    points = [(t - t0, f - f0) for t, f in ring[:-1]]
    x, y, inside = t_s - t0, f_hz - f0, False
    for (xa, ya), (xb, yb) in zip(points, points[1:] + points[:1]):
        if (ya > y) != (yb > y) and x < xa + (y - ya) * (xb - xa) / (yb - ya):
            inside = not inside
    return inside


def ids(path: Path) -> list[str]:
    return [feature["id"] for feature in read_tfcat(path)["features"]]


def test_night_is_the_utc_date_of_the_peak():
    assert utc_night(MIDNIGHT_UNIX_S - 0.5) == "2024-05-01"
    assert utc_night(MIDNIGHT_UNIX_S) == "2024-05-02"


def test_alerts_are_grouped_by_utc_night_and_beam(tmp_path: Path):
    alerts = [make_alert("a", MIDNIGHT_UNIX_S - 10), make_alert("b", MIDNIGHT_UNIX_S + 10),
              make_alert("c", MIDNIGHT_UNIX_S + 20, beam="beam1"), make_alert("d", MIDNIGHT_UNIX_S + 30)]
    paths = write_night_catalogues(alerts, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "2024-05-01/beam0.tfcat.json", "2024-05-02/beam0.tfcat.json", "2024-05-02/beam1.tfcat.json"]
    assert [ids(p) for p in paths] == [["a"], ["b", "d"], ["c"]]
    assert "2024-05-02" in read_tfcat(paths[1])["properties"]["title"]


def test_rewriting_a_night_merges_without_duplicating_ids(tmp_path: Path):
    [path] = write_night_catalogues([make_alert("a", MIDNIGHT_UNIX_S + 1), make_alert("b", MIDNIGHT_UNIX_S + 2)],
                                    tmp_path)
    again = write_night_catalogues([make_alert("b", MIDNIGHT_UNIX_S + 2, snr=20.0),
                                    make_alert("c", MIDNIGHT_UNIX_S + 3)], tmp_path)
    assert again == [path]
    catalogue = read_tfcat(path)
    assert [f["id"] for f in catalogue["features"]] == ["a", "b", "c"]
    assert catalogue["features"][1]["properties"]["snr"] == 20.0
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_catalogue_is_valid_tfcat_with_flat_properties():
    catalogue = alerts_to_tfcat([make_alert("a", MIDNIGHT_UNIX_S), make_alert("a", MIDNIGHT_UNIX_S)], "t")
    validate_tfcat(catalogue)
    assert catalogue["crs"] == truth_tfcat([])["crs"]
    [feature] = catalogue["features"]
    properties = feature["properties"]
    assert (properties["alert_id"], properties["beam"], properties["class_label"]) == ("a", "beam0", "type_iii")
    assert (properties["snr"], properties["drift"], properties["detector"]) == (10.0, -15e6, "burst_search")
    assert (properties["prob_type_iii"], properties["prob_rfi"]) == (0.8, 0.2)
    assert catalogue["fields"]["prob_rfi"]["ucd"] == "stat.probability"
    assert catalogue["fields"]["drift"]["unit"] == "Hz/s"


def test_drifting_alert_is_a_parallelogram_containing_its_peak():
    alert = make_alert("a", MIDNIGHT_UNIX_S)
    geometry = alert_geometry(alert)
    [ring] = geometry["coordinates"]
    assert geometry["type"] == "Polygon" and len(ring) == 5
    t_start, t_stop = alert["time_start_unix_s"], alert["time_start_unix_s"] + alert["duration_s"]
    assert {t for t, f in ring if f == 60e6} == {t_start, t_start + 2.0}  # top edge leads by the sweep
    assert {t for t, f in ring if f == 30e6} == {t_stop - 2.0, t_stop}
    assert contains(ring, alert["time_peak_unix_s"], alert["freq_peak_hz"])
    assert not contains(ring, t_stop - 0.1, 59e6)


@pytest.mark.parametrize("drift_hz_per_s", [0.0, -1e6, 5e6])
def test_alert_whose_drift_leaves_its_box_is_the_box(drift_hz_per_s: float):
    alert = make_alert("a", MIDNIGHT_UNIX_S, drift_hz_per_s=drift_hz_per_s)
    [ring] = alert_geometry(alert)["coordinates"]
    assert {tuple(p) for p in ring} == {(alert["time_start_unix_s"] + dt, f) for dt in (0.0, 4.0)
                                        for f in (30e6, 60e6)}
    assert contains(ring, alert["time_peak_unix_s"], alert["freq_peak_hz"])


def test_read_tfcat_rejects_an_invalid_file(tmp_path: Path):
    [path] = write_night_catalogues([make_alert("a", MIDNIGHT_UNIX_S)], tmp_path)
    catalogue = json.loads(path.read_text())
    catalogue["features"][0]["properties"]["undeclared"] = 1
    path.write_text(json.dumps(catalogue))
    with pytest.raises(ValueError, match="without a field"):
        read_tfcat(path)


def test_tfcat_package_reads_our_file(tmp_path: Path):
    tfcat = pytest.importorskip("tfcat")
    [path] = write_night_catalogues([make_alert("a", MIDNIGHT_UNIX_S), make_alert("b", MIDNIGHT_UNIX_S + 5)],
                                    tmp_path)
    catalogue = tfcat.TFCat.from_file(path)
    assert len(catalogue) == 2
    assert [f.id for f in catalogue.iter_features] == ["a", "b"]
    assert catalogue.feature(0).properties["class_label"] == "type_iii"
    assert catalogue.feature(0).geometry.is_valid
    assert catalogue.crs.properties["time_coords_id"] == "unix"


def test_formats_do_not_import_the_simulator():
    code = ("import sys, nenubroker.formats; "
            "print(sorted(m for m in sys.modules if m.startswith('nenubroker.edge')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
