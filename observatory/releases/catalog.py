"""The open-data catalogue: one YAML description per dataset in ``catalog/``, validated on load.

``catalog/catalog.yaml`` describes the catalogue itself (publisher, contact point, where releases
are served); every other ``catalog/*.yaml`` describes one dataset (see ``catalog/README.md``). A
wrong key, a missing licence, an unknown theme or privacy class, a query that is not one
read-only SELECT over the warehouse, or a column the query does not return raise ConfigError
naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from observatory.errors import ConfigError, did_you_mean

CATALOG_DIR = Path(__file__).resolve().parents[2] / "catalog"
CATALOG_FILE = "catalog.yaml"
REQUIRED_LANGUAGES = ("fr", "en")  # issue 7: titles and descriptions in French and English at least
LANGUAGES = ("fr", "en", "es", "de")
PRIVACY_CLASSES = ("open", "aggregated-only", "restricted")
PERSONAL_ACTIONS = ("drop", "pseudonymise")  # what the gate does with a column flagged personal
SMALL_CELL_RULES = ("suppress", "refuse")
COARSENING = ("grid", "commune")
# Frictionless Table Schema types (specs.frictionlessdata.io/table-schema), plus geometry (WKB
# inside, WKT in CSV, GeoJSON/GeoParquet geometry in the spatial files).
COLUMN_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "year", "yearmonth", "geometry")
# Statistical secrecy: no published count cell under 11 contributors. The threshold is the
# small-numbers rule of French health statistics (no count from 1 to 10 is shown: the
# dissemination rule of the SNDS and of ATIH's PMSI tables, under CNIL oversight), adopted here for
# citizen reports as a practice, not as a legal text that names them; it is stricter than INSEE's
# frequency rule of 3 units for business statistics (INSEE, Guide du secret statistique, 2010).
# A spec may raise it, never lower it.
SECRECY_THRESHOLD = 11

# EU Publications Office authority tables that DCAT-AP 3 names for themes and frequencies.
THEME_SCHEME = "http://publications.europa.eu/resource/authority/data-theme"
THEMES = (
    "AGRI",
    "ECON",
    "EDUC",
    "ENER",
    "ENVI",
    "GOVE",
    "HEAL",
    "INTR",
    "JUST",
    "OP_DATPRO",
    "REGI",
    "SOCI",
    "TECH",
    "TRAN",
)
FREQUENCY_SCHEME = "http://publications.europa.eu/resource/authority/frequency"
FREQUENCIES = (
    "ANNUAL",
    "QUARTERLY",
    "MONTHLY",
    "WEEKLY",
    "DAILY",
    "HOURLY",
    "CONT",
    "IRREG",
    "NEVER",
    "UNKNOWN",
)


@dataclass(frozen=True)
class Licence:
    """A licence the catalogue may name: SPDX identifier, title and the licence text's address."""

    id: str
    title: str
    url: str


