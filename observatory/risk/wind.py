"""Parametric tropical-cyclone surface wind: Holland (2008) profile in gradient balance with a
moving-storm asymmetry; each ingredient a named, cited option of ``WindModel``.

Chain of the model, for each storm-centre position (best track interpolated in time):

1. Central pressure; where HURDAT2 has none (most fixes before 1979), estimated from the maximum
   wind with Kraft's (1961) relation, which fits the Atlantic sample (see ``estimate_pressure_hpa``).
   Environmental pressure: 1015 hPa (HURDAT2 gives none; see ENV_PRESSURE_HPA).
2. Radius of maximum wind: HURDAT2's own where given (2021 on, and some reanalysed storms), else
   Willoughby et al. (2006), eq. 7a, from the gradient-level maximum wind and latitude
   (``rmw="willoughby2006"``), or CLIMADA's fit of IBTrACS radii on central pressure
   (``rmw="climada_ibtracs"``).
3. Holland (2008) surface shape parameter b_s from the pressure deficit, its trend, latitude and
   translation speed (time differences centred, or backward as CLIMADA's); the symmetric 10-m,
   1-min marine wind is Holland's profile with b_s in gradient balance, Holland (1980) eq. 4:
   V = sqrt(b dp/rho (R/r)^b exp(-(R/r)^b) + (r f/2)²) − r f/2, f = 2 Ω sin(lat), as CLIMADA's
   H08. The Coriolis term lowers the wind by about r f/2 far out (3.7 m/s at 200 km, 14.6° N) and
   by under 1 m/s at the radius of maximum wind. b_s is fitted to surface winds, so the
   gradient-to-surface reduction (about 0.9, Franklin et al. 2003) is already inside it and not
   applied twice; the 0.9 factor only brings HURDAT2's surface wind to gradient level for
   Willoughby's relation.
4. Asymmetry: by default a background wind of 0.55 times the translation velocity, turned 20°
   cyclonically, is added to the vortex (Lin & Chavas 2012); the vortex is scaled down by the same
   amount so that the peak still equals Holland's pressure-derived maximum. Or, as CLIMADA's H08,
   the translation speed times min(1, R/r) is taken off the vortex and the translation vector times
   the same factor is added (Mouton & Nordbeck 2005).
5. Exposure: marine wind times 0.8 for flow that crossed land (Knaff et al. 2011, fig. 3);
   3-s gust = 1-min sustained times the WMO gust factor of that exposure (Harper et al. 2010).

``WindModel()`` is the evidence-based default (Willoughby's radius matches HURDAT2's own radii for
hurricanes, 1015 hPa matches HURDAT2's winds: benchmarks/README.md); ``WindModel.climada_h08()``
reproduces the ingredients of CLIMADA's ``TropCyclone.from_tracks(model="H08")``.

References
- Holland, G. J., 1980: An analytic model of the wind and pressure profiles in hurricanes.
  Mon. Wea. Rev. 108, 1212–1218.
- Holland, G. J., 2008: A revised hurricane pressure–wind model. Mon. Wea. Rev. 136, 3432–3445.
- Willoughby, H. E., R. W. R. Darling and M. E. Rahn, 2006: Parametric representation of the
  primary hurricane vortex. Part II. Mon. Wea. Rev. 134, 1102–1120.
- Kraft, R. H., 1961: The hurricane's central pressure and highest wind. Mar. Wea. Log 5, 157.
- Franklin, J. L., M. L. Black and K. Valde, 2003: GPS dropwindsonde wind profiles in hurricanes
  and their operational implications. Wea. Forecasting 18, 32–44.
- Lin, N. and D. Chavas, 2012: On hurricane parametric wind and applications in storm surge
  modeling. J. Geophys. Res. 117, D09120.
- Mouton, F. and O. Nordbeck, 2005: Cyclone Database Manager. UNEP/GRID-Geneva, fig. 7.
- Knaff, J. A., M. DeMaria, D. A. Molenar, C. R. Sampson and M. G. Seybold, 2011: An automated,
  objective, multiple-satellite-platform tropical cyclone surface wind analysis. J. Appl.
  Meteor. Climatol. 50, 2149–2166.
- Harper, B. A., J. D. Kepert and J. D. Ginger, 2010: Guidelines for converting between various
  wind averaging periods in tropical cyclone conditions. WMO/TD-No. 1555, table 1.1.
- Petit, G. and B. Luzum (eds.), 2010: IERS Conventions (2010). IERS Technical Note 36, ch. 1.
- CLIMADA 6.1 (Aznar-Siguan & Bresch 2019, Geosci. Model Dev. 12, 3085–3097):
  climada/hazard/tc_tracks.py (``estimate_rmw``, ``BASIN_ENV_PRESSURE``) and
  climada/hazard/trop_cyclone/trop_cyclone_windfields.py (``_stat_holland_1980``, ``_vtrans``,
  ``_bs_holland_2008``, ``_b_holland_clip_interval``, ``_compute_windfields``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import polars as pl

from observatory.errors import ParameterError, did_you_mean
from observatory.risk.hurdat2 import EARTH_RADIUS_KM, Tracks, _points

MS_PER_KT = 1852.0 / 3600.0  # knot to m/s, exact
KM_PER_NM = 1.852  # nautical mile to km, exact
PA_PER_HPA = 100.0
EARTH_ROTATION_RAD_S = 7.292115e-5  # Earth's nominal mean angular velocity, IERS Conventions (2010)

RHO_AIR_KGM3 = 1.15  # near-surface air density in the eyewall, Holland (1980, 2008)
# Environmental (outer) pressure: HURDAT2 gives none. 1015 hPa makes Holland's pressure-derived
# maximum match HURDAT2's recorded maximum wind: median ratio 1.01 over the 1979–2025 fixes with a
# pressure (south of 25°N, not extratropical, ≥ 35 kt); 1013 hPa gives 0.95 and 1010 hPa 0.86.
ENV_PRESSURE_HPA = 1015.0
ENV_PRESSURE_RANGE_HPA = (990.0, 1030.0)  # accepted values: the tropics' outer pressures, with room
HOLLAND_B_RANGE = (1.0, 2.5)  # physical range of the Holland B parameter, Holland (1980, 2008)
GRADIENT_TO_SURFACE = 0.9  # 10-m / gradient-level wind near the RMW over sea, Franklin et al. (2003)

# Holland (2008), b_s = B0 + B_DP*dp + B_DP2*dp² + B_DPDT*dpc/dt + B_LAT*|lat| + B_VT*vt**x,
# x = X0*(1 - dp/X_DP): dp in hPa, dpc/dt in hPa/h, lat in degrees, vt (translation) in m/s.
H08_B0 = 1.0
H08_B_DP_PER_HPA = 0.01
H08_B_DP2_PER_HPA2 = -4.4e-5
H08_B_DPDT_H_PER_HPA = 0.03
H08_B_LAT_PER_DEG = -0.014
H08_B_VT = 0.15
H08_X0 = 0.6
H08_X_DP_HPA = 215.0

# Willoughby et al. (2006), eq. 7a: rmw_km = W06_RMW_KM * exp(W06_V * vmax_ms + W06_LAT * lat),
# vmax the gradient-level (flight-level) maximum wind.
W06_RMW_KM = 46.4
W06_V_S_PER_M = -0.0155
W06_LAT_PER_DEG = 0.0169
RMW_RANGE_KM = (5.0, 200.0)  # keeps the relation inside the radii observed in its sample

# CLIMADA's radius of maximum wind from central pressure (tc_tracks.estimate_rmw: an OLS fit of
# IBTrACS radii 1980–2019, r² 0.79): piecewise linear through these nodes, constant beyond them.
CLIMADA_RMW_PRESSURE_HPA = (872.0, 940.0, 980.0, 1021.0)
CLIMADA_RMW_NM = (14.907318, 15.726927, 25.742142, 56.856522)
CLIMADA_ENV_PRESSURE_HPA = 1010.0  # CLIMADA's BASIN_ENV_PRESSURE["NA"] (IBTrACS' POCI where it has one)
# CLIMADA clips b_s to Holland's (1.0, 2.5) times the gradient-to-surface factor squared
# (_b_holland_clip_interval with DEF_GRADIENT_TO_SURFACE_WINDS = 0.9): (0.81, 2.025).
CLIMADA_B_RANGE = (HOLLAND_B_RANGE[0] * GRADIENT_TO_SURFACE**2, HOLLAND_B_RANGE[1] * GRADIENT_TO_SURFACE**2)
CLIMADA_MAX_TRANSLATION_MS = 30.0 * MS_PER_KT  # CLIMADA's _vtrans: "limit to 30 nautical miles per hour"

# Kraft (1961): vmax_kt = KRAFT_KT * sqrt(KRAFT_REF_HPA - pc_hpa).
KRAFT_KT = 14.0
KRAFT_REF_HPA = 1013.0

# Lin & Chavas (2012): background surface wind = 0.55 * translation velocity, turned 20° cyclonically.
BACKGROUND_FACTOR = 0.55
BACKGROUND_ROTATION_DEG = 20.0

LAND_REDUCTION = 0.8  # surface wind over land / over sea for the same vortex, Knaff et al. (2011)

# Exposure -> (factor on the marine 1-min wind, 3-s gust / 1-min mean). Gust factors: Harper et al.
# (2010) table 1.1 for its four exposures, roughly: "at sea" well offshore, "off sea" onshore wind at
# the coast, "off land" offshore wind at the coast, "in land" open terrain. The land reduction
# (Knaff et al. 2011) applies to the two whose flow crossed land.
EXPOSURES: dict[str, tuple[float, float]] = {
    "at_sea": (1.0, 1.11),
    "off_sea": (1.0, 1.23),
    "off_land": (LAND_REDUCTION, 1.36),
    "in_land": (LAND_REDUCTION, 1.49),
}

# The options of each ingredient of WindModel, with the relation each name stands for.
RMW_RELATIONS = {
    "willoughby2006": "Willoughby et al. (2006) eq. 7a, from maximum wind and latitude",
    "climada_ibtracs": "CLIMADA's IBTrACS fit on central pressure (tc_tracks.estimate_rmw)",
}
ASYMMETRIES = {
    "lin_chavas2012": "0.55 vt turned 20° added, vortex scaled by 1 - 0.55 vt/vmax (Lin & Chavas 2012)",
    "mouton_nordbeck2005": "vt min(1, R/r) off the vortex, vt min(1, R/r) added (Mouton & Nordbeck 2005)",
}
DIFFERENCES = {
    "centred": "translation and pressure trend from the positions before and after",
    "backward": "from the position before; a storm's first position has no motion and no wind (CLIMADA)",
}

# Step of the interpolated track. A point beside the track sees the storm centre pass its closest
# approach within vt*step/2 of a sampled position: 3 km at 10 m/s, 4.5 km at 15 m/s (a fast
# Caribbean storm) for 10 min. Against a radius of maximum wind of 15–40 km this moves the sampled
# eyewall peak by under about 3 % (the profile is flat at its maximum), whereas 30 min (9 km at
# 10 m/s) can miss a quarter of it for a small eye. The 0.005° analysis cells (~0.55 km) are far
# finer than this, so the step is set by translation speed against RMW, not by the cell size.
DEFAULT_STEP_MINUTES = 10.0
MAX_DIST_KM = 300.0  # no wind is computed farther from the centre (as CLIMADA's DEF_MAX_DIST_EYE_KM)
CHUNK_ELEMENTS = 250_000  # positions × points evaluated at once: 1 MB float32 temporaries stay in cache


@dataclass(frozen=True)
class WindModel:
    """Settings of the wind model: which published relation each ingredient uses.

    rmw: radius of maximum wind where the best track has none (RMW_RELATIONS); asymmetry: how the
    storm's motion enters (ASYMMETRIES); coriolis: gradient balance (True) or cyclostrophic;
    env_pressure_hpa: environmental pressure (hPa); differences: time differences for translation
    and pressure trend (DIFFERENCES); b_range: clip of Holland's b_s; max_translation_ms: cap on
    the translation speed (m/s), None for none.
    """

    rmw: str = "willoughby2006"
    asymmetry: str = "lin_chavas2012"
    coriolis: bool = True
    env_pressure_hpa: float = ENV_PRESSURE_HPA
    differences: str = "centred"
    b_range: tuple[float, float] = HOLLAND_B_RANGE
    max_translation_ms: float | None = None

    def __post_init__(self) -> None:
        for name, options in (
            ("rmw", RMW_RELATIONS),
            ("asymmetry", ASYMMETRIES),
            ("differences", DIFFERENCES),
        ):
            _check_choice(name, getattr(self, name), options)
        if not isinstance(self.coriolis, bool):
            raise ParameterError(
                f"coriolis={self.coriolis!r}", parameter="coriolis", hint="Use True or False."
            )
        lo, hi = ENV_PRESSURE_RANGE_HPA
        env = _number(self.env_pressure_hpa, "env_pressure_hpa")
        if not lo <= env <= hi:
            raise ParameterError(
                f"environmental pressure {env} hPa",
                parameter="env_pressure_hpa",
                hint=f"Use {lo:g}–{hi:g} hPa (1015 matches HURDAT2's winds, CLIMADA uses 1010).",
            )
        given = self.b_range if isinstance(self.b_range, tuple | list) else (self.b_range,)
        b_range = tuple(_number(b, "b_range") for b in given)
        if len(b_range) != 2 or not 0.0 < b_range[0] < b_range[1] < math.inf:
            raise ParameterError(
                f"b range {self.b_range!r}",
                parameter="b_range",
                hint="Give (low, high), 0 < low < high: (1.0, 2.5).",
            )
        cap = (
            None
            if self.max_translation_ms is None
            else _number(self.max_translation_ms, "max_translation_ms")
        )
        if cap is not None and not 0.0 < cap < math.inf:
            raise ParameterError(
                f"translation cap {cap} m/s", parameter="max_translation_ms", hint="Use > 0 or None."
            )
        object.__setattr__(self, "env_pressure_hpa", env)
        object.__setattr__(self, "b_range", b_range)
        object.__setattr__(self, "max_translation_ms", cap)

    @classmethod
    def climada_h08(cls) -> WindModel:
        """CLIMADA 6.1's ``TropCyclone.from_tracks(model="H08")`` ingredients on HURDAT2 tracks:
        RMW from pressure, Mouton & Nordbeck asymmetry, Coriolis term, 1010 hPa (HURDAT2 has no
        POCI), backward differences, b_s clipped to (0.81, 2.025), translation ≤ 30 kn."""
        return cls(
            rmw="climada_ibtracs",
            asymmetry="mouton_nordbeck2005",
            coriolis=True,
            env_pressure_hpa=CLIMADA_ENV_PRESSURE_HPA,
            differences="backward",
            b_range=CLIMADA_B_RANGE,
            max_translation_ms=CLIMADA_MAX_TRANSLATION_MS,
        )

    @classmethod
    def from_dict(cls, settings: Mapping[str, object]) -> WindModel:
        """A model from a plain spec (e.g. YAML); keys are the field names, missing ones default."""
        names = [f.name for f in fields(cls)]
        for key in settings:
            if key not in names:
                raise ParameterError(
                    f"unknown wind-model setting {key!r}",
                    parameter=str(key),
                    hint=did_you_mean(str(key), names),
                )
        return cls(**settings)


def _check_choice(name: str, value: object, options: Mapping[str, str]) -> None:
    if not isinstance(value, str) or value not in options:
        raise ParameterError(
            f"{name}={value!r} is not offered", parameter=name, hint=did_you_mean(str(value), options)
        )


def _number(value: object, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{value!r} is not a number", parameter=name) from None


DEFAULT_MODEL = WindModel()


def estimate_pressure_hpa(wind_kt: np.ndarray) -> np.ndarray:
    """Central pressure (hPa) from 1-min maximum wind (kt), Kraft (1961).

    Checked against HURDAT2 fixes with both values (1979–2025, south of 25°N, not extratropical):
    median pressure at 35/65/90/115 kt is 1005/988/970/948 hPa, Kraft gives 1007/991/972/946.
    Atkinson & Holliday (1977, Mon. Wea. Rev. 105, 421–427), fitted in the western North Pacific,
    gives 997/976/954/927 hPa: 8–21 hPa too deep here, hence not used.
    """
    wind = np.asarray(wind_kt, dtype=np.float64)
    return KRAFT_REF_HPA - (np.fmax(wind, 0.0) / KRAFT_KT) ** 2


def estimate_rmw_km(vmax_surface_ms: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Radius of maximum wind (km) from the 10-m maximum wind (m/s) and latitude, Willoughby et al.
    (2006) eq. 7a applied to the gradient-level wind vmax / 0.9 (Franklin et al. 2003)."""
    v_gradient = np.asarray(vmax_surface_ms, dtype=np.float64) / GRADIENT_TO_SURFACE
    rmw = W06_RMW_KM * np.exp(W06_V_S_PER_M * v_gradient + W06_LAT_PER_DEG * np.abs(lat))
    return np.clip(rmw, *RMW_RANGE_KM)


