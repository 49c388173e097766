"""The privacy gate every dataset passes before a release writes it: no direct identifier, keyed
pseudonyms, citizen-report coordinates coarsened, statistical secrecy on counts.

Only ``gate`` makes a ``Cleared`` dataset and the release writers take nothing else, so a release
cannot publish rows that did not pass here. A refusal is a PrivacyError that names the dataset,
the reason and the offending columns or cells (values masked: the error itself leaks nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from observatory.config import Settings
from observatory.errors import ConfigError, PrivacyError
from observatory.releases.catalog import DatasetSpec
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS
from observatory.territory.grid import DEFAULT_CELL_M
from observatory.warehouse.store import Warehouse

# Warehouse tables that hold personal data, and their personal columns (sources.base REPORTS_SCHEMA:
# free text and reporter as given; report_id is ODK's instance id, a link back to the submission).
PERSONAL_TABLES: dict[str, tuple[str, ...]] = {"reports": ("report_id", "text", "reporter")}
KEY_FILE = Path("keys") / "pseudonym.key"  # inside the data directory, never in the repository
MIN_KEY_BYTES = 32  # HMAC-SHA256 key: at least the hash's output size (RFC 2104, section 3)
FREE_TEXT_MIN_WORDS = 5  # a value of five words or more is free text (a label is shorter)
MIN_PERSONAL_CHARS = 4  # shorter personal values ("A", "Jo") would match ordinary labels
MAX_ROWS_SHOWN = 5
# Coordinate ranges of Martinique and its waters (degrees): a float column entirely inside one of
# them is taken for a coordinate, whatever its name.
LON_RANGE_DEG = (-61.5, -60.5)
LAT_RANGE_DEG = (14.2, 15.1)
COORDINATE_NAMES = ("lon", "lat", "lng", "long", "longitude", "latitude", "x", "y")

# Column names that say "direct identifier" in any dataset (compared without accents or case).
_IDENTIFIER_WORDS = (
    "phone",
    "telephone",
    "email",
    "courriel",
    "reporter",
    "submitter",
    "firstname",
    "lastname",
    "fullname",
    "surname",
    "prenom",
    "address",
    "adresse",
    "comment",
    "commentaire",
)
_IDENTIFIER_TOKENS = ("tel", "mail", "gsm", "mobile", "portable")
# ... and in a dataset derived from personal tables, also these (a commune's "name" is fine elsewhere).
_PERSONAL_SOURCE_TOKENS = (
    "name",
    "nom",
    "text",
    "texte",
    "description",
    "message",
    "note",
    "notes",
    "remarque",
)

# French numbers, national (0 + 9 digits) or international (+33, +590/594/596 overseas, +262/269,
# +687/689), with any of space, dot, dash between digits; and any other +CC number of 8-14 digits.
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\s?(?:33|59\d|26\d|68\d)[\s.\-]?(?:\(0\)[\s.\-]?)?|0)[1-9](?:[\s.\-]?\d){8}(?!\d)"
    r"|(?<![\w+])\+\d(?:[\s.\-]?\d){7,13}(?!\d)"
)
_AT = r"(?:@|\s?[\[({]\s?(?:at|arobase)\s?[\])}]\s?|\sarobase\s)"
_DOT = r"(?:\.|\s?[\[({]\s?(?:dot|point)\s?[\])}]\s?)"
_EMAIL = re.compile(rf"[\w.%+\-]+{_AT}[\w\-]+(?:{_DOT}[\w\-]+)*{_DOT}[a-z]{{2,}}\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{2,}")
_TOKEN = object()


@dataclass(frozen=True)
class Finding:
    """One reason to refuse: the column (or None for the dataset), why, and which rows (1-based)."""

    column: str | None
    reason: str
    rows: tuple[int, ...] = ()
    count: int = 0
    sample: str | None = None

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column else "dataset"
        text = f"{where}: {self.reason}"
        if self.count:
            shown = ", ".join(map(str, self.rows))
            more = f" and {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
            text += f" (row {shown}{more})"
        if self.sample:
            text += f", e.g. {self.sample!r}"
        return text


class Cleared:
    """A dataset the gate let through: the frame to publish and what the gate did to it."""

    __slots__ = ("coarsened", "dataset", "frame", "pseudonymised", "suppressed")

    def __init__(
        self,
        token: object,
        dataset: DatasetSpec,
        frame: pl.DataFrame,
        suppressed: int,
        pseudonymised: tuple[str, ...],
        coarsened: int,
    ) -> None:
        if token is not _TOKEN:
            raise TypeError("only observatory.releases.privacy.gate() clears a dataset for release")
        self.dataset, self.frame, self.suppressed = dataset, frame, suppressed
        self.pseudonymised, self.coarsened = pseudonymised, coarsened


@dataclass(frozen=True)
class PersonalValues:
    """Every value of the warehouse's personal columns (normalised), with the column it came from."""

    values: Mapping[str, str]

    @classmethod
    def from_warehouse(cls, warehouse: Warehouse) -> PersonalValues:
        """Read the personal columns of PERSONAL_TABLES (identifiers from that whitelist only)."""
        found: dict[str, str] = {}
        for table, columns in PERSONAL_TABLES.items():
            for column in columns:
                rows = warehouse.con.execute(
                    f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"
                ).fetchall()
                for (value,) in rows:
                    for part in _parts(str(value)):
                        found.setdefault(part, f"{table}.{column}")
        return cls(found)


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _parts(text: str) -> set[str]:
    """A personal value and its pieces (ODK joins reporter fields with '; ', texts with blank lines)."""
    pieces = {text, *re.split(r";|\n\s*\n", text)}
    return {p for p in map(_normalise, pieces) if len(p) >= MIN_PERSONAL_CHARS}


