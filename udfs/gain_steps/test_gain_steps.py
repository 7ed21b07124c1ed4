"""gain_steps on its sample chunks, on simulated e-CALLISTO files through the broker's chain
(gain_steps -> rfi_flagger -> burst_search, as udfs/registry.run_modules runs them) and on the real
file of tests/data/callisto/; no Spark.

Rewrite sample.parquet with ``python udfs/gain_steps/test_gain_steps.py``.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nenubroker.conf.settings import load_settings
from nenubroker.edge.downsample import Downsampler
from nenubroker.edge.ingest import file_blocks, settings_for_file
from nenubroker.edge.sim.callisto import CallistoReceiver, simulate_callisto, write_callisto_fits
from nenubroker.edge.sim.events import InjectedEvent, type_iii_decay_s, type_iii_drift_hz_per_s
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.gain_steps import MODULE, Params
from nenubroker.udfs.gain_steps.core import find_gain_steps, gain_db, remove_gain
from nenubroker.udfs.registry import chunk_table, resolve, run_modules

SAMPLE_PATH = Path(__file__).with_name("sample.parquet")
REAL_FILE = Path(__file__).resolve().parents[2] / "tests" / "data" / "callisto" / "BIR_20110607_062400_10.fit.gz"
START = 1.7e9
CHAIN = ("gain_steps", "rfi_flagger", "burst_search")


def _chunks(path: Path) -> list[SpectraChunk]:
    """What the edge streams from an e-CALLISTO file: 16 s chunks overlapping by 4 s."""
    settings = settings_for_file(load_settings(env={}), path)
    downsampler = Downsampler(settings.ingest)
    blocks = file_blocks(path, "cal", callisto=settings.ingest.callisto)
    return [chunk for block in blocks for chunk in downsampler.push(block)] + downsampler.flush()


def _candidates(chunks: list[SpectraChunk], modules: tuple[str, ...] = CHAIN) -> pd.DataFrame:
    return run_modules(chunk_table(chunks), resolve(list(modules)))[1]


def _simulated_file(tmp_path: Path, step_db: float, steps: int = 4, seed: int = 2, duration_s: float = 120.0,
                    events: tuple[InjectedEvent, ...] = ()) -> tuple[Path, np.ndarray]:
    receiver = CallistoReceiver(gain_steps=steps, gain_step_db=step_db, seed=seed)
    sim = simulate_callisto(duration_s, start_unix_s=START, receiver=receiver, events=events)
    return write_callisto_fits(tmp_path / f"SIM_{seed}_{step_db}.fit", sim), sim.gain_step_times_s


def _noise(seed: int, shape: tuple[int, int] = (64, 192), looks: float = 200.0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(looks, 1 / looks, size=shape).astype(np.float32)


def _db(step_db: float) -> float:
    return float(10 ** (step_db / 10))


# --- simulated e-CALLISTO files through the broker's chain -----------------------------------------
@pytest.mark.parametrize("step_db", [0.5, 1.5, 3.0])
def test_simulated_gain_steps_of_half_to_three_db_give_no_candidate(tmp_path: Path, step_db: float):
    path, _ = _simulated_file(tmp_path, step_db)
    chunks = _chunks(path)
    assert _candidates(chunks).empty
    if step_db >= 1.5:  # without the module the same steps do give candidates
        assert len(_candidates(chunks, CHAIN[1:])) >= 1


def test_type_iii_and_spike_next_to_gain_steps_are_found(tmp_path: Path):
    """3 dB up at 23.2 s, down again at 38.9 s: a spike 1.5 s before the first, a type III 2 s after
    the second (where the simulated gain is back to 0 dB: the simulator adds events after the gain)."""
    _, steps_s = _simulated_file(tmp_path, 3.0, steps=2, seed=5)
    first, second = START + steps_s
    spike = InjectedEvent("spike", "c", first - 1.5, 55e6, 15.0, duration_s=0.3, bandwidth_hz=1e6)
    type_iii = InjectedEvent("type_iii", "c", second + 2.0, 80e6, 10.0, duration_s=float(type_iii_decay_s(80e6)),
                             freq_stop_hz=20e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(80e6)))
    path, again = _simulated_file(tmp_path, 3.0, steps=2, seed=5, events=(type_iii, spike))
    assert np.array_equal(again, steps_s)  # the same receiver draws the same steps
    found = _candidates(_chunks(path))
    assert len(found) == 2, found[["time_start_unix_s", "freq_min_hz", "freq_max_hz", "snr"]]
    start, stop = found["time_start_unix_s"], found["time_start_unix_s"] + found["duration_s"]
    broad = found["freq_max_hz"] - found["freq_min_hz"] > 50e6
    assert (broad & (start <= type_iii.time_start_unix_s) & (stop > type_iii.time_start_unix_s + 2)).sum() == 1
    assert (~broad & ((found["time_peak_unix_s"] - spike.time_start_unix_s).abs() < 0.75)).sum() == 1


def test_type_iii_is_not_taken_for_a_gain_step(tmp_path: Path):
    type_iii = InjectedEvent("type_iii", "c", START + 30.0, 85e6, 30.0, duration_s=float(type_iii_decay_s(85e6)),
                             freq_stop_hz=20e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(85e6)))
    path, _ = _simulated_file(tmp_path, 0.0, steps=0, seed=1, duration_s=60.0, events=(type_iii,))
    assert all(not find_gain_steps(c.data) for c in _chunks(path))


def test_real_eruption_is_not_taken_for_gain_steps():
    """BIR 2011-06-07: 15 min with the eruption's broadband emission, up to 17 dB, and no gain step."""
    assert sum(len(find_gain_steps(c.data)) for c in _chunks(REAL_FILE)) == 0


