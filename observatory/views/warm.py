"""Warming the caches the apps share, at server start, in a separate process (the cyclone hazard
takes seconds of CPU: computed beside the server, it neither holds its GIL nor delays its first
pages); the results land in the data directory's cache, where the apps find them."""

from __future__ import annotations

import logging
import subprocess
import sys

from observatory.config import settings
from observatory.errors import ObservatoryError

log = logging.getLogger(__name__)


def warm() -> None:
    """Compute what first views need: the cyclone hazard on the grid (the risk map reads it) and
    the population exposed to its winds, then the KPI dashboard's range presets when the last
    ingest did not (data written by an older release)."""
    from observatory.kpi.formulas import exposed_share_by_commune
    from observatory.kpi.presets import precompute
    from observatory.risk.zoning import hazard_file, shared_hazard
    from observatory.warehouse.store import WAREHOUSE_FILE

    config = settings()
    try:
        if not hazard_file(config).exists():  # kept by an earlier process: nothing to read here
            shared_hazard(config)
        exposed_share_by_commune(config)
        warehouse = config.data_dir / WAREHOUSE_FILE
        if warehouse.exists():
            precompute(warehouse)
    except ObservatoryError as exc:  # e.g. reference data not fetched yet: the apps will say so
        log.warning("cache warm-up skipped: %s", exc)


def warm_in_background() -> subprocess.Popen:
    """Start ``warm`` in its own process and return at once."""
    return subprocess.Popen([sys.executable, "-m", "observatory.views.warm"], stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    warm()
