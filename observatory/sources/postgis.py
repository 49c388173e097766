"""PostGIS layers: live reads through DuckDB's postgres extension, file extracts, and writes back.

`read_table` attaches the database to DuckDB read-only, checks every name against the attached
catalog, reads the geometry as WKB and keeps its SRID from PostGIS ``geometry_columns``.
`read_extract` reads GeoJSON, GeoPackage and GeoParquet files, told apart by their first bytes.
`write_layer` writes a GeoDataFrame to a typed, indexed PostGIS table with psycopg 3 in one
transaction. Every frame returned is in EPSG:4326 (ARCHITECTURE: stored as WGS84 lon/lat).

Tested against a live PostgreSQL 15 / PostGIS 3 (tests/sources/test_postgis.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from observatory.config import Settings
from observatory.errors import DataFormatError, ParameterError, ServiceError, did_you_mean
from observatory.territory.crs import STORAGE_CRS
from observatory.warehouse.extensions import connect

# An identifier PostgreSQL keeps as typed when quoted, and that no one mistakes for SQL.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # 63 bytes: PostgreSQL's NAMEDATALEN - 1
CONNECT_TIMEOUT_S = 10  # psycopg connection timeout of write_layer, seconds
SNIFF_BYTES = 64  # bytes read from the head of an extract to recognise its format
IF_EXISTS = ("replace", "append", "fail")

# First bytes of each extract format (after any UTF-8 BOM and whitespace for JSON).
GPKG_MAGIC = b"SQLite format 3\x00"
PARQUET_MAGIC = b"PAR1"
JSON_MAGIC = b"{"
UTF8_BOM = b"\xef\xbb\xbf"

# Single geometry types and their multi-part form, for promotion of mixed columns.
_MULTI_OF = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}
_MAKE_MULTI = {
    "Point": shapely.multipoints,
    "LineString": shapely.multilinestrings,
    "Polygon": shapely.multipolygons,
}


# -- names and DSNs ---------------------------------------------------------------------------------
def check_identifier(name: object, parameter: str) -> str:
    """``name`` if it is a plain SQL identifier (letters, digits, '_', at most 63); else ParameterError."""
    if not isinstance(name, str) or IDENTIFIER.fullmatch(name) is None:
        raise ParameterError(
            f"{name!r} is not a plain SQL identifier",
            parameter=parameter,
            hint="Use letters, digits and '_' only, starting with a letter or '_', at most 63 characters.",
        )
    return name


def _quote(name: str) -> str:
    """A double-quoted SQL identifier (DuckDB and PostgreSQL alike); ``name`` comes from a catalog."""
    return '"' + name.replace('"', '""') + '"'


def _string_literal(text: str) -> str:
    """A single-quoted SQL string literal (standard SQL: quotes doubled, backslash is plain)."""
    if "\x00" in text:
        raise ParameterError("a NUL character cannot appear in a connection string", parameter="dsn")
    return "'" + text.replace("'", "''") + "'"


_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***`` (URL or ``key=value`` form), fit for messages."""
    if "://" not in dsn:
        return _KV_PASSWORD.sub(r"\1***", dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = parts.query
    if "password" in query.lower():
        pairs = [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _password(dsn: str) -> str | None:
    if "://" in dsn:
        parts = urlsplit(dsn)
        found = parts.password or dict(parse_qsl(parts.query)).get("password")
        return found or None
    match = _KV_PASSWORD.search(dsn)
    return match.group(2).strip("'") if match else None


def _unreachable(dsn: str, exc: Exception) -> ServiceError:
    """ServiceError naming the server without its password (drivers echo the DSN in their messages)."""
    reason = str(exc).replace(dsn, redact_dsn(dsn))
    password = _password(dsn)
    if password:
        reason = reason.replace(password, "***")
    reason = " ".join(reason.split())
    return ServiceError(
        f"PostgreSQL at {redact_dsn(dsn)} cannot be reached: {reason}",
        parameter="dsn",
        hint="Check that the server runs and the DSN (setting OBSERVATORY_POSTGRES_DSN) is right.",
    )


# -- live read through DuckDB ---------------------------------------------------------------------
def attach(con: duckdb.DuckDBPyConnection, dsn: str, alias: str = "pg") -> str:
    """Attach the PostgreSQL database ``dsn`` to ``con`` read-only as ``alias``; return the alias.

    ``con`` needs the postgres extension (``connect(extensions=("spatial", "postgres"))``).
    DuckDB caches the attached catalog: its information_schema misses tables created after the
    first look until ``CALL pg_clear_cache()``.
    """
    check_identifier(alias, "alias")
    try:
        # ATTACH takes no bound parameters: the DSN goes in as a quoted literal.
        con.execute(f"ATTACH {_string_literal(dsn)} AS {_quote(alias)} (TYPE postgres, READ_ONLY)")
    except (duckdb.BinderException, duckdb.CatalogException) as exc:
        raise ParameterError(
            f"cannot attach as {alias!r}: {exc}", parameter="alias", hint="Choose an alias not in use."
        ) from exc
    except duckdb.Error as exc:
        raise _unreachable(dsn, exc) from exc
    return alias


def _catalog_tables(con: duckdb.DuckDBPyConnection, alias: str) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ?",
        [alias],
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for schema_name, table_name in rows:
        tables.setdefault(schema_name, []).append(table_name)
    return tables


def _check_table(con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str) -> None:
    tables = _catalog_tables(con, alias)
    if schema not in tables:
        raise ParameterError(
            f"schema {schema!r} has no table in the database",
            parameter="schema",
            hint=did_you_mean(schema, [s for s in tables if s not in ("pg_catalog", "information_schema")]),
        )
    if table not in tables[schema]:
        raise ParameterError(
            f"table {schema}.{table} does not exist",
            parameter="table",
            hint=did_you_mean(table, tables[schema]),
        )


def _catalog_columns(con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [alias, schema, table],
    ).fetchall()
    return [name for (name,) in rows]


def _check_columns(names: Sequence[str], known: list[str], parameter: str) -> None:
    for name in names:
        if name not in known:
            raise ParameterError(
                f"column {name!r} does not exist", parameter=parameter, hint=did_you_mean(str(name), known)
            )


def _geometry_columns(
    con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str
) -> dict[str, tuple[int, str]]:
    """Geometry column -> (SRID, type) from PostGIS ``geometry_columns`` (found on the search_path)."""
    rows = con.execute(
        "SELECT f_geometry_column, srid, type FROM postgres_query(?, "
        "'SELECT f_table_schema, f_table_name, f_geometry_column, srid, type FROM geometry_columns')"
        " WHERE f_table_schema = ? AND f_table_name = ?",
        [alias, schema, table],
    ).fetchall()
    return {name: (int(srid), kind) for name, srid, kind in rows}


def _actual_srid(con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str, column: str) -> int:
    """The one SRID of an untyped ``geometry`` column (``geometry_columns`` says 0 for those)."""
    # Names here come from the catalog (checked above), quoted for PostgreSQL.
    query = f"SELECT DISTINCT ST_SRID({_quote(column)}) AS srid FROM {_quote(schema)}.{_quote(table)} WHERE {_quote(column)} IS NOT NULL"
    srids = [
        int(s) for (s,) in con.execute("SELECT srid FROM postgres_query(?, ?)", [alias, query]).fetchall()
    ]
    if len(srids) > 1:
        raise DataFormatError(
            f"column {schema}.{table}.{column} mixes SRIDs {sorted(srids)}",
            parameter="table",
            hint="Give the column one SRID (ST_Transform) or read it with a where filter per SRID.",
        )
    return srids[0] if srids else 0


def _where_sql(where: Mapping[str, Any] | None, known: list[str]) -> tuple[str, list[Any]]:
    """``WHERE`` text with bound values: ``{col: value}`` is equality, a list is ``IN``, None ``IS NULL``."""
    if not where:
        return "", []
    _check_columns(list(where), known, "where")
    clauses, values = [], []
    for name, wanted in where.items():
        if wanted is None:
            clauses.append(f"{_quote(name)} IS NULL")
        elif isinstance(wanted, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
            items = list(wanted)
            if not items:
                clauses.append("FALSE")
                continue
            clauses.append(f"{_quote(name)} IN ({', '.join('?' * len(items))})")
            values.extend(items)
        else:
            clauses.append(f"{_quote(name)} = ?")
            values.append(wanted)
    return " WHERE " + " AND ".join(clauses), values


def read_table(
    dsn: str,
    table: str,
    schema: str = "public",
    columns: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
    geometry: str | None = None,
    limit: int | None = None,
    config: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Read a PostGIS table live through DuckDB as a GeoDataFrame in EPSG:4326.

    ``columns`` (default all non-geometry columns) and the keys of ``where`` are checked against
    the attached catalog; ``where`` maps a column to a value (equality), a list (``IN``) or None
    (``IS NULL``), values bound, never pasted. ``geometry`` picks the geometry column when the
    table has several (default: the first). The SRID comes from ``geometry_columns``; a layer in
    another CRS is transformed to EPSG:4326.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ParameterError(f"limit {limit!r} is not a count", parameter="limit", hint="Give an int >= 0.")
    alias = "pg"
    # GEOMETRY and ST_AsWKB are core DuckDB (1.5); the spatial extension (~1 s to load) is not needed.
    with connect(extensions=("postgres",), config=config) as con:
        attach(con, dsn, alias)
        _check_table(con, alias, schema, table)
        known = _catalog_columns(con, alias, schema, table)
        geometries = _geometry_columns(con, alias, schema, table)
        if not geometries:
            raise ParameterError(
                f"table {schema}.{table} has no PostGIS geometry column",
                parameter="table",
                hint="Read non-spatial tables with DuckDB directly (observatory.sources.postgis.attach).",
            )
        geom = geometry if geometry is not None else next(c for c in known if c in geometries)
        if geom not in geometries:
            raise ParameterError(
                f"{geom!r} is not a geometry column of {schema}.{table}",
                parameter="geometry",
                hint=did_you_mean(geom, list(geometries)),
            )
        if columns is None:
            columns = [c for c in known if c not in geometries]
        _check_columns(list(columns), known, "columns")
        srid = geometries[geom][0] or _actual_srid(con, alias, schema, table, geom)
        if srid == 0:
            raise DataFormatError(
                f"geometry column {schema}.{table}.{geom} has no SRID",
                parameter="table",
                hint="Set it in PostGIS (UpdateGeometrySRID) so that the coordinates can be placed.",
            )
        filters, values = _where_sql(where, known)
        select = ", ".join([*(_quote(c) for c in columns), f"ST_AsWKB({_quote(geom)}) AS {_quote(geom)}"])
        sql = f"SELECT {select} FROM {_quote(alias)}.{_quote(schema)}.{_quote(table)}{filters}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # Through Arrow: DuckDB 1.5's .df() warns under pandas 3.1 (drop(inplace=True) on timestamptz).
        try:
            arrow = con.execute(sql, values).to_arrow_table()
        except duckdb.IOException as exc:  # the server went away mid-read
            raise _unreachable(dsn, exc) from exc
    frame = arrow.drop_columns([geom]).to_pandas()
    shapes = shapely.from_wkb(arrow.column(geom).to_numpy(zero_copy_only=False))
    result = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapes, index=frame.index), crs=None)
    result = result.rename_geometry(geom) if geom != "geometry" else result
    return result.set_crs(_crs_of(srid, f"{schema}.{table}.{geom}")).to_crs(STORAGE_CRS)


def _crs_of(srid: int, column: str) -> Any:
    import pyproj

    try:
        return pyproj.CRS.from_epsg(srid)
    except pyproj.exceptions.CRSError as exc:
        raise DataFormatError(
            f"geometry column {column} has SRID {srid}, which is no EPSG code PROJ knows",
            parameter="table",
            hint="Transform the layer in PostGIS to an EPSG CRS (ST_Transform) first.",
        ) from exc


# -- extracts -------------------------------------------------------------------------------------
def extract_format(path: str | Path) -> Literal["gpkg", "parquet", "geojson"]:
    """The format of an extract from its first bytes: GeoPackage, (Geo)Parquet or GeoJSON."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise DataFormatError(f"cannot read the extract: {exc.strerror}", path=path) from exc
    if head.startswith(GPKG_MAGIC):
        return "gpkg"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.removeprefix(UTF8_BOM).lstrip().startswith(JSON_MAGIC):
        return "geojson"
    raise DataFormatError(
        "not a GeoPackage, GeoParquet or GeoJSON file (unrecognised first bytes)",
        path=path,
        line=1,
        hint="Export the layer as GeoJSON, GeoPackage or GeoParquet.",
    )


def read_extract(path: str | Path, layer: str | None = None, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a GeoJSON, GeoPackage or GeoParquet extract as a GeoDataFrame in EPSG:4326.

    The format is recognised by content, not by the file name. ``layer`` picks a GeoPackage layer
    (required when there are several); ``crs`` is assumed only when the file declares none.
    """
    import pyarrow
    import pyogrio
    import pyogrio.errors

    path = Path(path)
    kind = extract_format(path)
    try:
        if kind == "parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = pyogrio.read_dataframe(path, layer=_layer(path, layer))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise _malformed(path, kind, exc) from exc
    except (pyogrio.errors.FieldError, pyogrio.errors.GeometryError, pyogrio.errors.FeatureError) as exc:
        raise _malformed(path, kind, exc) from exc
    except (pyarrow.ArrowException, ValueError, OSError) as exc:
        raise _malformed(path, kind, exc) from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DataFormatError(f"the {kind} file holds no geometry", path=path)
    if frame.crs is None:
        if crs is None:
            raise DataFormatError(
                "the extract declares no coordinate reference system",
                path=path,
                hint="Pass crs='EPSG:....' to say which one its coordinates are in.",
            )
        frame = frame.set_crs(crs)
    return frame.to_crs(STORAGE_CRS)


def _layer(path: Path, layer: str | None) -> str | None:
    """``layer`` checked against the file's layers; the only layer when None (ParameterError if several)."""
    import pyogrio

    layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    if layer is None:
        if len(layers) > 1:
            raise ParameterError(
                f"{path} holds {len(layers)} layers", parameter="layer", hint=f"Choose one of {layers}."
            )
        return layers[0] if layers else None
    if layer not in layers:
        raise ParameterError(
            f"no layer {layer!r} in {path}", parameter="layer", hint=did_you_mean(layer, layers)
        )
    return layer


def _malformed(path: Path, kind: str, exc: Exception) -> DataFormatError:
    reason = " ".join(str(exc).replace(str(path), "").split()) or type(exc).__name__
    return DataFormatError(
        f"unreadable {kind} extract: {reason}",
        path=path,
        hint="Check that the file was written completely; export it again if needed.",
    )


# -- the way back: write a layer to PostGIS -------------------------------------------------------
def _pg_type(series: pd.Series, name: str) -> str:
    """PostgreSQL type of a pandas column."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "numeric" if dtype in (np.uint64, pd.UInt64Dtype()) else "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        by_inferred = {
            "string": "text",
            "empty": "text",
            "categorical": "text",
            "date": "date",
            "bytes": "bytea",
            "boolean": "boolean",
            "integer": "bigint",
            "floating": "double precision",
            "decimal": "numeric",
        }
        if inferred in by_inferred:
            return by_inferred[inferred]
    raise ParameterError(
        f"column {name!r} has type {dtype} that PostGIS layers do not take",
        parameter="frame",
        hint="Convert it to text, numbers, booleans, dates or timestamps first.",
    )


def _python_values(series: pd.Series) -> list[Any]:
    """Column values as Python objects, missing ones (NaN, NaT, NA) as None (SQL NULL)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    return series.astype(object).where(series.notna(), None).tolist()


def _geometry_type(geoms: gpd.GeoSeries, table_type: str | None = None) -> tuple[str, np.ndarray]:
    """The column's geometry type and the geometries, single parts promoted when multi are mixed in.

    Promotion (as ogr2ogr's PROMOTE_TO_MULTI) also happens when appending to a MULTI* column.
    """
    values = np.asarray(geoms.values, dtype=object)
    kinds = geoms.geom_type
    names = set(kinds.dropna())
    singles = names & set(_MULTI_OF)
    to_multi = table_type is not None and table_type.upper().startswith("MULTI")
    if len(singles) == 1:
        single = singles.pop()
        if names == {single, _MULTI_OF[single]} or to_multi:
            is_single = (kinds == single).to_numpy()
            values = values.copy()
            values[is_single] = [_MAKE_MULTI[single]([g]) for g in values[is_single]]
            names = {_MULTI_OF[single]}
    kind = names.pop() if len(names) == 1 else "Geometry"
    present = ~shapely.is_missing(values)
    if present.any() and shapely.has_z(values[present]).any():
        kind += "Z"
    return kind, values


@contextmanager
def _pg_connection(dsn: str) -> Iterator[Any]:
    """A psycopg connection; refused rows become ParameterError, a lost server ServiceError."""
    import psycopg

    try:
        conn = psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        raise _unreachable(dsn, exc) from exc
    try:
        with conn:
            yield conn
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        reason = " ".join(str(exc).split())
        raise ParameterError(
            f"PostgreSQL refused the rows: {reason}",
            parameter="frame",
            hint="Nothing was written (the transaction rolled back); fix these rows and write again.",
        ) from exc
    except psycopg.OperationalError as exc:
        raise _unreachable(dsn, exc) from exc


def write_layer(
    frame: gpd.GeoDataFrame,
    dsn: str,
    table: str,
    schema: str = "public",
    srid: int | None = None,
    if_exists: Literal["replace", "append", "fail"] = "replace",
    primary_key: str | Sequence[str] | None = None,
    geometry_column: str = "geom",
) -> int:
    """Write ``frame`` to the PostGIS table ``schema.table`` in one transaction; return rows written.

    The geometry column (``geometry_column``) is typed ``geometry(<type>, <srid>)``, with single
    parts promoted to multi when both are present, and gets a GiST index; ``primary_key`` names
    the key column(s). ``srid`` defaults to the frame's EPSG code (the frame is reprojected when
    they differ; appending uses the table's SRID). ``if_exists``: ``replace`` the table, ``append``
    to it, or ``fail``. On any failure the transaction rolls back: no partial table remains.
    """
    from psycopg import sql

    data, keys, types = _checked_layer(frame, table, schema, geometry_column, if_exists, primary_key)
    with _pg_connection(dsn) as conn, conn.transaction():
        exists = _table_exists(conn, schema, table)
        if exists and if_exists == "fail":
            raise ParameterError(
                f"table {schema}.{table} already exists",
                parameter="table",
                hint="Pass if_exists='replace' or 'append', or choose another name.",
            )
        appending = exists and if_exists == "append"
        target = _table_geometry(conn, schema, table, geometry_column) if appending else None
        target_srid = _target_srid(frame, srid, target)
        geoms = frame.geometry if frame.crs is None else frame.geometry.to_crs(epsg=target_srid)
        kind, values = _geometry_type(geoms, target[1] if target else None)
        name = sql.Identifier(schema, table)
        if target is None:
            if exists:
                conn.execute(sql.SQL("DROP TABLE {}").format(name))
            _create_table(conn, name, types, geometry_column, kind, target_srid, keys)
        else:
            _check_columns(list(data.columns), _table_columns(conn, schema, table), "frame")
        ewkb = shapely.to_wkb(shapely.set_srid(values, target_srid), hex=True, include_srid=True)
        _copy_rows(conn, name, data, geometry_column, ewkb)
        if target is None:
            conn.execute(
                sql.SQL("CREATE INDEX ON {} USING GIST ({})").format(name, sql.Identifier(geometry_column))
            )
            conn.execute(sql.SQL("ANALYZE {}").format(name))
    return len(frame)


def _checked_layer(
    frame: gpd.GeoDataFrame,
    table: str,
    schema: str,
    geometry_column: str,
    if_exists: str,
    primary_key: str | Sequence[str] | None,
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """The frame's data columns, key columns and PostgreSQL types, every name checked first."""
    check_identifier(table, "table")
    check_identifier(schema, "schema")
    check_identifier(geometry_column, "geometry_column")
    if if_exists not in IF_EXISTS:
        raise ParameterError(
            f"if_exists={if_exists!r}", parameter="if_exists", hint=did_you_mean(if_exists, IF_EXISTS)
        )
    if not isinstance(frame, gpd.GeoDataFrame) or frame.active_geometry_name is None:
        raise ParameterError("frame is not a GeoDataFrame with a geometry", parameter="frame")
    data = pd.DataFrame(frame.drop(columns=frame.active_geometry_name))
    for name in data.columns:
        check_identifier(name, "frame")
    if geometry_column in data.columns:
        raise ParameterError(
            f"frame has a data column named {geometry_column!r}",
            parameter="geometry_column",
            hint="Choose another geometry_column or rename the data column.",
        )
    keys = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
    _check_columns(keys, list(data.columns), "primary_key")
    return data, keys, {name: _pg_type(data[name], name) for name in data.columns}


def _copy_rows(conn: Any, name: Any, data: pd.DataFrame, geometry_column: str, ewkb: np.ndarray) -> None:
    """COPY the rows in (text format; geometries as hex EWKB, which carries the SRID)."""
    from psycopg import sql

    columns = sql.SQL(", ").join(map(sql.Identifier, [*data.columns, geometry_column]))
    rows = zip(*(_python_values(data[c]) for c in data.columns), ewkb.tolist(), strict=True)
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(name, columns)) as copy:
        for row in rows:
            copy.write_row(row)


def _table_exists(conn: Any, schema: str, table: str) -> bool:
    schemas = [s for (s,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'")]
    if schema not in schemas:
        raise ParameterError(
            f"schema {schema!r} does not exist", parameter="schema", hint=did_you_mean(schema, schemas)
        )
    found = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    return found is not None


def _table_geometry(conn: Any, schema: str, table: str, column: str) -> tuple[int, str]:
    row = conn.execute(
        "SELECT srid, type FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s AND f_geometry_column = %s",
        (schema, table, column),
    ).fetchone()
    if row is None:
        raise ParameterError(
            f"table {schema}.{table} has no geometry column {column!r} to append to",
            parameter="geometry_column",
            hint="Name the table's geometry column, or replace the table.",
        )
    return int(row[0]), str(row[1])


def _target_srid(frame: gpd.GeoDataFrame, srid: int | None, target: tuple[int, str] | None) -> int:
    if target is not None and target[0] != 0:
        if srid is not None and srid != target[0]:
            raise ParameterError(
                f"srid {srid} differs from the table's SRID {target[0]}",
                parameter="srid",
                hint="Leave srid unset when appending: the frame is reprojected to the table's SRID.",
            )
        return target[0]
    if srid is not None:
        if not isinstance(srid, int) or srid <= 0:
            raise ParameterError(f"srid {srid!r} is not an EPSG code", parameter="srid")
        return srid
    epsg = frame.crs.to_epsg() if frame.crs is not None else None
    if epsg is None:
        raise ParameterError(
            "the frame has no CRS with an EPSG code",
            parameter="srid",
            hint="Set the frame's CRS (set_crs) or pass srid=.",
        )
    return int(epsg)


def _create_table(
    conn: Any, name: Any, types: dict[str, str], geometry_column: str, kind: str, srid: int, keys: list[str]
) -> None:
    from psycopg import sql

    # Types come from _pg_type and _geometry_type (fixed vocabularies), never from the caller.
    columns = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in types.items()]
    columns.append(
        sql.SQL("{} geometry({}, {})").format(
            sql.Identifier(geometry_column), sql.SQL(kind), sql.Literal(srid)
        )
    )
    if keys:
        columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, keys))))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(", ").join(columns)))


def _table_columns(conn: Any, schema: str, table: str) -> list[str]:
    query = "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
    return [c for (c,) in conn.execute(query, (schema, table))]
