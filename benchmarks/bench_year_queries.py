"""The year's aggregates: the warehouse against InfluxQL on the real InfluxDB 1.x (issue 3).

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_year_queries.py [--workdir /work/bench-kpi]

One year of the simulated fleet (120 sensors, one line a minute, scenarios and faults on: 63 M
lines, 141.9 M readings) both ways:
  - the warehouse that bench_kpi.py builds in ``--workdir`` (``data-365d``), opened read-only;
    when its folder is there without READY, it is being built: this waits for it;
  - a throwaway InfluxDB 1.x (Debian's influxd, as in bench_ingest.py) loaded by ``/write`` with
    the same year's line protocol, simulated again here (same start, seed and scenarios; the
    files' sha256 are checked against the warehouse's ingest log) into a temporary folder.
Three aggregates over the whole year, each way, hot (a warm-up, then best of 3): hourly mean per
sensor, daily max per commune (local days, America/Martinique: UTC-4, on both sides) and last
value per sensor, with both sides' row counts and a full comparison of the answers (1e-9
relative). When InfluxQL's first run of a query over the year takes longer than
``--influx-budget-s``, the year is not repeated and the hot figures are given on one month.
Peak RSS and CPU of influxd while loading and while querying. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import _load, _peak_rss_of, influx_query, influx_write  # noqa: E402
from bench_kpi import START, _env, prepare  # noqa: E402

from observatory.kpi.engine import LOCAL_OFFSET  # noqa: E402
from observatory.sources.influxdb1 import Influx1Client  # noqa: E402
from observatory.warehouse.schema import SCHEMA_VERSION  # noqa: E402
from observatory.warehouse.store import Warehouse  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATABASE = "bench"  # the database bench_ingest's influx_write and influx_query use
REL_TOLERANCE = 1e-9
MIB = 2**20
# One local calendar month (January 2025 in Martinique), for the bounded InfluxQL figures.
MONTH = (dt.datetime(2025, 1, 1, 4, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, 4, tzinfo=dt.UTC))
# Local days start at 04:00 UTC; InfluxQL's GROUP BY time(1d, 4h) cuts at the same instants.
LOCAL_DAY_OFFSET_H = -int(LOCAL_OFFSET.total_seconds()) // 3600
DAILY_MAX_PER_COMMUNE = f"""
    SELECT s.insee, r.measurement, r.field,
           time_bucket(INTERVAL 1 DAY, r.hour, INTERVAL {LOCAL_DAY_OFFSET_H} HOUR)::TIMESTAMP_NS AS day,
           max(r.maximum) AS value
    FROM readings_hourly r JOIN sensors s USING (sensor_id)
    WHERE r.hour >= ? AND r.hour < ?
    GROUP BY ALL ORDER BY ALL"""


@dataclasses.dataclass
class Timing:
    wall_s: float
    cpu_s: float  # this process, plus influxd for InfluxQL


@dataclasses.dataclass
class Aggregate:
    """One aggregate both ways: the warehouse call, its InfluxQL, and how to line the answers up."""

    name: str
    ours: Callable[[Warehouse, tuple[dt.datetime, dt.datetime]], pl.DataFrame]
    influxql: Callable[[tuple[dt.datetime, dt.datetime]], str]
    keys: tuple[str, ...]
    peer: Callable[[pl.DataFrame], pl.DataFrame]  # Influx1Client's long readings -> keys + value
    bounded: bool = True  # False: the answer does not depend on a time range (last value)


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _where(bounds: tuple[dt.datetime, dt.datetime]) -> str:
    return f"time >= {_ns(bounds[0])} AND time < {_ns(bounds[1])}"


def _fields(prefix: str) -> pl.Expr:
    return pl.col("field").str.strip_prefix(f"{prefix}_")


AGGREGATES = (
    Aggregate(
        "hourly mean per sensor",
        lambda wh, b: wh.readings(start=b[0], end=b[1], bucket="1h", agg="mean"),
        lambda b: f"SELECT mean(*) FROM /.*/ WHERE {_where(b)} GROUP BY time(1h), sensor_id fill(none)",
        ("sensor_id", "field", "time"),
        lambda f: f.select("sensor_id", _fields("mean"), "time", "value"),
    ),
    Aggregate(
        "daily max per commune (local day)",
        lambda wh, b: wh.sql(DAILY_MAX_PER_COMMUNE, [_naive(b[0]), _naive(b[1])]),
        lambda b: (
            f"SELECT max(*) FROM /.*/ WHERE {_where(b)} "
            f"GROUP BY time(1d, {LOCAL_DAY_OFFSET_H}h), insee fill(none)"
        ),
        ("insee", "measurement", "field", "day"),
        lambda f: f.select(
            pl.col("sensor_id").str.extract(r"insee=([^,]+)").alias("insee"),
            "measurement",
            _fields("max"),
            pl.col("time").alias("day"),
            "value",
        ),
    ),
    Aggregate(
        "last value per sensor",
        lambda wh, b: wh.latest(),
        lambda b: "SELECT last(*) FROM /.*/ GROUP BY sensor_id",
        ("sensor_id", "field"),
        lambda f: f.select("sensor_id", _fields("last"), "value"),
        bounded=False,
    ),
)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


# -- the two stores ---------------------------------------------------------------------------------
def year_warehouse(workdir: Path, days: int, wait_min: float) -> Path:
    """bench_kpi.py's data folder of ``days``: reused when READY, awaited while being built,
    built as bench_kpi.py builds it when absent."""
    data = workdir / f"data-{days}d"
    if not data.exists():
        return prepare(workdir, days)
    waited = time.monotonic()
    while not (data / "READY").exists():
        if time.monotonic() - waited > wait_min * 60:
            raise SystemExit(f"{data} has no READY after {wait_min:.0f} min: is it still being built?")
        print(f"waiting for {data / 'READY'} (being built elsewhere) ...", flush=True)
        time.sleep(30)
    path = data / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        stored = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if stored is None or int(stored[0]) < SCHEMA_VERSION:
        # Warehouse.open would upgrade it, a write: this benchmark never modifies the year.
        raise SystemExit(
            f"{path} has schema {stored}, older than {SCHEMA_VERSION}: rebuild it with bench_kpi.py"
        )
    return data


def simulate_year(out: Path, days: int, env: dict[str, str]) -> dict:
    """The same line protocol bench_kpi.py ingested (same start, seed, scenarios); its summary."""
    command = [
        *(sys.executable, "-m", "observatory.cli", "simulate", "--start", START),
        *("--days", str(days), "--seed", "1", "--scenario", "all", "--workers", "2"),
        *("--out", str(out), "--quiet"),
    ]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out / "simulation.json").read_text())


def _feed(files: list[Path], fifo: Path, digests: dict[str, str], counts: list[int]) -> None:
    """Write ``files`` one after the other into ``fifo`` (one stream of lines for influx_write),
    hashing each file on the way."""
    with open(fifo, "wb") as out:
        for path in files:
            digest, last = hashlib.sha256(), b"\n"
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
                    counts[0] += chunk.count(b"\n")
                    last = chunk[-1:]
            if last != b"\n":
                out.write(b"\n")
                counts[0] += 1
            digests[path.name] = digest.hexdigest()


def load_influx(url: str, files: list[Path], server: psutil.Process, tmp: Path) -> dict[str, str]:
    """All ``files`` through bench_ingest's influx_write (2 writers x 50k-line batches) as one
    stream; prints time, lines/s, influxd's peak RSS and CPU; returns the files' sha256."""
    fifo = tmp / "year.lp"
    os.mkfifo(fifo)
    digests, counts = {}, [0]
    feeder = threading.Thread(target=_feed, args=(files, fifo, digests, counts), daemon=True)
    stop, peak = threading.Event(), []
    watcher = threading.Thread(target=_peak_rss_of, args=(server, stop, peak))
    cpu = sum(server.cpu_times()[:2])
    watcher.start()
    feeder.start()
    started = time.perf_counter()
    influx_write(url, fifo)
    seconds = time.perf_counter() - started
    feeder.join()
    stop.set()
    watcher.join()
    cpu = sum(server.cpu_times()[:2]) - cpu
    print(
        f"influxdb /write: {counts[0]:,} lines in {seconds:.1f} s ({counts[0] / seconds:,.0f} lines/s), "
        f"influxd peak RSS {peak[0] / MIB:,.0f} MiB, CPU {cpu:.1f} s (server only)"
    )
    return digests


def settle(server: psutil.Process, limit_s: float) -> None:
    """Wait until influxd's compactions after the load are over (under 5 % of a core for 10 s)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        cpu = sum(server.cpu_times()[:2])
        time.sleep(10)
        if sum(server.cpu_times()[:2]) - cpu < 0.5:
            print(f"influxd idle {time.perf_counter() - started:.0f} s after the load")
            return
    print(f"influxd still busy {limit_s:.0f} s after the load: queries run beside its compactions")


