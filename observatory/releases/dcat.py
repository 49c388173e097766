"""The release's DCAT-AP 3 catalogue, in Turtle (``catalog.ttl``) and JSON-LD (``catalog.jsonld``).

Every node has an IRI (no blank nodes, so both files repeat byte for byte), and every resource the
SHACL shapes expect a class of is typed in the graph itself (themes as skos:Concept, licences as
dct:LicenseDocument, ...): the catalogue validates offline against the DCAT-AP 3.0.0 ``shapes.ttl``
and ``range.ttl`` without fetching the EU vocabularies.
"""

from __future__ import annotations

import json
from pathlib import Path

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, SKOS

from observatory.i18n import LANGUAGES, t
from observatory.releases.catalog import FREQUENCY_SCHEME, THEME_SCHEME

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # rdflib's DCAT 2 namespace lacks DCAT 3 terms
SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
EU = "http://publications.europa.eu/resource/authority/"
FILE_TYPES = {"csv": "CSV", "parquet": "PARQUET", "geoparquet": "PARQUET", "geojson": "GEOJSON"}
STANDARDS = {
    "geoparquet": "https://geoparquet.org/releases/v1.1.0/",
    "geojson": "https://www.rfc-editor.org/rfc/rfc7946",
    "csv": "https://www.rfc-editor.org/rfc/rfc4180",
}
CATALOG_LANGUAGES = {"fr": "FRA", "en": "ENG", "es": "SPA", "de": "DEU"}
PREFIXES = {
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "skos": SKOS,
    "vcard": VCARD,
    "spdx": SPDX,
    "adms": ADMS,
    "gsp": GSP,
    "rdfs": RDFS,
    "xsd": XSD,
}


def _date(text: str) -> Literal:
    return Literal(text, datatype=XSD.date)


def _texts(graph: Graph, subject: URIRef, predicate: URIRef, texts: dict) -> None:
    for lang, text in texts.items():
        graph.add((subject, predicate, Literal(text, lang=lang)))


def _typed(graph: Graph, iri: str, *classes: URIRef) -> URIRef:
    node = URIRef(iri)
    for cls in classes:
        graph.add((node, RDF.type, cls))
    return node


def _agents(graph: Graph, catalog: dict) -> tuple[URIRef, URIRef]:
    base = catalog["base_url"]
    publisher = catalog["publisher"]
    agent = _typed(graph, publisher.get("uri") or f"{base}#publisher", FOAF.Agent, FOAF.Organization)
    graph.add((agent, FOAF.name, Literal(publisher["name"])))
    contact_info = catalog["contact"]
    contact = _typed(graph, f"{base}#contact", VCARD.Kind, VCARD.Organization)
    graph.add((contact, VCARD.fn, Literal(contact_info["name"])))
    if contact_info.get("email"):
        graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{contact_info['email']}")))
    url = contact_info.get("url") or catalog["homepage"]
    graph.add((contact, VCARD.hasURL, URIRef(url)))
    return agent, contact


def _licence(graph: Graph, licence: dict) -> URIRef:
    node = _typed(graph, licence["url"], DCTERMS.LicenseDocument)
    graph.add((node, DCTERMS.title, Literal(licence["title"])))
    graph.add((node, DCTERMS.identifier, Literal(licence["id"])))
    return node


def _location(graph: Graph, spatial: dict, fallback: str) -> URIRef:
    node = _typed(graph, spatial.get("uri") or fallback, DCTERMS.Location)
    west, south, east, north = spatial["bbox"]
    polygon = f"POLYGON(({west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}))"
    graph.add((node, DCAT.bbox, Literal(polygon, datatype=GSP.wktLiteral)))
    graph.add((node, SKOS.prefLabel, Literal(spatial["label"])))
    return node


def _theme(graph: Graph, code: str) -> URIRef:
    node = _typed(graph, f"{THEME_SCHEME}/{code}", SKOS.Concept)
    graph.add((node, SKOS.inScheme, URIRef(THEME_SCHEME)))
    for lang in LANGUAGES:
        graph.add((node, SKOS.prefLabel, Literal(t(f"theme_{code}", lang), lang=lang)))
    return node


