"""Every collected test gets exactly one of three markers, so each part of the suite runs alone
(``./nenu test -m unit``, ``-m integration``, ``-m radio``):

- ``integration``: uses the real Kafka broker or Spark (the ``kafka``, ``settings`` or ``spark``
  fixtures of tests/conftest.py), or is marked so by hand because it starts processes;
- ``radio``: a Measurement Set or the radio tools (tests/batch/: casacore, DP3, AOFlagger, WSClean);
- ``unit``: everything else: pure numpy/pandas, files in a temporary folder, doctests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
_INTEGRATION_FIXTURES = {"kafka", "settings", "spark"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.keywords or _INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        elif (REPO / "tests" / "batch") in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.radio)
        else:
            item.add_marker(pytest.mark.unit)