def check_same_lines(data: Path, digests: dict[str, str]) -> None:
    """The simulated files are byte for byte those the warehouse ingested (sha256 per file)."""
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT source, sha256 FROM ingest_log WHERE format = 'line-protocol'").fetchall()
    ingested = {Path(source).name: sha for source, sha in rows}
    same = sum(ingested.get(name) == sha for name, sha in digests.items())
    print(
        f"same line protocol as the warehouse: {same} of {len(digests)} files have the sha256 "
        f"of its ingest log ({len(ingested)} files there)"
    )


# -- timing and comparison -------------------------------------------------------------------------
def best_of(fn: Callable[[], object], repeat: int, server: psutil.Process | None = None) -> Timing:
    """The fastest of ``repeat`` calls of ``fn`` (run after a warm-up by the caller)."""
    best = None
    for _ in range(repeat):
        cpu = time.process_time() + (sum(server.cpu_times()[:2]) if server else 0.0)
        started = time.perf_counter()
        fn()
        wall = time.perf_counter() - started
        cpu = time.process_time() + (sum(server.cpu_times()[:2]) if server else 0.0) - cpu
        if best is None or wall < best.wall_s:
            best = Timing(wall, cpu)
    return best


def influx_answer(url: str, influxql: str) -> tuple[pl.DataFrame, float]:
    """The answer as canonical long readings through the project's chunked client, and seconds."""
    started = time.perf_counter()
    with Influx1Client(url, DATABASE, timeout_s=3600) as client:
        readings = client.query(influxql, tag_keys=()).readings
    return readings, time.perf_counter() - started


