"""Provenance: PROV-JSON beside each product, with inputs' checksums, parameters, software and lineage."""

from __future__ import annotations

import json
import time
from pathlib import Path

import prov.model as pm
import pytest

from nenubroker.batch import provenance


@pytest.fixture
def chain(tmp_path: Path) -> dict[str, Path]:
    """raw.txt --demo_a--> a.txt --demo_b--> b.txt, each step recorded."""
    raw, a, b = tmp_path / "raw.txt", tmp_path / "a.txt", tmp_path / "b.txt"
    raw.write_text("raw")
    a.write_text("a")
    b.write_text("b")
    now = time.time()
    provenance.record("demo_a", {"factor": 2}, {"text": raw}, {"text": a}, now, now + 1.5,
                      {"nenubroker": "0.1.0"}, metrics={"flagged_fraction": 0.25})
    provenance.record("demo_b", {"mode": "x"}, {"text": a}, {"text": b}, now + 2, now + 3,
                      {"DP3": "DP3 6.6.0"})
    return {"raw": raw, "a": a, "b": b}


def test_checksum_of_a_directory_ignores_table_locks(tmp_path: Path) -> None:
    ms = tmp_path / "x.ms"
    (ms / "ANTENNA").mkdir(parents=True)
    (ms / "table.dat").write_bytes(b"main")
    (ms / "ANTENNA" / "table.dat").write_bytes(b"antennas")
    before = provenance.checksum(ms)
    (ms / "table.lock").write_bytes(b"held by process 1234")
    assert provenance.checksum(ms) == before
    (ms / "ANTENNA" / "table.dat").write_bytes(b"other antennas")
    assert provenance.checksum(ms) != before


def test_record_writes_valid_prov_json_beside_every_output(tmp_path: Path) -> None:
    inp, out1, out2 = (tmp_path / n for n in ("in.h5", "out.fits", "out.h5"))
    for path in (inp, out1, out2):
        path.write_bytes(path.name.encode())
    written = provenance.record("demo", {}, {"h5parm": inp}, {"fits": out1, "h5parm": out2}, 0.0, 1.0, {})
    assert written == [tmp_path / "out.fits.prov.json", tmp_path / "out.h5.prov.json"]
    document = pm.ProvDocument.deserialize(content=written[0].read_text(), format="json")
    assert len(list(document.get_records(pm.ProvActivity))) == 1


def test_record_names_inputs_parameters_software_and_times(chain: dict[str, Path]) -> None:
    doc = provenance.load(chain["a"])
    (activity,) = doc["activity"].values()
    assert activity["voprov:name"] == "demo_a"
    assert activity["prov:endTime"] > activity["prov:startTime"]
    assert activity["nenu:host"]
    entities = doc["entity"]
    used = [entities[u["prov:entity"]] for u in doc["used"].values()]
    assert [(e["nenu:kind"], e["nenu:sha256"]) for e in used] == [("text", provenance.checksum(chain["raw"]))]
    parameters = {e["voprov:name"]: json.loads(e["prov:value"]) for e in entities.values()
                  if e.get("prov:type", {}).get("$") == "voprov:Parameter"}
    assert parameters == {"factor": 2}
    assert [a["voprov:version"] for a in doc["agent"].values()] == ["0.1.0"]
    assert any(e.get("prov:type", {}).get("$") == "voprov:ActivityDescription" for e in entities.values())


def test_merge_inputs_may_be_a_list_of_products(tmp_path: Path) -> None:
    parts = [tmp_path / f"p{i}.fits" for i in range(3)]
    for path in parts:
        path.write_text(path.name)
    cube = tmp_path / "cube.fits"
    cube.write_text("cube")
    provenance.record("merge", {}, {"fits_list": parts}, {"fits": cube}, 0.0, 1.0, {})
    assert len(provenance.load(cube)["used"]) == 3


def test_describe_follows_the_lineage_back_to_the_original_input(chain: dict[str, Path]) -> None:
    text = provenance.describe(chain["b"])
    assert text.index("step demo_b") < text.index("step demo_a") < text.index("an original input")
    assert "factor=2" in text and "flagged_fraction=0.25" in text and "DP3 6.6.0" in text


def test_software_versions_come_from_the_tools_themselves() -> None:
    versions = provenance.software_versions(["python-casacore", "nenubroker"])
    assert versions["python-casacore"][0].isdigit()
    assert provenance.software_versions(["nenubroker"]) == {"nenubroker": versions["nenubroker"]}


def test_tool_versions_are_what_the_tools_print() -> None:
    versions = provenance.software_versions(["DP3", "AOFlagger", "WSClean"])
    assert versions["DP3"].startswith("DP3 ") and versions["AOFlagger"].startswith("AOFlagger ")
    assert versions["WSClean"].startswith("WSClean version ")


def test_identical_products_are_one_entity(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("same")
    b.write_text("same")
    provenance.record("copy", {}, {"text": a}, {"text": b}, 0.0, 1.0, {})
    doc = provenance.load(b)
    assert len(doc["entity"]) == 2  # the product and the step's ActivityDescription
    assert "copy" in provenance.describe(b)
