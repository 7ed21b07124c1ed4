"""TFCat, the community format for features of dynamic spectra, and the catalogues of detections in it.

TFCat (Time-Frequency Catalogue, spec 1.0; Cecconi et al. 2022, doi:10.25935/6068-8528) is GeoJSON
moved to the time-frequency plane; MASER tools and TOPCAT read it. A FeatureCollection holds
Features, a ``crs`` giving the axes and ``fields`` describing each feature property. Coordinates are
(time, frequency) pairs in unix seconds and Hz, with NenuFAR as the reference position, for
detections and the simulator's truth alike (``nenubroker.edge.sim.truth`` builds on this module),
so a night's detections can be laid over its truth. Polygons are closed and their exterior ring
runs anticlockwise. The schema is shipped in conf/schemas/tfcat.schema.json, so validation works
offline; the ``tfcat`` PyPI package fetches it over the network and pulls in astropy and shapely.

Detections are written one file per UTC night and beam. Each alert is a Polygon: a parallelogram
following its drift through the peak when that fits in the alert's time-frequency box
``[time_start, time_start + duration] × [freq_min, freq_max]``, else the box itself (a non-drifting
burst, or a curved type III whose peak drift leaves the box). Either way the outline contains the peak.

The *night* of an alert is the UTC calendar date (``YYYY-MM-DD``) of its peak time. It needs no
site ephemeris, never splits one alert's files, and NenuFAR's solar observations (local day) and
Jupiter observations (local night) each fall in one or two dates at most.

>>> alert = {"alert_id": "a", "beam": "beam0", "time_peak_unix_s": 86400.5, "time_start_unix_s": 86400.0,
...          "duration_s": 2.0, "freq_peak_hz": 40e6, "freq_min_hz": 30e6, "freq_max_hz": 50e6,
...          "drift_hz_per_s": 0.0}
>>> utc_night(alert["time_peak_unix_s"]), alert_geometry(alert)["type"]
('1970-01-02', 'Polygon')
>>> box_geometry(10.0, 10.0, 20e6, 60e6)
{'type': 'LineString', 'coordinates': [[10.0, 20000000.0], [10.0, 60000000.0]]}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nenubroker import __version__
from nenubroker.conf.settings import SCHEMA_DIR

TFCAT_SCHEMA_URI = "https://voparis-ns.obspm.fr/maser/tfcat/v1.0/schema#"
REF_POSITION_ID = "nenufar"
PROBABILITY_PREFIX = "prob_"

#: A feature property's declaration: (info, datatype, ucd, unit or None).
FieldSpec = tuple[str, str, str, str | None]

#: Feature properties of an alert, copied from it unless built below.
_ALERT_FIELDS: dict[str, FieldSpec] = {
    "alert_id": ("Alert id, stable under replay", "str", "meta.id;meta.main", None),
    "beam": ("NenuFAR beam", "str", "meta.id;instr.beam", None),
    "chunk_index": ("Chunk of the beam's stream", "int", "meta.id.part", None),
    "time_peak_unix_s": ("Time of the peak", "float", "time.epoch", "s"),
    "time_start_unix_s": ("Start of the burst", "float", "time.start", "s"),
    "duration_s": ("Duration over all frequencies", "float", "time.duration", "s"),
    "freq_peak_hz": ("Frequency of the peak", "float", "em.freq", "Hz"),
    "freq_min_hz": ("Lowest frequency of the burst", "float", "em.freq;stat.min", "Hz"),
    "freq_max_hz": ("Highest frequency of the burst", "float", "em.freq;stat.max", "Hz"),
    "drift": ("Frequency drift at the peak; negative towards lower frequencies", "float",
              "arith.rate;em.freq", "Hz/s"),
    "snr": ("Matched-filter S/N at the detection resolution (see alert.v2)", "float", "stat.snr", None),
    "peak_power": ("Peak power over the channel background, minus 1", "float", "arith.ratio", None),
    "class_label": ("Most probable class (null when no classifier ran)", "str", "meta.code.class", None),
    "classifier": ("Classifier and model version", "str", "meta.software", None),
    "rfi_flagged_fraction": ("Fraction of the chunk flagged as RFI", "float", "arith.ratio", None),
    "detector": ("Science module that found it", "str", "meta.software", None),
    "detector_version": ("Version of the detector module", "str", "meta.version", None),
}
_COPIED = ("alert_id", "beam", "chunk_index", "time_peak_unix_s", "time_start_unix_s", "duration_s",
           "freq_peak_hz", "freq_min_hz", "freq_max_hz", "snr", "peak_power", "class_label", "classifier",
           "rfi_flagged_fraction", "detector")


# Geometry --------------------------------------------------------------------------------------


def signed_area(points: list[Any]) -> float:
    """Shoelace area of a ring (open or closed), relative to its first point to keep precision.

    Positive when the ring runs anticlockwise in (time, frequency).
    """
    rel = np.asarray(points, dtype=float) - np.asarray(points[0], dtype=float)
    nxt = np.roll(rel, -1, axis=0)
    return float(np.sum(rel[:, 0] * nxt[:, 1] - nxt[:, 0] * rel[:, 1]) / 2)


def exterior_ring(points: list[tuple[float, float]]) -> list[list[float]]:
    """Closed ring running anticlockwise in (time, frequency), as TFCat wants exterior rings."""
    ordered = points if signed_area(points) >= 0 else points[::-1]
    return [[float(t), float(f)] for t, f in [*ordered, ordered[0]]]


def box_geometry(t0_s: float, t1_s: float, f0_hz: float, f1_hz: float,
                 drift_hz_per_s: float = 0.0) -> dict[str, Any]:
    """A box (slanted by a drift about its mid time), or the line or point it degenerates to."""
    if t1_s > t0_s and f1_hz > f0_hz:
        mid = (t0_s + t1_s) / 2
        shift = [drift_hz_per_s * (t - mid) for t in (t0_s, t1_s)]
        return {"type": "Polygon", "coordinates": [exterior_ring([
            (t0_s, f0_hz + shift[0]), (t1_s, f0_hz + shift[1]), (t1_s, f1_hz + shift[1]), (t0_s, f1_hz + shift[0])])]}
    if t1_s > t0_s or f1_hz > f0_hz:
        return {"type": "LineString", "coordinates": [[float(t0_s), float(f0_hz)], [float(t1_s), float(f1_hz)]]}
    return {"type": "Point", "coordinates": [float(t0_s), float(f0_hz)]}


def _positions(coords: list[Any]) -> list[list[float]]:
    """Every (time, frequency) pair of a geometry's nested coordinates."""
    if isinstance(coords[0], (int, float)):
        return [coords]
    return [p for part in coords for p in _positions(part)]


