"""Throwaway PostgreSQL/PostGIS, InfluxDB and Mosquitto instances that the tests start and own.

Each instance runs on a free loopback port inside its own temporary folder; whoever starts it
stops it (``stop()`` ends the process and removes the folder). No system service is touched.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

INSTALL_HINT = "run scripts/install-system-deps.sh as root"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
PORT_ATTEMPTS = 3  # a free port found by binding port 0 can be taken before the server binds it
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # not on a regular user's PATH on Debian

# MQTT 3.1.1 CONNECT (clean session, keep-alive 60 s, empty client id), its CONNACK, DISCONNECT.
MQTT_CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
MQTT_CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
MQTT_DISCONNECT = b"\xe0\x00"

PR_SET_PDEATHSIG = 1  # linux/prctl.h
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class ServiceUnavailable(RuntimeError):
    """A service could not be started here; the message names the binary and what to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str | None:
    """Path of the Chromium executable, or None when it is not installed."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def find_binary(name: str, package: str) -> str:
    """Path of ``name`` on PATH or in the sbin folders; ServiceUnavailable naming ``package`` if absent."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        raise ServiceUnavailable(f"{name} not found: {INSTALL_HINT} (apt-get install {package})")
    return found


def _account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _credentials(account: pwd.struct_passwd | None) -> dict[str, object]:
    """Popen arguments that run a child as ``account`` (nothing when None)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _die_with_parent(sig: int) -> None:
    # Runs in the child before exec: if pytest is killed outright, the server goes with it.
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig)


class _Service:
    """A server process in a temporary folder: start, wait until ready, stop, clean up."""

    name = "service"
    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None  # seconds from spawn to first answer, last launch

    # -- what each service defines -----------------------------------------------------------
    def _prepare(self) -> None:
        """Create what the server needs in ``self.folder`` once (runs before the first launch)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Set up what the tests expect once the server answers (database, extension...)."""

    def _run_as(self) -> pwd.struct_passwd | None:
        """Account the server runs as (None: the current user)."""
        return None

    def _choose_ports(self) -> None:
        self.port = free_port()

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        assert self.folder is not None, f"{self.name} is not started"
        return self.folder / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the server on free ports in a new temporary folder; ServiceUnavailable if it cannot."""
        if self.running:
            return self
        self.folder = Path(tempfile.mkdtemp(prefix=f"observatory-{self.name}-"))
        try:
            self._prepare()
            for attempt in range(PORT_ATTEMPTS):
                self._choose_ports()
                try:
                    self._launch()
                    break
                except ServiceUnavailable:
                    if (
                        attempt + 1 == PORT_ATTEMPTS
                        or "address already in use" not in self.log_tail().lower()
                    ):
                        raise
            self._after_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End the server (terminate, then kill after a timeout) and remove its folder."""
        self._terminate()
        if self.folder is not None:
            # The folder is scratch space of a dead server; a leftover file must not fail the run.
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def pause(self) -> None:
        """Stop the server process the way its init system would, keeping its folder, data and port."""
        if self.folder is None:
            raise ServiceUnavailable(f"{self.name} was never started; call start() first")
        self._terminate()

    def resume(self) -> None:
        """Start the paused server again on the same port, with the data it had."""
        if self.folder is None:
            raise ServiceUnavailable(f"{self.name} was never started; call start() first")
        if not self.running:
            self._launch()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _launch(self) -> None:
        command = self._command()
        started = time.monotonic()
        self._process = self._spawn(command)
        self._wait_until(self._ready, f"{Path(command[0]).name} did not answer on port {self.port}")
        self.startup_s = time.monotonic() - started

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                preexec_fn=functools.partial(_die_with_parent, int(self.stop_signal)),
                **_credentials(self._run_as()),
            )

    def _wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self._process.poll() if self._process is not None else None
            if code is not None:
                self._terminate()
                raise ServiceUnavailable(f"{self.name} exited with code {code}.\n{self._log_excerpt()}")
            if ready():
                return
            time.sleep(POLL_INTERVAL_S)
        self._terminate()
        raise ServiceUnavailable(f"{what} within {START_TIMEOUT_S:.0f} s.\n{self._log_excerpt()}")

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server wrote (empty if it wrote nothing)."""
        if self.folder is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _log_excerpt(self) -> str:
        return f"Last lines of {self.log_path}:\n{self.log_tail() or '(empty)'}"


