"""Twenty people on the KPI dashboard at once, over one year of the fleet: interaction latency
(p50/p95 from a click to the updated view) and the server's memory, side by side with the same
interactions by one person alone on the server (the peer).

    .venv/bin/python benchmarks/bench_site_load.py [--sessions 20] [--rounds 6] [--workdir DIR] [--days 365]

Each session is a Bokeh client speaking the browser's protocol over the websocket: it pulls the
document, says the page is ready (the browser's ``document_ready``, which starts Panel's
deferred views), then does what a decision-maker does: pick a commune, then a time-range preset,
each time waiting until the KPI cards of the new choice have arrived. It renders nothing, so
the figures are the server's (Chromium's own drawing is measured by bench_kpi.py). The load
generator shares the machine's cores with the server: say so beside the figures.

The year is the one bench_kpi.py builds (seed 1), reused from ``--workdir``. Prints figures;
asserts nothing on time.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_kpi import _env, _free_port, _percentiles, _server_ready, prepare  # noqa: E402  (the same year, built once)

COMMUNES = ["97209", "97213", "97229", "97224", "97222", "97230", "97211", "97228"]
PRESET_7D, PRESET_12M = 0, 3  # positions of "7d" and "365d" in the preset buttons
TIMEOUT_S = 600.0


@dataclass
class Session:
    """One simulated visitor: the times it took, in seconds."""

    number: int
    opened_s: float | None = None
    clicks_s: list[float] = field(default_factory=list)
    error: str | None = None


def _texts(document) -> str:
    """Every HTML text of the document as the page shows it (Panel sends HTML escaped)."""
    return html.unescape("\n".join(str(getattr(m, "text", "") or "") for m in document.models))


def _ready(session) -> None:
    """Send what BokehJS sends once the page is drawn: Panel then loads its deferred views."""
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import DocumentReady

    event = MessageSentEvent(session.document, "bokeh_event", DocumentReady())
    message = session._connection._protocol.create("PATCH-DOC", [event])
    session._connection._loop.add_callback(session._connection.send_message, message)


def _wait(session, condition, timeout_s: float = TIMEOUT_S) -> None:
    """Run the client's loop (sending what is queued, applying the server's patches) until
    ``condition`` holds; TimeoutError after ``timeout_s``."""
    loop = session._connection._loop
    alarm = loop.call_later(timeout_s, loop.stop)  # the loop otherwise waits for a next message
    try:
        session._connection._loop_until(condition)
    finally:
        loop.remove_timeout(alarm)
    if not condition():
        raise TimeoutError(f"no update in {timeout_s} s")


def _select(document, css_class: str):
    for model in document.models:
        if css_class in (getattr(model, "css_classes", None) or []):
            return model
    raise LookupError(f"no widget .{css_class} in the document")


def _panel_models() -> None:
    """Register every Bokeh model Panel defines (tables, layouts, ...), so that the client can read
    the documents the server sends."""
    import importlib
    import pkgutil

    import panel.models

    for module in pkgutil.iter_modules(panel.models.__path__):
        # a model whose optional package is missing is not in our apps
        with contextlib.suppress(ImportError):
            importlib.import_module(f"panel.models.{module.name}")


def visit(base: str, number: int, rounds: int, start: threading.Barrier | None) -> Session:
    """One visitor's session: open /kpi, then ``rounds`` clicks (commune, preset, alternating)."""
    from bokeh.client import pull_session

    _panel_models()
    record = Session(number)
    rng = random.Random(number)
    if start is not None:
        start.wait()
    began = time.perf_counter()
    try:
        session = pull_session(url=f"{base}/kpi", arguments={"lang": "fr"})
        _ready(session)
        _wait(session, lambda: "kpi-card" in _texts(session.document))
        record.opened_s = time.perf_counter() - began
        for click in range(rounds):
            if click % 2 == 0:
                place = rng.choice(
                    [c for c in COMMUNES if f"data-place='{c}'" not in _texts(session.document)]
                )
                widget, value, sign = (
                    _select(session.document, "place-selector"),
                    place,
                    f"data-place='{place}'",
                )
            else:
                widget = _select(session.document, "range-presets")
                # 7 days <-> 12 months (indices in KpiState's preset list): ranges that always differ
                widget_value = PRESET_7D if widget.active != PRESET_7D else PRESET_12M
                value, sign = widget_value, None
            before = _texts(session.document)
            clicked = time.perf_counter()
            if sign is not None:
                widget.value = value  # queued for the server as the browser's change would be
                _wait(
                    session,
                    lambda s=sign: s in _texts(session.document) and "kpi-card" in _texts(session.document),
                )
            else:
                widget.active = value
                starts = re.findall(r"data-start='([^']+)'", before)
                _wait(
                    session,
                    lambda old=starts: (
                        (found := re.findall(r"data-start='([^']+)'", _texts(session.document)))
                        and found != old
                    ),
                )
            record.clicks_s.append(time.perf_counter() - clicked)
        session.close()
    except Exception as exc:  # noqa: BLE001 - reported per session, the others go on
        record.error = f"{type(exc).__name__}: {exc}"
    return record


def run(base: str, sessions: int, rounds: int) -> list[Session]:
    results: list[Session] = []
    barrier = threading.Barrier(sessions) if sessions > 1 else None
    threads = [
        threading.Thread(target=lambda n=n: results.append(visit(base, n, rounds, barrier)))
        for n in range(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda s: s.number)


def _quantiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95, most = _percentiles(values)
    return f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {most * 1000:.0f} ms (n={len(values)})"


class MemoryWatch(threading.Thread):
    """Peak resident memory of the server process and its children, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.stop = psutil.Process(pid), 0, threading.Event()

    def rss(self) -> int:
        processes = [self.process, *self.process.children(recursive=True)]
        return sum(p.memory_info().rss for p in processes if p.is_running())

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, self.rss())


def report(label: str, results: list[Session], watch: MemoryWatch, before: int) -> None:
    errors = [s for s in results if s.error]
    print(f"\n{label}: {len(results)} session(s), {len(errors)} failed")
    for failed in errors[:5]:
        print(f"  session {failed.number}: {failed.error}")
    print(f"  open /kpi to the first cards: {_quantiles([s.opened_s for s in results if s.opened_s])}")
    print(f"  click to updated view:       {_quantiles([c for s in results for c in s.clicks_s])}")
    print(f"  server memory: {before / 2**20:.0f} MiB before, {watch.peak / 2**20:.0f} MiB peak")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/observatory-bench-kpi"))
    parser.add_argument("--data-dir", type=Path, default=None, help="serve this data directory instead")
    args = parser.parse_args()
    data = args.data_dir or prepare(args.workdir, args.days)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(data)
    server = subprocess.Popen(
        [sys.executable, "-m", "observatory.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _server_ready(f"{base}/kpi")
        print(
            f"machine: {os.cpu_count()} cores, load before {os.getloadavg()[0]:.1f}; server and clients share them"
        )
        warm = run(base, 1, 2)  # fills the server's caches the way the first visitor of the day does
        if warm[0].error:
            raise SystemExit(f"the dashboard did not answer: {warm[0].error}")
        watch = MemoryWatch(server.pid)
        before = watch.rss()
        watch.start()
        report("one person alone (the peer)", run(base, 1, args.rounds), watch, before)
        report(f"{args.sessions} people at once", run(base, args.sessions, args.rounds), watch, before)
        watch.stop.set()
        print(f"load after: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
