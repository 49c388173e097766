"""The first served view: the communes' population density, in four languages, with no CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import requests
from playwright.sync_api import expect

from observatory.i18n import t

# Walk the views on screen (Bokeh keeps replaced models in all_models, so ask the views).
_VISIBLE_PLOTS = """(() => { const seen = new Set();
  const walk = v => { if (!v || seen.has(v)) return; seen.add(v); for (const c of (v.child_views ?? [])) walk(c); };
  for (const v of Object.values(window.Bokeh?.index ?? {})) walk(v);
  return [...seen].filter(v => v.model.toolbar !== undefined).map(v => v.model); })()"""
_RENDERED_JS = f"""() => {_VISIBLE_PLOTS}.some(p => p.renderers.some(r => r.data_source?.data?.insee))"""
_COMMUNES_JS = f"""() => {_VISIBLE_PLOTS}.flatMap(p => p.renderers)
  .filter(r => r.data_source?.data?.insee).map(r => [...new Set(r.data_source.data.insee)].sort())"""
_TOOLTIPS_JS = f"""() => {_VISIBLE_PLOTS}.flatMap(p => p.toolbar.tools)
  .filter(t => t.type === 'HoverTool').flatMap(t => t.tooltips.map(x => x[0]))"""


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_page_source_names_no_resource_outside_the_server(served):
    with requests.get(f"{served}/territory", timeout=30) as response:
        response.raise_for_status()
        html = response.text
    parser = _Resources()
    parser.feed(html)
    assert any("bokeh" in url for url in parser.urls), "the page should load Bokeh from the server"
    external = [url for url in parser.urls if urlparse(url).netloc not in ("", urlparse(served).netloc)]
    assert external == []
    assert not re.search(r"cdn\.(bokeh|holoviz|jsdelivr)|unpkg\.com", html)


def _open(page, url: str):
    page.goto(url)
    page.wait_for_function(_RENDERED_JS, timeout=30_000)


def test_map_shows_the_34_communes_in_french(page, served):
    _open(page, f"{served}/territory")
    (codes,) = page.evaluate(_COMMUNES_JS)
    assert codes == [str(code) for code in range(97201, 97235)]
    expect(page.locator("h1")).to_have_text(t("app_title", "fr"))
    assert t("commune", "fr") in page.evaluate(_TOOLTIPS_JS)


def test_switching_language_changes_the_labels_and_the_url(page, served):
    _open(page, f"{served}/territory")
    page.locator(".language-selector select").select_option(label="English")
    expect(page.locator("h1")).to_have_text(t("app_title", "en"))
    page.wait_for_function(f"() => ({_TOOLTIPS_JS})().includes({t('commune', 'en')!r})", timeout=15_000)
    labels = page.evaluate(_TOOLTIPS_JS)
    assert t("commune", "fr") not in labels and t("density", "en") in labels
    assert "lang=en" in page.url


def test_a_link_with_a_language_opens_in_that_language(page, served):
    _open(page, f"{served}/territory?lang=de")
    expect(page.locator("h1")).to_have_text(t("app_title", "de"))
    page.wait_for_function(f"() => ({_TOOLTIPS_JS})().includes({t('density', 'de')!r})", timeout=15_000)
    selected = page.locator(".language-selector select").evaluate("s => s.options[s.selectedIndex].text")
    assert selected == "Deutsch"