def estimate_rmw_from_pressure_km(pressure_hpa: np.ndarray) -> np.ndarray:
    """Radius of maximum wind (km) from central pressure (hPa): CLIMADA's ``estimate_rmw`` (IBTrACS
    fit, piecewise linear between 872 and 1021 hPa, constant outside), nautical miles to km."""
    pc = np.asarray(pressure_hpa, dtype=np.float64)
    return np.interp(pc, CLIMADA_RMW_PRESSURE_HPA, CLIMADA_RMW_NM) * KM_PER_NM


def holland_b(
    deficit_hpa: np.ndarray,
    dpdt_hpa_h: np.ndarray,
    lat: np.ndarray,
    translation_ms: np.ndarray,
    b_range: tuple[float, float] = HOLLAND_B_RANGE,
) -> np.ndarray:
    """Holland (2008) surface shape parameter b_s, clipped to ``b_range``."""
    dp = np.asarray(deficit_hpa, dtype=np.float64)
    x = H08_X0 * (1.0 - np.clip(dp, 0.0, H08_X_DP_HPA) / H08_X_DP_HPA)
    b = (
        H08_B0
        + H08_B_DP_PER_HPA * dp
        + H08_B_DP2_PER_HPA2 * dp**2
        + H08_B_DPDT_H_PER_HPA * np.asarray(dpdt_hpa_h, dtype=np.float64)
        + H08_B_LAT_PER_DEG * np.abs(lat)
        + H08_B_VT * np.fmax(np.asarray(translation_ms, dtype=np.float64), 0.0) ** x
    )
    return np.clip(b, *b_range)


