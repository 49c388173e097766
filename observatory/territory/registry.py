"""The registry of upstream reference files (URL, sha256, licence) and their checked retrieval.

A file is taken from the mirror folder (``OBSERVATORY_DATA_MIRROR``) when set, otherwise from its
original URL; it lands in the data directory only once its sha256 matches the registry's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from observatory.config import Settings, settings
from observatory.errors import ChecksumError, ParameterError, ReferenceDataError, did_you_mean

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class UpstreamFile:
    """One reference file as published upstream, with what is needed to check and credit it."""

    name: str
    filename: str
    url: str
    sha256: str
    size_bytes: int
    licence: str
    attribution: str
    description: str
    derived_from: str | None = None  # for a file cut from a larger upstream: what and how


_FRANCE_GEOJSON = (
    "https://raw.githubusercontent.com/gregoiredavid/france-geojson/"
    "5d34ee6d0140c29f785fdb047d9329f1aab58833/departements/972-martinique/"
)

REGISTRY: dict[str, UpstreamFile] = {
    f.name: f
    for f in (
        UpstreamFile(
            name="communes",
            filename="martinique_communes_france-geojson.geojson",
            url=_FRANCE_GEOJSON + "communes-972-martinique.geojson",
            sha256="a8c1020f3a9e5ffe75b80fc8521b75814d13a86251ed353e9b6f42ed7acd61aa",
            size_bytes=123467,
            licence="Licence Ouverte / Etalab",
            attribution="IGN Admin Express COG 2018; INSEE COG 2018; via gregoiredavid/france-geojson",
            description="Boundaries of the 34 communes of Martinique (WGS84, simplified), INSEE code and IGN name",
        ),
        UpstreamFile(
            name="island",
            filename="martinique_departement_france-geojson.geojson",
            url=_FRANCE_GEOJSON + "departement-972-martinique.geojson",
            sha256="8a94622d20e603bd2af76f5ef4f921617b383f14295ff3a40b749f27e32aff0c",
            size_bytes=48942,
            licence="Licence Ouverte / Etalab",
            attribution="IGN Admin Express COG 2018; via gregoiredavid/france-geojson",
            description="Outline of the island (département 972), MultiPolygon of 27 parts",
        ),
        UpstreamFile(
            name="population",
            filename="martinique_population_legale_2021_insee.csv",
            url=(
                "https://raw.githubusercontent.com/etalab/decoupage-administratif/"
                "360b6b29d0f619dfeaecfdb61a189f2958b300e0/sources/donnees_communes.csv"
            ),
            sha256="5d109f445172032eb0d129caa3cc57fa81c9650ae586cce6187962f923465146",
            size_bytes=2132,
            licence="Licence Ouverte / Etalab",
            attribution="INSEE, Populations légales 2021 (https://www.insee.fr/fr/statistiques/7739582)",
            description="INSEE legal populations 2021 (2023 geography) of the 34 communes",
            derived_from=(
                "Extract of the national file at the URL: its header line and the 34 lines with "
                "DEP=972, copied verbatim (';'-separated, UTF-8, CRLF)."
            ),
        ),
        UpstreamFile(
            name="hurdat2",
            filename="hurdat2-1851-2025-02272026.txt",
            url="https://www.nhc.noaa.gov/data/hurdat/hurdat2-1851-2025-02272026.txt",
            sha256="1b9b0c7beed5b4505838658b1d30e159fc84330c60891a58cfcf43ae55c37202",
            size_bytes=7082381,
            licence="Public domain (US Government work)",
            attribution="NOAA National Hurricane Center, HURDAT2 Atlantic best track 1851-2025",
            description="Atlantic hurricane best tracks 1851-2025 (release of 2026-02-27)",
        ),
        UpstreamFile(
            name="srtm250",
            filename="martinique_srtm250m_points.xyz",
            url=(
                "https://raw.githubusercontent.com/Fab-Lab-Sud31-Val-d-Ariege/MartiniqueHM/"
                "65401cc4af7d29e028b9ac8f5ed27b962bada7ad/src/lib_srtmfiles/Test/roi.xyz"
            ),
            sha256="9517dc0bf162db47bc71507bde857557d55b029ba69a68f8afc74db28dc46f1b",
            size_bytes=436216,
            licence="CGIAR-CSI SRTM terms of use (non-commercial redistribution); repository GPL-3.0",
            attribution="CGIAR-CSI SRTM 250 m, extracted by Fab-Lab-Sud31-Val-d-Ariege/MartiniqueHM",
            description="Land elevation points 'lon lat z_m' at about 230 m spacing",
        ),
        UpstreamFile(
            name="earthquakes_ncei",
            filename="noaa_ncei_significant_earthquakes_2014.tsv",
            url=(
                "https://raw.githubusercontent.com/davidnbresch/climada_module_earthquake_volcano/"
                "53816460aab352a1e082f6e7760b26c05a5d4389/data/epicenters/signif.txt.tsv"
            ),
            sha256="122e0e242803869631c80ff42e682f89b4a3bd1622a7574f2314d9ca24ee5dcc",
            size_bytes=773482,
            licence="Public domain (US Government data)",
            attribution="NOAA NGDC/NCEI Global Significant Earthquake Database (export of Oct 2014)",
            description="Significant earthquakes worldwide, -2150 to 2014, with effects",
        ),
        UpstreamFile(
            name="iscgem",
            filename="iscgem_v7_lesser_antilles_10-19N_65-57W.csv",
            url=(
                "https://raw.githubusercontent.com/nicolepaul/30-day-map-challenge/"
                "919bb7ae967e4365eff3b7e07034f72f1059606f/data/etc/isc-gem/isc-gem-cat.kmz"
            ),
            sha256="b72cc842b6a9bbf8ad025989b78da80db4a8ef687793f63edccf630bf57050ad",
            size_bytes=8195,
            licence="CC-BY-SA 3.0 (unported)",
            attribution=(
                "ISC and GEM Foundation, ISC-GEM Global Instrumental Earthquake Catalogue v7.0, "
                "DOI 10.31905/D808B825 (Storchak et al. 2013, 2015; Di Giacomo et al. 2018)"
            ),
            description="ISC-GEM v7.0 events in lat 10-19N, lon 65-57W (117 events, 1910-2016)",
            derived_from=(
                "Subset of the global ISC-GEM v7.0 catalogue in the KMZ at the URL: every placemark "
                "description parsed, events with 10<=lat<=19 and -65<=lon<=-57 kept, written as CSV "
                "(eventid, origin_time_utc, lat, lon, epicentre_quality, depth_km, depth_quality, "
                "mw, mw_type, mw_quality). The URL's bytes differ from this file: only a mirror "
                "holding the subset can serve it."
            ),
        ),
        UpstreamFile(
            name="electricity_mq",
            filename="electricitymaps_zone_MQ.yaml",
            url=(
                "https://raw.githubusercontent.com/electricitymaps/electricitymaps-contrib/"
                "b354f28aad434182bf591c51481e7eded62306cf/config/zones/MQ.yaml"
            ),
            sha256="a0508a557decd6f7879741f61e3ace56c9b52f5df582ef7f81d7347cbd7bb493",
            size_bytes=5119,
            licence="GNU AGPL-3.0 (repository); capacities cite EDF SEI open data",
            attribution="Electricity Maps zone configuration MQ; EDF SEI (opendata-martinique.edf.fr)",
            description="Installed capacity by source (MW) and yearly production-mix shares for Martinique",
        ),
    )
}


def upstream(name: str) -> UpstreamFile:
    """Return the registry entry called ``name`` (with a did-you-mean error otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"no reference file named {name!r}", parameter="name", hint=did_you_mean(name, REGISTRY)
        ) from None