def compare(ours: pl.DataFrame, peer: pl.DataFrame, keys: tuple[str, ...]) -> dict[str, float]:
    """Rows on each side, rows matched on ``keys`` and the largest relative difference."""
    joined = ours.select(*keys, "value").join(
        peer.select(*keys, pl.col("value").alias("peer")), on=list(keys), how="inner"
    )
    scale = pl.max_horizontal(pl.col("value").abs(), pl.col("peer").abs())
    rel = joined.select(
        pl.when(scale > 0).then((pl.col("value") - pl.col("peer")).abs() / scale).otherwise(0.0).alias("rel")
    )["rel"]
    return {
        "ours": len(ours),
        "peer": len(peer),
        "matched": len(joined),
        "max_rel": float(rel.max()) if len(rel) else float("nan"),
        "over": int((rel > REL_TOLERANCE).sum()),
    }


def _agrees(c: dict[str, float]) -> str:
    whole = c["matched"] == c["ours"] == c["peer"] and c["over"] == 0
    detail = f"{c['matched']:,} matched, max rel diff {c['max_rel']:.1e}"
    if c["over"]:
        detail += f", {c['over']:,} over {REL_TOLERANCE:g}"
    return ("yes: " if whole else "NO: ") + detail


def run_aggregate(
    agg: Aggregate, wh: Warehouse, url: str, server: psutil.Process, bounds, budget_s: float
) -> tuple[list[str], bool]:
    """Table rows (markdown) of one aggregate over ``bounds``; True when InfluxQL ran over budget."""
    influxql = agg.influxql(bounds)
    ours = agg.ours(wh, bounds)  # warm-up, and the answer compared
    ours_t = best_of(lambda: agg.ours(wh, bounds), 3)
    peer, first_s = influx_answer(url, influxql)  # InfluxQL's warm-up, and its answer
    check = compare(ours, agg.peer(peer), agg.keys)
    points = peer.select("sensor_id", "time").n_unique() if len(peer) else 0
    over = first_s > budget_s
    peer_t = (
        Timing(first_s, float("nan")) if over else best_of(lambda: influx_query(url, influxql), 3, server)
    )
    hot = "first run only" if over else f"{peer_t.wall_s:.3f} s (CPU {peer_t.cpu_s:.1f} s)"
    row = (
        f"| {agg.name} | {len(ours):,} | {len(peer):,} ({points:,} points) | "
        f"{ours_t.wall_s:.3f} s (CPU {ours_t.cpu_s:.2f} s) | {hot} | {first_s:.1f} s | "
        f"{peer_t.wall_s / ours_t.wall_s:,.0f}×{' (first run)' if over else ''} | {_agrees(check)} |"
    )
    return [row], over


