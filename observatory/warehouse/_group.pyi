"""The compiled step of observatory.warehouse.store's flush (_group.c)."""

from typing import Any

VERSION: int

def group(
    key: Any,
    time_ns: Any,
    series: Any,
    value: Any,
    n_keys: int,
    out_key: Any,
    out_time: Any,
    out_series: Any,
    out_value: Any,
    /,
) -> bool:
    """Place the rows (key, series int32; time_ns int64; value float64) into out_* ordered by
    key, stably; True when each key's times are then non-decreasing."""
