"""The /docs page renders the OpenAPI contract in a real Chromium, under its strict CSP, from this origin only."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_docs_page_lists_every_operation(ui):
    ui.open("/docs")
    ui.page.wait_for_selector("section.op")
    operations = ui.page.locator("section.op h3").all_inner_texts()
    joined = " ".join(" ".join(text.split()) for text in operations)
    for expected in ("get /api/search", "post /api/search", "post /api/search/batch", "get /readyz",
                     "get /metrics"):
        assert expected in joined.lower(), joined
    assert "ErrorBody" in ui.page.locator("#schemas").inner_text()
    # The ui fixture then checks: no request left the origin, no console error (CSP violations included).
