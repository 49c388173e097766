"""The catalogue as written in catalog/, and the errors a wrong entry gets (file, line, near miss)."""

from __future__ import annotations

import re

import pytest

from observatory.errors import ConfigError
from observatory.releases.catalog import LICENCES, PRIVACY_CLASSES, THEMES, load_catalog
from observatory.releases.producers import PRODUCERS
from tests.releases.conftest import edit


def test_the_repository_catalogue_describes_every_dataset_of_issue_7():
    catalog = load_catalog()
    by_id = {d.id: d for d in catalog.datasets}
    assert set(by_id) >= {
        "communes",
        "cyclone_return_periods",
        "seismicity_iscgem",
        "sensors",
        "sensor_readings_hourly",
        "citizen_reports_monthly",
        "citizen_reports_raw",
    }
    for spec in catalog.datasets:
        assert spec.title["fr"] and spec.title["en"] and spec.description["fr"] and spec.description["en"]
        assert spec.licence.id in LICENCES and set(spec.themes) <= set(THEMES)
        assert spec.privacy.cls in PRIVACY_CLASSES and spec.key
        for column in spec.columns:
            assert column.description["fr"] and column.description["en"]
    assert by_id["seismicity_iscgem"].licence.id == "CC-BY-SA-3.0"  # the upstream's licence
    assert by_id["communes"].licence.id == "etalab-2.0" and by_id["communes"].upstream == (
        "communes",
        "population",
    )
    assert by_id["citizen_reports_raw"].privacy.cls == "restricted"
    monthly = by_id["citizen_reports_monthly"]
    assert monthly.privacy.cls == "aggregated-only" and monthly.privacy.min_contributors == 11
    assert monthly.query.tables == ("reports",)
    assert by_id["communes"].query.producer in PRODUCERS


def _load_error(folder) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_catalog(folder)
    return caught.value


def test_a_misspelt_key_names_the_file_the_line_and_the_key_meant(catalog_copy):
    path = edit(catalog_copy / "sensors.yaml", "licence: etalab-2.0", "licens: etalab-2.0")
    error = _load_error(catalog_copy)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("licens:"))
    assert error.path == path and error.line == line
    assert "unknown key 'licens'" in str(error) and "Did you mean 'licence'?" in str(error)


def test_a_misspelt_column_key_is_named_with_its_path(catalog_copy):
    edit(catalog_copy / "communes.yaml", '    unit: "km2"', '    units: "km2"')
    error = _load_error(catalog_copy)
    assert re.search(r"parameter 'columns\.3\.units'", str(error)) and "Did you mean 'unit'?" in str(error)


def test_a_missing_licence_is_refused(catalog_copy):
    path = edit(catalog_copy / "communes.yaml", "licence: etalab-2.0\n", "")
    error = _load_error(catalog_copy)
    assert error.path == path and "the key 'licence' is missing" in str(error)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("communes.yaml", "licence: etalab-2.0", "licence: CC-BY-SA-4.0", "unknown licence 'CC-BY-SA-4.0'"),
        (
            "communes.yaml",
            "themes: [REGI, GOVE, SOCI]",
            "themes: [REGI, GOVERNMENT]",
            "unknown theme 'GOVERNMENT'",
        ),
        ("sensors.yaml", "class: open", "class: public", "unknown privacy class 'public'"),
        ("sensors.yaml", "frequency: DAILY", "frequency: DAYLY", "Did you mean 'DAILY'?"),
        (
            "communes.yaml",
            "producer: territory.communes",
            "producer: territory.commune",
            "Did you mean 'territory.communes'?",
        ),
        (
            "citizen_reports_monthly.yaml",
            "min_contributors: 11",
            "min_contributors: 5",
            "below the statistical secrecy threshold of 11",
        ),
        (
            "citizen_reports_monthly.yaml",
            "  contributors: contributors\n",
            "",
            "names its contributors column",
        ),
        ("citizen_reports_raw.yaml", "  reason: ", "  why: ", "unknown key 'why'"),
        ("sensors.yaml", "id: sensors", "id: capteurs", "must be the file's name (sensors)"),
        ("sensors.yaml", "key: [sensor_id]", "key: [sensor]", "key column 'sensor' is not among the columns"),
        ("seismicity_iscgem.yaml", "upstream: [iscgem]", "upstream: [isc_gem]", "Did you mean 'iscgem'?"),
    ],
)
def test_a_wrong_value_is_refused_with_the_file_named(catalog_copy, file, old, new, message):
    path = edit(catalog_copy / file, old, new)
    error = _load_error(catalog_copy)
    assert error.path == path and message in str(error)


def test_a_described_column_the_query_does_not_return_is_refused(catalog_copy):
    path = edit(catalog_copy / "sensors.yaml", "SELECT sensor_id, domain,", "SELECT sensor_id,")
    error = _load_error(catalog_copy)
    assert error.path == path and "column(s) ['domain'] are not in the query result" in str(error)


def test_a_returned_column_the_catalogue_does_not_describe_is_refused(catalog_copy):
    path = edit(
        catalog_copy / "sensors.yaml", "SELECT sensor_id,", "SELECT sensor_id, series_count AS extra,"
    )
    assert "the query fails on the warehouse schema" in str(_load_error(catalog_copy))
    edit(path, "series_count AS extra,", "1 AS extra,")
    assert "returns column(s) ['extra'] the catalogue does not describe" in str(_load_error(catalog_copy))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM sensors", "exactly one SELECT"),
        ("SELECT 1 AS sensor_id; SELECT 2 AS sensor_id", "exactly one SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function(s) ['read_csv']"),
        ("SELECT * FROM secrets", "reads ['secrets'], which are not warehouse tables"),
    ],
)
def test_a_query_is_one_select_over_the_warehouse_tables_only(catalog_copy, sql, message):
    text = (catalog_copy / "sensors.yaml").read_text()
    start = text.index("  sql: >-")
    end = text.index("key: [sensor_id]")
    (catalog_copy / "sensors.yaml").write_text(text[:start] + f"  sql: {sql!r}\n" + text[end:])
    assert message in str(_load_error(catalog_copy))


def test_the_catalogue_file_itself_is_validated(catalog_copy):
    edit(catalog_copy / "catalog.yaml", "homepage:", "home_page:")
    error = _load_error(catalog_copy)
    assert error.path == catalog_copy / "catalog.yaml" and "Did you mean 'homepage'?" in str(error)


def test_broken_yaml_names_its_line(catalog_copy):
    path = catalog_copy / "sensors.yaml"
    lines = path.read_text().splitlines()
    lines[3] = "  en: [unclosed"
    path.write_text("\n".join(lines) + "\n")
    error = _load_error(catalog_copy)
    assert error.path == path and "not valid YAML" in str(error) and error.line is not None
