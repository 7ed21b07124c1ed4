"""The simulator's truth as a TFCat catalogue, and the quick-look plot of a dynamic spectrum."""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.sim.events import EVENT_KINDS, InjectedEvent, arrival_unix_s
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.edge.sim.solar import loop_apex_unix_s, type_ii_lanes, type_ii_plasma_hz
from nenubroker.edge.sim.truth import event_geometry, read_truth_tfcat, truth_tfcat, write_truth_tfcat
from nenubroker.formats.tfcat import tfcat_schema, validate_tfcat
from nenubroker.plots.spectra import plot_dynamic_spectrum

T0 = 1.7e9


@pytest.fixture(scope="module")
def simulated():
    """Twelve 1.34 s blocks, 3072 channels, with every kind of event in the truth."""
    rates = {"type_iii": 20.0, "type_iiib": 10.0, "spike": 20.0, "jupiter_s": 10.0, "rfi_impulse": 20.0,
             **dict.fromkeys(("type_i", "type_ii", "type_iii_u", "type_iii_j", "type_iv", "type_v", "jupiter_l"), 15.0)}
    settings = SimulatorSettings(realtime=False, fftlen=16, nfft2int=256, event_rates_per_min=rates, seed=3,
                                 harmonic_fraction=0.5, lost_block_fraction=0.15)
    sim = BeamSimulator("beam0", settings, start_unix_s=T0)
    blocks, truth = [], []
    for _ in range(12):
        block, started = sim.next_block()
        blocks.append(block)
        truth += started
    assert {e.kind for e in truth} == set(EVENT_KINDS)
    return sim, blocks, truth


def test_tfcat_round_trip_gives_back_the_same_events(simulated, tmp_path):
    _, _, truth = simulated
    path = write_truth_tfcat(truth, tmp_path / "truth.tfcat.json")
    assert read_truth_tfcat(path) == truth


