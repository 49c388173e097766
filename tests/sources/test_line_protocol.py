"""Line-protocol reader: sensor lines, quarantine with line numbers, gzip, precision, escaping,
streaming, hostile input, and the compiled pass held to the byte-level parser."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import time
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observatory.errors import DataFormatError, ParameterError
from observatory.sources import line_protocol as lp
from observatory.sources.line_protocol import (
    Point,
    Reject,
    format_point,
    iter_entries,
    parse_line,
    parse_lines,
    read_line_protocol,
)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z, ns
SENSOR_LINES = [
    f"weather,sensor_id=mq-wx-01,commune=97209 temperature=27.3,humidity=78i,rain_mm=0 {T0}",
    f'air,sensor_id=mq-air-07,commune=97213 pm25=12.5,no2=31u,status="ok",online=true {T0 + 60_000_000_000}',
    f"water,sensor_id=mq-eau-03,commune=97230,river=Lézarde level_m=1.42,alarm=F {T0 + 120_000_000_000}",
    "# maintenance window below",
    "",
    f"weather,sensor_id=mq-wx-02,commune=97224 temperature=26.9,humidity=81i {T0 + 180_000_000_000}",
]


def _readings_of(batches: list[lp.Batch], table: str) -> pl.DataFrame:
    return pl.concat([getattr(batch, table) for batch in batches])


def test_sensor_lines_give_canonical_readings() -> None:
    result = parse_lines("\n".join(SENSOR_LINES), default_time_ns=0)
    readings = result.readings
    assert readings.schema == pl.Schema(lp.READINGS_SCHEMA)
    assert readings.height == 10 and not result.rejects
    assert readings.row(0) == (
        pl.Series([T0]).cast(pl.Datetime("ns", "UTC"))[0],
        "mq-wx-01",
        "weather",
        "temperature",
        27.3,
    )
    by_field = dict(zip(readings["field"], readings["value"], strict=True))
    assert by_field["humidity"] == 81.0  # int
    assert by_field["no2"] == 31.0  # uint
    assert by_field["online"] == 1.0 and by_field["alarm"] == 0.0  # bools as 1.0 / 0.0
    text = result.text_readings
    assert text.schema == pl.Schema(lp.TEXT_READINGS_SCHEMA)
    assert text.rows() == [(text["time"][0], "mq-air-07", "air", "status", "ok")]
    series = result.series.filter(pl.col("sensor_id") == "mq-eau-03")
    assert json.loads(series["tags"][0]) == {"commune": "97230", "river": "Lézarde", "sensor_id": "mq-eau-03"}
    assert result.series.height == 4
    assert result.lines == 6


def test_points_keep_kinds_and_line_numbers() -> None:
    points = parse_lines("\n".join(SENSOR_LINES), default_time_ns=0).points
    kinds = dict(zip(points["field"], points["kind"], strict=True))
    assert kinds == {
        "temperature": "float",
        "humidity": "int",
        "rain_mm": "float",
        "pm25": "float",
        "no2": "uint",
        "status": "string",
        "online": "bool",
        "level_m": "float",
        "alarm": "bool",
    }
    assert points.filter(pl.col("field") == "level_m")["line_no"].to_list() == [3]
    assert points.filter(pl.col("sensor_id") == "mq-wx-02")["line_no"].unique().to_list() == [6]


def test_sensor_id_falls_back_to_the_series_key() -> None:
    result = parse_lines("weather,site=Le\\ Diamant,b=2 t=1 5\nweather t=2 5\n", default_time_ns=0)
    assert result.readings["sensor_id"].to_list() == ["weather,b=2,site=Le\\ Diamant", "weather"]
    other = parse_lines("weather,site=x t=1 5", sensor_tag="site")
    assert other.readings["sensor_id"].to_list() == ["x"]
    none = parse_lines("weather,sensor_id=s1 t=1 5", sensor_tag=None)
    assert none.readings["sensor_id"].to_list() == ["weather,sensor_id=s1"]


def test_bad_line_in_the_middle_is_quarantined_with_its_number(tmp_path: Path) -> None:
    lines = SENSOR_LINES[:3] + [f"weather,sensor_id=mq-wx-01 temperature=hot {T0}"] + SENSOR_LINES[3:]
    path = tmp_path / "station.lp"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batches = list(read_line_protocol(path, default_time_ns=0))
    readings = _readings_of(batches, "readings")
    assert readings.height == 10  # every good line kept
    rejects = _readings_of(batches, "rejects")
    assert rejects.rows() == [
        (
            4,
            "field value 'hot' has no recognised type (quote strings) (column 40)",
            f"weather,sensor_id=mq-wx-01 temperature=hot {T0}",
        )
    ]
    with pytest.raises(DataFormatError) as caught:
        batches[0].raise_for_rejects()
    assert caught.value.path == path and caught.value.line == 4
    assert f"{path}:4" in str(caught.value) and "no recognised type" in str(caught.value)


def test_parse_result_raises_for_rejects_and_counts_them() -> None:
    result = parse_lines("m x=1\nm x=\nm y=2\nm\n", first_line=10)
    assert [(r.line_no, r.reason) for r in result.rejects] == [
        (11, "missing field value (column 5)"),
        (13, "missing fields (column 2)"),
    ]
    with pytest.raises(DataFormatError, match=r"line 11: missing field value .*2 rejected entries"):
        result.raise_for_rejects()
    parse_lines("m x=1").raise_for_rejects()  # nothing to raise


def test_gzip_is_detected_by_its_magic_bytes(tmp_path: Path) -> None:
    text = "\n".join(SENSOR_LINES).encode()
    packed = tmp_path / "export.lp"  # gzip content, no .gz suffix
    packed.write_bytes(gzip.compress(text))
    plain = tmp_path / "export.lp.gz"  # a .gz suffix, plain content
    plain.write_bytes(text)
    expected = parse_lines(text, default_time_ns=0).readings
    for path in (packed, plain):
        assert _readings_of(list(read_line_protocol(path, default_time_ns=0)), "readings").equals(expected)
    assert parse_lines(gzip.compress(text), default_time_ns=0).readings.equals(expected)
    stream = io.BytesIO(gzip.compress(text + b"\n") + gzip.compress(b"m x=1 1\n"))  # two gzip members
    assert _readings_of(list(read_line_protocol(stream)), "readings").height == expected.height + 1


class _Trickle(io.RawIOBase):
    """A pipe that hands out one or two bytes per read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.calls = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.calls += 1
        n = min(len(buffer), 1 + self.calls % 2, len(self.data))
        buffer[:n], self.data = self.data[:n], self.data[n:]
        return n


