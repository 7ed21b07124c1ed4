"""What made each product: IVOA provenance (ProvDM) written as W3C PROV-JSON beside the product.

Every product ``P`` a step writes gets ``P.prov.json``: one activity (the step run, with start and end
times and host), its ``voprov:ActivityDescription``, its parameters (``voprov:Parameter`` entities
joined by ``voprov:wasConfiguredBy``), the software that ran (``prov:SoftwareAgent`` with versions
reported by the tools themselves), the input products it used (by role = product kind, identified by
sha256) and the products it generated. Following an input's own ``.prov.json`` gives the lineage.

The document is built with the W3C ``prov`` package and IVOA names (the ``voprov`` namespace).
``voprov`` 0.0.4 itself cannot be used with ``prov`` 3.2.3: it imports ``requests`` without declaring
it, and its ``VOProvNamespaceManager`` skips the ``_resolve_cache`` that ``prov`` 3 needs, so building
any document fails.

Example
-------
>>> import tempfile, time
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "in.txt").write_text("a"); _ = (d / "out.txt").write_text("b")
>>> now = time.time()
>>> record("demo", {"factor": 2}, {"text": d / "in.txt"}, {"text": d / "out.txt"}, now, now + 1,
...        {"nenubroker": "0.1.0"})[0].name
'out.txt.prov.json'
>>> load(d / "out.txt")["activity"][next(iter(load(d / "out.txt")["activity"]))]["voprov:name"]
'demo'
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import prov.model as pm

VOPROV_NS = "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/"
NENU_NS = "urn:nenubroker:"
SUFFIX = ".prov.json"
_SKIPPED_IN_CHECKSUM = {"table.lock"}  # casacore rewrites it whenever a table is opened

# How to ask each tool for its version: a command (first output line is the version) or a distribution.
_VERSION_COMMANDS = {
    "DP3": [str(Path(sys.executable).parent / "DP3.py"), "--version"],
    "AOFlagger": ["aoflagger", "--version"],
    "WSClean": ["wsclean", "--version"],
}
_DISTRIBUTIONS = {"python-casacore": "python-casacore", "nenubroker": "nenubroker", "losoto": "losoto",
                  "astropy": "astropy", "aoflagger-python": "aoflagger", "dp3-python": "dp3"}


_DIRECTORY_DIGESTS: dict[tuple, str] = {}


def provenance_path(product: Path) -> Path:
    """Where a product's provenance lives: ``<product>.prov.json`` beside it."""
    product = Path(product)
    return product.with_name(product.name + SUFFIX)


