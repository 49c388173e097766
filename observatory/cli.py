"""The ``observatory`` command: fetch reference data, serve the apps (more verbs join as they land)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from observatory.errors import ObservatoryError, ParameterError

APPS_DIR = Path(__file__).resolve().parents[1] / "apps"


def _cmd_fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from observatory.config import settings
    from observatory.territory.registry import REGISTRY, fetch

    config = settings()
    names = args.names or list(REGISTRY)
    for name in tqdm(names, desc="reference files", unit="file", disable=args.quiet):
        path = fetch(name, config)
        if not args.quiet:
            tqdm.write(f"{name:18} {path}")
    return 0


def serve_command(
    apps_dir: Path, port: int, address: str, allow_origins: Sequence[str] = (), prefix: str | None = None
) -> list[str]:
    """The ``panel serve`` command line for every app in ``apps_dir``, with resources served locally."""
    apps = sorted(str(p) for p in apps_dir.glob("*.py") if not p.name.startswith("_"))
    if not apps:
        raise ParameterError(f"no apps (*.py) in {apps_dir}", parameter="--apps")
    origins = list(allow_origins) or [f"{address}:{port}", f"localhost:{port}"]
    command = [sys.executable, "-m", "panel", "serve", *apps, "--port", str(port), "--address", address]
    command += ["--index", str(apps_dir / "_index.html")] if (apps_dir / "_index.html").exists() else []
    command += ["--prefix", prefix] if prefix else []
    for origin in origins:
        command += ["--allow-websocket-origin", origin]
    return command


def served_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the served apps: every Bokeh/Panel resource from the server itself, no CDN."""
    env = dict(os.environ if base is None else base)
    env["BOKEH_RESOURCES"] = "server"
    env.setdefault("BOKEH_MINIFIED", "true")
    return env


def _cmd_serve(args: argparse.Namespace) -> int:
    from observatory.config import settings

    settings()  # fail early, with the setting named, before the server starts
    command = serve_command(
        Path(args.apps), args.port, args.address, args.allow_websocket_origin, args.prefix
    )
    if args.print_command:
        print(" ".join(command))
        return 0
    return subprocess.call(command, env=served_environment())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="observatory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = sub.add_parser("fetch", help="download and check the reference files (mirror first)")
    fetch.add_argument("names", nargs="*", help="registry names (default: all)")
    fetch.add_argument("--quiet", action="store_true")
    fetch.set_defaults(func=_cmd_fetch)

    serve = sub.add_parser("serve", help="serve the dashboards with Panel")
    serve.add_argument("--port", type=int, default=5006)
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--apps", default=str(APPS_DIR), help="folder of Panel apps (default: the project's)")
    serve.add_argument("--prefix", default=None, help="URL path prefix, when behind a reverse proxy")
    serve.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST:PORT")
    serve.add_argument("--print-command", action="store_true", help="print the panel command and exit")
    serve.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ObservatoryError as exc:
        print(f"observatory {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
