"""What changed since the previous release: rows added, removed and changed per dataset, by the
dataset's key columns, as changes.json and CHANGELOG.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

_IN_NEW, _IN_OLD = "__in_new", "__in_old"


def diff(old: pl.DataFrame | None, new: pl.DataFrame, key: Sequence[str]) -> dict:
    """Rows added, removed and changed (same key, another value in a column both releases have)."""
    if old is None:
        return {"status": "new", "rows": new.height, "added": new.height, "removed": 0, "changed": 0}
    key = list(key)
    summary = {
        "columns_added": [c for c in new.columns if c not in old.columns],
        "columns_removed": [c for c in old.columns if c not in new.columns],
    }
    if any(k not in old.columns for k in key):  # keyed differently before: every row replaced
        return {
            "status": "changed",
            "rows": new.height,
            "added": new.height,
            "removed": old.height,
            "changed": 0,
            **summary,
        }
    common = [c for c in new.columns if c in old.columns and c not in key]
    left, right = new.select(key + common), old.select(key + common)
    for column in common:  # a column whose type changed is compared as text
        if left.schema[column] != right.schema[column]:
            left = left.with_columns(pl.col(column).cast(pl.String))
            right = right.with_columns(pl.col(column).cast(pl.String))
    joined = left.with_columns(pl.lit(True).alias(_IN_NEW)).join(
        right.with_columns(pl.lit(True).alias(_IN_OLD)),
        on=key,
        how="full",
        suffix="_old",
        coalesce=True,
        nulls_equal=True,
    )
    both = joined.filter(pl.col(_IN_NEW) & pl.col(_IN_OLD))
    differs = (
        pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in common])
        if common
        else pl.lit(False)
    )
    added = int(joined[_IN_OLD].is_null().sum())
    removed = int(joined[_IN_NEW].is_null().sum())
    changed = int(both.select(differs.sum()).item() or 0)
    status = (
        "changed"
        if added or removed or changed or summary["columns_added"] or summary["columns_removed"]
        else "unchanged"
    )
    return {
        "status": status,
        "rows": new.height,
        "added": added,
        "removed": removed,
        "changed": changed,
        **summary,
    }


def removed_datasets(previous: dict | None, published: Sequence[str]) -> list[str]:
    """Datasets the previous release published that this one does not."""
    if previous is None:
        return []
    return sorted(
        d["id"] for d in previous["datasets"] if d["status"] == "published" and d["id"] not in published
    )


def read_previous(release_dir: Path | None, manifest: dict | None, dataset_id: str) -> pl.DataFrame | None:
    """The dataset's rows in the previous release (from its Parquet file), or None if it had none."""
    if release_dir is None or manifest is None:
        return None
    entry = next(
        (d for d in manifest["datasets"] if d["id"] == dataset_id and d["status"] == "published"), None
    )
    if entry is None:
        return None
    parquet = next(f for f in entry["files"] if f["format"] in ("parquet", "geoparquet"))
    frame = pl.read_parquet(release_dir / parquet["path"])
    # a lon/lat dataset's GeoParquet carries an extra geometry column the CSV does not
    names = [c["name"] for c in entry["columns"]]
    return frame.select([c for c in frame.columns if c in names])


def markdown(manifest: dict) -> str:
    """CHANGELOG.md of a release manifest (release.json)."""
    version, previous = manifest["version"], manifest["previous"]
    lines = [f"# Release {version} ({manifest['issued']})", ""]
    lines += [f"Compared with release {previous}." if previous else "First release: every row is new.", ""]
    lines += [
        "| dataset | rows | added | removed | changed | status |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    notes, refused = [], []
    for dataset in manifest["datasets"]:
        if dataset["status"] != "published":
            refused.append(f"- `{dataset['id']}`: not published ({dataset['reason']}).")
            continue
        change = dataset["changes"]
        lines.append(
            f"| `{dataset['id']}` | {change['rows']} | {change['added']} | {change['removed']} | {change['changed']} | {change['status']} |"
        )
        for what in ("columns_added", "columns_removed"):
            if change.get(what):
                notes.append(f"- `{dataset['id']}`: {what.replace('_', ' ')}: {', '.join(change[what])}.")
        privacy = dataset["privacy"]
        if privacy.get("suppressed"):
            notes.append(
                f"- `{dataset['id']}`: {privacy['suppressed']} cell(s) under {privacy['min_contributors']} contributors suppressed (statistical secrecy)."
            )
        if privacy.get("coarsened"):
            notes.append(
                f"- `{dataset['id']}`: {privacy['coarsened']} location(s) coarsened ({privacy['coarsen']})."
            )
        if privacy.get("pseudonymised"):
            notes.append(
                f"- `{dataset['id']}`: pseudonymised by keyed hash: {', '.join(privacy['pseudonymised'])}."
            )
    for dataset_id in manifest.get("removed", []):
        lines.append(f"| `{dataset_id}` | 0 | 0 | all | 0 | removed |")
    if notes:
        lines += ["", "## Privacy gate and schema", "", *notes]
    if refused:
        lines += ["", "## Not published", "", *refused]
    return "\n".join(lines) + "\n"
