"""KPI results computed ahead for the dashboard's range presets (the last 7, 30, 90 and 365 days
of data, and all of it), kept in the data directory and keyed by the warehouse's version, so that
a first view or a preset click reads a small Parquet file instead of a year of rollups.

``observatory ingest`` and ``observatory refresh`` compute them once the warehouse is written;
the server's warm-up computes them at start when they are missing (data ingested by an older
release). A range that is not a preset is computed when asked, and cached by the dashboard.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from observatory.files import write_atomic
from observatory.kpi.engine import LOCAL_OFFSET, KpiEngine, Provenance
from observatory.warehouse.store import Warehouse

log = logging.getLogger(__name__)

PRESETS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "365d": 365, "all": None}  # days
DEFAULT_PRESET = "30d"
DAILY_TREND_MAX_DAYS = 92  # longer ranges draw monthly sparklines
_KEEP_VERSIONS = 2  # the current version's results and the one before (a server may still read it)


@dataclass(frozen=True)
class Span:
    """The local days [start, end) of the data in the warehouse, and its last reading (UTC)."""

    start: dt.date
    end: dt.date
    last_utc: dt.datetime | None

    def to_json(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "last_utc": self.last_utc.isoformat() if self.last_utc is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> Span:
        last = data["last_utc"]
        return cls(
            dt.date.fromisoformat(data["start"]),
            dt.date.fromisoformat(data["end"]),
            dt.datetime.fromisoformat(last) if last is not None else None,
        )


def data_span(warehouse: Warehouse) -> Span:
    """The local days the hourly rollup covers; today alone when the warehouse holds no reading."""
    con = warehouse.con
    first, last = con.execute("SELECT min(hour), max(hour) FROM readings_hourly").fetchone()
    latest = con.execute("SELECT max(time) FROM latest").fetchone()[0]
    if first is None:
        today = (dt.datetime.now(dt.UTC) + LOCAL_OFFSET).date()
        return Span(today, today + dt.timedelta(days=1), None)
    return Span(
        (first + LOCAL_OFFSET).date(),
        (last + LOCAL_OFFSET).date() + dt.timedelta(days=1),
        latest.replace(tzinfo=dt.UTC) if latest is not None else None,
    )


def preset_range(preset: str, span: Span) -> tuple[str, str]:
    """The local days [start, end) a preset covers, ending with the last day of data."""
    days = PRESETS.get(preset)
    start = span.start if days is None else max(span.start, span.end - dt.timedelta(days=days))
    return start.isoformat(), span.end.isoformat()


def trend_grain(start: str, end: str) -> str:
    """The sparklines' grain: per day up to DAILY_TREND_MAX_DAYS days, per month beyond."""
    days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days
    return "day" if days <= DAILY_TREND_MAX_DAYS else "month"


def cards_key(start: str, end: str) -> tuple[str, ...]:
    """Every KPI and place over [start, end) and over the range of the same length before it."""
    return ("cards", start, end)


def grain_key(start: str, end: str, grain: str) -> tuple[str, ...]:
    """Every KPI and place per ``grain`` (day, month or year) over [start, end)."""
    return ("grain", start, end, grain)


def trend_key(start: str, end: str) -> tuple[str, ...]:
    """The sparklines: per day up to DAILY_TREND_MAX_DAYS days, per month beyond."""
    return grain_key(start, end, trend_grain(start, end))


def preset_keys(span: Span) -> list[tuple[str, ...]]:
    """What the dashboard reads for each preset: the cards, the sparklines, and the table per
    day (its default grain), without repeats (presets longer than the data are all of it)."""
    keys: list[tuple[str, ...]] = []
    for preset in PRESETS:
        start, end = preset_range(preset, span)
        for key in (cards_key(start, end), trend_key(start, end), grain_key(start, end, "day")):
            if key not in keys:
                keys.append(key)
    return keys


def compute_key(engine: KpiEngine, key: tuple[str, ...]) -> pl.DataFrame:
    """The frame a ``cards_key`` or ``grain_key`` names."""
    kind, start, end = key[:3]
    if kind == "cards":
        return engine.compute(start=start, end=end, grain="range", previous=True)
    if kind == "grain":
        return engine.compute(start=start, end=end, grain=key[3])
    raise ValueError(f"no KPI frame is named {key!r}")


