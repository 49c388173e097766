"""Query parameters under hostile input: the warehouse's filters and the KPI engine answer with a
ParameterError or an empty answer and leave every table as it was; `observatory sql` only reads,
and reads no file; the dashboards' state taken from a link falls back to the default view."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panel.io.location import Location

from observatory.cli import main
from observatory.errors import ParameterError
from observatory.i18n import LANGUAGES, t
from observatory.kpi.engine import ISLAND, KpiEngine
from observatory.risk import zoning
from observatory.risk.cyclone import RETURN_PERIODS_YR
from observatory.territory.registry import sha256_of
from observatory.views import kpi as kpi_views
from observatory.views import risk as risk_views
from observatory.views.layout import language_selector
from observatory.warehouse.store import Warehouse
from tests.hostile import strategies as hs

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")  # 10 kB values, on failure
QUERY = settings(max_examples=50, deadline=None, derandomize=True, database=None)
DAY, NEXT_DAY = "2026-06-01", "2026-06-03"  # local days around the simulated day
KPIS = ["elec_use_per_capita", "report_resolution_days"]  # a sensor KPI and a citizen-report one


@pytest.fixture(scope="module")
def writable(warehouse_file, tmp_path_factory) -> Iterator[Warehouse]:
    """A copy of the simulated warehouse open for writing, as ingest holds it: an injected
    statement would have every right there."""
    path = tmp_path_factory.mktemp("writable") / "warehouse.duckdb"
    shutil.copy(warehouse_file, path)
    with Warehouse.open(path) as warehouse:
        yield warehouse


@pytest.fixture(scope="module")
def known(writable) -> dict[str, set[str]]:
    """The values a filter may legitimately find."""
    return {
        "sensor_ids": set(writable.sql("SELECT sensor_id FROM sensors")["sensor_id"]),
        "insee": set(writable.sql("SELECT insee FROM communes")["insee"]),
        "fields": set(writable.sql("SELECT DISTINCT field FROM latest")["field"]),
    }


def _filtered(warehouse: Warehouse, where: str, value: str) -> pl.DataFrame:
    if where == "latest":
        return warehouse.latest([value])
    if where == "agg":
        return warehouse.readings(bucket="1h", agg=value)
    if where in ("sensor_ids", "fields"):
        return warehouse.readings(**{where: [value]})
    return warehouse.readings(**{where: value})


@QUERY
@given(
    value=hs.hostile_text(),
    where=st.sampled_from(["sensor_ids", "insee", "fields", "latest", "start", "end", "bucket", "agg"]),
)
def test_hostile_filter_values_are_data_not_sql(writable, known, value, where) -> None:
    before = writable.counts()
    try:
        found = _filtered(writable, where, value)
    except ParameterError as exc:
        assert exc.parameter == ("sensor_ids" if where == "latest" else where)
    else:
        matching = known.get("sensor_ids" if where == "latest" else where)
        if matching is not None and value not in matching:
            assert found.is_empty(), f"{value!r} as {where} found rows"
    assert writable.counts() == before


@settings(QUERY, max_examples=30)
@given(
    value=hs.hostile_text(),
    where=st.sampled_from(["kpi_ids", "places", "start", "end", "grain"]),
    previous=st.booleans(),
)
def test_hostile_kpi_parameters_are_refused_or_find_nothing(writable, known, value, where, previous) -> None:
    before = writable.counts()
    asked: dict = {"kpi_ids": KPIS, "start": DAY, "end": NEXT_DAY, "grain": "range" if previous else "day"}
    asked[where] = [value] if where == "kpi_ids" else value
    try:
        frame = KpiEngine(writable).compute(previous=previous, **asked)
    except ParameterError as exc:
        assert exc.parameter in ("--kpi", "--commune", "--from", "--to", "--grain", "previous")
    else:
        assert set(frame["kpi_id"]) <= set(KPIS)
        assert set(frame["place"]) <= known["insee"] | {ISLAND}
        if where == "places":
            assert set(frame["place"]) <= {value}
    assert writable.counts() == before


# --- observatory sql -------------------------------------------------------------------------------

REFUSED = [
    "INSERT INTO meta VALUES ('x', 'y')",
    "DELETE FROM readings_data",
    "UPDATE sensors SET insee = '97209'",
    "DROP TABLE readings_data",
    "CREATE TABLE copied AS SELECT * FROM sensors",
    "CREATE TEMP TABLE copied AS SELECT * FROM sensors",
    "ALTER TABLE meta ADD COLUMN x INTEGER",
    "SELECT 1; DROP TABLE meta",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "COPY (SELECT * FROM reports) TO '{tmp}/leak.csv'",
    "EXPORT DATABASE '{tmp}/leak'",
    "EXPLAIN ANALYZE COPY (SELECT * FROM reports) TO '{tmp}/leak.csv'",
    "INSTALL httpfs",
    "LOAD postgres_scanner",
    "SET threads = 1",
    "RESET threads",
    "PRAGMA version",
    "PRAGMA enable_profiling = 'json'",
    "CALL pragma_version()",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('{canary}')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '{canary}'",
    "SELECT * FROM ST_Read('{canary}')",
    "",
]
READ = [
    "SELECT count(*) FROM readings",
    "DESCRIBE sensors",
    "EXPLAIN SELECT * FROM reports",
    "SELECT 'pragma x'",
]


@pytest.fixture(scope="module")
def analysed(warehouse_file, tmp_path_factory) -> Path:
    """A copy of the warehouse for `observatory sql`, which locks its database's settings; a
    canary file beside it."""
    folder = tmp_path_factory.mktemp("sql")
    shutil.copy(warehouse_file, folder / "warehouse.duckdb")
    (folder / "canary.csv").write_text("secret\nnot for the warehouse\n")
    return folder


@pytest.mark.parametrize("statement", REFUSED)
def test_observatory_sql_refuses_what_does_not_only_read(analysed, statement, capsys) -> None:
    query = statement.format(tmp=analysed, canary=analysed / "canary.csv")
    path = analysed / "warehouse.duckdb"
    before = sha256_of(path)
    assert main(["sql", query, "--warehouse", str(path), "--format", "csv"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("observatory sql: error: parameter 'query':") and "secret" not in error
    assert sorted(p.name for p in analysed.iterdir()) == ["canary.csv", "warehouse.duckdb"]
    assert sha256_of(path) == before


@pytest.mark.parametrize("statement", READ)
def test_observatory_sql_reads(analysed, statement, capsys) -> None:
    path = analysed / "warehouse.duckdb"
    assert main(["sql", statement, "--warehouse", str(path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip()


# --- the dashboards' state from a link -----------------------------------------------------------


def _linked(state, keys: dict[str, str], query: dict) -> None:
    """Read ``query`` into ``state`` the way a served page reads its URL (Panel's Location)."""
    Location(search="?" + urlencode(query)).sync(state, keys)


def _link(keys: list[str], valid: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """A query string of these keys, each hostile or valid."""
    return st.dictionaries(
        st.sampled_from(keys),
        st.one_of(hs.hostile_text(), *valid.values()),
        min_size=1,
    )


@pytest.fixture(scope="module")
def kpi_data(warehouse_file) -> kpi_views.KpiData:
    return kpi_views.KpiData(warehouse_file)


@settings(QUERY, max_examples=60)
@given(
    query=_link(
        list(kpi_views.KpiState.URL_KEYS.values()),
        {
            "day": st.dates().map(str),
            "place": st.sampled_from(["972", "97209", "97234", "97235"]),
            "preset": st.sampled_from([*kpi_views.PRESETS, "custom"]),
        },
    )
)
def test_a_hostile_kpi_link_gives_a_view_that_can_be_computed(kpi_data, query) -> None:
    state = kpi_views.KpiState()
    _linked(state, kpi_views.KpiState.URL_KEYS, query)
    assert kpi_views.PLACES.fullmatch(state.place)
    assert state.preset in [*kpi_views.PRESETS, "custom"] and state.grain in ("day", "month", "year")
    start, end = kpi_views.range_of(state, kpi_data.span())
    first, last = pl.Series([start, end]).str.to_date().to_list()
    assert kpi_views.DAYS[0] <= first < last <= kpi_views.DAYS[1]
    assert kpi_views.local_bounds(start, end)


def test_the_kpi_views_of_hostile_links_compute(kpi_data) -> None:
    """What the cards, the table and the drill-down compute for links that reach them."""
    spec = kpi_data.specs[KPIS[0]]
    for query in (
        {"commune": "<script>alert(1)</script>", "from": "2026-06-01", "to": "2026-06-02"},
        {"from": "1970-01-01", "to": "2100-01-01", "range": "custom", "grain": "year"},
        {"from": "2026-06-02", "to": "2026-06-01", "range": "custom"},
        {"commune": "97209' OR '1'='1", "kpi": "'; DROP TABLE readings; --"},
    ):
        state = kpi_views.KpiState()
        _linked(state, kpi_views.KpiState.URL_KEYS, query)
        start, end = kpi_views.range_of(state, kpi_data.span())
        assert set(kpi_data.cards(start, end)["place"]) <= {ISLAND, *(f"972{i:02d}" for i in range(1, 35))}
        assert kpi_data.table(start, end, state.place, state.grain)["place"].unique().to_list() in (
            [state.place],
            [],
        )
        assert set(kpi_data.sensors(spec, state.place)["insee"]) <= {state.place} or state.place == ISLAND


@settings(QUERY, max_examples=40)
@given(
    query=_link(
        list(risk_views.RiskState.URL_KEYS.values()),
        {
            "storm": st.sampled_from(["AL042007", "al042007", "AL999999", ""]),
            "number": st.sampled_from(["0", "1", "2", "0.5", "100", "-1", "1e9"]),
            "hazard": st.sampled_from(risk_views.HAZARDS),
        },
    )
)
def test_a_hostile_risk_link_gives_the_default_or_a_valid_view(query) -> None:
    state = risk_views.RiskState()
    _linked(state, risk_views.RiskState.URL_KEYS, query)
    assert state.hazard in risk_views.HAZARDS and state.period in RETURN_PERIODS_YR
    assert state.storm == "" or state.storm.strip().upper() in zoning.tracks().storm_ids
    assert 0 <= state.tab <= 2 and all(0 <= w <= 1 for w in state.weights.values())
    assert "/" not in risk_views.csv_filename(state) and "<" not in risk_views.csv_filename(state)


@settings(QUERY, max_examples=30)
@given(value=st.one_of(hs.hostile_text(), st.lists(st.integers()), st.integers(), st.sampled_from(LANGUAGES)))
def test_a_hostile_language_gives_the_default_language(value) -> None:
    select = language_selector()
    select.value = value
    assert select.value in LANGUAGES
    assert select.label == t("language", select.value)
