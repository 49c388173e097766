"""Release folders: every dataset through the privacy gate into CSV and Parquet (GeoJSON and
GeoParquet when spatial), with sha256 checksums, Frictionless and DCAT-AP metadata and a changelog.

A release is built in a hidden folder beside the releases folder and renamed into place at the
end, so a failure leaves nothing; an existing version is never rebuilt (releases are immutable);
``latest`` is a relative symlink to the newest version. The same version built twice from the same
warehouse gives byte-identical files: rows sorted by the dataset's key, no clock anywhere (the
release date comes from ``issued`` or from the warehouse's data time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from observatory.config import Settings, settings
from observatory.errors import ConfigError, ParameterError, did_you_mean
from observatory.releases import changes
from observatory.releases.catalog import Catalog, DatasetSpec, load_catalog
from observatory.releases.privacy import Cleared, PersonalValues, check_publishable, gate, load_key
from observatory.warehouse.store import Warehouse

RELEASES_DIR = "releases"
LATEST = "latest"
MANIFEST = "release.json"
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
MEDIA_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",  # IANA, registered 2024
    "geoparquet": "application/vnd.apache.parquet",
    "geojson": "application/geo+json",  # RFC 7946
}
GEOPARQUET_VERSION = "1.1.0"  # geoparquet.org: WKB encoding, CRS omitted = OGC:CRS84 (lon/lat WGS84)
_POLARS_TYPES = {
    "string": pl.String,
    "integer": pl.Int64,
    "number": pl.Float64,
    "boolean": pl.Boolean,
    "date": pl.Date,
    "datetime": pl.Datetime("us", "UTC"),
    "year": pl.Int64,
    "yearmonth": pl.String,
    "geometry": pl.Binary,
}
_YEARMONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Release:
    """A release as published: its folder and manifest (``release.json``, what the portal reads)."""

    version: str
    path: Path
    manifest: dict

    @property
    def published(self) -> list[dict]:
        return [d for d in self.manifest["datasets"] if d["status"] == "published"]


def releases_dir(config: Settings | None = None) -> Path:
    """Where releases go by default: ``<OBSERVATORY_DATA_DIR>/releases``."""
    return (config or settings()).data_dir / RELEASES_DIR


def version_key(version: str) -> tuple:
    """Sort key of a version: numbers compare as numbers (2026.10 after 2026.9)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", version) if p)


def list_releases(out_dir: str | Path) -> list[str]:
    """The versions published in ``out_dir``, oldest first (hidden build folders are not releases)."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    found = [
        p.name
        for p in out.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=version_key)


def read_manifest(release_path: Path) -> dict:
    """The manifest (release.json) of a release folder."""
    return json.loads((release_path / MANIFEST).read_text(encoding="utf-8"))


def check_version(version: str, out: Path) -> None:
    """ParameterError naming --version unless it is a new, well-formed version in ``out``."""
    if not VERSION_PATTERN.match(version or "") or version == LATEST:
        raise ParameterError(
            f"{version!r} is not a release version",
            parameter="--version",
            hint="Use letters, digits, '.', '_' or '-', e.g. 2026.1 or 2026-11-30.",
        )
    if (out / version).exists() or (out / version).is_symlink():
        raise ParameterError(
            f"release {version} already exists in {out}: releases are immutable",
            parameter="--version",
            hint="Build a new version (e.g. the next number); an existing one is never rebuilt.",
        )


# --- producing a dataset's rows -----------------------------------------------------------------


def produce(spec: DatasetSpec, warehouse: Warehouse, config: Settings) -> pl.DataFrame:
    """The dataset's rows from its SQL or producer, with exactly the described columns, typed."""
    from observatory.releases.producers import PRODUCERS

    if spec.query.sql is not None:
        try:
            frame = warehouse.sql(spec.query.sql)
        except ParameterError as exc:
            raise ConfigError(
                f"the query of {spec.id} failed: {exc.message}", path=spec.path, parameter="query.sql"
            ) from exc
    else:
        frame = PRODUCERS[spec.query.producer].function(config, warehouse)  # type: ignore[index]
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"column(s) {missing} are not in the query result {frame.columns}",
            path=spec.path,
            parameter="columns",
            hint=did_you_mean(missing[0], frame.columns),
        )
    extra = [c for c in frame.columns if c not in spec.column_names]
    if extra:
        raise ConfigError(
            f"the query returns column(s) {extra} the catalogue does not describe",
            path=spec.path,
            parameter="columns",
            hint="Describe them or leave them out of the query.",
        )
    return _cast(spec, frame.select(spec.column_names))


