"""Reference files come from the mirror or upstream, checked by sha256, never half-written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from observatory.config import Settings
from observatory.errors import ChecksumError, ParameterError, ReferenceDataError
from observatory.territory import registry
from observatory.territory.registry import REGISTRY, fetch, sha256_of, upstream

MANIFEST_NAMES = {
    "communes",
    "island",
    "population",
    "hurdat2",
    "srtm250",
    "earthquakes_ncei",
    "iscgem",
    "electricity_mq",
}


@pytest.fixture
def fresh(tmp_path, data_settings) -> Settings:
    return dataclasses.replace(data_settings, data_dir=tmp_path / "data")


def test_the_registry_covers_the_manifest_with_licences(data_settings):
    assert set(REGISTRY) == MANIFEST_NAMES
    manifest = (data_settings.data_mirror / "MANIFEST.md").read_text(encoding="utf-8")
    for entry in REGISTRY.values():
        assert entry.sha256 in manifest and entry.filename in manifest
        assert entry.licence and entry.attribution and entry.url.startswith("https://")
    assert REGISTRY["iscgem"].derived_from and "CC-BY-SA" in REGISTRY["iscgem"].licence


def test_fetch_copies_from_the_mirror_and_checks_the_hash(fresh):
    path = fetch("population", fresh)
    assert path.parent == fresh.reference_dir
    assert sha256_of(path) == REGISTRY["population"].sha256


def test_fetch_all_gets_every_file_once(fresh):
    paths = registry.fetch_all(fresh)
    assert {p.name for p in paths.values()} == {e.filename for e in REGISTRY.values()}
    mtimes = {name: p.stat().st_mtime_ns for name, p in paths.items()}
    again = registry.fetch_all(fresh)
    assert {name: p.stat().st_mtime_ns for name, p in again.items()} == mtimes


def test_a_file_whose_hash_differs_is_refused_and_nothing_is_left(tmp_path, fresh):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    original = (fresh.data_mirror / REGISTRY["population"].filename).read_bytes()
    (mirror / REGISTRY["population"].filename).write_bytes(original.replace(b"1715", b"1716"))
    bad = dataclasses.replace(fresh, data_mirror=mirror)
    with pytest.raises(ChecksumError, match="refused"):
        fetch("population", bad)
    assert not fresh.reference_dir.exists() or list(fresh.reference_dir.iterdir()) == []


def test_a_damaged_local_copy_is_replaced_from_the_mirror(fresh):
    path = fetch("island", fresh)
    path.write_bytes(b"{}")
    assert sha256_of(fetch("island", fresh)) == REGISTRY["island"].sha256


def test_a_mirror_without_the_file_says_so(tmp_path, fresh):
    empty = dataclasses.replace(fresh, data_mirror=tmp_path)
    with pytest.raises(ReferenceDataError, match="has no"):
        fetch("hurdat2", empty)


def test_no_network_means_a_clear_error(monkeypatch, fresh):
    offline = dataclasses.replace(fresh, data_mirror=None)
    entry = dataclasses.replace(REGISTRY["island"], url="http://127.0.0.1:9/island.geojson")
    monkeypatch.setitem(registry.REGISTRY, "island", entry)
    with pytest.raises(ReferenceDataError, match="cannot download island"):
        fetch("island", offline)
    assert not any(Path(offline.reference_dir).glob("*"))


def test_an_unknown_name_suggests_the_closest():
    with pytest.raises(ParameterError, match="Did you mean 'hurdat2'"):
        upstream("hurdat")
