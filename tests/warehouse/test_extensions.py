"""DuckDB's spatial and postgres extensions load from their wheels, with no network."""

from __future__ import annotations

import pytest

from observatory.errors import ParameterError
from observatory.territory.registry import fetch
from observatory.warehouse.extensions import connect


def test_spatial_reads_the_commune_boundaries_and_measures_them_in_utm20n():
    path = fetch("communes")
    with connect() as con:
        rows = con.execute(
            "SELECT code, ST_Area(ST_Transform(geom, 'EPSG:4326', 'EPSG:5490', always_xy := true)) / 1e6 "
            "FROM ST_Read(?) ORDER BY code",
            [str(path)],
        ).fetchall()
    assert [code for code, _ in rows] == [str(c) for c in range(97201, 97235)]
    assert 1100 < sum(area for _, area in rows) < 1150


def test_an_unknown_extension_is_refused_with_a_suggestion():
    with pytest.raises(ParameterError, match="Did you mean 'spatial'"):
        connect(extensions=("spatail",))


def test_postgres_extension_reads_postgis_geometry(postgres):
    import psycopg

    with psycopg.connect(postgres.dsn) as pg:
        pg.execute(
            "CREATE TABLE IF NOT EXISTS ext_probe (insee text PRIMARY KEY, geom geometry(Point, 4326))"
        )
        pg.execute(
            "INSERT INTO ext_probe VALUES ('97209', ST_SetSRID(ST_MakePoint(-61.07, 14.61), 4326)) "
            "ON CONFLICT DO NOTHING"
        )
    with connect(extensions=("spatial", "postgres")) as con:
        con.execute(f"ATTACH '{postgres.dsn}' AS pg (TYPE postgres, READ_ONLY)")
        ((insee, wkt),) = con.sql(
            "SELECT insee, ST_AsText(geom::GEOMETRY) FROM pg.public.ext_probe"
        ).fetchall()
    assert insee == "97209" and wkt == "POINT (-61.07 14.61)"
