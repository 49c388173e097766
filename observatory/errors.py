"""The observatory's own exception types: what went wrong, where, and what to do next."""

from __future__ import annotations

from pathlib import Path


class ObservatoryError(Exception):
    """Base of every error the observatory raises on purpose."""


class UserError(ObservatoryError):
    """An error a user can cause and fix: carries where it happened and a hint.

    ``where`` is a file (with an optional line) or a parameter name; ``hint`` says what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        parameter: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.parameter = parameter
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path is not None:
            where.append(f"{self.path}:{self.line}" if self.line is not None else str(self.path))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.parameter is not None:
            where.append(f"parameter {self.parameter!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        return f"{text}. {self.hint}" if self.hint else text


class ConfigError(UserError):
    """A setting (environment variable or option) has a value the observatory cannot use."""


class ParameterError(UserError):
    """A function or command-line parameter is out of its domain."""


class DataFormatError(UserError):
    """An input file or stream is malformed at a given file and line."""


class ChecksumError(UserError):
    """A reference file's sha256 differs from the registry's: it is refused, never used."""


class ReferenceDataError(UserError):
    """A reference file is missing and cannot be fetched from the mirror or its URL."""


class ServiceError(UserError):
    """An external service (PostgreSQL, InfluxDB, MQTT, CrateDB) cannot be reached or refused."""


class PrivacyError(UserError):
    """A dataset the privacy gate refuses to publish; ``findings`` name the offending columns or cells."""

    def __init__(self, message: str, *, findings: tuple = (), **where: object) -> None:
        self.findings = tuple(findings)
        super().__init__(message, **where)  # type: ignore[arg-type]


def did_you_mean(word: object, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return a ' Did you mean ...?' suffix for the closest choice, or a list of valid ones."""
    import difflib

    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if close:
        return f"Did you mean {close[0]!r}?"
    return f"Valid values: {', '.join(sorted(map(str, choices)))}."
