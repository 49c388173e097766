"""A Chromium page for browser tests on the served observatory (tests/served.py serves it), on which
every request leaving 127.0.0.1 is recorded, aborted and fails the test."""

from __future__ import annotations

import contextlib
from urllib.parse import urlparse

import pytest

from tests.served import serve  # noqa: F401  (tests of this folder start their own sites with it)


@pytest.fixture
def page(served, chromium):
    """A Chromium page on which every request leaving 127.0.0.1 is recorded and aborted."""
    with guarded_page(chromium) as opened:
        yield opened


@contextlib.contextmanager
def guarded_page(chromium: str):
    """A Chromium page (1280x900) that aborts every request leaving 127.0.0.1 and, at the end,
    fails the test if there was one."""
    from playwright.sync_api import sync_playwright

    left: list[str] = []

    def guard(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.route("**/*", guard)
            yield page
        finally:
            browser.close()
    assert left == [], f"requests left the machine: {left}"
