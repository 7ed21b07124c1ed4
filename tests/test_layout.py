"""The layout's promises, checked: the telescope path never imports the simulator, science modules
and the edge never import Spark, and every module says what it exports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Folder -> import name, as pyproject.toml maps them.
PACKAGES = {"nenubroker": "nenubroker", "edge": "nenubroker.edge", "broker": "nenubroker.broker",
            "udfs": "nenubroker.udfs", "batch": "nenubroker.batch", "conf": "nenubroker.conf"}


def _source_files(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if not p.name.startswith("test_"))


def _imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _module_name(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = [PACKAGES[relative.parts[0]], *relative.parts[1:]]
    return ".".join(parts).removesuffix(".__init__")


TELESCOPE_PATH = [p for p in _source_files("edge") if "sim" not in p.relative_to(REPO / "edge").parts]
SCIENCE_MODULES = [p for p in _source_files("udfs") if "training" not in p.relative_to(REPO / "udfs").parts]


@pytest.mark.parametrize("path", TELESCOPE_PATH + SCIENCE_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_telescope_path_and_science_modules_import_neither_simulator_nor_spark(path: Path):
    forbidden = {name for name in _imported(path)
                 if name.startswith(("nenubroker.edge.sim", "pyspark"))}
    assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


def test_ingesting_a_file_loads_neither_simulator_nor_spark():
    """Transitively too: what `nenubroker edge ingest` imports at the telescope."""
    modules = ["nenubroker.edge.ingest", "nenubroker.edge.recorder", "nenubroker.edge.triggers",
               "nenubroker.edge.spectra_file", "nenubroker.edge.callisto_file", "nenubroker.udfs.registry"]
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            "print(sorted({m.split('.')[0] if m.startswith('pyspark') else m for m in sys.modules "
            "if m.startswith(('pyspark', 'nenubroker.edge.sim'))}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


ALL_MODULES = [p for folder in PACKAGES for p in _source_files(folder)
               if p.name != "conftest.py" and "_template" not in p.parts and p.name != "spark_job.py"]


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_public_module_declares_what_it_exports(path: Path):
    source = path.read_text()
    if path.name == "__init__.py" and not _imported(path):
        return  # a package that only documents itself
    if 'if __name__ == "__main__"' in source and "__all__" not in source:
        pytest.skip("a script")
    module = importlib.import_module(_module_name(path))
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{path.relative_to(REPO)} has no __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{path.relative_to(REPO)} exports names it does not define: {missing}"
