"""Every reader under hostile input: arbitrary bytes give Batches or the observatory's own errors
naming the file, and hostile lines spliced into a valid file cost nothing but themselves (each is
rejected with its line, or read as it reads alone); through ingest, the quarantine names file,
line and reason of each one."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from observatory.errors import ObservatoryError
from observatory.simulate.citizens import INGEST_OPTIONS
from observatory.sources import base
from observatory.sources.line_protocol import Reject, iter_entries
from observatory.sources.mqtt import Message, decode_payloads
from observatory.warehouse.formats import FORMATS, detect
from observatory.warehouse.ingest import ingest_file
from observatory.warehouse.store import Warehouse
from tests.hostile import strategies as hs

READERS = {  # format -> (attribute of the `field` fixture, reader options)
    "line-protocol": ("line_protocol", {}),
    "flux-csv": ("flux_csv", {}),
    "quantumleap": ("quantumleap", {}),
    "ngsi-ld": ("ngsi_lines", {}),
    "odk-csv": ("odk_csv", INGEST_OPTIONS),
    "sensors-csv": ("sensors_csv", {}),
}
SCHEMAS = {
    "readings": base.READINGS_SCHEMA,
    "text_readings": base.TEXT_READINGS_SCHEMA,
    "rejects": base.REJECTS_SCHEMA,
    "sensors": base.SENSORS_SCHEMA,
    "reports": base.REPORTS_SCHEMA,
    "series": base.SERIES_SCHEMA,
}
STARTED_NS = time.time_ns()  # a line without a timestamp reads at the ingest time, after this
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")  # 10 kB lines, on failure
# Deterministic in CI; OBSERVATORY_FUZZ_EXAMPLES=400 fuzzes harder, with fresh random examples.
EXAMPLES = os.environ.get("OBSERVATORY_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(EXAMPLES or 30),
    deadline=None,
    derandomize=EXAMPLES is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Scratch:
    """Files written for the examples, each under a new name (one folder for the session)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names = itertools.count()

    def write(self, data: bytes, suffix: str = ".dat") -> Path:
        path = self.folder / f"input-{next(self.names)}{suffix}"
        path.write_bytes(data)
        return path


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Scratch:
    return Scratch(tmp_path_factory.mktemp("hostile-input"))


def merged(batches: list[base.Batch]) -> base.Batch:
    """The batches of one source as one, every table checked against its canonical schema."""
    tables = {}
    for name, schema in SCHEMAS.items():
        frames = [getattr(batch, name) for batch in batches]
        for frame in frames:
            assert frame.schema == pl.Schema(schema), f"{name}: {frame.schema}"
        tables[name] = pl.concat(frames) if frames else base.empty(schema)
    return base.Batch(**tables)


def read_file(name: str, path: Path) -> base.Batch:
    """The format's reader on ``path``, as the warehouse calls it; raises only ObservatoryError."""
    options = READERS.get(name, ("", INGEST_OPTIONS if name == "odk-zip" else {}))[1]
    return merged(list(FORMATS[name].read(path, **options)))


def outcome(name: str, path: Path) -> base.Batch | ObservatoryError:
    try:
        return read_file(name, path)
    except ObservatoryError as exc:
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        return exc


# --- arbitrary bytes ------------------------------------------------------------------------------


def _gzipped(data: bytes, cut: int) -> bytes:
    packed = gzip.compress(data, mtime=0)
    return packed[: max(2, len(packed) - cut)]


def _zipped(rows: bytes) -> bytes:
    buffer = io.BytesIO()
    stamp = (2026, 6, 2, 8, 0, 0)  # fixed: the same archive bytes in every example
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("signalement_citoyen.csv", stamp), rows, zipfile.ZIP_DEFLATED)
        photos = b"photo,PARENT_KEY,KEY\nx.jpg,uuid:a,uuid:a/photos[1]\n"
        archive.writestr(
            zipfile.ZipInfo("signalement_citoyen-photos.csv", stamp), photos, zipfile.ZIP_DEFLATED
        )
    return buffer.getvalue()


@st.composite
def arbitrary(draw: st.DrawFn, head: bytes, valid: bytes) -> bytes:
    """Anything: random bytes or text, the format's head then garbage, the valid file damaged
    anywhere, or gzip of any of these cut short."""
    data = draw(
        st.one_of(
            st.binary(max_size=600),
            st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
            st.binary(max_size=400).map(lambda garbage: head + garbage),
            hs.mutated(valid),
            hs.mutated(valid).flatmap(hs.mutated),
            hs.nested_json().map(lambda nested: head + nested),
        )
    )
    if draw(st.booleans()) and draw(st.booleans()):
        return _gzipped(data, draw(st.integers(0, 30)))
    return data