def test_gzip_magic_is_found_in_a_trickling_stream() -> None:
    text = "\n".join(SENSOR_LINES).encode()
    batches = list(read_line_protocol(_Trickle(gzip.compress(text)), default_time_ns=0))
    assert _readings_of(batches, "readings").equals(parse_lines(text, default_time_ns=0).readings)


def test_truncated_gzip_is_a_data_format_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.lp"
    packed = gzip.compress("".join(f"m,sensor_id=s x={i} {i}\n" for i in range(50_000)).encode())
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataFormatError, match="cannot read") as caught:
        list(read_line_protocol(path))
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("precision", "stamp"), [("ns", T0), ("us", T0 // 1_000), ("ms", T0 // 10**6), ("s", T0 // 10**9)]
)
def test_precisions_convert_to_nanoseconds(precision: str, stamp: int) -> None:
    result = parse_lines(f"m x=1 {stamp}", precision=precision)
    assert result.points["time"].dt.epoch("ns").to_list() == [T0]


def test_precision_overflow_and_bad_precision() -> None:
    assert (
        parse_lines("m x=1 9223372037", precision="s")
        .rejects[0]
        .reason.startswith("timestamp 9223372037 out of range")
    )
    assert parse_lines("m x=1 9223372036", precision="s").points["time"].dt.epoch("ns").to_list() == [
        9223372036 * 10**9
    ]
    with pytest.raises(ParameterError, match="precision") as caught:
        parse_lines("m x=1", precision="sec")
    assert caught.value.parameter == "precision"
    with pytest.raises(ParameterError) as caught:
        list(read_line_protocol(io.BytesIO(b""), precision="h"))
    assert caught.value.parameter == "precision"


def test_missing_timestamps_take_the_default_or_the_ingest_time() -> None:
    assert parse_lines("m x=1", default_time_ns=42).points["time"].dt.epoch("ns").to_list() == [42]
    before = time.time_ns() // 10**9 * 10**9
    stamped = parse_lines("m x=1", precision="s").points["time"].dt.epoch("ns")[0]
    assert before <= stamped <= time.time_ns() and stamped % 10**9 == 0
    with pytest.raises(ParameterError) as caught:
        parse_lines("m x=1", default_time_ns=2**63)
    assert caught.value.parameter == "default_time_ns"


def test_crlf_endings_read_like_lf() -> None:
    text = "\n".join(SENSOR_LINES + ["bad", 'm s="two\nlines" 1'])
    lf = parse_lines(text, default_time_ns=0)
    crlf = parse_lines(text.replace("\n", "\r\n"), default_time_ns=0)
    assert crlf.readings.equals(lf.readings)
    assert [r.line_no for r in crlf.rejects] == [r.line_no for r in lf.rejects] == [7]
    assert crlf.text_readings["value"].to_list() == ["ok", "two\r\nlines"]  # CRLF inside quotes is data


def test_multibyte_utf8_in_names_and_values() -> None:
    line = 'qualité_air,sensor_id=capteur-é,commune=Le\\ François,nom=日本 pm2.5=12.5,état="très bon" 1'
    result = parse_lines(line)
    assert result.readings.rows() == [(result.readings["time"][0], "capteur-é", "qualité_air", "pm2.5", 12.5)]
    assert result.text_readings["value"].to_list() == ["très bon"]
    tags = json.loads(result.series["tags"][0])
    assert tags == {"commune": "Le François", "nom": "日本", "sensor_id": "capteur-é"}
    assert "François" in result.series["tags"][0]  # kept readable, not \\u-escaped


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("m,t\x00g=v x=1", "expected '=' after tag key 't', found '\\x00' (column 4)"),
        ("m\x00 x=1", "unexpected '\\x00' (column 2)"),
        ("m x=1,\x01=2", "invalid field key start '\\x01' (column 7)"),
        ("m x=\x00", "field value '\\x00' has no recognised type (quote strings) (column 5)"),
        ("m,t=v\xff x=1".encode("latin-1"), "invalid UTF-8 in tag value 'v\\xff' (column 5)"),
        (b"\xe9t\xe9 x=1", "invalid UTF-8 in measurement '\\xe9t\\xe9' (column 1)"),
        (b'm s="\xc3(" 1', "invalid UTF-8 in string field value '\\xc3(' (column 5)"),
        ("m x=1 1\rm y=2", "unexpected text after the timestamp (column 8)"),
        ("\tm x=1", "invalid character '\\t' at start of measurement name (column 1)"),
        ("m x=9223372036854775808i", "integer '9223372036854775808i' out of the int64 range (column 5)"),
        (
            "m x=18446744073709551616u",
            "unsigned integer '18446744073709551616u' out of the uint64 range (column 5)",
        ),
        ("m x=1e400", "float '1e400' out of the float64 range (column 5)"),
        ("m x=0x10", "invalid number '0x10' (column 5)"),
        ("m x=1,x=2", "duplicate field key 'x' (column 9)"),
        ("m,a=1,a=2 x=1", "duplicate tag key 'a' (column 7)"),
    ],
)
def test_hostile_lines_are_rejected_with_a_reason(line: str | bytes, reason: str) -> None:
    data = (line.encode() if isinstance(line, str) else line) + b"\ngood,sensor_id=s x=1 7\n"
    result = parse_lines(data, default_time_ns=0)
    assert [(r.line_no, r.reason) for r in result.rejects] == [(1, reason)]
    assert result.readings["sensor_id"].to_list() == ["s"]
    assert result.readings["time"].dt.epoch("ns").to_list() == [7]


