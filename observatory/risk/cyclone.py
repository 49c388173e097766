"""Cyclone wind hazard on Martinique: storm peaks at points and communes, return periods, replays.

Every HURDAT2 storm whose track passes within ``radius_km`` (300 km by default) of the points is
run through the parametric wind model (``observatory.risk.wind``); each point keeps the storm's
highest 1-min sustained 10-m wind, its 3-s gust and the time it blew. From these per-storm peaks:

- exceedance frequencies: storms per year reaching a threshold, and the share of years that did;
- return-period winds: the wind reached on average once every T years, from the empirical
  Poisson rate over the period of record, lambda(v) = (storms with peak >= v) / years. With 175
  years (1851–2025) the 100-year wind lies between the first and second highest storms; a period
  shorter than T years gives no T-year value (NaN) rather than an extrapolation.

The record is not homogeneous. Before routine satellite coverage (1966) weak, short-lived and
distant storms were missed (Landsea et al. 2010, J. Climate 23, 2508–2519; Vecchi & Knutson 2011,
J. Climate 24, 1736–1746), and early intensities are coarse (often 10-kt steps, pressure
mostly absent and estimated from wind). The full record therefore under-counts the frequent,
moderate winds; ``since=1966`` keeps the satellite era, more complete but only 60 years long.
Martinique's own stations and coast reported many 19th-century storms, so the strongest passages
near the island are the best-kept part of the early record.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import shapely

from observatory.errors import ParameterError
from observatory.files import write_atomic
from observatory.risk.hurdat2 import Tracks, _points
from observatory.risk.wind import DEFAULT_STEP_MINUTES, peak_winds

DEFAULT_RADIUS_KM = 300.0  # storms whose track comes this close to a point are modelled
RETURN_PERIODS_YR = (10, 25, 50, 100)
SATELLITE_ERA_START = 1966  # first season with routine satellite imagery of the Atlantic (ESSA)
DEFAULT_EXPOSURE = "in_land"  # island points: open terrain inland (Harper et al. 2010)
MESH_STEP_DEG = 0.005  # about 0.55 km: ~3,700 points on the island
HISTORIC_STORMS = (("DEAN", 2007), ("DAVID", 1979), ("MARIA", 2017), ("DOROTHY", 1970), ("EDITH", 1963))


def island_mesh(step_deg: float = MESH_STEP_DEG, config=None) -> tuple[np.ndarray, np.ndarray]:
    """Centres (lon, lat degrees) of a regular lon/lat mesh that fall on the island."""
    from observatory.territory.communes import island

    if not np.isfinite(step_deg) or not 0.0005 <= step_deg <= 0.5:
        raise ParameterError(f"mesh step {step_deg}°", parameter="step_deg", hint="Use 0.001–0.1 degrees.")
    outline = island(config).geometry.union_all()
    return _mesh_in(outline, step_deg)


def commune_points(step_deg: float = 0.01, config=None) -> pl.DataFrame:
    """Points for per-commune hazard: mesh centres inside each commune plus each commune's
    representative point (so that no commune is left without one). Columns: point_id, insee, lon, lat."""
    from observatory.territory.communes import communes

    shapes = communes(config)
    outline = shapely.union_all(shapes.geometry.to_numpy())
    lon, lat = _mesh_in(outline, step_deg)
    insee = np.full(lon.size, None, dtype=object)
    for code, geom in zip(shapes["insee"], shapes.geometry, strict=True):
        insee[shapely.contains_xy(geom, lon, lat)] = code
    rep = shapes.geometry.representative_point()
    frame = pl.DataFrame(
        {
            "insee": [*insee[insee != None].tolist(), *shapes["insee"].tolist()],  # noqa: E711
            "lon": np.r_[lon[insee != None], rep.x.to_numpy()],  # noqa: E711
            "lat": np.r_[lat[insee != None], rep.y.to_numpy()],  # noqa: E711
        }
    )
    return frame.with_row_index("point_id").with_columns(pl.col("point_id").cast(pl.String))


def _mesh_in(geom, step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = geom.bounds
    xs = np.arange(np.floor(x0 / step_deg), np.ceil(x1 / step_deg)) * step_deg + step_deg / 2
    ys = np.arange(np.floor(y0 / step_deg), np.ceil(y1 / step_deg)) * step_deg + step_deg / 2
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    inside = shapely.contains_xy(geom, gx, gy)
    return gx[inside], gy[inside]


@dataclass(frozen=True)
class CycloneHazard:
    """Peak winds of every storm near the points, over a period of record.

    storms: storm_id, name, year, dist_km (closest approach to any point), one row per storm;
    wind_ms, gust_ms: (storms, points) 1-min sustained 10-m wind and 3-s gust; time_peak: UTC
    datetime64 (NaT where the storm brought no wind); first_year..last_year: the period of record.
    """

    storms: pl.DataFrame
    point_ids: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    wind_ms: np.ndarray
    gust_ms: np.ndarray
    time_peak: np.ndarray
    first_year: int
    last_year: int
    exposure: str

    @classmethod
    def from_tracks(
        cls,
        tracks: Tracks,
        lon,
        lat,
        *,
        point_ids: Sequence[str] | None = None,
        radius_km: float = DEFAULT_RADIUS_KM,
        since: int | None = None,
        until: int | None = None,
        exposure: str = DEFAULT_EXPOSURE,
        step_minutes: float = DEFAULT_STEP_MINUTES,
    ) -> CycloneHazard:
        """Model every storm of ``tracks`` from ``since`` to ``until`` (years, inclusive; default
        the whole file) passing within ``radius_km`` of a point (lon, lat degrees)."""
        plon, plat = _points(lon, lat)
        ids = tuple(str(i) for i in (range(plon.size) if point_ids is None else point_ids))
        if len(ids) != plon.size:
            raise ParameterError(f"{len(ids)} point ids for {plon.size} points", parameter="point_ids")
        years = tracks.data["year"]
        first = int(years.min()) if since is None else int(since)
        last = int(years.max()) if until is None else int(until)
        if first > last:
            raise ParameterError(f"period {first}–{last} is empty", parameter="since")
        period = tracks.select(
            tracks.data.filter(pl.col("year").is_between(first, last))["storm_id"].unique()
        )
        close = period.closest_approach_km(plon, plat, max_km=radius_km).drop_nulls("dist_km")
        peaks = peak_winds(
            period.select(close["storm_id"]), plon, plat, exposure=exposure, step_minutes=step_minutes
        )
        return cls(
            close, ids, plon, plat, peaks.wind_ms, peaks.gust_ms, peaks.time_peak, first, last, exposure
        )

    def save(self, path: Path) -> None:
        """Write the hazard to ``path``: one NumPy .npz (no pickled object; the storms table as
        Arrow IPC bytes), replaced atomically."""
        storms = io.BytesIO()
        self.storms.write_ipc(storms)
        out = io.BytesIO()
        np.savez(
            out,
            storms=np.frombuffer(storms.getvalue(), np.uint8),
            point_ids=np.array(self.point_ids, dtype=str),
            lon=self.lon,
            lat=self.lat,
            wind_ms=self.wind_ms,
            gust_ms=self.gust_ms,
            time_peak=self.time_peak,
            years=np.array([self.first_year, self.last_year]),
            exposure=np.array(self.exposure),
        )
        write_atomic(path, out.getvalue())

    @classmethod
    def load(cls, path: Path) -> CycloneHazard:
        """The hazard ``save`` wrote to ``path``; ValueError when the file does not hold one
        (truncated, another layout), naming the file."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
            storms = pl.read_ipc(io.BytesIO(arrays["storms"].tobytes()))
            wind, gust, when = arrays["wind_ms"], arrays["gust_ms"], arrays["time_peak"]
            shape = (storms.height, len(arrays["point_ids"]))
            if not wind.shape == gust.shape == when.shape == shape or arrays["lon"].shape != shape[1:]:
                raise ValueError(f"arrays of {wind.shape} for {shape[0]} storms and {shape[1]} points")
            first, last = (int(y) for y in arrays["years"])
            return cls(
                storms,
                tuple(arrays["point_ids"].tolist()),
                arrays["lon"],
                arrays["lat"],
                wind,
                gust,
                when,
                first,
                last,
                str(arrays["exposure"]),
            )
        except (KeyError, EOFError, zipfile.BadZipFile, pl.exceptions.PolarsError, ValueError) as exc:
            raise ValueError(f"{path}: not a saved cyclone hazard ({exc})") from exc

    @property
    def n_years(self) -> int:
        """Length of the period of record (years)."""
        return self.last_year - self.first_year + 1

    def since(self, year: int) -> CycloneHazard:
        """The same hazard restricted to storms and years from ``year`` on (e.g. 1966)."""
        if not self.first_year <= year <= self.last_year:
            raise ParameterError(f"{year} is outside {self.first_year}–{self.last_year}", parameter="year")
        keep = (self.storms["year"] >= year).to_numpy()
        return replace(
            self,
            storms=self.storms.filter(pl.Series(keep)),
            wind_ms=self.wind_ms[keep],
            gust_ms=self.gust_ms[keep],
            time_peak=self.time_peak[keep],
            first_year=year,
        )

    def peaks(self) -> pl.DataFrame:
        """Long table: storm_id, name, year, point_id, lon, lat, wind_ms, gust_ms, time_peak (UTC)."""
        n_s, n_p = self.wind_ms.shape
        storms = self.storms.select(pl.col("storm_id", "name", "year").gather(np.repeat(np.arange(n_s), n_p)))
        return storms.with_columns(
            point_id=pl.Series(np.tile(np.array(self.point_ids, dtype=object), n_s), dtype=pl.String),
            lon=np.tile(self.lon, n_s),
            lat=np.tile(self.lat, n_s),
            wind_ms=self.wind_ms.ravel(),
            gust_ms=self.gust_ms.ravel(),
            time_peak=pl.Series(self.time_peak.ravel()).dt.replace_time_zone("UTC"),
        )

    def by_commune(self, insee: Sequence[str | None]) -> CycloneHazard:
        """Hazard per commune: each storm's highest wind over the points of the commune.

        ``insee`` gives each point's commune (None for points outside every commune); the
        result's points are the communes (point_ids = INSEE codes, lon/lat = mean of their points).
        """
        codes = np.asarray(insee, dtype=object)
        if codes.size != len(self.point_ids):
            raise ParameterError(f"{codes.size} codes for {len(self.point_ids)} points", parameter="insee")
        names = sorted({c for c in codes if c is not None})
        cols = [np.flatnonzero(codes == c) for c in names]
        best = [c[self.wind_ms[:, c].argmax(axis=1)] if self.wind_ms.size else c[:0] for c in cols]
        rows = np.arange(self.wind_ms.shape[0])
        pick = np.stack(best, axis=1) if best else np.zeros((rows.size, 0), dtype=int)
        return replace(
            self,
            point_ids=tuple(names),
            lon=np.array([self.lon[c].mean() for c in cols]),
            lat=np.array([self.lat[c].mean() for c in cols]),
            wind_ms=self.wind_ms[rows[:, None], pick],
            gust_ms=self.gust_ms[rows[:, None], pick],
            time_peak=self.time_peak[rows[:, None], pick],
        )

    def annual_maxima(self, gust: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(years, maxima): each year's highest wind (or gust) per point, 0 in a year with no storm."""
        values = self.gust_ms if gust else self.wind_ms
        years = np.arange(self.first_year, self.last_year + 1)
        maxima = np.zeros((years.size, values.shape[1]))
        if values.size:
            np.maximum.at(maxima, self.storms["year"].to_numpy() - self.first_year, values)
        return years, maxima

    def exceedance(self, thresholds_ms: Sequence[float], gust: bool = False) -> pl.DataFrame:
        """Per point and threshold: events_per_yr (storms reaching it, per year of record) and
        annual_probability (share of years in which at least one storm reached it)."""
        values = self.gust_ms if gust else self.wind_ms
        _, maxima = self.annual_maxima(gust)
        rows = []
        for thr in thresholds_ms:
            rows.append(
                pl.DataFrame(
                    {
                        "point_id": list(self.point_ids),
                        "threshold_ms": float(thr),
                        "events_per_yr": (values >= thr).sum(axis=0) / self.n_years,
                        "annual_probability": (maxima >= thr).mean(axis=0),
                    }
                )
            )
        return pl.concat(rows)

    def return_levels(
        self, periods_yr: Sequence[float] = RETURN_PERIODS_YR, gust: bool = False
    ) -> pl.DataFrame:
        """Wind (m/s) reached on average once every T years, per point: point_id, lon, lat,
        return_period_yr, wind_ms (or gust_ms). Empirical Poisson rate: the k-th highest storm
        peak has rate k / n_years; T-year wind at rate 1/T, log-linear between ranks; NaN when
        T exceeds the period of record. Annual exceedance probability is 1 - exp(-1/T)."""
        values = -np.sort(-(self.gust_ms if gust else self.wind_ms), axis=0)
        rows = []
        for period in periods_yr:
            rows.append(
                pl.DataFrame(
                    {
                        "point_id": list(self.point_ids),
                        "lon": self.lon,
                        "lat": self.lat,
                        "return_period_yr": float(period),
                        "gust_ms" if gust else "wind_ms": _level_at_rank(values, self.n_years / period),
                    }
                )
            )
        return pl.concat(rows)


def _level_at_rank(sorted_desc: np.ndarray, rank: float) -> np.ndarray:
    """Value at fractional rank ``rank`` (1 = highest) of each column, log-linear between ranks."""
    n = sorted_desc.shape[0]
    if rank < 1 or n == 0:
        return np.full(sorted_desc.shape[1], np.nan)
    if rank >= n:
        return sorted_desc[-1].copy()
    k1 = int(np.floor(rank))
    w = 0.0 if k1 == rank else (np.log(rank) - np.log(k1)) / (np.log(k1 + 1) - np.log(k1))
    return sorted_desc[k1 - 1] + w * (sorted_desc[k1] - sorted_desc[k1 - 1])


def replay(
    tracks: Tracks,
    name: str,
    year: int,
    lon,
    lat,
    *,
    point_ids: Sequence[str] | None = None,
    exposure: str = DEFAULT_EXPOSURE,
    step_minutes: float = DEFAULT_STEP_MINUTES,
) -> pl.DataFrame:
    """A historic storm, found by name and year, at each point: storm_id, name, year, point_id,
    lon, lat, wind_ms (peak 1-min sustained), gust_ms, time_peak (UTC)."""
    storm_id = tracks.find(name, year)
    plon, plat = _points(lon, lat)
    hazard = CycloneHazard.from_tracks(
        tracks.storm(storm_id),
        plon,
        plat,
        point_ids=point_ids,
        radius_km=np.inf,
        exposure=exposure,
        step_minutes=step_minutes,
    )
    return hazard.peaks()


def historic_replays(
    tracks: Tracks,
    lon,
    lat,
    storms: Sequence[tuple[str, int]] = HISTORIC_STORMS,
    **options,
) -> pl.DataFrame:
    """``replay`` of each (name, year) in ``storms`` (default Dean 2007, David 1979, Maria 2017,
    Dorothy 1970, Edith 1963), stacked."""
    return pl.concat([replay(tracks, name, year, lon, lat, **options) for name, year in storms])
