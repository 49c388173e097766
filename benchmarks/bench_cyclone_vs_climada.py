"""Cyclone winds side by side with CLIMADA: every HURDAT2 storm within 300 km of the island, on the
0.005° island mesh, run by the observatory (in this process) and by CLIMADA's
``TropCyclone.from_tracks(model="H08")`` (in its own virtual environment, ``climada_peer.py``).

    OBSERVATORY_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/bench_cyclone_vs_climada.py
    [--step-minutes 60] [--repeat 3] [--climada-repeat 1] [--climada-env-hpa 1010] [--workdir DIR]

Both models get the same fixes: the storms' best tracks interpolated once by ``Tracks.interpolate``
(hourly by default; original fixes at odd times kept), written to a Parquet file that CLIMADA's side
turns into ``TCTracks``. Central pressure missing in HURDAT2 (most fixes before 1979) is filled
with the observatory's Kraft (1961) estimate in that file, so both see the same pressure; the
radius of maximum wind is HURDAT2's where it has one, else each model's own estimate. Winds
compared are 1-min sustained 10-m marine winds: ours with exposure ``at_sea`` (no over-land
reduction), as CLIMADA's H08. CLIMADA's environmental pressure is its North Atlantic default
(1010 hPa) unless ``--climada-env-hpa`` says otherwise; ours is its own (1015 hPa).

CLIMADA's interpreter: $CLIMADA_PYTHON, else ../climada-venv/bin/python beside the repo. Without
it, the benchmark says how to install it and exits 0. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if not os.environ.get("OBSERVATORY_DATA_MIRROR") and SHARED_DATA.is_dir():
    os.environ["OBSERVATORY_DATA_MIRROR"] = str(SHARED_DATA)
os.environ.setdefault("OBSERVATORY_DATA_DIR", tempfile.mkdtemp(prefix="observatory-bench-"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # climada_peer, also under python -m

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import shapely  # noqa: E402
from climada_peer import PeakRss  # noqa: E402  (same folder; imports no CLIMADA)
from pyproj import Transformer  # noqa: E402

from observatory.risk.cyclone import DEFAULT_RADIUS_KM, CycloneHazard, island_mesh  # noqa: E402
from observatory.risk.hurdat2 import Tracks  # noqa: E402
from observatory.risk.wind import ENV_PRESSURE_HPA, estimate_pressure_hpa, peak_winds  # noqa: E402
from observatory.territory.communes import island  # noqa: E402
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS  # noqa: E402

DEFAULT_CLIMADA_PYTHON = ROOT.parent / "climada-venv" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "climada_peer.py"
CLIMADA_NA_ENV_HPA = 1010.0  # CLIMADA's BASIN_ENV_PRESSURE["NA"] (climada/hazard/tc_tracks.py)
GALE_MS = 17.0  # cells compared: CLIMADA's wind at least tropical-storm force
INSTALL_HINT = """CLIMADA is not installed for this benchmark. It runs in its own virtual environment:
    apt-get install -y libgdal-dev            # GDAL headers for the gdal wheel build (Debian's GDAL is 3.6.2)
    python3 -m venv {venv}
    {venv}/bin/pip install climada "gdal==3.6.2"
or point CLIMADA_PYTHON at an interpreter that can import climada."""


def best_of(repeat: int, func):
    """(best wall time s, peak RSS MiB during the calls, growth MiB over RSS before, last result)."""
    times, peak, growth, result = [], 0.0, 0.0, None
    for _ in range(repeat):
        result = None
        with PeakRss() as mem:
            start = time.perf_counter()
            result = func()
            times.append(time.perf_counter() - start)
        peak, growth = max(peak, mem.peak_mib), max(growth, mem.growth_mib)
    return min(times), peak, growth, result


def climada_python(option: str | None) -> Path | None:
    """The interpreter of CLIMADA's environment, if it can import climada."""
    path = Path(option or os.environ.get("CLIMADA_PYTHON") or DEFAULT_CLIMADA_PYTHON)
    if not path.exists():
        return None
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('climada') is None)"
    return path if subprocess.run([str(path), "-c", probe], check=False).returncode == 0 else None