def test_nul_and_invalid_utf8_where_they_are_allowed() -> None:
    result = parse_lines(b'm s="a\x00b" 1\n# comment \xff\xfe\nm x=2 2\n')
    assert result.text_readings["value"].to_list() == ["a\x00b"]
    assert result.readings["value"].to_list() == [2.0] and not result.rejects


def test_valid_and_invalid_utf8_side_by_side() -> None:
    data = "météo,sensor_id=é1 t=1 1\n".encode() + b"m,t=\xe9 x=1 2\n" + "météo,sensor_id=é2 t=3 3\n".encode()
    result = parse_lines(data)
    assert result.readings["sensor_id"].to_list() == ["é1", "é2"]
    assert [(r.line_no, r.reason) for r in result.rejects] == [
        (2, "invalid UTF-8 in tag value '\\xe9' (column 5)")
    ]


def test_reject_text_shows_invalid_bytes_escaped() -> None:
    (reject,) = parse_lines(b"m,t=\xff\xfe x=1\r\n").rejects
    assert reject.text == "m,t=\\xff\\xfe x=1"


def test_very_long_lines_are_rejected_and_reading_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lp, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(lp, "READ_BUFFER_BYTES", 5000)  # the reader's buffer grows, then is reused
    huge = "m,sensor_id=s x=" + "9" * 300_000 + " 1"
    data = f"m,sensor_id=s x=1 1\n{huge}\nm,sensor_id=s x=3 3\n{huge}".encode()
    batches = list(read_line_protocol(io.BytesIO(data), max_line_bytes=10_000, batch_lines=2))
    rejects = _readings_of(batches, "rejects")
    assert rejects["line_no"].to_list() == [2, 4]
    assert rejects["reason"].str.starts_with("entry longer than 10000 bytes").all()
    assert rejects["text"].str.len_chars().max() <= lp.REJECT_TEXT_CHARS + 6
    assert _readings_of(batches, "readings")["value"].to_list() == [1.0, 3.0]
    whole = parse_lines(data, max_line_bytes=10_000)
    assert rejects.equals(whole.rejects_frame()) and whole.readings["value"].to_list() == [1.0, 3.0]


