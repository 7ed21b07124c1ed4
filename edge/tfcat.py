"""The simulator's truth as a TFCat catalogue (Time-Frequency Catalogue, TFCat spec 1.0).

TFCat is GeoJSON moved to the time-frequency plane (Cecconi et al. 2022, doi:10.25935/6068-8528).
A FeatureCollection holds one Feature per event, a ``crs`` giving the axes (unix seconds, Hz) and
``fields`` describing each feature property. Coordinates are (time, frequency) pairs. Polygons are
closed and their exterior ring runs anticlockwise. Outlines by kind:

- type_iii: the drifting band between the peak and one e-folding decay, from start to stop frequency.
- type_iiib: a MultiPolygon with one box per stria (FWHM in time and frequency, slanted by its drift).
- jupiter_s: the parallelogram swept by the FWHM ridge.
- spike, lost_block: a box. rfi_impulse: a vertical LineString. rfi_persistent: a horizontal LineString.

``read_tfcat`` rebuilds the events exactly, because every InjectedEvent field is also a property.
The schema is shipped in conf/schemas/tfcat.schema.json, so validation works offline. The ``tfcat``
PyPI package fetches it over the network and pulls in astropy and shapely.

>>> from nenubroker.edge.events import InjectedEvent
>>> e = InjectedEvent("rfi_impulse", "b", 10.0, 60e6, 5.0, duration_s=0.0, freq_stop_hz=20e6)
>>> event_geometry(e)
{'type': 'LineString', 'coordinates': [[10.0, 20000000.0], [10.0, 60000000.0]]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from nenubroker.conf.settings import SCHEMA_DIR
from nenubroker.edge.events import (
    DRIFTING_KINDS,
    EVENT_KINDS,
    InjectedEvent,
    arrival_unix_s,
    type_iii_decay_s,
)

TFCAT_SCHEMA_URI = "https://voparis-ns.obspm.fr/maser/tfcat/v1.0/schema#"
REF_POSITION_ID = "nenufar"
_UNITS = {"s": ("time_start_unix_s", "duration_s"), "Hz": ("freq_start_hz", "freq_stop_hz", "bandwidth_hz",
                                                          "striae_freq_hz", "striae_width_hz"),
          "Hz/s": ("drift", "stria_drift_hz_per_s")}
_UCDS = {
    "event_id": "meta.id;meta.main", "kind": "meta.code.class", "beam": "meta.id;instr.beam",
    "snr": "stat.snr", "drift": "arith.rate;em.freq", "group_id": "meta.id.parent", "harmonic": "meta.code",
    "time_start_unix_s": "time.start", "duration_s": "time.duration", "freq_start_hz": "em.freq",
    "freq_stop_hz": "em.freq", "bandwidth_hz": "spect.line.width", "striae_freq_hz": "em.freq",
    "striae_width_hz": "spect.line.width", "striae_amplitude": "arith.ratio",
    "stria_drift_hz_per_s": "arith.rate;em.freq",
}
_INFO = {
    "event_id": "Event identifier, unique within the beam",
    "kind": f"Event kind, one of {', '.join(EVENT_KINDS)}",
    "beam": "NenuFAR beam the event was injected into",
    "snr": "Peak S/N of one pixel at the simulator resolution",
    "drift": "Frequency drift rate at freq_start_hz (null when the kind does not drift)",
    "group_id": "Shared by a harmonic pair, a spike cluster, an S-burst train or one RFI channel",
    "harmonic": "Harmonic number of a type III ridge (1 fundamental, 2 harmonic)",
    "time_start_unix_s": "Start of the event (type III: peak at freq_start_hz)",
    "duration_s": "Duration at one frequency: FWHM; type III e-folding decay at freq_start_hz; "
                  "type IIIb stria lifetime",
    "freq_start_hz": "Top frequency of drifting and broadband kinds, centre of narrowband ones",
    "freq_stop_hz": "Bottom frequency of drifting and broadband kinds",
    "bandwidth_hz": "FWHM bandwidth of narrowband kinds, total band of broadband ones",
    "striae_freq_hz": "Centre frequency of each stria (type IIIb)",
    "striae_width_hz": "FWHM width of each stria (type IIIb)",
    "striae_amplitude": "Relative amplitude of each stria (type IIIb)",
    "stria_drift_hz_per_s": "Frequency drift of each stria (type IIIb)",
}
_DATATYPES = {"harmonic": "int", "event_id": "str", "kind": "str", "beam": "str", "group_id": "str"}
_STRIAE = ("striae_freq_hz", "striae_width_hz", "striae_amplitude")


def tfcat_fields() -> dict[str, dict[str, str]]:
    """The TFCat ``fields`` member: info, datatype, UCD and unit of every feature property."""
    unit_of = {name: unit for unit, names in _UNITS.items() for name in names}
    out = {}
    for name, info in _INFO.items():
        field = {"info": info, "datatype": _DATATYPES.get(name, "float"), "ucd": _UCDS[name]}
        if name in unit_of:
            field["unit"] = unit_of[name]
        out[name] = field
    return out


def _signed_area(points: list[Any]) -> float:
    """Shoelace area of a ring (open or closed), relative to its first point to keep precision."""
    rel = np.asarray(points, dtype=float) - np.asarray(points[0], dtype=float)
    nxt = np.roll(rel, -1, axis=0)
    return float(np.sum(rel[:, 0] * nxt[:, 1] - nxt[:, 0] * rel[:, 1]) / 2)


def _ring(points: list[tuple[float, float]]) -> list[list[float]]:
    """Closed ring running anticlockwise in (time, frequency), as TFCat wants exterior rings."""
    ordered = points if _signed_area(points) >= 0 else points[::-1]
    return [[float(t), float(f)] for t, f in [*ordered, ordered[0]]]


def _box(t0: float, t1: float, f0: float, f1: float, drift_hz_per_s: float = 0.0) -> dict[str, Any]:
    """A box (slanted by a drift), or the line or point it degenerates to."""
    if t1 > t0 and f1 > f0:
        mid = (t0 + t1) / 2
        shift = [drift_hz_per_s * (t - mid) for t in (t0, t1)]
        return {"type": "Polygon", "coordinates": [_ring([(t0, f0 + shift[0]), (t1, f0 + shift[1]),
                                                          (t1, f1 + shift[1]), (t0, f1 + shift[0])])]}
    if t1 > t0 or f1 > f0:
        return {"type": "LineString", "coordinates": [[float(t0), float(f0)], [float(t1), float(f1)]]}
    return {"type": "Point", "coordinates": [float(t0), float(f0)]}


def event_geometry(event: InjectedEvent, n_points: int = 24) -> dict[str, Any]:
    """The event's outline in (unix s, Hz), as a TFCat geometry."""
    t0, t1 = event.time_range_unix_s()
    lo_hz, hi_hz = event.freq_range_hz()
    if event.kind == "rfi_impulse":
        return {"type": "LineString", "coordinates": [[t0, lo_hz], [t0, hi_hz]]}
    if event.kind == "rfi_persistent":
        return {"type": "LineString", "coordinates": [[t0, event.freq_start_hz], [t1, event.freq_start_hz]]}
    if event.kind == "type_iiib" and event.striae_freq_hz:
        centres = arrival_unix_s(event, np.asarray(event.striae_freq_hz)) + event.duration_s / 2
        polygons = [_box(c - event.duration_s / 2, c + event.duration_s / 2, f - w / 2, f + w / 2,
                         event.stria_drift_hz_per_s)["coordinates"]
                    for c, f, w in zip(centres, event.striae_freq_hz, event.striae_width_hz, strict=True)]
        return {"type": "MultiPolygon", "coordinates": polygons}
    if event.kind in ("type_iii", "jupiter_s") and hi_hz > lo_hz:
        f = np.linspace(hi_hz, lo_hz, n_points)
        if event.kind == "type_iii":
            lead = arrival_unix_s(event, f)
            trail = lead + type_iii_decay_s(f / event.harmonic)
        else:
            lead = event.time_start_unix_s + (f - event.freq_start_hz) / event.drift_hz_per_s
            trail = lead + event.duration_s
        outline = [*zip(lead, f, strict=True), *zip(trail[::-1], f[::-1], strict=True)]
        return {"type": "Polygon", "coordinates": [_ring(outline)]}
    return _box(t0, t1, lo_hz, hi_hz)


