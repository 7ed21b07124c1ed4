"""rfi_flagger on its sample chunks (edge simulator, with truth) and on small synthetic ones; no Spark."""

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.registry import chunk_table
from nenubroker.udfs.rfi_flagger import MODULE, Params
from nenubroker.udfs.rfi_flagger.core import flag_rfi, keep_long_runs, scale_invariant_rank, sum_threshold

SAMPLE = pd.read_parquet(Path(__file__).with_name("sample.parquet")).set_index("case")
TIME_STEP_S = 0.0839
FREQ_HZ = np.linspace(20e6, 57.5e6, 768)


def _unpack(row: pd.Series, column: str) -> np.ndarray:
    shape = (row["n_time"], row["n_freq"])
    return np.unpackbits(np.frombuffer(row[column], dtype=np.uint8))[: shape[0] * shape[1]].reshape(shape) > 0


def _sample(case: str) -> tuple[SpectraChunk, np.ndarray, np.ndarray, np.ndarray]:
    """The chunk, its truth RFI pixels, burst pixels (>= 2 sigma) and clean pixels (< 0.5 sigma)."""
    row = SAMPLE.loc[case]
    data = np.frombuffer(row["data"], dtype="<f4").reshape(row["n_time"], row["n_freq"])
    chunk = SpectraChunk(beam=row["beam"], chunk_index=int(row["chunk_index"]),
                         time_start_unix_s=row["time_start_unix_s"], time_step_s=row["time_step_s"],
                         freq_hz=np.asarray(row["freq_hz"]), data=data)
    return chunk, _unpack(row, "truth_rfi"), _unpack(row, "truth_burst"), _unpack(row, "truth_clean")


def _flag(chunk: SpectraChunk) -> np.ndarray:
    return flag_rfi(chunk.data, chunk.time_step_s, chunk.freq_hz)


def _noise(seed: int, shape: tuple[int, int] = (64, 768)) -> np.ndarray:
    """Detection-chunk noise: Gamma (shape 4096, 1.6 % sigma) on a nu^-2.55 sky."""
    rng = np.random.default_rng(seed)
    sky = (FREQ_HZ[: shape[1]] / 50e6) ** -2.55
    return (rng.standard_gamma(4096, size=shape) / 4096 * sky).astype(np.float32)


def _drifting_burst(spectra: np.ndarray, peak_sigma: float, drift_hz_per_s: float, decay_s: float,
                    start_s: float = 1.0, top_hz: float = 40e6) -> tuple[np.ndarray, np.ndarray]:
    """With a burst drifting down from ``top_hz`` (Gaussian rise 0.1 s, exponential decay); its pixels."""
    times = TIME_STEP_S * np.arange(spectra.shape[0])[:, None]
    arrival = start_s + (FREQ_HZ[None, : spectra.shape[1]] - top_hz) / drift_hz_per_s
    lag = times - arrival
    profile = np.where(lag < 0, np.exp(-0.5 * (lag / 0.1) ** 2), np.exp(-np.clip(lag, 0, None) / decay_s))
    profile[:, FREQ_HZ[: spectra.shape[1]] > top_hz] = 0.0
    burst = peak_sigma * profile * np.median(spectra, axis=0) / 64
    return spectra + burst.astype(np.float32), burst / (np.median(spectra, axis=0) / 64) >= 2.0


def test_flags_persistent_narrowband_channel():
    spectra = _noise(1)
    spectra[:, 300] *= 1.05  # 3 sigma per sample: far below a single-sample threshold
    spectra[:, 500:502] *= 1.2
    mask = flag_rfi(spectra, TIME_STEP_S, FREQ_HZ)
    assert mask[:, 300].all() and mask[:, 500:502].all()
    chunk, rfi, _, _ = _sample("rfi")
    assert _flag(chunk)[rfi].all()


def test_flags_broadband_impulse_row():
    spectra = _noise(2)
    spectra[17] *= 1.03  # 2 sigma per pixel, flat across the band
    assert flag_rfi(spectra, TIME_STEP_S, FREQ_HZ)[17].all()


def test_counts_lost_samples_as_flagged():
    spectra = _noise(3)
    spectra[40:56] = np.nan
    spectra[5, 100:130] = np.nan
    mask = flag_rfi(spectra, TIME_STEP_S, FREQ_HZ)
    assert mask[40:56].all() and mask[5, 100:130].all()
    assert mask.mean() == pytest.approx(np.isnan(spectra).mean(), abs=0.01)


def test_flags_rfi_under_a_type_iii_and_spares_the_burst():
    chunk, rfi, burst, _ = _sample("mixed")
    mask = _flag(chunk)
    seen = np.isfinite(chunk.data)
    assert mask[rfi & seen].mean() > 0.99
    assert mask[burst & ~rfi & seen].mean() < 0.05


