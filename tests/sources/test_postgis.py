"""Tests of the PostGIS source against a real PostgreSQL/PostGIS: write, live read, extracts, errors."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import psycopg
import pytest
import shapely

from observatory.errors import DataFormatError, ParameterError, ServiceError
from observatory.sources.postgis import (
    attach,
    check_identifier,
    extract_format,
    read_extract,
    read_table,
    redact_dsn,
    write_layer,
)
from observatory.territory.communes import communes
from observatory.warehouse.extensions import connect
from tests.services import free_port

GEOMETRY_TOLERANCE = 1e-9  # degrees, for equals_exact
AREA_RTOL = 1e-6  # PostGIS's and pyproj's PROJ agree far better than this
TABLE = "test_postgis_communes"  # the postgres fixture is shared by the session: own names
HOSTILE_TABLE = f"{TABLE}; DROP TABLE test_postgis_canary"


@pytest.fixture(scope="module")
def frame() -> gpd.GeoDataFrame:
    return communes()


@pytest.fixture(scope="module")
def written(postgres, frame: gpd.GeoDataFrame) -> str:
    """The DSN of the session's PostGIS, holding the 34 communes in TABLE and a canary table."""
    assert write_layer(frame, postgres.dsn, TABLE, primary_key="insee") == 34
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS test_postgis_canary (id int)")
    return postgres.dsn


def as_multi(geometry: shapely.Geometry) -> shapely.Geometry:
    """What a Polygon becomes in a column where Polygons and MultiPolygons mix."""
    return shapely.MultiPolygon([geometry]) if geometry.geom_type == "Polygon" else geometry


def assert_same_communes(actual: gpd.GeoDataFrame, expected: gpd.GeoDataFrame, promoted: bool) -> None:
    actual = actual.sort_values("insee").reset_index(drop=True)
    assert actual["insee"].tolist() == expected["insee"].tolist()
    assert actual.crs == "EPSG:4326"
    for got, want in zip(actual.geometry, expected.geometry, strict=True):
        assert got.equals_exact(as_multi(want) if promoted else want, GEOMETRY_TOLERANCE)


# -- the way back ---------------------------------------------------------------------------------
def test_written_layer_keeps_srid_type_and_area(written: str, frame: gpd.GeoDataFrame) -> None:
    with psycopg.connect(written) as conn:
        srid, kind = conn.execute(
            "SELECT srid, type FROM geometry_columns WHERE f_table_name = %s", (TABLE,)
        ).fetchone()
        (find_srid,) = conn.execute("SELECT Find_SRID('public', %s, 'geom')", (TABLE,)).fetchone()
        (area_km2,) = conn.execute(
            f"SELECT sum(ST_Area(ST_Transform(geom, 5490))) / 1e6 FROM {TABLE}"
        ).fetchone()
        indexes = [
            d for (d,) in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", (TABLE,))
        ]
    assert (srid, kind, find_srid) == (4326, "MULTIPOLYGON", 4326)
    assert area_km2 == pytest.approx(frame["area_km2"].sum(), rel=AREA_RTOL)
    assert any("USING gist (geom)" in d for d in indexes)
    assert any("_pkey" in d and "(insee)" in d for d in indexes)


def test_write_keeps_attribute_types(written: str) -> None:
    with psycopg.connect(written) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
                (TABLE,),
            ).fetchall()
        )
    assert types["insee"] == "text"
    assert types["population"] == "bigint"
    assert types["area_km2"] == "double precision"


def test_if_exists_fail_append_replace(postgres, frame: gpd.GeoDataFrame) -> None:
    table = "test_postgis_modes"
    part = frame.head(3)
    write_layer(part, postgres.dsn, table, if_exists="fail")
    with pytest.raises(ParameterError, match="already exists"):
        write_layer(part, postgres.dsn, table, if_exists="fail")
    # Appending reprojects the frame to the table's SRID.
    write_layer(part.to_crs("EPSG:5490"), postgres.dsn, table, if_exists="append")
    assert len(read_table(postgres.dsn, table)) == 6
    write_layer(part.head(1), postgres.dsn, table, if_exists="replace")
    assert len(read_table(postgres.dsn, table)) == 1


def test_failed_write_leaves_no_partial_table(postgres, frame: gpd.GeoDataFrame) -> None:
    table = "test_postgis_rollback"
    doubled = pd.concat([frame.head(2), frame.head(1)], ignore_index=True)
    with pytest.raises(ParameterError, match="refused the rows"):
        write_layer(doubled, postgres.dsn, table, primary_key="insee")
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)
    # A failed replace keeps the table that was there.
    write_layer(frame.head(2), postgres.dsn, table, primary_key="insee")
    with pytest.raises(ParameterError):
        write_layer(doubled, postgres.dsn, table, primary_key="insee", if_exists="replace")
    assert read_table(postgres.dsn, table)["insee"].tolist() == frame["insee"].head(2).tolist()


