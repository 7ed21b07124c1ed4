"""TFCat catalogues of nenubroker detections, one file per UTC night and beam.

TFCat (Cecconi et al. 2022, doi:10.25935/6068-8528) is the community format for features of
dynamic spectra; MASER tools and TOPCAT read it. The axes are those of the simulator's truth
(``nenubroker.edge.tfcat``): unix seconds and Hz, with NenuFAR as the reference position, so a
night's detections can be laid over its truth. Geometry helpers and validation come from there too.

Each alert is a Polygon: a parallelogram following its drift through the peak when that fits in the
alert's time-frequency box ``[time_start, time_start + duration] × [freq_min, freq_max]``, else the
box itself (a non-drifting burst, or a curved type III whose peak drift leaves the box). Either way
the outline contains the peak.

The *night* of an alert is the UTC calendar date (``YYYY-MM-DD``) of its peak time. It needs no
site ephemeris, never splits one alert's files, and NenuFAR's solar observations (local day) and
Jupiter observations (local night) each fall in one or two dates at most.

>>> alert = {"alert_id": "a", "beam": "beam0", "time_peak_unix_s": 86400.5, "time_start_unix_s": 86400.0,
...          "duration_s": 2.0, "freq_peak_hz": 40e6, "freq_min_hz": 30e6, "freq_max_hz": 50e6,
...          "drift_hz_per_s": 0.0}
>>> utc_night(alert["time_peak_unix_s"]), alert_geometry(alert)["type"]
('1970-01-02', 'Polygon')
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nenubroker import __version__
from nenubroker.edge.tfcat import TFCAT_SCHEMA_URI, _bbox, _box, _ring, to_tfcat, validate_tfcat

#: Feature properties copied from the alert: (info, datatype, ucd, unit or None).
_FIELDS: dict[str, tuple[str, str, str, str | None]] = {
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
    "snr": ("Detection S/N", "float", "stat.snr", None),
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
PROBABILITY_PREFIX = "prob_"


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
        return _box(t0, t1, f0, f1)
    t_peak, f_peak = float(alert["time_peak_unix_s"]), float(alert["freq_peak_hz"])
    centre = {f: t_peak + (f - f_peak) / drift for f in (f0, f1)}
    lead_s, trail_s = min(centre.values()) - t0, t1 - max(centre.values())
    if lead_s < 0 or trail_s < 0 or lead_s + trail_s <= 0:
        return _box(t0, t1, f0, f1)
    corners = [(centre[f0] - lead_s, f0), (centre[f0] + trail_s, f0),
               (centre[f1] + trail_s, f1), (centre[f1] - lead_s, f1)]
    return {"type": "Polygon", "coordinates": [_ring(corners)]}


def alert_feature(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One TFCat Feature: outline, bounding box, and the alert's scalars as flat properties."""
    properties: dict[str, Any] = {name: alert.get(name) for name in _COPIED}
    properties["drift"] = float(alert.get("drift_hz_per_s") or 0.0)
    properties["detector_version"] = (alert.get("module_versions") or {}).get(alert["detector"])
    for label, p in sorted((alert.get("class_probabilities") or {}).items()):
        properties[f"{PROBABILITY_PREFIX}{label}"] = float(p)
    geometry = alert_geometry(alert)
    return {"type": "Feature", "id": str(alert["alert_id"]), "bbox": _bbox(geometry), "geometry": geometry,
            "properties": properties}


def _fields(features: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The ``fields`` member: every property used, with probabilities declared per class seen."""
    used = {name for feature in features for name in feature["properties"]}
    declared = dict(_FIELDS)
    for name in sorted(n for n in used if n.startswith(PROBABILITY_PREFIX)):
        declared[name] = (f"Probability of class {name[len(PROBABILITY_PREFIX):]}", "float", "stat.probability", None)
    return {name: {"info": info, "datatype": datatype, "ucd": ucd, **({"unit": unit} if unit else {})}
            for name, (info, datatype, ucd, unit) in declared.items()}


def _collection(features: list[dict[str, Any]], title: str) -> dict[str, Any]:
    features = sorted(features, key=lambda f: (f["properties"].get("time_peak_unix_s") or 0.0, f["id"]))
    return {
        "$schema": TFCAT_SCHEMA_URI,
        "type": "FeatureCollection",
        "features": features,
        "properties": {"title": title, "instrument_host_name": "NenuFAR",
                       "instrument_name": "NenuFAR beamformer (UnDySPuTeD)", "target_name": "Sun, Jupiter, RFI",
                       "generator": f"nenubroker {__version__} formats/tfcat.py"},
        "fields": _fields(features),
        "crs": copy.deepcopy(to_tfcat([])["crs"]),
    }


def alerts_to_tfcat(alerts: Iterable[Mapping[str, Any]], title: str = "nenubroker detections") -> dict[str, Any]:
    """A TFCat FeatureCollection of ``alerts``, one Feature per alert id (the last copy wins)."""
    by_id = {str(alert["alert_id"]): alert_feature(alert) for alert in alerts}
    catalogue = _collection(list(by_id.values()), title)
    validate_tfcat(catalogue)
    return catalogue


def merge_catalogues(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` plus ``new``, one Feature per id; ``new`` wins, so a re-run refreshes, never duplicates."""
    by_id = {f["id"]: f for f in old["features"]}
    by_id.update({f["id"]: f for f in new["features"]})
    title = (old.get("properties") or {}).get("title") or new["properties"]["title"]
    catalogue = _collection(list(by_id.values()), title)
    catalogue["fields"] = {**(old.get("fields") or {}), **catalogue["fields"]}
    validate_tfcat(catalogue)
    return catalogue


def night_catalogue_path(directory: Path | str, night: str, beam: str) -> Path:
    """``<directory>/<YYYY-MM-DD>/<beam>.tfcat.json``; characters unsafe in file names become ``_``."""
    return Path(directory) / night / f"{re.sub(r'[^A-Za-z0-9._-]', '_', beam)}.tfcat.json"


def _write_atomic(catalogue: Mapping[str, Any], path: Path) -> None:
    """Write to a hidden temporary file, sync, rename: a reader never sees half a catalogue."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(json.dumps(catalogue, indent=1, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


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
        _write_atomic(catalogue, path)
        paths.append(path)
    return paths


def read_tfcat(path: Path | str, validate: bool = True) -> dict[str, Any]:
    """The catalogue in ``path``, checked with :func:`nenubroker.edge.tfcat.validate_tfcat`."""
    catalogue: dict[str, Any] = json.loads(Path(path).read_text())
    if validate:
        validate_tfcat(catalogue)
    return catalogue


__all__ = ["PROBABILITY_PREFIX", "alert_feature", "alert_geometry", "alerts_to_tfcat", "merge_catalogues",
           "night_catalogue_path", "read_tfcat", "utc_night", "write_night_catalogues"]