def _plain(name: str) -> tuple[str, list[str]]:
    """A column name without accents or case, and its words (snake_case, camelCase, kebab-case)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name)
    ascii_name = unicodedata.normalize("NFKD", spaced).encode("ascii", "ignore").decode().lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", ascii_name) if t]
    return "".join(tokens), tokens


def _mask(text: str) -> str:
    """Keep the shape of a value, not its content: first character of each word, the rest as '•'."""
    masked = re.sub(r"(?<=\w)\w", "•", text)
    return masked if len(masked) <= 24 else masked[:23] + "…"


def load_key(config: Settings, path: str | Path | None = None) -> bytes | None:
    """The pseudonymisation key (HMAC-SHA256) from ``path`` or ``<data dir>/keys/pseudonym.key``;
    None when there is none (the gate refuses a dataset that needs one)."""
    file = Path(path) if path is not None else config.data_dir / KEY_FILE
    if not file.is_file():
        if path is not None:
            raise ConfigError(f"no key file {file}", path=file, parameter="--pseudonym-key")
        return None
    key = file.read_bytes()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the pseudonymisation key has {len(key)} bytes, fewer than {MIN_KEY_BYTES}",
            path=file,
            hint='Write a random key: python -c "import secrets,sys; sys.stdout.buffer.write(secrets.token_bytes(32))" > FILE',
        )
    return key


def pseudonym(value: str, key: bytes) -> str:
    """The keyed hash of ``value``: HMAC-SHA256, hex (same key and value -> same pseudonym)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the checks ---------------------------------------------------------------------------------


def _rows(mask: pl.Series) -> tuple[tuple[int, ...], int]:
    hits = np.flatnonzero(mask.fill_null(False).to_numpy())
    return tuple(int(i) + 1 for i in hits[:MAX_ROWS_SHOWN]), int(len(hits))


def _finding(column: str, reason: str, series: pl.Series, mask: pl.Series) -> Finding | None:
    rows, count = _rows(mask)
    if not count:
        return None
    sample = series.filter(mask.fill_null(False))[0]
    return Finding(column, reason, rows, count, _mask(str(sample)))


def _name_findings(frame: pl.DataFrame, personal_source: bool, allowed: set[str]) -> list[Finding]:
    findings = []
    for column in frame.columns:
        if column in allowed:
            continue
        joined, tokens = _plain(column)
        words = _IDENTIFIER_TOKENS + (_PERSONAL_SOURCE_TOKENS if personal_source else ())
        if any(w in joined for w in _IDENTIFIER_WORDS) or any(t in words for t in tokens):
            findings.append(
                Finding(column, "the column's name says it holds a direct identifier or free text")
            )
    return findings


def _flagged(series: pl.Series, test) -> pl.Series:
    """Mask of the rows whose value passes ``test`` (a Python predicate run once per distinct value)."""
    hits = [v for v in series.drop_nulls().unique().to_list() if test(v)]
    return series.is_in(hits) if hits else pl.repeat(False, series.len(), eager=True)


