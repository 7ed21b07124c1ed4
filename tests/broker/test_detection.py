"""The detect stage's pure steps, one at a time, on simulated chunks: decode, science, alerts, features."""

from dataclasses import replace

import numpy as np
import pytest

from nenubroker.broker.detection import AlertContext, chunk_features, decode_records, make_alerts, run_science
from nenubroker.conf.settings import Pointing
from nenubroker.records.alert import UNIX_EPOCH_MJD, alert_id
from nenubroker.udfs.registry import resolve

T0 = 1.7e9


@pytest.fixture
def modules(offline_settings):
    """The configured modules: RFI flagger, burst search, features, random-forest classifier."""
    return resolve(offline_settings.modules.enabled)


def _science(decoded, modules):
    return run_science([chunk for _, chunk in decoded], modules, {})


def test_decode_keeps_good_chunks_and_rejects_bad_ones_in_order(beam_chunks, source_record):
    chunk = next(beam_chunks())
    value, headers = chunk.encode()
    records = [source_record(b"junk", headers, offset=0), source_record(value, headers, offset=1),
               source_record(*replace(chunk, data=np.full_like(chunk.data, np.inf)).encode(), offset=2)]
    decoded, rejected = decode_records(records, max_nonfinite_fraction=0.5)
    assert [(record.offset, c.chunk_index) for record, c in decoded] == [(1, chunk.chunk_index)]
    np.testing.assert_array_equal(decoded[0].chunk.data, chunk.data)
    assert [record.offset for record, _ in rejected] == [0, 2]
    assert rejected[0].reason.startswith("not a 'spectra_chunk' v2 Avro record")
    assert rejected[1].reason.startswith("100% of the samples are NaN or infinite")


def test_decode_tolerates_lost_samples_up_to_the_limit(beam_chunks, source_record):
    chunk = next(beam_chunks())
    data = chunk.data.copy()
    data[: len(data) // 4] = np.nan
    record = source_record(*replace(chunk, data=data).encode())
    assert len(decode_records([record], max_nonfinite_fraction=0.25)[0]) == 1
    assert len(decode_records([record], max_nonfinite_fraction=0.2)[1]) == 1


def test_a_simulated_spike_makes_one_alert_with_its_chunk_and_record(modules, beam_chunks, spike, source_record):
    chunks = [chunk for chunk, _ in zip(beam_chunks(spike(2.0, 47e6)), range(2))]
    decoded, _ = decode_records([source_record(*c.encode(), offset=i) for i, c in enumerate(chunks)], 0.5)
    chunk_rows, candidates = _science(decoded, modules)
    context = AlertContext.of(modules, "classifier_forest", {"beam0": Pointing(ra_deg=10.0, dec_deg=20.0)})
    [alert] = make_alerts(candidates, chunk_rows, decoded, context, processed_unix_s=T0 + 20)
    assert alert.alert_id == alert_id("beam0", 0, "burst_search", alert.time_peak_unix_s, alert.freq_peak_hz)
    assert alert.chunk_index == 0 and alert.class_label == "spike" and alert.classifier.startswith("classifier_forest ")
    assert abs(alert.freq_peak_hz - 47e6) <= 2 * (chunks[0].freq_hz[1] - chunks[0].freq_hz[0])
    assert alert.time_peak_mjd == UNIX_EPOCH_MJD + alert.time_peak_unix_s / 86400
    assert (alert.pointing_ra_deg, alert.pointing_dec_deg) == (10.0, 20.0)
    assert alert.stage_times_unix_s == {"edge_created": chunks[0].created_unix_s, "kafka_ingest": T0 + 10,
                                        "broker_processed": T0 + 20}
    assert len(alert.cutout) == 32 * 32 * 4 and alert.trigger_ids == []


def test_without_a_classifier_alerts_have_no_class(modules, beam_chunks, spike, source_record):
    decoded, _ = decode_records([source_record(*next(beam_chunks(spike(2.0, 47e6))).encode())], 0.5)
    chunk_rows, candidates = _science(decoded, modules)
    context = AlertContext.of(modules, None, {})
    [alert] = make_alerts(candidates, chunk_rows, decoded, context, processed_unix_s=0.0)
    assert (alert.class_label, alert.class_probabilities, alert.classifier) == (None, {}, None)


def test_the_alert_classifier_must_be_enabled(modules):
    with pytest.raises(ValueError, match="alert_classifier 'classifier_cnn' is not an enabled module"):
        AlertContext.of(modules, "classifier_cnn", {})


def test_every_chunk_gets_features_with_its_candidate_count(offline_settings, modules, beam_chunks, spike,
                                                            source_record):
    chunks = [chunk for chunk, _ in zip(beam_chunks(spike(2.0, 47e6)), range(2))]
    decoded, _ = decode_records([source_record(*c.encode(), offset=i) for i, c in enumerate(chunks)], 0.5)
    chunk_rows, candidates = _science(decoded, modules)
    context = AlertContext.of(modules, "classifier_forest", {})
    features = chunk_features(candidates, chunk_rows, decoded, context, processed_unix_s=T0 + 20)
    assert [(f.chunk_index, f.n_candidates) for f in features] == [(0, 1), (1, 0)]
    assert features[0].duration_s == pytest.approx(chunks[0].n_time * chunks[0].time_step_s)
    assert features[0].nonfinite_fraction == 0.0 and 0.0 <= features[0].rfi_flagged_fraction < 0.05
    assert set(features[0].module_versions) == set(offline_settings.modules.enabled)
    assert features[0].processed_unix_s == T0 + 20
