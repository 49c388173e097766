"""Cyclone winds side by side with CLIMADA: every HURDAT2 storm within 300 km of the island, on the
0.005° island mesh, run by the observatory (in this process) and by CLIMADA's
``TropCyclone.from_tracks(model="H08")`` (in its own virtual environment, ``climada_peer.py``).

    OBSERVATORY_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/bench_cyclone_vs_climada.py
    [--step-minutes 60] [--repeat 3] [--climada-repeat 1] [--climada-env-hpa 1010] [--workdir DIR]
    [--models default,climada_h08] [--ingredients] [--reuse-climada]

Both models get the same fixes: the storms' best tracks interpolated once by ``Tracks.interpolate``
(hourly by default; original fixes at odd times kept), written to a Parquet file that CLIMADA's side
turns into ``TCTracks``. Central pressure missing in HURDAT2 (most fixes before 1979) is filled
with the observatory's Kraft (1961) estimate at the best-track fixes before interpolating, as
``peak_winds`` does (filling after it made the pressure jump within minutes next to a lone
observed pressure), so both see the same, continuous pressure; the radius of maximum wind is HURDAT2's where it has one, else each model's own estimate. Winds
compared are 1-min sustained 10-m marine winds: ours with exposure ``at_sea`` (no over-land
reduction), as CLIMADA's H08. CLIMADA's environmental pressure is its North Atlantic default
(1010 hPa) unless ``--climada-env-hpa`` says otherwise.

Two of our models run against the same CLIMADA run: ``default`` (``WindModel()``, the
observatory's evidence-based choices, 1015 hPa) and ``climada_h08`` (``WindModel.climada_h08()``,
CLIMADA's ingredients), each timed and compared on its own. ``--ingredients`` then switches one
ingredient at a time, the default towards CLIMADA's and the preset back to ours, and prints what
each does to the differences. ``--reuse-climada`` (with ``--workdir``) compares against CLIMADA's
winds kept in that folder by an earlier run on the same input instead of running it again.

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
from dataclasses import fields, replace
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
from observatory.risk.wind import (  # noqa: E402
    ENV_PRESSURE_HPA,
    WindModel,
    estimate_pressure_hpa,
    peak_winds,
    with_estimated_pressure,
)
from observatory.territory.communes import island  # noqa: E402
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS  # noqa: E402

DEFAULT_CLIMADA_PYTHON = ROOT.parent / "climada-venv" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "climada_peer.py"
CLIMADA_NA_ENV_HPA = 1010.0  # CLIMADA's BASIN_ENV_PRESSURE["NA"] (climada/hazard/tc_tracks.py)
GALE_MS = 17.0  # cells compared: CLIMADA's wind at least tropical-storm force
MODELS = {
    "default": WindModel(),
    "climada_h08": WindModel.climada_h08(),
    "cyclostrophic": WindModel(coriolis=False),  # the default before 2026-11-26: the Coriolis term's cost
}
DEFAULT_MODELS = ("default", "climada_h08")
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
    """The fixes both models see; pressure gaps left after interpolation (fixes with neither wind
    nor pressure) filled as ``track_vortex`` fills them."""
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


def difference_stats(ours: np.ndarray, theirs: np.ndarray) -> dict | None:
    """Over cells where theirs >= GALE_MS, |ours - theirs| / theirs: cells, median, p95, max, and
    the median signed difference; None if no cell qualifies."""
    keep = theirs >= GALE_MS
    if not keep.any():
        return None
    rel = (ours[keep] - theirs[keep]) / theirs[keep]
    a = np.abs(rel)
    return {
        "n": int(keep.sum()),
        "median": np.median(a),
        "p95": np.percentile(a, 95),
        "max": a.max(),
        "bias": np.median(rel),
    }


def relative_differences(ours: np.ndarray, theirs: np.ndarray) -> str:
    """``difference_stats`` as one line."""
    d = difference_stats(ours, theirs)
    if d is None:
        return "no cell reaches 17 m/s in CLIMADA"
    return (
        f"{d['n']:>7} cells  |diff|/CLIMADA median {d['median']:6.1%}  p95 {d['p95']:6.1%}"
        f"  max {d['max']:6.1%}   signed median {d['bias']:+6.1%}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-minutes", type=float, default=60.0, help="interpolation step of both models")
    parser.add_argument("--mesh-deg", type=float, default=0.005, help="island mesh step (degrees)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of ours (best is shown)")
    parser.add_argument("--climada-repeat", type=int, default=1, help="timed runs of CLIMADA")
    parser.add_argument("--climada-env-hpa", type=float, default=CLIMADA_NA_ENV_HPA)
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help=f"our models to run, among {', '.join(MODELS)}"
    )
    parser.add_argument("--climada-python", help="CLIMADA's interpreter (default $CLIMADA_PYTHON)")
    parser.add_argument("--workdir", type=Path, help="keep the exchanged files here (default: a temp dir)")
    parser.add_argument(
        "--ingredients", action="store_true", help="switch one model ingredient at a time and compare"
    )
    parser.add_argument(
        "--reuse-climada",
        action="store_true",
        help="with --workdir: reuse CLIMADA's winds from an earlier run on the same input",
    )
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        parser.error(f"--models: {unknown or 'none given'}; choose among {', '.join(MODELS)}")
    if args.reuse_climada and args.workdir is None:
        parser.error("--reuse-climada needs --workdir (the folder of the earlier run)")
    return args


def run_ours(args, fine: Tracks, lon: np.ndarray, lat: np.ndarray) -> dict[str, dict]:
    """Our models on the same fixes (model only), by name. The repeats take turns between the
    models, so that a burst of load on a shared machine does not fall on one model only."""
    results: dict[str, dict] = {
        name: {"s": np.inf, "peak_mib": 0.0, "growth_mib": 0.0} for name in args.models
    }
    for _ in range(args.repeat):
        for name in args.models:

            def model_only(model=MODELS[name]):
                return peak_winds(
                    fine, lon, lat, exposure="at_sea", step_minutes=args.step_minutes, model=model
                )

            seconds, peak, growth, peaks = best_of(1, model_only)
            kept = results[name]
            kept.update(s=min(kept["s"], seconds), peaks=peaks)
            kept.update(peak_mib=max(kept["peak_mib"], peak), growth_mib=max(kept["growth_mib"], growth))
    return results


def run_end_to_end(args, tracks: Tracks, lon: np.ndarray, lat: np.ndarray) -> float:
    """The hazard from the parsed HURDAT2 file (select + interpolate + default winds), best time s."""

    def end_to_end():
        return CycloneHazard.from_tracks(tracks, lon, lat, exposure="at_sea", step_minutes=args.step_minutes)

    seconds, *_ = best_of(args.repeat, end_to_end)
    return seconds


def _same_frame(path: Path, frame: pl.DataFrame) -> bool:
    """Whether the Parquet file at ``path`` holds exactly ``frame``."""
    return path.exists() and pl.read_parquet(path).equals(frame)


def stored_climada(args, work: Path, n_points: int) -> tuple[dict, dict[str, np.ndarray]] | None:
    """CLIMADA's result kept in ``work`` by an earlier run on the same fixes (checked by the
    caller), if it also had the same points and environmental pressure."""
    result = work / "climada" / "result.json"
    if not result.exists():
        return None
    peer = json.loads(result.read_text())
    if (peer["n_points"], peer["env_hpa"]) != (n_points, args.climada_env_hpa):
        return None
    print(f"CLIMADA: reusing the winds and timings of an earlier run in {work / 'climada'}")
    winds = np.load(work / "climada" / "intensity.npy")
    return peer, dict(zip(peer["storm_ids"], winds, strict=True))


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


def report_input(args, peer: dict, storms: pl.DataFrame, n_points: int, n_fixes: int, e2e_s: float):
    """The shared input and CLIMADA's own timings."""
    climada_s = min(peer["from_tracks_s"])
    print(
        f"\nsame input: {storms.height} storms, {n_points} points, {n_fixes} positions ({args.step_minutes:g} min)"
    )
    print(
        f"CLIMADA {peer['climada']}: environmental pressure {peer['env_hpa']:g} hPa, "
        f"intensity_thres {peer['intensity_thres']:g} m/s"
    )
    print(f"{'':36}{'wall s':>8}{'peak RSS MiB':>14}{'of which the call':>19}")
    rows = [
        (
            f"CLIMADA from_tracks (best of {len(peer['from_tracks_s'])})",
            climada_s,
            peer["peak_mib"],
            peer["peak_mib"] - peer["rss_before_mib"],
        ),
        ("CLIMADA TCTracks from the file", peer["prepare_s"], peer["prepare_peak_mib"], None),
        ("CLIMADA import", peer["import_s"], None, None),
        ("ours end to end (default model)", e2e_s, None, None),
    ]
    for name, sec, peak, growth in rows:
        _timing_row(name, sec, peak, growth)
    print(
        "speed ratio, CLIMADA (tracks + from_tracks) / ours end to end from parsed HURDAT2: "
        f"{(climada_s + peer['prepare_s']) / e2e_s:.0f}x"
    )


