"""The privacy gate against adversarial inputs: odd phone formats, hidden e-mails, renamed name
columns, small counts, a raw-reports entry claiming class open, exact coordinates, generated text."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from observatory.config import Settings
from observatory.errors import ConfigError, PrivacyError
from observatory.releases.build import produce, write_dataset
from observatory.releases.catalog import DatasetSpec, load_catalog, read_dataset
from observatory.releases.privacy import (
    Cleared,
    PersonalValues,
    coarsen_to_grid,
    gate,
    load_key,
    pseudonym,
)
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS
from observatory.warehouse.store import Warehouse

KEY = bytes(range(32))
NOBODY = PersonalValues({})


def make_spec(
    folder: Path, dataset_id: str, sql: str, columns: dict[str, str], privacy: dict, **extra
) -> DatasetSpec:
    """A dataset description written as YAML and read back like any catalogue entry."""
    described = []
    for name, kind in columns.items():
        column = {"name": name, "type": kind.split(":")[0], "description": {"fr": name, "en": name}}
        if ":" in kind:
            column["personal"] = kind.split(":")[1]
        described.append(column)
    data = {
        "id": dataset_id,
        "title": {"fr": "Essai", "en": "Test"},
        "description": {"fr": "Jeu d'essai", "en": "Test dataset"},
        "themes": ["SOCI"],
        "keywords": {"fr": ["essai"], "en": ["test"]},
        "licence": "etalab-2.0",
        "frequency": "IRREG",
        "query": {"sql": sql},
        "key": extra.pop("key", [next(iter(columns))]),
        "columns": described,
        "privacy": privacy,
        **extra,
    }
    path = folder / f"{dataset_id}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return read_dataset(path)


@pytest.fixture(scope="module")
def labels_spec(tmp_path_factory) -> DatasetSpec:
    """An open dataset over the sensors table (no personal data behind it): sensor_id, label."""
    folder = tmp_path_factory.mktemp("specs")
    return make_spec(
        folder,
        "labels",
        "SELECT sensor_id, kind AS label FROM sensors",
        {"sensor_id": "string", "label": "string"},
        {"class": "open"},
    )


@pytest.fixture(scope="module")
def warehouse(small_warehouse):
    with Warehouse.open(small_warehouse, read_only=True) as opened:
        yield opened


@pytest.fixture(scope="module")
def personal(warehouse) -> PersonalValues:
    return PersonalValues.from_warehouse(warehouse)


def _labels(*values: str) -> pl.DataFrame:
    return pl.DataFrame({"sensor_id": [f"s{i}" for i in range(len(values))], "label": list(values)})


def _refusal(spec, frame, personal=NOBODY, key=None, config=None) -> PrivacyError:
    with pytest.raises(PrivacyError) as caught:
        gate(spec, frame, personal, key, config)
    return caught.value


# --- direct identifiers by content --------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+596 696 12 34 56",
        "0696123456",
        "06 96 12 34 56",
        "06.96.12.34.56",
        "0596-60-00-00",
        "+596696123456",
        "00596 696 12 34 56",
        "+33 (0)6 12 34 56 78",
        "+33612345678",
        "+590 690 12 34 56",
        "+1 767 448 1234",
    ],
)
def test_phone_numbers_in_odd_formats_are_refused_with_the_cell_and_without_the_number(labels_spec, phone):
    error = _refusal(labels_spec, _labels("pm10 station", f"rappeler au {phone} svp", "Savane"))
    (finding,) = error.findings
    assert finding.column == "label" and finding.rows == (2,) and "phone numbers" in finding.reason
    digits = re.sub(r"\D", "", phone)
    assert phone not in str(error) and digits not in re.sub(r"\D", "", str(error))
    assert error.path == labels_spec.path


@pytest.mark.parametrize(
    "value",
    [
        "97209",
        "2026-11-20T14:03:11Z",
        "Mw (direct)",
        "1019576",
        "0.123456789",
        "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane",
        "E705500N1614500",
        "wind_100yr_ms",
    ],
)
def test_ordinary_labels_and_identifiers_pass(labels_spec, value):
    cleared = gate(labels_spec, _labels("pm10", value), NOBODY)
    assert cleared.frame["label"].to_list() == ["pm10", value]


@pytest.mark.parametrize(
    "email",
    ["jean.dupont@gmail.com", "j-d+obs@wanadoo.fr", "jean [at] wanadoo [dot] fr", "jean(at)orange(dot)mq"],
)
def test_emails_hidden_in_a_comment_column_are_refused_by_name_and_by_content(tmp_path, email):
    spec = make_spec(
        tmp_path,
        "comments",
        "SELECT sensor_id, kind AS comment FROM sensors",
        {"sensor_id": "string", "comment": "string"},
        {"class": "open"},
    )
    frame = pl.DataFrame({"sensor_id": ["a", "b"], "comment": ["RAS", f"écrire à {email} pour la clé"]})
    error = _refusal(spec, frame)
    reasons = {f.reason for f in error.findings if f.column == "comment"}
    assert any("name says" in r for r in reasons) and any("e-mail" in r for r in reasons)
    details = make_spec(
        tmp_path,
        "details",
        "SELECT sensor_id, kind AS details FROM sensors",
        {"sensor_id": "string", "details": "string"},
        {"class": "open"},
    )
    (finding,) = _refusal(details, frame.rename({"comment": "details"})).findings
    assert finding.column == "details" and "e-mail" in finding.reason and finding.rows == (2,)


@pytest.mark.parametrize(
    "name",
    [
        "telephone",
        "contact_phone",
        "email_address",
        "courriel",
        "reporter_name",
        "submitter",
        "prenom",
        "adresse_postale",
        "tel",
        "mobile",
    ],
)
def test_identifier_column_names_are_refused_whatever_they_hold(tmp_path, name):
    spec = make_spec(
        tmp_path,
        f"n_{name}",
        f"SELECT sensor_id, kind AS {name} FROM sensors",
        {"sensor_id": "string", name: "string"},
        {"class": "open"},
    )
    error = _refusal(spec, pl.DataFrame({"sensor_id": ["a"], name: ["x"]}))
    assert [(f.column, "name says" in f.reason) for f in error.findings] == [(name, True)]


# --- personal data behind the query --------------------------------------------------------------


def test_a_catalogue_entry_claiming_class_open_for_raw_reports_is_refused(tmp_path, warehouse, personal):
    spec = make_spec(
        tmp_path,
        "open_reports",
        "SELECT report_id, insee, category FROM reports",
        {"report_id": "string", "insee": "string", "category": "string"},
        {"class": "open"},
    )
    error = _refusal(
        spec, pl.DataFrame({"report_id": ["x"], "insee": ["97209"], "category": ["voirie"]}), personal
    )
    assert "reads personal table(s) ['reports'] but claims privacy class open" in str(error)


def test_the_restricted_raw_reports_are_refused_with_their_reason(warehouse, personal):
    spec = load_catalog().dataset("citizen_reports_raw")
    error = _refusal(spec, produce(spec, warehouse, Settings.from_env()), personal, KEY)
    assert "is restricted (personal data of citizens" in str(error) and error.path == spec.path


def _aggregate(folder: Path, dataset_id: str, label_sql: str) -> DatasetSpec:
    return make_spec(
        folder,
        dataset_id,
        f"SELECT insee, category, {label_sql} AS libelle, count(*) AS reports, count(DISTINCT reporter) AS contributors FROM reports GROUP BY insee, category",
        {
            "insee": "string",
            "category": "string",
            "libelle": "string",
            "reports": "integer",
            "contributors": "integer",
        },
        {"class": "aggregated-only", "contributors": "contributors"},
        key=["insee", "category"],
    )


@pytest.mark.parametrize(
    "label_sql",
    [
        "max(reporter)",
        "max(split_part(reporter, ';', 1))",
        "max(split_part(reporter, '; ', 2))",
        "upper(max(split_part(reporter, ';', 1)))",
    ],
)
def test_a_renamed_name_or_phone_column_is_caught_by_its_values(tmp_path, warehouse, personal, label_sql):
    spec = _aggregate(tmp_path, "renamed", label_sql)
    frame = produce(spec, warehouse, Settings.from_env())
    error = _refusal(spec, frame.with_columns(pl.lit(50).alias("contributors")), personal)
    assert any(f.column == "libelle" and "reports.reporter" in f.reason for f in error.findings)


def test_a_personal_value_that_is_also_a_place_does_not_block_a_dataset_without_personal_data(labels_spec):
    reporter_typed_his_town = PersonalValues({"le lamentin": "reports.reporter"})
    assert gate(labels_spec, _labels("Le Lamentin"), reporter_typed_his_town).frame.height == 1


def test_free_text_of_reports_is_refused(tmp_path, warehouse, personal):
    spec = _aggregate(tmp_path, "texts", "max(text)")
    frame = produce(spec, warehouse, Settings.from_env()).with_columns(pl.lit(50).alias("contributors"))
    reasons = {f.reason for f in _refusal(spec, frame, personal).findings if f.column == "libelle"}
    assert any("free text" in r for r in reasons) and any("reports.text" in r for r in reasons)


# --- statistical secrecy -------------------------------------------------------------------------


def test_cells_under_11_contributors_are_suppressed(warehouse, personal):
    spec = load_catalog().dataset("citizen_reports_monthly")
    raw = produce(spec, warehouse, Settings.from_env()).sort("insee")
    # Fort-de-France: 12 named reporters (one reported twice) and 2 anonymous reports counted as one
    assert raw.select("insee", "reports", "contributors").rows() == [("97209", 15, 13), ("97213", 3, 3)]
    cleared = gate(spec, raw, personal)
    assert cleared.frame["insee"].to_list() == ["97209"] and cleared.suppressed == 1


def test_the_threshold_can_be_raised_and_small_cells_refused(catalog_copy, warehouse, personal):
    from tests.releases.conftest import edit

    path = edit(catalog_copy / "citizen_reports_monthly.yaml", "min_contributors: 11", "min_contributors: 14")
    raised = read_dataset(path)
    assert gate(raised, produce(raised, warehouse, Settings.from_env()), personal).frame.height == 0
    edit(path, "small_cells: suppress", "small_cells: refuse")
    refusing = read_dataset(path)
    error = _refusal(refusing, produce(refusing, warehouse, Settings.from_env()).sort("insee"), personal)
    (finding,) = error.findings
    assert (
        finding.column == "contributors"
        and finding.count == 2
        and "fewer than 14 contributors" in finding.reason
    )


# --- coordinates of citizen reports ---------------------------------------------------------------


def _located(folder: Path, coarsen: str | None, lon: str = "lon", lat: str = "lat") -> DatasetSpec:
    privacy = {"class": "aggregated-only", "contributors": "contributors"}
    if coarsen:
        privacy["coarsen"] = coarsen
    return make_spec(
        folder,
        f"located_{coarsen or 'exact'}_{lon}",
        f"SELECT report_id, lon AS {lon}, lat AS {lat}, 20 AS contributors FROM reports",
        {"report_id": "string:pseudonymise", lon: "number", lat: "number", "contributors": "integer"},
        privacy,
        key=["report_id"],
        geometry={"lon": lon, "lat": lat},
    )


def test_exact_report_coordinates_are_refused_even_renamed(tmp_path, warehouse, personal):
    for name in ("lon", "x1"):
        spec = _located(tmp_path, None, lon=name)
        error = _refusal(spec, produce(spec, warehouse, Settings.from_env()), personal, KEY)
        assert {f.column for f in error.findings} == {name, "lat"}
        assert all("exact coordinates" in f.reason for f in error.findings)


def test_report_coordinates_are_coarsened_to_the_500_m_grid(tmp_path, warehouse, personal):
    spec = _located(tmp_path, "grid")
    raw = produce(spec, warehouse, Settings.from_env()).drop_nulls("lon")
    cleared = gate(spec, raw, personal, KEY)
    assert cleared.coarsened == raw.height
    to_metric = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
    x, y = to_metric.transform(cleared.frame["lon"].to_numpy(), cleared.frame["lat"].to_numpy())
    assert np.allclose(np.mod(x, 500), 250, atol=0.05) and np.allclose(np.mod(y, 500), 250, atol=0.05)
    x0, y0 = to_metric.transform(raw["lon"].to_numpy(), raw["lat"].to_numpy())
    assert np.hypot(x - x0, y - y0).max() <= 250 * np.sqrt(2) + 0.1
    assert cleared.frame["lon"].n_unique() < raw["lon"].n_unique()  # neighbours now share a cell


def test_grid_centres_are_the_analysis_grid_cells(data_settings):
    from observatory.territory.grid import Grid

    cells = Grid.for_island(config=data_settings).cells.sample(50, random_state=7)
    lon, lat = coarsen_to_grid(pl.Series("lon", cells["lon"] + 0.001), pl.Series("lat", cells["lat"] - 0.001))
    assert np.allclose(lon.to_numpy(), cells["lon"], atol=1e-6) and np.allclose(
        lat.to_numpy(), cells["lat"], atol=1e-6
    )


def test_report_coordinates_can_be_coarsened_to_the_commune(tmp_path, warehouse, personal):
    spec = _located(tmp_path, "commune")
    cleared = gate(spec, produce(spec, warehouse, Settings.from_env()).drop_nulls("lon"), personal, KEY)
    assert cleared.frame.select("lon", "lat").unique().height == 2  # Fort-de-France and Le Lamentin


# --- pseudonyms ----------------------------------------------------------------------------------


def test_identifiers_are_pseudonymised_by_keyed_hash_and_never_without_a_key(tmp_path, warehouse, personal):
    spec = _located(tmp_path, "grid")
    raw = produce(spec, warehouse, Settings.from_env())
    error = _refusal(spec, raw, personal, key=None)
    assert error.parameter == "--pseudonym-key" and "['report_id'] must be pseudonymised" in str(error)
    cleared = gate(spec, raw, personal, KEY)
    expected = [hmac.new(KEY, v.encode(), hashlib.sha256).hexdigest() for v in raw["report_id"]]
    assert cleared.frame["report_id"].to_list() == expected == [pseudonym(v, KEY) for v in raw["report_id"]]
    assert cleared.pseudonymised == ("report_id",)
    other = gate(spec, raw, personal, bytes(reversed(KEY)))
    assert set(other.frame["report_id"]).isdisjoint(cleared.frame["report_id"])


def test_a_dropped_column_is_not_published(tmp_path):
    spec = make_spec(
        tmp_path,
        "dropped",
        "SELECT sensor_id, kind AS contact_phone FROM sensors",
        {"sensor_id": "string", "contact_phone": "string:drop"},
        {"class": "open"},
    )
    cleared = gate(spec, pl.DataFrame({"sensor_id": ["a"], "contact_phone": ["0696123456"]}), NOBODY)
    assert cleared.frame.columns == ["sensor_id"]


def test_the_key_comes_from_a_file_of_at_least_32_bytes(tmp_path):
    config = Settings(data_dir=tmp_path)
    assert load_key(config) is None
    short = tmp_path / "short.key"
    short.write_bytes(b"secret")
    with pytest.raises(ConfigError, match="6 bytes, fewer than 32"):
        load_key(config, short)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "pseudonym.key").write_bytes(KEY)
    assert load_key(config) == KEY


# --- the gate cannot be bypassed ----------------------------------------------------------------


def test_only_the_gate_clears_a_dataset_and_only_cleared_datasets_are_written(labels_spec, tmp_path):
    with pytest.raises(TypeError, match="only observatory.releases.privacy.gate"):
        Cleared(object(), labels_spec, _labels("x"), 0, (), 0)
    with pytest.raises(TypeError, match="only datasets cleared"):
        write_dataset(_labels("x"), tmp_path)  # type: ignore[arg-type]


def test_an_undescribed_column_is_refused(labels_spec):
    error = _refusal(labels_spec, _labels("x").with_columns(pl.lit("y").alias("extra")))
    assert [f.column for f in error.findings] == ["extra"]


# --- generated strings ---------------------------------------------------------------------------

_SEPARATORS = st.sampled_from(["", " ", ".", "-"])
_PREFIXES = st.sampled_from(["0", "+596 ", "+596", "00596 ", "+33 ", "0033 ", "+590 ", "+262 "])
_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàçôABCDEFGHIJKLMNOPQRSTUVWXYZ ,;:!?'", max_size=40)


@st.composite
def french_phone(draw) -> str:
    """A French number: a prefix, then the 9 significant digits grouped as people write them."""
    digits = str(draw(st.integers(1, 9))) + "".join(
        map(str, draw(st.lists(st.integers(0, 9), min_size=8, max_size=8)))
    )
    grouping = draw(st.sampled_from([(1, 2, 2, 2, 2), (3, 2, 2, 2), (3, 3, 3), (9,)]))
    pieces, start = [], 0
    for size in grouping:
        pieces.append(digits[start : start + size])
        start += size
    return draw(_PREFIXES) + draw(_SEPARATORS).join(pieces)


@settings(max_examples=300, deadline=None)
@given(before=_WORDS, phone=french_phone(), after=_WORDS)
def test_generated_phone_numbers_in_generated_text_are_always_refused(labels_spec, before, phone, after):
    text = f"{before} {phone} {after}"
    error = _refusal(labels_spec, _labels("ok", text))
    assert any("phone" in f.reason and f.rows == (2,) for f in error.findings)


@settings(max_examples=300, deadline=None)
@given(text=_WORDS)
def test_generated_text_without_digits_or_at_signs_passes_the_open_gate(labels_spec, text):
    assert gate(labels_spec, _labels(text), NOBODY).frame["label"].to_list() == [text]
