"""Settings come from OBSERVATORY_* variables; a wrong one is named with what to do."""

from __future__ import annotations

import pytest

from observatory.config import Settings
from observatory.errors import ConfigError


def test_defaults_put_data_under_the_user_data_dir():
    settings = Settings.from_env({})
    assert settings.data_dir.name == "observatory"
    assert settings.data_mirror is None
    assert settings.language == "fr"


def test_variables_override_defaults(tmp_path):
    settings = Settings.from_env(
        {
            "OBSERVATORY_DATA_DIR": str(tmp_path / "d"),
            "OBSERVATORY_DATA_MIRROR": str(tmp_path),
            "OBSERVATORY_INFLUX_URL": "http://127.0.0.1:9999",
            "OBSERVATORY_LANGUAGE": "de",
        }
    )
    assert settings.data_dir == tmp_path / "d"
    assert settings.reference_dir == tmp_path / "d" / "reference"
    assert settings.influx_url == "http://127.0.0.1:9999"
    assert settings.language == "de"


def test_a_misspelt_variable_gets_a_suggestion():
    with pytest.raises(ConfigError, match="OBSERVATORY_DATA_MIROR.*Did you mean 'OBSERVATORY_DATA_MIRROR'"):
        Settings.from_env({"OBSERVATORY_DATA_MIROR": "/x"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OBSERVATORY_INFLUX_URL", "localhost:8086"),
        ("OBSERVATORY_POSTGRES_DSN", "mysql://x@127.0.0.1/db"),
        ("OBSERVATORY_MQTT_URL", "mqtt://"),
        ("OBSERVATORY_LANGUAGE", "it"),
        ("OBSERVATORY_POSTGIS_SENSORS_TABLE", "sensors; DROP TABLE sensors"),
    ],
)
def test_an_unusable_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_a_missing_mirror_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="OBSERVATORY_DATA_MIRROR"):
        Settings.from_env({"OBSERVATORY_DATA_MIRROR": str(tmp_path / "nope")})