def _timing_row(name: str, sec: float, peak: float | None, growth: float | None) -> None:
    cells = [f"{sec:8.2f}", f"{peak:14.0f}" if peak else " " * 14, f"{growth:19.0f}" if growth else ""]
    print(f"{name:36}{''.join(cells)}")


def report_model(args, name: str, ours: dict, peer: dict, theirs: np.ndarray, storms: pl.DataFrame):
    """One of our models against CLIMADA: time, memory, wind differences, strongest storms."""
    wind = ours["peaks"].wind_ms
    climada_s = min(peer["from_tracks_s"])
    print(f"\n== ours: {name} = {MODELS[name]}")
    _timing_row(f"ours peak_winds (best of {args.repeat})", ours["s"], ours["peak_mib"], ours["growth_mib"])
    print(f"speed ratio, model on the same fixes: CLIMADA / ours = {climada_s / ours['s']:.0f}x")
    print("wind differences (1-min sustained 10-m marine wind), where CLIMADA >= 17 m/s:")
    print(f"  per storm and point : {relative_differences(wind, theirs)}")
    print(f"  per-point max       : {relative_differences(wind.max(axis=0), theirs.max(axis=0))}")
    print(f"  cells >= 17 m/s     : ours {(wind >= GALE_MS).sum()}, CLIMADA {(theirs >= GALE_MS).sum()}")
    print("strongest storms on the island (max over points, m/s):")
    print(f"  {'storm':10}{'name':12}{'year':>5}{'CLIMADA':>9}{'ours':>7}{'diff':>8}")
    for s in np.argsort(-theirs.max(axis=1))[:10]:
        row = storms.row(int(s), named=True)
        c, o = theirs[s].max(), wind[s].max()
        print(f"  {row['storm_id']:10}{row['name']:12}{row['year']:>5}{c:9.1f}{o:7.1f}{(o - c) / c:+8.1%}")


