"""Input formats the warehouse ingests, recognised by their content (not only their name).

Each format names the reader that turns a file into canonical ``Batch``es. Readers are
imported when first used, so a format whose optional parts are missing fails alone.
"""

from __future__ import annotations

import gzip
import importlib
import inspect
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from observatory.errors import DataFormatError, ParameterError, did_you_mean
from observatory.sources.base import SENSORS_SCHEMA, Batch

SNIFF_BYTES = 64 * 1024
_LINE_PROTOCOL = re.compile(rb"^[^#\s,][^\s]*(?:\\ [^\s]*)*\s+[^\s=]+=")


@dataclass(frozen=True)
class Format:
    """An input format: how to recognise it from its first bytes and which reader reads it."""

    name: str
    reader: str  # "module:function", function(path) -> Iterator[Batch]
    sniff: Callable[[bytes, Path], bool]
    description: str

    def function(self) -> Callable[..., Iterator[Batch]]:
        module, name = self.reader.split(":")
        return getattr(importlib.import_module(module), name)

    def takes(self, options: dict[str, object]) -> dict[str, object]:
        """The options this format's reader takes (all of them if it takes ``**options``)."""
        parameters = inspect.signature(self.function()).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return dict(options)
        return {k: v for k, v in options.items() if k in parameters}

    def read(self, path: Path, **options: object) -> Iterator[Batch]:
        return self.function()(path, **self.takes(options))


def _first_line(head: bytes) -> bytes:
    for line in head.splitlines():
        if line.strip() and not line.lstrip().startswith(b"#"):
            return line.strip()
    return b""


def _is_flux_csv(head: bytes, path: Path) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf")
    return start.startswith((b"#datatype", b"#group", b"#default", b",result,table", b"result,table"))


def _is_line_protocol(head: bytes, path: Path) -> bool:
    if _is_flux_csv(head, path):
        return False
    return bool(_LINE_PROTOCOL.match(_first_line(head)))


def _is_json_lines(head: bytes, path: Path) -> bool:
    line = _first_line(head)
    return line.startswith(b"{") and b'"entity_id"' in line and b'"time_index"' in line


def _is_ngsi_ld(head: bytes, path: Path) -> bool:
    start = head.lstrip()
    return (
        start.startswith((b"[", b"{"))
        and b'"id"' in head
        and b'"type"' in head
        and not _is_json_lines(head, path)
    )


def _is_odk_csv(head: bytes, path: Path) -> bool:
    header = head.splitlines()[0] if head else b""
    return b"SubmissionDate" in header and b"KEY" in header


def _is_odk_zip(head: bytes, path: Path) -> bool:
    return head.startswith(b"PK\x03\x04")


def _is_sensors_csv(head: bytes, path: Path) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return first == ",".join(SENSORS_SCHEMA).encode("ascii")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("flux-csv", "observatory.sources.flux_csv:read_file", _is_flux_csv, "Flux annotated CSV"),
        Format(
            "line-protocol",
            "observatory.sources.line_protocol:read_file",
            _is_line_protocol,
            "InfluxDB line protocol",
        ),
        Format(
            "quantumleap",
            "observatory.sources.quantumleap:read_file",
            _is_json_lines,
            "CrateDB/QuantumLeap JSON lines",
        ),
        Format("ngsi-ld", "observatory.sources.ngsi_ld:read_file", _is_ngsi_ld, "NGSI-LD entities (JSON)"),
        Format("odk-csv", "observatory.sources.odk:read_file", _is_odk_csv, "ODK Central submissions CSV"),
        Format("odk-zip", "observatory.sources.odk:read_file", _is_odk_zip, "ODK Central export zip"),
        Format(
            "sensors-csv",
            "observatory.sources.sensors_csv:read_file",
            _is_sensors_csv,
            "sensor metadata CSV (the sensors table's columns)",
        ),
    )
}


def parse_options(items: list[str] | None) -> dict[str, object]:
    """Reader options from ``key=value`` strings; a ``*_fields`` value is a comma-separated list."""
    options: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ParameterError(
                f"{item!r} is not key=value",
                parameter="--option",
                hint="e.g. --option category_field=categorie",
            )
        key = key.strip()
        options[key] = (
            tuple(v.strip() for v in value.split(",") if v.strip()) if key.endswith("_fields") else value
        )
    return options


def head_bytes(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of the file's content, decompressed when it is gzip."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(size)
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"damaged gzip file: {exc}", path=path) from exc
    with open(path, "rb") as handle:
        return handle.read(size)


def detect(path: Path) -> Format:
    """The format of ``path`` from its content; DataFormatError when nothing matches."""
    head = head_bytes(path)
    if _is_odk_zip(head, path) and not zipfile.is_zipfile(path):
        raise DataFormatError("looks like a zip file but cannot be opened as one", path=path)
    for fmt in FORMATS.values():
        if fmt.sniff(head, path):
            return fmt
    raise DataFormatError(
        "unrecognised content",
        path=path,
        line=1,
        hint=f"Known formats: {', '.join(FORMATS)}; name one with --format if the file is one of them.",
    )


def by_name(name: str) -> Format:
    """The format called ``name`` (did-you-mean error otherwise)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ParameterError(
            f"unknown format {name!r}", parameter="--format", hint=did_you_mean(name, [*FORMATS, "auto"])
        ) from None


def check_options_taken(paths: list[Path], fmt: str, options: dict[str, object]) -> None:
    """ParameterError naming any option that no reader of ``paths`` takes (a typo, most likely)."""
    formats = {by_name(fmt).name: by_name(fmt)} if fmt != "auto" else {f.name: f for f in map(detect, paths)}
    taken = set().union(*(f.takes(options) for f in formats.values())) if formats else set()
    unused = sorted(set(options) - taken)
    if unused:
        raise ParameterError(
            f"option(s) {unused} are taken by none of the readers used ({', '.join(sorted(formats))})",
            parameter="--option",
            hint="Check the spelling against the reader's parameters (e.g. category_field for ODK).",
        )
