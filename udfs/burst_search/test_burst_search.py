"""burst_search on its sample chunks (edge simulator, 64 x 192) and on synthetic arrays; no Spark."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nenubroker.edge.sim.events import InjectedEvent, type_iii_decay_s, type_iii_drift_hz_per_s
from nenubroker.records.chunk import SpectraChunk
from nenubroker.udfs.burst_search import MODULE, Params
from nenubroker.udfs.burst_search.core import detect_bursts, normalise_channels
from nenubroker.udfs.burst_search.fdmt import fdmt_levels
from nenubroker.udfs.contract import CANDIDATE_COLUMNS
from nenubroker.udfs.registry import chunk_table, discover
from nenubroker.udfs.training.burst_search_eval import chunk_normalised, matched_filter_snr

SAMPLE = pd.read_parquet(Path(__file__).with_name("sample.parquet")).set_index("case")


def _chunk(case: str) -> SpectraChunk:
    row = SAMPLE.loc[case]
    data = np.frombuffer(row["data"], dtype="<f4").reshape(row["n_time"], row["n_freq"])
    return SpectraChunk(
        beam=row["beam"],
        chunk_index=int(row["chunk_index"]),
        time_start_unix_s=row["time_start_unix_s"],
        time_step_s=row["time_step_s"],
        freq_hz=np.asarray(row["freq_hz"]),
        data=data.copy(),
        overlap_samples=int(row["overlap_samples"]),
    )


def _detect(chunk: SpectraChunk, data: np.ndarray | None = None) -> list[dict[str, Any]]:
    return detect_bursts(
        chunk.data if data is None else data,
        chunk.freq_hz,
        chunk.time_start_unix_s,
        chunk.time_step_s,
        overlap_samples=chunk.overlap_samples,
    )


def _noise(rng: np.random.Generator, n_time: int, freq_hz: np.ndarray) -> np.ndarray:
    """Gamma noise (shape 16384, as 64 x 256 averaged spectra) through a sky-like bandpass, 2 hot channels."""
    background = (freq_hz / 50e6) ** -2.55 * (0.2 + np.exp(-0.5 * (np.log(freq_hz / 55e6) / 0.45) ** 2))
    background[[17, 120]] *= 1.5
    return (rng.gamma(16384, 1 / 16384, size=(n_time, freq_hz.size)) * background).astype(np.float32)


def test_spike_is_found_at_its_time_and_frequency() -> None:
    chunk, truth = _chunk("spike"), SAMPLE.loc["spike"]
    [candidate] = _detect(chunk)
    channel_hz = chunk.freq_hz[1] - chunk.freq_hz[0]
    assert abs(candidate["freq_peak_hz"] - truth["truth_freq_hz"]) <= channel_hz
    assert candidate["freq_min_hz"] <= truth["truth_freq_hz"] <= candidate["freq_max_hz"]
    assert candidate["freq_max_hz"] - candidate["freq_min_hz"] < 1.5e6
    assert abs(candidate["time_peak_s"] - truth["truth_time_unix_s"]) <= 0.1 + chunk.time_step_s
    assert candidate["snr"] > 10 and candidate["duration_s"] < 1.0 and candidate["drift_hz_per_s"] == 0.0


def test_type_iii_drift_follows_the_law_at_its_peak_frequency_over_its_band() -> None:
    chunk, truth = _chunk("type_iii"), SAMPLE.loc["type_iii"]
    [candidate] = _detect(chunk)
    law = type_iii_drift_hz_per_s(candidate["freq_peak_hz"])
    assert candidate["drift_hz_per_s"] == pytest.approx(law, rel=0.3)
    assert abs(candidate["freq_max_hz"] - truth["truth_freq_hz"]) < 2e6  # starts at 50 MHz
    assert candidate["freq_min_hz"] < 25e6  # and sweeps to the bottom of the band
    assert candidate["time_start_s"] <= truth["truth_time_unix_s"] + 0.5


def test_jupiter_like_sweep_is_found_with_a_fast_drift() -> None:
    chunk, truth = _chunk("jupiter"), SAMPLE.loc["jupiter"]
    [candidate] = _detect(chunk)
    assert -25e6 <= candidate["drift_hz_per_s"] <= -15e6
    assert candidate["freq_max_hz"] <= 40e6 and candidate["freq_min_hz"] < 30e6
    assert truth["truth_time_unix_s"] <= candidate["time_peak_s"] <= truth["truth_time_unix_s"] + 0.7


# --- Data this project never made ------------------------------------------------------------------
# The detection stream of the 34 GB/h mode averaged 4 x 16 (84 ms x 48.8 kHz, 768 channels from
# 20.3 MHz), Gamma noise on a nu^-2.55 sky, and bursts drawn by formulas of their own (not
# edge/sim), each scaled to a matched-filter S/N: the alerts' definition (udfs/burst_search/matched.py).

_DT = 0.0839
_FREQ = 20.3e6 + 48828.125 * np.arange(768)


def _noisy(seed: int, *bursts: tuple[np.ndarray, float]) -> np.ndarray:
    """Noise plus each (unit map, S/N): the map scaled so that its matched-filter S/N is that S/N."""
    sky = (_FREQ / 50e6) ** -2.55
    n_time = bursts[0][0].shape[0] if bursts else 64
    data = np.random.default_rng(seed).gamma(4096, 1 / 4096, size=(n_time, _FREQ.size)) * sky
    for unit, snr in bursts:
        data += unit * (snr / matched_filter_snr(unit)) * sky / 64  # noise sigma: sky / sqrt(4096)
    return data.astype(np.float32)


def _type_iii_map(start_s: float, top_hz: float, rise_s: float, decay_s: float, n_time: int = 64) -> np.ndarray:
    """Below ``top_hz``, arriving by the type III law; a Gaussian rise then an exponential decay."""
    lag = (np.arange(n_time)[:, None] + 0.5) * _DT - start_s
    lag = lag - ((_FREQ / 1e6) ** -0.84 - (top_hz / 1e6) ** -0.84) / 0.0084
    profile = np.where(lag < 0, np.exp(-0.5 * (lag / rise_s) ** 2), np.exp(-np.maximum(lag, 0) / decay_s))
    unit: np.ndarray = profile * (_FREQ <= top_hz)
    return unit


def _sweep_map(start_s: float, top_hz: float, drift_hz_per_s: float, sweep_s: float, fwhm_s: float) -> np.ndarray:
    """A straight sweep from ``top_hz``: at each frequency a Gaussian pulse, integrated over each sample."""
    from scipy.special import erf

    inside = (_FREQ <= top_hz) & (_FREQ >= top_hz + drift_hz_per_s * sweep_s)
    passage = start_s + (_FREQ - top_hz) / drift_hz_per_s
    edges = (np.arange(65)[:, None] * _DT - passage) / (np.sqrt(2) * fwhm_s / 2.3548)
    unit: np.ndarray = 0.5 * np.diff(erf(edges), axis=0) * inside
    return unit


def _edge_map(event: Any) -> np.ndarray:
    """An edge simulator event on the same detection grid, in units of the pixel noise."""
    from nenubroker.edge.sim.events import event_power

    unit: np.ndarray = event_power(event, np.arange(64) * _DT, _FREQ, np.ones(_FREQ.size), time_step_s=_DT,
                                   channel_width_hz=float(_FREQ[1] - _FREQ[0]))
    return unit


@pytest.mark.parametrize("snr", [109, 400])
def test_bright_type_iii_beginning_in_the_shared_samples_is_reported_once_with_its_drift(snr: float) -> None:
    # It arrives at 45 MHz at sample 60 of a 112-sample stream; chunks 0-63 and 48-111 share 48-63.
    # Bright, it rises well before: the chunk that sees only that rise must leave it to the next.
    stream = _noisy(1, (_type_iii_map(60.2 * _DT, 45e6, rise_s=0.3, decay_s=1.4, n_time=112), snr))
    reports = [
        detect_bursts(stream[:64], _FREQ, 0.0, _DT, overlap_samples=16),
        detect_bursts(stream[48:], _FREQ, 48 * _DT, _DT, overlap_samples=16),
    ]
    [candidate] = [c for report in reports for c in report]
    law = type_iii_drift_hz_per_s(candidate["freq_peak_hz"])
    assert candidate["drift_hz_per_s"] == pytest.approx(law, rel=0.2)


def test_s_burst_drift_is_reported_only_when_resolved_and_then_right() -> None:
    # Jupiter S-bursts (-15 to -25 MHz/s, 10-100 ms sweeps, 1-5 ms pulses) cross their band within
    # a sample or two at 84 ms: drift 0 (unresolved) or the right one, never a wrong one. Longer
    # sweeps (0.25-0.5 s, 3-6 samples) are resolved.
    rng = np.random.default_rng(5)
    for k in range(24):
        long = k >= 18
        drift = float(rng.uniform(-25e6, -15e6))
        sweep_s = float(rng.uniform(0.25, 0.5) if long else rng.uniform(0.01, 0.1))
        fwhm_s = float(rng.uniform(0.02, 0.06) if long else rng.uniform(0.001, 0.005))
        unit = _sweep_map(float(rng.uniform(20, 40)) * _DT, float(rng.uniform(34e6, 39.5e6)), drift, sweep_s, fwhm_s)
        [candidate] = detect_bursts(_noisy(k, (unit, float(rng.uniform(15, 80)))), _FREQ, 0.0, _DT)
        if long or candidate["drift_hz_per_s"] != 0:
            assert candidate["drift_hz_per_s"] == pytest.approx(drift, rel=0.2), (k, drift, sweep_s)


def test_two_type_iii_bursts_1_2_mhz_apart_give_two_candidates() -> None:
    # Simultaneous, their ridges 1.2 MHz (0.3 s) apart, in one connected region of emission.
    first = _type_iii_map(1.0, 25.5e6, rise_s=0.05, decay_s=0.25)
    second = _type_iii_map(1.0, 24.3e6, rise_s=0.05, decay_s=0.25)
    candidates = detect_bursts(_noisy(0, (first, 150.0), (second, 150.0)), _FREQ, 0.0, _DT)
    assert len(candidates) == 2
    assert sorted(c["freq_max_hz"] > 25e6 for c in candidates) == [False, True]
    for c in candidates:
        assert c["snr"] > 75
        assert c["drift_hz_per_s"] == pytest.approx(type_iii_drift_hz_per_s(c["freq_peak_hz"]), rel=0.3)


def test_one_bright_type_iii_with_its_decay_and_harmonic_gives_one_candidate() -> None:
    short = _type_iii_map(1.0, 25.5e6, rise_s=0.05, decay_s=0.25)
    assert len(detect_bursts(_noisy(2, (short, 400.0)), _FREQ, 0.0, _DT)) == 1
    # The edge simulator's: a 1.6 s decay at 40 MHz, and the harmonic ridge from 80 MHz at half its S/N.
    fundamental = InjectedEvent("type_iii", "b", 1.5, 27e6, 1.0, duration_s=float(type_iii_decay_s(27e6)),
                                freq_stop_hz=20e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(27e6)))
    harmonic = replace(fundamental, freq_start_hz=54e6, harmonic=2, snr=0.5)
    both = _edge_map(fundamental) + _edge_map(harmonic)
    assert len(detect_bursts(_noisy(3, (both, 400.0)), _FREQ, 0.0, _DT)) == 1


def test_alert_snr_is_the_matched_filter_snr_of_the_burst() -> None:
    # One S/N: what the alert says is what the evaluation expects of the noiseless event in its
    # chunk (burst_search_eval.detection_snr), for every kind of burst.
    rng = np.random.default_rng(9)
    ratios: dict[str, list[float]] = {"type_iii": [], "spike": [], "jupiter_s": []}
    for k in range(24):
        kind, at = list(ratios)[k % 3], float(rng.uniform(10, 45)) * _DT
        if kind == "type_iii":
            f0 = float(rng.uniform(39e6, 57e6))
            event = InjectedEvent(kind, "b", at, f0, 1.0, duration_s=float(type_iii_decay_s(f0)),
                                  freq_stop_hz=20e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(f0)))
        elif kind == "spike":
            f = float(rng.uniform(22e6, 56e6))
            event = InjectedEvent(kind, "b", at, f, 1.0, duration_s=float(rng.uniform(0.01, 0.3)),
                                  bandwidth_hz=f * float(rng.uniform(0.001, 0.02)))
        else:
            top, drift = float(rng.uniform(34e6, 39.5e6)), float(rng.uniform(-25e6, -15e6))
            event = InjectedEvent(kind, "b", at, top, 1.0, duration_s=float(rng.uniform(0.001, 0.005)),
                                  freq_stop_hz=top + drift * float(rng.uniform(0.01, 0.1)), drift_hz_per_s=drift)
        unit, snr = _edge_map(event), float(rng.uniform(15, 60))
        expected = matched_filter_snr(chunk_normalised(unit * snr / matched_filter_snr(unit)))
        found = detect_bursts(_noisy(k, (unit, snr)), _FREQ, 0.0, _DT)
        ratios[kind] += [found[0]["snr"] / expected] if found else []
    for kind, ratio in ratios.items():  # faint type IIIs filling the chunk can be missed
        assert len(ratio) >= 5 and 0.8 <= np.median(ratio) <= 1.25, (kind, np.round(ratio, 2))


def test_noise_gives_no_candidate_over_many_chunks() -> None:
    rng = np.random.default_rng(7)
    freq_hz = _chunk("noise").freq_hz
    assert _detect(_chunk("noise")) == []
    assert [
        c for _ in range(150) for c in detect_bursts(_noise(rng, 64, freq_hz), freq_hz, 0.0, 0.0839)
    ] == []


def test_burst_in_the_overlap_is_reported_by_exactly_one_chunk() -> None:
    first, second = _chunk("overlap_a"), _chunk("overlap_b")
    shared = second.overlap_samples
    np.testing.assert_array_equal(first.data[-shared:], second.data[:shared])
    reports = [_detect(first), _detect(second)]
    assert [len(r) for r in reports] == [1, 0]
    assert reports[0][0]["time_peak_s"] >= second.time_start_unix_s  # it peaks in the shared samples


def test_type_iii_crossing_a_chunk_boundary_is_reported_once_by_the_chunk_that_sees_it_begin() -> None:
    first, second = _chunk("boundary_a"), _chunk("boundary_b")
    onset_s = SAMPLE.loc["boundary_a", "truth_time_unix_s"]
    assert second.time_start_unix_s < onset_s < first.time_start_unix_s + first.n_time * first.time_step_s
    reports = [_detect(first), _detect(second)]
    assert [len(r) for r in reports] == [0, 1]  # it begins in the second half of the shared samples
    [candidate] = reports[1]
    assert candidate["freq_min_hz"] < 25e6 and candidate["drift_hz_per_s"] < 0  # seen whole


def test_burst_begun_in_the_previous_chunk_is_not_reported_again() -> None:
    rng = np.random.default_rng(3)
    freq_hz = _chunk("noise").freq_hz
    stream = _noise(rng, 112, freq_hz)
    stream[40:70, 80:90] *= 1.05  # 30 samples, 2.5 s: longer than the 16 shared samples
    reports = [
        detect_bursts(stream[:64], freq_hz, 0.0, 0.0839, overlap_samples=16),
        detect_bursts(stream[48:], freq_hz, 48 * 0.0839, 0.0839, overlap_samples=16),
    ]
    assert [len(r) for r in reports] == [1, 0]


def test_lost_samples_and_flagged_channels_are_tolerated() -> None:
    chunk, truth = _chunk("spike"), SAMPLE.loc["spike"]
    data = chunk.data.copy()
    data[5:9] = np.nan  # a lost block
    data[:, 60:64] = np.nan  # flagged channels
    data[40:, 150] = np.nan  # a channel lost half-way
    [candidate] = _detect(chunk, data)
    assert abs(candidate["freq_peak_hz"] - truth["truth_freq_hz"]) <= 2 * (
        chunk.freq_hz[1] - chunk.freq_hz[0]
    )
    assert np.isfinite(candidate["cutout"]).all()
    assert _detect(chunk, np.full_like(data, np.nan)) == []


def test_bandpass_and_sky_slope_are_normalised_away() -> None:
    normalised = normalise_channels(_chunk("noise").data)  # raw levels differ by x3 across the band
    assert np.abs(np.median(normalised, axis=0)).max() < 0.5  # 64-sample estimates scatter by ~0.17
    assert abs(np.median(normalised)) < 0.05
    assert np.std(normalised, axis=0) == pytest.approx(np.ones(normalised.shape[1]), rel=0.35)
    assert np.std(normalised) == pytest.approx(1.0, rel=0.05)


def test_fdmt_sums_a_drifting_track_over_the_whole_band() -> None:
    data = np.zeros((2, 8, 16), "f4")
    data[1] = 1
    data[0, np.arange(8), 2 + np.arange(8)] = 1  # one sample later per channel: 7 across the band
    top = list(fdmt_levels(data, max_slope=1.0, max_delay=16))[-1]
    assert top.shape == (2, 1, 8, 16)
    assert top[0, 0, 7, 2] == 8 and top[1, 0, 7, 2] == 8
    assert top[0, 0, 0].max() == 1  # the undelayed track sees one pixel at a time


def test_module_runs_through_the_contract() -> None:
    chunks = [_chunk(case) for case in ("noise", "spike", "overlap_a", "overlap_b")]
    table = chunk_table(chunks)
    table["overlap_samples"] = [c.overlap_samples for c in chunks]
    candidates = MODULE.run(table, {"snr_threshold": 8.0})
    assert list(candidates.columns) == ["chunk_row", *[c.name for c in CANDIDATE_COLUMNS]]
    assert candidates["chunk_row"].tolist() == [1, 2]
    assert candidates["chunk_index"].tolist() == [0, 1]
    assert all(cutout.shape == (32, 32) for cutout in candidates["cutout"])
    assert discover()["burst_search"] is MODULE and Params().snr_threshold == 7.5


def _stream(*events: Any, n_blocks: int, end: bool = True) -> list[SpectraChunk]:
    """The detection chunks of a simulated beam (64 x 192, overlapping by 16) after ``n_blocks``
    blocks of 16 samples, and its final chunk if it ``end``s there; ``events`` at sample numbers."""
    from nenubroker.edge.downsample import Downsampler
    from nenubroker.edge.sim.simulator import BeamSimulator
    from nenubroker.udfs.training.burst_search_eval import START_UNIX_S, stream_settings

    settings = stream_settings(fftlen=16, nfft2int=256)
    beam = BeamSimulator("beam0", settings.simulator, start_unix_s=START_UNIX_S)
    sample_s = settings.ingest.downsample_time * beam.time_step_s
    for make in events:
        beam.inject(make(START_UNIX_S, sample_s, float(beam.freq_hz.min())))
    downsampler = Downsampler(settings.ingest)
    chunks = [chunk for _ in range(n_blocks) for chunk in downsampler.push(beam.next_block()[0])]
    return chunks + downsampler.flush() if end else chunks


def _type_iii_at(sample: float) -> Any:
    from nenubroker.edge.sim.events import InjectedEvent, type_iii_decay_s

    return lambda t0, dt, low_hz: InjectedEvent(
        "type_iii", "beam0", t0 + sample * dt, 50e6, 1.0, duration_s=float(type_iii_decay_s(50e6)),
        freq_stop_hz=low_hz, drift_hz_per_s=float(type_iii_drift_hz_per_s(50e6)))


def _s_burst_at(sample: float) -> Any:
    from nenubroker.edge.sim.events import InjectedEvent

    return lambda t0, dt, low_hz: InjectedEvent(
        "jupiter_s", "beam0", t0 + sample * dt, 38e6, 1.0, duration_s=0.08, freq_stop_hz=30e6, drift_hz_per_s=-20e6)


def _reports(chunks: list[SpectraChunk]) -> list[int]:
    """The chunk index of each candidate, through the module as the broker runs it."""
    return MODULE.run(chunk_table(chunks))["chunk_index"].tolist()


@pytest.mark.parametrize("sample", [59, 61])  # chunk 1 repeats samples 48-63; it owns onsets from 56
def test_type_iii_beginning_in_the_second_half_of_the_first_overlap_is_reported_once(sample: int) -> None:
    chunks = _stream(_type_iii_at(sample), n_blocks=7, end=False)
    assert [(c.chunk_index, c.overlap_samples) for c in chunks] == [(0, 0), (1, 16)]
    assert _reports(chunks) == [1]


@pytest.mark.parametrize("sample", [57, 59, 61])
def test_s_burst_beginning_in_the_second_half_of_the_first_overlap_is_reported_once(sample: int) -> None:
    assert _reports(_stream(_s_burst_at(sample), n_blocks=7, end=False)) == [1]


@pytest.mark.parametrize("burst", [_s_burst_at(106), _type_iii_at(108)], ids=["s_burst", "type_iii"])
def test_burst_at_the_very_end_of_a_stream_is_reported_once_by_the_final_chunk(burst: Any) -> None:
    # 7 blocks = 112 samples: chunks 0 (0-63) and 1 (48-111); the stream ends on a chunk boundary,
    # and the final chunk holds samples 96-111, the second half of which chunk 1 leaves to it.
    chunks = _stream(burst, n_blocks=7)
    assert [(c.chunk_index, c.n_time, c.trailing_overlap_samples) for c in chunks] == [(0, 64, 16), (1, 64, 16),
                                                                                       (2, 16, 0)]
    assert _reports(chunks) == [2]