def test_an_unclosed_quote_cannot_swallow_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lp, "CHUNK_BYTES", 1024)
    lines = ['m s="never closed'] + [f"m,sensor_id=s x={i} {i}" for i in range(2, 3_000)]
    data = "\n".join(lines).encode()
    batches = list(read_line_protocol(io.BytesIO(data), max_line_bytes=4_096, batch_lines=500))
    assert _readings_of(batches, "rejects")["line_no"].to_list() == [1]
    assert _readings_of(batches, "readings").height == 2_998
    small = parse_lines(data, max_line_bytes=4_096)
    assert [r.line_no for r in small.rejects] == [1] and small.readings.height == 2_998
    # within the limit, line-protocol/v2 semantics: the string runs on to the end of input
    swallowed = parse_lines(data)
    assert swallowed.rejects[0][:2] == (1, "unterminated string field value (no closing quote) (column 5)")
    assert len(swallowed.rejects) == 1 and swallowed.readings.height == 0


def _mixed_file() -> str:
    lines = []
    for i in range(400):
        sensor = f"mq-wx-{i % 7:02d}"
        lines.append(f"weather,sensor_id={sensor},commune=972{i % 34:02d} t={20 + i / 10},h={i}i {T0 + i}")
        if i % 37 == 0:
            lines.append(f'log,sensor_id={sensor} msg="line one\nline two, with \\"quotes\\"\n" {T0 + i}')
        if i % 53 == 0:
            lines.append(f"weather,sensor_id={sensor} t=oops {T0 + i}")
        if i % 61 == 0:
            lines += ["# comment", "", "   "]
        if i % 89 == 0:
            lines.append(f"weather,sensor_id={sensor} t=1 {T0 + i}\r")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("batch_lines", "chunk_bytes", "buffer_bytes"),
    [(1, 64, 64), (2, 7, 20), (3, 4096, 1 << 25), (97, 1000, 1500), (100_000, 1 << 20, 1 << 25)],
)
def test_streaming_matches_parsing_at_once(
    monkeypatch: pytest.MonkeyPatch, batch_lines: int, chunk_bytes: int, buffer_bytes: int
) -> None:
    data = _mixed_file().encode()
    whole = parse_lines(data, default_time_ns=0)
    monkeypatch.setattr(lp, "CHUNK_BYTES", chunk_bytes)
    # a buffer smaller than a window: it grows; larger: the unread tail moves to its front
    monkeypatch.setattr(lp, "READ_BUFFER_BYTES", buffer_bytes)
    batches = list(read_line_protocol(io.BytesIO(data), batch_lines=batch_lines, default_time_ns=0))
    assert _readings_of(batches, "readings").equals(whole.readings)
    assert _readings_of(batches, "text_readings").equals(whole.text_readings)
    assert _readings_of(batches, "rejects").equals(whole.rejects_frame())
    assert _readings_of(batches, "series").unique(maintain_order=True).equals(whole.series)
    assert [b.first_line for b in batches] == [1] + [b.last_line + 1 for b in batches[:-1]]
    assert batches[-1].last_line == whole.lines == data.count(b"\n")
    if batch_lines < 100_000:
        assert len(batches) > 1
    assert whole.text_readings["value"][0] == 'line one\nline two, with "quotes"\n'
    assert len(whole.rejects) == 8