def geometry_bbox(geometry: Mapping[str, Any]) -> list[float]:
    """``[t_min, f_min, t_max, f_max]`` of a geometry, the GeoJSON ``bbox`` of its feature."""
    xy = np.asarray(_positions(geometry["coordinates"]), dtype=float)
    return [float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())]


# Features and collections ----------------------------------------------------------------------


def tfcat_feature(feature_id: str, geometry: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """One Feature with its bounding box, so readers can select without walking the outline."""
    return {"type": "Feature", "id": feature_id, "bbox": geometry_bbox(geometry), "geometry": geometry,
            "properties": properties}


def tfcat_fields(declared: Mapping[str, FieldSpec]) -> dict[str, dict[str, str]]:
    """The ``fields`` member: info, datatype, UCD and unit (when there is one) of every property."""
    return {name: {"info": info, "datatype": datatype, "ucd": ucd, **({"unit": unit} if unit else {})}
            for name, (info, datatype, ucd, unit) in declared.items()}


def tfcat_crs() -> dict[str, Any]:
    """The ``crs`` member: unix-second and Hz axes seen from NenuFAR (a new dict each call)."""
    return {"type": "local", "properties": {
        "name": "Time-Frequency", "time_coords_id": "unix",
        "spectral_coords": {"type": "frequency", "unit": "Hz"}, "ref_position_id": REF_POSITION_ID}}


def feature_collection(features: list[dict[str, Any]], fields: dict[str, dict[str, str]], *, title: str,
                       instrument_name: str, source: str) -> dict[str, Any]:
    """A TFCat FeatureCollection of NenuFAR features; ``source`` names the code that made it."""
    return {
        "$schema": TFCAT_SCHEMA_URI,
        "type": "FeatureCollection",
        "features": features,
        "properties": {"title": title, "instrument_host_name": "NenuFAR", "instrument_name": instrument_name,
                       "target_name": "Sun, Jupiter, RFI", "generator": f"nenubroker {__version__} {source}"},
        "fields": fields,
        "crs": tfcat_crs(),
    }


# Validation, reading, writing ------------------------------------------------------------------


def tfcat_schema() -> dict[str, Any]:
    """The TFCat 1.0 JSON schema shipped in conf/schemas, so that no validation needs the network."""
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / "tfcat.schema.json").read_text())
    return schema


