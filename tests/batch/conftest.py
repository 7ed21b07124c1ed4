"""A small simulated NenuFAR Measurement Set shared by the batch tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 mini-arrays, 40 integrations of 8 s, 2 subbands of 4 channels; truth and sky model beside it."""
    from nenubroker.batch.generate import generate_ms

    path = tmp_path_factory.mktemp("ms") / "tiny.ms"
    generate_ms(path, n_antennas=16, n_times=40, n_subbands=2, channels_per_subband=4, seed=7)
    return path
