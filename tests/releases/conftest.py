"""Fixtures of the release tests: a small warehouse filled through the real readers, a release built
from it, and a copy of the catalogue that a test may edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from observatory.releases.build import Release, build_release
from observatory.releases.catalog import CATALOG_DIR
from tests.releases.data import build_warehouse

ISSUED = "2026-11-30"


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory) -> Path:
    """Communes, two NGSI-LD stations with three hours of PM10, and an ODK export of 18 reports."""
    return build_warehouse(tmp_path_factory.mktemp("warehouse"))


@pytest.fixture(scope="session")
def release(tmp_path_factory, small_warehouse) -> Release:
    """Release 2026.1 of the repository's catalogue, built from the small warehouse."""
    out = tmp_path_factory.mktemp("releases")
    return build_release("2026.1", out, warehouse=small_warehouse, issued=ISSUED)


@pytest.fixture
def catalog_copy(tmp_path) -> Path:
    """A copy of the repository's catalogue folder, to edit."""
    return Path(shutil.copytree(CATALOG_DIR, tmp_path / "catalog"))


def edit(path: Path, old: str, new: str) -> Path:
    """Replace ``old`` (which must be there) by ``new`` in a catalogue file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path