def coriolis_per_s(lat: np.ndarray) -> np.ndarray:
    """Coriolis parameter |f| = 2 Ω sin|lat| (1/s), lat in degrees."""
    return 2.0 * EARTH_ROTATION_RAD_S * np.sin(np.radians(np.abs(np.asarray(lat, dtype=np.float64))))


def holland_profile_ms(
    r_km: np.ndarray,
    rmw_km: np.ndarray,
    b: np.ndarray,
    deficit_hpa: np.ndarray,
    lat: np.ndarray | float = 0.0,
    coriolis: bool = True,
) -> np.ndarray:
    """Symmetric 10-m wind (m/s) at radius ``r_km``: sqrt(b dp/rho (R/r)^b exp(-(R/r)^b) + (r f/2)²)
    − r f/2, dp in Pa, f at latitude ``lat`` (degrees); without ``coriolis`` f = 0 (cyclostrophic,
    maximum at r = R equal to sqrt(b dp / (rho e))). Holland (1980) eq. 4 with Holland's (2008) b_s.
    """
    ratio = (np.asarray(rmw_km) / np.fmax(r_km, 1e-3)) ** b
    cyclostrophic2 = b * np.fmax(deficit_hpa, 0.0) * PA_PER_HPA / RHO_AIR_KGM3 * ratio * np.exp(-ratio)
    half_rf = 0.5 * np.asarray(r_km) * 1000.0 * coriolis_per_s(lat) if coriolis else 0.0
    return np.sqrt(cyclostrophic2 + half_rf**2) - half_rf