LICENCES: dict[str, Licence] = {
    licence.id: licence
    for licence in (
        Licence(
            "etalab-2.0",
            "Licence Ouverte / Open Licence 2.0 (Etalab)",
            "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        ),
        Licence(
            "CC-BY-SA-3.0",
            "Creative Commons Attribution-ShareAlike 3.0 Unported",
            "https://creativecommons.org/licenses/by-sa/3.0/",
        ),
        Licence(
            "CC-BY-4.0",
            "Creative Commons Attribution 4.0 International",
            "https://creativecommons.org/licenses/by/4.0/",
        ),
        Licence(
            "ODbL-1.0",
            "Open Data Commons Open Database License 1.0",
            "https://opendatacommons.org/licenses/odbl/1-0/",
        ),
    )
}


@dataclass(frozen=True)
class Column:
    """One published column: Frictionless type, unit, description per language, and whether it is a
    direct identifier the gate must ``drop`` or ``pseudonymise`` (keyed hash)."""

    name: str
    type: str
    description: Mapping[str, str]
    unit: str | None = None
    personal: str | None = None


@dataclass(frozen=True)
class Query:
    """Where the rows come from: a read-only SELECT over the warehouse, or a registered producer."""

    sql: str | None = None
    producer: str | None = None
    tables: tuple[str, ...] = ()  # warehouse tables the SQL reads

    @property
    def text(self) -> str:
        return self.sql if self.sql is not None else f"producer {self.producer}"


@dataclass(frozen=True)
class Geometry:
    """How a spatial dataset carries its geometry: a WKB column, or lon/lat columns (degrees, WGS84)."""

    column: str | None = None
    lon: str | None = None
    lat: str | None = None


@dataclass(frozen=True)
class Temporal:
    """Temporal coverage: fixed dates, or the range of a column of the published rows."""

    start: dt.date | None = None
    end: dt.date | None = None
    column: str | None = None


@dataclass(frozen=True)
class Spatial:
    """Spatial coverage: a label and bbox (west, south, east, north, degrees), and the place's IRI
    when an authority table has one (the EU country table for Martinique)."""

    label: str
    bbox: tuple[float, float, float, float]
    uri: str | None = None


@dataclass(frozen=True)
class Privacy:
    """The dataset's privacy class and the rules the gate applies to it."""

    cls: str
    reason: str | None = None
    contributors: str | None = None  # column: distinct contributors behind each row
    min_contributors: int = SECRECY_THRESHOLD
    small_cells: str = "suppress"
    coarsen: str | None = None  # how citizen-report coordinates are coarsened: grid (500 m) or commune


@dataclass(frozen=True)
class Agent:
    """The publisher or the contact point."""

    name: str
    uri: str | None = None
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the catalogue, as described in its YAML file."""

    id: str
    path: Path
    title: Mapping[str, str]
    description: Mapping[str, str]
    themes: tuple[str, ...]
    keywords: Mapping[str, tuple[str, ...]]
    licence: Licence
    frequency: str
    query: Query
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    privacy: Privacy
    attribution: str | None = None
    upstream: tuple[str, ...] = ()
    temporal: Temporal = field(default_factory=Temporal)
    spatial: Spatial | None = None
    geometry: Geometry | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def text(self, what: str, language: str) -> str:
        """Title or description in ``language`` (English, then French, when it has none)."""
        values = getattr(self, what)
        return values.get(language) or values.get("en") or values["fr"]


@dataclass(frozen=True)
class Catalog:
    """The catalogue: its own description and its datasets (sorted by id)."""

    path: Path
    title: Mapping[str, str]
    description: Mapping[str, str]
    publisher: Agent
    contact: Agent
    base_url: str
    homepage: str
    licence: Licence
    spatial: Spatial
    datasets: tuple[DatasetSpec, ...]

    def dataset(self, dataset_id: str) -> DatasetSpec:
        """The dataset called ``dataset_id`` (ConfigError with a near miss otherwise)."""
        for spec in self.datasets:
            if spec.id == dataset_id:
                return spec
        raise ConfigError(
            f"no dataset {dataset_id!r} in the catalogue",
            path=self.path,
            parameter="--dataset",
            hint=did_you_mean(dataset_id, [d.id for d in self.datasets]),
        )


# --- YAML with line numbers ---------------------------------------------------------------------


def _load_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """The document and the line (1-based) of every mapping key and sequence item, by key path."""
    try:
        text = path.read_text(encoding="utf-8")
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            path=path,
            line=mark.line + 1 if mark else None,
        ) from None
    lines: dict[tuple, int] = {}

    def walk(current, where: tuple) -> None:
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                lines[(*where, key.value)] = key.start_mark.line + 1
                walk(value, (*where, key.value))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                lines[(*where, index)] = item.start_mark.line + 1
                walk(item, (*where, index))

    if node is not None:
        lines[()] = node.start_mark.line + 1
        walk(node, ())
    return data, lines


class _Reader:
    """Validates one YAML file, every error naming the file, the line and the key."""

    def __init__(self, path: Path, lines: dict[tuple, int]) -> None:
        self.path, self.lines = path, lines

    def fail(self, where: tuple, message: str, hint: str | None = None) -> ConfigError:
        line = None
        for depth in range(len(where), -1, -1):
            line = self.lines.get(where[:depth])
            if line is not None:
                break
        key = ".".join(str(part) for part in where) or None
        return ConfigError(message, path=self.path, line=line, parameter=key, hint=hint)

    def mapping(
        self, value: object, where: tuple, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping of {', '.join(required) or 'keys'}")
        allowed = [*required, *optional]
        for key in value:
            if key not in allowed:
                raise self.fail((*where, key), f"unknown key {key!r}", did_you_mean(str(key), allowed))
        for key in required:
            if value.get(key) in (None, "", [], {}):
                raise self.fail(
                    where, f"the key {key!r} is missing", f"Every {where[-1] if where else 'entry'} needs it."
                )
        return value

    def string(self, value: object, where: tuple) -> str:
        if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
            raise self.fail(where, "expected a non-empty text")
        return str(value).strip()

    def choice(self, value: object, where: tuple, choices: Sequence[str], what: str) -> str:
        text = self.string(value, where)
        if text not in choices:
            raise self.fail(where, f"unknown {what} {text!r}", did_you_mean(text, choices))
        return text

    def texts(self, value: object, where: tuple) -> dict[str, str]:
        """A text per language: fr and en required, es and de optional."""
        value = self.mapping(
            value, where, REQUIRED_LANGUAGES, [lang for lang in LANGUAGES if lang not in REQUIRED_LANGUAGES]
        )
        return {lang: self.string(text, (*where, lang)) for lang, text in value.items()}

    def strings(self, value: object, where: tuple) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        return tuple(self.string(item, (*where, i)) for i, item in enumerate(value))

    def date(self, value: object, where: tuple) -> dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(where, f"{value!r} is not a date", "Write it as YYYY-MM-DD.") from None


# --- the catalogue's own file -------------------------------------------------------------------


def _agent(reader: _Reader, value: object, where: tuple) -> Agent:
    value = reader.mapping(value, where, ["name"], ["uri", "email", "url"])
    email = value.get("email")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", str(email)):
        raise reader.fail((*where, "email"), f"{email!r} is not an e-mail address")
    return Agent(
        name=reader.string(value["name"], (*where, "name")),
        uri=_url(reader, value.get("uri"), (*where, "uri")),
        email=str(email) if email else None,
        url=_url(reader, value.get("url"), (*where, "url")),
    )


def _url(reader: _Reader, value: object, where: tuple) -> str | None:
    if value is None:
        return None
    text = reader.string(value, where)
    if not re.match(r"https?://[^\s/]+", text):
        raise reader.fail(where, f"{text!r} is not an http(s) address")
    return text


def _spatial(reader: _Reader, value: object, where: tuple) -> Spatial:
    value = reader.mapping(value, where, ["label", "bbox"], ["uri"])
    bbox = value["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        raise reader.fail((*where, "bbox"), "expected [west, south, east, north] in degrees")
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise reader.fail((*where, "bbox"), f"{bbox} is not [west, south, east, north] in degrees")
    return Spatial(
        uri=_url(reader, value.get("uri"), (*where, "uri")),
        label=reader.string(value["label"], (*where, "label")),
        bbox=(west, south, east, north),
    )


def _licence(reader: _Reader, value: object, where: tuple) -> Licence:
    return LICENCES[reader.choice(value, where, list(LICENCES), "licence")]


def _read_catalog_file(path: Path) -> dict:
    data, lines = _load_yaml(path)
    reader = _Reader(path, lines)
    value = reader.mapping(
        data,
        (),
        ["title", "description", "publisher", "contact", "base_url", "homepage", "licence", "spatial"],
    )
    base_url = _url(reader, value["base_url"], ("base_url",)) or ""
    return {
        "title": reader.texts(value["title"], ("title",)),
        "description": reader.texts(value["description"], ("description",)),
        "publisher": _agent(reader, value["publisher"], ("publisher",)),
        "contact": _agent(reader, value["contact"], ("contact",)),
        "base_url": base_url if base_url.endswith("/") else base_url + "/",
        "homepage": _url(reader, value["homepage"], ("homepage",)) or "",
        "licence": _licence(reader, value["licence"], ("licence",)),
        "spatial": _spatial(reader, value["spatial"], ("spatial",)),
    }


# --- one dataset --------------------------------------------------------------------------------

_DATASET_REQUIRED = (
    "id",
    "title",
    "description",
    "themes",
    "keywords",
    "licence",
    "frequency",
    "query",
    "key",
    "columns",
    "privacy",
)
_DATASET_OPTIONAL = ("attribution", "upstream", "temporal", "spatial", "geometry")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _columns(reader: _Reader, value: object) -> tuple[Column, ...]:
    if not isinstance(value, list) or not value:
        raise reader.fail(("columns",), "expected a list of columns")
    columns = []
    for i, item in enumerate(value):
        where = ("columns", i)
        item = reader.mapping(item, where, ["name", "type", "description"], ["unit", "personal"])
        name = reader.string(item["name"], (*where, "name"))
        if not _IDENTIFIER.match(name):
            raise reader.fail((*where, "name"), f"column name {name!r} is not lower_snake_case")
        personal = item.get("personal")
        columns.append(
            Column(
                name=name,
                type=reader.choice(item["type"], (*where, "type"), COLUMN_TYPES, "column type"),
                description=reader.texts(item["description"], (*where, "description")),
                unit=reader.string(item["unit"], (*where, "unit")) if item.get("unit") is not None else None,
                personal=reader.choice(personal, (*where, "personal"), PERSONAL_ACTIONS, "personal action")
                if personal is not None
                else None,
            )
        )
    names = [c.name for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise reader.fail(("columns",), f"column(s) described twice: {', '.join(repeated)}")
    return tuple(columns)


def _query(reader: _Reader, value: object) -> Query:
    value = reader.mapping(value, ("query",), [], ["sql", "producer"])
    if ("sql" in value) == ("producer" in value):
        raise reader.fail(("query",), "give exactly one of sql or producer")
    if "producer" in value:
        from observatory.releases.producers import PRODUCERS

        name = reader.choice(value["producer"], ("query", "producer"), list(PRODUCERS), "producer")
        return Query(producer=name, tables=PRODUCERS[name].reads)
    sql = reader.string(value["sql"], ("query", "sql"))
    return Query(sql=sql, tables=_check_sql(reader, sql))


def _privacy(reader: _Reader, value: object, columns: Sequence[str]) -> Privacy:
    where = ("privacy",)
    value = reader.mapping(
        value, where, ["class"], ["reason", "contributors", "min_contributors", "small_cells", "coarsen"]
    )
    cls = reader.choice(value["class"], (*where, "class"), PRIVACY_CLASSES, "privacy class")
    privacy = Privacy(
        cls=cls,
        reason=reader.string(value["reason"], (*where, "reason")) if value.get("reason") else None,
        contributors=reader.string(value["contributors"], (*where, "contributors"))
        if value.get("contributors")
        else None,
        min_contributors=value.get("min_contributors", SECRECY_THRESHOLD),
        small_cells=reader.choice(
            value.get("small_cells", "suppress"), (*where, "small_cells"), SMALL_CELL_RULES, "small-cell rule"
        ),
        coarsen=reader.choice(value["coarsen"], (*where, "coarsen"), COARSENING, "coarsening")
        if value.get("coarsen")
        else None,
    )
    threshold = privacy.min_contributors
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < SECRECY_THRESHOLD:
        raise reader.fail(
            (*where, "min_contributors"),
            f"{threshold!r} is below the statistical secrecy threshold of {SECRECY_THRESHOLD}",
            "Leave it out (11) or raise it.",
        )
    if cls == "aggregated-only" and privacy.contributors is None:
        raise reader.fail(
            where,
            "an aggregated-only dataset names its contributors column",
            "e.g. contributors: n_contributors",
        )
    if privacy.contributors is not None and privacy.contributors not in columns:
        raise reader.fail(
            (*where, "contributors"),
            f"no column {privacy.contributors!r}",
            did_you_mean(privacy.contributors, columns),
        )
    if cls == "restricted" and privacy.reason is None:
        raise reader.fail(where, "a restricted dataset says why (reason)")
    return privacy


def _geometry(reader: _Reader, value: object, columns: tuple[Column, ...]) -> Geometry | None:
    if value is None:
        return None
    where = ("geometry",)
    if isinstance(value, str):
        value = {"column": value}
    value = reader.mapping(value, where, [], ["column", "lon", "lat"])
    names = [c.name for c in columns]
    for key, name in value.items():
        if name not in names:
            raise reader.fail((*where, key), f"no column {name!r}", did_you_mean(str(name), names))
    if "column" in value:
        if set(value) != {"column"}:
            raise reader.fail(where, "give a geometry column, or lon and lat, not both")
        if next(c for c in columns if c.name == value["column"]).type != "geometry":
            raise reader.fail((*where, "column"), f"column {value['column']!r} is not of type geometry")
        return Geometry(column=value["column"])
    if set(value) != {"lon", "lat"}:
        raise reader.fail(where, "give a geometry column, or both lon and lat")
    return Geometry(lon=value["lon"], lat=value["lat"])


def _temporal(reader: _Reader, value: object, columns: Sequence[str]) -> Temporal:
    if value is None:
        return Temporal()
    where = ("temporal",)
    value = reader.mapping(value, where, [], ["start", "end", "column"])
    if "column" in value:
        if set(value) != {"column"}:
            raise reader.fail(where, "give fixed start/end dates, or a column, not both")
        if value["column"] not in columns:
            raise reader.fail(
                (*where, "column"),
                f"no column {value['column']!r}",
                did_you_mean(str(value["column"]), columns),
            )
        return Temporal(column=value["column"])
    start = reader.date(value["start"], (*where, "start")) if "start" in value else None
    end = reader.date(value["end"], (*where, "end")) if "end" in value else None
    if start and end and end < start:
        raise reader.fail(where, f"the coverage ends ({end}) before it starts ({start})")
    return Temporal(start=start, end=end)


def _keywords(reader: _Reader, value: object) -> dict[str, tuple[str, ...]]:
    value = reader.mapping(
        value,
        ("keywords",),
        REQUIRED_LANGUAGES,
        [lang for lang in LANGUAGES if lang not in REQUIRED_LANGUAGES],
    )
    return {lang: reader.strings(words, ("keywords", lang)) for lang, words in value.items()}


def read_dataset(path: Path, default_spatial: Spatial | None = None) -> DatasetSpec:
    """One dataset description, validated (ConfigError naming the file, line and key otherwise)."""
    data, lines = _load_yaml(path)
    reader = _Reader(path, lines)
    value = reader.mapping(data, (), _DATASET_REQUIRED, _DATASET_OPTIONAL)
    dataset_id = reader.string(value["id"], ("id",))
    if dataset_id != path.stem or not _IDENTIFIER.match(dataset_id):
        raise reader.fail(
            ("id",), f"id {dataset_id!r} must be the file's name ({path.stem}) in lower_snake_case"
        )
    columns = _columns(reader, value["columns"])
    names = [c.name for c in columns]
    key = reader.strings(value["key"], ("key",))
    for i, name in enumerate(key):
        if name not in names:
            raise reader.fail(
                ("key", i), f"key column {name!r} is not among the columns", did_you_mean(name, names)
            )
    query = _query(reader, value["query"])
    if query.sql is not None:
        _check_sql_columns(reader, query.sql, names)
    upstream = reader.strings(value["upstream"], ("upstream",)) if value.get("upstream") else ()
    _check_upstream(reader, upstream)
    return DatasetSpec(
        id=dataset_id,
        path=path,
        title=reader.texts(value["title"], ("title",)),
        description=reader.texts(value["description"], ("description",)),
        themes=tuple(
            reader.choice(t, ("themes", i), THEMES, "theme")
            for i, t in enumerate(reader.strings(value["themes"], ("themes",)))
        ),
        keywords=_keywords(reader, value["keywords"]),
        licence=_licence(reader, value["licence"], ("licence",)),
        frequency=reader.choice(value["frequency"], ("frequency",), FREQUENCIES, "update frequency"),
        query=query,
        key=key,
        columns=columns,
        privacy=_privacy(reader, value["privacy"], names),
        attribution=reader.string(value["attribution"], ("attribution",))
        if value.get("attribution")
        else None,
        upstream=upstream,
        temporal=_temporal(reader, value.get("temporal"), names),
        spatial=_spatial(reader, value["spatial"], ("spatial",)) if value.get("spatial") else default_spatial,
        geometry=_geometry(reader, value.get("geometry"), columns),
    )


def _check_upstream(reader: _Reader, names: Sequence[str]) -> None:
    from observatory.territory.registry import REGISTRY

    for i, name in enumerate(names):
        if name not in REGISTRY:
            raise reader.fail(
                ("upstream", i), f"no reference file {name!r} in the registry", did_you_mean(name, REGISTRY)
            )


# --- SQL: one read-only SELECT over the warehouse's tables --------------------------------------


@cache
def _schema_connection():
    """An in-memory DuckDB holding the warehouse's (empty) tables: queries are checked against it."""
    import duckdb

    from observatory.warehouse.schema import TABLES

    con = duckdb.connect()
    for ddl in TABLES.values():
        con.execute(ddl)
    return con


def _table_functions(tree: object) -> list[str]:
    found = []
    if isinstance(tree, dict):
        if tree.get("type") == "TABLE_FUNCTION":
            found.append(tree.get("function", {}).get("function_name", "?"))
        for item in tree.values():
            found += _table_functions(item)
    elif isinstance(tree, list):
        for item in tree:
            found += _table_functions(item)
    return found


def _check_sql(reader: _Reader, sql: str) -> tuple[str, ...]:
    """The warehouse tables ``sql`` reads; ConfigError unless it is one SELECT over known tables."""
    import duckdb

    from observatory.warehouse.schema import TABLES

    where = ("query", "sql")
    con = _schema_connection().cursor()
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise reader.fail(
                where,
                "the query must be exactly one SELECT statement",
                "Releases never write to the warehouse.",
            )
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
        functions = _table_functions(tree)
        if functions:
            raise reader.fail(
                where, f"the query calls table function(s) {functions}", "Read only the warehouse's tables."
            )
        tables = con.get_table_names(sql)
    except duckdb.Error as exc:
        raise reader.fail(where, f"the query cannot be read: {exc}") from None
    finally:
        con.close()
    unknown = sorted(t for t in tables if t not in TABLES)
    if unknown:
        raise reader.fail(
            where,
            f"the query reads {unknown}, which are not warehouse tables",
            did_you_mean(unknown[0], TABLES),
        )
    return tuple(sorted(tables))


def _check_sql_columns(reader: _Reader, sql: str, names: Sequence[str]) -> None:
    """Every described column is in the query's result and every result column is described."""
    import duckdb

    con = _schema_connection().cursor()
    try:
        returned = [row[0] for row in con.execute(f"DESCRIBE {sql}").fetchall()]
    except duckdb.Error as exc:
        raise reader.fail(("query", "sql"), f"the query fails on the warehouse schema: {exc}") from None
    finally:
        con.close()
    missing = [n for n in names if n not in returned]
    if missing:
        raise reader.fail(
            ("columns",),
            f"column(s) {missing} are not in the query result {returned}",
            did_you_mean(missing[0], returned),
        )
    extra = [n for n in returned if n not in names]
    if extra:
        raise reader.fail(
            ("query", "sql"),
            f"the query returns column(s) {extra} the catalogue does not describe",
            "Describe them or leave them out of the SELECT.",
        )


# --- the whole catalogue ------------------------------------------------------------------------


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """The catalogue in ``directory`` (default: the repository's ``catalog/``), every file validated."""
    directory = Path(directory) if directory is not None else CATALOG_DIR
    own = directory / CATALOG_FILE
    if not own.is_file():
        raise ConfigError(
            f"no {CATALOG_FILE} in {directory}", path=own, hint="See catalog/README.md for its keys."
        )
    meta = _read_catalog_file(own)
    files = sorted(
        p for p in directory.glob("*.yaml") if p.name != CATALOG_FILE and not p.name.startswith(("_", "."))
    )
    datasets = tuple(read_dataset(p, meta["spatial"]) for p in files)
    if not datasets:
        raise ConfigError(f"no dataset description (*.yaml) in {directory}", path=directory)
    return Catalog(path=own, datasets=datasets, **meta)
