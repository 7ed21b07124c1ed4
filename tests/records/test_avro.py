from dataclasses import replace

import numpy as np
import pytest

from nenubroker.records import avro
from nenubroker.records.chunk import ChunkError, SpectraChunk


def _chunk(n_time=8, n_freq=4) -> SpectraChunk:
    return SpectraChunk(
        beam="beam3", chunk_index=7, time_start_unix_s=1.7e9, time_step_s=0.021,
        freq_hz=np.linspace(20e6, 21e6, n_freq),
        data=np.arange(n_time * n_freq, dtype=np.float32).reshape(n_time, n_freq),
        created_unix_s=1.7e9 + 1,
    )


def test_chunk_round_trip_keeps_values_axes_and_version_header():
    chunk = replace(_chunk(), overlap_samples=2, trailing_overlap_samples=0)
    value, headers = chunk.encode()
    assert dict(headers)["schema_version"] == b"2"
    assert dict(headers)["schema"] == b"spectra_chunk"
    back = SpectraChunk.decode(value, headers)
    np.testing.assert_array_equal(back.data, chunk.data)
    np.testing.assert_array_equal(back.freq_hz, chunk.freq_hz)
    assert (back.beam, back.chunk_index, back.time_step_s) == ("beam3", 7, 0.021)
    np.testing.assert_allclose(back.time_unix_s - 1.7e9, 0.021 * np.arange(8), atol=1e-6)
    assert (back.overlap_samples, back.trailing_overlap_samples) == (2, 0)


def test_unknown_schema_version_is_named():
    value, _ = _chunk().encode()
    with pytest.raises(avro.DecodeError, match="unknown schema version 99"):
        avro.decode("spectra_chunk", value, [("schema_version", b"99")])


def test_missing_version_header_is_reported():
    value, _ = _chunk().encode()
    with pytest.raises(avro.DecodeError, match="no 'schema_version' header"):
        avro.decode("spectra_chunk", value, [])


def test_bytes_that_are_not_avro_are_reported():
    with pytest.raises(avro.DecodeError, match="not a 'spectra_chunk' v1 Avro record"):
        avro.decode("spectra_chunk", b"\x00garbage\xff" * 3, [("schema_version", b"1")])


def test_trailing_bytes_are_reported():
    value, headers = _chunk().encode()
    with pytest.raises(avro.DecodeError, match="trailing bytes"):
        avro.decode("spectra_chunk", value + b"extra", headers)


def test_message_of_another_schema_is_reported():
    value, headers = avro.encode("dead_letter", {
        "stage": "x", "reason": "y", "source_topic": "t", "source_partition": 0, "source_offset": 1,
        "source_key": None, "source_headers": {}, "source_value": None, "rejected_unix_s": 0.0})
    with pytest.raises(avro.DecodeError, match="is a 'dead_letter', expected a 'spectra_chunk'"):
        avro.decode("spectra_chunk", value, headers)


def test_wrong_array_length_is_a_chunk_error():
    record = _chunk().to_record()
    record["data"] = record["data"][:-4]
    with pytest.raises(ChunkError, match="data holds 124 bytes, n_time x n_freq float32 needs 128"):
        SpectraChunk.from_record(record)
    record = _chunk().to_record()
    record["freq_hz"] = record["freq_hz"][:-1]
    with pytest.raises(ChunkError, match="freq_hz has 3 values, n_freq says 4"):
        SpectraChunk.from_record(record)


def test_known_versions_lists_schema_files():
    assert avro.known_versions("alert") == [1, 2]


def _alert_v1() -> dict:
    return {"alert_id": "x", "beam": "beam0", "chunk_index": 3, "time_peak_unix_s": 1.7e9, "time_start_unix_s": 1.7e9,
            "duration_s": 1.0, "freq_peak_hz": 3e7, "freq_min_hz": 2.9e7, "freq_max_hz": 3.1e7, "drift_hz_per_s": -5e6,
            "snr": 12.0, "peak_power": 0.4, "class_label": "type_iii", "class_probabilities": {"type_iii": 0.9},
            "classifier": "c 1", "rfi_flagged_fraction": 0.01, "cutout": b"", "detector": "d",
            "module_versions": {"d": "1"}, "nenubroker_version": "0", "chunk_created_unix_s": 1.0,
            "kafka_ingest_unix_s": 2.0, "processed_unix_s": 3.0}