def _cast(spec: DatasetSpec, frame: pl.DataFrame) -> pl.DataFrame:
    for column in spec.columns:
        target = _POLARS_TYPES[column.type]
        series = frame[column.name]
        try:
            if column.type == "datetime":
                if not isinstance(series.dtype, pl.Datetime):
                    raise TypeError(f"{series.dtype} is no date-time")
                if series.dtype.time_zone is None:  # inside the observatory, naive means UTC
                    series = series.dt.replace_time_zone("UTC")
                series = series.dt.convert_time_zone("UTC").cast(target)
            else:
                series = series.cast(target, strict=True)
        except (pl.exceptions.PolarsError, TypeError) as exc:
            raise ConfigError(
                f"column {column.name!r} ({series.dtype}) cannot be published as {column.type}: {exc}",
                path=spec.path,
                parameter="columns",
            ) from None
        if column.type == "number":
            series = series.fill_nan(None)  # a published number is a value or missing, never NaN
        if column.type == "yearmonth" and not series.drop_nulls().str.contains(_YEARMONTH.pattern).all():
            raise ConfigError(
                f"column {column.name!r} holds values that are not YYYY-MM",
                path=spec.path,
                parameter="columns",
            )
        frame = frame.with_columns(series.alias(column.name))
    return frame


def _sorted_by_key(spec: DatasetSpec, frame: pl.DataFrame) -> pl.DataFrame:
    key = list(spec.key)
    if frame.select(key).is_duplicated().any():
        raise ConfigError(
            f"the key {key} does not identify rows: some repeat in the query result",
            path=spec.path,
            parameter="key",
            hint="Name columns that are unique together (the changelog compares releases by them).",
        )
    return frame.sort(key, nulls_last=True)


# --- files --------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _iso_times(frame: pl.DataFrame) -> pl.DataFrame:
    """UTC date-times as ISO 8601 text with Z (seconds, or microseconds when a value has some)."""
    columns = []
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            fraction = bool((frame[column].dt.microsecond().fill_null(0) != 0).any())
            pattern = "%Y-%m-%dT%H:%M:%S%.6fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ"
            columns.append(pl.col(column).dt.strftime(pattern))
    return frame.with_columns(columns) if columns else frame


def _geometries(spec: DatasetSpec, frame: pl.DataFrame) -> list:
    """Shapely geometries of the rows (None where the row has none)."""
    geometry = spec.geometry
    if geometry is None:
        return []
    if geometry.column is not None:
        return [shapely.from_wkb(b) if b is not None else None for b in frame[geometry.column].to_list()]
    return [
        shapely.Point(x, y) if x is not None and y is not None else None
        for x, y in zip(frame[geometry.lon].to_list(), frame[geometry.lat].to_list(), strict=True)
    ]


def _write_csv(frame: pl.DataFrame, spec: DatasetSpec, path: Path) -> None:
    table = _iso_times(frame)
    if spec.geometry is not None and spec.geometry.column is not None:
        wkt = [
            shapely.to_wkt(g, rounding_precision=-1) if g is not None else None
            for g in _geometries(spec, frame)
        ]
        table = table.with_columns(pl.Series(spec.geometry.column, wkt, dtype=pl.String))
    table.write_csv(path, line_terminator="\n", null_value="")


def _geo_metadata(geometries: list, column: str) -> dict:
    present = [g for g in geometries if g is not None]
    types = sorted({g.geom_type for g in present})
    bbox = list(shapely.total_bounds(present)) if present else []
    return {
        "version": GEOPARQUET_VERSION,
        "primary_column": column,
        "columns": {column: {"encoding": "WKB", "geometry_types": types, **({"bbox": bbox} if bbox else {})}},
    }


