"""InfluxData's 218 line-protocol cases (shared/conformance), through both parsers.

202 cases agree with both reference parsers; the 16 implementation-defined ones are held to
line-protocol/v2's result, the behaviour observatory.sources.line_protocol documents.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from observatory.sources.line_protocol import Point, Reject, iter_entries, parse_lines, series_key

pytestmark = pytest.mark.conformance

CHOSEN_PARSER = "line-protocol-v2"  # followed where the two reference parsers disagree
ERROR = {"error": True}
DEFAULT_TIME_NS = 123_456_789  # stands in for the ingest time of lines without a timestamp


def _conformance_dir() -> Path:
    configured = os.environ.get("OBSERVATORY_CONFORMANCE_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "conformance"


CASES_FILE = _conformance_dir() / "line_protocol_cases.json"


def _load() -> dict[str, Any]:
    if not CASES_FILE.is_file():
        return {"cases": [], "counts": {}}
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))  # Python ints: exact beyond 2**53


SUITE = _load()
CASES = SUITE["cases"]


def _expected(case: dict[str, Any]) -> list[dict[str, Any]]:
    """What the chosen parser yields: a list of points and ERROR items, in input order."""
    if case["checked_against"][CHOSEN_PARSER]:
        expect = ERROR if case.get("error") else case["expect"]
    else:
        expect = case[f"{CHOSEN_PARSER}_result"]
        if isinstance(expect, dict) and "decoder_tags_in_order" in expect:
            # The v2 Decoder hands out every tag; its corpus harness then refuses a repeated key.
            keys = [key for key, _ in expect["decoder_tags_in_order"]]
            assert len(set(keys)) < len(keys)
            expect = ERROR
    items = expect if isinstance(expect, list) else [expect]
    return [ERROR if item.get("error") else item for item in items]


def _as_json(outcome: Point | Reject) -> dict[str, Any]:
    if isinstance(outcome, Reject):
        return ERROR
    fields = {name: {"type": kind, "value": value} for name, (kind, value) in outcome.fields.items()}
    return {
        "measurement": outcome.measurement,
        "tags": outcome.tags,
        "fields": fields,
        "time": outcome.time_ns,
    }


def _as_float(field: dict[str, Any]) -> tuple[str, float | str]:
    if field["type"] == "string":
        return "string", field["value"]
    return field["type"], float(field["value"])


def _columnar(item: dict[str, Any]) -> Any:
    """An expected item as parse_lines reports it: floats, series key, default time (fields
    sorted: their order is not significant)."""
    if item == ERROR:
        return ERROR
    fields = sorted((name, *_as_float(field)) for name, field in item["fields"].items())
    time_ns = DEFAULT_TIME_NS if item["time"] is None else item["time"]
    return series_key(item["measurement"], item["tags"]), item["measurement"], time_ns, fields


def _result_items(data: str, precision: str) -> list[Any]:
    result = parse_lines(data, precision, default_time_ns=DEFAULT_TIME_NS, sensor_tag=None)
    items: list[tuple[int, Any]] = [(reject.line_no, ERROR) for reject in result.rejects]
    for (line_no,), rows in result.points.group_by("line_no", maintain_order=True):
        first = rows.row(0, named=True)
        fields = sorted(
            (row["field"], row["kind"], row["text"] if row["kind"] == "string" else row["value"])
            for row in rows.iter_rows(named=True)
        )
        time_ns = rows.get_column("time").dt.epoch("ns")[0]
        items.append((line_no, (first["sensor_id"], first["measurement"], time_ns, fields)))
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


def test_the_suite_is_there_and_whole() -> None:
    assert CASES, f"{CASES_FILE} is missing: set OBSERVATORY_CONFORMANCE_DIR to the shared/conformance folder"
    assert len(CASES) == SUITE["counts"]["cases"] == 218
    agreed = [case for case in CASES if all(case["checked_against"].values())]
    assert len(agreed) == SUITE["counts"]["agree_with_both_reference_parsers"] == 202


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_exact_values(case: dict[str, Any]) -> None:
    """Measurement, tags, typed fields (exact ints, uints beyond 2**53) and time in ns."""
    outcomes = list(iter_entries(case["input"], case["precision"]))
    assert [_as_json(outcome) for outcome in outcomes] == _expected(case)
    line_numbers = [outcome.line_no for outcome in outcomes if isinstance(outcome, Reject)]
    assert line_numbers == sorted(line_numbers)
    assert all(1 <= n <= case["input"].count("\n") + 1 for n in line_numbers)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_columnar_result(case: dict[str, Any]) -> None:
    """parse_lines (column-wise pass plus fallback) reports the same, as float64 readings."""
    expected = [_columnar(item) for item in _expected(case)]
    assert _result_items(case["input"], case["precision"]) == expected
