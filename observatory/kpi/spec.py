"""What a KPI is: a validated spec (titles in four languages, reference, unit, formula, target).

Specs are plain YAML (``definitions.yaml``) turned into frozen dataclasses; a wrong key, an
unknown domain or grain, a missing translation get a ConfigError naming the file, the KPI and,
for near misses, what was probably meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import yaml

from observatory.errors import ConfigError, did_you_mean
from observatory.i18n import LANGUAGES

DOMAINS = ("energy", "water", "mobility", "air", "waste", "resilience", "citizens", "network")
GRAINS = ("day", "month", "year")
PLACES = ("commune", "island")
DIRECTIONS = ("higher_is_better", "lower_is_better")
DEFINITIONS_FILE = "definitions.yaml"


@dataclass(frozen=True)
class KpiSpec:
    """One KPI: how it is computed and how to read it.

    ``sql`` runs over the engine's views (see ``observatory.kpi.engine``) and returns ``place,
    period_start, value``; ``python`` names a formula of ``observatory.kpi.formulas`` instead.
    ``target`` is what the territory aims for and ``alert`` the level that needs action, both
    in ``unit``; which side is good is ``direction``.
    """

    id: str
    title: Mapping[str, str]
    description: Mapping[str, str]
    domain: str
    unit: str
    direction: str
    datasets: tuple[str, ...]
    reference: str = ""
    sql: str | None = None
    python: str | None = None
    grains: tuple[str, ...] = GRAINS
    places: tuple[str, ...] = PLACES
    target: float | None = None
    alert: float | None = None
    target_source: str = ""

    def status(self, value: float | None) -> str:
        """``ok`` (target met), ``watch`` (between target and alert), ``alert``, ``no_target`` or
        ``no_data``."""
        if value is None or value != value:  # None or NaN
            return "no_data"
        if self.target is None and self.alert is None:
            return "no_target"
        higher = self.direction == "higher_is_better"
        if self.alert is not None and (value <= self.alert if higher else value >= self.alert):
            return "alert"
        if self.target is not None and (value >= self.target if higher else value <= self.target):
            return "ok"
        return "watch"


_KEYS = tuple(f.name for f in fields(KpiSpec))
_REQUIRED = ("id", "title", "description", "domain", "unit", "direction", "datasets")


def _fail(path: Path, kpi: str, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"KPI {kpi!r}: {message}", path=path, hint=hint)


def _choice(path: Path, kpi: str, key: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(
            path,
            kpi,
            f"{key} {value!r} is not one of {', '.join(allowed)}",
            did_you_mean(str(value), allowed),
        )
    return str(value)


def _languages(path: Path, kpi: str, key: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(path, kpi, f"{key} must map each language ({', '.join(LANGUAGES)}) to a text")
    missing = [lang for lang in LANGUAGES if not str(value.get(lang) or "").strip()]
    if missing:
        raise _fail(path, kpi, f"{key} lacks {', '.join(missing)}", "Every KPI speaks fr, en, es and de.")
    extra = sorted(set(value) - set(LANGUAGES))
    if extra:
        raise _fail(path, kpi, f"{key} has unknown language {extra[0]!r}", did_you_mean(extra[0], LANGUAGES))
    return {lang: str(value[lang]) for lang in LANGUAGES}


def _number(path: Path, kpi: str, key: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, kpi, f"{key} must be a number, not {value!r}")
    return float(value)


def _tuple(path: Path, kpi: str, key: str, value: object, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value or ())
    if not items:
        raise _fail(path, kpi, f"{key} must list at least one value")
    return tuple(_choice(path, kpi, key, v, allowed) if allowed else str(v) for v in items)


def parse_spec(raw: Mapping[str, object], path: Path) -> KpiSpec:
    """One spec from its YAML mapping; ConfigError naming ``path`` and the KPI when it is wrong."""
    kpi = str(raw.get("id", "?"))
    for key in raw:
        if key not in _KEYS:
            raise _fail(path, kpi, f"unknown key {key!r}", did_you_mean(str(key), _KEYS))
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _fail(path, kpi, f"missing {', '.join(missing)}")
    if (raw.get("sql") is None) == (raw.get("python") is None):
        raise _fail(path, kpi, "give exactly one formula: sql or python")
    spec = KpiSpec(
        id=kpi,
        title=_languages(path, kpi, "title", raw["title"]),
        description=_languages(path, kpi, "description", raw["description"]),
        domain=_choice(path, kpi, "domain", raw["domain"], DOMAINS),
        unit=str(raw["unit"]),
        direction=_choice(path, kpi, "direction", raw["direction"], DIRECTIONS),
        datasets=_tuple(path, kpi, "datasets", raw["datasets"], None),
        reference=str(raw.get("reference") or ""),
        sql=raw.get("sql"),  # type: ignore[arg-type]
        python=raw.get("python"),  # type: ignore[arg-type]
        grains=_tuple(path, kpi, "grains", raw.get("grains", GRAINS), GRAINS),
        places=_tuple(path, kpi, "places", raw.get("places", PLACES), PLACES),
        target=_number(path, kpi, "target", raw.get("target")),
        alert=_number(path, kpi, "alert", raw.get("alert")),
        target_source=str(raw.get("target_source") or ""),
    )
    if spec.python is not None:
        from observatory.kpi.formulas import FORMULAS

        if spec.python not in FORMULAS:
            raise _fail(path, kpi, f"no formula {spec.python!r}", did_you_mean(spec.python, list(FORMULAS)))
    if (spec.target is not None or spec.alert is not None) and not spec.target_source:
        raise _fail(path, kpi, "a target or alert needs its target_source (law, plan or guideline)")
    return spec


def load_specs(path: str | Path | None = None) -> dict[str, KpiSpec]:
    """Every KPI of the catalogue at ``path`` (default: the package's definitions.yaml), by id."""
    if path is None:
        source = resources.files(__package__).joinpath(DEFINITIONS_FILE)
        path, text = Path(str(source)), source.read_text(encoding="utf-8")
    else:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {exc}", path=path, line=mark.line + 1 if mark else None) from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("kpis"), list):
        raise ConfigError("expected a mapping with a list under 'kpis'", path=path)
    specs: dict[str, KpiSpec] = {}
    for raw in document["kpis"]:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"each KPI must be a mapping, not {raw!r}", path=path)
        spec = parse_spec(raw, path)
        if spec.id in specs:
            raise _fail(path, spec.id, "defined twice")
        specs[spec.id] = spec
    return specs