def warehouse_version(path: Path) -> str:
    """Changes whenever the warehouse file is written: its size and modification time (and its
    write-ahead log's, while one exists)."""
    parts = []
    for file in (path, path.with_suffix(path.suffix + ".wal")):
        if file.exists():
            stat = file.stat()
            parts.append(f"{stat.st_mtime_ns}-{stat.st_size}")
    return "_".join(parts) or "empty"


class ResultStore:
    """KPI frames on disk: ``<data dir>/cache/kpi/<version>/<key>.parquet`` with the provenance of
    each KPI beside it (``<key>.json``) and the data span of the version (``span.json``)."""

    def __init__(self, warehouse_path: Path) -> None:
        self.root = warehouse_path.parent / "cache" / "kpi"

    def _file(self, version: str, key: tuple[str, ...], suffix: str) -> Path:
        return self.root / version / ("_".join(key) + suffix)

    def get(self, version: str, key: tuple[str, ...]) -> tuple[pl.DataFrame, dict[str, Provenance]] | None:
        frame_file = self._file(version, key, ".parquet")
        if not frame_file.exists():
            return None
        try:
            frame = pl.read_parquet(frame_file)
            provenance = {
                kpi: _provenance(entry)
                for kpi, entry in json.loads(self._file(version, key, ".json").read_text()).items()
            }
        except (OSError, ValueError, KeyError, pl.exceptions.PolarsError) as exc:
            log.warning("ignoring the unreadable precomputed KPI file %s: %s", frame_file, exc)
            return None
        return frame, provenance

    def has(self, version: str, key: tuple[str, ...]) -> bool:
        """Whether ``key`` was computed for ``version`` (without reading it)."""
        return self._file(version, key, ".parquet").exists()

    def put(
        self, version: str, key: tuple[str, ...], frame: pl.DataFrame, provenance: dict[str, Provenance]
    ) -> None:
        entries = {kpi: _provenance_json(p) for kpi, p in provenance.items()}
        # the JSON first, then the frame: a reader that finds the frame finds its provenance too
        write_atomic(self._file(version, key, ".json"), json.dumps(entries).encode())
        write_atomic(self._file(version, key, ".parquet"), _parquet_bytes(frame))

    def span(self, version: str) -> Span | None:
        try:
            return Span.from_json(json.loads((self.root / version / "span.json").read_text()))
        except (OSError, ValueError, KeyError):
            return None

    def put_span(self, version: str, span: Span) -> None:
        write_atomic(self.root / version / "span.json", json.dumps(span.to_json()).encode())

    def discard(self, version: str) -> None:
        shutil.rmtree(self.root / version, ignore_errors=True)

    def prune(self, keep: str) -> None:
        """Remove all versions but ``keep`` and the newest other ones (up to _KEEP_VERSIONS)."""
        if not self.root.is_dir():
            return
        others = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and p.name != keep),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        for folder in others[_KEEP_VERSIONS - 1 :]:
            shutil.rmtree(folder, ignore_errors=True)


def precompute(warehouse_path: Path, progress: Callable[[str], None] | None = None) -> tuple[str, int] | None:
    """Compute what the dashboard reads for every preset (``preset_keys``) for the warehouse as it is now; returns
    (version, frames written), or None when the warehouse changed during the computation (the
    results are then dropped: the next writer computes them again)."""
    store = ResultStore(warehouse_path)
    version = warehouse_version(warehouse_path)
    written = 0
    with Warehouse.open(warehouse_path, read_only=True) as warehouse:
        span = data_span(warehouse)
        engine = KpiEngine(warehouse)
        for key in preset_keys(span):
            if store.has(version, key):
                continue
            if progress is not None:
                progress(" ".join(key))
            engine.provenance.clear()
            store.put(version, key, compute_key(engine, key), dict(engine.provenance))
            written += 1
    store.put_span(version, span)
    if warehouse_version(warehouse_path) != version:
        store.discard(version)
        return None
    store.prune(keep=version)
    return version, written


def _provenance_json(provenance: Provenance) -> dict:
    data = asdict(provenance)
    for name in ("data_start", "data_end"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    return data


def _provenance(data: dict) -> Provenance:
    return Provenance(
        kpi_id=data["kpi_id"],
        datasets=tuple(data["datasets"]),
        query=data["query"],
        data_start=dt.datetime.fromisoformat(data["data_start"]) if data["data_start"] else None,
        data_end=dt.datetime.fromisoformat(data["data_end"]) if data["data_end"] else None,
        seconds=float(data["seconds"]),
    )


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()
