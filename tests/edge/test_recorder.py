"""Selective recording from the ring buffer to HDF5: content, padding, merging, missed and pending."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from nenubroker import __version__
from nenubroker.conf.settings import RecordingSettings, SimulatorSettings
from nenubroker.edge.recorder import Recorder
from nenubroker.edge.ring_buffer import RingBuffer
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.records import avro
from nenubroker.records.chunk import SpectraChunk
from nenubroker.records.trigger import Trigger, TriggerError

START_S = 1.7e9
PADDING_S = 0.2
SIM = SimulatorSettings(
    realtime=False, fftlen=16, nfft2int=64, n_subbands=4, block_spectra=32, event_rates_per_min={}
)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 1.8e9

    def __call__(self) -> float:
        return self.now_s


class Beam:
    """A simulated beam feeding its ring buffer, keeping every block for comparison."""

    def __init__(self, max_duration_s: float = 60.0) -> None:
        self.simulator = BeamSimulator("beam0", SIM, start_unix_s=START_S)
        self.buffer = RingBuffer("beam0", max_duration_s=max_duration_s, max_mb=100.0)
        self.blocks: list[SpectraChunk] = []

    def until(self, time_unix_s: float) -> None:
        """Append blocks until the buffer reaches ``time_unix_s``."""
        while not self.blocks or self.buffer.time_range_unix_s[1] < time_unix_s:
            self.blocks.append(self.simulator.next_block()[0])
            self.buffer.append(self.blocks[-1])

    def expected(
        self, t0: float, t1: float, f0: float, f1: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time_s = np.concatenate([b.time_unix_s for b in self.blocks])
        data = np.concatenate([b.data for b in self.blocks])
        freq = self.blocks[0].freq_hz
        half = 0.5 * (freq[1] - freq[0])
        rows = (time_s + self.blocks[0].time_step_s > t0) & (time_s < t1)
        cols = (freq + half > f0) & (freq - half < f1)
        return time_s[rows], freq[cols], data[np.ix_(rows, cols)]


def trigger(
    trigger_id: str, t0: float, t1: float, f0: float = 20.3e6, f1: float = 20.5e6, **extra
) -> Trigger:
    return Trigger(trigger_id, "beam0", START_S + t0, START_S + t1, f0, f1, reason="type_iii snr=9", **extra)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def recorder_for(beam: Beam, tmp_path: Path, clock: Clock, **kwargs) -> Recorder:
    settings = RecordingSettings(
        output_dir=tmp_path, padding_s=PADDING_S, compression=kwargs.pop("compression", "gzip")
    )
    return Recorder(settings, {"beam0": beam.buffer}, clock=clock, **kwargs)


def test_recording_holds_the_padded_window_at_full_resolution(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 5.0)
    [announcement] = recorder_for(beam, tmp_path, clock).submit(trigger("t1", 1.0, 1.5, alert_id="a1"))
    assert announcement["status"] == "recorded"
    assert announcement["trigger_ids"] == ["t1"] and announcement["alert_ids"] == ["a1"]
    time_s, freq_hz, data = beam.expected(
        START_S + 1.0 - PADDING_S, START_S + 1.5 + PADDING_S, 20.3e6, 20.5e6
    )
    path = Path(announcement["path"])
    assert path == tmp_path / "beam0" / "2023-11-14" / f"{announcement['recording_id']}.h5"
    assert announcement["bytes"] == path.stat().st_size > 0
    with h5py.File(path) as f:
        np.testing.assert_allclose(f["time_unix_s"][:], time_s, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(f["freq_hz"][:], freq_hz)
        np.testing.assert_array_equal(f["data"][:], data)
        assert f["data"].compression == "gzip" and f["data"].chunks is not None
        assert f["time_unix_s"].attrs["units"] == "s" and f["freq_hz"].attrs["units"] == "Hz"
        attrs = dict(f.attrs)
    assert (attrs["fftlen"], attrs["nfft2int"], list(attrs["subbands"])) == (16, 64, [104, 105])
    assert attrs["time_step_s"] == pytest.approx(16 * 64 / 195312.5)
    assert attrs["channel_width_hz"] == pytest.approx(195312.5 / 16)
    assert list(attrs["trigger_ids"]) == ["t1"] and list(attrs["alert_ids"]) == ["a1"]
    assert (attrs["beam"], attrs["nenubroker_version"], attrs["created_unix_s"]) == (
        "beam0",
        __version__,
        clock.now_s,
    )
    assert (announcement["time_start_unix_s"], announcement["n_time"]) == (
        pytest.approx(time_s[0]),
        time_s.size,
    )
    assert announcement["missing"] == []


def test_recording_id_and_path_are_deterministic(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 3.0)
    first = recorder_for(beam, tmp_path / "a", clock).submit(trigger("t1", 1.0, 1.5))[0]
    again = recorder_for(beam, tmp_path / "b", clock).submit(trigger("t1", 1.0, 1.5))[0]
    assert first["recording_id"] == again["recording_id"]
    assert Path(first["path"]).relative_to(tmp_path / "a") == Path(again["path"]).relative_to(tmp_path / "b")


def test_lzf_compression_is_used_when_configured(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 2.0)
    [announcement] = recorder_for(beam, tmp_path, clock, compression="lzf").submit(trigger("t1", 1.0, 1.2))
    with h5py.File(announcement["path"]) as f:
        assert f["data"].compression == "lzf"


def test_overlapping_triggers_are_merged_into_one_recording(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 1.5)
    recorder = recorder_for(beam, tmp_path, clock)
    assert recorder.submit(trigger("tA", 2.0, 2.3, 20.3e6, 20.4e6, alert_id="a1")) == []
    assert (
        recorder.submit(trigger("tB", 2.5, 2.8, 20.45e6, 20.5e6, alert_id="a2")) == []
    )  # padded windows touch 2.3-2.5
    assert recorder.n_pending == 2
    beam.until(START_S + 3.1)
    [announcement] = recorder.serve_pending()
    assert announcement["status"] == "recorded"
    assert (announcement["trigger_ids"], announcement["alert_ids"]) == (["tA", "tB"], ["a1", "a2"])
    assert (announcement["requested_time_start_unix_s"], announcement["requested_time_stop_unix_s"]) == (
        pytest.approx(START_S + 1.8),
        pytest.approx(START_S + 3.0),
    )
    assert (announcement["requested_freq_min_hz"], announcement["requested_freq_max_hz"]) == (20.3e6, 20.5e6)
    assert "2 overlapping triggers merged" in announcement["reason"]
    assert list(tmp_path.rglob("*.h5")) == [Path(announcement["path"])]
    _, _, data = beam.expected(START_S + 1.8, START_S + 3.0, 20.3e6, 20.5e6)
    with h5py.File(announcement["path"]) as f:
        np.testing.assert_array_equal(f["data"][:], data)
    assert recorder.n_pending == 0


def test_late_trigger_inside_a_written_recording_is_announced_merged(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 3.0)
    recorder = recorder_for(beam, tmp_path, clock)
    [first] = recorder.submit(trigger("tA", 1.0, 2.0))
    [late] = recorder.submit(trigger("tC", 1.2, 1.5, alert_id="a3"))
    assert late["status"] == "merged"
    assert (late["recording_id"], late["path"], late["bytes"]) == (first["recording_id"], first["path"], 0)
    assert late["trigger_ids"] == ["tA", "tC"] and late["alert_ids"] == ["a3"]
    assert len(list(tmp_path.rglob("*.h5"))) == 1
    assert recorder.submit(trigger("tC", 1.2, 1.5)) == []  # a replayed trigger is not served twice


def test_trigger_older_than_the_ring_buffer_is_missed(tmp_path, clock):
    beam = Beam(max_duration_s=1.0)
    beam.until(START_S + 5.0)
    [announcement] = recorder_for(beam, tmp_path, clock).submit(trigger("t1", 1.0, 1.5))
    assert announcement["status"] == "missed"
    assert "too late" in announcement["reason"] and "oldest data in the ring buffer" in announcement["reason"]
    assert (announcement["path"], announcement["bytes"], announcement["time_start_unix_s"]) == (None, 0, None)
    assert list(tmp_path.rglob("*.h5")) == []


def test_partially_covered_window_is_written_and_says_what_is_missing(tmp_path, clock):
    beam = Beam(max_duration_s=1.0)
    beam.until(START_S + 5.0)
    oldest_s = beam.buffer.time_range_unix_s[0]
    [announcement] = recorder_for(beam, tmp_path, clock).submit(trigger("t1", oldest_s - START_S, 4.7))
    assert announcement["status"] == "recorded"
    assert announcement["missing"] == [
        {
            "time_start_unix_s": pytest.approx(oldest_s - PADDING_S),
            "time_stop_unix_s": pytest.approx(oldest_s),
        }
    ]
    assert "older than the oldest data in the ring buffer" in announcement["reason"]
    _, _, data = beam.expected(oldest_s, START_S + 4.7 + PADDING_S, 20.3e6, 20.5e6)
    with h5py.File(announcement["path"]) as f:
        np.testing.assert_array_equal(f["data"][:], data)
        np.testing.assert_allclose(f["missing_unix_s"][:], [[oldest_s - PADDING_S, oldest_s]])


def test_pending_trigger_is_served_once_its_data_arrives(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 0.8)
    recorder = recorder_for(beam, tmp_path, clock)
    assert recorder.submit(trigger("t1", 1.0, 1.2)) == [] and recorder.n_pending == 1
    beam.until(START_S + 1.3)
    assert recorder.serve_pending() == []
    beam.until(START_S + 1.4)
    [announcement] = recorder.serve_pending()
    assert announcement["status"] == "recorded" and announcement["missing"] == []
    _, _, data = beam.expected(START_S + 0.8, START_S + 1.4, 20.3e6, 20.5e6)
    with h5py.File(announcement["path"]) as f:
        np.testing.assert_array_equal(f["data"][:], data)


def test_pending_trigger_is_written_with_what_exists_after_max_pending_s(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 1.3)
    newest_s = beam.buffer.time_range_unix_s[1]
    recorder = recorder_for(beam, tmp_path, clock, max_pending_s=5.0)
    assert recorder.submit(trigger("t1", 1.0, 1.2)) == []
    clock.now_s += 4.9
    assert recorder.serve_pending() == []
    clock.now_s += 0.2
    [announcement] = recorder.serve_pending()
    assert announcement["status"] == "recorded"
    assert announcement["missing"] == [
        {"time_start_unix_s": pytest.approx(newest_s), "time_stop_unix_s": pytest.approx(START_S + 1.4)}
    ]
    assert "not received when max_pending_s = 5 s had passed" in announcement["reason"]


def test_pending_window_longer_than_the_buffer_is_written_before_its_head_is_lost(tmp_path, clock):
    beam = Beam(max_duration_s=1.0)
    beam.until(START_S + 0.5)
    recorder = recorder_for(beam, tmp_path, clock)
    assert recorder.submit(trigger("t1", 0.4, 3.0)) == []
    announcements = []
    while not announcements:
        beam.until(beam.buffer.time_range_unix_s[1] + 0.01)
        announcements = recorder.serve_pending()
    [announcement] = announcements
    assert announcement["status"] == "recorded"
    assert announcement["time_start_unix_s"] <= START_S + 0.2  # the padded head is all there
    assert announcement["missing"] == [
        {
            "time_start_unix_s": pytest.approx(announcement["time_stop_unix_s"]),
            "time_stop_unix_s": pytest.approx(START_S + 3.2),
        }
    ]
    assert "the next block would evict its head" in announcement["reason"]


def test_trigger_for_a_beam_not_served_is_missed(tmp_path, clock):
    beam = Beam()
    other = Trigger("t9", "beam9", START_S, START_S + 1, 20e6, 21e6)
    [announcement] = recorder_for(beam, tmp_path, clock).submit(other)
    assert announcement["status"] == "missed" and "not served here" in announcement["reason"]


def test_trigger_with_an_empty_window_is_refused():
    with pytest.raises(TriggerError, match="after time_start_unix_s"):
        trigger("t1", 1.0, 1.0)
    with pytest.raises(TriggerError, match="finite"):
        trigger("t1", 1.0, float("nan"))


def test_announcements_fit_the_recording_schema(tmp_path, clock):
    beam = Beam(max_duration_s=1.0)
    beam.until(START_S + 3.0)
    recorder = recorder_for(beam, tmp_path, clock)
    made = [
        *recorder.submit(trigger("t1", 2.5, 2.7)),
        *recorder.submit(trigger("t2", 2.55, 2.6)),
        *recorder.submit(trigger("t3", 0.1, 0.2)),
        recorder.reject("garbage", "beam0", "topic[0]@3"),
    ]
    assert [a["status"] for a in made] == ["recorded", "merged", "missed", "missed"]
    for announcement in made:
        assert avro.decode("recording", *avro.encode("recording", announcement)) == announcement


def test_trigger_whose_data_never_arrives_is_missed_after_max_pending_s(tmp_path, clock):
    beam = Beam()
    recorder = recorder_for(beam, tmp_path, clock, max_pending_s=5.0)
    assert recorder.submit(trigger("t1", 1.0, 1.2)) == []
    clock.now_s += 5.0
    [announcement] = recorder.serve_pending()
    assert announcement["status"] == "missed"
    assert (
        "no data in the ring buffer" in announcement["reason"]
        and "max_pending_s = 5 s" in announcement["reason"]
    )


def test_trigger_continuing_a_written_recording_starts_where_it_stopped(tmp_path, clock):
    beam = Beam()
    beam.until(START_S + 4.0)
    recorder = recorder_for(beam, tmp_path, clock)
    [first] = recorder.submit(trigger("tA", 1.0, 2.0))
    [second] = recorder.submit(trigger("tB", 1.5, 3.0))
    assert second["status"] == "recorded" and second["trigger_ids"] == ["tB"]
    assert second["requested_time_start_unix_s"] == first["time_stop_unix_s"]
    assert second["time_start_unix_s"] >= first["time_stop_unix_s"] - 1e-5
    assert f"continues recording {first['recording_id']}" in second["reason"]
