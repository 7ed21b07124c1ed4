"""VOEvent 2.0 packets for nenubroker alerts, so that VO tools (GCN, hop, Comet, TOPCAT) can read them.

One alert gives one packet whose IVORN is ``ivo://<authority>/<stream>#<alert_id>``. The packet is
built with voevent-parse's element factories and checked against the IVOA VOEvent 2.0 schema that
voevent-parse ships, so nothing is fetched over the network. Packets are deterministic: the same
alert always gives the same bytes (the authoring date is the alert's ``processed_unix_s``), so a
replayed stream republishes identical packets.

voevent-parse 1.0.3's ``add_how``, ``add_why`` and ``add_citations`` use ``collections.Iterable``,
which Python 3.10 removed (timstaley/voevent-parse pull request 11), so sections are appended here.

Simulated data must be published with ``role="test"``; :func:`role_for_source` maps a chunk's
``source`` to the role.

>>> alert_ivorn("0123abcd")
'ivo://nenufar.obs-nancay.fr/nenubroker#0123abcd'
"""

from __future__ import annotations

import math
import numbers
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import voeventparse as vp  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from nenubroker import __version__

DEFAULT_AUTHORITY = "nenufar.obs-nancay.fr"
DEFAULT_STREAM = "nenubroker"
PROJECT_URL = "https://nenufar.obs-nancay.fr/"
ROLES = ("observation", "prediction", "utility", "test")
CITE_TYPES = ("followup", "supersedes", "retraction")

#: NenuFAR's centre, WGS84 geodetic (nenupy 2.8 telescopes.json). The height is above the
#: ellipsoid, as UTC-GEOD-TOPO wants; it is about 136 m above sea level (geoid undulation ≈ 46 m).
NENUFAR_LON_DEG = 2.1924
NENUFAR_LAT_DEG = 47.376511
NENUFAR_HEIGHT_M = 182.096
SITE_COORD_SYSTEM = "UTC-GEOD-TOPO"
SKY_COORD_SYSTEM = "UTC-ICRS-TOPO"
#: Longest baseline of the 96 core mini-arrays: beam FWHM ≈ λ / D (nenupy gives 0.79° at 40 MHz).
CORE_BASELINE_M = 542.0
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0

#: Why/Inference Name and Concept of each class label. Concepts are SV-style tokens of our own.
CLASS_CONCEPTS = {
    "type_iii": ("Solar type III radio burst", "sun.radio.burst.typeIII"),
    "type_iiib": ("Solar type IIIb radio burst (striae)", "sun.radio.burst.typeIIIb"),
    "spike": ("Solar decametric spike", "sun.radio.burst.spike"),
    "jupiter_s": ("Jovian decametric S-burst", "planet.jupiter.radio.burst.S"),
    "rfi": ("Radio-frequency interference", "instr.rfi"),
    "other": ("Unclassified radio burst", "radio.burst"),
}


class VOEventError(ValueError):
    """A packet that is not valid VOEvent 2.0; the message gives the schema's reasons."""


def alert_ivorn(alert_id: str, authority: str = DEFAULT_AUTHORITY, stream: str = DEFAULT_STREAM) -> str:
    """The IVORN of an alert's packet: one place builds it, so citations always match."""
    return f"ivo://{authority}/{stream}#{alert_id}"


def role_for_source(source: str) -> str:
    """``test`` for simulated chunks (``source == "simulator"``), else ``observation``."""
    return "test" if source == "simulator" else "observation"


def beam_radius_deg(freq_hz: float) -> float:
    """Half the beam FWHM at ``freq_hz``: where in the tied-array beam the source may be."""
    return math.degrees(SPEED_OF_LIGHT_M_PER_S / freq_hz / CORE_BASELINE_M) / 2


