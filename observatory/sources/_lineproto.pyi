"""The compiled pass of observatory.sources.line_protocol over plain lines (_lineproto.c)."""

from typing import Any

VERSION: int

def parse(
    buf: bytes, starts: Any, ends: Any, unit_ns: int, default_ns: int, /
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, list[bytes], list[bytes]]:
    """Fields of the lines buf[starts[i]:ends[i]] (int64 arrays; ends[i] is the line's LF):
    row (int64), key (int32), time_ns (int64), field (int32), kind (uint8), value (float64) as
    bytes, one item per field; the rows to retry (int64); the distinct series keys and field
    keys the key and field columns index."""

def line_ends(buf: bytes, /) -> bytes:
    """The index of every LF in buf, as int64 bytes."""
