"""Builders of the open-data portal: the releases on disk, search of their datasets by keyword and
theme, metadata and licence, files with their sha256 (links to the server's /releases route), a
preview table and a map drawn without tiles."""

from __future__ import annotations

import html
import unicodedata
from pathlib import Path
from urllib.parse import urlencode

import geoviews as gv
import geoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh plotting classes)
import holoviews as hv
import pandas as pd
import polars as pl

from observatory.config import Settings, settings
from observatory.i18n import t
from observatory.releases.build import list_releases, read_manifest, releases_dir
from observatory.views.maps import SEQUENTIAL_CMAP, choropleth

PREVIEW_ROWS = 100
RELEASES_ROUTE = "./releases"  # the static route of `observatory serve`, relative to an app's page
METADATA_FILES = ("datapackage.json", "catalog.ttl", "catalog.jsonld", "CHANGELOG.md", "changes.json")
_UNITS = ("B", "kB", "MB", "GB")


def releases_folder(config: Settings | None = None) -> Path:
    """The folder the server publishes under /releases."""
    return releases_dir(config or settings())


def versions(folder: Path) -> list[str]:
    """Published versions, newest first."""
    return list(reversed(list_releases(folder)))


def load_release(folder: Path, version: str | None = None) -> dict | None:
    """The manifest of ``version`` (default and unknown: the newest), or None when nothing is published."""
    found = versions(folder)
    if not found:
        return None
    return read_manifest(folder / (version if version in found else found[0]))


def _plain(text: str) -> str:
    """Lower case without accents, for matching ('Séisme' finds 'seisme')."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def _haystack(dataset: dict) -> str:
    parts = [dataset["id"], *dataset["title"].values(), *dataset["description"].values()]
    parts += [w for words in dataset["keywords"].values() for w in words]
    parts += [c["name"] for c in dataset.get("columns", [])]
    parts += [t(f"theme_{code}", lang) for code in dataset["themes"] for lang in ("fr", "en", "es", "de")]
    return _plain(" ".join(parts))


def search(manifest: dict, text: str = "", theme: str = "") -> list[dict]:
    """Published datasets holding every word of ``text`` (title, description, keywords, columns,
    themes, in any language, accents ignored) and, when given, the theme code ``theme``."""
    words = _plain(text).split()
    found = []
    for dataset in manifest["datasets"]:
        if dataset["status"] != "published" or (theme and theme not in dataset["themes"]):
            continue
        haystack = _haystack(dataset)
        if all(w in haystack for w in words):
            found.append(dataset)
    return found


def themes_in(manifest: dict) -> list[str]:
    """Theme codes used by the release's published datasets."""
    return sorted({c for d in manifest["datasets"] if d["status"] == "published" for c in d["themes"]})


def text_of(values: dict, language: str) -> str:
    """A text in ``language``, else English, else French."""
    return values.get(language) or values.get("en") or values["fr"]


def file_url(manifest: dict, file: dict) -> str:
    """Where the server serves a release file (relative to an app's page)."""
    return f"{RELEASES_ROUTE}/{manifest['version']}/{file['path']}"


def human_size(size: int) -> str:
    """Bytes as B, kB, MB or GB (powers of 1000)."""
    value, unit = float(size), _UNITS[0]
    for unit in _UNITS:
        if value < 1000 or unit == _UNITS[-1]:
            break
        value /= 1000
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


def _link(params: dict[str, str]) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


def results_html(
    datasets: list[dict], language: str, query: str = "", theme: str = "", version: str = ""
) -> str:
    """The list of found datasets: each title links to the dataset's page (``?dataset=ID``)."""
    if not datasets:
        return f"<p class='portal-no-result'>{html.escape(t('portal_no_result', language))}</p>"
    items = []
    for dataset in datasets:
        href = _link(
            {"dataset": dataset["id"], "q": query, "theme": theme, "version": version, "lang": language}
        )
        themes = ", ".join(t(f"theme_{c}", language) for c in dataset["themes"])
        items.append(
            f"<li class='portal-result' data-dataset='{html.escape(dataset['id'])}'>"
            f"<a class='dataset-link' href='{html.escape(href)}'>{html.escape(text_of(dataset['title'], language))}</a>"
            f"<br><small>{html.escape(themes)} · {dataset['rows']} {html.escape(t('portal_rows', language).lower())}"
            f" · {html.escape(dataset['licence']['id'])}</small></li>"
        )
    count = t("portal_results", language, count=len(datasets))
    return f"<p class='portal-count'>{html.escape(count)}</p><ul class='portal-results'>{''.join(items)}</ul>"


