"""Message catalogues in French (default), English, Spanish and German, and the lookup ``t``."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from observatory.errors import ParameterError, did_you_mean

LANGUAGES: tuple[str, ...] = ("fr", "en", "es", "de")
DEFAULT_LANGUAGE = "fr"
LANGUAGE_NAMES = {"fr": "Français", "en": "English", "es": "Español", "de": "Deutsch"}


@cache
def catalogue(language: str) -> dict[str, str]:
    """All messages of one language, key -> text."""
    if language not in LANGUAGES:
        raise ParameterError(
            f"language {language!r} is not offered",
            parameter="language",
            hint=did_you_mean(language, LANGUAGES),
        )
    text = resources.files(__package__).joinpath(f"{language}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def t(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The message ``key`` in ``language``, with ``{name}`` placeholders filled from ``values``."""
    messages = catalogue(language)
    try:
        text = messages[key]
    except KeyError:
        raise ParameterError(
            f"no message {key!r} in the {language} catalogue",
            parameter="key",
            hint=did_you_mean(key, messages),
        ) from None
    return text.format(**values) if values else text
