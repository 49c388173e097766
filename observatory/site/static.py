"""The served site's static files (the release folders, KeplerGL's bundle, Bokeh's resources) under
hostile paths: Tornado's StaticFileHandler answers a path holding a NUL byte (``/releases/..%00/x``)
with a 500 and a traceback, because ``os.path.realpath`` raises ValueError on it; here it is a 400.
Traversal (``..``, encoded or not, absolute paths) Tornado refuses itself (403/404)."""

from __future__ import annotations

import tornado.web


def refuse_nul_paths() -> None:
    """Make every StaticFileHandler of this process answer 400 to a path holding NUL (idempotent)."""
    handler = tornado.web.StaticFileHandler
    if getattr(handler.get, "refuses_nul", False):
        return
    serve = handler.get

    async def get(self: tornado.web.StaticFileHandler, path: str, include_body: bool = True) -> None:
        if "\x00" in path:
            raise tornado.web.HTTPError(400, "a NUL byte in the path")
        await serve(self, path, include_body)

    get.refuses_nul = True  # type: ignore[attr-defined]
    handler.get = get  # type: ignore[method-assign]
