"""Composite multi-risk index per commune: hazard × exposure × vulnerability, every part visible.

index = hazard × exposure × vulnerability, each in 0–1, for the 34 communes:

- hazard = Σ_k w_k · h_k over the hazards k (cyclone, seismic, volcanic, coastal), with weights
  ``IndexWeights`` (non-negative, summing to 1) and h_k the hazard k min-max normalised over the
  communes, (x − min) / (max − min): the most exposed commune gets 1, the least 0. A hazard equal
  in every commune (the regulatory seismic zone: zone 5 everywhere) carries no ranking
  information and would be 0/0: it is set to 1 when positive (0 when zero), so it raises every
  commune alike and leaves the ranking to the others.
- exposure = mean of population / max(population) and density / max(density). Divided by the
  maximum rather than min-max: zero people is the natural zero of exposure, and min-max would give
  the least populated commune (Grand'Rivière, 531 inhabitants) an exposure, hence an index, of 0.
  A commune with no inhabitants has exposure 0 and index 0.
- vulnerability: a table by INSEE code, values in 0–1, given by the user (e.g. the share of
  inhabitants over 75 or below the poverty line, INSEE Filosofi). The observatory ships no
  socio-economic table yet, so the default is 1 for every commune (neutral: the index is then
  hazard × exposure); the column is there so that the choice is visible.

Inputs per hazard are plain Series indexed by INSEE code, in any unit (the normalisation removes
it): cyclone wind from ``observatory.risk.cyclone``, and by default (``martinique_hazards``)
the regulatory a_gr (seismic), the population-weighted mean volcanic zone level (volcanic) and the
share of the commune's area flooded by a 2 m surge on the SSP2-4.5 2100 sea level (coastal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from observatory.config import Settings
from observatory.errors import ParameterError, did_you_mean

WEIGHT_SUM_TOLERANCE = 1e-9
DEFAULT_VULNERABILITY = 1.0  # neutral: no socio-economic vulnerability table in the observatory yet
REFERENCE_SURGE_M = 2.0  # coastal hazard input of martinique_hazards: a 2 m surge ...
REFERENCE_SEA_LEVEL = ("SSP2-4.5", 2100)  # ... on the AR6 SSP2-4.5 median sea level of 2100


@dataclass(frozen=True)
class IndexWeights:
    """Weights of the hazards in the composite index: non-negative, summing to 1."""

    cyclone: float = 0.25
    seismic: float = 0.25
    volcanic: float = 0.25
    coastal: float = 0.25

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise ParameterError(
                    f"weight {name} = {value!r} is not a finite non-negative number",
                    parameter=f"weights.{name}",
                    hint="Give each weight as a number in 0–1.",
                )
        total = sum(asdict(self).values())
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            listed = ", ".join(f"{k}={v:g}" for k, v in asdict(self).items())
            raise ParameterError(
                f"weights sum to {total:g} ({listed}), not 1",
                parameter="weights",
                hint="Scale them so that they sum to 1, e.g. IndexWeights.from_dict(w, normalise=True).",
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The hazards a weight can be given to."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, weights: Mapping[str, float], normalise: bool = False) -> IndexWeights:
        """Weights from a mapping; hazards left out weigh 0. ``normalise`` divides by the sum first.
        An unknown hazard name is refused with the closest valid one."""
        for key in weights:
            if key not in cls.names():
                raise ParameterError(
                    f"unknown hazard {key!r}", parameter=f"weights.{key}", hint=did_you_mean(key, cls.names())
                )
        values = {name: float(weights.get(name, 0.0)) for name in cls.names()}
        if normalise:
            total = sum(values.values())
            if not np.isfinite(total) or total <= 0:
                raise ParameterError(
                    f"weights sum to {total:g}", parameter="weights", hint="Give a positive weight."
                )
            values = {k: v / total for k, v in values.items()}
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def normalise_minmax(values: pd.Series) -> pd.Series:
    """(x − min) / (max − min) over the communes; a constant series gives 1 if positive, else 0."""
    low, high = values.min(), values.max()
    if high - low <= 0:
        return pd.Series(1.0 if high > 0 else 0.0, index=values.index)
    return (values - low) / (high - low)


def normalise_max(values: pd.Series) -> pd.Series:
    """x / max over the communes (0 stays 0); all zeros give zeros."""
    high = values.max()
    return values / high if high > 0 else values * 0.0


def composite_index(
    hazards: Mapping[str, pd.Series],
    weights: IndexWeights | None = None,
    territory: pd.DataFrame | None = None,
    vulnerability: pd.Series | float = DEFAULT_VULNERABILITY,
    config: Settings | None = None,
) -> pd.DataFrame:
    """The index for every commune of ``territory`` (insee, name, population, area_km2; default the
    34 communes), sorted by rank (1 = highest index; ties share the best rank).

    Columns: insee, name, population, density_per_km2, <hazard> (raw input) and <hazard>_norm for
    each hazard given (those of weight 0 are shown but do not count), hazard, exposure,
    vulnerability, index, rank."""
    weights = weights or IndexWeights()
    frame = _territory(territory, config)
    used = [name for name, w in weights.as_dict().items() if w > 0]
    _check_hazards(hazards, used)
    combined = pd.Series(0.0, index=frame.index)
    for name in [n for n in IndexWeights.names() if n in hazards]:  # weight 0: shown, not counted
        raw = _by_commune(hazards[name], frame["insee"], f"hazards[{name!r}]")
        frame[name] = raw
        frame[f"{name}_norm"] = normalise_minmax(raw)
        combined += weights.as_dict()[name] * frame[f"{name}_norm"]
    frame["hazard"] = combined
    frame["exposure"] = 0.5 * normalise_max(frame["population"]) + 0.5 * normalise_max(
        frame["density_per_km2"]
    )
    frame["vulnerability"] = _vulnerability(vulnerability, frame["insee"])
    frame["index"] = frame["hazard"] * frame["exposure"] * frame["vulnerability"]
    frame["rank"] = frame["index"].rank(ascending=False, method="min").astype(int)
    return frame.sort_values(["rank", "insee"]).reset_index(drop=True)


def _territory(territory: pd.DataFrame | None, config: Settings | None) -> pd.DataFrame:
    if territory is None:
        from observatory.territory.communes import communes

        territory = communes(config)
    missing = [c for c in ("insee", "name", "population", "area_km2") if c not in territory.columns]
    if missing:
        raise ParameterError(f"territory lacks columns {missing}", parameter="territory")
    frame = pd.DataFrame(territory[["insee", "name", "population", "area_km2"]]).reset_index(drop=True)
    if (frame["population"] < 0).any() or (frame["area_km2"] <= 0).any():
        raise ParameterError(
            "populations must be >= 0 and areas > 0", parameter="territory", hint="Check the commune table."
        )
    frame["density_per_km2"] = frame["population"] / frame["area_km2"]
    return frame.drop(columns="area_km2")


def _check_hazards(hazards: Mapping[str, pd.Series], used: list[str]) -> None:
    for name in hazards:
        if name not in IndexWeights.names():
            raise ParameterError(
                f"unknown hazard {name!r}", parameter="hazards", hint=did_you_mean(name, IndexWeights.names())
            )
    absent = [name for name in used if name not in hazards]
    if absent:
        raise ParameterError(
            f"no input for the weighted hazard(s) {absent}",
            parameter="hazards",
            hint="Give a Series by INSEE code for each, or set their weight to 0.",
        )


def _by_commune(values: pd.Series | float, insee: pd.Series, what: str) -> pd.Series:
    if np.isscalar(values):
        series = pd.Series(float(values), index=insee.to_numpy())
    else:
        series = pd.Series(values, dtype=float)
        series.index = series.index.astype(str)
    missing = sorted(set(insee) - set(series.index))
    if missing:
        raise ParameterError(
            f"no value for communes {missing[:5]}{'...' if len(missing) > 5 else ''}",
            parameter=what,
            hint="Index the Series by INSEE code and cover every commune.",
        )
    aligned = series.reindex(insee.to_numpy())
    if not np.all(np.isfinite(aligned.to_numpy())):
        raise ParameterError("values must be finite numbers", parameter=what)
    return pd.Series(aligned.to_numpy(), index=insee.index)


def _vulnerability(vulnerability: pd.Series | float, insee: pd.Series) -> pd.Series:
    values = _by_commune(vulnerability, insee, "vulnerability")
    if ((values < 0) | (values > 1)).any():
        raise ParameterError("vulnerability values lie outside 0–1", parameter="vulnerability")
    return values


def martinique_hazards(
    cyclone: pd.Series | None = None, config: Settings | None = None
) -> dict[str, pd.Series]:
    """Default hazard inputs by INSEE code from the observatory's modules: seismic (regulatory
    a_gr, m/s²), volcanic (population-weighted mean zone level of the distance proxy, 0–1),
    coastal (share of the area flooded by a 2 m surge on the SSP2-4.5 2100 sea level) and, when
    given, cyclone (e.g. the 50-year wind per commune from ``observatory.risk.cyclone``)."""
    from observatory.risk.coastal import CoastalTerrain, sea_level_rise_m
    from observatory.risk.seismic import seismic_zones
    from observatory.risk.volcanic import commune_zoning
    from observatory.territory.communes import communes

    zones = seismic_zones(config).set_index("insee")
    volcanic = commune_zoning(config=config)
    levels = (
        volcanic.assign(weighted=volcanic["share"] * volcanic["level"]).groupby("insee")["weighted"].sum()
    )
    coastal = CoastalTerrain.for_island(config).exposure(
        communes(config), surge_m=REFERENCE_SURGE_M, slr_m=sea_level_rise_m(*REFERENCE_SEA_LEVEL)
    )
    hazards = {
        "seismic": zones["agr_ms2"],
        "volcanic": levels / volcanic["level"].max(),
        "coastal": coastal.set_index("insee")["share"],
    }
    if cyclone is not None:
        hazards["cyclone"] = cyclone
    return hazards
