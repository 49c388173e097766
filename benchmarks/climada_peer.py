"""CLIMADA's side of ``bench_cyclone_vs_climada.py``: H08 winds of the benchmark's tracks on its points.

Runs in CLIMADA's own virtual environment, not the project's (CLIMADA is a peer for the benchmark,
not a dependency); imports nothing from ``observatory``. The benchmark calls it as

    CLIMADA_PYTHON benchmarks/climada_peer.py --tracks fixes.parquet --points points.parquet --out DIR

``fixes.parquet``: one row per track position, in storm then time order: storm_id, name, time
(UTC), lat, lon, wind_kt (1-min, 10 m), pressure_hpa (central, no gaps), rmw_nm (null where the
best track has none: CLIMADA then estimates it from pressure, as for IBTrACS). ``points.parquet``:
lon, lat, dist_coast_m. Writes DIR/intensity.npy (float32, storms x points, storms in file order)
and DIR/result.json (timings, memory, versions). Peak memory is the high-water mark of resident
memory (VmHWM, reset just before the measured call where Linux allows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

MIB = 1024.0 * 1024.0


class PeakRss:
    """Resident memory (MiB) before a block and its peak during it, for this process.

    Linux: the high-water mark (VmHWM) is reset on entry by writing 5 to /proc/self/clear_refs,
    so ``peak_mib`` is the peak of the block itself. Elsewhere ``peak_mib`` is the process's peak
    so far (getrusage), which can only overstate it.
    """

    def __enter__(self) -> PeakRss:
        self.reset = _reset_hwm()
        self.before_mib = _status_mib("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        hwm = _status_mib("VmHWM") if self.reset else None
        self.peak_mib = hwm if hwm is not None else _ru_maxrss_mib()

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - (self.before_mib or 0.0)


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _ru_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def build_tracks(path: Path, env_hpa: float):
    """CLIMADA ``TCTracks`` from the fixes file: one xarray Dataset per storm with the variables
    and attributes of ``TCTracks.from_ibtracs_netcdf`` (tc_tracks.py), units kn, mb, nm, hours."""
    import pandas as pd
    import xarray as xr
    from climada.hazard import TCTracks
    from climada.hazard.tc_tracks import estimate_roci, set_category

    fixes = pd.read_parquet(path)
    times = pd.to_datetime(fixes["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    ids = fixes["storm_id"].to_numpy()
    bounds = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1, ids.size]
    # copies: pandas 3 hands out read-only views, and CLIMADA normalises longitudes in place
    columns = {
        c: np.array(fixes[c].to_numpy(dtype=float, na_value=np.nan))
        for c in ("lat", "lon", "wind_kt", "pressure_hpa", "rmw_nm")
    }
    names = fixes["name"].to_numpy()
    data = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        t = times[a:b].copy()
        pres = columns["pressure_hpa"][a:b]
        wind = columns["wind_kt"][a:b]
        rmw = columns["rmw_nm"][a:b]
        step_h = np.ones(t.size)
        if t.size > 1:
            step_h[1:] = np.diff(t) / np.timedelta64(1, "h")
            step_h[0] = step_h[1]  # as from_ibtracs_netcdf
        sid = str(ids[a])
        data.append(
            xr.Dataset(
                {
                    "time_step": ("time", step_h),
                    "radius_max_wind": ("time", rmw),  # NaN: estimate_rmw from pressure in tctrack_to_si
                    "radius_oci": ("time", np.fmax(estimate_roci(np.full(t.size, np.nan), pres), 0.0)),
                    "max_sustained_wind": ("time", wind),
                    "central_pressure": ("time", pres),
                    # as from_ibtracs_netcdf: basin default, never below the central pressure
                    "environmental_pressure": ("time", np.fmax(np.full(t.size, env_hpa), pres)),
                    "basin": ("time", np.full(t.size, "NA")),
                },
                coords={
                    "time": ("time", t),
                    "lat": ("time", columns["lat"][a:b].copy()),
                    "lon": ("time", columns["lon"][a:b].copy()),
                },
                attrs={
                    "max_sustained_wind_unit": "kn",
                    "central_pressure_unit": "mb",
                    "name": str(names[a]),
                    "sid": sid,
                    "orig_event_flag": True,
                    "data_provider": "NHC HURDAT2 (observatory benchmark)",
                    "id_no": float(int(sid[4:]) * 100 + int(sid[2:4])),  # year * 100 + storm number
                    "category": int(set_category(wind, "kn")),
                },
            )
        )
    return TCTracks(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=Path, required=True)
    parser.add_argument("--points", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--env-hpa", type=float, default=1010.0, help="environmental pressure (hPa)")
    parser.add_argument("--intensity-thres", type=float, default=0.0, help="CLIMADA's intensity_thres (m/s)")
    parser.add_argument("--repeat", type=int, default=1, help="timed calls of TropCyclone.from_tracks")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    import climada
    import pandas as pd
    from climada.hazard import Centroids, TropCyclone

    import_s = time.perf_counter() - start
    # CLIMADA's own "Progress: n%" lines while from_tracks runs (a minute or more)
    logging.getLogger("climada.hazard.trop_cyclone.trop_cyclone").setLevel(logging.INFO)

    points = pd.read_parquet(args.points)
    centroids = Centroids(
        lat=points["lat"].to_numpy(),
        lon=points["lon"].to_numpy(),
        dist_coast=points["dist_coast_m"].to_numpy(),
    )
    with PeakRss() as prep_mem:
        start = time.perf_counter()
        tracks = build_tracks(args.tracks, args.env_hpa)
        prepare_s = time.perf_counter() - start

    seconds, peaks_mib, before_mib, hazard = [], [], [], None
    for _ in range(max(1, args.repeat)):
        hazard = None
        with PeakRss() as mem:
            start = time.perf_counter()
            hazard = TropCyclone.from_tracks(
                tracks, centroids, model="H08", intensity_thres=args.intensity_thres
            )
            seconds.append(time.perf_counter() - start)
        peaks_mib.append(mem.peak_mib)
        before_mib.append(mem.before_mib or 0.0)
        print(f"  CLIMADA from_tracks: {seconds[-1]:.1f} s", file=sys.stderr, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "intensity.npy", hazard.intensity.toarray().astype(np.float32))
    result = {
        "climada": getattr(climada, "__version__", None) or _dist_version("climada"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "n_tracks": tracks.size,
        "n_positions": int(sum(t.sizes["time"] for t in tracks.data)),
        "n_points": int(centroids.size),
        "storm_ids": list(hazard.event_name),
        "env_hpa": args.env_hpa,
        "intensity_thres": args.intensity_thres,
        "import_s": import_s,
        "prepare_s": prepare_s,
        "prepare_peak_mib": prep_mem.peak_mib,
        "from_tracks_s": seconds,
        "rss_before_mib": max(before_mib),
        "peak_mib": max(peaks_mib),
        "process_peak_mib": _ru_maxrss_mib(),
    }
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    return 0


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
