"""The ``observatory`` command: fetch reference data, ingest and query the warehouse, serve the apps."""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from observatory.config import Settings
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
    # NumPy's OpenBLAS starts a thread per core that spins after each call; an ingest does no
    # linear algebra and keeps both cores busy with its own threads (set before NumPy loads).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from observatory.progress import Progress  # not tqdm: 0.13 s to import, before reading starts
    from observatory.warehouse.formats import check_options_taken, parse_options
    from observatory.warehouse.ingest import expand, ingest_paths, start_reading
    from observatory.warehouse.store import Warehouse

    files = expand(args.paths)
    options = parse_options(args.option)
    if options:
        check_options_taken(files, args.format, options)
    started = start_reading(files, args.format, **options)  # while the warehouse opens
    totals = {"readings": 0, "text_readings": 0, "reports": 0, "duplicates": 0, "rejected": 0, "skipped": 0}
    try:
        with (
            Warehouse.open(args.warehouse, extensions=()) as warehouse,  # no spatial SQL here: 0.2 s less
            Progress(len(files), "ingest", unit="file", enabled=not args.quiet) as bar,
        ):
            if warehouse.counts()["communes"] == 0:
                warehouse.load_communes()
            if args.as_program:
                # What the command imported (pandas, geopandas, Polars, DuckDB) lives to its end: out
                # of the garbage collector's passes, which the ingest's allocations trigger.
                gc.freeze()
            reports = ingest_paths(
                warehouse,
                files,
                args.format,
                progress=lambda path: bar.update(0, note=path.name[-40:]),
                started=started,
                **options,
            )
            for report in reports:
                bar.update(1)
                for key in totals:
                    totals[key] += int(getattr(report, key))
                if report.rejected and not args.quiet:
                    bar.write(
                        f"{report.source}: {report.rejected} rows quarantined (observatory sql 'SELECT * FROM quarantine')"
                    )
    finally:
        if started is not None:  # not consumed if the warehouse could not be opened
            started.close()
    print(" ".join(f"{key}={value}" for key, value in totals.items()) + f" files={len(files)}")
    _precompute_kpis(args.warehouse, args.quiet)
    return 0


def _precompute_kpis(warehouse: Path | None, quiet: bool) -> None:
    """Compute the KPI dashboard's range presets for the warehouse just written (so that the
    dashboard's first view reads them instead of computing); a failure here loses nothing."""
    import time

    began = time.perf_counter()  # what this step imports is its own cost too
    from tqdm import tqdm

    from observatory.config import settings
    from observatory.kpi.presets import precompute
    from observatory.warehouse.store import WAREHOUSE_FILE

    path = Path(warehouse) if warehouse is not None else settings().data_dir / WAREHOUSE_FILE
    with tqdm(unit="frame", desc="KPI presets", disable=quiet, leave=False) as bar:
        try:
            done = precompute(path, progress=lambda key: (bar.set_postfix_str(key), bar.update()))
        except ObservatoryError as exc:
            print(
                f"KPI presets not precomputed ({exc}): the dashboard computes them when asked",
                file=sys.stderr,
            )
            return
    if done is not None and not quiet:
        print(f"KPI presets: {done[1]} frames in {time.perf_counter() - began:.1f} s")


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
        frame = warehouse.query(args.query)
    emit(frame, args.format, args.max_rows)
    return 0