def _positions(coords: list[Any]) -> list[list[float]]:
    """Every (time, frequency) pair of a geometry's nested coordinates."""
    if isinstance(coords[0], (int, float)):
        return [coords]
    return [p for part in coords for p in _positions(part)]


def _bbox(geometry: dict[str, Any]) -> list[float]:
    xy = np.asarray(_positions(geometry["coordinates"]), dtype=float)
    return [float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())]


def event_feature(event: InjectedEvent) -> dict[str, Any]:
    """One TFCat Feature: the outline, its bounding box, and every event field as a property."""
    properties = asdict(event)
    drift = properties.pop("drift_hz_per_s")
    properties["drift"] = drift if event.kind in DRIFTING_KINDS else None
    for name in _STRIAE:
        properties[name] = list(properties[name])
        if not properties[name]:
            del properties[name]
    geometry = event_geometry(event)
    return {"type": "Feature", "id": event.event_id, "bbox": _bbox(geometry), "geometry": geometry,
            "properties": properties}


def to_tfcat(events: list[InjectedEvent], title: str = "nenubroker simulator truth") -> dict[str, Any]:
    """A TFCat FeatureCollection of ``events``, with unix-second and Hz axes."""
    try:
        version = metadata.version("nenubroker")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "$schema": TFCAT_SCHEMA_URI,
        "type": "FeatureCollection",
        "features": [event_feature(e) for e in events],
        "properties": {"title": title, "instrument_host_name": "NenuFAR",
                       "instrument_name": "UnDySPuTeD (simulated)", "target_name": "Sun, Jupiter, RFI",
                       "generator": f"nenubroker {version} edge/simulator.py"},
        "fields": tfcat_fields(),
        "crs": {"type": "local", "properties": {
            "name": "Time-Frequency", "time_coords_id": "unix",
            "spectral_coords": {"type": "frequency", "unit": "Hz"}, "ref_position_id": REF_POSITION_ID}},
    }