@pytest.mark.parametrize("case", ["type_iii", "type_iiib", "spike", "jupiter_s"])
def test_spares_simulated_burst(case):
    chunk, _, burst, _ = _sample(case)
    assert burst.sum() > 50
    assert _flag(chunk)[burst].mean() < 0.05


@pytest.mark.parametrize(("drift_hz_per_s", "decay_s", "peak_sigma"), [
    (-5e6, 2.0, 30.0),      # type III near 30 MHz
    (-5e6, 2.0, 500.0),     # a bright one: its sharp top edge must not look like a narrowband channel
    (-20e6, 0.03, 30.0),    # Jupiter S-burst: fast drift, short at one frequency
])
def test_spares_drifting_burst(drift_hz_per_s, decay_s, peak_sigma):
    spectra, burst = _drifting_burst(_noise(4), peak_sigma, drift_hz_per_s, decay_s)
    assert flag_rfi(spectra, TIME_STEP_S, FREQ_HZ)[burst].mean() < 0.05


def test_noise_only_chunks_flag_under_one_percent():
    rates = [flag_rfi(_noise(seed), TIME_STEP_S, FREQ_HZ).mean() for seed in range(10, 30)]
    chunk, _, _, _ = _sample("noise")
    rates.append(_flag(chunk).mean())
    assert max(rates) < 0.01 and np.mean(rates) < 0.002


def test_clean_pixels_beside_bursts_are_not_flagged():
    for case in ("type_iii", "type_iiib", "spike", "jupiter_s"):
        chunk, _, _, clean = _sample(case)
        assert _flag(chunk)[clean].mean() < 0.01, case


def test_module_runs_on_the_chunk_table_with_the_contract_checks():
    chunks = [_sample(case)[0] for case in SAMPLE.index]
    table = chunk_table(chunks)
    table.index = table.index + 10  # the module must keep the table's index
    out = MODULE.run(table)
    assert list(out.columns) == ["rfi_mask", "rfi_flagged_fraction"]
    assert out.index.equals(table.index)
    for mask, fraction, spectra in zip(out["rfi_mask"], out["rfi_flagged_fraction"], table["spectra"],
                                       strict=True):
        assert mask.dtype == bool and mask.shape == spectra.shape
        assert fraction == pytest.approx(mask.mean())


def test_module_declares_chunk_level_inputs_and_outputs():
    assert MODULE.level == "chunk"
    assert MODULE.inputs == ("spectra", "freq_hz", "time_step_s")
    outputs = [(c.name, c.dtype) for c in MODULE.outputs]
    assert outputs == [("rfi_mask", "binary"), ("rfi_flagged_fraction", "double")]


def test_params_defaults_are_the_core_defaults():
    signature = inspect.signature(flag_rfi).parameters
    defaults = {name: p.default for name, p in signature.items() if p.kind is p.KEYWORD_ONLY}
    assert Params().model_dump() == defaults


def test_params_reach_the_core():
    spectra = _noise(5)
    spectra[:, 300] *= 1.05
    table = chunk_table([SpectraChunk("b", 0, 0.0, TIME_STEP_S, FREQ_HZ, spectra)])
    assert MODULE.run(table)["rfi_mask"][0][:, 300].all()
    assert not MODULE.run(table, {"channel_level_sigma": 1e6})["rfi_mask"][0][:, 300].any()


def test_channel_order_follows_frequency():
    spectra = _noise(6)
    spectra[:, 300] *= 1.05
    spectra[17] *= 1.03
    mask = flag_rfi(spectra, TIME_STEP_S, FREQ_HZ)
    reversed_mask = flag_rfi(spectra[:, ::-1], TIME_STEP_S, FREQ_HZ[::-1])
    assert np.array_equal(reversed_mask[:, ::-1], mask)


def test_all_lost_chunk_is_all_flagged():
    assert flag_rfi(np.full((16, 8), np.nan, dtype=np.float32), TIME_STEP_S).all()


def test_dead_channel_is_flagged():
    spectra = _noise(7)
    spectra[:, 200] = 0.0
    assert flag_rfi(spectra, TIME_STEP_S, FREQ_HZ)[:, 200].all()


def test_sum_threshold_does_not_spread_a_short_burst_into_wide_windows():
    values = np.zeros((64, 1), dtype=np.float32)
    values[30:33] = 50.0
    found = sum_threshold(values, np.zeros_like(values, dtype=bool), (1, 2, 4, 8, 16, 32), 6.0, axes=(0,))
    assert np.flatnonzero(found[:, 0]).tolist() == [30, 31, 32]