def _cmd_kpi(args: argparse.Namespace) -> int:
    from observatory.kpi.engine import KpiEngine
    from observatory.warehouse.store import Warehouse

    with Warehouse.open(args.warehouse, read_only=True) as warehouse:
        frame = KpiEngine(warehouse).compute(
            kpi_ids=args.kpi, places=args.commune, start=args.start, end=args.end, grain=args.grain
        )
    emit(frame, args.format, args.max_rows)
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from observatory.releases.build import build_release
    from observatory.releases.catalog import load_catalog

    catalog = load_catalog(args.catalog)
    total = (
        len(args.dataset) if args.dataset else sum(d.privacy.cls != "restricted" for d in catalog.datasets)
    )
    with tqdm(total=total, desc="datasets", unit="dataset", disable=args.quiet) as bar:

        def step(dataset_id: str) -> None:
            bar.set_postfix_str(dataset_id)
            bar.update()

        release = build_release(
            args.version,
            args.out,
            warehouse=args.warehouse,
            catalog=catalog,
            datasets=args.dataset,
            issued=args.issued,
            base_url=args.base_url,
            key_file=args.pseudonym_key,
            progress=step,
        )
    for dataset in release.manifest["datasets"]:
        if dataset["status"] == "published":
            print(f"{dataset['id']:28} {dataset['rows']:>8} rows  {dataset['changes']['status']}")
        else:
            print(f"{dataset['id']:28} not published: {dataset['reason']}")
    print(release.path)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from observatory.config import settings
    from observatory.progress import Progress
    from observatory.simulate.citizens import INGEST_COMMAND_OPTIONS
    from observatory.simulate.engine import Options, days_in, simulate

    out = args.out
    if out is None and not (args.mqtt or args.influx):
        out = settings().data_dir / "simulated"
    options = Options.parse(
        start=args.start,
        days=args.days,
        seed=args.seed,
        step=args.step,
        scenarios=args.scenario,
        faults=args.faults,
        out=out,
        mqtt=args.mqtt,
        influx=args.influx,
        overwrite=args.overwrite,
        workers=args.workers,
    )
    with Progress(days_in(options), "simulate", unit="day", enabled=not args.quiet) as bar:
        summary = simulate(
            options,
            progress=lambda done, s: bar.update(1, note=f"{s.lines:,} lines, {s.bytes / 1e6:,.0f} MB"),
        )
    print(
        f"{summary.sensors} sensors, {summary.start} .. {summary.end}: {summary.lines:,} lines, "
        f"{summary.readings:,} readings, {len(summary.events)} events, {len(summary.faults)} faults"
    )
    if options.out is not None:
        print(f"files in {options.out}/field (ground truth in {options.out}/truth); ingest them with:")
        print(f"  observatory ingest {options.out}/field {INGEST_COMMAND_OPTIONS}")
    if options.mqtt:
        print(f"MQTT {options.mqtt}: {summary.mqtt_messages:,} messages on observatory/<domain>/<sensor_id>")
    if options.influx:
        print(f"InfluxDB {options.influx}: {summary.influx_lines:,} lines written")
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    import datetime as dt

    import polars as pl
    from tqdm import tqdm

    from observatory.kpi import quality
    from observatory.kpi.engine import local_day_bounds
    from observatory.warehouse.store import Warehouse

    start, end = local_day_bounds(args.start, args.end) if args.start or args.end else (None, None)
    truth = quality.read_truth(args.truth) if args.truth else None  # a wrong path fails before the long part
    with (
        Warehouse.open(args.warehouse, read_only=True) as warehouse,
        tqdm(desc="quality", unit="piece", disable=args.quiet) as bar,
    ):

        def step(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        detections = quality.detect(warehouse, start, end, progress=step)
        sensors = warehouse.sql("SELECT sensor_id, kind, insee FROM sensors") if args.summary else None
    frame = quality.sensor_summary(detections, sensors) if args.summary else detections
    if args.format == "table":  # on screen, Martinique time
        frame = frame.with_columns(
            pl.col(c).dt.convert_time_zone("America/Martinique")
            for c in ("start", "end")
            if c in frame.columns
        )
    emit(frame, args.format, args.max_rows)
    if truth is not None:
        if start is not None:
            truth = truth.filter(
                pl.col("end") > start.replace(tzinfo=dt.UTC), pl.col("start") < end.replace(tzinfo=dt.UTC)
            )
        if args.format != "json":  # json: one document a line
            print()
        emit(quality.score(detections, truth), args.format)
    return 0


def _cmd_refresh(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from observatory.config import settings

    if args.every is not None and args.every <= 0:
        raise ParameterError(f"--every {args.every}", parameter="--every", hint="Give seconds > 0, e.g. 60.")
    config = settings()
    stop = threading.Event()
    if args.every is not None:
        # Ctrl-C or a service manager's SIGTERM ends the loop once the round under way is done.
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
    while True:
        started = time.monotonic()
        code = _refresh_round(args, config)
        if args.every is None or stop.wait(max(0.0, args.every - (time.monotonic() - started))):
            return code  # the last round's


def _refresh_round(args: argparse.Namespace, config: Settings) -> int:
    """One refresh of every source asked for: a line per source; 0 if all succeeded, else 3."""
    import datetime as dt

    from tqdm import tqdm

    from observatory.errors import ServiceError
    from observatory.warehouse.refresh import SOURCES, refresh
    from observatory.warehouse.store import Warehouse

    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ} " if args.every is not None else ""
    with tqdm(unit="request", disable=args.quiet, leave=False) as bar:

        def step(source: str, note: str) -> None:
            bar.set_postfix_str(f"{source} {note}")
            bar.update()

        try:
            # Opened for the round only: between rounds the dashboards and ingest have the file.
            with Warehouse.open(args.warehouse, config=config) as warehouse:
                statuses = refresh(warehouse, config, args.source or SOURCES, progress=step)
        except ServiceError as exc:
            if args.every is None:
                raise
            print(f"{stamp}warehouse not refreshed: {exc}", flush=True)  # held by an ingest: next round
            return 3
    for status in statuses:
        outcome = "ok" if status.ok else f"failed: {status.error}"
        print(f"{stamp}{status.source:9} {status.rows:>9} rows  {outcome}", flush=True)
    _precompute_kpis(args.warehouse, args.quiet)  # the file changed, if only its source_status
    return 0 if all(status.ok for status in statuses) else 3


def serve_command(
    apps_dir: Path,
    port: int,
    address: str,
    allow_origins: Sequence[str] = (),
    prefix: str | None = None,
    config: Settings | None = None,
) -> list[str]:
    """The ``panel serve`` command line for the site's apps in ``apps_dir``, resources served locally.

    With a users file or an OpenID Connect issuer the site signs users in and serves every app;
    without, it serves the public apps only (an app needing a role is left out, never left open).
    """
    from observatory.site.auth import sign_in_enabled

    config = config or _settings()
    signing_in = sign_in_enabled(config)
    apps = sorted(
        p for p in apps_dir.glob("*.py") if not p.name.startswith("_") and (signing_in or _public(p))
    )
    if not apps:
        raise ParameterError(f"no apps (*.py) in {apps_dir}", parameter="--apps")
    origins = list(allow_origins) or [f"{address}:{port}", f"localhost:{port}"]
    command = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        *map(str, apps),
        "--port",
        str(port),
        "--address",
        address,
    ]
    command += ["--index", "home"] if (apps_dir / "home.py").exists() else []
    command += ["--setup", str(apps_dir / "_setup.py")] if (apps_dir / "_setup.py").exists() else []
    # behind a reverse proxy: the path prefix it forwards, and the client's address/scheme from its headers
    command += ["--prefix", prefix, "--use-xheaders"] if prefix else []
    # one --static-dirs with every route: panel keeps only the last of repeated flags
    command += ["--static-dirs", *(f"{route}={folder}" for route, folder in static_routes().items())]
    for origin in origins:
        command += ["--allow-websocket-origin", origin]
    return command + (sign_in_arguments(config) if signing_in else [])