def report_ingredients(args, fine: Tracks, lon, lat, theirs_by_id: dict[str, np.ndarray]) -> None:
    """Ingredients switched one at a time (the default towards CLIMADA's, the preset back to ours,
    the Coriolis term off as before 2026-11-26), then one after the other from the default to the preset."""
    default, climada = MODELS["default"], MODELS["climada_h08"]
    differing = [f.name for f in fields(WindModel) if getattr(default, f.name) != getattr(climada, f.name)]
    variants = [("default", default), ("default, coriolis=False", replace(default, coriolis=False))]
    for name in differing:
        variants.append(
            (
                f"default, {name}={_short(getattr(climada, name))}",
                replace(default, **{name: getattr(climada, name)}),
            )
        )
    variants.append(("climada_h08", climada))
    for name in differing:
        variants.append(
            (
                f"climada_h08, {name}={_short(getattr(default, name))}",
                replace(climada, **{name: getattr(default, name)}),
            )
        )
    model = default
    for name in differing:
        model = replace(model, **{name: getattr(climada, name)})
        variants.append((f"default + ... + {name}", model))
    print("\ningredients switched (p95 of |diff|/CLIMADA, signed median in brackets):")
    print(f"  {'model':48}{'per storm and point':>22}{'per-point max':>22}")
    for label, model in variants:
        peaks = peak_winds(fine, lon, lat, exposure="at_sea", step_minutes=args.step_minutes, model=model)
        theirs = np.stack([theirs_by_id[i] for i in peaks.storm_ids]).astype(np.float64)
        cells = difference_stats(peaks.wind_ms, theirs)
        point = difference_stats(peaks.wind_ms.max(axis=0), theirs.max(axis=0))
        print(
            f"  {label:48}{cells['p95']:>12.1%} ({cells['bias']:+6.1%}){point['p95']:>12.1%} ({point['bias']:+6.1%})"
        )


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.4g}" for v in value) + ")"
    return str(value)


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
    # as peak_winds does: pressure filled at the best-track fixes, then interpolated (continuous)
    fine = with_estimated_pressure(near).interpolate(args.step_minutes)
    fixes = fixes_frame(fine)
    print(
        f"{len(near)} storms within {DEFAULT_RADIUS_KM:.0f} km of {lon.size} points ({args.mesh_deg}° mesh); "
        f"{fixes.height} positions every {args.step_minutes:g} min"
    )
    with tempfile.TemporaryDirectory(prefix="bench-climada-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        same_fixes = _same_frame(work / "fixes.parquet", fixes)
        fixes.write_parquet(work / "fixes.parquet")
        points = {"lon": lon, "lat": lat, "dist_coast_m": dist_coast_m(lon, lat)}
        pl.DataFrame(points).write_parquet(work / "points.parquet")
        ours = run_ours(args, fine, lon, lat)
        e2e_s = run_end_to_end(args, tracks, lon, lat)
        climada = args.reuse_climada and same_fixes and stored_climada(args, work, lon.size)
        climada = climada or run_climada(args, python, work)
    if climada is None:
        return 1
    peer, theirs_by_id = climada
    storms = near.summary().select("storm_id", "name", "year")
    report_input(args, peer, storms, lon.size, fixes.height, e2e_s)
    for name, result in ours.items():
        theirs = np.stack([theirs_by_id[i] for i in result["peaks"].storm_ids]).astype(np.float64)
        report_model(args, name, result, peer, theirs, storms)
    if args.ingredients:
        report_ingredients(args, fine, lon, lat, theirs_by_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