@dataclass(frozen=True)
class Vortex:
    """Storm-centre state at a series of positions (all arrays of one length), and its model.

    lon, lat (degrees); translation velocity east and north (m/s); pressure deficit (hPa, ≥ 0);
    radius of maximum wind (km); Holland b_s; ``model`` sets how the field is formed.
    """

    lon: np.ndarray
    lat: np.ndarray
    vt_east_ms: np.ndarray
    vt_north_ms: np.ndarray
    deficit_hpa: np.ndarray
    rmw_km: np.ndarray
    b: np.ndarray
    model: WindModel = field(default=DEFAULT_MODEL)

    @classmethod
    def from_parameters(
        cls,
        lon,
        lat,
        pressure_hpa,
        *,
        vt_east_ms=0.0,
        vt_north_ms=0.0,
        dpdt_hpa_h=0.0,
        rmw_km=None,
        model: WindModel = DEFAULT_MODEL,
    ) -> Vortex:
        """Build from centre parameters (degrees, hPa, m/s, hPa/h, km); b_s from Holland (2008),
        RMW when not given from the model's relation (Willoughby's applied to Holland's
        pressure-derived maximum wind, or CLIMADA's from pressure)."""
        lon, lat, pc, vte, vtn, dpdt = np.broadcast_arrays(
            *(
                np.atleast_1d(np.asarray(a, dtype=np.float64))
                for a in (lon, lat, pressure_hpa, vt_east_ms, vt_north_ms, dpdt_hpa_h)
            )
        )
        vte, vtn = _capped(vte, vtn, model.max_translation_ms)
        deficit = np.fmax(model.env_pressure_hpa - pc, 0.0)
        b = holland_b(deficit, dpdt, lat, np.hypot(vte, vtn), model.b_range)
        if rmw_km is None:
            rmw_km = _estimated_rmw_km(model, _peak_ms(b, deficit), lat, deficit)
        rmw = np.broadcast_to(np.asarray(rmw_km, dtype=np.float64), lon.shape)
        return cls(lon, lat, vte, vtn, deficit, rmw, b, model)

    @property
    def vmax_ms(self) -> np.ndarray:
        """Holland (2008) maximum 10-m, 1-min marine wind (m/s), translation included
        (his cyclostrophic pressure–wind relation; the Coriolis term takes under 1 m/s off it)."""
        return _peak_ms(self.b, self.deficit_hpa)

    def take(self, index) -> Vortex:
        """The positions selected by ``index`` (slice, mask or integer array)."""
        arrays = (getattr(self, f.name)[index] for f in fields(self) if f.name != "model")
        return Vortex(*arrays, model=self.model)

    def __len__(self) -> int:
        return self.lon.size