def test_attribute_types_and_nulls_round_trip(postgres) -> None:
    frame = gpd.GeoDataFrame(
        {
            "station": ["Trinité", None],
            "active": [True, False],
            "count": pd.array([3, None], dtype="Int64"),
            "level_m": [1.25, float("nan")],
            "seen": pd.to_datetime(["2024-09-01T12:00:00Z", None], utc=True),
        },
        geometry=[shapely.Point(-60.96, 14.74), None],
        crs="EPSG:4326",
    )
    write_layer(frame, postgres.dsn, "test_postgis_types")
    back = read_table(postgres.dsn, "test_postgis_types").sort_values("active", ascending=False)
    assert back["station"].tolist()[0] == "Trinité" and pd.isna(back["station"].tolist()[1])
    assert back["active"].tolist() == [True, False]
    assert back["count"].tolist()[0] == 3 and pd.isna(back["count"].tolist()[1])
    assert back["level_m"].tolist()[0] == 1.25 and pd.isna(back["level_m"].tolist()[1])
    assert back["seen"].tolist()[0] == pd.Timestamp("2024-09-01T12:00:00Z") and pd.isna(
        back["seen"].tolist()[1]
    )
    assert back.geometry.iloc[0].equals_exact(shapely.Point(-60.96, 14.74), GEOMETRY_TOLERANCE)
    assert back.geometry.iloc[1] is None
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute(
            "SELECT type FROM geometry_columns WHERE f_table_name = 'test_postgis_types'"
        ).fetchone() == ("POINT",)


def test_write_in_another_srid(postgres, frame: gpd.GeoDataFrame) -> None:
    table = "test_postgis_utm"
    write_layer(frame, postgres.dsn, table, srid=5490)
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("SELECT Find_SRID('public', %s, 'geom')", (table,)).fetchone() == (5490,)
    # Read back: transformed from 5490 to 4326 on the way in.
    assert_same_communes(read_table(postgres.dsn, table), frame, promoted=True)


# -- live read through DuckDB ---------------------------------------------------------------------
def test_read_back_through_duckdb(written: str, frame: gpd.GeoDataFrame) -> None:
    back = read_table(written, TABLE)
    assert_same_communes(back, frame, promoted=True)
    back = back.sort_values("insee").reset_index(drop=True)
    assert back["population"].tolist() == frame["population"].tolist()
    assert back["name"].tolist() == frame["name"].tolist()


def test_read_columns_where_and_limit(written: str) -> None:
    picked = read_table(written, TABLE, columns=["insee"], where={"insee": ["97209", "97213"]})
    assert list(picked.columns) == ["insee", "geom"]
    assert sorted(picked["insee"]) == ["97209", "97213"]
    one = read_table(written, TABLE, where={"name": "Fort-de-France"})
    assert one["insee"].tolist() == ["97209"]
    assert len(read_table(written, TABLE, limit=5)) == 5
    # A value is bound, never pasted: a quote in it finds nothing and breaks nothing.
    assert read_table(written, TABLE, where={"name": "x' OR '1'='1"}).empty


