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
    """Compute what first views need: the population exposed to cyclone winds (KPI app)."""
    from observatory.kpi.formulas import exposed_share_by_commune

    try:
        exposed_share_by_commune(settings())
    except ObservatoryError as exc:  # e.g. reference data not fetched yet: the apps will say so
        log.warning("cache warm-up skipped: %s", exc)


def warm_in_background() -> subprocess.Popen:
    """Start ``warm`` in its own process and return at once."""
    return subprocess.Popen([sys.executable, "-m", "observatory.views.warm"], stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    warm()