def checksum(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative path and content) in sorted order.

    A Measurement Set is a directory; its ``table.lock`` files are skipped because opening a table
    rewrites them without changing the data.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> checksum(p)[:16]
    'ba7816bf8f01cfea'
    """
    path = Path(path)
    if path.is_file():
        return _file_digest(path).hexdigest()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name not in _SKIPPED_IN_CHECKSUM)
    # A source MS of several GB is an input of every partition: hash it once per process while
    # none of its files changed size or modification time.
    signature = (str(path.resolve()), tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if signature not in _DIRECTORY_DIGESTS:
        total = hashlib.sha256()
        for file in files:
            total.update(file.relative_to(path).as_posix().encode() + b"\0")
            total.update(_file_digest(file).digest())
        _DIRECTORY_DIGESTS[signature] = total.hexdigest()
    return _DIRECTORY_DIGESTS[signature]


def _file_digest(path: Path) -> hashlib._Hash:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256")


@functools.cache
def _version(name: str) -> str:
    if name in _VERSION_COMMANDS:
        command = _VERSION_COMMANDS[name]
        if shutil.which(command[0]) is None:
            return "unavailable"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        return lines[0] if lines else "unknown"
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        return "unavailable"


def software_versions(names: Iterable[str]) -> dict[str, str]:
    """Version strings of tools (``DP3``, ``AOFlagger``, ``WSClean``: as the tool prints them) and
    Python distributions (``python-casacore``, ``nenubroker`` ...); asked once per process.

    >>> software_versions(["nenubroker"])
    {'nenubroker': '0.1.0'}
    """
    return {name: _version(name) for name in names}


def _iso(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, tz=UTC)


def _as_paths(value: Path | str | list[Path]) -> list[Path]:
    return [Path(p) for p in value] if isinstance(value, (list, tuple)) else [Path(value)]


def _product_entity(doc: pm.ProvDocument, kind: str, path: Path) -> pm.ProvEntity:
    """The product as an entity named by its content: identical content is one entity, recorded once."""
    digest = checksum(path)
    identifier = f"nenu:sha256/{digest}"
    existing = doc.get_record(identifier)
    if existing:
        return existing[0]
    return doc.entity(identifier, {
        "voprov:name": path.name, "prov:location": str(path.resolve()), "nenu:kind": kind,
        "nenu:sha256": digest, "prov:type": doc.valid_qualified_name("voprov:Entity")})


def record(step_name: str, params: Mapping[str, object], inputs: Mapping[str, Path | list[Path]],
           outputs: Mapping[str, Path], started_unix_s: float, ended_unix_s: float,
           software: Mapping[str, str], metrics: Mapping[str, float] | None = None) -> list[Path]:
    """Write ``<output>.prov.json`` beside each output of one step run; return their paths.

    ``inputs`` maps a product kind to a path or, for a many-to-one step (merge), to a list of paths;
    every input and output is identified by its sha256 (``checksum``). ``metrics`` (numbers the run
    measured, e.g. the flagged fraction) become attributes of the activity.
    """
    doc = pm.ProvDocument()
    doc.add_namespace("voprov", VOPROV_NS)
    doc.add_namespace("nenu", NENU_NS)
    run_id = uuid.uuid4().hex
    description = doc.entity(f"nenu:step/{step_name}", {
        "prov:type": doc.valid_qualified_name("voprov:ActivityDescription"), "voprov:name": step_name,
        "voprov:version": software_versions(["nenubroker"])["nenubroker"]})
    activity = doc.activity(f"nenu:run/{step_name}/{run_id}", _iso(started_unix_s), _iso(ended_unix_s), {
        "voprov:name": step_name, "nenu:host": socket.gethostname(),
        **{f"nenu:metric/{k}": float(v) for k, v in (metrics or {}).items()}})
    doc.wasInfluencedBy(activity, description, other_attributes={
        "prov:type": doc.valid_qualified_name("voprov:isDescribedBy")})
    for name, value in params.items():
        parameter = doc.entity(f"nenu:run/{step_name}/{run_id}/parameter/{name}", {
            "prov:type": doc.valid_qualified_name("voprov:Parameter"), "voprov:name": name,
            "prov:value": json.dumps(value, default=str)})
        doc.wasInfluencedBy(activity, parameter, other_attributes={
            "prov:type": doc.valid_qualified_name("voprov:wasConfiguredBy"),
            "voprov:artefactType": "Parameter"})
    for name, version in software.items():
        agent = doc.agent(f"nenu:software/{name}", {
            "prov:type": pm.PROV["SoftwareAgent"], "voprov:name": name, "voprov:version": version})
        doc.wasAssociatedWith(activity, agent, other_attributes={"prov:role": "software"})
    used = []
    for kind, value in inputs.items():
        for path in _as_paths(value):
            entity = _product_entity(doc, kind, path)
            doc.used(activity, entity, other_attributes={"prov:role": kind})
            used.append(entity)
    generated = []
    for kind, path in outputs.items():
        entity = _product_entity(doc, kind, Path(path))
        doc.wasGeneratedBy(entity, activity, _iso(ended_unix_s), other_attributes={"prov:role": kind})
        for source in used:
            doc.wasDerivedFrom(entity, source)
        generated.append(Path(path))
    text = doc.serialize(format="json", indent=1)
    written = []
    for path in generated:
        target = provenance_path(path)
        target.write_text(text)
        written.append(target)
    return written


def load(product_path: Path) -> dict:
    """The parsed PROV-JSON of a product (``FileNotFoundError`` if it has none)."""
    return json.loads(provenance_path(Path(product_path)).read_text())


def _plain(value: object) -> object:
    return value["$"] if isinstance(value, dict) and "$" in value else value


def _records(doc: dict, kind: str) -> list[dict]:
    return list(doc.get(kind, {}).values())


def _software_label(agent: dict) -> str:
    name, version = agent["voprov:name"], agent["voprov:version"]
    return version if version.startswith(name) else f"{name} {version}"  # tools print their own name


def describe(product_path: Path, depth: int = 10) -> str:
    """A human summary of how a product was made, following its inputs' provenance ``depth`` deep.

    This is what ``nenubroker batch provenance <product>`` prints.
    """
    lines: list[str] = []
    _describe(Path(product_path), lines, indent="", depth=depth)
    return "\n".join(lines)


def _describe(product: Path, lines: list[str], indent: str, depth: int) -> None:
    try:
        doc = load(product)
    except FileNotFoundError:
        lines.append(f"{indent}{product}  (no provenance: an original input)")
        return
    entities = doc.get("entity", {})
    (activity_id, activity), = doc["activity"].items()
    start, end = (datetime.fromisoformat(activity[k]) for k in ("prov:startTime", "prov:endTime"))
    lines.append(f"{indent}{product.name}  <- step {activity['voprov:name']} on {activity['nenu:host']}, "
                 f"{start:%Y-%m-%d %H:%M:%S} UTC, {(end - start).total_seconds():.1f} s")
    params = [entities[r["prov:influencer"]] for r in _records(doc, "wasInfluencedBy")
              if _plain(r.get("prov:type")) == "voprov:wasConfiguredBy"]
    if params:
        lines.append(f"{indent}  parameters: " + ", ".join(
            f"{p['voprov:name']}={p['prov:value']}" for p in params))
    metrics = {k.split("/", 1)[1]: _plain(v) for k, v in activity.items() if k.startswith("nenu:metric/")}
    if metrics:
        lines.append(f"{indent}  metrics: " + ", ".join(f"{k}={float(v):.4g}" for k, v in metrics.items()))
    agents = doc.get("agent", {}).values()
    if agents:
        lines.append(f"{indent}  software: " + "; ".join(_software_label(a) for a in agents))
    for usage in _records(doc, "used"):
        entity = entities[usage["prov:entity"]]
        lines.append(f"{indent}  input {usage.get('prov:role')}: {entity['prov:location']} "
                     f"(sha256 {entity['nenu:sha256'][:12]})")
        if depth > 1:
            _describe(Path(entity["prov:location"]), lines, indent + "    ", depth - 1)


__all__ = ["checksum", "describe", "load", "provenance_path", "record", "software_versions"]
