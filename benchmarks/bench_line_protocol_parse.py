"""Line-protocol parsing speed: a synthetic file from ~60 sensors, read plain, gzipped and in memory.

Usage: python benchmarks/bench_line_protocol_parse.py [--lines 1000000] [--repeat 3] [--reference-lines 100000]
Prints lines/s and fields/s of the fastest of ``--repeat`` runs, by wall clock and per CPU second
(all threads; steadier than wall time on a shared machine), and the same for the byte-level
reference parser alone (``fast_path=False``) on the first ``--reference-lines``; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from observatory.sources.line_protocol import COMPILED, parse_lines, read_line_protocol

T0_NS = 1_700_000_000_000_000_000
STEP_NS = 60_000_000_000  # one reading per sensor per minute
COMMUNES = [f"972{n:02d}" for n in range(1, 35)]


def synthetic_lines(n_lines: int, seed: int = 972) -> bytes:
    """``n_lines`` of weather, air and water lines from 60 sensors, with the same seed the same bytes."""
    rng = random.Random(seed)
    sensors = [
        (kind, f"mq-{kind[:3]}-{i:02d}", rng.choice(COMMUNES))
        for kind in ("weather", "air", "water")
        for i in range(20)
    ]
    out = []
    for i in range(n_lines):
        kind, sensor, commune = sensors[i % len(sensors)]
        stamp = T0_NS + (i // len(sensors)) * STEP_NS
        if kind == "weather":
            fields = f"temperature={rng.uniform(22, 32):.1f},humidity={rng.randint(55, 100)}i,rain_mm={rng.choice((0, 0.2, 1.4))}"
        elif kind == "air":
            fields = f"pm25={rng.uniform(2, 40):.1f},no2={rng.randint(0, 80)}i,o3={rng.uniform(10, 90):.1f}"
        else:
            fields = f"level_m={rng.uniform(0.2, 3.5):.2f},flow_m3s={rng.uniform(0, 40):.2f},alarm={rng.choice('ft')}"
        out.append(f"{kind},sensor_id={sensor},commune={commune} {fields} {stamp}\n")
    return "".join(out).encode()


def best_of(repeat: int, run: Callable[[], tuple[int, int]]) -> tuple[float, float, int, int]:
    """Wall seconds and CPU seconds (all threads) of the fastest run, with its line and field counts."""
    best = (float("inf"), float("inf"))
    lines = fields = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        lines, fields = run()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return *best, lines, fields


def stream(path: Path, batch_lines: int) -> tuple[int, int]:
    lines = fields = rejected = 0
    for batch in read_line_protocol(path, batch_lines=batch_lines, default_time_ns=0):
        lines = batch.last_line
        fields += batch.readings.height + batch.text_readings.height
        rejected += batch.rejects.height
    if rejected:
        print(f"  warning: {rejected} rejected entries", file=sys.stderr)
    return lines, fields


def first_lines_end(data: bytes, n_lines: int) -> int:
    """The offset just past the first ``n_lines`` lines of ``data``."""
    end = 0
    for _ in range(n_lines):
        end = data.find(b"\n", end) + 1
        if end == 0:
            return len(data)
    return end


def in_memory(data: bytes, fast_path: bool = True) -> tuple[int, int]:
    result = parse_lines(data, default_time_ns=0, fast_path=fast_path)
    return result.lines, result.points.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--batch-lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-lines", type=int, default=100_000)
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, polars {pl.__version__}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    data = synthetic_lines(args.lines)
    print(f"{args.lines:,} lines, {len(data) / 1e6:.1f} MB, batch_lines={args.batch_lines:,}")
    print(f"compiled pass (_lineproto): {'in use' if COMPILED else 'NOT BUILT: byte-level parser only'}")
    reference = data[: first_lines_end(data, args.reference_lines)]
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "sensors.lp"
        plain.write_bytes(data)
        packed = Path(folder) / "sensors.lp.gz"
        packed.write_bytes(gzip.compress(data, compresslevel=6))
        runs = {
            "read_line_protocol, plain file": lambda: stream(plain, args.batch_lines),
            "read_line_protocol, gzip file": lambda: stream(packed, args.batch_lines),
            "parse_lines, bytes in memory": lambda: in_memory(data),
            f"byte-level parser, {args.reference_lines:,} lines": lambda: in_memory(reference, False),
        }
        for name, run in runs.items():
            seconds, cpu_s, lines, fields = best_of(args.repeat, run)
            size = len(reference) if name.startswith("byte-level") else len(data)
            print(
                f"{name:32s} {seconds:6.2f} s  {lines / seconds:10,.0f} lines/s  "
                f"{fields / seconds:11,.0f} fields/s  {size / seconds / 1e6:5.1f} MB/s  "
                f"(CPU {cpu_s:5.2f} s: {lines / cpu_s:10,.0f} lines per CPU s)"
            )


if __name__ == "__main__":
    main()
