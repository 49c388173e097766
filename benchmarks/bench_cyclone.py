"""Cyclone hazard timings: reading the whole HURDAT2 file, and every storm within 300 km on the
0.005° island mesh (~3,700 points). Prints figures; asserts nothing.

    OBSERVATORY_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/bench_cyclone.py
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("OBSERVATORY_DATA_MIRROR") and SHARED_DATA.is_dir():
    os.environ["OBSERVATORY_DATA_MIRROR"] = str(SHARED_DATA)
os.environ.setdefault("OBSERVATORY_DATA_DIR", tempfile.mkdtemp(prefix="observatory-bench-"))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from observatory.risk.cyclone import DEFAULT_RADIUS_KM, CycloneHazard, island_mesh  # noqa: E402
from observatory.risk.hurdat2 import Tracks  # noqa: E402
from observatory.risk.wind import DEFAULT_STEP_MINUTES, peak_winds  # noqa: E402
from observatory.territory.registry import fetch  # noqa: E402


def best_of(repeat: int, func):
    """(best wall time in s, last result) over ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    path = fetch("hurdat2")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}, {os.cpu_count()} CPUs"
    )

    seconds, tracks = best_of(5, lambda: Tracks.from_hurdat2(path))
    print(
        f"read HURDAT2 ({path.stat().st_size / 1e6:.1f} MB): {len(tracks)} storms, {tracks.data.height} fixes"
    )
    print(f"  best of 5: {seconds * 1000:.0f} ms")

    lon, lat = island_mesh(0.005)
    print(f"island mesh 0.005°: {lon.size} points")

    seconds, near = best_of(3, lambda: tracks.near(lon, lat, DEFAULT_RADIUS_KM))
    print(f"storms within {DEFAULT_RADIUS_KM:.0f} km (track polyline vs every point): {len(near)}")
    print(f"  selection, best of 3: {seconds * 1000:.0f} ms")

    seconds, fine = best_of(3, lambda: near.interpolate(DEFAULT_STEP_MINUTES))
    print(
        f"interpolation to {DEFAULT_STEP_MINUTES:.0f} min: {fine.data.height} positions, {seconds * 1000:.0f} ms"
    )

    seconds, peaks = best_of(3, lambda: peak_winds(near, lon, lat, exposure="in_land"))
    print(f"peak winds, {len(near)} storms x {lon.size} points: best of 3 {seconds:.2f} s")

    seconds, hazard = best_of(3, lambda: CycloneHazard.from_tracks(tracks, lon, lat))
    print(f"CycloneHazard.from_tracks end to end (select + interpolate + wind): best of 3 {seconds:.2f} s")
    levels = (
        hazard.return_levels()
        .group_by("return_period_yr")
        .agg(pl.col("wind_ms").min().alias("min_ms"), pl.col("wind_ms").max().alias("max_ms"))
    )
    print(levels.sort("return_period_yr"))


if __name__ == "__main__":
    main()