def test_new_reader_reads_an_old_alert_with_defaults_for_new_fields():
    value, headers = avro.encode("alert", _alert_v1(), version=1)
    alert = avro.decode("alert", value, headers, reader_version=2)
    assert alert["snr"] == 12.0 and alert["source"] == "unknown" and alert["trigger_ids"] == []
    assert alert["pointing_ra_deg"] is None


def test_old_reader_reads_a_new_alert_ignoring_new_fields():
    import json

    from nenubroker.conf.settings import SCHEMA_DIR

    new = {**_alert_v1(), "source": "simulator", "pointing_ra_deg": 10.0, "pointing_dec_deg": 20.0,
           "time_peak_mjd": 60000.5, "trigger_ids": ["t"], "stage_times_unix_s": {"edge_created": 1.0}}
    value, headers = avro.encode("alert", new, version=2)
    # An old client has only v1 locally and takes v2 from the schema topic.
    published = {"alert.v2": json.loads((SCHEMA_DIR / "alert.v2.avsc").read_text())}
    alert = avro.decode("alert", value, headers, reader_version=1, writer_schemas=published)
    assert alert == _alert_v1()


def test_arrow_schema_follows_the_avro_types_and_nullability():
    import pyarrow as pa

    schema = avro.arrow_schema("alert", 2)
    assert schema.metadata == {b"nenubroker.schema": b"alert", b"nenubroker.schema_version": b"2"}
    assert schema.field("snr") == pa.field("snr", pa.float64(), nullable=False)
    assert schema.field("pointing_ra_deg") == pa.field("pointing_ra_deg", pa.float64())
    assert schema.field("class_probabilities").type == pa.map_(pa.string(), pa.float64())
    assert schema.field("trigger_ids").type == pa.list_(pa.string())
    newest = avro.load_schema("alert", avro.CURRENT_VERSIONS["alert"])
    assert avro.arrow_schema("alert").names == [f["name"] for f in newest["fields"]]


def test_arrow_schema_holds_decoded_records():
    import pyarrow as pa

    value, headers = _chunk().encode()
    record = avro.decode("spectra_chunk", value, headers)
    table = pa.Table.from_pylist([record], schema=avro.arrow_schema("spectra_chunk"))
    assert table.column("data")[0].as_py() == record["data"]


def test_shape_of_a_chunk_is_that_of_its_data():
    chunk = _chunk(n_time=8, n_freq=4)
    assert (chunk.n_time, chunk.n_freq) == (8, 4)


def _chunk_v1(overlap_samples: int) -> dict:
    """A chunk record as a v1 writer makes it (no trailing_overlap_samples)."""
    record = replace(_chunk(), overlap_samples=overlap_samples).to_record()
    record.pop("trailing_overlap_samples", None)
    return record


def test_chunk_written_as_v1_still_decodes_repeating_as_many_samples_at_its_end():
    value, headers = avro.encode("spectra_chunk", _chunk_v1(overlap_samples=3), version=1)
    assert dict(headers)["schema_version"] == b"1"
    chunk = SpectraChunk.decode(value, headers)
    assert (chunk.overlap_samples, chunk.trailing_overlap_samples) == (3, 3)  # the v2 default: same as overlap
    np.testing.assert_array_equal(chunk.data, _chunk().data)


def test_old_reader_reads_a_new_chunk_ignoring_the_trailing_overlap():
    import json

    from nenubroker.conf.settings import SCHEMA_DIR

    value, headers = replace(_chunk(), overlap_samples=3, trailing_overlap_samples=0).encode()
    published = {"spectra_chunk.v2": json.loads((SCHEMA_DIR / "spectra_chunk.v2.avsc").read_text())}
    record = avro.decode("spectra_chunk", value, headers, reader_version=1, writer_schemas=published)
    assert record == _chunk_v1(overlap_samples=3)


def test_overlaps_outside_the_chunk_are_chunk_errors():
    record = _chunk(n_time=8).to_record()
    with pytest.raises(ChunkError, match=r"trailing_overlap_samples=8 outside \[0, n_time=8\)"):
        SpectraChunk.from_record({**record, "trailing_overlap_samples": 8})
    with pytest.raises(ChunkError, match=r"overlap_samples=9 outside \[0, n_time=8\]"):
        SpectraChunk.from_record({**record, "overlap_samples": 9})
    only_repeats = SpectraChunk.from_record({**record, "overlap_samples": 8, "trailing_overlap_samples": 0})
    assert only_repeats.overlap_samples == only_repeats.n_time  # a final chunk may hold only shared samples
