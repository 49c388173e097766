"""Risk layers leave as GeoParquet, GeoJSON and PostGIS tables with their SRID."""

from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest

from observatory.risk import outputs


@pytest.fixture(scope="module")
def layers():
    return outputs.risk_layers()


def test_layers_hold_every_cell_and_commune(layers):
    cells, per_commune = layers["risk_cells"], layers["risk_communes"]
    assert len(per_commune) == 34 and per_commune["rank"].min() == 1
    assert cells["cell_id"].is_unique and cells["wind_100yr_ms"].notna().all()
    assert set(cells["volcanic_zone"]) >= {"rouge", "hors zone"}
    assert cells.crs.to_epsg() == 4326


def test_files_round_trip(layers, tmp_path):
    written = outputs.write_files(layers, tmp_path)
    assert sorted(p.name for p in written) == [
        "risk_cells.geojson",
        "risk_cells.parquet",
        "risk_communes.geojson",
        "risk_communes.parquet",
    ]
    back = gpd.read_parquet(tmp_path / "risk_communes.parquet")
    assert back.crs.to_epsg() == 4326 and back["insee"].tolist() == layers["risk_communes"]["insee"].tolist()
    assert len(gpd.read_file(tmp_path / "risk_cells.geojson")) == len(layers["risk_cells"])


def test_postgis_tables_carry_srid_4326(layers, postgres):
    rows = outputs.publish_postgis(layers, postgres.dsn)
    assert rows == {"risk_cells": len(layers["risk_cells"]), "risk_communes": 34}
    with psycopg.connect(postgres.dsn) as conn:
        srids = dict(
            conn.execute(
                "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_name LIKE 'risk_%'"
            ).fetchall()
        )
        top = conn.execute("SELECT name FROM risk_communes WHERE rank = 1").fetchone()[0]
    assert srids == {"risk_cells": 4326, "risk_communes": 4326}
    assert top == layers["risk_communes"].iloc[0]["name"]
