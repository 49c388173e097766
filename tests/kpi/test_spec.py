"""KPI specs: the catalogue loads, every KPI speaks four languages and cites its targets, and a
wrong spec is refused with the file, the KPI and what was probably meant."""

from __future__ import annotations

import pytest

from observatory.errors import ConfigError
from observatory.i18n import LANGUAGES
from observatory.kpi.spec import KpiSpec, load_specs

_VALID = """
kpis:
  - id: pm10_mean
    title: {fr: PM10, en: PM10, es: PM10, de: PM10}
    description: {fr: d, en: d, es: d, de: d}
    domain: air
    unit: µg/m³
    direction: lower_is_better
    target: 15
    alert: 40
    target_source: WHO 2021
    datasets: [readings_hourly:air_quality.pm10_ugm3]
    sql: SELECT place, period_start, 1.0 AS value FROM h
"""


def _write(tmp_path, text: str):
    path = tmp_path / "kpis.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_catalogue_has_twenty_kpis_or_more_in_four_languages_with_cited_targets():
    specs = load_specs()
    assert len(specs) >= 20
    assert {s.domain for s in specs.values()} >= {"energy", "water", "mobility", "air", "waste", "resilience"}
    for spec in specs.values():
        assert all(spec.title[lang] and spec.description[lang] for lang in LANGUAGES)
        if spec.target is not None or spec.alert is not None:
            assert spec.target_source, spec.id


def test_a_misspelt_key_gets_a_did_you_mean_naming_the_file_and_kpi(tmp_path):
    path = _write(tmp_path, _VALID.replace("direction:", "directon:"))
    with pytest.raises(
        ConfigError, match=r"KPI 'pm10_mean': unknown key 'directon'.*Did you mean 'direction'"
    ) as err:
        load_specs(path)
    assert err.value.path == path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("domain: air", "domain: ayr"), "Did you mean 'air'"),
        (("de: PM10}", "xx: PM10}"), "lacks de"),
        (("target_source: WHO 2021", "target_source: ''"), "needs its target_source"),
        (("target: 15", "target: fifteen"), "target must be a number"),
        (("    sql: SELECT place, period_start, 1.0 AS value FROM h\n", ""), "exactly one formula"),
    ],
)
def test_wrong_specs_are_refused_with_the_reason(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_specs(_write(tmp_path, _VALID.replace(*change)))


def test_an_unknown_python_formula_is_named(tmp_path):
    text = _VALID.replace(
        "    sql: SELECT place, period_start, 1.0 AS value FROM h\n", "    python: cyclone_exposur\n"
    )
    with pytest.raises(ConfigError, match="Did you mean 'cyclone_exposure'"):
        load_specs(_write(tmp_path, text))


def test_a_kpi_defined_twice_is_refused(tmp_path):
    body = _VALID.split("kpis:\n", 1)[1]
    with pytest.raises(ConfigError, match="defined twice"):
        load_specs(_write(tmp_path, "kpis:\n" + body + body))


@pytest.mark.parametrize(
    ("value", "status"),
    [(10.0, "ok"), (15.0, "ok"), (20.0, "watch"), (40.0, "alert"), (55.0, "alert"), (None, "no_data")],
)
def test_status_against_target_and_alert_when_lower_is_better(tmp_path, value, status):
    spec: KpiSpec = load_specs(_write(tmp_path, _VALID))["pm10_mean"]
    assert spec.status(value) == status


def test_status_when_higher_is_better():
    spec = load_specs()["renewable_share"]  # target 50 %, alert 20 %
    assert [spec.status(v) for v in (60.0, 35.0, 20.0)] == ["ok", "watch", "alert"]
