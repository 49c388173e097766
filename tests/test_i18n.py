"""Every message exists in French, English, Spanish and German, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from observatory.errors import ParameterError
from observatory.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalogue, t


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_every_language(language):
    reference = catalogue(DEFAULT_LANGUAGE)
    messages = catalogue(language)
    assert set(messages) == set(reference)
    for key, text in messages.items():
        assert text.strip(), f"{language}:{key} is empty"
        assert _placeholders(text) == _placeholders(reference[key]), f"{language}:{key}"


def test_french_is_the_default():
    assert t("app_title") == "Observatoire territorial de la Martinique"


def test_placeholders_are_filled():
    assert "360" in t("island_total", "en", population="360 749", area="1 107", density="326")


def test_unknown_key_or_language_is_a_clear_error():
    with pytest.raises(ParameterError, match="Did you mean 'commune'"):
        t("comune")
    with pytest.raises(ParameterError, match="language"):
        t("commune", "it")