def _write_parquet(frame: pl.DataFrame, spec: DatasetSpec, path: Path) -> None:
    table = frame.to_arrow()
    if spec.geometry is not None:
        geometries = _geometries(spec, frame)
        column = spec.geometry.column or "geometry"
        if spec.geometry.column is None:  # lon/lat datasets: GeoParquet gets a point column too
            wkb = [shapely.to_wkb(g) if g is not None else None for g in geometries]
            table = table.append_column(column, pa.array(wkb, pa.binary()))
        metadata = dict(table.schema.metadata or {})
        metadata[b"geo"] = json.dumps(_geo_metadata(geometries, column), separators=(",", ":")).encode()
        table = table.replace_schema_metadata(metadata)
    # No timestamp is written: created_by names the library version only, so the bytes repeat.
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def _json_value(value: object) -> object:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _write_geojson(frame: pl.DataFrame, spec: DatasetSpec, path: Path) -> None:
    geometries = _geometries(spec, frame)
    properties = _iso_times(
        frame.drop(spec.geometry.column) if spec.geometry and spec.geometry.column else frame
    )
    features = [
        {
            "type": "Feature",
            "properties": {k: _json_value(v) for k, v in row.items()},
            "geometry": shapely.geometry.mapping(g) if g is not None else None,
        }
        for row, g in zip(properties.iter_rows(named=True), geometries, strict=True)
    ]
    collection = {"type": "FeatureCollection", "name": spec.id, "features": features}
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def write_dataset(cleared: Cleared, folder: Path) -> list[dict]:
    """Write a dataset the gate cleared into ``folder``/<id>/: CSV and Parquet, or CSV, GeoParquet
    and GeoJSON when spatial. Returns the files with their format, media type, size and sha256."""
    if not isinstance(cleared, Cleared):
        raise TypeError("a release writes only datasets cleared by observatory.releases.privacy.gate()")
    spec, frame = cleared.dataset, cleared.frame
    target = folder / spec.id
    target.mkdir()
    spatial = spec.geometry is not None
    writers = [
        ("csv", _write_csv, "csv"),
        ("geoparquet" if spatial else "parquet", _write_parquet, "parquet"),
    ]
    if spatial:
        writers.append(("geojson", _write_geojson, "geojson"))
    files = []
    for fmt, writer, suffix in writers:
        path = target / f"{spec.id}.{suffix}"
        writer(frame, spec, path)
        files.append(
            {
                "path": path.relative_to(folder).as_posix(),
                "format": fmt,
                "media_type": MEDIA_TYPES[fmt],
                "bytes": path.stat().st_size,
                "sha256": _sha256(path),
            }
        )
    return files


# --- the manifest -------------------------------------------------------------------------------


def _temporal(spec: DatasetSpec, frame: pl.DataFrame) -> dict:
    temporal = spec.temporal
    if temporal.column is None:
        return {
            k: v.isoformat() for k, v in (("start", temporal.start), ("end", temporal.end)) if v is not None
        }
    series = frame[temporal.column].drop_nulls()
    if series.len() == 0:
        return {}
    low, high = series.min(), series.max()
    if isinstance(low, str):  # yearmonth
        return {"start": f"{low}-01", "end": f"{high}-01"}
    if isinstance(low, int):  # year
        return {"start": f"{low}-01-01", "end": f"{high}-12-31"}
    as_date = (lambda v: v.date()) if isinstance(low, dt.datetime) else (lambda v: v)
    return {"start": as_date(low).isoformat(), "end": as_date(high).isoformat()}


def _spatial(spec: DatasetSpec) -> dict | None:
    if spec.spatial is None:
        return None
    return {"uri": spec.spatial.uri, "label": spec.spatial.label, "bbox": list(spec.spatial.bbox)}


def _upstream(spec: DatasetSpec) -> list[dict]:
    from observatory.territory.registry import REGISTRY

    return [
        {
            "name": n,
            "attribution": REGISTRY[n].attribution,
            "licence": REGISTRY[n].licence,
            "url": REGISTRY[n].url,
        }
        for n in spec.upstream
    ]


def _described(spec: DatasetSpec, status: str, reason: str | None = None) -> dict:
    return {
        "id": spec.id,
        "status": status,
        "reason": reason,
        "title": dict(spec.title),
        "description": dict(spec.description),
        "themes": list(spec.themes),
        "keywords": {lang: list(words) for lang, words in spec.keywords.items()},
        "licence": {"id": spec.licence.id, "title": spec.licence.title, "url": spec.licence.url},
        "attribution": spec.attribution,
        "upstream": _upstream(spec),
        "frequency": spec.frequency,
        "spatial": _spatial(spec),
        "privacy": {"class": spec.privacy.cls},
    }


