"""Reading NHC's HURDAT2 best tracks: the real 1851–2025 file, malformed copies of its lines, and
what ``Tracks`` answers about storms near Martinique."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from observatory.errors import DataFormatError, ParameterError
from observatory.risk.hurdat2 import RADII_COLUMNS, SkippedStormsWarning, Tracks
from observatory.territory.registry import fetch

FORT_DE_FRANCE = (-61.07, 14.61)


@pytest.fixture(scope="module")
def hurdat2_path() -> Path:
    return fetch("hurdat2")


@pytest.fixture(scope="module")
def tracks(hurdat2_path) -> Tracks:
    return Tracks.from_hurdat2(hurdat2_path)


@pytest.fixture(scope="module")
def blocks(hurdat2_path) -> dict[str, list[str]]:
    """Real lines of three storms (header + data lines), keyed by storm id."""
    lines = hurdat2_path.read_text().split("\n")
    out = {}
    for storm_id in ("AL042007", "AL152017", "AL091979"):
        start = next(i for i, line in enumerate(lines) if line.startswith(storm_id))
        count = int(lines[start].split(",")[2])
        out[storm_id] = lines[start : start + 1 + count]
    return out


def _write(tmp_path: Path, blocks: dict[str, list[str]], edit=None, newline: str = "\n") -> Path:
    """Dean (file lines 1–43), Maria (44–112), David (113–168); ``edit`` may change the line list."""
    lines = [line for block in blocks.values() for line in block]
    if edit is not None:
        lines = edit(list(lines))
    path = tmp_path / "hurdat2_excerpt.txt"
    path.write_bytes(newline.join(lines).encode("ascii"))
    return path


# -- the real file -----------------------------------------------------------------------------


def test_whole_file_has_2004_storms_and_55605_fixes_1851_to_2025(tracks):
    assert len(tracks) == 2004
    assert tracks.data.height == 55_605
    assert (tracks.data["year"].min(), tracks.data["year"].max()) == (1851, 2025)
    assert tracks.data["time"].min() == datetime(1851, 6, 25, 0, 0, tzinfo=UTC)


def test_columns_carry_their_units_and_time_is_utc(tracks):
    expected = [
        "storm_id",
        "name",
        "year",
        "time",
        "record_id",
        "status",
        "lat",
        "lon",
        "wind_kt",
        "pressure_hpa",
    ]
    assert tracks.data.columns == [*expected, *RADII_COLUMNS, "rmw_nm"]
    assert tracks.data.schema["time"] == pl.Datetime("us", "UTC")
    assert RADII_COLUMNS[0] == "r34_ne_nm" and RADII_COLUMNS[-1] == "r64_nw_nm"


def test_dean_2007_and_maria_2017_fix_counts(tracks):
    dean = tracks.storm("AL042007").data
    maria = tracks.storm("AL152017").data
    assert (dean.height, dean["name"][0]) == (42, "DEAN")
    assert (maria.height, maria["name"][0]) == (68, "MARIA")
    assert tracks.storm("al091979").data["name"][0] == "DAVID"  # David 1979 is AL091979, not AL041979


def test_first_fix_values_and_hemispheres(tracks):
    first = tracks.data.row(0, named=True)
    assert (first["storm_id"], first["lat"], first["lon"], first["wind_kt"]) == ("AL011851", 28.0, -94.8, 80)
    assert first["pressure_hpa"] is None and first["r34_ne_nm"] is None  # -999 -> null
    east = tracks.data.filter(pl.col("lon") > 0)
    assert east.height > 0 and east["lon"].max() <= 180


def test_missing_values_become_null_not_minus_999(tracks):
    numeric = tracks.data.select("wind_kt", "pressure_hpa", *RADII_COLUMNS, "rmw_nm")
    assert all(low >= 0 for low in numeric.select(pl.all().min()).row(0))
    assert tracks.data["wind_kt"].null_count() == 57  # the -99 winds of old records
    dean = tracks.storm("AL042007").data
    assert dean["rmw_nm"].null_count() == 42 and dean["r34_ne_nm"][0] == 0


def test_record_identifiers_and_landfalls(tracks):
    dean = tracks.storm("AL042007").data.filter(pl.col("record_id") == "L")
    assert dean["time"].to_list() == [
        datetime(2007, 8, 21, 8, 30, tzinfo=UTC),
        datetime(2007, 8, 22, 16, 30, tzinfo=UTC),
    ]
    assert tracks.data["record_id"].null_count() > 50_000  # blank identifiers are null
    assert set(tracks.data["status"].unique()) <= {"TD", "TS", "HU", "EX", "SD", "SS", "LO", "WV", "DB"}


def test_find_historic_storms_by_name_and_year(tracks):
    assert tracks.find("Dorothy", 1970) == "AL091970"
    assert tracks.find("EDITH", 1963) == "AL061963"
    assert tracks.find("david", 1979) == "AL091979"


def test_unknown_storm_suggests_the_closest_id(tracks):
    with pytest.raises(ParameterError, match="Did you mean 'AL042007'"):
        tracks.storm("AL042007X")
    with pytest.raises(ParameterError, match="Did you mean 'DAVID'"):
        tracks.find("DAVE", 1979)
    with pytest.raises(ParameterError, match="10 storms named 'UNNAMED' in 1891"):
        tracks.find("UNNAMED", 1891)


def test_summary_one_row_per_storm(tracks):
    summary = tracks.summary()
    assert summary.height == 2004 and summary["n_fixes"].sum() == 55_605
    david = summary.filter(pl.col("storm_id") == "AL091979").row(0, named=True)
    assert (david["n_fixes"], david["max_wind_kt"], david["min_pressure_hpa"]) == (55, 150, 924)


# -- near and interpolate -----------------------------------------------------------------------


def test_closest_approach_uses_the_track_between_fixes(tracks):
    dean = tracks.storm("AL042007")
    lon, lat = FORT_DE_FRANCE
    along_track = dean.closest_approach_km(lon, lat)["dist_km"][0]
    k = np.radians(1.0) * 6371.0
    fixes = dean.data
    dx = (fixes["lon"].to_numpy() - lon) * np.cos(np.radians(lat)) * k
    dy = (fixes["lat"].to_numpy() - lat) * k
    nearest_fix = np.hypot(dx, dy).min()
    assert nearest_fix > 70  # 6-hourly fixes straddle the island
    assert along_track < 40 < nearest_fix  # Dean's eye crossed the St Lucia channel


def test_near_martinique_keeps_dean_david_maria_drops_far_storms(tracks):
    lon, lat = FORT_DE_FRANCE
    near = tracks.near(lon, lat, 300)
    ids = set(near.storm_ids)
    assert {"AL042007", "AL091979", "AL152017", "AL091970", "AL061963"} <= ids
    assert "AL011851" not in ids  # Texas 1851
    assert 150 < len(near) < 400
    assert near.closest_approach_km(lon, lat)["dist_km"].max() <= 300
    with pytest.raises(ParameterError):
        tracks.near(lon, lat, -1)


def test_near_accepts_many_points(tracks):
    lon = np.array([-61.2, -60.8])
    lat = np.array([14.4, 14.9])
    both = set(tracks.near(lon, lat, 50).storm_ids)
    assert set(tracks.near(lon[:1], lat[:1], 50).storm_ids) <= both


def test_interpolate_keeps_fixes_and_fills_steps(tracks):
    dean = tracks.storm("AL042007")
    hourly = dean.interpolate(step_minutes=60).data
    times = hourly["time"]
    assert times.is_sorted() and times.n_unique() == hourly.height
    first, last = dean.data["time"].min(), dean.data["time"].max()
    assert (times.min(), times.max()) == (first, last)
    original = hourly.join(dean.data.select("time"), on="time", how="semi")
    assert original.height == 42  # 08:30 and 16:30 landfalls kept
    assert original.filter(pl.col("record_id") == "L").height == 2
    at_9 = hourly.filter(pl.col("time") == datetime(2007, 8, 17, 9, tzinfo=UTC)).row(0, named=True)
    assert at_9["lat"] == pytest.approx(14.2 + 0.2 * 3 / 6)
    assert at_9["lon"] == pytest.approx(-59.8 - 1.9 * 3 / 6)
    assert at_9["pressure_hpa"] == pytest.approx(975 - 8 * 3 / 6)
    assert at_9["record_id"] is None and at_9["status"] == "HU"
    assert hourly["rmw_nm"].null_count() == hourly.height  # missing at both ends stays missing


def test_interpolate_rejects_a_bad_step(tracks):
    with pytest.raises(ParameterError, match="step"):
        tracks.storm("AL042007").interpolate(step_minutes=0)


# -- malformed files: file and line named, good storms not dropped silently ---------------------


def test_wrong_field_count_names_file_line_and_storm(tmp_path, blocks):
    def drop_field(lines):
        lines[46] = lines[46].rsplit(",", 1)[0]  # Maria's third data line, file line 47
        return lines

    path = _write(tmp_path, blocks, drop_field)
    with pytest.raises(DataFormatError) as info:
        Tracks.from_hurdat2(path)
    error = info.value
    assert error.path == path and error.line == 47
    assert "20 fields instead of 21" in str(error) and "AL152017 MARIA" in str(error)
    assert f"{path}:47" in str(error)
    assert "other 2 storms read cleanly" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("12.2N", "12.2Q", "latitude '12.2Q'"),
        ("28.9W", "28.9X", "longitude '28.9X'"),
        ("12.2N", "95.0N", "latitude"),
    ],
)
def test_bad_hemisphere_or_range_is_refused(tmp_path, blocks, old, new, what):
    def corrupt(lines):
        lines[1] = lines[1].replace(old, new)  # Dean's first data line, file line 2
        return lines

    with pytest.raises(DataFormatError, match=what) as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, corrupt))
    assert info.value.line == 2


def test_header_count_mismatch_points_at_the_header(tmp_path, blocks):
    def drop_line(lines):
        del lines[5]
        return lines

    with pytest.raises(DataFormatError, match="declares 42 data lines but 41 follow") as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, drop_line))
    assert info.value.line == 1


def test_several_problems_are_all_listed(tmp_path, blocks):
    def corrupt(lines):
        lines[2] = lines[2].replace(",  30,", ",  3O,")  # Dean wind, line 3
        lines[120] = lines[120].replace("HU", "XX")  # David status, line 121
        return lines

    with pytest.raises(DataFormatError) as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, corrupt))
    text = str(info.value)
    assert info.value.line == 3
    assert "wind_kt '3O'" in text and "unknown status 'XX'" in text
    assert "AL042007 DEAN" in text and "AL091979 DAVID" in text and "other 1 storms" in text


def test_skip_mode_drops_only_the_bad_storm_and_says_so(tmp_path, blocks):
    def drop_field(lines):
        lines[46] = lines[46].rsplit(",", 1)[0]
        return lines

    path = _write(tmp_path, blocks, drop_field)
    with pytest.warns(SkippedStormsWarning, match="AL152017 MARIA"):
        tracks = Tracks.from_hurdat2(path, on_error="skip")
    assert tracks.storm_ids == ["AL042007", "AL091979"]
    assert tracks.data.height == 42 + 55
    assert list(tracks.skipped) == ["AL152017 MARIA"] and "line 47" in tracks.skipped["AL152017 MARIA"]


def test_times_must_increase_within_a_storm(tmp_path, blocks):
    def swap(lines):
        lines[3], lines[4] = lines[4], lines[3]
        return lines

    with pytest.raises(DataFormatError, match="not after the previous fix") as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, swap))
    assert info.value.line == 5


def test_data_line_before_any_header(tmp_path, blocks):
    with pytest.raises(DataFormatError, match="before any storm header") as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, lambda lines: [lines[1], *lines]))
    assert info.value.line == 1


def test_stray_text_line_is_reported_with_its_number(tmp_path, blocks):
    def insert(lines):
        lines.insert(10, "this is not a fix")
        return lines

    with pytest.raises(DataFormatError, match="line 11 .*: storm header has 1 fields") as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, insert))
    assert info.value.line == 1  # Dean's header now announces 42 lines but only 9 follow it


def test_crlf_endings_and_trailing_newline_read_the_same(tmp_path, blocks):
    path = _write(tmp_path, blocks, lambda lines: [*lines, ""], newline="\r\n")
    tracks = Tracks.from_hurdat2(path)
    assert tracks.storm_ids == ["AL042007", "AL152017", "AL091979"]
    assert tracks.data.height == 42 + 68 + 55


def test_pre_2022_layout_without_rmw_is_read(tmp_path, blocks):
    def old_layout(lines):
        return [line if line[:2].isalpha() else line.rsplit(",", 1)[0] + "," for line in lines]

    tracks = Tracks.from_hurdat2(_write(tmp_path, blocks, old_layout))
    assert tracks.data.height == 165 and tracks.data["rmw_nm"].null_count() == 165


def test_non_ascii_byte_is_located(tmp_path, blocks):
    path = tmp_path / "bad.txt"
    lines = [line for block in blocks.values() for line in block]
    path.write_bytes(("\n".join(lines[:3]) + "\n").encode() + "Dé\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match="non-ASCII") as info:
        Tracks.from_hurdat2(path)
    assert info.value.line == 4


def test_on_error_must_be_raise_or_skip(hurdat2_path):
    with pytest.raises(ParameterError, match="'raise' or 'skip'"):
        Tracks.from_hurdat2(hurdat2_path, on_error="ignore")


def test_a_storm_id_twice_is_refused(tmp_path, blocks):
    def repeat_dean(lines):
        return lines + lines[:43]

    with pytest.raises(DataFormatError, match="AL042007 appears in more than one header") as info:
        Tracks.from_hurdat2(_write(tmp_path, blocks, repeat_dean))
    assert info.value.line == 1


def test_missing_file_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="cannot read") as info:
        Tracks.from_hurdat2(tmp_path / "nowhere.txt")
    assert info.value.parameter == "path"