def _public(app_file: Path) -> bool:
    from observatory.site.apps import SITE_APPS

    return all(app.public for app in SITE_APPS if app.slug == app_file.stem)


def _settings() -> Settings:
    from observatory.config import settings

    return settings()


def sign_in_arguments(config: Settings) -> list[str]:
    """``panel serve`` flags that sign users in: the auth module of OpenID Connect (Keycloak) when
    an issuer is set, else the users file's; guests keep the public apps either way. Secrets and
    the provider's settings go in the environment (:func:`sign_in_secrets`), never on a command
    line that ``ps`` shows."""
    from observatory.site import login, oidc

    refused = ["--auth-template", str(login.refused_page(config))]  # 403, nothing from outside
    if config.oidc_issuer is None:
        return ["--auth-module", login.__file__, *refused]
    # The provider's tokens stay in their cookies: the page's session token carries the others.
    return ["--auth-module", oidc.__file__, *refused, "--exclude-cookies", "access_token", "refresh_token"]


def sign_in_secrets(config: Settings) -> dict[str, str]:
    """The served process's secrets: the cookie key, the key with which Bokeh signs its session ids
    (so that no session opens on an app's websocket without the page request that was authorised)
    and, with OpenID Connect, the client and the provider's endpoints (read here, so that an
    unreachable provider stops the command before the server starts)."""
    from observatory.site.auth import cookie_secret, oidc_environment

    secret = cookie_secret(config)
    secrets = {
        "PANEL_COOKIE_SECRET": secret,
        "BOKEH_SECRET_KEY": hashlib.sha256(b"bokeh-sessions:" + secret.encode()).hexdigest(),
        "BOKEH_SIGN_SESSIONS": "true",
    }
    if config.oidc_issuer is not None:
        secrets.update(oidc_environment(config))
    return secrets


def static_routes() -> dict[str, Path]:
    """Folders the server serves as static files: KeplerGL's self-contained bundle (no CDN) and the
    open-data releases (``/releases/<version>/...``, created empty when none was built yet)."""
    import keplergl

    from observatory.releases.build import releases_dir

    releases = releases_dir()
    releases.mkdir(parents=True, exist_ok=True)  # panel serve refuses a static folder that does not exist
    return {"kepler": Path(keplergl.__file__).parent / "static", "releases": releases}