def test_tfcat_file_validates_against_the_shipped_schema(simulated, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    _, _, truth = simulated
    catalogue = json.loads(write_truth_tfcat(truth, tmp_path / "truth.json").read_text())
    jsonschema.validate(catalogue, tfcat_schema())
    validate_tfcat(catalogue)
    crs = catalogue["crs"]["properties"]
    assert (crs["time_coords_id"], crs["spectral_coords"]) == ("unix", {"type": "frequency", "unit": "Hz"})
    assert {"kind", "beam", "snr", "event_id", "drift"} <= set(catalogue["features"][0]["properties"])
    assert catalogue["fields"]["drift"]["unit"] == "Hz/s"


BREAKAGES = ["no_crs", "clockwise", "open_ring", "undeclared_property", "duplicate_id"]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_validation_rejects_broken_catalogues(simulated, breakage):
    pytest.importorskip("jsonschema")
    _, _, truth = simulated
    catalogue = copy.deepcopy(truth_tfcat(truth))
    polygon = next(f for f in catalogue["features"] if f["geometry"]["type"] == "Polygon")
    if breakage == "no_crs":
        del catalogue["crs"]
    elif breakage == "clockwise":
        polygon["geometry"]["coordinates"][0].reverse()
    elif breakage == "open_ring":
        polygon["geometry"]["coordinates"][0].pop()
    elif breakage == "undeclared_property":
        polygon["properties"]["colour"] = "red"
    else:
        catalogue["features"][1]["id"] = catalogue["features"][0]["id"]
    with pytest.raises(ValueError):
        validate_tfcat(catalogue)


def test_outlines_follow_each_kind_in_time_and_frequency(simulated):
    _, _, truth = simulated
    first = {kind: next(e for e in truth if e.kind == kind) for kind in EVENT_KINDS}
    impulse = event_geometry(first["rfi_impulse"])
    assert impulse["type"] == "LineString" and impulse["coordinates"][0][0] == impulse["coordinates"][1][0]
    persistent = event_geometry(first["rfi_persistent"])
    assert persistent["type"] == "LineString"
    assert persistent["coordinates"][0][1] == persistent["coordinates"][1][1]
    iiib = event_geometry(first["type_iiib"])
    assert iiib["type"] == "MultiPolygon"
    assert len(iiib["coordinates"]) == len(first["type_iiib"].striae_freq_hz)
    type_iii = first["type_iii"]
    ring = np.array(event_geometry(type_iii)["coordinates"][0])
    on_ridge = np.isclose(ring[:, 0], arrival_unix_s(type_iii, ring[:, 1]))
    assert on_ridge.sum() >= len(ring) // 2 - 1  # the leading edge is the drifting peak
    for kind in ("spike", "lost_block", "jupiter_s"):
        geometry = event_geometry(first[kind])
        xy = np.array(geometry["coordinates"][0])
        (t_lo, t_hi), (f_lo, f_hi) = first[kind].time_range_unix_s(), first[kind].freq_range_hz()
        assert geometry["type"] == "Polygon"
        assert xy[:, 0].min() == pytest.approx(t_lo) and xy[:, 0].max() == pytest.approx(t_hi)
        assert xy[:, 1].min() == pytest.approx(f_lo) and xy[:, 1].max() == pytest.approx(f_hi)


def test_a_degenerate_box_becomes_a_line():
    spike = InjectedEvent("spike", "b", T0, 40e6, 3.0, duration_s=0.0, bandwidth_hz=1e5)
    assert event_geometry(spike)["type"] == "LineString"


def test_plot_writes_a_png_of_the_dynamic_spectrum_with_outlines(simulated, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    sim, blocks, truth = simulated
    path = plot_dynamic_spectrum(blocks, truth, tmp_path / "ds.png", background=sim.background)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 50_000
    pixels = image.imread(path)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert pixels[..., :3].std() > 0.1


def test_plot_copes_with_one_block_gaps_and_lost_blocks(simulated, tmp_path):
    _, blocks, _ = simulated
    lost = [b for b in blocks if np.isnan(b.data).all()]
    assert lost
    one = plot_dynamic_spectrum(blocks[0], None, tmp_path / "one.png", freq_range_hz=(30e6, 35e6))
    gappy = plot_dynamic_spectrum([blocks[0], *lost, blocks[-1]], None, tmp_path / "gaps.png")
    assert one.stat().st_size > 10_000 and gappy.stat().st_size > 10_000


def test_outlines_of_the_newer_kinds_follow_their_lanes_loops_and_arcs(simulated):
    _, _, truth = simulated
    first = {kind: next(e for e in truth if e.kind == kind) for kind in EVENT_KINDS}
    type_ii = first["type_ii"]
    lanes = type_ii_lanes(type_ii)
    geometry = event_geometry(type_ii)
    assert geometry["type"] == ("MultiPolygon" if len(lanes) > 1 else "Polygon")
    polygons = geometry["coordinates"] if len(lanes) > 1 else [geometry["coordinates"]]
    assert len(polygons) == len(lanes)
    for (multiplier, _), polygon in zip(lanes, polygons, strict=True):
        xy = np.array(polygon[0])
        centre = multiplier * type_ii_plasma_hz(type_ii, xy[:, 0])
        np.testing.assert_allclose(np.abs(xy[:, 1] / centre - 1), type_ii.relative_bandwidth / 2, rtol=1e-6)
    for kind in ("type_iii_u", "type_iii_j"):
        loop = first[kind]
        xy = np.array(event_geometry(loop)["coordinates"][0])
        assert (xy[:, 1].min(), xy[:, 1].max()) == pytest.approx((loop.freq_stop_hz, loop.freq_start_hz))
        lowest = xy[xy[:, 1].argmin(), 0]
        assert lowest == pytest.approx(loop_apex_unix_s(loop), abs=1e-6)  # the ridge turns at the apex
        (t_lo, t_hi) = loop.time_range_unix_s()
        assert xy[:, 0].min() == pytest.approx(t_lo) and xy[:, 0].max() == pytest.approx(t_hi)
    arc = first["jupiter_l"]
    xy = np.array(event_geometry(arc)["coordinates"][0])
    assert xy[:, 1].max() <= 40e6 and xy[:, 0].min() == pytest.approx(arc.time_range_unix_s()[0])
    for kind in ("type_i", "type_iv", "type_v"):
        xy = np.array(event_geometry(first[kind])["coordinates"][0])
        assert xy[:, 0].min() == pytest.approx(first[kind].time_start_unix_s)
        assert xy[:, 0].max() == pytest.approx(first[kind].time_start_unix_s + first[kind].duration_s)
    moving = replace(first["type_iv"], speed_km_s=500.0, density_fold=1.0)
    xy = np.array(event_geometry(moving)["coordinates"][0])
    late = xy[:, 0] == xy[:, 0].max()
    assert xy[late, 1].max() < moving.freq_start_hz  # the band has drifted down by the end


def test_truth_carries_circular_polarisation_and_only_the_parameters_each_kind_uses(simulated):
    _, _, truth = simulated
    features = {f["properties"]["kind"]: f["properties"] for f in truth_tfcat(truth)["features"]}
    assert all("circular_polarisation" in p for p in features.values())
    assert features["type_i"]["circular_polarisation"] != 0 and features["jupiter_l"]["circular_polarisation"] > 0
    assert "speed_km_s" in features["type_ii"] and "harmonic_ratio" in features["type_ii"]
    assert "speed_km_s" not in features["spike"] and "seed" not in features["type_iii"]
    catalogue = truth_tfcat(truth)
    assert catalogue["fields"]["circular_polarisation"]["ucd"] == "phys.polarization.circular"