def write_tfcat(events: list[InjectedEvent], path: Path | str,
                title: str = "nenubroker simulator truth") -> Path:
    """Write ``events`` as a TFCat JSON file and return its path."""
    path = Path(path)
    path.write_text(json.dumps(to_tfcat(events, title), indent=1, allow_nan=False) + "\n")
    return path


def events_from_tfcat(catalogue: dict[str, Any]) -> list[InjectedEvent]:
    """Rebuild the InjectedEvents from a catalogue made by ``to_tfcat``."""
    names = {f.name for f in fields(InjectedEvent)}
    events = []
    for feature in catalogue["features"]:
        props = dict(feature["properties"])
        props["drift_hz_per_s"] = props.pop("drift", None) or 0.0
        events.append(InjectedEvent.from_dict({k: v for k, v in props.items() if k in names}))
    return events


def read_tfcat(path: Path | str) -> list[InjectedEvent]:
    """Read a TFCat file written by ``write_tfcat`` back into InjectedEvents."""
    return events_from_tfcat(json.loads(Path(path).read_text()))


def tfcat_schema() -> dict[str, Any]:
    """The TFCat 1.0 JSON schema shipped in conf/schemas, so that no validation needs the network."""
    return json.loads((SCHEMA_DIR / "tfcat.schema.json").read_text())


def validate_tfcat(catalogue: dict[str, Any]) -> None:
    """Raise ValueError unless ``catalogue`` is valid TFCat.

    Checks the JSON schema (with jsonschema, a test dependency), then what a schema cannot check:
    closed anticlockwise exterior rings, unique feature ids, and properties declared in ``fields``.
    """
    import jsonschema

    try:
        jsonschema.validate(catalogue, tfcat_schema())
    except jsonschema.ValidationError as error:
        raise ValueError(f"not TFCat: {error.message} at {list(error.absolute_path)}") from error
    ids = [f["id"] for f in catalogue["features"] if "id" in f]
    if len(ids) != len(set(ids)):
        raise ValueError("feature ids are not unique")
    declared = set(catalogue.get("fields", {}))
    for feature in catalogue["features"]:
        undeclared = set(feature.get("properties") or {}) - declared
        if undeclared:
            raise ValueError(f"feature {feature.get('id')}: properties without a field: {sorted(undeclared)}")
        geometry = feature["geometry"]
        polygons = {"Polygon": [geometry["coordinates"]], "MultiPolygon": geometry["coordinates"]}.get(
            geometry["type"], [])
        for rings in polygons:
            for i, ring in enumerate(rings):
                if ring[0] != ring[-1]:
                    raise ValueError(f"feature {feature.get('id')}: ring {i} is not closed")
                if (_signed_area(ring[:-1]) > 0) != (i == 0):
                    raise ValueError(f"feature {feature.get('id')}: ring {i} runs the wrong way")


__all__ = ["REF_POSITION_ID", "TFCAT_SCHEMA_URI", "event_feature", "event_geometry", "events_from_tfcat",
           "read_tfcat", "tfcat_fields", "tfcat_schema", "to_tfcat", "validate_tfcat", "write_tfcat"]
