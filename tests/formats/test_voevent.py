"""VOEvent 2.0 packets of alerts: valid against the IVOA schema, with the right IVORN, role, time,
place and parameters; retractions and updates cite the earlier packet. No Spark, no Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import voeventparse as vp

from nenubroker.conf.settings import SCHEMA_DIR
from nenubroker.formats.voevent import (
    NENUFAR_HEIGHT_M,
    NENUFAR_LAT_DEG,
    NENUFAR_LON_DEG,
    VOEventError,
    alert_ivorn,
    alert_to_voevent,
    beam_radius_deg,
    packet_ivorn,
    retraction,
    role_for_source,
    update,
    validate_voevent,
    write_voevent,
)
from nenubroker.records import avro

PEAK_UNIX_S = 1714564800.25  # 2024-05-01T12:00:00.25 UTC


@pytest.fixture
def alert() -> dict[str, Any]:
    """A made-up alert with every field of alert.v1.avsc."""
    return {
        "alert_id": "0123456789abcdef01234567", "beam": "beam0", "chunk_index": 42,
        "time_peak_unix_s": PEAK_UNIX_S, "time_start_unix_s": PEAK_UNIX_S - 1.5, "duration_s": 4.0,
        "freq_peak_hz": 45e6, "freq_min_hz": 30e6, "freq_max_hz": 60e6, "drift_hz_per_s": -15e6,
        "snr": 12.5, "peak_power": 0.8, "class_label": "type_iii",
        "class_probabilities": {"type_iii": 0.9, "spike": 0.06, "rfi": 0.04},
        "classifier": "classifier_forest 1.0.0", "rfi_flagged_fraction": 0.02, "cutout": b"",
        "detector": "burst_search", "module_versions": {"burst_search": "1.2.0", "classifier_forest": "1.0.0"},
        "nenubroker_version": "0.1.0", "chunk_created_unix_s": PEAK_UNIX_S + 2.0,
        "kafka_ingest_unix_s": PEAK_UNIX_S + 2.1, "processed_unix_s": PEAK_UNIX_S + 3.0,
    }


def _params(xml: str) -> tuple[dict[str, Any], dict[str, Any]]:
    packet = vp.loads(xml.encode())
    return vp.get_toplevel_params(packet), vp.get_grouped_params(packet)


def test_fixture_uses_every_alert_field(alert):
    schema = json.loads((SCHEMA_DIR / "alert.v1.avsc").read_text())
    assert set(alert) == {field["name"] for field in schema["fields"]}
    avro.encode("alert", alert)


def test_alert_packet_is_valid_voevent_2_0(alert):
    xml = alert_to_voevent(alert)
    validate_voevent(xml)
    assert vp.valid_as_v2_0(vp.loads(xml.encode()))


def test_packet_has_ivorn_role_and_peak_time(alert):
    packet = vp.loads(alert_to_voevent(alert).encode())
    assert packet.attrib["ivorn"] == "ivo://nenufar.obs-nancay.fr/nenubroker#0123456789abcdef01234567"
    assert packet.attrib["ivorn"] == alert_ivorn(alert["alert_id"])
    assert packet.attrib["role"] == "observation"
    assert vp.get_event_time_as_utc(packet) == datetime.fromtimestamp(PEAK_UNIX_S, UTC)
    assert str(packet.Who.Author.shortName) == "NenuFAR"


def test_packet_places_the_event_at_nenufar(alert):
    packet = vp.loads(alert_to_voevent(alert).encode())
    site = packet.WhereWhen.ObsDataLocation.ObservatoryLocation
    assert site.AstroCoordSystem.attrib["id"] == "UTC-GEOD-TOPO"
    value = site.AstroCoords.Position3D.Value3
    assert (float(value.C1), float(value.C2), float(value.C3)) == (NENUFAR_LON_DEG, NENUFAR_LAT_DEG,
                                                                   NENUFAR_HEIGHT_M)
    location = packet.WhereWhen.ObsDataLocation.ObservationLocation
    assert location.AstroCoordSystem.attrib["id"] == "UTC-ICRS-TOPO"
    assert not hasattr(location.AstroCoords, "Position2D")


def test_pointing_becomes_the_position_with_the_beam_as_error(alert):
    xml = alert_to_voevent(alert, pointing_ra_deg=40.5, pointing_dec_deg=15.25)
    position = vp.get_event_position(vp.loads(xml.encode()))
    assert (position.ra, position.dec, position.system) == (40.5, 15.25, "UTC-ICRS-TOPO")
    assert position.err == pytest.approx(beam_radius_deg(45e6))
    assert 0.3 < beam_radius_deg(45e6) < 0.4  # nenupy: FWHM 0.79 deg at 40 MHz
    with pytest.raises(VOEventError, match="both"):
        alert_to_voevent(alert, pointing_ra_deg=40.5)


def test_params_carry_units_and_values(alert):
    top, groups = _params(alert_to_voevent(alert))
    assert top["snr"]["value"] == "12.5" and top["snr"]["ucd"] == "stat.snr"
    assert (top["freq_peak"]["value"], top["freq_peak"]["unit"]) == ("45.0", "MHz")
    assert (top["freq_min"]["value"], top["freq_max"]["value"]) == ("30.0", "60.0")
    assert (top["drift"]["value"], top["drift"]["unit"]) == ("-15.0", "MHz/s")
    assert (top["duration"]["value"], top["duration"]["unit"]) == ("4.0", "s")
    assert top["peak_power"]["value"] == "0.8" and top["rfi_flagged_fraction"]["value"] == "0.02"
    assert top["beam"]["value"] == "beam0" and top["detector"]["value"] == "burst_search"
    classification = groups["classification"]
    assert classification["class_label"]["value"] == "type_iii"
    assert {k: float(v["value"]) for k, v in classification.items() if k.startswith("prob_")} == {
        "prob_type_iii": 0.9, "prob_spike": 0.06, "prob_rfi": 0.04}
    assert groups["module_versions"]["burst_search"]["value"] == "1.2.0"
    assert float(groups["timing"]["latency"]["value"]) == pytest.approx(1.0)


def test_why_gives_importance_and_class_probability(alert):
    packet = vp.loads(alert_to_voevent(alert).encode())
    assert float(packet.Why.attrib["importance"]) == pytest.approx(0.96)
    inference = packet.Why.Inference
    assert float(inference.attrib["probability"]) == 0.9
    assert str(inference.Name) == "Solar type III radio burst" and str(inference.Concept)


def test_how_describes_the_data_and_the_detector(alert):
    how = vp.loads(alert_to_voevent(alert).encode()).How
    text = " ".join(str(d) for d in how.Description)
    assert "NenuFAR" in text and "burst_search 1.2.0" in text and "FDMT" in text
    assert how.Reference.attrib["uri"].startswith("https://nenufar")


def test_unclassified_alert_is_valid_without_why(alert):
    alert.update(class_label=None, class_probabilities={}, classifier=None, rfi_flagged_fraction=None)
    xml = alert_to_voevent(alert)
    top, groups = _params(xml)
    assert "rfi_flagged_fraction" not in top and "class_label" not in groups["classification"]
    assert not hasattr(vp.loads(xml.encode()), "Why")


def test_simulated_data_is_published_with_test_role(alert):
    assert role_for_source("simulator") == "test"
    assert role_for_source("/data/20240501_SUN_TRACKING_0.spectra") == "observation"
    xml = alert_to_voevent(alert, role=role_for_source("simulator"))
    validate_voevent(xml)
    assert vp.loads(xml.encode()).attrib["role"] == "test"


def test_same_alert_gives_the_same_packet(alert):
    assert alert_to_voevent(alert) == alert_to_voevent(dict(alert))


def test_retraction_cites_the_earlier_packet(alert):
    original = alert_to_voevent(alert, role="test")
    xml = retraction(alert["alert_id"], "RFI seen in every beam", role="test", date_unix_s=PEAK_UNIX_S + 60)
    validate_voevent(xml)
    packet = vp.loads(xml.encode())
    assert packet.attrib["role"] == "test" and packet.attrib["ivorn"] != packet_ivorn(original)
    cited = packet.Citations.EventIVORN
    assert (str(cited), cited.attrib["cite"]) == (packet_ivorn(original), "retraction")
    assert str(packet.Citations.Description) == "RFI seen in every beam"
    assert retraction(packet_ivorn(original), "again", role="test", date_unix_s=PEAK_UNIX_S + 60).count(
        packet_ivorn(original) + "<") == 1


def test_update_supersedes_the_earlier_packet(alert):
    original = alert_to_voevent(alert)
    alert.update(class_label="spike", class_probabilities={"type_iii": 0.3, "spike": 0.7, "rfi": 0.0})
    xml = update(alert, packet_ivorn(original), reason="reclassified")
    validate_voevent(xml)
    packet = vp.loads(xml.encode())
    assert packet.attrib["ivorn"] == packet_ivorn(original) + "-v2"
    assert (str(packet.Citations.EventIVORN), packet.Citations.EventIVORN.attrib["cite"]) == (
        packet_ivorn(original), "supersedes")
    followup = alert_to_voevent(dict(alert, alert_id="fedcba"), cites=[(alert["alert_id"], "followup")])
    assert f'cite="followup">{packet_ivorn(original)}<' in followup


def test_bad_role_is_rejected_with_a_clear_error(alert):
    with pytest.raises(VOEventError, match=r"not a valid VOEvent 2.0 packet: line \d+: .*role.*'simulated'"):
        alert_to_voevent(alert, role="simulated")
    tampered = alert_to_voevent(alert).replace('role="observation"', 'role="bogus"')
    with pytest.raises(VOEventError, match="role"):
        validate_voevent(tampered)


def test_other_invalid_packets_are_rejected(alert):
    with pytest.raises(VOEventError, match="cite type 'refutes'"):
        alert_to_voevent(alert, cites=[("x", "refutes")])
    with pytest.raises(VOEventError, match="not XML"):
        validate_voevent("<VOEvent")
    with pytest.raises(VOEventError, match="IVORN"):
        validate_voevent(alert_to_voevent(alert).replace("ivo://nenufar.obs-nancay.fr/nenubroker#", "urn:x:"))


def test_write_voevent_names_the_file_after_the_alert(alert, tmp_path: Path):
    xml = alert_to_voevent(alert)
    path = write_voevent(xml, tmp_path / "voevents")
    assert path == tmp_path / "voevents" / f"{alert['alert_id']}.xml"
    assert path.read_text() == xml
    assert write_voevent(xml, tmp_path / "voevents") == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    with pytest.raises(VOEventError):
        write_voevent(xml.replace('role="observation"', 'role="bogus"'), tmp_path)