def _version_notes(dataset: dict, previous: str | None) -> dict[str, str]:
    change = dataset["changes"]
    counts = {k: change[k] for k in ("rows", "added", "removed", "changed")}
    notes = {
        lang: t(
            "release_notes_first" if previous is None else "release_notes", lang, previous=previous, **counts
        )
        for lang in ("fr", "en")
    }
    suppressed = dataset["privacy"].get("suppressed")
    if suppressed:
        for lang in notes:
            notes[lang] += " " + t(
                "release_notes_suppressed",
                lang,
                cells=suppressed,
                threshold=dataset["privacy"]["min_contributors"],
            )
    return notes


def _distribution(
    graph: Graph, dataset_iri: str, file: dict, version: str, issued: str, base: str, licence: URIRef
) -> URIRef:
    fmt = file["format"]
    node = _typed(graph, f"{dataset_iri}#{fmt}", DCAT.Distribution)
    url = URIRef(f"{base}{version}/{file['path']}")
    graph.add((node, DCAT.accessURL, url))
    graph.add((node, DCAT.downloadURL, url))
    graph.add((node, DCTERMS.title, Literal(file["path"].rsplit("/", 1)[-1])))
    # xsd:decimal as shapes.ttl asks, in its canonical form (XSD 1.0: the decimal point is required)
    graph.add((node, DCAT.byteSize, Literal(f"{file['bytes']}.0", datatype=XSD.decimal)))
    graph.add((node, DCTERMS.issued, _date(issued)))
    graph.add((node, DCTERMS.license, licence))
    file_type = _typed(graph, f"{EU}file-type/{FILE_TYPES[fmt]}", DCTERMS.MediaTypeOrExtent)
    graph.add((node, DCTERMS.format, file_type))
    media = _typed(
        graph, f"https://www.iana.org/assignments/media-types/{file['media_type']}", DCTERMS.MediaType
    )
    graph.add((node, DCAT.mediaType, media))
    if fmt in STANDARDS:
        graph.add((node, DCTERMS.conformsTo, _typed(graph, STANDARDS[fmt], DCTERMS.Standard)))
    checksum = _typed(graph, f"{dataset_iri}#{fmt}-sha256", SPDX.Checksum)
    graph.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
    graph.add((checksum, SPDX.checksumValue, Literal(file["sha256"], datatype=XSD.hexBinary)))
    graph.add((node, SPDX.checksum, checksum))
    return node