def served_environment(
    base: dict[str, str] | None = None, secrets: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for the served apps: every Bokeh/Panel resource from the server itself, no CDN;
    with the sign-in ``secrets`` when the site signs users in."""
    env = dict(os.environ if base is None else base)
    env["BOKEH_RESOURCES"] = "server"
    env.setdefault("BOKEH_MINIFIED", "true")
    env.update(secrets or {})
    return env


def _cmd_serve(args: argparse.Namespace) -> int:
    from observatory.config import settings
    from observatory.site.auth import sign_in_enabled

    config = settings()  # fail early, with the setting named, before the server starts
    command = serve_command(
        Path(args.apps), args.port, args.address, args.allow_websocket_origin, args.prefix, config
    )
    if args.print_command:
        print(" ".join(command))
        return 0
    if not sign_in_enabled(config):
        print(
            f"no users file ({config.users_path}): serving the public apps only; "
            "`observatory users add NAME --role analyst` opens the others to signed-in users",
            file=sys.stderr,
        )
    secrets = sign_in_secrets(config) if sign_in_enabled(config) else None
    # Become the server (exec), so that whoever started `observatory serve` stops the server itself.
    os.execve(command[0], command, served_environment(secrets=secrets))


def _cmd_users(args: argparse.Namespace) -> int:
    import getpass

    from observatory.config import settings
    from observatory.site.auth import load_users, remove_user, save_user

    path = Path(args.file) if args.file else settings().users_path
    if args.action == "list":
        for user in (load_users(path) if path.exists() else {}).values():
            print(f"{user.name}\t{','.join(user.roles) or '-'}")
        return 0
    if not args.name:
        raise ParameterError(f"`users {args.action}` needs a user name", parameter="NAME")
    if args.action == "remove":
        remove_user(path, args.name)
        print(f"{args.name} removed from {path}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise ParameterError("the two passwords differ", parameter="password")
    user = save_user(path, args.name, password, tuple(args.role))
    print(f"{user.name} ({', '.join(user.roles) or 'no role'}) saved in {path}")
    return 0


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

    sql = sub.add_parser(
        "sql", help="run a read-only SQL query on the warehouse (SELECT, EXPLAIN; no file, extension or SET)"
    )
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

    kpi = sub.add_parser("kpi", help="territory KPIs per commune and for the island (972)")
    kpi.add_argument(
        "--kpi", action="append", default=None, metavar="ID", help="KPI id (repeat; default: all)"
    )
    kpi.add_argument(
        "--commune", action="append", default=None, metavar="INSEE", help="INSEE code or 972 (repeat)"
    )
    kpi.add_argument("--from", dest="start", default=None, metavar="YYYY-MM-DD", help="first local day")
    kpi.add_argument(
        "--to", dest="end", default=None, metavar="YYYY-MM-DD", help="day after the last (exclusive)"
    )
    kpi.add_argument(
        "--grain",
        choices=("day", "month", "year", "range"),
        default="month",
        help="range: the whole range as one period",
    )
    kpi.add_argument("--format", choices=("table", "csv", "json"), default="table")
    kpi.add_argument("--max-rows", type=int, default=60)
    kpi.add_argument("--warehouse", default=None)
    kpi.set_defaults(func=_cmd_kpi)

    release = sub.add_parser(
        "release",
        help="publish an immutable open-data release (CSV, Parquet, GeoJSON, Frictionless, DCAT-AP)",
    )
    release.add_argument("--version", required=True, help="release version, e.g. 2026.1 (never rebuilt)")
    release.add_argument("--out", default=None, help="releases folder (default: data dir/releases)")
    release.add_argument("--issued", default=None, metavar="YYYY-MM-DD", help="release date (default: data)")
    release.add_argument("--dataset", action="append", default=None, metavar="ID", help="only this (repeat)")
    release.add_argument("--base-url", default=None, help="public address of the releases folder")
    release.add_argument("--pseudonym-key", default=None, metavar="FILE", help="HMAC key file")
    release.add_argument("--catalog", default=None, help="catalogue folder (default: catalog/)")
    release.add_argument("--warehouse", default=None)
    release.add_argument("--quiet", action="store_true")
    release.set_defaults(func=_cmd_release)

    simulate = sub.add_parser(
        "simulate", help="simulate the sensor fleet: line-protocol files, ODK reports, MQTT, InfluxDB"
    )
    simulate.add_argument("--start", default=None, help="ISO 8601 UTC (default: --days before now)")
    simulate.add_argument("--days", type=float, default=1.0, help="length of the window, days (default 1)")
    simulate.add_argument("--seed", type=int, default=972, help="same seed and options, same bytes")
    simulate.add_argument("--step", default="1m", help="1m (default), 5m or 15m between readings")
    simulate.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="cyclone[:STORM_ID], dust, sargassum, water_leak, grid_outage or all (repeatable)",
    )
    simulate.add_argument(
        "--faults", action=argparse.BooleanOptionalAction, default=True, help="inject sensor faults"
    )
    simulate.add_argument(
        "--out", default=None, help="folder (default: data dir/simulated unless --mqtt/--influx)"
    )
    simulate.add_argument("--mqtt", default=None, metavar="URL", help="publish to mqtt://host:port (QoS 1)")
    simulate.add_argument("--influx", default=None, metavar="URL", help="write to http://host:port/database")
    simulate.add_argument("--overwrite", action="store_true", help="replace the field/ and truth/ of --out")
    simulate.add_argument("--workers", type=int, default=1, help="processes rendering days (same bytes)")
    simulate.add_argument("--quiet", action="store_true", help="no progress bar")
    simulate.set_defaults(func=_cmd_simulate)

    quality = sub.add_parser(
        "quality",
        help="gaps, stuck values, spikes and drift of the sensors; with --truth, precision and recall",
        description="Data quality of the sensor network, read month by month from the warehouse. With "
        "--truth, the precision and recall per fault type follow as a second table (csv: after a blank "
        "line; json: a second document on its own line).",
    )
    quality.add_argument("--from", dest="start", default=None, metavar="YYYY-MM-DD", help="first local day")
    quality.add_argument(
        "--to", dest="end", default=None, metavar="YYYY-MM-DD", help="day after the last (exclusive)"
    )
    quality.add_argument(
        "--truth", default=None, metavar="PATH", help="the simulator's truth/faults.csv, to score against"
    )
    quality.add_argument("--summary", action="store_true", help="one row per sensor: detections of each type")
    quality.add_argument("--format", choices=("table", "csv", "json"), default="table")
    quality.add_argument("--max-rows", type=int, default=60)
    quality.add_argument("--warehouse", default=None)
    quality.add_argument("--quiet", action="store_true")
    quality.set_defaults(func=_cmd_quality)

    refresh = sub.add_parser(
        "refresh",
        help="pull what is new from InfluxDB and the PostGIS sensors layer (exit 3 if a source failed)",
    )
    refresh.add_argument(
        "--source", action="append", choices=("influxdb", "postgis"), help="only this source (repeat)"
    )
    refresh.add_argument(
        "--every", type=float, default=None, metavar="SECONDS", help="repeat until SIGINT/SIGTERM"
    )
    refresh.add_argument("--warehouse", default=None)
    refresh.add_argument("--quiet", action="store_true", help="no progress bar")
    refresh.set_defaults(func=_cmd_refresh)

    serve = sub.add_parser("serve", help="serve the dashboards with Panel")
    serve.add_argument("--port", type=int, default=5006)
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--apps", default=str(APPS_DIR), help="folder of Panel apps (default: the project's)")
    serve.add_argument("--prefix", default=None, help="URL path prefix, when behind a reverse proxy")
    serve.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST:PORT")
    serve.add_argument("--print-command", action="store_true", help="print the panel command and exit")
    serve.set_defaults(func=_cmd_serve)

    users = sub.add_parser("users", help="who may sign in to the site (scrypt-hashed passwords, roles)")
    users.add_argument("action", choices=("add", "remove", "list"))
    users.add_argument("name", nargs="?", metavar="NAME")
    users.add_argument("--role", action="append", default=[], help="analyst or admin (repeat for several)")
    users.add_argument(
        "--file", default=None, help="users file (default: OBSERVATORY_USERS_FILE or <data dir>/users.yaml)"
    )
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.set_defaults(func=_cmd_users)
    return parser


def main(argv: Sequence[str] | None = None, as_program: bool = False) -> int:
    """Run the command ``argv`` (None: the process's arguments); its exit code. ``as_program``:
    the process ends with the command (see ``run``), so a command may act on the whole process."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.as_program = as_program
    try:
        return args.func(args)
    except ObservatoryError as exc:
        print(f"observatory {args.command}: error: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """``main`` as the program (the ``observatory`` command, ``python -m observatory.cli``). What is
    still alive when the command ends is frozen out of the garbage collector first: its passes
    over every object the command imported (pandas, geopandas, Polars, DuckDB...) made 0.2 s of
    the interpreter's exit after an ingest. Freezing is for a process that ends with the command:
    not when ``main`` is called by tests and notebooks in a process that goes on."""
    code = main(as_program=True)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
