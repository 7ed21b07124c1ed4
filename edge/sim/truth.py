"""The simulator's truth catalogue: what was injected, as JSON lines or TFCat, and which alerts found it.

While streaming, the edge appends each injected event to a JSON-lines file; at the end the whole
truth is written in TFCat (``nenubroker.formats.tfcat``) beside it, one Feature per event with
every InjectedEvent field as a property, so ``read_truth_tfcat`` rebuilds the events exactly.
Outlines by kind, in (unix s, Hz):

- type_iii: the drifting band between the peak and one e-folding decay, from start to stop frequency.
- type_iii_u, type_iii_j: the same band around the U (the gap between its legs left out where they
  are further apart than the decay) or along the J, which flattens at the turning frequency.
- type_iiib: a MultiPolygon with one box per stria (FWHM in time and frequency, slanted by its drift).
- type_ii: a MultiPolygon with one band per lane and sub-band (FWHM), drifting with the shock.
- type_iv: the +-2 sigma band, following the drift of a moving one (a box when stationary).
- jupiter_s: the parallelogram swept by the FWHM ridge. jupiter_l: the arc, ``duration_s`` wide.
- type_i (the storm), type_v, spike, lost_block: a box. rfi_impulse: a vertical LineString.
  rfi_persistent: a horizontal LineString.

Every event carries ``circular_polarisation`` (V/I of the emission; the simulated data are Stokes
I). The parameters of the newer kinds (``speed_km_s``, ``band_split``, ...) are written only where
they differ from their defaults.

Only bursts and impulsive RFI count as events to find; persistent RFI channels and lost blocks
are reported by the simulator once per block and are not something to alert on.

>>> e = InjectedEvent("rfi_impulse", "b", 10.0, 60e6, 5.0, duration_s=0.0, freq_stop_hz=20e6)
>>> event_geometry(e)
{'type': 'LineString', 'coordinates': [[10.0, 20000000.0], [10.0, 60000000.0]]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from nenubroker.edge.sim import jupiter, solar, storms
from nenubroker.edge.sim.events import (
    DRIFTING_KINDS,
    EVENT_KINDS,
    InjectedEvent,
    arrival_unix_s,
    type_iii_decay_s,
)
from nenubroker.formats.tfcat import (
    FieldSpec,
    box_geometry,
    exterior_ring,
    feature_collection,
    read_tfcat,
    tfcat_feature,
    tfcat_fields,
    write_tfcat,
)

NOT_TO_FIND = ("rfi_persistent", "lost_block")
TRUTH_TITLE = "nenubroker simulator truth"

#: Feature properties of an injected event: (info, datatype, ucd, unit or None).
_FIELDS: dict[str, FieldSpec] = {
    "event_id": ("Event identifier, unique within the beam", "str", "meta.id;meta.main", None),
    "kind": (f"Event kind, one of {', '.join(EVENT_KINDS)}", "str", "meta.code.class", None),
    "beam": ("NenuFAR beam the event was injected into", "str", "meta.id;instr.beam", None),
    "snr": ("Peak S/N of one pixel at the simulator resolution", "float", "stat.snr", None),
    "drift": ("Frequency drift rate at freq_start_hz (null when the kind does not drift)", "float",
              "arith.rate;em.freq", "Hz/s"),
    "group_id": ("Shared by a harmonic pair, a spike cluster, an S-burst train, a type III group and its "
                 "type V, or one RFI channel", "str",
                 "meta.id.parent", None),
    "harmonic": ("Harmonic number of a type III ridge (1 fundamental, 2 harmonic)", "int", "meta.code", None),
    "time_start_unix_s": ("Start of the event (type III: peak at freq_start_hz)", "float", "time.start", "s"),
    "duration_s": ("Duration at one frequency: FWHM; type III, U, J e-folding decay at freq_start_hz; "
                   "type IIIb stria lifetime; type I, II, IV, V the whole event; Jupiter L the arc", "float",
                   "time.duration", "s"),
    "freq_start_hz": ("Top frequency of drifting and broadband kinds, centre of narrowband ones", "float",
                      "em.freq", "Hz"),
    "freq_stop_hz": ("Bottom frequency of drifting and broadband kinds (U, J: the turning frequency)", "float",
                     "em.freq", "Hz"),
    "bandwidth_hz": ("FWHM bandwidth of narrowband kinds, total band of broadband ones", "float",
                     "spect.line.width", "Hz"),
    "striae_freq_hz": ("Centre frequency of each stria (type IIIb)", "float", "em.freq", "Hz"),
    "striae_width_hz": ("FWHM width of each stria (type IIIb)", "float", "spect.line.width", "Hz"),
    "striae_amplitude": ("Relative amplitude of each stria (type IIIb)", "float", "arith.ratio", None),
    "stria_drift_hz_per_s": ("Frequency drift of each stria (type IIIb)", "float", "arith.rate;em.freq", "Hz/s"),
    "circular_polarisation": ("Degree of circular polarisation V/I of the emission, positive right-handed "
                              "(IAU); the simulated data are Stokes I", "float", "phys.polarization.circular", None),
    "seed": ("Seed of the event's fine structure (type I bursts, type II patches and herringbones, "
             "type IV variations, L-bursts)", "int", "meta.code", None),
    "speed_km_s": ("Radial speed of the source: type II shock, U/J beam along its loop, moving type IV", "float",
                   "phys.veloc", "km/s"),
    "density_fold": ("Fold of the Newkirk (1961) coronal density model the source moves through", "float",
                     "arith.factor", None),
    "freq_end_hz": ("Frequency where a U burst's rising branch ends", "float", "em.freq", "Hz"),
    "harmonic_ratio": ("Harmonic to fundamental lane frequency ratio (type II)", "float", "arith.ratio", None),
    "band_split": ("Relative band split f_upper / f_lower - 1 of each type II lane", "float", "arith.ratio", None),
    "relative_bandwidth": ("FWHM bandwidth over frequency of one type II sub-band", "float", "arith.ratio", None),
    "burst_rate_per_s": ("Type I bursts, type II herringbones or Jupiter L-bursts per second", "float",
                         "arith.rate", "1/s"),
    "continuum_level": ("Type I storm continuum relative to the snr of its brightest bursts", "float",
                        "arith.ratio", None),
    "modulation_period_s": ("Period of type IV pulsations or of Jupiter L modulation lanes", "float",
                            "time.period", "s"),
    "modulation_depth": ("Depth of type IV pulsations or of Jupiter L modulation lanes", "float", "arith.ratio",
                         None),
    "modulation_drift_hz_per_s": ("Frequency drift of Jupiter L modulation lanes", "float", "arith.rate;em.freq",
                                  "Hz/s"),
    "arc_delay_s": ("Jupiter L arc: delay of its band edges after its mid-band vertex (negative: vertex-late)",
                    "float", "time.interval", "s"),
}
_STRIAE = ("striae_freq_hz", "striae_width_hz", "striae_amplitude")
_OPTIONAL = ("seed", "speed_km_s", "density_fold", "freq_end_hz", "harmonic_ratio", "band_split",
             "relative_bandwidth", "burst_rate_per_s", "continuum_level", "modulation_period_s", "modulation_depth",
             "modulation_drift_hz_per_s", "arc_delay_s")
_DEFAULTS = {f.name: f.default for f in fields(InjectedEvent)}
_RINGS = {"type_ii": solar.type_ii_outline, "type_iii_u": solar.loop_outline, "type_iii_j": solar.loop_outline,
          "jupiter_l": jupiter.jupiter_l_outline}


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
        polygons = [box_geometry(c - event.duration_s / 2, c + event.duration_s / 2, f - w / 2, f + w / 2,
                                 event.stria_drift_hz_per_s)["coordinates"]
                    for c, f, w in zip(centres, event.striae_freq_hz, event.striae_width_hz, strict=True)]
        return {"type": "MultiPolygon", "coordinates": polygons}
    if event.kind in _RINGS or (event.kind == "type_iv" and event.speed_km_s > 0):
        rings = (_RINGS.get(event.kind) or storms.type_iv_outline)(event, n_points)
        polygons = [[exterior_ring(ring)] for ring in rings]
        return {"type": "Polygon", "coordinates": polygons[0]} if len(polygons) == 1 else \
            {"type": "MultiPolygon", "coordinates": polygons}
    if event.kind in ("type_iii", "jupiter_s") and hi_hz > lo_hz:
        f = np.linspace(hi_hz, lo_hz, n_points)
        if event.kind == "type_iii":
            lead = arrival_unix_s(event, f)
            trail = lead + type_iii_decay_s(f / event.harmonic)
        else:
            lead = event.time_start_unix_s + (f - event.freq_start_hz) / event.drift_hz_per_s
            trail = lead + event.duration_s
        outline = [*zip(lead, f, strict=True), *zip(trail[::-1], f[::-1], strict=True)]
        return {"type": "Polygon", "coordinates": [exterior_ring(outline)]}
    return box_geometry(t0, t1, lo_hz, hi_hz)


def event_feature(event: InjectedEvent) -> dict[str, Any]:
    """One TFCat Feature: the outline, its bounding box, and every event field as a property."""
    properties = asdict(event)
    drift = properties.pop("drift_hz_per_s")
    properties["drift"] = drift if event.kind in DRIFTING_KINDS else None
    for name in _STRIAE:
        properties[name] = list(properties[name])
        if not properties[name]:
            del properties[name]
    for name in _OPTIONAL:
        if properties[name] == _DEFAULTS[name]:
            del properties[name]
    return tfcat_feature(event.event_id, event_geometry(event), properties)


def truth_tfcat(events: Iterable[InjectedEvent], title: str = TRUTH_TITLE) -> dict[str, Any]:
    """A TFCat FeatureCollection of ``events``, on the same axes as the catalogues of detections."""
    return feature_collection([event_feature(e) for e in events], tfcat_fields(_FIELDS), title=title,
                              instrument_name="UnDySPuTeD (simulated)", source="edge/sim/simulator.py")


def events_from_tfcat(catalogue: dict[str, Any]) -> list[InjectedEvent]:
    """Rebuild the InjectedEvents from a catalogue made by ``truth_tfcat``."""
    names = {f.name for f in fields(InjectedEvent)}
    events = []
    for feature in catalogue["features"]:
        props = dict(feature["properties"])
        props["drift_hz_per_s"] = props.pop("drift", None) or 0.0
        events.append(InjectedEvent.from_dict({k: v for k, v in props.items() if k in names}))
    return events


def write_truth_tfcat(events: Iterable[InjectedEvent], path: Path | str, title: str = TRUTH_TITLE) -> Path:
    """Write ``events`` as a TFCat JSON file and return its path."""
    return write_tfcat(truth_tfcat(events, title), path)


def read_truth_tfcat(path: Path | str) -> list[InjectedEvent]:
    """Read a TFCat file written by ``write_truth_tfcat`` back into InjectedEvents."""
    return events_from_tfcat(read_tfcat(path, validate=False))


def load_truth(path: Path) -> list[InjectedEvent]:
    """Events of a JSON-lines truth file (as the edge writes while streaming)."""
    if not Path(path).is_file():
        return []
    return [InjectedEvent.from_dict(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]


def matches(event: InjectedEvent, alert: dict[str, Any], time_tolerance_s: float = 1.0,
            freq_tolerance_hz: float = 0.5e6) -> bool:
    """Same beam, alert peak inside the event's time span and frequency range (with tolerances)."""
    if alert["beam"] != event.beam:
        return False
    lo_hz, hi_hz = event.freq_range_hz()
    start_s, stop_s = event.time_range_unix_s()
    return (lo_hz - freq_tolerance_hz <= alert["freq_peak_hz"] <= hi_hz + freq_tolerance_hz
            and start_s - time_tolerance_s <= alert["time_peak_unix_s"] <= stop_s + time_tolerance_s)


def to_find(events: Iterable[InjectedEvent]) -> list[InjectedEvent]:
    """The events an alert should find: all but ``NOT_TO_FIND``."""
    return [event for event in events if event.kind not in NOT_TO_FIND]


def found_events(events: Iterable[InjectedEvent], alerts: list[dict[str, Any]]) -> list[InjectedEvent]:
    """The events to find that at least one alert matches."""
    return [event for event in to_find(events) if any(matches(event, alert) for alert in alerts)]


__all__ = ["NOT_TO_FIND", "TRUTH_TITLE", "event_feature", "event_geometry", "events_from_tfcat", "found_events",
           "load_truth", "matches", "read_truth_tfcat", "to_find", "truth_tfcat", "write_truth_tfcat"]