class PostgresInstance(_Service):
    """PostgreSQL with PostGIS: a fresh cluster (trust auth) holding a database ``observatory``."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to leave
    user = "postgres"
    dbname = "observatory"
    host = "127.0.0.1"

    def __init__(self) -> None:
        super().__init__()
        self.bindir, self.version = _postgres_bindir()

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def admin_dsn(self) -> str:
        """DSN of the ``postgres`` maintenance database (to create or drop databases)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.folder is not None
        return self.folder / "socket"

    def _run_as(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        account = _account("postgres")
        if account is None:
            raise ServiceUnavailable(
                "initdb refuses to run as root and there is no 'postgres' account: "
                f"{INSTALL_HINT} (apt-get install postgresql-{self.version})"
            )
        return account

    def _prepare(self) -> None:
        assert self.folder is not None
        self.socket_dir.mkdir()
        account = self._run_as()
        if account is not None:
            for path in (self.folder, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        initdb = [
            str(self.bindir / "initdb"),
            *("-D", str(self.data_dir), "-A", "trust", "-U", self.user),
            *("--encoding=UTF8", "--locale=C", "--no-sync"),
        ]
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                initdb,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                timeout=START_TIMEOUT_S * 2,
                check=False,
                **_credentials(account),
            )
        if done.returncode != 0:
            raise ServiceUnavailable(f"initdb failed with code {done.returncode}.\n{self._log_excerpt()}")

    def _command(self) -> list[str]:
        return [
            str(self.bindir / "postgres"),
            *("-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.socket_dir)),
            *("-c", f"listen_addresses={self.host}"),
            *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
        ]

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.admin_dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _after_ready(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
        except psycopg.Error as exc:
            raise ServiceUnavailable(
                f"PostGIS is not available to PostgreSQL {self.version} ({exc}): "
                f"{INSTALL_HINT} (apt-get install postgresql-{self.version}-postgis-3)"
            ) from exc


def _postgres_bindir() -> tuple[Path, str]:
    """The newest Debian PostgreSQL (preferring one with PostGIS), else ``initdb`` on PATH."""

    def version_key(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())

    bindirs = sorted((Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")), key=version_key)
    with_postgis = [
        b
        for b in bindirs
        if Path(f"/usr/share/postgresql/{b.parent.name}/extension/postgis.control").exists()
    ]
    if with_postgis or bindirs:
        newest = (with_postgis or bindirs)[-1]
        return newest, newest.parent.name
    initdb = find_binary("initdb", "postgresql-15-postgis-3")
    postgres = Path(initdb).with_name("postgres")
    if not postgres.exists():
        raise ServiceUnavailable(f"postgres not found beside {initdb}: {INSTALL_HINT}")
    return postgres.parent, "15"


class InfluxInstance(_Service):
    """InfluxDB 1.x (Debian's ``influxd``) with its own config, data and WAL in the folder."""

    name = "influxdb"
    host = "127.0.0.1"

    def __init__(self) -> None:
        super().__init__()
        self.binary = find_binary("influxd", "influxdb")
        self.rpc_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "influxdb.conf"

    def _choose_ports(self) -> None:
        self.port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.port:
            self.rpc_port = free_port()

    def _command(self) -> list[str]:
        self._write_config()
        return [self.binary, "-config", str(self.config_path)]

    def _write_config(self) -> None:
        assert self.folder is not None

        def quoted(value: object) -> str:
            return json.dumps(str(value))  # a TOML basic string escapes like JSON

        self.config_path.write_text(
            f"""# Throwaway InfluxDB of the test suite (tests/services.py).
reporting-disabled = true
# Debian's 1.6.7 renames the key above; influxd ignores the one it does not know.
reporting-enabled = false
bind-address = {quoted(f"{self.host}:{self.rpc_port}")}

[meta]
  dir = {quoted(self.folder / "meta")}

[data]
  dir = {quoted(self.folder / "data")}
  wal-dir = {quoted(self.folder / "wal")}
  query-log-enabled = false

[http]
  bind-address = {quoted(f"{self.host}:{self.port}")}
  log-enabled = false

[ifql]
  enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
""",
            encoding="utf-8",
        )

    def _ready(self) -> bool:
        import requests

        try:
            with requests.get(f"{self.url}/ping", timeout=2) as response:
                return response.status_code == 204
        except requests.ConnectionError:
            return False


class MosquittoInstance(_Service):
    """Mosquitto 2 on one loopback listener, anonymous, persistent (a restart keeps QoS 1 queues)."""

    name = "mosquitto"
    host = "127.0.0.1"

    def __init__(self) -> None:
        super().__init__()
        self.binary = find_binary("mosquitto", "mosquitto")

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "mosquitto.conf"

    def restart(self) -> None:
        """Stop the broker gracefully (it saves its queues) and start it again on the same port."""
        self.pause()
        self.resume()

    def _account_name(self) -> str | None:
        # As root, mosquitto drops to the account named by `user` (default "mosquitto"),
        # which must then own the folder to write its persistence file.
        if os.geteuid() != 0:
            return None
        return "mosquitto" if _account("mosquitto") is not None else "root"

    def _prepare(self) -> None:
        assert self.folder is not None
        account = self._account_name()
        if account not in (None, "root"):
            entry = pwd.getpwnam(account)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _command(self) -> list[str]:
        assert self.folder is not None
        account = self._account_name()
        self.config_path.write_text(
            "# Throwaway broker of the test suite (tests/services.py).\n"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            # Save at every change, so even a broker killed outright keeps acknowledged messages.
            "autosave_on_changes true\n"
            "autosave_interval 1\n" + (f"user {account}\n" if account else ""),
            encoding="utf-8",
        )
        return [self.binary, "-c", str(self.config_path)]

    def _ready(self) -> bool:
        # A full MQTT handshake, not a bare TCP connect: another program may hold the port.
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(MQTT_CONNECT)
                connack = sock.recv(4)
                sock.sendall(MQTT_DISCONNECT)
        except OSError:
            return False
        return connack == MQTT_CONNACK_ACCEPTED


class NginxProxy(_Service):
    """nginx as the site's reverse proxy: ``/<prefix>/`` forwarded (path kept, websockets upgraded,
    X-Forwarded-* set) to an upstream on this machine, as the Traefik example in docs/ does it."""

    name = "nginx"
    host = "127.0.0.1"

    def __init__(self, upstream_port: int, prefix: str) -> None:
        super().__init__()
        self.binary = find_binary("nginx", "nginx-light")
        self.upstream_port, self.prefix = upstream_port, "/" + prefix.strip("/")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    def _command(self) -> list[str]:
        assert self.folder is not None
        folder = self.folder
        (folder / "nginx.conf").write_text(
            "# Throwaway reverse proxy of the test suite (tests/services.py).\n"
            f"daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
            + ("user root;\n" if os.geteuid() == 0 else "")
            + "events { worker_connections 256; }\n"
            "http {\n"
            f"  access_log {folder}/access.log;\n"
            f"  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
            f"  fastcgi_temp_path {folder}/fcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;\n"
            "  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n"
            f"  server {{ listen {self.host}:{self.port};\n"
            f"    location {self.prefix}/ {{\n"
            f"      proxy_pass http://127.0.0.1:{self.upstream_port};\n"
            "      proxy_http_version 1.1;\n"
            "      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;\n"
            "      proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $remote_addr;\n"
            "      proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $http_host;\n"
            "      proxy_read_timeout 300s;\n"
            "    }\n  }\n}\n",
            encoding="utf-8",
        )
        return [self.binary, "-c", str(folder / "nginx.conf"), "-p", str(folder)]

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False


OIDC_PROVIDER_DIR = Path(__file__).resolve().parent / "site" / "oidc"
NPM_TIMEOUT_S = 300.0  # `npm ci` of the provider on a busy machine


class OidcProvider(_Service):
    """An OpenID Connect provider in Keycloak's place: panva's certified ``oidc-provider`` on Node.js
    (``tests/site/oidc``), issuer ``http://127.0.0.1:PORT/realms/<realm>``, one confidential client
    (its metadata: ``client_id``, ``client_secret``, ``redirect_uris``, ``post_logout_redirect_uris``)
    and accounts with their password and claims (``{name: {"password": ..., "claims": {...}}}``).

    Its packages are installed from ``package-lock.json`` (``npm ci``) the first time it starts."""

    name = "oidc"
    host = "127.0.0.1"

    def __init__(
        self,
        client: dict[str, object],
        accounts: dict[str, dict[str, object]],
        keep_off: tuple[int, ...] = (),
        realm: str = "martinique",
    ) -> None:
        super().__init__()
        node, self.npm = shutil.which("node"), shutil.which("npm")
        if node is None or self.npm is None:
            raise ServiceUnavailable(
                "node or npm not found: the test OpenID Connect provider runs on Node.js >= 18 "
                "(Debian: apt-get install nodejs npm)"
            )
        self.node = node
        self.client, self.accounts, self.realm = client, accounts, realm
        self.keep_off = keep_off  # ports of servers started after it (the site's)

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}/realms/{self.realm}"

    def _choose_ports(self) -> None:
        self.port = free_port()
        while self.port in self.keep_off:
            self.port = free_port()

    def _prepare(self) -> None:
        if (OIDC_PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
            return
        try:
            done = subprocess.run(
                [self.npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=OIDC_PROVIDER_DIR,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServiceUnavailable(
                f"npm ci in {OIDC_PROVIDER_DIR} took over {NPM_TIMEOUT_S:.0f} s"
            ) from None
        if done.returncode != 0:
            raise ServiceUnavailable(f"npm ci in {OIDC_PROVIDER_DIR} failed:\n{done.stderr[-2000:]}")

    def _command(self) -> list[str]:
        assert self.folder is not None
        config = self.folder / "provider.json"
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "realm": self.realm,
                    "client": self.client,
                    "accounts": self.accounts,
                    "cookie_key": os.urandom(24).hex(),
                }
            ),
            encoding="utf-8",
        )
        return [self.node, str(OIDC_PROVIDER_DIR / "provider.mjs"), str(config)]

    def _ready(self) -> bool:
        import requests

        try:
            with requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2) as response:
                return response.status_code == 200
        except requests.ConnectionError:
            return False