def _row(label: str, value: str) -> str:
    return f"<tr><th>{html.escape(label)}</th><td>{value}</td></tr>"


def _coverage(dataset: dict, language: str) -> tuple[str, str]:
    temporal = dataset.get("temporal") or {}
    when = " – ".join(temporal[k] for k in ("start", "end") if k in temporal) or "—"
    spatial = dataset.get("spatial") or {}
    where = spatial.get("label", "—")
    if spatial.get("bbox"):
        where += " [" + ", ".join(f"{v:g}" for v in spatial["bbox"]) + "]"
    return html.escape(when), html.escape(where)


def _privacy(dataset: dict, language: str) -> str:
    privacy = dataset["privacy"]
    text = html.escape(t(f"privacy_{privacy['class'].replace('-', '_')}", language))
    if privacy.get("suppressed"):
        note = t(
            "portal_suppressed", language, cells=privacy["suppressed"], threshold=privacy["min_contributors"]
        )
        text += f"<br><small>{html.escape(note)}</small>"
    return text


def metadata_html(manifest: dict, dataset: dict, language: str) -> str:
    """Title, description, licence and attribution, coverage, frequency, privacy and changes."""
    licence = dataset["licence"]
    credits = [u["attribution"] for u in dataset["upstream"]] + (
        [dataset["attribution"]] if dataset.get("attribution") else []
    )
    when, where = _coverage(dataset, language)
    change = dataset["changes"]
    rows = [
        _row(
            t("portal_licence", language),
            f"<a class='licence' href='{html.escape(licence['url'])}' rel='license'>{html.escape(licence['title'])}</a> ({html.escape(licence['id'])})",
        ),
        _row(t("portal_attribution", language), "<br>".join(html.escape(c) for c in credits) or "—"),
        _row(
            t("portal_themes", language),
            html.escape(", ".join(t(f"theme_{c}", language) for c in dataset["themes"])),
        ),
        _row(
            t("portal_keywords", language),
            html.escape(", ".join(dataset["keywords"].get(language) or dataset["keywords"]["en"])),
        ),
        _row(t("portal_temporal", language), when),
        _row(t("portal_spatial", language), where),
        _row(t("portal_frequency", language), html.escape(t(f"frequency_{dataset['frequency']}", language))),
        _row(t("portal_privacy", language), _privacy(dataset, language)),
        _row(t("portal_rows", language), str(dataset["rows"])),
    ]
    changes = ""
    if manifest.get("previous"):
        text = t(
            "portal_changes",
            language,
            added=change["added"],
            removed=change["removed"],
            changed=change["changed"],
        )
        changes = f"<p class='portal-changes'>{html.escape(text)}</p>"
    return (
        f"<h2 class='dataset-title'>{html.escape(text_of(dataset['title'], language))}</h2>"
        f"<p class='dataset-description'>{html.escape(text_of(dataset['description'], language))}</p>"
        f"{changes}<table class='dataset-metadata'>{''.join(rows)}</table>"
    )


def files_html(manifest: dict, dataset: dict, language: str) -> str:
    """Each file of the dataset with its format, size, sha256 and a download link."""
    head = "".join(
        f"<th>{html.escape(t(k, language))}</th>"
        for k in ("portal_format", "portal_size", "portal_sha256", "portal_download")
    )
    rows = []
    for file in dataset["files"]:
        name = file["path"].rsplit("/", 1)[-1]
        rows.append(
            f"<tr class='dataset-file' data-format='{html.escape(file['format'])}'>"
            f"<td>{html.escape(file['format'])}</td><td>{html.escape(human_size(file['bytes']))}</td>"
            f"<td><code class='sha256'>{html.escape(file['sha256'])}</code></td>"
            f"<td><a class='download' href='{html.escape(file_url(manifest, file))}' download='{html.escape(name)}'>{html.escape(name)}</a></td></tr>"
        )
    return f"<h3>{html.escape(t('portal_files', language))}</h3><table class='dataset-files'><tr>{head}</tr>{''.join(rows)}</table>"