def validate_tfcat(catalogue: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``catalogue`` is valid TFCat.

    Checks the JSON schema, then what a schema cannot check: closed anticlockwise exterior rings,
    unique feature ids, and properties declared in ``fields``.
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
                if (signed_area(ring[:-1]) > 0) != (i == 0):
                    raise ValueError(f"feature {feature.get('id')}: ring {i} runs the wrong way")


def write_tfcat(catalogue: Mapping[str, Any], path: Path | str) -> Path:
    """Write to a hidden temporary file, sync, rename, so a reader never sees half a catalogue."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(json.dumps(catalogue, indent=1, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)
    return path


def read_tfcat(path: Path | str, validate: bool = True) -> dict[str, Any]:
    """The catalogue in ``path``, checked with :func:`validate_tfcat` unless ``validate`` is false."""
    catalogue: dict[str, Any] = json.loads(Path(path).read_text())
    if validate:
        validate_tfcat(catalogue)
    return catalogue


# Detections ------------------------------------------------------------------------------------


def utc_night(time_unix_s: float) -> str:
    """The night an alert belongs to: the UTC date of ``time_unix_s``, as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(time_unix_s, UTC).strftime("%Y-%m-%d")


def alert_geometry(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The alert's outline in (unix s, Hz): a drift parallelogram through the peak, or its box.

    The parallelogram's edges have slope ``drift_hz_per_s``; its leading and trailing widths are
    as large as the box allows, so it spans the box's time range and never leaves it.
    """
    t0 = float(alert["time_start_unix_s"])
    t1 = t0 + float(alert["duration_s"])
    f0, f1 = float(alert["freq_min_hz"]), float(alert["freq_max_hz"])
    drift = float(alert.get("drift_hz_per_s") or 0.0)
    if drift == 0.0 or t1 <= t0 or f1 <= f0:
        return box_geometry(t0, t1, f0, f1)
    t_peak, f_peak = float(alert["time_peak_unix_s"]), float(alert["freq_peak_hz"])
    centre = {f: t_peak + (f - f_peak) / drift for f in (f0, f1)}
    lead_s, trail_s = min(centre.values()) - t0, t1 - max(centre.values())
    if lead_s < 0 or trail_s < 0 or lead_s + trail_s <= 0:
        return box_geometry(t0, t1, f0, f1)
    corners = [(centre[f0] - lead_s, f0), (centre[f0] + trail_s, f0),
               (centre[f1] + trail_s, f1), (centre[f1] - lead_s, f1)]
    return {"type": "Polygon", "coordinates": [exterior_ring(corners)]}


def alert_feature(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One TFCat Feature: outline, bounding box, and the alert's scalars as flat properties."""
    properties: dict[str, Any] = {name: alert.get(name) for name in _COPIED}
    properties["drift"] = float(alert.get("drift_hz_per_s") or 0.0)
    properties["detector_version"] = (alert.get("module_versions") or {}).get(alert["detector"])
    for label, p in sorted((alert.get("class_probabilities") or {}).items()):
        properties[f"{PROBABILITY_PREFIX}{label}"] = float(p)
    return tfcat_feature(str(alert["alert_id"]), alert_geometry(alert), properties)


def _alert_fields(features: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The ``fields`` member: every property used, with probabilities declared per class seen."""
    used = {name for feature in features for name in feature["properties"]}
    declared = dict(_ALERT_FIELDS)
    for name in sorted(n for n in used if n.startswith(PROBABILITY_PREFIX)):
        declared[name] = (f"Probability of class {name[len(PROBABILITY_PREFIX):]}", "float", "stat.probability", None)
    return tfcat_fields(declared)


def _alert_collection(features: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """Detections in time order (then by id), so a night's file reads as it happened."""
    features = sorted(features, key=lambda f: (f["properties"].get("time_peak_unix_s") or 0.0, f["id"]))
    return feature_collection(features, _alert_fields(features), title=title,
                              instrument_name="NenuFAR beamformer (UnDySPuTeD)", source="formats/tfcat.py")


def alerts_to_tfcat(alerts: Iterable[Mapping[str, Any]], title: str = "nenubroker detections") -> dict[str, Any]:
    """A TFCat FeatureCollection of ``alerts``, one Feature per alert id (the last copy wins)."""
    by_id = {str(alert["alert_id"]): alert_feature(alert) for alert in alerts}
    catalogue = _alert_collection(list(by_id.values()), title)
    validate_tfcat(catalogue)
    return catalogue


def merge_catalogues(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` plus ``new``, one Feature per id; ``new`` wins, so a re-run refreshes, never duplicates."""
    by_id = {f["id"]: f for f in old["features"]}
    by_id.update({f["id"]: f for f in new["features"]})
    title = (old.get("properties") or {}).get("title") or new["properties"]["title"]
    catalogue = _alert_collection(list(by_id.values()), title)
    catalogue["fields"] = {**(old.get("fields") or {}), **catalogue["fields"]}
    validate_tfcat(catalogue)
    return catalogue


def night_catalogue_path(directory: Path | str, night: str, beam: str) -> Path:
    """``<directory>/<YYYY-MM-DD>/<beam>.tfcat.json``; characters unsafe in file names become ``_``."""
    return Path(directory) / night / f"{re.sub(r'[^A-Za-z0-9._-]', '_', beam)}.tfcat.json"


def write_night_catalogues(alerts: Iterable[Mapping[str, Any]], directory: Path | str) -> list[Path]:
    """Write one catalogue per (UTC night, beam), merged with any already there; return their paths."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for alert in alerts:
        groups[(utc_night(alert["time_peak_unix_s"]), alert["beam"])].append(alert)
    paths = []
    for (night, beam), members in sorted(groups.items()):
        path = night_catalogue_path(directory, night, beam)
        catalogue = alerts_to_tfcat(members, f"nenubroker detections, beam {beam}, UTC night {night}")
        if path.exists():
            catalogue = merge_catalogues(read_tfcat(path), catalogue)
        paths.append(write_tfcat(catalogue, path))
    return paths


__all__ = ["PROBABILITY_PREFIX", "REF_POSITION_ID", "TFCAT_SCHEMA_URI", "FieldSpec", "alert_feature",
           "alert_geometry", "alerts_to_tfcat", "box_geometry", "exterior_ring", "feature_collection",
           "geometry_bbox", "merge_catalogues", "night_catalogue_path", "read_tfcat", "signed_area",
           "tfcat_crs", "tfcat_feature", "tfcat_fields", "tfcat_schema", "utc_night", "validate_tfcat",
           "write_night_catalogues", "write_tfcat"]