def dist_coast_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance (m) from each point to the island outline, in EPSG:5490 (saves CLIMADA its
    300 MB global distance-to-coast raster)."""
    outline = island().to_crs(METRIC_CRS).geometry.union_all().boundary
    x, y = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True).transform(lon, lat)
    return shapely.distance(shapely.points(x, y), outline)


def fixes_frame(fine: Tracks) -> pl.DataFrame:
    """The fixes both models see; pressure gaps filled as ``track_vortex`` fills them."""
    data = fine.data
    wind = data["wind_kt"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    pc = data["pressure_hpa"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    pc = np.where(np.isnan(pc), estimate_pressure_hpa(wind), pc)
    pc = np.where(np.isnan(pc), ENV_PRESSURE_HPA, pc)  # neither wind nor pressure: no storm
    return data.select(
        "storm_id",
        "name",
        "year",
        "time",
        "status",
        "lat",
        "lon",
        pl.col("wind_kt").cast(pl.Float64),
        pl.Series("pressure_hpa", pc),
        pl.col("rmw_nm").cast(pl.Float64),
    )


def relative_differences(ours: np.ndarray, theirs: np.ndarray) -> str:
    """Median, 95th percentile and max of |ours - theirs| / theirs where theirs >= GALE_MS, and
    the median signed difference."""
    keep = theirs >= GALE_MS
    if not keep.any():
        return "no cell reaches 17 m/s in CLIMADA"
    rel = (ours[keep] - theirs[keep]) / theirs[keep]
    a = np.abs(rel)
    return (
        f"{keep.sum():>7} cells  |diff|/CLIMADA median {np.median(a):6.1%}  p95 {np.percentile(a, 95):6.1%}"
        f"  max {a.max():6.1%}   signed median {np.median(rel):+6.1%}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-minutes", type=float, default=60.0, help="interpolation step of both models")
    parser.add_argument("--mesh-deg", type=float, default=0.005, help="island mesh step (degrees)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of ours (best is shown)")
    parser.add_argument("--climada-repeat", type=int, default=1, help="timed runs of CLIMADA")
    parser.add_argument("--climada-env-hpa", type=float, default=CLIMADA_NA_ENV_HPA)
    parser.add_argument(
        "--our-env-hpa",
        type=float,
        default=ENV_PRESSURE_HPA,
        help="ours, model-only run (end to end: default)",
    )
    parser.add_argument("--climada-python", help="CLIMADA's interpreter (default $CLIMADA_PYTHON)")
    parser.add_argument("--workdir", type=Path, help="keep the exchanged files here (default: a temp dir)")
    return parser.parse_args(argv)


def run_ours(args, tracks: Tracks, fine: Tracks, lon: np.ndarray, lat: np.ndarray) -> dict:
    """Our model on the same fixes (model only), and end to end from the parsed HURDAT2 file."""

    def model_only():
        return peak_winds(
            fine,
            lon,
            lat,
            exposure="at_sea",
            step_minutes=args.step_minutes,
            env_pressure_hpa=args.our_env_hpa,
        )

    def end_to_end():
        return CycloneHazard.from_tracks(tracks, lon, lat, exposure="at_sea", step_minutes=args.step_minutes)

    seconds, peak, growth, peaks = best_of(args.repeat, model_only)
    e2e_s, *_ = best_of(args.repeat, end_to_end)
    return {"s": seconds, "peak_mib": peak, "growth_mib": growth, "peaks": peaks, "e2e_s": e2e_s}


def run_climada(args, python: Path, work: Path) -> tuple[dict, dict[str, np.ndarray]] | None:
    """CLIMADA's side in its own interpreter: its result.json and its winds by storm id."""
    print(f"CLIMADA (H08, {args.climada_repeat} run(s)); its progress follows:", flush=True)
    command = [
        str(python),
        str(PEER),
        f"--tracks={work / 'fixes.parquet'}",
        f"--points={work / 'points.parquet'}",
        f"--out={work / 'climada'}",
        f"--env-hpa={args.climada_env_hpa}",
        f"--repeat={args.climada_repeat}",
    ]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        print(f"CLIMADA's side failed (exit {done.returncode}); see its messages above.")
        return None
    peer = json.loads((work / "climada" / "result.json").read_text())
    winds = np.load(work / "climada" / "intensity.npy")
    return peer, dict(zip(peer["storm_ids"], winds, strict=True))