def table(title: str) -> None:
    print(
        f"\n{title}\n\n| aggregate | warehouse rows | InfluxDB values (points) | warehouse hot, best of 3 "
        "| InfluxQL hot, best of 3 | InfluxQL first run (chunked client to frame) | ratio | answers agree |\n"
        "|---|---|---|---|---|---|---|---|"
    )


def queries(data: Path, url: str, server: psutil.Process, bounds, budget_s: float) -> None:
    stop, peak = threading.Event(), []
    watcher = threading.Thread(target=_peak_rss_of, args=(server, stop, peak))
    watcher.start()
    cpu = sum(server.cpu_times()[:2])
    over_budget = []
    with Warehouse.open(data / "warehouse.duckdb", read_only=True) as wh:
        table(f"Over the year ({bounds[0]:%Y-%m-%d %H:%M} .. {bounds[1]:%Y-%m-%d %H:%M} UTC)")
        for agg in AGGREGATES:
            rows, over = run_aggregate(agg, wh, url, server, bounds, budget_s)
            print("\n".join(rows), flush=True)
            if over:
                over_budget.append(agg)
        bounded = [a for a in over_budget if a.bounded]
        if over_budget:
            names = ", ".join(a.name for a in over_budget)
            print(
                f"\nInfluxQL took over {budget_s:.0f} s on the year for: {names} (one run each, not repeated)"
            )
        if bounded:
            table(f"One month ({MONTH[0]:%Y-%m-%d %H:%M} .. {MONTH[1]:%Y-%m-%d %H:%M} UTC), for those")
            for agg in bounded:
                print("\n".join(run_aggregate(agg, wh, url, server, MONTH, float("inf"))[0]), flush=True)
    stop.set()
    watcher.join()
    print(
        f"\ninfluxd while querying: peak RSS {peak[0] / MIB:,.0f} MiB, CPU {sum(server.cpu_times()[:2]) - cpu:.1f} s; "
        f"this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/work/bench-kpi"))
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--wait-min", type=float, default=120.0, help="how long to wait for READY")
    parser.add_argument(
        "--influx-budget-s", type=float, default=240.0, help="InfluxQL first run over the year"
    )
    parser.add_argument(
        "--settle-s", type=float, default=600.0, help="longest wait for influxd's compactions"
    )
    args = parser.parse_args()
    print(f"load average at start: {_load()}")
    data = year_warehouse(args.workdir, args.days, args.wait_min)
    env = _env(data)
    start = dt.datetime.fromisoformat(START)
    bounds = (start, start + dt.timedelta(days=args.days))
    from tests.services import InfluxInstance

    with tempfile.TemporaryDirectory(prefix="bench-year-queries-") as tmp:
        tmp = Path(tmp)
        began = time.perf_counter()
        summary = simulate_year(tmp / "sim", args.days, env)
        files = sorted((tmp / "sim" / "field" / "lp").glob("*.lp"))
        print(
            f"simulated {summary['lines']:,} lines, {summary['readings']:,} readings ({len(files)} files, "
            f"{sum(p.stat().st_size for p in files) / 1e9:.2f} GB) in {time.perf_counter() - began:.0f} s"
        )
        influx = InfluxInstance().start()
        try:
            Influx1Client(influx.url, DATABASE).create_database()
            server = psutil.Process(influx._process.pid)
            digests = load_influx(influx.url, files, server, tmp)
            check_same_lines(data, digests)
            for path in files:
                path.unlink()  # the disk space back before querying
            settle(server, args.settle_s)
            queries(data, influx.url, server, bounds, args.influx_budget_s)
        finally:
            influx.stop()
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
