"""Browser fixtures: one real `python -m qa serve` per session and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ROOT, Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}


@pytest.fixture(scope="session")
def web_server(tmp_path_factory, guide_corpus) -> Iterator[Server]:
    """The real server; `serve` builds the index with the real model into a fresh directory first."""
    index_dir = tmp_path_factory.mktemp("browser-index") / "index"
    with Server("--index", str(index_dir), "--corpus", str(guide_corpus)) as server:
        yield server


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("QA_REQUIRE_BROWSER") == "1":  # CI installs Chromium: a missing one is a failure
            pytest.fail(f"{CHROMIUM} is missing and QA_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing; install Debian's Chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageSession:
    """One page at one viewport, recording every request, dialog and console error it causes."""

    page: object
    origin: str
    viewport: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: str = "/"):
        response = self.page.goto(self.origin + path)
        assert response is not None and response.status == 200, f"GET {path} answered {response and response.status}"
        self.page.wait_for_load_state("load")
        return response

    def wait_idle(self) -> None:
        """Until the last search has rendered (the results region drops aria-busy after rendering)."""
        self.page.wait_for_function("() => !document.getElementById('results').hasAttribute('aria-busy')")

    def search(self, query: str, *, keyboard: bool = False) -> dict:
        """Type QUERY, submit it, wait for the page to render, and return the API response the page received."""
        box = self.page.locator("#q")
        with self.page.expect_response(re.compile(r"/api/search\?")) as answer:
            if keyboard:
                self.page.keyboard.type(query)
                self.page.keyboard.press("Enter")
            else:
                box.fill(query)
                box.press("Enter")
        self.wait_idle()
        return answer.value.json()

    def shot(self, scenario: str) -> Path:
        """Save what the screen shows now (SCENARIO-VIEWPORT.png) and the whole page (...-full.png)."""
        path = SCREENSHOTS / f"{scenario}-{self.viewport}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        self.page.screenshot(path=str(path.with_name(f"{path.stem}-full.png")), full_page=True)
        return path

    def off_origin(self) -> list[str]:
        return [url for url in self.requests if not (url == self.origin or url.startswith(self.origin + "/"))]


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture()
def ui(chromium, web_server, viewport) -> Iterator[PageSession]:
    context = chromium.new_context(**VIEWPORTS[viewport])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    session = PageSession(page, web_server.url, viewport)
    page.on("request", lambda request: session.requests.append(request.url))
    page.on("dialog", lambda dialog: (session.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: message.type == "error" and session.errors.append(message.text))
    page.on("pageerror", lambda error: session.errors.append(str(error)))
    try:
        yield session
    finally:
        context.close()
    assert not session.off_origin(), f"requests left {session.origin}: {session.off_origin()}"
    assert not session.errors, f"console errors (CSP violations included): {session.errors}"