# --- synthetic chunks --------------------------------------------------------------------------------
@pytest.mark.parametrize(("sample", "step_db"), [(40, 1.5), (10, -0.5), (56, 3.0)])
def test_step_equal_in_db_in_every_channel_is_found_and_removed(sample: int, step_db: float):
    spectra = _noise(sample)
    spectra[sample:] *= _db(step_db)
    [step] = find_gain_steps(spectra)
    assert step.sample == sample and step.step_db == pytest.approx(step_db, abs=0.05)
    corrected = remove_gain(spectra, gain_db(spectra))
    assert abs(np.median(10 * np.log10(corrected[sample:] / corrected[:sample].mean(axis=0)))) < 0.03


def test_two_steps_in_one_chunk_are_both_removed():
    spectra = _noise(3)
    spectra[20:] *= _db(1.0)
    spectra[44:] *= _db(-2.0)
    assert [(s.sample, round(s.step_db, 1)) for s in find_gain_steps(spectra)] == [(20, 1.0), (44, -2.0)]


def test_step_in_mid_sweep_is_removed_channel_by_channel():
    """A sweep measures the channels one after another: those measured after the change step one
    sample earlier than the rest."""
    spectra = _noise(4)
    spectra[30:, :120] *= _db(2.0)
    spectra[31:, 120:] *= _db(2.0)
    gain = gain_db(spectra)
    assert (gain[30, :120] == pytest.approx(2.0, abs=0.05)) and (gain[30, 120:] == 0).mean() > 0.95
    assert np.abs(10 * np.log10(remove_gain(spectra, gain)[28:34].mean(axis=0))).max() < 0.5


def test_impulse_drift_and_partial_band_rise_are_not_steps():
    impulse, drift, partial, decaying = (_noise(seed) for seed in (5, 6, 7, 8))
    impulse[30] *= _db(3.0)                                     # one sample
    drift *= _db(1.0) ** np.linspace(0, 1, 64)[:, None]         # 1 dB over the chunk
    partial[30:, :100] *= _db(2.0)                              # half the band
    decaying[30:] *= 1 + (_db(2.0) - 1) * np.exp(-np.arange(34) / 4.0)[:, None]  # flat, but decays
    for spectra in (impulse, drift, partial, decaying):
        assert find_gain_steps(spectra) == []


# --- the sample and the contract --------------------------------------------------------------------
def test_sample_chunks_give_their_recorded_steps():
    sample = pd.read_parquet(SAMPLE_PATH)
    for row in sample.itertuples():
        data = np.frombuffer(row.data, dtype="<f4").reshape(row.n_time, row.n_freq)
        found = find_gain_steps(data[:, np.argsort(row.freq_hz)])
        assert [s.sample for s in found] == list(row.truth_step_samples), row.case
        np.testing.assert_allclose([s.step_db for s in found], row.truth_step_db, atol=0.2, err_msg=row.case)