def test_batches_hold_about_batch_lines_lines(tmp_path: Path) -> None:
    path = tmp_path / "many.lp"
    path.write_text("".join(f"m,sensor_id=s x={i} {i}\n" for i in range(1, 1001)))
    batches = list(read_line_protocol(path, batch_lines=300))
    assert [(b.first_line, b.last_line) for b in batches] == [(1, 300), (301, 600), (601, 900), (901, 1000)]
    assert [b.readings.height for b in batches] == [300, 300, 300, 100]


def test_sources_and_parameters() -> None:
    stream = io.BytesIO(b"m,sensor_id=s x=1 1\n")
    assert _readings_of(list(read_line_protocol(stream)), "readings").height == 1
    with pytest.raises(ParameterError, match="text mode") as caught:
        list(read_line_protocol(io.StringIO("m x=1 1\n")))
    assert caught.value.parameter == "source"
    with pytest.raises(DataFormatError, match="cannot open"):
        list(read_line_protocol("/nonexistent/file.lp"))
    for name, value in [("batch_lines", 0), ("max_line_bytes", -1)]:
        with pytest.raises(ParameterError) as caught:
            list(read_line_protocol(io.BytesIO(b""), **{name: value}))
        assert caught.value.parameter == name
    assert parse_lines("").readings.height == 0 and parse_lines("").lines == 0
    assert list(read_line_protocol(io.BytesIO(b""))) == []


def test_parse_line_is_exact_and_strict() -> None:
    point = parse_line('m,t=v i=-9223372036854775808i,u=18446744073709551615u,s="a\\tb",b=TRUE 1')
    assert point == Point(
        "m",
        {"t": "v"},
        {
            "i": ("int", -(2**63)),
            "u": ("uint", 2**64 - 1),
            "s": ("string", "a\tb"),
            "b": ("bool", True),
        },
        1,
    )
    with pytest.raises(DataFormatError, match="missing fields"):
        parse_line("m")
    with pytest.raises(DataFormatError, match="expected one entry, found 2"):
        parse_line("m x=1\nm x=2")


def test_escaping_round_trips() -> None:
    point = Point(
        "mesure, avec=espaces",
        {"clé, =x": "val\\eur, =y", "a\\b": "c\\,d"},
        {'champ "1"': ("string", 'dit "bonjour"\\n\nC:\\'), "x=y": ("float", -0.5)},
        T0,
    )
    line = format_point(point)
    assert line == (
        "mesure\\,\\ avec=espaces,clé\\,\\ \\=x=val\\eur\\,\\ \\=y,a\\b=c\\\\,d "
        'champ\\ "1"=' + '"dit \\"bonjour\\"\\\\n\nC:\\\\",x\\=y=-0.5 ' + str(T0)
    )
    assert parse_line(line) == point
    for bad in (
        point._replace(measurement="#m"),
        point._replace(tags={"k": "v\\"}),
        point._replace(fields={}),
    ):
        with pytest.raises(ParameterError):
            format_point(bad)


def test_the_compiled_pass_is_built_from_this_tree() -> None:
    if not lp.COMPILED:  # CI must never run the slow path unnoticed
        assert os.environ.get("CI") != "true", "observatory.sources._lineproto missing: pip install -e ."
        pytest.skip("observatory.sources._lineproto is not built (pip install -e .)")
    assert Path(lp._lineproto.__file__).parent == Path(lp.__file__).parent
    source = Path(lp.__file__).with_name("_lineproto.c")
    assert Path(lp._lineproto.__file__).stat().st_mtime >= source.stat().st_mtime, "stale build"


def test_plain_sensor_lines_take_the_compiled_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    if not lp.COMPILED:
        pytest.skip("observatory.sources._lineproto is not built (pip install -e .)")

    def refuse(*args: object) -> None:
        raise AssertionError("the byte-level parser was called")

    plain = [line for line in SENSOR_LINES if '"' not in line]
    expected = parse_lines("\n".join(plain), default_time_ns=0).points
    calls = []
    compiled = lp._lineproto.parse
    monkeypatch.setattr(lp._lineproto, "parse", lambda *args: calls.append(1) or compiled(*args))
    monkeypatch.setattr(lp, "_parse_entry", refuse)
    assert parse_lines("\r\n".join(plain), default_time_ns=0).points.equals(expected)
    assert calls and expected.height == 7  # comment and blank lines included


