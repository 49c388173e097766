"""Sensor fleet simulation speed: one year of the whole fleet at 1 minute to line-protocol files.

Usage: .venv/bin/python benchmarks/bench_simulate.py [--days 365] [--workers 1 2] [--peer-days 1]

For each worker count: wall and CPU seconds, lines/s, readings/s, bytes written, peak RSS of
this process and of the worker processes (resource.getrusage). Side by side in the same run,
a peer: the same values of a sample of days turned into line protocol with influxdb-client's
Point API (the usual way to write points from Python), and with Polars string expressions
(concat_str of rounded floats); their time is measured on the sample and extrapolated to the
year, which the output says. The year's files go to a temporary folder, removed at the end
(about 7 GB at its largest: one day's file is ~17 MB). Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("OBSERVATORY_DATA_MIRROR") and SHARED_DATA.is_dir():
    os.environ["OBSERVATORY_DATA_MIRROR"] = str(SHARED_DATA)
os.environ.setdefault("OBSERVATORY_DATA_DIR", tempfile.mkdtemp(prefix="observatory-bench-"))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from observatory.simulate.calendar import DayClock, Window  # noqa: E402
from observatory.simulate.engine import Options, simulate  # noqa: E402
from observatory.simulate.fleet import build_fleet  # noqa: E402
from observatory.simulate.output import rounded  # noqa: E402
from observatory.simulate.scenarios import Effects  # noqa: E402
from observatory.simulate.signals import Environment, day_values  # noqa: E402

START = "2025-01-01"


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ours(days: float, workers: int, folder: Path) -> dict[str, float]:
    options = Options.parse(start=START, days=days, faults=True, out=folder, workers=workers)
    wall, cpu, workers_cpu = time.perf_counter(), time.process_time(), children_cpu_s()
    summary = simulate(options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    workers_cpu = children_cpu_s() - workers_cpu
    size = sum(p.stat().st_size for p in (folder / "field" / "lp").glob("*.lp"))
    return {
        "wall": wall,
        "cpu": cpu,
        "workers_cpu": workers_cpu,
        "lines": summary.lines,
        "readings": summary.readings,
        "bytes": size,
    }


def sample_values(days: int) -> list[tuple[DayClock, dict]]:
    """The fleet's values for the first ``days`` days of the year (what the peers format)."""
    fleet = build_fleet()
    options = Options.parse(start=START, days=days)
    window = Window(options.start_ns, options.end_ns)
    env = Environment(options.seed, fleet, Effects((), window, fleet, options.seed))
    return [(DayClock(d), day_values(env, DayClock(d))) for d in window.days]


def peer_point_api(sample) -> tuple[float, int]:
    """influxdb-client Point(...).tag(...).field(...).time(...).to_line_protocol(), line by line."""
    from influxdb_client import Point, WritePrecision

    fleet = build_fleet()
    start, total = time.perf_counter(), 0
    for clock, values in sample:
        lines = []
        for kind in dict.fromkeys(s.kind.name for s in fleet.sensors):
            sensors = fleet.of_kind(kind)
            fields = sensors[0].kind.fields
            columns = {f.name: rounded(values[kind][f.name], f.decimals).tolist() for f in fields}
            for column, sensor in enumerate(sensors):
                for minute in range(len(clock.t_ns)):
                    point = Point(sensor.kind.measurement)
                    for key, value in sensor.tags:
                        point.tag(key, value)
                    for f in fields:
                        point.field(f.name, columns[f.name][minute][column])
                    lines.append(point.time(int(clock.t_ns[minute]), WritePrecision.NS).to_line_protocol())
        total += len("\n".join(lines)) + 1
    return time.perf_counter() - start, total


def peer_polars(sample) -> tuple[float, int]:
    """Polars: one frame per kind and day, concat_str of prefixes, rounded floats and times."""
    fleet = build_fleet()
    start, total = time.perf_counter(), 0
    for clock, values in sample:
        parts = []
        for kind in dict.fromkeys(s.kind.name for s in fleet.sensors):
            sensors = fleet.of_kind(kind)
            fields = sensors[0].kind.fields
            n = len(sensors)
            frame = pl.DataFrame(
                {
                    "prefix": np.tile([s.prefix + " " for s in sensors], len(clock.t_ns)),
                    "time": np.repeat(clock.t_ns, n),
                    **{f.name: values[kind][f.name].ravel() for f in fields},
                }
            )
            pieces = [pl.col("prefix")]
            for i, f in enumerate(fields):
                pieces += [
                    pl.lit(("," if i else "") + f.name + "="),
                    pl.col(f.name).round(f.decimals).cast(pl.String),
                ]
            pieces += [pl.lit(" "), pl.col("time").cast(pl.String), pl.lit("\n")]
            parts.append(frame.select(pl.concat_str(pieces).alias("line"), "time"))
        day = pl.concat(parts).sort("time", maintain_order=True)
        total += len(day["line"].str.join("").item())
    return time.perf_counter() - start, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--peer-days", type=int, default=1, help="days formatted by the peers, then extrapolated"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the files of the last run in this folder"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {sys.platform}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at start: {load} (on a shared machine, compare CPU seconds rather than wall time)")
    build_fleet()  # reference files fetched and the fleet built before timing
    print(f"fleet: {len(build_fleet())} sensors; {args.days:g} days from {START} at 1 minute, faults on")
    for workers in args.workers:
        folder = Path(tempfile.mkdtemp(prefix="observatory-sim-"))
        try:
            r = ours(args.days, workers, folder)
        finally:
            if args.keep and workers == args.workers[-1]:
                shutil.move(folder, args.keep)
            else:
                shutil.rmtree(folder, ignore_errors=True)
        print(
            f"observatory simulate, {workers} worker(s): {r['wall']:.1f} s wall, CPU {r['cpu']:.1f} s in the main "
            f"process + {r['workers_cpu']:.1f} s in workers, {r['lines'] / r['wall']:,.0f} lines/s, "
            f"{r['readings'] / r['wall']:,.0f} readings/s, "
            f"{r['lines']:,} lines, {r['readings']:,} readings, {r['bytes'] / 1e9:.2f} GB"
        )
    print(
        f"peak RSS: main process {peak_rss_mib(resource.RUSAGE_SELF):.0f} MiB, "
        f"largest worker {peak_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
    )
    sample = sample_values(args.peer_days)
    lines = sum(len(c.t_ns) for c, _ in sample) * len(build_fleet())
    scale = args.days / args.peer_days
    for name, peer in (("influxdb-client Point API", peer_point_api), ("polars concat_str", peer_polars)):
        seconds, size = peer(sample)
        print(
            f"peer {name}: {args.peer_days} day(s), {lines:,} lines, {size / 1e6:.1f} MB in {seconds:.1f} s "
            f"= {lines / seconds:,.0f} lines/s (formatting only, values given); extrapolated to "
            f"{args.days:g} days: {seconds * scale:.0f} s"
        )


if __name__ == "__main__":
    main()
