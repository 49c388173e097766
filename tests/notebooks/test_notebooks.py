"""The analysts' notebooks: stored without outputs, and executed end to end (marker ``notebooks``).

Each notebook runs in a kernel of this environment (nbclient), in its own data directory, with the
reference mirror of the test session; its plots must render offline (no output may point at a CDN)
and the figures it prints in its last cell (one JSON line) are checked against what the test
computes on its own: the release files' checksums, the ground truth on disk, the engines.
Notebook 06 runs against the session's throwaway InfluxDB and PostGIS (marker ``services`` too).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import nbformat
import polars as pl
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
SERVICES_NOTEBOOK = "06_real_influxdb_postgis_cratedb.ipynb"
OFFLINE_NOTEBOOKS = [name for name in NOTEBOOKS if name != SERVICES_NOTEBOOK]
CELL_TIMEOUT_S = 300
CDN_HOSTS = ("cdn.bokeh.org", "cdn.holoviz.org", "unpkg", "jsdelivr", "cdnjs.cloudflare.com")
# BokehJS's inlined bundle names jsdelivr in three places that nothing on these pages reaches: the
# MathJax loader (only for LaTeX labels), the Tabler icon font (only for a TablerIcon) and a
# licence comment. Removed before the search; every other mention of a CDN fails the test.
INERT_CDN_MENTIONS = (
    't.src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js"',
    '_url="https://cdn.jsdelivr.net/npm/@tabler/icons-webfont@latest"',
    "https://www.jsdelivr.com/using-sri-with-dynamic-files",
)
EXTENSION_CALL = re.compile(r"\b(pn|hv)\.extension\([^)]*inline=True")
HVPLOT_IMPORT = re.compile(r"^\s*(?:import|from)\s+hvplot\b", re.MULTILINE)


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=nbformat.NO_CONVERT)


def _files_in_repo_folder() -> set[str]:
    return {p.relative_to(NOTEBOOKS_DIR).as_posix() for p in NOTEBOOKS_DIR.rglob("*")}


def _execute(name: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Run notebook ``name`` from the notebooks folder, as an analyst would, in a fresh kernel."""
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    env = {
        k: v for k, v in os.environ.items() if k not in ("OBSERVATORY_INFLUX_URL", "OBSERVATORY_POSTGRES_DSN")
    }
    env |= {"OBSERVATORY_DATA_DIR": str(data_dir), **(extra_env or {})}
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    before = _files_in_repo_folder()
    began = time.perf_counter()
    client.execute(env=env)
    print(f"{name}: {time.perf_counter() - began:.1f} s")
    assert _files_in_repo_folder() == before, "a notebook wrote into the repository"
    _check_outputs(notebook)
    return notebook


def _check_outputs(notebook: nbformat.NotebookNode) -> None:
    """No error, no warning, and no output that would load anything from a CDN."""
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {index}: {output.get('ename')}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                said = output["text"].lower()
                assert "warning" not in said and "traceback" not in said, (
                    f"cell {index}:\n{output['text'][:2000]}"
                )
            text = json.dumps(output)
            for mention in INERT_CDN_MENTIONS:
                text = text.replace(json.dumps(mention)[1:-1], "")
            for host in CDN_HOSTS:
                assert host not in text, f"cell {index}: an output references {host}"


def _summary(notebook: nbformat.NotebookNode) -> dict:
    """The JSON line the last cell prints."""
    printed = "".join(
        o["text"]
        for o in notebook.cells[-1]["outputs"]
        if o["output_type"] == "stream" and o["name"] == "stdout"
    )
    return json.loads(printed.strip().splitlines()[-1])


def _work(data_dir: Path, name: str) -> Path:
    return data_dir / "notebooks" / name.removesuffix(".ipynb")


# -- stored notebooks (no kernel) ----------------------------------------------------------------