def _content_findings(
    frame: pl.DataFrame, personal_source: bool, personal: PersonalValues, skip: set[str]
) -> list[Finding]:
    findings = []
    for column, dtype in frame.schema.items():
        if column in skip or dtype not in (pl.String, pl.Categorical):
            continue
        series = frame[column].cast(pl.String)
        checks = [
            (_flagged(series, lambda v: bool(_PHONE.search(v))), "holds phone numbers"),
            (_flagged(series, lambda v: bool(_EMAIL.search(v))), "holds e-mail addresses"),
        ]
        if personal_source:  # elsewhere a reporter who typed "Le Lamentin" would block the communes
            origins = {
                personal.values[n]
                for v in series.drop_nulls().unique().to_list()
                if (n := _normalise(v)) in personal.values
            }
            if origins:
                reason = f"holds values of the warehouse's personal column(s) {', '.join(sorted(origins))}"
                checks.append((_flagged(series, lambda v: _normalise(v) in personal.values), reason))
            reason = f"holds free text ({FREE_TEXT_MIN_WORDS} words or more)"
            checks.append((_flagged(series, lambda v: len(_WORD.findall(v)) >= FREE_TEXT_MIN_WORDS), reason))
        findings += [f for mask, reason in checks if (f := _finding(column, reason, series, mask))]
    return findings


def _coordinate_columns(frame: pl.DataFrame) -> list[str]:
    """Float columns named like a coordinate, or whose every value lies in Martinique's lon or lat range."""
    found = []
    for column, dtype in frame.schema.items():
        if not dtype.is_float():
            continue
        values = frame[column].drop_nulls().drop_nans()
        named = _plain(column)[0] in COORDINATE_NAMES
        inside = values.len() > 0 and any(
            bool(((values >= low) & (values <= high)).all()) for low, high in (LON_RANGE_DEG, LAT_RANGE_DEG)
        )
        if named or inside:
            found.append(column)
    return found


def coarsen_to_grid(
    lon: pl.Series, lat: pl.Series, cell_m: float = DEFAULT_CELL_M
) -> tuple[pl.Series, pl.Series]:
    """Each point moved to the centre of its analysis-grid cell (EPSG:5490 squares of ``cell_m``
    metres whose edges are multiples of ``cell_m``, as observatory.territory.grid.Grid lays them)."""
    from pyproj import Transformer

    to_metric = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
    to_degrees = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
    x, y = to_metric.transform(lon.to_numpy().astype(float), lat.to_numpy().astype(float))
    cx = np.floor(np.asarray(x) / cell_m) * cell_m + cell_m / 2
    cy = np.floor(np.asarray(y) / cell_m) * cell_m + cell_m / 2
    clon, clat = to_degrees.transform(cx, cy)
    # 7 decimals (~1 cm) keep the centre exact enough and the files byte-stable
    return pl.Series(lon.name, np.round(clon, 7)), pl.Series(lat.name, np.round(clat, 7))


def coarsen_to_commune(
    lon: pl.Series, lat: pl.Series, config: Settings | None = None
) -> tuple[pl.Series, pl.Series]:
    """Each point moved to a point inside its commune (the polygon's representative point); null
    outside every commune."""
    from observatory.territory.communes import communes, communes_at

    shapes = communes(config)
    points = shapes.geometry.representative_point()
    where = dict(zip(shapes["insee"], zip(points.x, points.y, strict=True), strict=True))
    codes = communes_at(lon.to_list(), lat.to_list(), config)
    xy = [where.get(code, (math.nan, math.nan)) if code else (math.nan, math.nan) for code in codes]
    clon = pl.Series(lon.name, np.round([p[0] for p in xy], 7)).fill_nan(None)
    clat = pl.Series(lat.name, np.round([p[1] for p in xy], 7)).fill_nan(None)
    return clon, clat


def _coarsen(
    spec: DatasetSpec, frame: pl.DataFrame, config: Settings | None
) -> tuple[pl.DataFrame, list[Finding], int]:
    """Coarsen the coordinates of a dataset derived from personal tables, or say why it cannot be."""
    geometry, method = spec.geometry, spec.privacy.coarsen
    coordinates = _coordinate_columns(frame)
    wkb = [c for c, t in frame.schema.items() if t == pl.Binary]
    findings = [
        Finding(c, "exact geometries of citizen reports cannot be published: give lon/lat and coarsen")
        for c in wkb
    ]
    pair = [geometry.lon, geometry.lat] if geometry is not None and geometry.lon else []
    if method is None or not pair:
        findings += [
            Finding(
                c, "exact coordinates of citizen reports: coarsen them (privacy.coarsen: grid or commune)"
            )
            for c in coordinates
        ]
        return frame, findings, 0
    findings += [
        Finding(c, "a coordinate-like column besides the coarsened lon/lat")
        for c in coordinates
        if c not in pair
    ]
    lon, lat = frame[pair[0]].cast(pl.Float64), frame[pair[1]].cast(pl.Float64)
    clon, clat = coarsen_to_grid(lon, lat) if method == "grid" else coarsen_to_commune(lon, lat, config)
    moved = int(lon.is_not_null().sum())
    return frame.with_columns(clon, clat), findings, moved