@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(data=st.data())
def test_arbitrary_bytes_give_batches_or_our_errors(name, field, scratch, data) -> None:
    lines = getattr(field, READERS[name][0])
    valid = lines.head + b"\n".join(lines.valid[:6]) + b"\n"
    path = scratch.write(data.draw(arbitrary(lines.head, valid)))
    outcome(name, path)
    try:
        detected = detect(path)
    except ObservatoryError as exc:
        assert str(path) in str(exc)
    else:
        outcome(detected.name, path)


@FUZZ
@given(data=st.data())
def test_damaged_zip_exports_give_batches_or_our_errors(field, scratch, data) -> None:
    lines = field.odk_csv
    archive = _zipped(lines.head + b"\n".join(lines.valid[:5]) + b"\n")
    # the flag and method fields of the local header and of the central directory
    fields = [archive.find(b"PK\x03\x04") + 6, archive.find(b"PK\x03\x04") + 8]
    fields += [archive.find(b"PK\x01\x02") + 8, archive.find(b"PK\x01\x02") + 10]
    damaged = data.draw(
        st.one_of(
            st.tuples(st.sampled_from(fields), st.binary(min_size=2, max_size=2)).map(
                lambda at: archive[: at[0]] + at[1] + archive[at[0] + 2 :]
            ),
            hs.mutated(archive),
            st.binary(max_size=400).map(lambda garbage: b"PK\x03\x04" + garbage),
            st.integers(4, len(archive)).map(lambda cut: archive[:cut]),
        )
    )
    outcome("odk-zip", scratch.write(damaged, ".zip"))


