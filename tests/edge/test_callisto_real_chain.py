"""The broker's chunk modules and detector on the real e-CALLISTO file (tests/data/callisto/), as the
broker runs them (udfs/registry.run_modules, no Kafka or Spark): how many candidates its quiet
first 100 s give, and that the eruption's onset at 06:26:03 is still found.

Measured with gain_steps 1.0.0, rfi_flagger 1.1.0 and burst_search 1.2.0 (udfs/rfi_flagger/README.md):
38 candidates in the quiet first 100 s (rfi_flagger 1.0.0: 78), most of them narrowband RFI that
recurs less often than once per 16 s chunk and broad slow fading below 35 MHz. The bound below
leaves room for detector changes; it is not the target (1 per hour).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nenubroker.conf.settings import load_settings
from nenubroker.edge.callisto_file import CallistoFile
from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.ingest import settings_for_file
from nenubroker.udfs.registry import chunk_table, resolve, run_modules

REAL_FILE = Path(__file__).resolve().parents[1] / "data" / "callisto" / "BIR_20110607_062400_10.fit.gz"
QUIET_S = 100.0
ONSET_S = 122.75  # 06:26:03.0 UTC, the band median 3 dB up (test_callisto_file.py)
#: Honest bound on the quiet part's candidates (measured 38, see the module docstring).
MAX_QUIET_CANDIDATES = 48


@pytest.fixture(scope="module")
def first_150_s() -> tuple[float, np.ndarray, list]:
    """Candidates of the first 150 s, streamed as the edge streams the file (16 s chunks, 4 s overlap)."""
    settings = load_settings(env={})
    fits_file = CallistoFile(REAL_FILE)
    start = fits_file.time_start_unix_s
    downsampler = Downsampler(settings_for_file(settings, REAL_FILE).ingest)
    block = fits_file.read(start, start + 150.0)
    chunks = downsampler.push(block.to_chunk("bir", 0)) + downsampler.flush()
    chunk_modules = [name for name in settings.modules.enabled if name in ("gain_steps", "rfi_flagger")]
    table, candidates = run_modules(chunk_table(chunks), resolve([*chunk_modules, "burst_search"]),
                                    settings.modules.params)
    return start, np.asarray(table["rfi_flagged_fraction"]), candidates.to_dict("records")


def test_the_broker_runs_gain_steps_then_rfi_flagger_before_the_detector():
    enabled = load_settings(env={}).modules.enabled
    assert enabled.index("gain_steps") < enabled.index("rfi_flagger") < enabled.index("burst_search")


def test_quiet_first_100_s_of_the_real_file_stay_under_the_measured_bound(first_150_s):
    start, _, candidates = first_150_s
    quiet = [c for c in candidates if c["time_start_unix_s"] - start < QUIET_S]
    assert len(quiet) <= MAX_QUIET_CANDIDATES, sorted(
        (round(c["time_start_unix_s"] - start, 2), round(c["freq_min_hz"] / 1e6, 2),
         round(c["freq_max_hz"] / 1e6, 2), round(c["snr"], 1)) for c in quiet)


def test_the_eruption_onset_of_the_real_file_is_found(first_150_s):
    start, _, candidates = first_150_s
    onsets = [c for c in candidates if abs(c["time_start_unix_s"] - start - ONSET_S) <= 2.0 and c["snr"] > 20]
    assert onsets, [(round(c["time_start_unix_s"] - start, 2), round(c["snr"], 1)) for c in candidates]
    assert max(c["freq_max_hz"] - c["freq_min_hz"] for c in onsets) > 10e6  # broadband, not a line


def test_the_flagger_leaves_most_of_the_real_band_to_the_detector(first_150_s):
    _, flagged, _ = first_150_s
    assert flagged.max() < 0.35 and np.median(flagged) < 0.25