def test_sum_threshold_finds_weak_long_rfi():
    values = np.random.default_rng(8).normal(size=(64, 4)).astype(np.float32)
    values[:, 2] += 1.0  # 1 sigma: only the wide windows see it
    found = sum_threshold(values, np.zeros(values.shape, dtype=bool), (1, 2, 4, 8, 16, 32), 6.0, axes=(0,))
    assert found[:, 2].mean() > 0.9 and not found[:, [0, 1, 3]].any()


def test_rank_operator_closes_short_gaps_and_duration_gate_keeps_long_runs():
    flags = np.zeros((64, 2), dtype=bool)
    flags[5:20, 0] = flags[21:40, 0] = True  # one-sample gap in a long run
    flags[10:14, 1] = True                   # a spike-like run
    closed = scale_invariant_rank(flags, 0.2)
    assert closed[5:40, 0].all()
    kept = keep_long_runs(closed, 30)
    assert kept[5:40, 0].all() and not kept[:, 1].any()


# --- intermittent lines (recurrence.py) and coarse channels with a ragged band, as e-CALLISTO's --------
CALLISTO_FREQ_HZ = np.sort(np.random.default_rng(20).uniform(20e6, 90e6, 192))


def _callisto_noise(seed: int, band_db: float = 1.5) -> np.ndarray:
    """0.25 s x ~0.37 MHz e-CALLISTO-like chunk: 0.3 dB noise on a band whose channels differ by
    ``band_db`` rms (the real file's quiet channels span 105-150 digits, 17 dB)."""
    rng = np.random.default_rng(seed)
    band = 10 ** (rng.normal(0, band_db, 192) / 10)
    return (rng.standard_gamma(200, size=(64, 192)) / 200 * band).astype(np.float32)


def test_flags_intermittent_line_keyed_on_again_and_again_with_its_neighbours():
    spectra = _callisto_noise(1)
    for start in (5, 22, 47):  # a transmitter keyed on three times, 1 s each, over three channels
        spectra[start:start + 4, 100:103] *= np.array([1.5, 3.0, 2.0], dtype=np.float32)
    mask = flag_rfi(spectra, 0.25, CALLISTO_FREQ_HZ)
    assert mask[:, 100:103].all() and mask[:, [97, 106]].mean() < 0.05


def test_flags_single_sample_pulses_recurring_in_one_channel():
    spectra = _callisto_noise(2)
    spectra[[8, 30, 55], 40] *= 4.0  # the 27 MHz citizens' band in real data: one sweep each, seconds apart
    assert flag_rfi(spectra, 0.25, CALLISTO_FREQ_HZ)[:, 40].all()


@pytest.mark.parametrize("time_step_s", [TIME_STEP_S, 0.25])
def test_spares_a_spike_cluster_whose_members_share_channels(time_step_s):
    """Members 0.15-0.5 s apart within 2 % in frequency (edge/sim/draws.py) hit the same channels
    twice, but less than 1 s apart and with their neighbours lit too."""
    spectra = _noise(11) if time_step_s == TIME_STEP_S else _callisto_noise(11)
    freq_hz = FREQ_HZ if time_step_s == TIME_STEP_S else CALLISTO_FREQ_HZ
    rng = np.random.default_rng(12)
    lit = np.zeros(spectra.shape, dtype=bool)
    t = 20
    for _ in range(8):
        centre = 300 if time_step_s == TIME_STEP_S else 100
        channel = int(np.clip(centre + rng.normal(0, 4), 0, spectra.shape[1] - 3))
        width = int(rng.integers(1, 4))
        spectra[t, channel:channel + width] *= 1.3
        lit[t, channel:channel + width] = True
        t += max(1, int(round(rng.exponential(0.2) / time_step_s)))
    assert flag_rfi(spectra, time_step_s, freq_hz)[lit].mean() < 0.05


@pytest.mark.parametrize("seed", range(5))
def test_ragged_band_does_not_hide_transient_narrowband_rfi(seed):
    """3 s of RFI, +1.1 dB in one channel, in a band whose channels differ by 5 dB rms (1.0.0: 80 %)."""
    spectra = _callisto_noise(seed, band_db=5.0)
    spectra[20:32, 150] *= 1.3
    assert flag_rfi(spectra, 0.25, CALLISTO_FREQ_HZ, recurrence_events=0)[20:32, 150].all()


def test_recurrence_test_can_be_turned_off():
    spectra = _callisto_noise(4)
    spectra[[8, 30, 55], 40] *= 4.0
    assert not flag_rfi(spectra, 0.25, CALLISTO_FREQ_HZ, recurrence_events=0)[:, 40].all()