def test_every_numbered_notebook_is_here_and_in_the_readme() -> None:
    readme = (NOTEBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    assert [n[:2] for n in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]
    assert sorted(CHECKS) == OFFLINE_NOTEBOOKS, "every offline notebook needs its checks below"
    for name in NOTEBOOKS:
        assert name in readme, f"notebooks/README.md does not list {name}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_without_outputs(name: str) -> None:
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [], f"stored outputs in:\n{cell.source[:200]}"
        assert cell.execution_count is None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_opens_with_what_it_teaches_and_needs(name: str) -> None:
    first = _read(name).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {name[:2]} ")
    assert "Ce que ce carnet enseigne" in first.source and "Ce qu'il faut" in first.source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_plots_are_inlined_before_anything_is_drawn(name: str) -> None:
    code = [
        "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("#"))
        for cell in _read(name).cells
        if cell.cell_type == "code"
    ]
    first = next((i for i, source in enumerate(code) if EXTENSION_CALL.search(source)), None)
    assert first is not None, "no hv.extension(..., inline=True) or pn.extension(inline=True)"
    before_call = "\n".join(code[:first]) + code[first][: EXTENSION_CALL.search(code[first]).start()]
    assert not HVPLOT_IMPORT.search(before_call), "hvplot imported before the inline extension"
    assert "pn.panel(" not in before_call and ".opts(" not in before_call, "a plot before the extension"


# -- executed notebooks --------------------------------------------------------------------------


def _check_01(summary: dict, work: Path) -> None:
    from observatory.territory.communes import communes

    towns = communes()
    assert summary["communes"] == len(towns)
    assert summary["population"] == int(towns["population"].sum())
    assert summary["ingested_readings"] == summary["simulated_readings"] > 0
    assert summary["reingest_skipped"] == summary["files"] > 0
    assert summary["quarantine_lines"] == [2]  # the one unreadable line the notebook writes


def _check_02(summary: dict, work: Path) -> None:
    from observatory.kpi import quality

    truth = quality.read_truth(work / "simulated" / "truth" / "faults.csv")
    assert summary["faults_injected"] == summary["truth_rows"] == truth.height > 0
    per_type = dict(truth.group_by("fault").len().iter_rows())
    assert {fault: row["faults"] for fault, row in summary["score"].items() if row["faults"]} == per_type
    assert summary["detections"] >= sum(row["correct_detections"] for row in summary["score"].values())
    assert summary["gaps_detected"] >= summary["gaps_sql"]  # the detector also sees gaps at the edges


def _check_03(summary: dict, work: Path) -> None:
    from observatory.kpi.spec import load_specs
    from observatory.territory.communes import communes

    specs = load_specs()
    assert summary["kpis_defined"] == len(specs)
    assert 0 < summary["kpis_computed"] <= len(specs)
    assert summary["kpis_computed"] + len(summary["without_value"]) == len(specs)
    assert set(summary["without_value"]) <= set(specs)
    assert summary["pm10_engine"] == pytest.approx(summary["pm10_by_hand"], rel=1e-9)
    assert summary["places"] == len(communes()) + 1  # every commune and the island


def _check_04(summary: dict, work: Path) -> None:
    from observatory.risk import zoning
    from observatory.territory.communes import communes

    replay = zoning.storm_replay(summary["dean_id"]).sort("wind_ms", descending=True).row(0, named=True)
    assert summary["dean_strongest"] == {k: replay[k] for k in ("insee", "name", "wind_ms")}
    assert summary["periods_ordered"] is True
    winds = list(summary["fort_de_france_ms"].values())
    assert winds == sorted(winds) and winds[0] > 0
    assert len(summary["index_ranks"]) == summary["communes"] == len(communes())
    assert min(summary["index_ranks"]) == 1


def _check_05(summary: dict, work: Path) -> None:
    release = Path(summary["release_dir"])
    assert release.parent == work / "releases"
    manifest = json.loads((release / "release.json").read_text(encoding="utf-8"))
    files = [f for d in manifest["datasets"] if d["status"] == "published" for f in d["files"]]
    assert len(files) == summary["files"] == summary["sha256_ok"] > 0
    for file in files:
        digest = hashlib.sha256((release / file["path"]).read_bytes()).hexdigest()
        assert digest == file["sha256"], file["path"]
    odk = pl.read_csv(work / "simulated" / "field" / "odk" / "citizen_reports.csv", infer_schema=False)
    personal = {v for c in ("contact-nom", "contact-telephone") for v in odk[c].drop_nulls().to_list()}
    assert personal, "the simulated ODK export has no names or phones to look for"
    published = [p.read_bytes() for p in (work / "releases").rglob("*") if p.is_file()]
    leaked = [v for v in personal if any(v.encode("utf-8") in data for data in published)]
    assert leaked == []
    assert "citizen_reports_raw" in summary["not_published"]
    assert (work / "releases" / "latest").resolve().name == summary["latest"] == "2026.2"


CHECKS = {
    "01_territory_and_warehouse.ipynb": _check_01,
    "02_sensors_and_data_quality.ipynb": _check_02,
    "03_kpis.ipynb": _check_03,
    "04_cyclone_and_multirisk.ipynb": _check_04,
    "05_open_data_release.ipynb": _check_05,
}


@pytest.mark.notebooks
@pytest.mark.parametrize("name", OFFLINE_NOTEBOOKS)
def test_notebook_runs_offline(name: str, tmp_path: Path, data_settings) -> None:
    notebook = _execute(name, tmp_path)
    CHECKS[name](_summary(notebook), _work(tmp_path, name))


@pytest.mark.notebooks
def test_notebook_06_against_real_services(influxdb, postgres, tmp_path: Path, data_settings) -> None:
    import psycopg

    from observatory.sources.influxdb1 import Influx1Client

    notebook = _execute(
        SERVICES_NOTEBOOK,
        tmp_path,
        {"OBSERVATORY_INFLUX_URL": influxdb.url, "OBSERVATORY_POSTGRES_DSN": postgres.dsn},
    )
    summary = _summary(notebook)
    influx = summary["influxdb"]
    assert influx["lines_written"] == influx["lines_simulated"] > 0
    with Influx1Client(influxdb.url, "observatory_notebook") as client:
        counts = client.query('SELECT count(*) FROM "weather"').readings
    assert int(counts["value"].sum()) == influx["weather_readings"] == influx["stored"] > 0
    assert influx["hourly_compared"] > 0 and influx["largest_difference"] < 1e-9
    pg = summary["postgis"]
    with psycopg.connect(postgres.dsn) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM notebook_communes").fetchone()
    assert rows == pg["communes_written"] == 34 and pg["read_back"] == 3
    assert pg["area_largest_difference_km2"] < 0.01
    assert pg["sensors_agree"] == pg["sensors_inside"] == pg["sensors"] > 0
    assert summary["quantumleap"]["stored"] == summary["quantumleap"]["numeric_values_written"] > 0
    assert summary["flux"]["stored"] == summary["flux"]["written"] > 0