def _published_entry(cleared: Cleared, files: list[dict], change: dict) -> dict:
    spec, frame = cleared.dataset, cleared.frame
    geometry = None
    if spec.geometry is not None:
        geometry = (
            {"column": spec.geometry.column}
            if spec.geometry.column
            else {"lon": spec.geometry.lon, "lat": spec.geometry.lat}
        )
    privacy = {"class": spec.privacy.cls}
    if spec.privacy.cls == "aggregated-only":
        privacy |= {"min_contributors": spec.privacy.min_contributors, "suppressed": cleared.suppressed}
    if cleared.coarsened:
        privacy |= {"coarsen": spec.privacy.coarsen, "coarsened": cleared.coarsened}
    if cleared.pseudonymised:
        privacy["pseudonymised"] = list(cleared.pseudonymised)
    columns = [
        {"name": c.name, "type": c.type, "unit": c.unit, "description": dict(c.description)}
        for c in spec.columns
        if c.name in frame.columns
    ]
    return _described(spec, "published") | {
        "privacy": privacy,
        "temporal": _temporal(spec, frame),
        "geometry": geometry,
        "key": list(spec.key),
        "rows": frame.height,
        "columns": columns,
        "files": files,
        "changes": change,
    }


def _catalog_entry(catalog: Catalog, base_url: str) -> dict:
    def agent(a) -> dict:
        return {"name": a.name, "uri": a.uri, "email": a.email, "url": a.url}

    return {
        "title": dict(catalog.title),
        "description": dict(catalog.description),
        "publisher": agent(catalog.publisher),
        "contact": agent(catalog.contact),
        "base_url": base_url,
        "homepage": catalog.homepage,
        "licence": {"id": catalog.licence.id, "title": catalog.licence.title, "url": catalog.licence.url},
        "spatial": {
            "uri": catalog.spatial.uri,
            "label": catalog.spatial.label,
            "bbox": list(catalog.spatial.bbox),
        },
    }


# --- the release --------------------------------------------------------------------------------


def data_time(warehouse: Warehouse) -> dt.date | None:
    """The date of the newest reading, hourly aggregate or report in the warehouse (UTC), if any."""
    newest = warehouse.con.execute(
        "SELECT max(t) FROM (SELECT max(time)::TIMESTAMP AS t FROM readings UNION ALL "
        "SELECT max(hour) FROM readings_hourly UNION ALL SELECT max(time)::TIMESTAMP FROM reports)"
    ).fetchone()[0]
    return newest.date() if newest is not None else None


def _issued(issued: dt.date | str | None, warehouse: Warehouse) -> dt.date:
    if isinstance(issued, dt.datetime):
        return issued.date()
    if isinstance(issued, dt.date):
        return issued
    if issued:
        try:
            return dt.date.fromisoformat(str(issued)[:10])
        except ValueError:
            raise ParameterError(
                f"{issued!r} is not a date", parameter="--issued", hint="Use YYYY-MM-DD."
            ) from None
    found = data_time(warehouse)
    if found is None:
        raise ParameterError(
            "the warehouse holds no dated data to take the release date from",
            parameter="--issued",
            hint="Give the release date: --issued YYYY-MM-DD.",
        )
    return found


def _chosen(catalog: Catalog, ids: Sequence[str] | None) -> tuple[list[DatasetSpec], list[DatasetSpec]]:
    """(datasets to build, restricted datasets left out). A restricted dataset named explicitly is
    built, so that the gate refuses it with its reason."""
    if ids:
        return [catalog.dataset(i) for i in dict.fromkeys(ids)], []
    built = [d for d in catalog.datasets if d.privacy.cls != "restricted"]
    return built, [d for d in catalog.datasets if d.privacy.cls == "restricted"]