def test_read_untyped_geometry_column_finds_its_srid(written: str) -> None:
    with psycopg.connect(written, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS test_postgis_untyped")
        conn.execute("CREATE TABLE test_postgis_untyped (id int, geom geometry)")
        conn.execute(
            "INSERT INTO test_postgis_untyped VALUES (1, ST_SetSRID(ST_MakePoint(707000, 1616000), 5490))"
        )
    point = read_table(written, "test_postgis_untyped").geometry.iloc[0]
    assert point.x == pytest.approx(-61.07, abs=0.01)
    assert point.y == pytest.approx(14.61, abs=0.01)


def test_attach_gives_a_live_read_only_catalog(written: str) -> None:
    with connect(extensions=("spatial", "postgres")) as con:
        assert attach(con, written, alias="territory") == "territory"
        (count,) = con.execute(f"SELECT count(*) FROM territory.public.{TABLE}").fetchone()
        assert count == 34
        with pytest.raises(duckdb.Error, match="(?i)read.only"):
            con.execute(f"DELETE FROM territory.public.{TABLE}")
        with pytest.raises(ParameterError, match="alias"):
            attach(con, written, alias="territory")


def test_unknown_names_get_did_you_mean(written: str) -> None:
    with pytest.raises(ParameterError, match="Did you mean 'test_postgis_communes'"):
        read_table(written, "test_postgis_commune")
    with pytest.raises(ParameterError, match="Did you mean 'population'"):
        read_table(written, TABLE, columns=["insee", "populaton"])
    with pytest.raises(ParameterError, match="parameter 'where'"):
        read_table(written, TABLE, where={"nom": "Le Robert"})
    with pytest.raises(ParameterError, match="Did you mean 'public'"):
        read_table(written, TABLE, schema="publik")


def test_hostile_table_name_refused(written: str, frame: gpd.GeoDataFrame) -> None:
    with pytest.raises(ParameterError, match="not a plain SQL identifier"):
        write_layer(frame, written, HOSTILE_TABLE)
    with pytest.raises(ParameterError, match="does not exist"):
        read_table(written, HOSTILE_TABLE)
    with connect(extensions=("postgres",)) as con, pytest.raises(ParameterError, match="parameter 'alias'"):
        attach(con, written, alias='pg" (TYPE sqlite); --')
    with psycopg.connect(written) as conn:
        assert conn.execute("SELECT to_regclass('test_postgis_canary')").fetchone() != (None,)
        assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (34,)


def test_check_identifier() -> None:
    assert check_identifier("communes_2021", "table") == "communes_2021"
    for bad in ("", "1communes", "a-b", "a b", 'a"b', "é", "x" * 64, None):
        with pytest.raises(ParameterError):
            check_identifier(bad, "table")


def test_dead_server_is_a_service_error_without_password(frame: gpd.GeoDataFrame) -> None:
    port = free_port()
    dsn = f"postgresql://postgres:s3cret@127.0.0.1:{port}/observatory"
    for call in (lambda: read_table(dsn, TABLE), lambda: write_layer(frame, dsn, TABLE)):
        with pytest.raises(ServiceError) as caught:
            call()
        assert f"127.0.0.1:{port}" in str(caught.value)
        assert "s3cret" not in str(caught.value)


def test_redact_dsn() -> None:
    assert redact_dsn("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_dsn("postgresql://u@h/db?password=pw&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert redact_dsn("host=h user=u password='p w' dbname=db") == "host=h user=u password=*** dbname=db"
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"


# -- extracts -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("driver", "name", "kind"),
    [
        ("GeoJSON", "communes.dat", "geojson"),
        ("GPKG", "communes.json", "gpkg"),
        (None, "communes.gpkg", "parquet"),
    ],
)
def test_extract_round_trip(tmp_path: Path, frame: gpd.GeoDataFrame, driver, name, kind) -> None:
    # Misleading extensions on purpose: the format is told by content.
    path = tmp_path / name
    if driver is None:
        frame.to_parquet(path)
    else:
        frame.to_file(path, driver=driver)
    assert extract_format(path) == kind
    back = read_extract(path)
    # GDAL's GeoPackage writer promotes mixed Polygon/MultiPolygon layers, as write_layer does.
    assert_same_communes(back, frame, promoted=kind == "gpkg")
    assert back["population"].tolist() == frame["population"].tolist()


def test_extract_in_another_crs_comes_back_in_wgs84(tmp_path: Path, frame: gpd.GeoDataFrame) -> None:
    path = tmp_path / "communes_utm.gpkg"
    frame.to_crs("EPSG:5490").to_file(path, driver="GPKG")
    assert_same_communes(read_extract(path), frame, promoted=True)


def test_extract_with_several_layers_needs_one_named(tmp_path: Path, frame: gpd.GeoDataFrame) -> None:
    path = tmp_path / "two.gpkg"
    frame.head(2).to_file(path, layer="north", driver="GPKG")
    frame.tail(3).to_file(path, layer="south", driver="GPKG")
    with pytest.raises(ParameterError, match="2 layers"):
        read_extract(path)
    assert len(read_extract(path, layer="south")) == 3
    with pytest.raises(ParameterError, match="east"):
        read_extract(path, layer="east")


CORRUPT = {
    "truncated.geojson": b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geom',
    "garbage.gpkg": b"SQLite format 3\x00" + b"\x07" * 200,
    "garbage.parquet": b"PAR1" + b"\x00" * 100 + b"PAR1",
    "notes.geojson": b"Fort-de-France;97209\n",
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_extract_is_a_data_format_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(CORRUPT[name])
    with pytest.raises(DataFormatError) as caught:
        read_extract(path)
    assert str(path) in str(caught.value)


def test_parquet_without_geometry_is_a_data_format_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"insee": ["97209"]}).to_parquet(path)
    with pytest.raises(DataFormatError, match="plain.parquet"):
        read_extract(path)


def test_geojson_with_bom_and_whitespace(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "properties": {"insee": "97209"},
        "geometry": {"type": "Point", "coordinates": [-61.07, 14.61]},
    }
    path = tmp_path / "point"
    path.write_bytes(
        b"\xef\xbb\xbf\n  " + json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    )
    read = read_extract(path)
    assert read["insee"].tolist() == ["97209"]
    assert read.geometry.iloc[0].equals_exact(shapely.Point(-61.07, 14.61), GEOMETRY_TOLERANCE)