def test_broker_divides_the_gain_out_before_later_modules():
    spectra = _noise(9)
    spectra[32:] *= _db(-1.5)
    chunk = SpectraChunk("b", 0, START, 0.25, np.linspace(20e6, 90e6, 192), spectra)
    table, _ = run_modules(chunk_table([chunk]), resolve(list(CHAIN)))
    assert int(table["gain_steps"][0]) == 1 and table["gain_db"][0][40, 0] == pytest.approx(-1.5, abs=0.05)
    level = 10 * np.log10(np.median(table["spectra"][0], axis=1))
    assert abs(level[40:].mean() - level[:30].mean()) < 0.05  # what rfi_flagger and the detector saw


def test_module_keeps_rows_and_index_and_declares_its_columns():
    chunks = chunk_table([SpectraChunk("b", i, START, 0.25, np.linspace(20e6, 90e6, 192), _noise(i)) for i in range(3)])
    chunks.index = chunks.index + 7
    out = MODULE.run(chunks)
    assert list(out.columns) == ["gain_db", "gain_steps"] and out.index.equals(chunks.index)
    assert all(g.shape == (64, 192) and g.dtype == np.float32 and not g.any() for g in out["gain_db"])
    assert MODULE.level == "chunk" and MODULE.inputs == ("spectra", "freq_hz")


def test_params_defaults_are_the_core_defaults():
    signature = inspect.signature(find_gain_steps).parameters
    defaults = {name: p.default for name, p in signature.items() if p.kind is p.KEYWORD_ONLY}
    assert Params().model_dump() == defaults


def test_params_reach_the_core():
    spectra = _noise(10)
    spectra[32:] *= _db(0.5)
    table = chunk_table([SpectraChunk("b", 0, START, 0.25, np.linspace(20e6, 90e6, 192), spectra)])
    assert int(MODULE.run(table)["gain_steps"][0]) == 1
    assert int(MODULE.run(table, {"min_step_db": 1.0})["gain_steps"][0]) == 0


def _sample_case(tmp: Path, name: str, step_db: float, steps: int, events: tuple[InjectedEvent, ...] = ()) -> dict:
    """The first seed whose ``steps`` steps fall 3 samples or more inside a 16 s file, with the
    steps' samples and signed sizes (the simulator draws each sign: read from the same file without
    steps)."""
    for seed in range(100):
        receiver = CallistoReceiver(gain_steps=steps, gain_step_db=step_db, seed=seed)
        sim = simulate_callisto(16.0, start_unix_s=START, receiver=receiver, events=events)
        samples = np.ceil(sim.gain_step_times_s / receiver.time_step_s).astype(int)
        if steps and (samples.min() < 3 or samples.max() > 61 or np.diff(samples).min(initial=99) < 8):
            continue
        flat = simulate_callisto(16.0, start_unix_s=START, events=events,
                                 receiver=CallistoReceiver(gain_steps=steps, gain_step_db=0.0, seed=seed))
        excess = sim.digits.astype(float) - flat.digits
        edges = [0, *samples.tolist(), excess.shape[1]]
        levels = [np.median(excess[:, a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        sizes = [float(np.sign(after - before) * step_db) for before, after in zip(levels[:-1], levels[1:])]
        chunk = _chunks(write_callisto_fits(tmp / f"{name}.fit", sim))[0]  # then a short final chunk
        return {"case": name, **chunk.to_record(), "truth_step_samples": samples.tolist(),
                "truth_step_db": sizes}
    raise RuntimeError(f"no seed puts {steps} steps inside the chunk")


def write_sample(path: Path = SAMPLE_PATH) -> pd.DataFrame:
    """Six 64-sample chunks of simulated e-CALLISTO files (16 s, 20-90 MHz, 0.25 s), with their steps."""
    type_iii = InjectedEvent("type_iii", "c", START + 7.0, 85e6, 20.0, duration_s=float(type_iii_decay_s(85e6)),
                             freq_stop_hz=20e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(85e6)))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_sample_case(Path(tmp), *case) for case in (
            ("quiet", 0.0, 0), ("step_half_db", 0.5, 1), ("step_1.5_db", 1.5, 1), ("two_steps_3_db", 3.0, 2),
            ("type_iii", 0.0, 0, (type_iii,)), ("type_iii_and_step", 1.5, 1, (type_iii,)))]
    table = pd.DataFrame(rows).drop(columns=["created_unix_s"])
    table.to_parquet(path, index=False, compression="zstd")
    return table


if __name__ == "__main__":
    print(write_sample()[["case", "truth_step_samples", "truth_step_db"]])
