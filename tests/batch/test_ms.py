"""Measurement Set I/O on real casacore tables, checked with real tools (taql, DP3)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from casacore.tables import table

from nenubroker.batch.generate import generate_ms
from nenubroker.batch.layout import array_centre_itrf_m, miniarrays
from nenubroker.batch.ms import CORR_TYPES_LINEAR, create_ms, ms_info
from nenubroker.batch.ms_slice import read_rows, write_partition
from nenubroker.batch.steps.base import dp3_command

N_ANT, N_TIMES, N_CHAN = 6, 5, 8
N_BL = N_ANT * (N_ANT - 1) // 2


@pytest.fixture(scope="module")
def small_ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ms") / "small.ms"
    generate_ms(path, n_antennas=N_ANT, n_times=N_TIMES, channels_per_subband=N_CHAN, seed=3)
    return path


def test_miniarray_positions_are_itrf_within_the_core() -> None:
    xyz = np.array([m.itrf_xyz_m for m in miniarrays(core_only=True)])
    assert len(xyz) == 96
    assert np.allclose(np.linalg.norm(xyz, axis=1), 6.366e6, rtol=1e-3)
    assert np.linalg.norm(xyz - np.array(array_centre_itrf_m()), axis=1).max() < 500
    assert [m.name for m in miniarrays(count=3)] == ["MA000", "MA001", "MA002"]
    assert len(miniarrays()) > 96  # remote mini-arrays too


def test_rows_are_ordered_by_time_then_baseline(small_ms: Path) -> None:
    rows = read_rows(small_ms, 0, N_TIMES * N_BL, columns=["TIME", "ANTENNA1", "ANTENNA2"])
    assert np.all(np.diff(rows["TIME"].reshape(N_TIMES, N_BL), axis=1) == 0)
    assert np.all(np.diff(rows["TIME"][::N_BL]) > 0)
    a1, a2 = np.triu_indices(N_ANT, k=1)
    assert np.array_equal(rows["ANTENNA1"][:N_BL], a1) and np.array_equal(rows["ANTENNA2"][:N_BL], a2)


def test_ms_info_describes_the_ms(small_ms: Path) -> None:
    info = ms_info(small_ms)
    assert (info.n_rows, info.n_antennas, info.rows_per_time) == (N_TIMES * N_BL, N_ANT, N_BL)
    assert (info.n_times, info.n_channels, info.n_correlations) == (N_TIMES, N_CHAN, 4)
    assert info.telescope == "NenuFAR"
    assert info.interval_s == pytest.approx(8.0)
    assert np.allclose(np.diff(info.times_s), 8.0)
    assert info.channel_width_hz == pytest.approx(195312.5 / N_CHAN)
    assert np.allclose(np.degrees(info.phase_centre_rad), (350.0, 52.0))


def test_subtables_hold_what_the_tools_read(small_ms: Path) -> None:
    with table(str(small_ms / "ANTENNA"), ack=False) as t:
        assert list(t.getcol("NAME")) == [m.name for m in miniarrays(count=N_ANT)]
        assert np.allclose(t.getcol("POSITION"), [m.itrf_xyz_m for m in miniarrays(count=N_ANT)])
    with table(str(small_ms / "POLARIZATION"), ack=False) as t:
        assert tuple(t.getcell("CORR_TYPE", 0)) == CORR_TYPES_LINEAR
    with table(str(small_ms / "FEED"), ack=False) as t:
        assert t.nrows() == N_ANT
    with table(str(small_ms), ack=False) as t:
        assert t.getcoldesc("DATA")["shape"].tolist() == [N_CHAN, 4]
        assert not t.getcol("FLAG").any()


@pytest.mark.skipif(shutil.which("taql") is None, reason="casacore-tools taql not installed")
def test_uvw_matches_taql_recomputation(small_ms: Path) -> None:
    out = subprocess.run(["taql", f"calc max([select max(abs(UVW-mscal.uvwj2000())) from {small_ms}])"],
                         capture_output=True, text=True, check=True).stdout
    max_diff_m = float(re.findall(r"^[-+0-9.eE]+$", out, re.M)[-1])
    assert max_diff_m < 0.01  # Debian's measures tables differ from python-casacore's by < 1 mm
    uvw = read_rows(small_ms, 0, N_BL, columns=["UVW"])["UVW"]
    assert np.abs(uvw).max() > 10  # not all zero


def test_create_ms_without_predict_writes_zero_data(tmp_path: Path) -> None:
    path = create_ms(tmp_path / "z.ms", miniarrays(count=3), [5e7, 5.01e7], 1e4, [5.1e9, 5.1e9 + 2],
                     2.0, (0.1, 0.9))
    data = read_rows(path, 0, 6, columns=["DATA", "WEIGHT_SPECTRUM"])
    assert data["DATA"].shape == (6, 2, 4) and not data["DATA"].any()
    assert np.all(data["WEIGHT_SPECTRUM"] == 1)


def test_partition_holds_exactly_the_selected_rows_and_channels(small_ms: Path, tmp_path: Path) -> None:
    rows, chans = (N_BL, 3 * N_BL), (2, 6)
    part = write_partition(small_ms, tmp_path / "p.ms", *rows, *chans)
    info = ms_info(part)
    assert (info.n_rows, info.n_times, info.n_channels) == (2 * N_BL, 2, 4)
    cols = ["DATA", "FLAG", "WEIGHT_SPECTRUM", "UVW", "TIME", "ANTENNA1", "ANTENNA2"]
    want = read_rows(small_ms, *rows, *chans, columns=cols)
    got = read_rows(part, 0, 2 * N_BL, columns=cols)
    for col in cols:
        assert np.array_equal(got[col], want[col]), col


def test_partition_rewrites_the_spectral_window(small_ms: Path, tmp_path: Path) -> None:
    part = write_partition(small_ms, tmp_path / "p.ms", 0, N_BL, 3, 7)
    assert np.array_equal(ms_info(part).freqs_hz, ms_info(small_ms).freqs_hz[3:7])
    with table(str(part / "SPECTRAL_WINDOW"), ack=False) as t:
        assert t.getcell("NUM_CHAN", 0) == 4
        assert t.getcell("TOTAL_BANDWIDTH", 0) == pytest.approx(4 * 195312.5 / N_CHAN)
    with table(str(part / "OBSERVATION"), ack=False) as t:
        start_s, end_s = t.getcell("TIME_RANGE", 0)
    assert end_s - start_s == pytest.approx(8.0)


def test_partition_refuses_to_split_a_timestamp(small_ms: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="splits a timestamp"):
        write_partition(small_ms, tmp_path / "p.ms", 1, N_BL)


def test_dp3_copies_a_partition(small_ms: Path, tmp_path: Path) -> None:
    part = write_partition(small_ms, tmp_path / "p.ms", N_BL, 4 * N_BL, 0, 4)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([*dp3_command(), f"msin={part}", f"msout={tmp_path / 'copy.ms'}", "steps=[]"],
                   check=True, capture_output=True, env=env)
    info = ms_info(tmp_path / "copy.ms")
    assert (info.n_rows, info.n_channels) == (3 * N_BL, 4)
    want = read_rows(part, 0, 3 * N_BL, columns=["DATA"])["DATA"]
    assert np.allclose(read_rows(tmp_path / "copy.ms", 0, 3 * N_BL, columns=["DATA"])["DATA"], want)


def test_an_ms_written_by_dp3_can_be_partitioned_by_channel(small_ms: Path, tmp_path: Path) -> None:
    """DP3 stores SPECTRAL_WINDOW's channel columns with a fixed shape; a partition must shrink them."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([*dp3_command(), f"msin={small_ms}", f"msout={tmp_path / 'dp3.ms'}", "steps=[]"],
                   check=True, capture_output=True, env=env)
    with table(str(tmp_path / "dp3.ms" / "SPECTRAL_WINDOW"), ack=False) as spw:
        assert "shape" in spw.getcoldesc("CHAN_FREQ")  # what made the partition fail before
    part = write_partition(tmp_path / "dp3.ms", tmp_path / "p.ms", 0, 2 * N_BL, 2, 5)
    source = ms_info(tmp_path / "dp3.ms")
    assert np.array_equal(ms_info(part).freqs_hz, source.freqs_hz[2:5])
    subprocess.run([*dp3_command(), f"msin={part}", f"msout={tmp_path / 'copy.ms'}", "steps=[]"],
                   check=True, capture_output=True, env=env)
    assert ms_info(tmp_path / "copy.ms").n_channels == 3