def _small_cells(spec: DatasetSpec, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[Finding], int]:
    """Rows behind fewer than ``min_contributors`` contributors: suppressed (left out), or refused."""
    privacy = spec.privacy
    if privacy.cls != "aggregated-only" or privacy.contributors is None:
        return frame, [], 0
    counts = frame[privacy.contributors].cast(pl.Int64)
    small = counts.is_null() | (counts < privacy.min_contributors)
    if privacy.small_cells == "refuse":
        rows, count = _rows(small)
        if count:
            reason = f"cells with fewer than {privacy.min_contributors} contributors (statistical secrecy)"
            return frame, [Finding(privacy.contributors, reason, rows, count)], 0
        return frame, [], 0
    return frame.filter(~small), [], int(small.sum())


def _pseudonymise(
    spec: DatasetSpec, frame: pl.DataFrame, key: bytes | None
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    drop = [c.name for c in spec.columns if c.personal == "drop" and c.name in frame.columns]
    hashed = tuple(c.name for c in spec.columns if c.personal == "pseudonymise" and c.name in frame.columns)
    frame = frame.drop(drop)
    if hashed and key is None:
        raise PrivacyError(
            f"dataset {spec.id}: column(s) {list(hashed)} must be pseudonymised and no key is set",
            path=spec.path,
            parameter="--pseudonym-key",
            hint=f"Put a random key of {MIN_KEY_BYTES}+ bytes in <data dir>/{KEY_FILE} (never in the repository).",
        )
    for column in hashed:
        values = frame[column].cast(pl.String)
        table = {v: pseudonym(v, key) for v in values.drop_nulls().unique().to_list()}  # type: ignore[arg-type]
        frame = frame.with_columns(
            values.replace_strict(table, default=None, return_dtype=pl.String).alias(column)
        )
    return frame, hashed


def check_publishable(spec: DatasetSpec) -> None:
    """PrivacyError for a dataset no release may publish whatever its rows: class restricted, or
    class open over personal tables. Run before the query, and again by ``gate``."""
    if spec.privacy.cls == "restricted":
        raise PrivacyError(
            f"dataset {spec.id} is restricted ({spec.privacy.reason}): a release never publishes it",
            path=spec.path,
            findings=(Finding(None, "privacy class restricted"),),
        )
    sources = sorted(set(spec.query.tables) & set(PERSONAL_TABLES))
    if sources and spec.privacy.cls == "open":
        raise PrivacyError(
            f"dataset {spec.id} reads personal table(s) {sources} but claims privacy class open",
            path=spec.path,
            findings=(Finding(None, f"class open over personal table(s) {sources}"),),
            hint="Publish counts (aggregated-only, with a contributors column) or mark it restricted.",
        )


def gate(
    spec: DatasetSpec,
    frame: pl.DataFrame,
    personal: PersonalValues,
    key: bytes | None = None,
    config: Settings | None = None,
) -> Cleared:
    """Let ``frame`` (the rows of ``spec``'s query) through, transformed as its spec says, or raise
    PrivacyError with every finding: restricted class, personal tables under class open, direct
    identifiers (by name, by content, by value), free text, exact report coordinates, small cells."""
    check_publishable(spec)
    personal_source = bool(set(spec.query.tables) & set(PERSONAL_TABLES))
    undescribed = [c for c in frame.columns if c not in spec.column_names]
    findings = [Finding(c, "the column is not described in the catalogue") for c in undescribed]
    frame, hashed = _pseudonymise(spec, frame, key)
    coarsened = 0
    if personal_source:
        frame, found, coarsened = _coarsen(spec, frame, config)
        findings += found
    findings += _name_findings(frame, personal_source, set(hashed))
    findings += _content_findings(frame, personal_source, personal, set(hashed))
    frame, found, suppressed = _small_cells(spec, frame)
    findings += found
    if findings:
        raise PrivacyError(
            f"dataset {spec.id} refused by the privacy gate: " + "; ".join(map(str, findings)),
            path=spec.path,
            findings=tuple(findings),
            hint="Drop or pseudonymise the column(s) in the catalogue entry, or aggregate further.",
        )
    return Cleared(_TOKEN, spec, frame, suppressed, hashed, coarsened)