def test_iter_entries_reports_in_input_order() -> None:
    outcomes = list(iter_entries("a x=1\n\nb\nc y=2 3\n"))
    assert [type(o).__name__ for o in outcomes] == ["Point", "Reject", "Point"]
    assert outcomes[1] == Reject(3, "missing fields (column 2)", "b")


# --- The column-wise pass and the byte-level parser agree -------------------------------------

_PLAIN = st.text("abcXYZ019_-.é", min_size=1, max_size=6)
_WILD = st.text('ab ,=\\"#é日\n\t\x00', min_size=1, max_size=6)


def _name(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def clean(text: str) -> str:
        text = "".join(c for c in text if c >= " " and c != "\x7f") or "n"
        return text + "x" if text.endswith("\\") else text

    return alphabet.map(clean)


_FIELD_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: ("float", v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: ("int", v)),
    st.integers(0, 2**64 - 1).map(lambda v: ("uint", v)),
    st.booleans().map(lambda v: ("bool", v)),
    st.text(max_size=8).map(lambda v: ("string", v)),
)


def _points(names: st.SearchStrategy[str]) -> st.SearchStrategy[Point]:
    return st.builds(
        Point,
        _name(names).map(lambda n: n.lstrip("#") or "m"),
        st.dictionaries(_name(names), _name(names), max_size=3),
        st.dictionaries(_name(names), _FIELD_VALUES, min_size=1, max_size=4),
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    )


def _assert_same(data: str | bytes, precision: str = "ns") -> lp.ParseResult:
    fast = parse_lines(data, precision, default_time_ns=0)
    careful = parse_lines(data, precision, default_time_ns=0, fast_path=False)
    assert fast.points.equals(careful.points)
    assert fast.rejects == careful.rejects
    assert fast.series.equals(careful.series)
    return fast


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_points(st.one_of(_PLAIN, _WILD)), min_size=1, max_size=8))
def test_points_round_trip_through_both_paths(points: list[Point]) -> None:
    text = "\n".join(format_point(p) for p in points)
    assert [parse_line(format_point(p)) for p in points] == points
    result = _assert_same(text)
    assert not result.rejects
    assert result.points.height == sum(len(p.fields) for p in points)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text('mx,= tTfFiue.-+0123456789"\\#\r\té', max_size=24),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["ns", "s"]),
)
def test_any_text_gets_the_same_answer_from_both_paths(lines: list[str], precision: str) -> None:
    _assert_same("\n".join(lines), precision)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["v", "w", "x"]), st.text("0123456789.-+eEiutTrRfFaAlLsS_x", max_size=8)),
        min_size=1,
        max_size=4,
    )
)
def test_field_values_get_the_same_answer_from_both_paths(fields: list[tuple[str, str]]) -> None:
    _assert_same("m,sensor_id=s " + ",".join(f"{k}={v}" for k, v in fields) + " 1")


@settings(max_examples=300, deadline=None)
@given(
    st.text('mx=1",\\\n\r #é\t', max_size=60),
    st.integers(1, 4),
    st.integers(1, 9),
    st.integers(3, 30),
    st.integers(1, 40),
)
def test_streaming_any_text_matches_parsing_at_once(
    text: str, batch_lines: int, chunk: int, limit: int, buffer: int
) -> None:
    data = text.encode()
    whole = parse_lines(data, default_time_ns=0, max_line_bytes=limit)
    with mock.patch.object(lp, "CHUNK_BYTES", chunk), mock.patch.object(lp, "READ_BUFFER_BYTES", buffer):
        stream = read_line_protocol(
            io.BytesIO(data), batch_lines=batch_lines, default_time_ns=0, max_line_bytes=limit
        )
        batches = list(stream)
    if not batches:
        assert whole.lines == 0
        return
    assert _readings_of(batches, "readings").equals(whole.readings)
    assert _readings_of(batches, "text_readings").equals(whole.text_readings)
    assert _readings_of(batches, "rejects").equals(whole.rejects_frame())
    assert batches[-1].last_line == whole.lines


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)  # tells -0.0 from 0.0


