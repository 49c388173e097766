"""The ``observatory`` command: fetch reference data, ingest and query the warehouse, serve the apps."""

from __future__ import annotations

import argparse
import os
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


def _cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from observatory.warehouse.formats import check_options_taken, parse_options
    from observatory.warehouse.ingest import expand, ingest_file
    from observatory.warehouse.store import Warehouse

    files = expand(args.paths)
    options = parse_options(args.option)
    if options:
        check_options_taken(files, args.format, options)
    totals = {"readings": 0, "text_readings": 0, "reports": 0, "duplicates": 0, "rejected": 0, "skipped": 0}
    with Warehouse.open(args.warehouse) as warehouse, tqdm(files, unit="file", disable=args.quiet) as bar:
        if warehouse.counts()["communes"] == 0:
            warehouse.load_communes()
        for path in bar:
            bar.set_postfix_str(path.name[-40:])
            report = ingest_file(warehouse, path, args.format, **options)
            for key in totals:
                totals[key] += int(getattr(report, key))
            if report.rejected and not args.quiet:
                tqdm.write(
                    f"{path}: {report.rejected} rows quarantined (observatory sql 'SELECT * FROM quarantine')"
                )
    print(" ".join(f"{key}={value}" for key, value in totals.items()) + f" files={len(files)}")
    return 0


def emit(frame, fmt: str, max_rows: int = 50) -> None:
    """Print a Polars frame as csv, json or a table; times as ISO 8601 with their offset."""
    import polars as pl

    times = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    frame = frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%:z").str.replace(r"\+00:00$", "Z") for c in times]
    )
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=max_rows, tbl_cols=-1, fmt_str_lengths=60):
            print(frame)


def _cmd_risk(args: argparse.Namespace) -> int:
    from observatory.risk import zoning

    if args.hazard == "cyclone":
        periods = zoning.parse_periods(args.return_periods)
        frame = zoning.commune_return_periods(periods, since=args.since, gust=args.gust)
    elif args.hazard == "replay":
        if not args.storm_id:
            raise ParameterError(
                "a storm id is needed", parameter="STORM_ID", hint="e.g. observatory risk replay AL042007"
            )
        frame = zoning.storm_replay(args.storm_id)
    elif args.hazard == "index":
        frame = zoning.commune_index(zoning.parse_weights(args.weights), since=args.since)
    else:
        return _export_risk(args)
    emit(frame, args.format, max_rows=40)
    return 0


def _export_risk(args: argparse.Namespace) -> int:
    from observatory.config import settings
    from observatory.risk import outputs

    layers = outputs.risk_layers()
    out = Path(args.out) if args.out else settings().data_dir / "risk"
    for path in outputs.write_files(layers, out):
        print(path)
    if args.postgis:
        for table, rows in outputs.publish_postgis(layers, args.postgis).items():
            print(f"PostGIS {table}: {rows} rows (SRID 4326)")
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    from observatory.warehouse.store import Warehouse

    with Warehouse.open(args.warehouse, read_only=True) as warehouse:
        frame = warehouse.sql(args.query)
    emit(frame, args.format, args.max_rows)
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
    for route, folder in static_routes().items():
        command += ["--static-dirs", f"{route}={folder}"]
    for origin in origins:
        command += ["--allow-websocket-origin", origin]
    return command


def static_routes() -> dict[str, Path]:
    """Folders the server serves as static files: KeplerGL's self-contained bundle (no CDN)."""
    import keplergl

    return {"kepler": Path(keplergl.__file__).parent / "static"}


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
    # Become the server (exec), so that whoever started `observatory serve` stops the server itself.
    os.execve(command[0], command, served_environment())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="observatory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = sub.add_parser("fetch", help="download and check the reference files (mirror first)")
    fetch.add_argument("names", nargs="*", help="registry names (default: all)")
    fetch.add_argument("--quiet", action="store_true")
    fetch.set_defaults(func=_cmd_fetch)

    ingest = sub.add_parser("ingest", help="ingest files or folders into the warehouse (idempotent)")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--format", default="auto", help="auto (detect from content) or a format name")
    ingest.add_argument("--warehouse", default=None, help="warehouse file (default: in the data directory)")
    ingest.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="reader option, e.g. category_field=categorie text_fields=commentaire (ODK)",
    )
    ingest.add_argument("--quiet", action="store_true")
    ingest.set_defaults(func=_cmd_ingest)

    sql = sub.add_parser("sql", help="run a read-only SQL query on the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.add_argument("--warehouse", default=None)
    sql.set_defaults(func=_cmd_sql)

    risk = sub.add_parser(
        "risk", help="multi-risk zoning per commune (cyclone return periods, replays, index)"
    )
    risk.add_argument("hazard", choices=("cyclone", "replay", "index", "export"))
    risk.add_argument("storm_id", nargs="?", metavar="STORM_ID", help="HURDAT2 id for replay, e.g. AL042007")
    risk.add_argument("--return-periods", default="10,25,50,100", help="years, comma-separated")
    risk.add_argument("--since", type=int, default=None, help="first season (e.g. 1966: satellite era only)")
    risk.add_argument("--gust", action="store_true", help="3-s gusts instead of 1-min sustained winds")
    risk.add_argument(
        "--weights", default=None, help="index weights, e.g. cyclone=0.4,seismic=0.2,volcanic=0.2,coastal=0.2"
    )
    risk.add_argument("--format", choices=("table", "csv", "json"), default="table")
    risk.add_argument(
        "--out", default=None, help="export: folder for GeoParquet and GeoJSON (default: data dir/risk)"
    )
    risk.add_argument(
        "--postgis", default=None, metavar="DSN", help="export: also write the layers to PostGIS"
    )
    risk.set_defaults(func=_cmd_risk)

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