def columns_html(dataset: dict, language: str) -> str:
    """The published columns: name, type, unit and description."""
    keys = ("portal_column", "portal_type", "portal_unit", "portal_description")
    head = "".join(f"<th>{html.escape(t(k, language))}</th>" for k in keys)
    rows = "".join(
        f"<tr><td><code>{html.escape(c['name'])}</code></td><td>{html.escape(c['type'])}</td>"
        f"<td>{html.escape(c.get('unit') or '')}</td><td>{html.escape(text_of(c['description'], language))}</td></tr>"
        for c in dataset["columns"]
    )
    return f"<h3>{html.escape(t('portal_columns', language))}</h3><table class='dataset-columns'><tr>{head}</tr>{rows}</table>"


def release_html(manifest: dict, language: str) -> str:
    """The release shown (version, date) and links to its metadata files."""
    line = t("portal_release", language, version=manifest["version"], issued=manifest["issued"])
    links = " · ".join(
        f"<a class='release-file' href='{RELEASES_ROUTE}/{html.escape(manifest['version'])}/{name}'>{name}</a>"
        for name in METADATA_FILES
    )
    return f"<p class='portal-release'>{html.escape(line)}<br><small>{html.escape(t('portal_metadata', language))} {links}</small></p>"


def _parquet(folder: Path, manifest: dict, dataset: dict) -> Path:
    file = next(f for f in dataset["files"] if f["format"] in ("parquet", "geoparquet"))
    return folder / manifest["version"] / file["path"]


def preview_frame(folder: Path, manifest: dict, dataset: dict, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The dataset's first ``rows`` rows as published (geometry columns left out)."""
    names = [c["name"] for c in dataset["columns"] if c["type"] != "geometry"]
    frame = pl.read_parquet(_parquet(folder, manifest, dataset), columns=names, n_rows=rows)
    return frame.to_pandas()


def map_values(dataset: dict) -> list[str]:
    """Numeric columns a map of the dataset can colour by (coordinates left out)."""
    return [
        c["name"]
        for c in dataset["columns"]
        if c["type"] in ("number", "integer") and c["name"] not in ("lon", "lat")
    ]


def preview_map(
    folder: Path, manifest: dict, dataset: dict, language: str, value: str | None = None
) -> hv.Element | None:
    """The dataset on a map, polygons or points (over the island's outline) coloured by ``value``
    (default: its last numeric column), with no tiles; None when it is not spatial or has no row."""
    import geopandas as gpd

    from observatory.territory.communes import island

    if not dataset.get("geometry") or not dataset["rows"]:
        return None
    frame = gpd.read_parquet(_parquet(folder, manifest, dataset))
    title = text_of(dataset["title"], language)
    numbers = map_values(dataset)
    value = value if value in numbers else (numbers[-1] if numbers else None)
    if dataset["geometry"].get("column") and {"insee", "name"} <= set(frame.columns) and value:
        column = next(c for c in dataset["columns"] if c["name"] == value)
        label = text_of(column["description"], language) + (
            f" ({column['unit']})" if column.get("unit") else ""
        )
        hover = [(c, c) for c in numbers if c != value]
        return choropleth(
            frame, value, label=label, title=title, language=language, hover=hover, width=640, height=560
        )
    lon, lat = dataset["geometry"].get("lon", "lon"), dataset["geometry"].get("lat", "lat")
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    others = [
        c["name"] for c in dataset["columns"] if c["name"] not in (lon, lat) and c["type"] != "geometry"
    ]
    points = gv.Points(table, kdims=[lon, lat], vdims=others).opts(
        color=value or "#0b4f8a",
        cmap=SEQUENTIAL_CMAP,
        colorbar=bool(value),
        size=8,
        tools=["hover"],
        width=640,
        height=560,
        title=title,
        xaxis=None,
        yaxis=None,
        active_tools=["wheel_zoom"],
    )
    outline = gv.Polygons(island()[["geometry"]]).opts(
        fill_color="#eef1f4", line_color="#8c959f", line_width=0.8
    )
    return outline * points