@FUZZ
@given(
    payloads=st.lists(
        st.one_of(
            st.binary(max_size=300),
            hs.nested_json(),
            st.recursive(
                st.none() | st.booleans() | st.floats() | st.integers() | hs.hostile_text(),
                lambda inner: (
                    st.lists(inner, max_size=4) | st.dictionaries(hs.hostile_text(), inner, max_size=4)
                ),
                max_leaves=12,
            ).map(lambda value: json.dumps(value).encode()),
            st.fixed_dictionaries(
                {
                    "name": hs.hostile_text(),
                    "fields": st.dictionaries(hs.hostile_text(), st.floats() | st.integers()),
                },
                optional={
                    "tags": st.dictionaries(hs.hostile_text(), hs.hostile_text()),
                    "timestamp": st.integers() | st.floats(),
                },
            ).map(lambda metric: json.dumps({"metrics": [metric]}).encode()),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_mqtt_payload_gives_a_batch(payloads) -> None:
    """The subscriber has no one to raise to: every payload ends as rows or as rejects."""
    messages = [Message(f"observatory/air/s{i}", payload, i, 1) for i, payload in enumerate(payloads)]
    batch = merged([decode_payloads(messages)])
    for value in batch.readings["value"]:
        assert value == value and abs(value) != float("inf"), "a non-finite reading was kept"


# --- hostile lines among valid ones ----------------------------------------------------------------


def rows(batch: base.Batch, name: str) -> Counter:
    """What a reader got out of a file, comparable across files: readings, text readings, reports
    (and sensors, for sensors.csv); a time after the test began is the ingest time (no timestamp)."""
    tables = ("sensors",) if name == "sensors-csv" else ("readings", "text_readings", "reports")
    found: Counter = Counter()
    for table in tables:
        frame = getattr(batch, table)
        if "time" in frame.columns:
            late = pl.col("time").dt.epoch("ns") >= STARTED_NS
            frame = frame.with_columns(pl.when(late).then(None).otherwise(pl.col("time")).alias("time"))
        found.update((table, *row) for row in frame.iter_rows())
    return found


def lines_in(data: bytes) -> int:
    """Lines as every reader numbers them: LF ends a line (CRLF too), a last line needs none."""
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def runs_on(name: str, line: bytes) -> bool:
    """True for line protocol opening a quoted field value it does not close: by the syntax (a raw
    newline inside quotes belongs to the value) that entry runs on into the lines after it, which
    tests/sources/test_line_protocol.py covers; here it would stand for the lines it takes."""
    return name == "line-protocol" and any(
        "unterminated string" in entry.reason
        for entry in iter_entries(line + b"\n")
        if isinstance(entry, Reject)
    )


def assert_cost_only_themselves(
    read: Callable[[bytes], base.Batch], name: str, head: bytes, case: hs.Spliced
) -> base.Batch:
    """Read the spliced file, the valid lines alone and each hostile line alone (after a valid
    one): every valid row is kept, no valid line rejected, every hostile line read as alone or
    rejected with its line. Returns what the whole file gave."""
    whole = read(case.data(head))
    valid = read(head + b"".join(line + b"\n" for line in case.valid()))
    assert valid.rejects.height == 0
    assert not rows(valid, name) - rows(whole, name), "valid rows were lost"
    rejected = set(whole.rejects["line"].to_list())
    assert (whole.rejects["reason"].str.len_chars() > 0).all()
    hostile_lines = set()
    first = head + case.valid()[0] + b"\n"  # a valid line first: the format is read as in the file
    offset = lines_in(head)
    for line, bad in zip(case.lines, case.hostile, strict=True):
        taken = range(offset + 1, offset + 1 + lines_in(line + b"\n"))  # the file lines it occupies
        if bad:
            hostile_lines.update(taken)
            alone = read(first + line + b"\n")
            shift = offset - lines_in(first)
            assert {shift + n for n in alone.rejects["line"].to_list()} <= rejected, "rejected alone only"
            read_alike = not rows(alone, name) - rows(whole, name)
            assert read_alike or rejected & set(taken), f"line {taken[0]} neither read nor rejected"
        offset = taken[-1]
    assert rejected <= hostile_lines, "a valid line was rejected"
    return whole


@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(data=st.data())
def test_hostile_lines_cost_only_themselves(name, field, scratch, data) -> None:
    lines = getattr(field, READERS[name][0])
    case = data.draw(hs.spliced(lines.valid, lines.donors))
    assume(not any(runs_on(name, line) for line in case.lines))
    assert_cost_only_themselves(lambda data: read_file(name, scratch.write(data)), name, lines.head, case)


@FUZZ
@given(data=st.data())
def test_hostile_lines_in_an_mqtt_payload_cost_only_themselves(field, data) -> None:
    lines = field.line_protocol
    case = data.draw(hs.spliced(lines.valid, lines.donors))
    assume(not any(runs_on("line-protocol", line) for line in case.lines))

    def read(payload: bytes) -> base.Batch:
        batch = merged([decode_payloads([Message("observatory/energy/feeder-97201-01", payload, 1, 1)])])
        assert set(batch.rejects["source"]) <= {"mqtt:observatory/energy/feeder-97201-01"}
        return batch

    assert_cost_only_themselves(read, "line-protocol", b"", case)


@FUZZ
@given(data=st.data())
def test_hostile_entities_in_a_broker_answer_cost_only_themselves(field, scratch, data) -> None:
    """A saved ``GET /entities`` answer (one JSON array) with damaged entities among valid ones:
    each damaged entity is read as it reads alone, or rejected with its position."""
    valid = field.ngsi_entities[:20]
    donors = field.ngsi_entities[20:]
    entities, hostile = list(valid), []
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(entities)))
        entities.insert(at, data.draw(hs.damaged_entity(data.draw(st.sampled_from(donors)))))
        hostile = [i + (i >= at) for i in hostile] + [at]

    def read(items: list) -> base.Batch:
        return read_file("ngsi-ld", scratch.write(json.dumps(items).encode()))

    whole = read(entities)
    assert not rows(read(valid), "ngsi-ld") - rows(whole, "ngsi-ld"), "valid entities were lost"
    rejected = set(whole.rejects["line"].to_list())
    assert rejected <= {i + 1 for i in hostile}, "a valid entity was rejected"
    for i in hostile:
        alone = read([valid[0], entities[i]])
        assert {i + n - 1 for n in alone.rejects["line"].to_list()} <= rejected
        assert not rows(alone, "ngsi-ld") - rows(whole, "ngsi-ld") or i + 1 in rejected


INGESTED = settings(FUZZ, max_examples=4)  # a warehouse each


@pytest.mark.parametrize("name", list(READERS))
@INGESTED
@given(data=st.data())
def test_ingest_quarantines_each_bad_line_with_file_line_and_reason(name, field, scratch, data) -> None:
    lines = getattr(field, READERS[name][0])
    case = data.draw(hs.spliced(lines.valid, lines.donors))
    path = scratch.write(case.data(lines.head))
    read = read_file(name, path)
    valid = read_file(name, scratch.write(lines.head + b"".join(line + b"\n" for line in case.valid())))
    with Warehouse.open(scratch.folder / f"{path.stem}.duckdb") as warehouse:
        report = ingest_file(warehouse, path, name, **READERS[name][1])
        quarantine = warehouse.sql("SELECT source, line, reason FROM quarantine")
        keys = set(warehouse.sql("SELECT sensor_id, field, time FROM readings").iter_rows())
        reports = set(warehouse.sql("SELECT report_id FROM reports")["report_id"])
        sensors = set(warehouse.sql("SELECT sensor_id FROM sensors")["sensor_id"])
    assert set(quarantine["source"]) <= {str(path)}
    assert (quarantine["reason"].str.len_chars() > 0).all()
    assert sorted(quarantine["line"].drop_nulls().to_list()) == sorted(read.rejects["line"].to_list())
    assert report.rejected == quarantine.height
    assert set(valid.readings.select("sensor_id", "field", "time").iter_rows()) <= keys
    assert set(valid.reports["report_id"]) <= reports
    assert set(valid.sensors["sensor_id"]) <= sensors