def report(
    args, ours: dict, peer: dict, theirs: np.ndarray, storms: pl.DataFrame, n_points: int, n_fixes: int
):
    wind = ours["peaks"].wind_ms
    climada_s = min(peer["from_tracks_s"])
    print(
        f"\nsame input: {storms.height} storms, {n_points} points, {n_fixes} positions ({args.step_minutes:g} min)"
    )
    print(
        f"environmental pressure: ours {args.our_env_hpa:g} hPa, CLIMADA {peer['env_hpa']:g} hPa; "
        f"CLIMADA {peer['climada']}, intensity_thres {peer['intensity_thres']:g} m/s"
    )
    rows = [
        (f"ours peak_winds (best of {args.repeat})", ours["s"], ours["peak_mib"], ours["growth_mib"]),
        (
            f"CLIMADA from_tracks (best of {len(peer['from_tracks_s'])})",
            climada_s,
            peer["peak_mib"],
            peer["peak_mib"] - peer["rss_before_mib"],
        ),
        ("CLIMADA TCTracks from the file", peer["prepare_s"], peer["prepare_peak_mib"], None),
        ("ours end to end (select+interp.)", ours["e2e_s"], None, None),
        ("CLIMADA import", peer["import_s"], None, None),
    ]
    print(f"{'':36}{'wall s':>8}{'peak RSS MiB':>14}{'of which the call':>19}")
    for name, sec, peak, growth in rows:
        cells = [f"{sec:8.2f}", f"{peak:14.0f}" if peak else " " * 14, f"{growth:19.0f}" if growth else ""]
        print(f"{name:36}{''.join(cells)}")
    print(f"speed ratio, model on the same fixes: CLIMADA / ours = {climada_s / ours['s']:.0f}x")
    print(
        "speed ratio, CLIMADA (tracks + from_tracks) / ours end to end from parsed HURDAT2: "
        f"{(climada_s + peer['prepare_s']) / ours['e2e_s']:.0f}x"
    )
    print("\nwind differences (1-min sustained 10-m marine wind), where CLIMADA >= 17 m/s:")
    print(f"  per storm and point : {relative_differences(wind, theirs)}")
    print(f"  per-point max       : {relative_differences(wind.max(axis=0), theirs.max(axis=0))}")
    print(f"  cells >= 17 m/s     : ours {(wind >= GALE_MS).sum()}, CLIMADA {(theirs >= GALE_MS).sum()}")
    print("\nstrongest storms on the island (max over points, m/s):")
    print(f"  {'storm':10}{'name':12}{'year':>5}{'CLIMADA':>9}{'ours':>7}{'diff':>8}")
    for s in np.argsort(-theirs.max(axis=1))[:10]:
        row = storms.row(int(s), named=True)
        c, o = theirs[s].max(), wind[s].max()
        print(f"  {row['storm_id']:10}{row['name']:12}{row['year']:>5}{c:9.1f}{o:7.1f}{(o - c) / c:+8.1%}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = climada_python(args.climada_python)
    if python is None:
        print(INSTALL_HINT.format(venv=DEFAULT_CLIMADA_PYTHON.parents[1]))
        return 0
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}, "
        f"{os.cpu_count()} CPUs; CLIMADA from {python}"
    )
    tracks = Tracks.from_registry()
    lon, lat = island_mesh(args.mesh_deg)
    near = tracks.near(lon, lat, DEFAULT_RADIUS_KM)
    fine = near.interpolate(args.step_minutes)
    fixes = fixes_frame(fine)
    print(
        f"{len(near)} storms within {DEFAULT_RADIUS_KM:.0f} km of {lon.size} points ({args.mesh_deg}° mesh); "
        f"{fixes.height} positions every {args.step_minutes:g} min"
    )
    with tempfile.TemporaryDirectory(prefix="bench-climada-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fixes.write_parquet(work / "fixes.parquet")
        points = {"lon": lon, "lat": lat, "dist_coast_m": dist_coast_m(lon, lat)}
        pl.DataFrame(points).write_parquet(work / "points.parquet")
        ours = run_ours(args, tracks, fine, lon, lat)
        climada = run_climada(args, python, work)
    if climada is None:
        return 1
    peer, theirs_by_id = climada
    theirs = np.stack([theirs_by_id[i] for i in ours["peaks"].storm_ids]).astype(np.float64)
    storms = near.summary().select("storm_id", "name", "year")
    report(args, ours, peer, theirs, storms, lon.size, fixes.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