def sha256_of(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_from_mirror(entry: UpstreamFile, mirror: Path, target: Path) -> bool:
    source = mirror / entry.filename
    if not source.is_file():
        return False
    shutil.copyfile(source, target)
    return True


def _download(entry: UpstreamFile, target: Path, timeout_s: float = 60.0) -> None:
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout_s) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK_BYTES)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ReferenceDataError(
            f"cannot download {entry.name} from {entry.url}: {exc}",
            path=entry.filename,
            hint="Set OBSERVATORY_DATA_MIRROR to a folder holding the reference files (e.g. ../shared/data).",
        ) from exc


def fetch(name: str, config: Settings | None = None) -> Path:
    """Return the local path of reference file ``name``, retrieving and checking it once.

    The file is written to a temporary name beside its target and renamed only after its
    sha256 matched: an interrupted or refused retrieval leaves nothing behind.
    """
    entry = upstream(name)
    config = config or settings()
    target = config.reference_dir / entry.filename
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.filename}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        origin = str(config.data_mirror / entry.filename) if config.data_mirror else entry.url
        if not (config.data_mirror and _copy_from_mirror(entry, config.data_mirror, tmp)):
            if config.data_mirror:
                raise ReferenceDataError(
                    f"the mirror {config.data_mirror} has no {entry.filename}",
                    path=config.data_mirror / entry.filename,
                    hint="Add the file to the mirror or unset OBSERVATORY_DATA_MIRROR to download it.",
                )
            _download(entry, tmp)
        actual = sha256_of(tmp)
        if actual != entry.sha256:
            raise ChecksumError(
                f"sha256 {actual} differs from the registry's {entry.sha256}; the file was refused",
                path=origin,
                hint="The upstream file changed or the copy is damaged: check the source, do not edit the registry blindly.",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch_all(
    config: Settings | None = None, progress: Callable[[UpstreamFile], None] | None = None
) -> dict[str, Path]:
    """Fetch every registered file; returns name -> local path."""
    paths = {}
    for name, entry in REGISTRY.items():
        if progress is not None:
            progress(entry)
        paths[name] = fetch(name, config)
    return paths
