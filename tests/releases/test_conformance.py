"""A release against the standards portals harvest: `frictionless validate` on its datapackage.json
(offline) and the official DCAT-AP 3.0.0 SHACL shapes (shared/conformance) on its catalogue."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

pytestmark = pytest.mark.conformance

DCAT = "http://www.w3.org/ns/dcat#"
SPDX = "http://spdx.org/rdf/terms#"


def _conformance_dir() -> Path:
    configured = os.environ.get("OBSERVATORY_CONFORMANCE_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "conformance"


SHAPES_DIR = _conformance_dir() / "dcat-ap" / "shacl" / "3.0.0"


def _shapes(name: str) -> Graph:
    path = SHAPES_DIR / name
    if not path.is_file():
        pytest.skip(f"the DCAT-AP shapes are not at {path}")
    return Graph().parse(path, format="turtle")


def _conforms(data: Graph, shapes: Graph) -> tuple[bool, str]:
    from pyshacl import validate

    conforms, _, text = validate(data, shacl_graph=shapes, inference="none", allow_warnings=False)
    return conforms, text


def _frictionless(package: Path):
    from frictionless import validate

    return validate(str(package))


def test_frictionless_validates_the_datapackage_offline(release):
    package = release.path / "datapackage.json"
    descriptor = json.loads(package.read_text())
    assert "profile" not in descriptor and "$schema" not in descriptor  # nothing to fetch
    report = _frictionless(package)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert len(report.tasks) == 16  # every CSV checked against its schema, every other file by size and hash


def test_the_frictionless_command_agrees(release):
    command = Path(sys.executable).with_name("frictionless")
    result = subprocess.run(
        [str(command), "validate", "datapackage.json"],
        cwd=release.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]


def test_frictionless_catches_a_tampered_file(release, tmp_path):
    copy = Path(shutil.copytree(release.path, tmp_path / "copy"))
    csv = copy / "communes" / "communes.csv"
    csv.write_bytes(csv.read_bytes().replace(b"97209,Fort-de-France", b"97209,Fort-de-Franse"))
    report = _frictionless(copy / "datapackage.json")
    assert not report.valid
    assert {e.type for task in report.tasks for e in task.errors} >= {"hash-count"}


@pytest.mark.parametrize("shapes", ["shapes.ttl", "range.ttl"])
def test_the_catalogue_conforms_to_dcat_ap_3(release, shapes):
    data = Graph().parse(release.path / "catalog.ttl", format="turtle")
    conforms, text = _conforms(data, _shapes(shapes))
    assert conforms, text


@pytest.mark.parametrize(
    ("shapes", "damage"),
    [
        ("shapes.ttl", "byte_size_as_integer"),
        ("shapes.ttl", "checksum_as_string"),
        ("range.ttl", "untyped_licence"),
    ],
)
def test_the_shapes_catch_a_damaged_catalogue(release, shapes, damage):
    data = Graph().parse(release.path / "catalog.ttl", format="turtle")
    distribution = next(data.subjects(URIRef(f"{DCAT}byteSize"), None))
    if damage == "byte_size_as_integer":
        size = data.value(distribution, URIRef(f"{DCAT}byteSize"))
        data.set((distribution, URIRef(f"{DCAT}byteSize"), Literal(int(size.toPython()))))
    elif damage == "checksum_as_string":
        checksum = data.value(distribution, URIRef(f"{SPDX}checksum"))
        value = data.value(checksum, URIRef(f"{SPDX}checksumValue"))
        data.set((checksum, URIRef(f"{SPDX}checksumValue"), Literal(str(value))))
    else:
        licence = data.value(distribution, URIRef("http://purl.org/dc/terms/license"))
        data.remove((licence, None, None))
    conforms, _ = _conforms(data, _shapes(shapes))
    assert not conforms


def test_every_distribution_carries_version_date_size_checksum_and_licence(release):
    data = Graph().parse(release.path / "catalog.ttl", format="turtle")
    files = {f["path"]: f for d in release.published for f in d["files"]}
    base = release.manifest["catalog"]["base_url"] + release.manifest["version"] + "/"
    seen = set()
    for distribution in data.subjects(URIRef(f"{DCAT}downloadURL"), None):
        url = str(data.value(distribution, URIRef(f"{DCAT}downloadURL")))
        file = files[url.removeprefix(base)]
        checksum = data.value(distribution, URIRef(f"{SPDX}checksum"))
        assert str(data.value(checksum, URIRef(f"{SPDX}checksumValue"))) == file["sha256"]
        assert data.value(distribution, URIRef(f"{DCAT}byteSize")).toPython() == file["bytes"]
        assert data.value(distribution, URIRef("http://purl.org/dc/terms/license")) is not None
        seen.add(url.removeprefix(base))
    assert seen == set(files)
    versions = {str(v) for v in data.objects(None, URIRef(f"{DCAT}version"))}
    assert versions == {"2026.1"}


def test_the_json_ld_says_what_the_turtle_says(release):
    turtle = Graph().parse(release.path / "catalog.ttl", format="turtle")
    with warnings.catch_warnings():  # rdflib 7.6's JSON-LD parser still builds a ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        jsonld = Graph().parse(release.path / "catalog.jsonld", format="json-ld")
    assert len(turtle) > 500 and isomorphic(turtle, jsonld)