_FLOAT_TOKENS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"-?(?:[0-9]{1,25}\.?[0-9]{0,25}|\.[0-9]{1,25})(?:[eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(0, 2**64), st.integers(-340, 330)),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_FLOAT_TOKENS, min_size=1, max_size=5))
def test_floats_read_as_python_float_reads_them(tokens: list[str]) -> None:
    # The compiled pass converts short decimals itself (exact there) and hands the rest to
    # CPython's own conversion: every token must give float()'s double, bit for bit.
    data = "".join(f"m,sensor_id=s v={token} {i}\n" for i, token in enumerate(tokens))
    result = _assert_same(data)
    finite = [float(token) for token in tokens if abs(float(token)) != float("inf")]
    assert [_bits(v) for v in result.readings["value"]] == [_bits(v) for v in finite]
    assert len(result.rejects) == len(tokens) - len(finite)  # beyond float64: rejected


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(2**64), 2**65),
    st.sampled_from(["i", "u"]),
    st.integers(-(2**64), 2**64),
    st.sampled_from(list(lp.PRECISION_NS)),
)
def test_integers_and_timestamps_at_the_edges_of_their_range(
    number: int, suffix: str, stamp: int, precision: str
) -> None:
    data = f"m,sensor_id=s v={number}{suffix} {stamp}\n"
    result = _assert_same(data, precision)
    low, high = (lp.INT64_MIN, lp.INT64_MAX) if suffix == "i" else (0, lp.UINT64_MAX)
    in_range = low <= number <= high and lp.INT64_MIN <= stamp * lp.PRECISION_NS[precision] <= lp.INT64_MAX
    if in_range:
        assert result.readings["value"].to_list() == [float(number)]
        assert result.points["time"].dt.epoch("ns").to_list() == [stamp * lp.PRECISION_NS[precision]]
    else:
        assert result.readings.height == 0 and len(result.rejects) == 1


# The compiled pass remembers, per series key, the field keys of its last line and the key that
# followed it: lines that break those habits must still be read as written.

_KEYS = st.sampled_from(["m,s=a", "m,s=b", "m,s=ab", "m,s=ba", "n,s=a", "m"])
_FIELD_KEYS = st.sampled_from(["a", "b", "ab", "ba", "c", "temperature", "temperaturf"])
_TIMESTAMPS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.text("0123456789", min_size=1, max_size=22),
    st.text("0123456789", min_size=1, max_size=21).map(lambda d: "-" + d),
    st.sampled_from(
        [
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "0009223372036854775807",
            "",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_KEYS, st.lists(_FIELD_KEYS, min_size=1, max_size=4), _TIMESTAMPS),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["ns", "ms", "s"]),
)
def test_repeated_series_keys_get_the_same_answer_from_both_paths(
    lines: list[tuple[str, list[str], str]], precision: str
) -> None:
    text = "\n".join(
        f"{key} {','.join(f'{name}={i}.5' for i, name in enumerate(names))} {stamp}".rstrip()
        for key, names, stamp in lines
    )
    _assert_same(text, precision)


def test_a_series_key_naming_its_fields_anew_keeps_each_value_with_its_name() -> None:
    text = "\n".join(
        [
            "m,s=a temperature=1,humidity=2 1",
            "m,s=b temperature=3 1",
            "m,s=a humidity=4,temperature=5 2",  # the same key, its fields the other way round
            "m,s=a humidity=6,temperaturf=7 3",  # a name of the same length at the same place
            "m,s=b temperature=8 9223372036854775807",  # the largest time; the next is refused
            "m,s=b temperature=9 9223372036854775808",
        ]
    )
    result = parse_lines(text, default_time_ns=0)
    got = result.points.select("line_no", "field", "value").rows()
    assert got == [
        (1, "temperature", 1.0),
        (1, "humidity", 2.0),
        (2, "temperature", 3.0),
        (3, "humidity", 4.0),
        (3, "temperature", 5.0),
        (4, "humidity", 6.0),
        (4, "temperaturf", 7.0),
        (5, "temperature", 8.0),
    ]
    assert result.points.get_column("time").dt.epoch("ns").to_list()[-1] == 2**63 - 1
    assert [r.line_no for r in result.rejects] == [6]
    seconds = parse_lines("m x=1 9223372036\nm x=2 9223372037", "s", default_time_ns=0)
    assert seconds.points.get_column("time").dt.epoch("ns").to_list() == [9_223_372_036_000_000_000]
    assert [r.line_no for r in seconds.rejects] == [2]