def _point_latest(out: Path) -> None:
    """Point ``latest`` at the newest version (a relative symlink, replaced atomically)."""
    newest = list_releases(out)[-1]
    link = out / LATEST
    staged = out / f".{LATEST}.{os.getpid()}"
    staged.unlink(missing_ok=True)
    os.symlink(newest, staged)
    os.replace(staged, link)


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def build_release(
    version: str,
    out_dir: str | Path | None = None,
    *,
    warehouse: Warehouse | str | Path | None = None,
    catalog: Catalog | None = None,
    datasets: Sequence[str] | None = None,
    issued: dt.date | str | None = None,
    base_url: str | None = None,
    key_file: str | Path | None = None,
    config: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> Release:
    """Build release ``version`` into ``out_dir`` (default ``<data dir>/releases``): all of it, or nothing.

    Every catalogue dataset (or those named in ``datasets``) is produced from the warehouse or its
    producer, passed through the privacy gate and written; restricted datasets are left out with
    their reason, and one named explicitly is refused (PrivacyError). ``issued`` fixes the release
    date (default: the warehouse's newest data time); ``base_url`` overrides the catalogue's
    address for download URLs; ``key_file`` holds the pseudonymisation key.
    """
    config = config or settings()
    out = Path(out_dir) if out_dir is not None else releases_dir(config)
    check_version(version, out)
    catalog = catalog or load_catalog()
    chosen, left_out = _chosen(catalog, datasets)
    own = not isinstance(warehouse, Warehouse)
    store = Warehouse.open(warehouse, read_only=True, config=config) if own else warehouse
    try:
        when = _issued(issued, store)
        key = load_key(config, key_file)
        personal = PersonalValues.from_warehouse(store)
        cleared = []
        for spec in chosen:
            if progress is not None:
                progress(spec.id)
            check_publishable(spec)  # before its query runs
            cleared.append(
                gate(spec, _sorted_by_key(spec, produce(spec, store, config)), personal, key, config)
            )
    finally:
        if own:
            store.close()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".partial", dir=out))
    try:
        manifest = _assemble(version, when, out, staging, catalog, cleared, left_out, base_url)
        _write_metadata(staging, manifest)
        staging.chmod(0o755)
        check_version(version, out)  # a concurrent build may have published it meanwhile
        os.rename(staging, out / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_latest(out)
    return Release(version, out / version, manifest)


def _assemble(
    version: str,
    issued: dt.date,
    out: Path,
    staging: Path,
    catalog: Catalog,
    cleared: list[Cleared],
    left_out: list[DatasetSpec],
    base_url: str | None,
) -> dict:
    """Write every dataset into ``staging`` and return the release's manifest."""
    earlier = [v for v in list_releases(out) if version_key(v) < version_key(version)]
    previous = earlier[-1] if earlier else None
    previous_manifest = read_manifest(out / previous) if previous else None
    entries = []
    for item in sorted(cleared, key=lambda c: c.dataset.id):
        files = write_dataset(item, staging)
        old = changes.read_previous(out / previous if previous else None, previous_manifest, item.dataset.id)
        entries.append(_published_entry(item, files, changes.diff(old, item.frame, item.dataset.key)))
    for spec in sorted(left_out, key=lambda s: s.id):
        entries.append(_described(spec, "not-published", f"restricted: {spec.privacy.reason}"))
    url = base_url or catalog.base_url
    return {
        "version": version,
        "issued": issued.isoformat(),
        "previous": previous,
        "catalog": _catalog_entry(catalog, url if url.endswith("/") else url + "/"),
        "datasets": sorted(entries, key=lambda d: d["id"]),
        "removed": changes.removed_datasets(previous_manifest, [c.dataset.id for c in cleared]),
    }


def _write_metadata(staging: Path, manifest: dict) -> None:
    from observatory.releases import dcat, frictionless

    _write_json(staging / MANIFEST, manifest)
    _write_json(staging / "changes.json", _changes_json(manifest))
    (staging / "CHANGELOG.md").write_text(changes.markdown(manifest), encoding="utf-8")
    _write_json(staging / "datapackage.json", frictionless.datapackage(manifest))
    dcat.write(manifest, staging)


def _changes_json(manifest: dict) -> dict:
    return {
        "version": manifest["version"],
        "previous": manifest["previous"],
        "datasets": {d["id"]: d["changes"] for d in manifest["datasets"] if d["status"] == "published"},
        "removed": manifest["removed"],
        "not_published": {d["id"]: d["reason"] for d in manifest["datasets"] if d["status"] != "published"},
    }