def _peak_ms(b: np.ndarray, deficit_hpa: np.ndarray) -> np.ndarray:
    return np.sqrt(b * np.fmax(deficit_hpa, 0.0) * PA_PER_HPA / (RHO_AIR_KGM3 * np.e))


def _estimated_rmw_km(model: WindModel, vmax_ms: np.ndarray, lat: np.ndarray, deficit_hpa: np.ndarray):
    if model.rmw == "climada_ibtracs":
        # CLIMADA estimates from the central pressure after clipping it to the environmental one
        return estimate_rmw_from_pressure_km(model.env_pressure_hpa - deficit_hpa)
    return estimate_rmw_km(vmax_ms, lat)


def _capped(vte: np.ndarray, vtn: np.ndarray, cap_ms: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Translation velocity scaled down to at most ``cap_ms`` in speed (unchanged if None)."""
    if cap_ms is None:
        return vte, vtn
    speed = np.hypot(vte, vtn)
    scale = np.where(speed > cap_ms, cap_ms / np.where(speed > 0, speed, 1.0), 1.0)
    return vte * scale, vtn * scale


def exposure_factors(exposure: str) -> tuple[float, float]:
    """(factor on marine sustained wind, gust factor) of an exposure name in EXPOSURES."""
    try:
        return EXPOSURES[exposure]
    except KeyError:
        raise ParameterError(
            f"unknown exposure {exposure!r}", parameter="exposure", hint=did_you_mean(exposure, EXPOSURES)
        ) from None


def wind_field_ms(
    vortex: Vortex, lon, lat, exposure: str = "at_sea", max_dist_km: float = MAX_DIST_KM
) -> np.ndarray:
    """1-min sustained 10-m wind (m/s), shape (positions, points), at points (lon, lat degrees).

    Points farther than ``max_dist_km`` from the centre get 0. Not chunked: see ``peak_winds``.
    """
    plon, plat = _points(lon, lat)
    factor, _ = exposure_factors(exposure)
    return np.sqrt(_speed_squared(vortex, plon, plat, max_dist_km)) * factor


def _speed_squared(vortex: Vortex, plon: np.ndarray, plat: np.ndarray, max_dist_km: float) -> np.ndarray:
    """Squared marine wind speed (m²/s²), float32 (positions, points).

    With the vortex wind V(r) along the cyclonic tangent t and a translation wind c(r) g,
    |V t + c g|² = V² + c² |g|² + 2 V c (t·g): no vector field is formed, and the caller takes the
    speed's root only of the per-point maxima. Distances are equirectangular about the midpoint
    latitude of centre and points (under 1 % error within 300 km).
    """
    f32 = np.float32
    k = np.radians(1.0) * EARTH_RADIUS_KM
    lon0, lat0 = 0.5 * (plon.min() + plon.max()), float(plat.mean())
    scale = np.cos(np.radians(0.5 * (vortex.lat + lat0))) * k
    cx = ((vortex.lon - lon0 + 180.0) % 360.0 - 180.0) * scale
    dx = ((plon - lon0)[None, :] * scale[:, None] - cx[:, None]).astype(f32)
    dy = ((plat[None, :] - vortex.lat[:, None]) * k).astype(f32)
    r2 = dx * dx
    r2 += dy * dy
    np.fmax(r2, f32(1e-6), out=r2)
    if vortex.model.asymmetry == "lin_chavas2012":
        v2 = _lin_chavas_squared(vortex, dx, dy, r2)
    else:
        v2 = _mouton_nordbeck_squared(vortex, dx, dy, r2)
    np.fmax(v2, f32(0.0), out=v2)
    v2[r2 > f32(max_dist_km**2)] = 0.0
    return v2


def _column(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.float32)[:, None]


def _vortex_over_r(vortex: Vortex, r2: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Symmetric vortex wind over radius times ``scale`` (per position), V/r ((m/s)/km), float32
    (positions, points).

    With S = b dp/rho (R/r)^b exp(-(R/r)^b) and h = f/2 in (m/s)/km, gradient balance gives
    V/r = sqrt(S/r² + h²) − h, computed as (S/r²) / (sqrt(S/r² + h²) + h) so that no digits
    cancel far out; cyclostrophic: sqrt(S/r²). ``scale`` enters as scale² S and scale h, which
    scales V exactly: one root per element and no extra pass.
    """
    # (R/r)^b = exp(b/2 (ln R² - ln r²))
    ratio = np.log(r2)
    np.subtract(_column(np.log(vortex.rmw_km**2)), ratio, out=ratio)
    ratio *= _column(0.5 * vortex.b)
    np.exp(ratio, out=ratio)
    s = np.exp(-ratio)
    s *= ratio
    s *= _column(vortex.b * vortex.deficit_hpa * PA_PER_HPA / RHO_AIR_KGM3 * np.square(scale))
    s /= r2
    if not vortex.model.coriolis:
        return np.sqrt(s, out=s)
    # (m/s) per km of radius; the floor keeps the denominator > 0 where S = 0 on the equator
    half_f = np.fmax(0.5 * coriolis_per_s(vortex.lat) * 1000.0 * scale, 1e-12)
    np.add(s, _column(half_f**2), out=ratio)
    np.sqrt(ratio, out=ratio)
    ratio += _column(half_f)
    s /= ratio
    return s


def _lin_chavas_squared(vortex: Vortex, dx, dy, r2) -> np.ndarray:
    """Lin & Chavas (2012): vortex scaled by 1 − 0.55 vt/vmax, plus 0.55 vt turned 20° (c = 1)."""
    sign = np.where(vortex.lat >= 0, 1.0, -1.0)
    vt = np.hypot(vortex.vt_east_ms, vortex.vt_north_ms)
    vmax = vortex.vmax_ms
    keep = np.where(vmax > 0, np.fmax(1.0 - BACKGROUND_FACTOR * vt / np.where(vmax > 0, vmax, 1.0), 0.0), 0.0)
    turn = np.radians(BACKGROUND_ROTATION_DEG) * sign
    g_e = BACKGROUND_FACTOR * (vortex.vt_east_ms * np.cos(turn) - vortex.vt_north_ms * np.sin(turn))
    g_n = BACKGROUND_FACTOR * (vortex.vt_east_ms * np.sin(turn) + vortex.vt_north_ms * np.cos(turn))
    u = _vortex_over_r(vortex, r2, keep)
    # |V t + g|² = V² + 2 V (t·g) + g² = u (u r² + 2 sign (dx g_n - dy g_e)) + g², u = V/r
    v2 = dx * _column(2.0 * sign * g_n)
    v2 -= dy * _column(2.0 * sign * g_e)
    r2u = r2 * u
    v2 += r2u
    v2 *= u
    v2 += _column(g_e**2 + g_n**2)
    return v2


def _mouton_nordbeck_squared(vortex: Vortex, dx, dy, r2) -> np.ndarray:
    """Mouton & Nordbeck (2005), as CLIMADA's H08: c = min(1, R/r); V = V_holland − vt c (may go
    negative: the vortex then turns against the motion), plus the translation vector times c."""
    sign = np.where(vortex.lat >= 0, 1.0, -1.0)
    vt = np.hypot(vortex.vt_east_ms, vortex.vt_north_ms)
    u = _vortex_over_r(vortex, r2)
    r = np.sqrt(r2)
    c = np.divide(_column(vortex.rmw_km), r)
    np.fmin(c, np.float32(1.0), out=c)
    v = u * r  # V_holland
    v -= c * _column(vt)
    # t·g = sign (dx g_n - dy g_e) / r with g the translation vector
    dot = dx * _column(sign * vortex.vt_north_ms)
    dot -= dy * _column(sign * vortex.vt_east_ms)
    dot /= r
    dot *= v
    dot *= c
    dot *= np.float32(2.0)
    np.square(c, out=c)
    c *= _column(vt**2)
    np.square(v, out=v)
    v += c
    v += dot
    return v


@dataclass(frozen=True)
class PeakWinds:
    """Per storm and point, the highest 1-min sustained 10-m wind, the 3-s gust and when it blew.

    wind_ms, gust_ms: float arrays (storms, points); time_peak: datetime64[us] UTC (NaT if the
    storm brought no wind there); storm_ids in the order of the rows.
    """

    storm_ids: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    wind_ms: np.ndarray
    gust_ms: np.ndarray
    time_peak: np.ndarray
    exposure: str


def track_vortex(tracks: Tracks, model: WindModel = DEFAULT_MODEL) -> tuple[Vortex, np.ndarray]:
    """Vortex state at each row of ``tracks`` (already interpolated), and each row's storm index.

    Translation velocity and pressure trend are time differences within each storm, centred
    (one-sided at its ends) or backward (zero at its first position) as ``model.differences``
    says. Pressure missing -> Kraft (1961) from wind; both missing -> no wind.
    """
    data = tracks.data
    code = tracks._codes()
    t_h = data["time"].dt.epoch("s").to_numpy().astype(np.float64) / 3600.0
    lat = data["lat"].to_numpy().astype(np.float64)
    lon = data["lon"].to_numpy().astype(np.float64)
    wind_kt = data["wind_kt"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    pc = data["pressure_hpa"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    pc = np.where(np.isnan(pc), estimate_pressure_hpa(wind_kt), pc)
    prev, nxt = _neighbours(code)
    if model.differences == "backward":
        nxt = np.arange(code.size)
    dt_h = np.where(t_h[nxt] > t_h[prev], t_h[nxt] - t_h[prev], np.inf)
    k = np.radians(1.0) * EARTH_RADIUS_KM * 1000.0 / 3600.0  # degrees per hour -> m/s
    dlon = (lon[nxt] - lon[prev] + 180.0) % 360.0 - 180.0
    vte, vtn = _capped(
        dlon * np.cos(np.radians(lat)) * k / dt_h, (lat[nxt] - lat[prev]) * k / dt_h, model.max_translation_ms
    )
    # no deficit above the environmental pressure, nor a trend of one (as CLIMADA); NaN stays NaN
    pc = np.minimum(pc, model.env_pressure_hpa)
    dpdt = np.nan_to_num((pc[nxt] - pc[prev]) / dt_h)
    deficit = np.nan_to_num(model.env_pressure_hpa - pc)
    b = holland_b(deficit, dpdt, lat, np.hypot(vte, vtn), model.b_range)
    vmax_obs = np.where(np.isnan(wind_kt), _peak_ms(b, deficit), wind_kt * MS_PER_KT)
    rmw = (
        data["rmw_nm"].cast(pl.Float64).fill_null(np.nan).to_numpy() * KM_PER_NM
        if "rmw_nm" in data.columns
        else np.full(lat.size, np.nan)
    )
    rmw = np.where(np.isnan(rmw) | (rmw <= 0), _estimated_rmw_km(model, vmax_obs, lat, deficit), rmw)
    return Vortex(lon, lat, vte, vtn, deficit, rmw, b, model), code


def with_estimated_pressure(tracks: Tracks) -> Tracks:
    """Tracks whose missing central pressures are filled from wind (Kraft 1961) at the fixes.

    Filling before interpolating keeps the pressure continuous between an observed fix and its
    estimated neighbours; filling afterwards made it jump within minutes (AL031891: 961 hPa
    observed, 951.6 hPa estimated 10 min earlier), and the jump, through Holland's dp/dt term,
    inflated b and the peak wind (70 m/s against HURDAT2's 57 m/s).
    """
    data = tracks.data
    wind_kt = data["wind_kt"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    estimate = pl.Series(estimate_pressure_hpa(wind_kt)).fill_nan(None)
    filled = data.with_columns(pl.col("pressure_hpa").cast(pl.Float64).fill_null(estimate))
    return Tracks(filled, tracks.source)


def _neighbours(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous and next row of the same storm (the row itself at the ends)."""
    idx = np.arange(code.size)
    prev = np.where(np.r_[False, code[1:] == code[:-1]], idx - 1, idx)
    nxt = np.where(np.r_[code[:-1] == code[1:], False], idx + 1, idx)
    return prev, nxt


def peak_winds(
    tracks: Tracks,
    lon,
    lat,
    *,
    exposure: str = "at_sea",
    step_minutes: float = DEFAULT_STEP_MINUTES,
    max_dist_km: float = MAX_DIST_KM,
    model: WindModel = DEFAULT_MODEL,
    chunk_elements: int = CHUNK_ELEMENTS,
    workers: int | None = None,
) -> PeakWinds:
    """Highest sustained wind and gust of each storm at each point (lon, lat degrees).

    Tracks are interpolated to ``step_minutes``; only positions within ``max_dist_km`` of the
    points' bounding box are evaluated, in chunks of about ``chunk_elements`` (positions ×
    points) to bound memory, on ``workers`` threads (default: one per core). Storms come out in
    the order of ``tracks``.
    """
    workers = workers or os.cpu_count() or 1
    plon, plat = _points(lon, lat)
    factor, gust_factor = exposure_factors(exposure)
    ids = tracks.storm_ids
    wind = np.zeros((len(ids), plon.size))
    when = np.full((len(ids), plon.size), np.datetime64("NaT", "us"))
    if ids:
        fine = with_estimated_pressure(tracks).interpolate(step_minutes)
        vortex, code = track_vortex(fine, model)
        times = fine.data["time"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
        evaluated = _within_box(vortex, plon, plat, max_dist_km)
        if model.differences == "backward":  # a storm's first position has no motion: no field
            evaluated &= np.r_[False, code[1:] == code[:-1]]
        near = np.flatnonzero(evaluated)
        rows = max(1, chunk_elements // plon.size)
        chunks = [near[lo : lo + rows] for lo in range(0, near.size, rows)]

        def field_of(sel: np.ndarray) -> np.ndarray:
            return _speed_squared(vortex.take(sel), plon, plat, max_dist_km)

        # Chunks are evaluated on every core (NumPy releases the GIL within each operation), a
        # few ahead, and folded into the maxima in their order: the result is the serial one.
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="wind") as pool:
            pending: collections.deque = collections.deque()
            for sel in chunks:
                pending.append((sel, pool.submit(field_of, sel)))
                if len(pending) > 2 * workers:
                    done, future = pending.popleft()
                    _reduce_by_storm(future.result(), code[done], times[done], wind, when)
            while pending:
                done, future = pending.popleft()
                _reduce_by_storm(future.result(), code[done], times[done], wind, when)
    wind = np.sqrt(wind) * factor  # maxima were taken on the squared marine speed
    when = np.where(wind > 0, when, np.datetime64("NaT", "us"))
    return PeakWinds(tuple(ids), plon, plat, wind, wind * gust_factor, when, exposure)


def _within_box(vortex: Vortex, plon: np.ndarray, plat: np.ndarray, max_dist_km: float) -> np.ndarray:
    """Positions whose centre is within ``max_dist_km`` of the points' bounding box."""
    k = np.radians(1.0) * EARTH_RADIUS_KM
    centre = 0.5 * (plon.min() + plon.max())
    half = 0.5 * (plon.max() - plon.min())
    rel = (vortex.lon - centre + 180.0) % 360.0 - 180.0
    dx = np.fmax(np.abs(rel) - half, 0.0) * np.cos(np.radians(vortex.lat)) * k
    dy = np.fmax(np.fmax(plat.min() - vortex.lat, vortex.lat - plat.max()), 0.0) * k
    return np.hypot(dx, dy) <= max_dist_km


def _reduce_by_storm(field, code, times, wind, when) -> None:
    """Fold a chunk of positions (rows of ``field``) into the running per-storm maxima in place."""
    bounds = np.r_[0, np.flatnonzero(np.diff(code)) + 1, code.size]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        block = field[a:b]
        best = block.argmax(axis=0)
        value = block[best, np.arange(block.shape[1])]
        s = code[a]
        better = value > wind[s]
        wind[s, better] = value[better]
        when[s, better] = times[a:b][best[better]]