def _dataset(graph: Graph, dataset: dict, manifest: dict, agents: tuple[URIRef, URIRef]) -> URIRef:
    catalog, version, issued = manifest["catalog"], manifest["version"], manifest["issued"]
    base = catalog["base_url"]
    iri = f"{base}{version}/{dataset['id']}"
    node = _typed(graph, iri, DCAT.Dataset)
    _texts(graph, node, DCTERMS.title, dataset["title"])
    _texts(graph, node, DCTERMS.description, dataset["description"])
    graph.add((node, DCTERMS.identifier, Literal(dataset["id"])))
    graph.add((node, DCAT.version, Literal(version)))
    graph.add((node, DCTERMS.issued, _date(issued)))
    _texts(graph, node, ADMS.versionNotes, _version_notes(dataset, manifest["previous"]))
    graph.add((node, DCTERMS.publisher, agents[0]))
    graph.add((node, DCAT.contactPoint, agents[1]))
    for lang, words in dataset["keywords"].items():
        for word in words:
            graph.add((node, DCAT.keyword, Literal(word, lang=lang)))
    for code in dataset["themes"]:
        graph.add((node, DCAT.theme, _theme(graph, code)))
    frequency = _typed(graph, f"{FREQUENCY_SCHEME}/{dataset['frequency']}", DCTERMS.Frequency)
    graph.add((node, DCTERMS.accrualPeriodicity, frequency))
    rights = _typed(graph, f"{EU}access-right/PUBLIC", DCTERMS.RightsStatement)
    graph.add((node, DCTERMS.accessRights, rights))
    landing = _typed(graph, f"{catalog['homepage']}?dataset={dataset['id']}", FOAF.Document)
    graph.add((node, DCAT.landingPage, landing))
    if dataset.get("spatial"):
        graph.add((node, DCTERMS.spatial, _location(graph, dataset["spatial"], f"{iri}#spatial")))
    temporal = dataset.get("temporal") or {}
    if temporal:
        period = _typed(graph, f"{iri}#temporal", DCTERMS.PeriodOfTime)
        for name, predicate in (("start", DCAT.startDate), ("end", DCAT.endDate)):
            if name in temporal:
                graph.add((period, predicate, _date(temporal[name])))
        graph.add((node, DCTERMS.temporal, period))
    credits = [u["attribution"] for u in dataset["upstream"]] + (
        [dataset["attribution"]] if dataset.get("attribution") else []
    )
    if credits:
        provenance = _typed(graph, f"{iri}#provenance", DCTERMS.ProvenanceStatement)
        graph.add((provenance, RDFS.label, Literal("; ".join(credits))))
        graph.add((node, DCTERMS.provenance, provenance))
    licence = _licence(graph, dataset["licence"])
    for file in dataset["files"]:
        graph.add((node, DCAT.distribution, _distribution(graph, iri, file, version, issued, base, licence)))
    return node


def graph(manifest: dict) -> Graph:
    """The DCAT-AP 3 graph of a release manifest (``release.json``): the catalogue, its published
    datasets and one distribution per file, with version, issue date, size, sha256 and licence."""
    catalog, version = manifest["catalog"], manifest["version"]
    result = Graph()
    for prefix, namespace in PREFIXES.items():
        result.bind(prefix, namespace)
    agents = _agents(result, catalog)
    node = _typed(result, f"{catalog['base_url']}{version}/catalog", DCAT.Catalog)
    _texts(result, node, DCTERMS.title, catalog["title"])
    _texts(result, node, DCTERMS.description, catalog["description"])
    result.add((node, DCTERMS.publisher, agents[0]))
    result.add((node, DCTERMS.issued, _date(manifest["issued"])))
    result.add((node, DCTERMS.license, _licence(result, catalog["licence"])))
    result.add((node, FOAF.homepage, _typed(result, catalog["homepage"], FOAF.Document)))
    result.add((node, DCTERMS.spatial, _location(result, catalog["spatial"], f"{node}#spatial")))
    for lang in catalog["title"]:
        language = _typed(result, f"{EU}language/{CATALOG_LANGUAGES[lang]}", DCTERMS.LinguisticSystem)
        result.add((node, DCTERMS.language, language))
    scheme = _typed(result, THEME_SCHEME, SKOS.ConceptScheme)
    result.add((scheme, DCTERMS.title, Literal("Data theme", lang="en")))
    result.add((node, DCAT.themeTaxonomy, scheme))
    for dataset in manifest["datasets"]:
        if dataset["status"] == "published":
            result.add((node, DCAT.dataset, _dataset(result, dataset, manifest, agents)))
    return result


def _canonical(value):
    """JSON-LD with every object's keys and every list in a fixed order (byte-stable output)."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    return value


def write(manifest: dict, folder: Path) -> tuple[Path, Path]:
    """Write ``catalog.ttl`` and ``catalog.jsonld`` into ``folder``; returns both paths."""
    result = graph(manifest)
    turtle = folder / "catalog.ttl"
    # rdflib's Turtle writer sorts subjects, predicates and objects: the same graph, the same bytes
    turtle.write_text(result.serialize(format="turtle"), encoding="utf-8")
    context = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}
    expanded = json.loads(result.serialize(format="json-ld", context=context))
    jsonld = folder / "catalog.jsonld"
    jsonld.write_text(json.dumps(_canonical(expanded), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return turtle, jsonld
