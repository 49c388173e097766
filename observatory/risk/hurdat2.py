"""NOAA NHC HURDAT2 best tracks: a vectorised reader and ``Tracks``, the storms and their fixes.

The format is NHC's "HURDAT2" (Landsea & Franklin 2013, Mon. Wea. Rev. 141, 3576–3592): a header
line per storm (``AL091979,              DAVID,     55,``: basin, number and year; name; number of
data lines that follow), then one line per fix: date, time (UTC), record identifier (``L`` landfall,
``I`` intensity peak, ...), status (``HU``, ``TS``, ``TD``, ``EX``, ...), latitude and longitude with
hemisphere, maximum sustained wind (kt, 1-min, 10 m), minimum pressure (mb = hPa), the 34, 50 and
64 kt wind radii in the NE, SE, SW and NW quadrants (nm) and, since the 2022 release, the radius of
maximum wind (nm). Missing values are -999 (-99 for wind in some old records) and become null.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from observatory.errors import DataFormatError, ParameterError, did_you_mean

if TYPE_CHECKING:
    from observatory.config import Settings

QUADRANTS = ("ne", "se", "sw", "nw")
RADII_THRESHOLDS_KT = (34, 50, 64)
RADII_COLUMNS = tuple(f"r{kt}_{q}_nm" for kt in RADII_THRESHOLDS_KT for q in QUADRANTS)
COLUMNS = (
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
    *RADII_COLUMNS,
    "rmw_nm",
)
NUMERIC_COLUMNS = ("wind_kt", "pressure_hpa", *RADII_COLUMNS, "rmw_nm")

# Fields per data line: 21 since the 2022 release (radius of maximum wind added), 20 before.
FIELDS_PER_LINE = (21, 20)
MISSING_VALUE = -999  # HURDAT2's "missing" for pressure, radii and radius of maximum wind
MISSING_WIND_KT = -99  # used instead of -999 for unknown wind in a few 19th-century fixes
STATUSES = frozenset({"TD", "TS", "HU", "EX", "SD", "SS", "LO", "WV", "DB"})
RECORD_IDS = frozenset({"", "C", "G", "I", "L", "P", "R", "S", "T", "W"})
EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
_HEADER_PATTERN = r"^[A-Z]{2}[0-9]{6}$"
_MAX_PROBLEMS_SHOWN = 5
_KEY_STRIDE = np.int64(1) << 34  # seconds (544 years) > the file's time span: storm keys never overlap


class SkippedStormsWarning(UserWarning):
    """Storms with malformed lines were left out because the caller asked for ``on_error='skip'``."""


@dataclass(frozen=True)
class Tracks:
    """Best-track fixes of a set of storms, one row per fix, ordered by storm (file order) and time.

    ``data`` columns: storm_id, name, year, time (UTC), record_id, status, lat, lon (degrees,
    east positive), wind_kt, pressure_hpa, r34_ne_nm … r64_nw_nm, rmw_nm. ``skipped`` names the
    storms left out by ``from_hurdat2(..., on_error='skip')`` with the reason.
    """

    data: pl.DataFrame
    source: Path | None = None
    skipped: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [
            c for c in ("storm_id", "name", "year", "time", "lat", "lon") if c not in self.data.columns
        ]
        if missing:
            raise ParameterError(f"track data lacks the columns {missing}", parameter="data")

    @classmethod
    def from_hurdat2(cls, path: str | Path, on_error: str = "raise") -> Tracks:
        """Read a HURDAT2 text file (the whole Atlantic file in about 0.2 s).

        ``on_error='raise'`` (default) stops at malformed lines with a DataFormatError naming the
        file, the first bad line, every affected storm and how many storms were fine.
        ``on_error='skip'`` leaves out only the affected storms, lists them in ``skipped`` and
        warns (SkippedStormsWarning): nothing is dropped silently.
        """
        if on_error not in ("raise", "skip"):
            raise ParameterError(
                f"on_error={on_error!r} is not offered", parameter="on_error", hint="Use 'raise' or 'skip'."
            )
        path = Path(path)
        try:
            text = path.read_text(encoding="ascii")
        except OSError as exc:
            raise ParameterError(
                f"cannot read {path}: {exc.strerror}",
                parameter="path",
                hint="Give the path of a HURDAT2 text file, or use Tracks.from_registry().",
            ) from exc
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise DataFormatError("non-ASCII byte in a HURDAT2 file", path=path, line=line) from exc
        data, skipped = _parse(text, path, on_error)
        return cls(data=data, source=path, skipped=skipped)

    @classmethod
    def from_registry(cls, config: Settings | None = None) -> Tracks:
        """The registry's HURDAT2 file (1851–2025), fetched once and checked, then read."""
        from observatory.territory.registry import fetch

        return cls.from_hurdat2(fetch("hurdat2", config))

    # -- what is in it ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self.data["storm_id"].n_unique()

    @property
    def storm_ids(self) -> list[str]:
        """Storm identifiers (e.g. ``AL042007``) in file order."""
        return self.data["storm_id"].unique(maintain_order=True).to_list()

    def summary(self) -> pl.DataFrame:
        """One row per storm: storm_id, name, year, n_fixes, start, end, max_wind_kt, min_pressure_hpa."""
        return self.data.group_by("storm_id", maintain_order=True).agg(
            pl.col("name").first(),
            pl.col("year").first(),
            pl.len().alias("n_fixes"),
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("end"),
            pl.col("wind_kt").max().alias("max_wind_kt"),
            pl.col("pressure_hpa").min().alias("min_pressure_hpa"),
        )

    def storm(self, storm_id: str) -> Tracks:
        """The fixes of one storm; a ParameterError with the closest identifier if unknown."""
        key = storm_id.strip().upper()
        ids = self.storm_ids
        if key not in ids:
            raise ParameterError(
                f"no storm {storm_id!r} in {self.source or 'these tracks'}",
                parameter="storm_id",
                hint=did_you_mean(key, ids),
            )
        return self.select([key])

    def select(self, storm_ids: Iterable[str]) -> Tracks:
        """The storms named in ``storm_ids`` (unknown identifiers are ignored), in file order."""
        wanted = pl.Series(list(storm_ids), dtype=pl.String).implode()  # one list, not a column
        return Tracks(self.data.filter(pl.col("storm_id").is_in(wanted)), self.source)

    def find(self, name: str, year: int) -> str:
        """The identifier of the storm called ``name`` in ``year`` (e.g. ``find('DAVID', 1979)``)."""
        storms = self.summary()
        same_year = storms.filter(pl.col("year") == year)
        hits = same_year.filter(pl.col("name") == name.strip().upper())["storm_id"].to_list()
        if len(hits) == 1:
            return hits[0]
        if not hits:
            names = same_year["name"].to_list()
            raise ParameterError(
                f"no storm named {name!r} in {year}",
                parameter="name",
                hint=did_you_mean(name.strip().upper(), names) if names else f"No storm at all in {year}.",
            )
        raise ParameterError(
            f"{len(hits)} storms named {name!r} in {year}: {', '.join(hits)}",
            parameter="name",
            hint="Use Tracks.storm(storm_id) with one of these identifiers.",
        )

    # -- where they went -------------------------------------------------------------------
    def closest_approach_km(
        self, lon: float | np.ndarray, lat: float | np.ndarray, max_km: float = np.inf
    ) -> pl.DataFrame:
        """Smallest distance (km) from each storm's track to any of the points (lon, lat degrees).

        The track is the polyline through the fixes (linear in lat/lon, as ``interpolate``), so a
        pass between two 6-hourly fixes is not missed. Distances use a local equirectangular
        projection around each point (error under 0.5 % up to 1,000 km). Storms farther than
        ``max_km`` from every point get a null distance. Columns: storm_id, name, year, dist_km.
        """
        plon, plat = _points(lon, lat)
        code, lat_f, lon_f = self._codes(), self.data["lat"].to_numpy(), self.data["lon"].to_numpy()
        start, end = _segments(code)
        best = np.full(code.max() + 1 if code.size else 0, np.inf)
        if start.size:
            keep = _segments_near_box(lat_f, lon_f, start, end, plon, plat, max_km)
            start, end = start[keep], end[keep]
            keep = _segments_that_may_be_closest(lat_f, lon_f, start, end, code, plon, plat, max_km)
            start, end = start[keep], end[keep]
            chunk = max(1, 2_000_000 // max(plon.size, 1))
            for lo in range(0, start.size, chunk):
                s, e = start[lo : lo + chunk], end[lo : lo + chunk]
                d = _segment_distance_km(lat_f[s], lon_f[s], lat_f[e], lon_f[e], plon, plat).min(axis=1)
                np.minimum.at(best, code[s], d)
        dist = np.where(best <= max_km, best, np.nan)
        return self.summary().select(
            "storm_id", "name", "year", pl.Series("dist_km", dist, dtype=pl.Float64).fill_nan(None)
        )

    def near(self, lon: float | np.ndarray, lat: float | np.ndarray, dist_km: float) -> Tracks:
        """Storms whose track (fixes or the line between them) comes within ``dist_km`` of a point."""
        if not np.isfinite(dist_km) or dist_km < 0:
            raise ParameterError(f"distance {dist_km} km is not a positive number", parameter="dist_km")
        close = self.closest_approach_km(lon, lat, max_km=dist_km).drop_nulls("dist_km")
        return self.select(close["storm_id"])

    def interpolate(self, step_minutes: float = 60) -> Tracks:
        """Fixes at every multiple of ``step_minutes`` (UTC) within each storm's life, plus the
        original fixes (landfalls at odd times are kept). Position, wind, pressure and radii are
        linear in time between the two fixes around; a value missing at either of them stays
        null. Status is that of the fix before; record_id is kept on original fixes only.
        Numeric columns come back as Float64.
        """
        if not np.isfinite(step_minutes) or step_minutes <= 0:
            raise ParameterError(
                f"step of {step_minutes} min", parameter="step_minutes", hint="Use e.g. 10–60."
            )
        if self.data.is_empty():
            return self
        code = self._codes()
        t = _seconds(self.data["time"])
        new_code, new_t = _regular_times(code, t, int(round(step_minutes * 60)))
        key_fix = code * _KEY_STRIDE + (t - t.min())
        key_new = np.sort(np.concatenate([new_code * _KEY_STRIDE + (new_t - t.min()), key_fix]))
        key_new = key_new[np.r_[True, key_new[1:] != key_new[:-1]]]
        left = np.searchsorted(key_fix, key_new, side="right") - 1
        right = np.minimum(left + 1, t.size - 1)
        new_t = key_new - code[left] * _KEY_STRIDE + t.min()
        span = (t[right] - t[left]).astype(np.float64)
        same = (code[right] == code[left]) & (span > 0)
        w = np.where(same, (new_t - t[left]) / np.where(same, span, 1.0), 0.0)
        exact = w == 0
        columns = {
            name: self.data[name].gather(left)
            for name in ("storm_id", "name", "year", "status")
            if name in self.data.columns
        }
        columns["time"] = pl.Series("time", new_t * 1_000_000, dtype=pl.Int64).cast(self.data["time"].dtype)
        if "record_id" in self.data.columns:
            rec = pl.DataFrame({"r": self.data["record_id"].gather(left), "e": exact})
            columns["record_id"] = rec.select(pl.when("e").then("r")).to_series()
        lat = self.data["lat"].to_numpy()
        lon = self.data["lon"].to_numpy()
        columns["lat"] = pl.Series(_lerp(lat[left], lat[right], w, exact))
        dlon = (lon[right] - lon[left] + 180.0) % 360.0 - 180.0
        columns["lon"] = pl.Series(np.where(exact, lon[left], (lon[left] + w * dlon + 180.0) % 360.0 - 180.0))
        for name in NUMERIC_COLUMNS:
            if name in self.data.columns:
                v = self.data[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
                columns[name] = pl.Series(_lerp(v[left], v[right], w, exact)).fill_nan(None)
        order = [c for c in self.data.columns if c in columns]
        frame = pl.DataFrame({c: pl.Series(c, columns[c]) for c in order})
        return Tracks(frame, self.source)

    def _codes(self) -> np.ndarray:
        """Storm index (0, 1, ...) of every fix, in file order."""
        ids = self.data["storm_id"]
        return ids.rle_id().to_numpy().astype(np.int64)


# -- reading ---------------------------------------------------------------------------------


def _parse(text: str, path: Path, on_error: str) -> tuple[pl.DataFrame, dict[str, str]]:
    lines = pl.Series("line", text.split("\n")).str.strip_suffix("\r")
    frame = (
        pl.DataFrame({"line": lines})
        .with_row_index("line_no", offset=1)
        .filter(pl.col("line").str.strip_chars() != "")
        .with_columns(is_header=pl.col("line").str.contains(r"^\s*[A-Za-z]"))
        .with_columns(storm=pl.col("is_header").cum_sum().cast(pl.Int64))
    )
    headers = _parse_headers(frame.filter(pl.col("is_header")))
    fixes, problems = _parse_fixes(frame.filter(~pl.col("is_header")))
    problems = pl.concat([problems, _header_problems(headers, fixes)], how="vertical")
    skipped: dict[str, str] = {}
    if not problems.is_empty():
        problems = problems.sort("line_no").join(headers.select("storm", "label"), on="storm", how="left")
        problems = problems.with_columns(pl.col("label").fill_null("(lines before the first storm header)"))
        if on_error == "raise":
            _raise(problems, headers, path)
        first = problems.group_by("label", maintain_order=True).agg(
            pl.col("line_no").first(), pl.col("message").first()
        )
        skipped = {r["label"]: f"line {r['line_no']}: {r['message']}" for r in first.iter_rows(named=True)}
        bad = problems["storm"].unique().to_list()
        headers = headers.filter(~pl.col("storm").is_in(bad))
        fixes = fixes.filter(~pl.col("storm").is_in(bad))
        warnings.warn(
            f"{path}: left out {len(skipped)} storm(s) with malformed lines: "
            + "; ".join(f"{k} ({v})" for k, v in list(skipped.items())[:_MAX_PROBLEMS_SHOWN]),
            SkippedStormsWarning,
            stacklevel=3,
        )
    data = fixes.join(headers.select("storm", "storm_id", "name", "year"), on="storm", how="inner")
    return data.sort("storm", "time").select(COLUMNS), skipped


def _parse_headers(rows: pl.DataFrame) -> pl.DataFrame:
    parts = pl.col("line").str.strip_suffix(",").str.split(",")
    out = rows.select(
        "line_no",
        "storm",
        parts.list.len().alias("n_fields"),
        parts.list.get(0, null_on_oob=True).str.strip_chars().alias("storm_id"),
        parts.list.get(1, null_on_oob=True).str.strip_chars().alias("name"),
        parts.list.get(2, null_on_oob=True).str.strip_chars().alias("count_text"),
    )
    return out.with_columns(
        count=pl.col("count_text").cast(pl.Int64, strict=False),
        year=pl.col("storm_id").str.slice(4, 4).cast(pl.Int32, strict=False),
        label=pl.when(pl.col("storm_id").str.contains(_HEADER_PATTERN))
        .then(pl.concat_str("storm_id", pl.lit(" "), "name"))
        .otherwise(pl.format("header line {}", "line_no")),
    )


def _header_problems(headers: pl.DataFrame, fixes: pl.DataFrame) -> pl.DataFrame:
    counts = fixes.group_by("storm").agg(pl.len().alias("found"))
    h = headers.join(counts, on="storm", how="left").with_columns(pl.col("found").fill_null(0))
    shaped = pl.col("n_fields") == 3  # a header of the wrong length is reported for that alone
    checks = [
        (~shaped, pl.format("storm header has {} fields instead of 3", "n_fields")),
        (
            shaped & ~pl.col("storm_id").str.contains(_HEADER_PATTERN).fill_null(False),
            pl.format("storm identifier '{}' is not like AL091979", "storm_id"),
        ),
        (
            shaped & pl.col("count").is_null(),
            pl.format("number of data lines '{}' is not an integer", "count_text"),
        ),
        (
            shaped & pl.col("storm_id").is_duplicated(),
            pl.format("storm identifier {} appears in more than one header", "storm_id"),
        ),
        (
            pl.col("count").is_not_null() & (pl.col("count") != pl.col("found")),
            pl.format("header declares {} data lines but {} follow", "count", "found"),
        ),
    ]
    return _collect(h, checks)


def _parse_fixes(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    parts = rows.select(
        "line_no",
        "storm",
        pl.col("line").str.strip_suffix(",").str.split(",").alias("p"),
    ).with_columns(n_fields=pl.col("p").list.len())
    layout = int(parts["n_fields"][0]) if parts.height and parts["n_fields"][0] in FIELDS_PER_LINE else 21
    f = [pl.col("p").list.get(i, null_on_oob=True).str.strip_chars().alias(f"f{i}") for i in range(layout)]
    raw = parts.select("line_no", "storm", "n_fields", *f)
    numeric = {name: f"f{6 + i}" for i, name in enumerate(NUMERIC_COLUMNS[: layout - 6])}
    parsed = raw.with_columns(
        time=pl.concat_str("f0", "f1").str.to_datetime("%Y%m%d%H%M", time_zone="UTC", strict=False),
        record_id=pl.col("f2"),
        status=pl.col("f3"),
        lat_abs=pl.col("f4").str.head(-1).cast(pl.Float64, strict=False),
        lat_hemi=pl.col("f4").str.tail(1),
        lon_abs=pl.col("f5").str.head(-1).cast(pl.Float64, strict=False),
        lon_hemi=pl.col("f5").str.tail(1),
        **{name: pl.col(src).cast(pl.Int32, strict=False) for name, src in numeric.items()},
    )
    if "rmw_nm" not in numeric:
        parsed = parsed.with_columns(rmw_nm=pl.lit(MISSING_VALUE, dtype=pl.Int32))
    problems = _collect(parsed, _fix_checks(layout, numeric))
    sentinel = {name: MISSING_WIND_KT if name == "wind_kt" else MISSING_VALUE for name in NUMERIC_COLUMNS}
    fixes = parsed.with_columns(
        lat=pl.when(pl.col("lat_hemi") == "S").then(-pl.col("lat_abs")).otherwise(pl.col("lat_abs")),
        lon=pl.when(pl.col("lon_hemi") == "W").then(-pl.col("lon_abs")).otherwise(pl.col("lon_abs")),
        record_id=pl.when(pl.col("record_id") == "").then(None).otherwise(pl.col("record_id")),
        **{
            name: pl.when(pl.col(name).is_in([MISSING_VALUE, sentinel[name]]))
            .then(None)
            .otherwise(pl.col(name))
            for name in NUMERIC_COLUMNS
        },
    )
    later = fixes.with_columns(prev=pl.col("time").shift(1).over("storm"))
    order = _collect(
        later,
        [
            (
                (pl.col("time") <= pl.col("prev")).fill_null(False),
                pl.format("time {} is not after the previous fix", "time"),
            )
        ],
    )
    return fixes.drop("p", strict=False), pl.concat([problems, order], how="vertical")


def _fix_checks(layout: int, numeric: dict[str, str]) -> list[tuple[pl.Expr, pl.Expr]]:
    shaped = pl.col("n_fields") == layout  # a line of the wrong length is reported for that alone
    checks = [
        (pl.col("storm") == 0, pl.lit("data line before any storm header")),
        (~shaped, pl.format("{} fields instead of {} (comma-separated)", "n_fields", pl.lit(layout))),
        (pl.col("time").is_null(), pl.format("unreadable date/time '{} {}'", "f0", "f1")),
        (~pl.col("record_id").is_in(sorted(RECORD_IDS)), pl.format("unknown record identifier '{}'", "f2")),
        (~pl.col("status").is_in(sorted(STATUSES)), pl.format("unknown status '{}'", "f3")),
        (
            ~pl.col("lat_hemi").is_in(["N", "S"]) | ~pl.col("lat_abs").is_between(0, 90),
            pl.format("latitude '{}' is not like 14.6N (0–90 with N or S)", "f4"),
        ),
        (
            ~pl.col("lon_hemi").is_in(["E", "W"]) | ~pl.col("lon_abs").is_between(0, 180),
            pl.format("longitude '{}' is not like 61.0W (0–180 with E or W)", "f5"),
        ),
    ]
    for name, src in numeric.items():
        allowed = [MISSING_VALUE, MISSING_WIND_KT] if name == "wind_kt" else [MISSING_VALUE]
        checks.append(
            (
                pl.col(name).is_null() | ((pl.col(name) < 0) & ~pl.col(name).is_in(allowed)),
                pl.format("{} '{}' is not a whole number ≥ 0 (or -999 for missing)", pl.lit(name), src),
            )
        )
    return checks[:2] + [(shaped & bad.fill_null(True), message) for bad, message in checks[2:]]


def _collect(frame: pl.DataFrame, checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.DataFrame:
    """Rows failing any check as (line_no, storm, message); a row failing several gives several."""
    parts = [
        frame.filter(bad.fill_null(True)).select(
            pl.col("line_no").cast(pl.Int64), pl.col("storm"), message.fill_null("malformed").alias("message")
        )
        for bad, message in checks
    ]
    return pl.concat(parts, how="vertical") if parts else pl.DataFrame()


def _raise(problems: pl.DataFrame, headers: pl.DataFrame, path: Path) -> None:
    affected = problems["label"].unique(maintain_order=True).to_list()
    shown = problems.head(_MAX_PROBLEMS_SHOWN)
    details = "; ".join(
        f"line {r['line_no']} ({r['label']}): {r['message']}" for r in shown.iter_rows(named=True)
    )
    more = f" and {problems.height - shown.height} more" if problems.height > shown.height else ""
    good = headers.height - problems.filter(pl.col("storm") > 0)["storm"].n_unique()
    raise DataFormatError(
        f"{problems.height} problem(s) on {problems['line_no'].n_unique()} line(s) of {len(affected)} storm(s) "
        f"[{', '.join(affected[:10])}{' …' if len(affected) > 10 else ''}]: {details}{more}",
        path=path,
        line=int(problems["line_no"][0]),
        hint=(
            f"The other {good} storms read cleanly. Fix the lines named, or read with "
            "on_error='skip' to leave out only the affected storms (listed in Tracks.skipped)."
        ),
    )


# -- geometry and time helpers ---------------------------------------------------------------


def _points(lon: float | np.ndarray, lat: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plon = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
    plat = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
    if plon.shape != plat.shape or plon.size == 0:
        raise ParameterError("lon and lat must be non-empty arrays of one length", parameter="lon/lat")
    if not (np.all(np.abs(plat) <= 90) and np.all(np.abs(plon) <= 360)):
        raise ParameterError("coordinates out of range (degrees expected)", parameter="lon/lat")
    return plon, plat


def _segments(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (start, end) of consecutive fixes of one storm; a one-fix storm is (i, i)."""
    n = code.size
    idx = np.arange(n)
    pair = idx[:-1][code[:-1] == code[1:]]
    counts = np.bincount(code)
    lone = idx[counts[code] == 1]
    return np.concatenate([pair, lone]), np.concatenate([pair + 1, lone])


def _segments_near_box(lat, lon, start, end, plon, plat, max_km) -> np.ndarray:
    """Segments whose bounding box, grown by ``max_km``, meets the points' bounding box."""
    if not np.isfinite(max_km):
        return np.ones(start.size, dtype=bool)
    pad_lat = np.degrees(max_km / EARTH_RADIUS_KM)
    pad_lon = pad_lat / max(np.cos(np.radians(min(89.0, np.abs(plat).max() + pad_lat))), 1e-3)
    lo_lat, hi_lat = np.minimum(lat[start], lat[end]), np.maximum(lat[start], lat[end])
    centre = 0.5 * (plon.min() + plon.max())
    a = (lon[start] - centre + 180.0) % 360.0 - 180.0
    b = (lon[end] - centre + 180.0) % 360.0 - 180.0
    lo_lon, hi_lon = np.minimum(a, b), np.maximum(a, b)
    half = 0.5 * (plon.max() - plon.min())
    return (
        (hi_lat >= plat.min() - pad_lat)
        & (lo_lat <= plat.max() + pad_lat)
        & (hi_lon >= -half - pad_lon)
        & (lo_lon <= half + pad_lon)
    )


def _segments_that_may_be_closest(lat, lon, start, end, code, plon, plat, max_km) -> np.ndarray:
    """Prune segments with bounds from the points' centre: a segment farther from the centre than
    another segment of its storm by more than the points' spread (diameter) cannot be the closest,
    so only a few segments per storm need the exact distance to every point."""
    clon, clat = np.array([0.5 * (plon.min() + plon.max())]), np.array([0.5 * (plat.min() + plat.max())])
    spread = _segment_distance_km(np.array([clat[0]]), np.array([clon[0]]), clat, clon, plon, plat).max()
    spread = 1.02 * spread + 1.0  # margin for the different local projections
    centre = _segment_distance_km(lat[start], lon[start], lat[end], lon[end], clon, clat)[:, 0]
    upper = np.full(code.max() + 1, np.inf)
    np.minimum.at(upper, code[start], centre + spread)
    lower = centre - spread
    return (lower <= upper[code[start]]) & (lower <= max_km)


def _segment_distance_km(lat_a, lon_a, lat_b, lon_b, plon, plat) -> np.ndarray:
    """Distance (km) from each point to each segment A–B, shape (n_segments, n_points).

    Longitudes are wrapped once per segment end about the points' centre (the points span far
    less than 180°), and A–B takes the short way round, so no per-element modulo is needed.
    """
    k = np.radians(1.0) * EARTH_RADIUS_KM
    lon0 = 0.5 * (plon.min() + plon.max())
    xa = (lon_a - lon0 + 180.0) % 360.0 - 180.0
    dlon = (lon_b - lon_a + 180.0) % 360.0 - 180.0
    scale = (np.cos(np.radians(plat)) * k)[None, :]
    ax = (xa[:, None] - (plon - lon0)[None, :]) * scale
    ay = (lat_a[:, None] - plat[None, :]) * k
    dx = dlon[:, None] * scale
    dy = ((lat_b - lat_a) * k)[:, None]
    t = ax * dx
    t += ay * dy
    length2 = dx * dx
    length2 += dy * dy
    length2 += 1e-12  # a one-fix storm is a segment of length 0: t = 0
    np.divide(t, length2, out=t)
    np.clip(-t, 0.0, 1.0, out=t)
    ax += t * dx
    ay += t * dy
    ax *= ax
    ay *= ay
    ax += ay
    return np.sqrt(ax, out=ax)


def _seconds(times: pl.Series) -> np.ndarray:
    """Seconds since 1970 (int64) of a Datetime series."""
    return times.dt.epoch("s").to_numpy().astype(np.int64)


def _regular_times(code: np.ndarray, t: np.ndarray, step_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Every multiple of ``step_s`` between each storm's first and last fix: (storm code, seconds)."""
    first = np.r_[0, np.flatnonzero(np.diff(code)) + 1]
    last = np.r_[first[1:] - 1, code.size - 1]
    start = -(-t[first] // step_s) * step_s
    counts = np.maximum((t[last] - start) // step_s + 1, 0)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    new_t = np.repeat(start, counts) + (np.arange(counts.sum()) - offsets) * step_s
    return np.repeat(code[first], counts), new_t


def _lerp(a: np.ndarray, b: np.ndarray, w: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.where(exact, a, a + w * (b - a))
