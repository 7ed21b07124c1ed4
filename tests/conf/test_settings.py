from pathlib import Path

import pytest
from pydantic import ValidationError

from nenubroker.conf.settings import DEFAULT_CONFIG_FILE, load_settings, overrides_from_env


def test_shipped_file_loads_with_its_documented_values():
    settings = load_settings(env={})
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.simulator.fftlen == 64 and settings.simulator.nfft2int == 64  # the 34 GB/h mode
    assert [f.name for f in settings.routing.filters] == ["type_iii", "jupiter"]


def test_env_overrides_nested_keys_with_typed_values():
    settings = load_settings(env={
        "NENUBROKER_KAFKA__BOOTSTRAP_SERVERS": "kafka1:9092,kafka2:9092",
        "NENUBROKER_KAFKA__PARTITIONS": "6",
        "NENUBROKER_KAFKA__TOPICS__ALERTS": "night.alerts",
        "NENUBROKER_SIMULATOR__BEAMS": "[b1, b2, b3]",
    })
    assert settings.kafka.bootstrap_servers == "kafka1:9092,kafka2:9092"
    assert settings.kafka.partitions == 6
    assert settings.kafka.topics.alerts == "night.alerts"
    assert settings.kafka.topics.chunks == "nenubroker.spectra_chunks"
    assert settings.simulator.beams == ["b1", "b2", "b3"]


def test_precedence_file_then_env_then_explicit(tmp_path: Path):
    config = tmp_path / "site.yaml"
    config.write_text("kafka:\n  partitions: 3\n  replication_factor: 2\nspark:\n  master: spark://head:7077\n")
    settings = load_settings(env={"NENUBROKER_CONFIG": str(config), "NENUBROKER_KAFKA__PARTITIONS": "4"},
                             overrides={"spark": {"master": "local[1]"}})
    assert settings.kafka.replication_factor == 2  # from the file
    assert settings.kafka.partitions == 4  # env beats file
    assert settings.spark.master == "local[1]"  # explicit beats env


def test_secret_comes_from_env_and_is_not_printed():
    settings = load_settings(env={
        "NENUBROKER_KAFKA__SECURITY__PROTOCOL": "SASL_SSL",
        "NENUBROKER_KAFKA__SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
        "NENUBROKER_KAFKA__SECURITY__SASL_USERNAME": "observer",
        "NENUBROKER_KAFKA__SECURITY__SASL_PASSWORD": "s3cret",
    })
    assert settings.kafka.security.sasl_password == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "sasl_password" not in DEFAULT_CONFIG_FILE.read_text().replace("# sasl_password", "")


def test_unknown_key_and_bad_value_are_rejected():
    with pytest.raises(ValidationError, match="bootstrap_server"):
        load_settings(env={"NENUBROKER_KAFKA__BOOTSTRAP_SERVER": "typo:9092"})
    with pytest.raises(ValidationError, match="partitions"):
        load_settings(env={"NENUBROKER_KAFKA__PARTITIONS": "many"})


def test_missing_config_file_is_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_settings(tmp_path / "nowhere.yaml", env={})


def test_overrides_from_env_ignores_other_variables():
    assert overrides_from_env({"HOME": "/root", "NENUBROKER_SPARK__MASTER": "local[2]"}) == {
        "spark": {"master": "local[2]"}}


def test_empty_mapping_override_clears_the_default_mapping():
    settings = load_settings(env={}, overrides={"simulator": {"event_rates_per_min": {}}})
    assert settings.simulator.event_rates_per_min == {}