def _iso_utc(time_unix_s: float) -> str:
    """ISO 8601 UTC without a zone suffix, as VOEvent's ISOTime wants (the scale is in the system id)."""
    return datetime.fromtimestamp(time_unix_s, UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _param(name: str, value: Any, unit: str | None = None, ucd: str | None = None,
           info: str | None = None) -> Any:
    """A What Param with an explicit dataType, or None for a missing value (VOEvent has no null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        text, data_type = str(value), "string"
    elif isinstance(value, numbers.Integral):
        text, data_type = str(int(value)), "int"
    else:
        text, data_type = repr(float(value)), "float"
    param = vp.Param(name, value=text, unit=unit, ucd=ucd, dataType=data_type)
    if info:
        param.Description = info
    return param


def _group(name: str, params: list[Any], info: str) -> Any:
    group = vp.Group([p for p in params if p is not None], name=name)
    group.Description = info
    return group


def _what(alert: Mapping[str, Any]) -> list[Any]:
    """Params and Groups of the What section: every alert field except the cutout."""
    top = [
        _param("alert_id", alert["alert_id"], ucd="meta.id;meta.main", info="Alert id, stable under replay"),
        _param("beam", alert["beam"], ucd="meta.id;instr.beam", info="NenuFAR beam"),
        _param("chunk_index", alert["chunk_index"], ucd="meta.id.part", info="Chunk of the beam's stream"),
        _param("snr", alert["snr"], ucd="stat.snr", info="Matched-filter S/N at the detection resolution"),
        _param("freq_peak", alert["freq_peak_hz"] / 1e6, "MHz", "em.freq", "Frequency of the peak"),
        _param("freq_min", alert["freq_min_hz"] / 1e6, "MHz", "em.freq;stat.min", "Lowest frequency of the burst"),
        _param("freq_max", alert["freq_max_hz"] / 1e6, "MHz", "em.freq;stat.max", "Highest frequency of the burst"),
        _param("drift", alert["drift_hz_per_s"] / 1e6, "MHz/s", "arith.rate;em.freq",
               "Frequency drift at the peak; negative towards lower frequencies"),
        _param("time_start", _iso_utc(alert["time_start_unix_s"]), ucd="time.start", info="Start, UTC"),
        _param("duration", alert["duration_s"], "s", "time.duration", "Duration over all frequencies"),
        _param("peak_power", alert["peak_power"], ucd="phot.flux.density;arith.ratio",
               info="Peak power over the channel background, minus 1"),
        _param("rfi_flagged_fraction", alert.get("rfi_flagged_fraction"), ucd="arith.ratio",
               info="Fraction of the chunk flagged as RFI"),
        _param("detector", alert["detector"], ucd="meta.software", info="Science module that found it"),
        _param("nenubroker_version", alert["nenubroker_version"], ucd="meta.version"),
    ]
    probabilities = alert.get("class_probabilities") or {}
    classification = _group("classification", [
        _param("class_label", alert.get("class_label"), ucd="meta.code.class", info="Most probable class"),
        _param("classifier", alert.get("classifier"), ucd="meta.software", info="Classifier and model version"),
        *[_param(f"prob_{label}", probabilities[label], ucd="stat.probability", info=f"P({label})")
          for label in sorted(probabilities)],
    ], "Classification of the burst; class_label is absent when no classifier ran")
    versions = _group("module_versions", [
        _param(name, version, ucd="meta.version") for name, version in sorted(alert["module_versions"].items())
    ], "Version of every science module that ran")
    latency_s = alert["processed_unix_s"] - alert["chunk_created_unix_s"]
    timing = _group("timing", [
        _param("chunk_created", _iso_utc(alert["chunk_created_unix_s"]), ucd="time.processing",
               info="When the edge made the chunk, UTC"),
        _param("kafka_ingest", _iso_utc(alert["kafka_ingest_unix_s"]), ucd="time.processing",
               info="Kafka timestamp of the chunk, UTC"),
        _param("processed", _iso_utc(alert["processed_unix_s"]), ucd="time.processing",
               info="When the broker made the alert, UTC"),
        _param("latency", latency_s, "s", "time.interval", info="From chunk creation to alert"),
    ], "Processing times, for latency accounting")
    return [p for p in top if p is not None] + [classification, versions, timing]


def _where_when(voevent: Any, time_peak_unix_s: float, pointing_deg: tuple[float, float] | None,
                error_deg: float) -> None:
    """NenuFAR's site, the peak time and, when known, the beam pointing as the position."""
    obs = etree.SubElement(voevent.WhereWhen, "ObsDataLocation")
    site = etree.SubElement(obs, "ObservatoryLocation", id="NenuFAR")
    etree.SubElement(site, "AstroCoordSystem", id=SITE_COORD_SYSTEM)
    site_coords = etree.SubElement(site, "AstroCoords", coord_system_id=SITE_COORD_SYSTEM)
    position_3d = etree.SubElement(site_coords, "Position3D", unit="deg-deg-m")
    position_3d.Name1, position_3d.Name2, position_3d.Name3 = "longitude", "latitude", "height"
    value_3d = etree.SubElement(position_3d, "Value3")
    value_3d.C1, value_3d.C2, value_3d.C3 = NENUFAR_LON_DEG, NENUFAR_LAT_DEG, NENUFAR_HEIGHT_M
    location = etree.SubElement(obs, "ObservationLocation")
    etree.SubElement(location, "AstroCoordSystem", id=SKY_COORD_SYSTEM)
    coords = etree.SubElement(location, "AstroCoords", coord_system_id=SKY_COORD_SYSTEM)
    instant = etree.SubElement(etree.SubElement(coords, "Time", unit="s"), "TimeInstant")
    instant.ISOTime = _iso_utc(time_peak_unix_s)
    if pointing_deg is not None:
        position = etree.SubElement(coords, "Position2D", unit="deg")
        position.Name1, position.Name2 = "RA", "Dec"
        value = etree.SubElement(position, "Value2")
        value.C1, value.C2 = float(pointing_deg[0]), float(pointing_deg[1])
        position.Error2Radius = float(error_deg)


@cache
def _method(detector: str) -> str:
    """The detector module's own description, so the How section never drifts from the code."""
    try:
        return str(import_module(f"nenubroker.udfs.{detector}").MODULE.description)
    except (ImportError, AttributeError):
        return f"science module {detector}"


def _how(alert: Mapping[str, Any]) -> Any:
    how = etree.Element("How")
    version = alert["module_versions"].get(alert["detector"], "")
    texts = [
        (f"NenuFAR beamformed (UnDySPuTeD) Stokes I dynamic spectra of beam {alert['beam']}, normalised per "
         "channel, streamed in chunks by the nenubroker edge."),
        f"Detection: {alert['detector']} {version}: {_method(alert['detector'])}.",
    ]
    if alert.get("classifier"):
        texts.append(f"Classification: {alert['classifier']}.")
    for text in texts:
        etree.SubElement(how, "Description").text = text
    how.append(vp.Reference(PROJECT_URL))
    return how


def importance(alert: Mapping[str, Any]) -> float | None:
    """Why/@importance: the probability that the burst is not RFI; None when unclassified."""
    label = alert.get("class_label")
    if label is None:
        return None
    p_rfi = (alert.get("class_probabilities") or {}).get("rfi", 1.0 if label == "rfi" else 0.0)
    return min(1.0, max(0.0, 1.0 - float(p_rfi)))


def _why(alert: Mapping[str, Any]) -> Any:
    label = alert["class_label"]
    why = etree.Element("Why", importance=repr(importance(alert)))
    name, concept = CLASS_CONCEPTS.get(label, (label, f"radio.burst.{label}"))
    p_label = (alert.get("class_probabilities") or {}).get(label)
    why.append(vp.Inference(probability=None if p_label is None else min(1.0, max(0.0, float(p_label))),
                            relation="identified", name=name, concept=concept))
    return why


def _as_ivorn(alert_id_or_ivorn: str, authority: str, stream: str) -> str:
    if alert_id_or_ivorn.startswith("ivo://"):
        return alert_id_or_ivorn
    return alert_ivorn(alert_id_or_ivorn, authority, stream)


def _citations(cites: Sequence[tuple[str, str]], description: str | None, authority: str, stream: str) -> Any:
    citations = etree.Element("Citations")
    for target, cite in cites:
        if cite not in CITE_TYPES:
            raise VOEventError(f"cite type {cite!r} is not one of {', '.join(CITE_TYPES)}")
        citations.append(vp.EventIvorn(_as_ivorn(target, authority, stream), cite))
    if description:
        etree.SubElement(citations, "Description").text = description
    return citations


def _packet(local_id: str, role: str, authority: str, stream: str, date_unix_s: float) -> Any:
    """A packet with its IVORN, role and Who section (author: NenuFAR)."""
    voevent = vp.Voevent(stream=f"{authority}/{stream}", stream_id=local_id, role=role)
    vp.set_who(voevent, date=datetime.fromtimestamp(date_unix_s, UTC), author_ivorn=f"{authority}/{stream}")
    vp.set_author(voevent, title="nenubroker, the NenuFAR transient broker", shortName="NenuFAR",
                  contactName="NenuFAR")
    voevent.Who.Description = f"Made by nenubroker {__version__}"
    return voevent


def _finish(voevent: Any) -> str:
    xml: str = vp.dumps(voevent, pretty_print=True).decode()
    validate_voevent(xml)
    return xml


def alert_to_voevent(alert: Mapping[str, Any], *, authority: str = DEFAULT_AUTHORITY, stream: str = DEFAULT_STREAM,
                     role: str = "observation", pointing_ra_deg: float | None = None,
                     pointing_dec_deg: float | None = None, position_error_deg: float | None = None,
                     cites: Sequence[tuple[str, str]] = (), citation_description: str | None = None,
                     local_id: str | None = None) -> str:
    """The VOEvent 2.0 XML of one alert (a conf/schemas/alert.v1.avsc record), validated.

    Parameters
    ----------
    alert : the alert record; ``cutout`` is not carried (it stays in the Avro alert).
    role : ``observation`` for sky data, ``test`` for simulated data (see :func:`role_for_source`).
    pointing_ra_deg, pointing_dec_deg : ICRS beam pointing; gives WhereWhen a Position2D whose error
        radius is ``position_error_deg`` (default: half the beam FWHM at the peak frequency).
    cites : ``(alert id or IVORN, "followup" | "supersedes" | "retraction")`` pairs.
    local_id : the part after ``#`` in the IVORN; defaults to the alert id.

    Raises
    ------
    VOEventError
        When the packet is not valid VOEvent 2.0 (a bad role, say).
    """
    if (pointing_ra_deg is None) != (pointing_dec_deg is None):
        raise VOEventError("give both pointing_ra_deg and pointing_dec_deg, or neither")
    voevent = _packet(local_id or alert["alert_id"], role, authority, stream, alert["processed_unix_s"])
    voevent.What.Description = ("Burst candidate in a NenuFAR beam's dynamic spectrum; its 32 x 32 cutout "
                                "travels only in the Avro alert")
    for element in _what(alert):
        voevent.What.append(element)
    pointing = None
    if pointing_ra_deg is not None and pointing_dec_deg is not None:
        pointing = (float(pointing_ra_deg), float(pointing_dec_deg))
    error_deg = position_error_deg if position_error_deg is not None else beam_radius_deg(alert["freq_peak_hz"])
    _where_when(voevent, alert["time_peak_unix_s"], pointing, error_deg)
    voevent.append(_how(alert))
    if alert.get("class_label") is not None:
        voevent.append(_why(alert))
    if cites:
        voevent.append(_citations(cites, citation_description, authority, stream))
    return _finish(voevent)


def update(alert: Mapping[str, Any], previous: str, *, revision: int = 2, cite: str = "supersedes",
           reason: str | None = None, **options: Any) -> str:
    """A new version of an alert's packet (e.g. reclassified) that cites the earlier one.

    Its IVORN ends in ``#<alert_id>-v<revision>``, because an IVORN must never be reused.
    ``previous`` is the earlier packet's alert id or IVORN; ``options`` go to :func:`alert_to_voevent`.
    """
    return alert_to_voevent(alert, cites=[(previous, cite)], citation_description=reason,
                            local_id=f"{alert['alert_id']}-v{revision}", **options)


def retraction(alert_id_or_ivorn: str, reason: str, *, authority: str = DEFAULT_AUTHORITY,
               stream: str = DEFAULT_STREAM, role: str = "observation", date_unix_s: float | None = None,
               local_id: str | None = None) -> str:
    """A packet withdrawing an earlier one (e.g. found to be RFI), citing it with ``cite="retraction"``.

    Its IVORN ends in ``#<cited id>-retraction`` unless ``local_id`` is given; ``role`` must match
    the retracted packet's (``test`` for simulated data).
    """
    cited = _as_ivorn(alert_id_or_ivorn, authority, stream)
    date = date_unix_s if date_unix_s is not None else datetime.now(UTC).timestamp()
    voevent = _packet(local_id or f"{cited.rpartition('#')[2]}-retraction", role, authority, stream, date)
    voevent.remove(voevent.What)
    voevent.remove(voevent.WhereWhen)
    voevent.append(_citations([(cited, "retraction")], reason, authority, stream))
    return _finish(voevent)


def validate_voevent(xml: str | bytes) -> None:
    """Raise :class:`VOEventError` unless ``xml`` is a VOEvent 2.0 packet with an ``ivo://`` IVORN.

    The message lists every schema error with its line, e.g. a role outside observation,
    prediction, utility and test.
    """
    try:
        root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    except etree.XMLSyntaxError as error:
        raise VOEventError(f"not XML: {error}") from error
    schema = vp.voevent_v2_0_schema
    if not schema.validate(root):
        reasons = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise VOEventError(f"not a valid VOEvent 2.0 packet: {reasons}")
    ivorn = root.get("ivorn", "")
    if not re.fullmatch(r"ivo://[^/#]+/[^#]+#.+", ivorn):
        raise VOEventError(f"IVORN {ivorn!r} is not of the form ivo://authority/stream#local_id")


def packet_ivorn(xml: str | bytes) -> str:
    """The IVORN of a packet."""
    return str(etree.fromstring(xml.encode() if isinstance(xml, str) else xml).get("ivorn"))


def write_voevent(xml: str, directory: Path | str) -> Path:
    """Validate ``xml`` and write it atomically as ``<directory>/<local id>.xml``.

    A reader never sees half a packet: it is written to a hidden temporary file, synced, then renamed.
    """
    validate_voevent(xml)
    local_id = packet_ivorn(xml).rpartition("#")[2]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{re.sub(r'[^A-Za-z0-9._-]', '_', local_id)}.xml"
    with tempfile.NamedTemporaryFile("wb", dir=directory, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(xml.encode())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)
    return path


__all__ = ["CITE_TYPES", "CLASS_CONCEPTS", "DEFAULT_AUTHORITY", "DEFAULT_STREAM", "NENUFAR_HEIGHT_M",
           "NENUFAR_LAT_DEG", "NENUFAR_LON_DEG", "ROLES", "VOEventError", "alert_ivorn", "alert_to_voevent",
           "beam_radius_deg", "importance", "packet_ivorn", "retraction", "role_for_source", "update",
           "validate_voevent", "write_voevent"]
