"""The release's Frictionless Data Package (``datapackage.json``): one resource per file, the CSV
ones with their Table Schema (types, units, descriptions, primary key), licences, sources, sizes
and sha256 hashes. No remote profile is named, so ``frictionless validate`` runs offline."""

from __future__ import annotations

PACKAGE_NAME = "observatoire-territorial-martinique"
# Table Schema types (specs.frictionlessdata.io/table-schema); geometry travels as WKT text in CSV.
_FIELD_TYPES = {"geometry": "string"}
_FORMAT_TITLES = {"csv": "CSV", "parquet": "Parquet", "geoparquet": "GeoParquet", "geojson": "GeoJSON"}
_LANGUAGE = "fr"  # the observatory's first language; the DCAT catalogue carries fr, en, es, de


def _licence(licence: dict) -> dict:
    return {"name": licence["id"], "path": licence["url"], "title": licence["title"]}


def _field(column: dict, key: list[str]) -> dict:
    description = column["description"][_LANGUAGE]
    if column["type"] == "geometry":
        description += " (WKT, EPSG:4326 lon/lat)"
    field = {
        "name": column["name"],
        "type": _FIELD_TYPES.get(column["type"], column["type"]),
        "description": description,
    }
    if column.get("unit"):
        field["unit"] = column["unit"]
    if column["name"] in key:
        field["constraints"] = {"required": True}
    return field


def _schema(dataset: dict) -> dict:
    key = dataset["key"]
    schema = {"fields": [_field(c, key) for c in dataset["columns"]], "missingValues": [""]}
    if key:
        schema["primaryKey"] = list(key)
    return schema


def _sources(dataset: dict, catalog: dict) -> list[dict]:
    sources = [{"title": u["attribution"], "path": u["url"]} for u in dataset["upstream"]]
    if dataset.get("attribution"):
        sources.append({"title": dataset["attribution"]})
    return sources or [{"title": catalog["publisher"]["name"]}]


def _resource(dataset: dict, file: dict, catalog: dict) -> dict:
    fmt = file["format"]
    resource = {
        "name": f"{dataset['id']}-{fmt}",
        "path": file["path"],
        "title": f"{dataset['title'][_LANGUAGE]} ({_FORMAT_TITLES[fmt]})",
        "description": dataset["description"][_LANGUAGE],
        "format": file["path"].rsplit(".", 1)[-1],
        "mediatype": file["media_type"],
        "bytes": file["bytes"],
        "hash": f"sha256:{file['sha256']}",
        "licenses": [_licence(dataset["licence"])],
        "sources": _sources(dataset, catalog),
    }
    if fmt == "csv":
        resource |= {"type": "table", "encoding": "utf-8", "schema": _schema(dataset)}
    else:
        # Parquet and GeoJSON are checked as files (size and hash): their columns are the CSV's.
        resource |= {"type": "file"}
        if fmt == "geojson":
            resource["encoding"] = "utf-8"
    return resource


def datapackage(manifest: dict) -> dict:
    """The Data Package descriptor of a release manifest (``release.json``)."""
    catalog = manifest["catalog"]
    published = [d for d in manifest["datasets"] if d["status"] == "published"]
    licences = {d["licence"]["id"]: _licence(d["licence"]) for d in published}
    keywords = sorted({w for d in published for w in d["keywords"][_LANGUAGE]})
    publisher = catalog["publisher"]
    contributor = {"title": publisher["name"], "role": "publisher"}
    if publisher.get("uri"):
        contributor["path"] = publisher["uri"]
    return {
        "name": PACKAGE_NAME,
        "id": f"{catalog['base_url']}{manifest['version']}/",
        "title": catalog["title"][_LANGUAGE],
        "description": catalog["description"][_LANGUAGE],
        "version": manifest["version"],
        "created": f"{manifest['issued']}T00:00:00Z",
        "homepage": catalog["homepage"],
        "keywords": keywords,
        "licenses": [licences[k] for k in sorted(licences)],
        "contributors": [contributor],
        "resources": [_resource(d, f, catalog) for d in published for f in d["files"]],
    }
