"""KPI formulas that are not SQL over the warehouse: each takes the engine, returns ``(frame of
place, period_start, value; a description of the computation shown as the KPI's query)``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import cache

import polars as pl

from observatory.config import Settings
from observatory.errors import ConfigError, did_you_mean

HURRICANE_FORCE_MS = 33.0  # 1-min sustained 64 kt, Saffir-Simpson category 1 (NHC)
EXPOSURE_PERIOD_YR = 50.0


@cache
def exposed_share_by_commune(config: Settings) -> pl.DataFrame:
    """insee, share of the commune's 500 m cells whose 50-year wind reaches hurricane force.

    The hazard takes seconds: the result is kept in the data directory under a name that changes
    with the HURDAT2 file and with the code of the risk models, so it is never stale.
    """
    path = config.data_dir / "cache" / f"cyclone_exposure_{_model_key()}.parquet"
    if path.exists():
        return pl.read_parquet(path)
    from observatory.risk.zoning import cell_return_periods, shared_hazard

    cells = cell_return_periods((EXPOSURE_PERIOD_YR,), hazard=shared_hazard(config), config=config)
    column = next(c for c in cells.columns if c.startswith("wind_"))
    frame = pl.DataFrame({"insee": cells["insee"].tolist(), "wind": cells[column].astype(float).tolist()})
    share = (
        frame.group_by("insee")
        .agg((pl.col("wind") >= HURRICANE_FORCE_MS).mean().alias("share"))
        .sort("insee")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    share.write_parquet(partial)
    partial.replace(path)  # atomic: a reader never sees half a file
    return share


def _model_key() -> str:
    """sha256 (16 hex) of what the cyclone hazard is computed from and of the exposure rule."""
    from observatory.risk.zoning import hazard_key

    rule = f"{hazard_key()}:{EXPOSURE_PERIOD_YR}:{HURRICANE_FORCE_MS}"
    return hashlib.sha256(rule.encode()).hexdigest()[:16]


def cyclone_exposure(engine) -> tuple[pl.DataFrame, str]:
    """Population share (%) in cells whose 50-year wind >= 33 m/s, per commune and island, for each
    period of the request that has data (the hazard does not change: one value repeated)."""
    from observatory.config import settings

    share = exposed_share_by_commune(settings())
    places = engine.warehouse.sql("SELECT insee, place, population, commune_population FROM places")
    periods = engine.warehouse.sql("SELECT DISTINCT period_start FROM periods")
    per_place = (
        places.join(share, on="insee", how="left")
        .group_by("place")
        .agg(
            (
                100
                * (pl.col("share").fill_null(0) * pl.col("commune_population")).sum()
                / pl.col("population").first()
            ).alias("value")
        )
    )
    query = (
        f"observatory.risk.zoning.cell_return_periods(({EXPOSURE_PERIOD_YR:g},)): share of each commune's 500 m cells "
        f"with the {EXPOSURE_PERIOD_YR:g}-year wind >= {HURRICANE_FORCE_MS:g} m/s, x commune population, summed per place"
    )
    return per_place.join(periods, how="cross"), query


FORMULAS: dict[str, Callable] = {"cyclone_exposure": cyclone_exposure}


def formula(name: str | None) -> Callable:
    """The registered formula ``name`` (never an arbitrary import)."""
    try:
        return FORMULAS[str(name)]
    except KeyError:
        raise ConfigError(
            f"no KPI formula {name!r}", parameter="python", hint=did_you_mean(str(name), list(FORMULAS))
        ) from None
