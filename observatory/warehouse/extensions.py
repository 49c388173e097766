"""DuckDB connections with the spatial and postgres extensions loaded from their PyPI wheels.

No network ``INSTALL`` is possible here: the extension files come from the
``duckdb-extension-spatial`` and ``duckdb-extension-postgres`` wheels. DuckDB derives an
extension's entry point from its file name, and the postgres wheel ships
``postgres.duckdb_extension`` while the extension's entry point is ``postgres_scanner``; the
file is therefore linked (or copied) into a project-owned extension directory under that name.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import duckdb

from observatory.config import Settings, settings
from observatory.errors import ParameterError, ReferenceDataError, did_you_mean

# extension name -> (wheel module, file in the wheel, name DuckDB must find it under)
_WHEELS = {
    "spatial": ("duckdb_extension_spatial", "spatial.duckdb_extension", "spatial.duckdb_extension"),
    "postgres": (
        "duckdb_extension_postgres",
        "postgres.duckdb_extension",
        "postgres_scanner.duckdb_extension",
    ),
}


def _platform() -> str:
    with duckdb.connect() as con:
        return con.sql("SELECT platform FROM pragma_platform()").fetchone()[0]


def extension_directory(config: Settings | None = None) -> Path:
    """The project's DuckDB extension directory, filled from the wheels on first use.

    Layout is DuckDB's own: ``<dir>/v<duckdb version>/<platform>/<name>.duckdb_extension``.
    """
    config = config or settings()
    root = config.data_dir / "duckdb_extensions"
    target_dir = root / f"v{duckdb.__version__}" / _platform()
    for name, (module, filename, loaded_as) in _WHEELS.items():
        target = target_dir / loaded_as
        if target.exists():
            continue
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ReferenceDataError(
                f"the DuckDB {name} extension wheel ({module.replace('_', '-')}) is not installed",
                hint=f"pip install {module.replace('_', '-')}=={duckdb.__version__}",
            )
        source = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / filename
        if not source.is_file():
            raise ReferenceDataError(
                f"{source} is missing: the {name} wheel does not match duckdb {duckdb.__version__}",
                path=source,
                hint=f"pip install {module.replace('_', '-')}=={duckdb.__version__}",
            )
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        try:
            os.symlink(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return root


def connect(
    database: str | Path = ":memory:",
    extensions: tuple[str, ...] = ("spatial",),
    read_only: bool = False,
    config: Settings | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``extensions`` (``spatial``, ``postgres``) loaded, never from the network."""
    for name in extensions:
        if name not in _WHEELS:
            raise ParameterError(
                f"unknown extension {name!r}", parameter="extensions", hint=did_you_mean(name, _WHEELS)
            )
    directory = extension_directory(config)
    con = duckdb.connect(
        str(database),
        read_only=read_only,
        config={"extension_directory": str(directory), "autoinstall_known_extensions": "false"},
    )
    con.execute("SET enable_progress_bar = false")  # it would draw on the server's or command's stderr
    for name in extensions:
        con.execute(f"LOAD {name}")  # names checked against _WHEELS above
    return con
