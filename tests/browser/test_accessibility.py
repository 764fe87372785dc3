"""axe-core (axe-playwright-python's bundled copy) in the real Chromium: the search page, /embed and /docs at desktop
and phone widths, in every state a family sees (empty, results, no answer, urgent notice), with no violation of the
WCAG 2.2 A and AA rules, nor of axe's best practices (heading order among them)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# axe-core's tags for the WCAG 2.0, 2.1 and 2.2 success criteria at levels A and AA (2.2 added AA rules only).
WCAG_22_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RULES = {"runOnly": {"type": "tag", "values": [*WCAG_22_A_AA, "best-practice"]}, "resultTypes": ["violations"]}
ANSWERED = "red dots on her skin"
NO_ANSWER = "what is the wifi password at the hospital"
URGENT = "my child is having a seizure"


def violations(ui) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(ui.page, options=RULES)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]]


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_the_search_pages_have_no_violations_in_any_state(ui, path):
    ui.open(path)
    assert violations(ui) == [], f"{path} empty"
    body = ui.search(ANSWERED)
    assert body["answered"] and ui.page.locator(".card").count()
    assert violations(ui) == [], f"{path} with results"
    body = ui.search(NO_ANSWER)
    assert not body["answered"] and ui.page.locator("#results .message").is_visible()
    assert violations(ui) == [], f"{path} with no answer"
    body = ui.search(URGENT)
    assert body["notice"]["kind"] == "urgent" and ui.page.get_by_role("alert").is_visible()
    assert violations(ui) == [], f"{path} with the urgent notice"


def test_the_api_page_has_no_violations(ui):
    ui.open("/docs")
    ui.page.wait_for_selector("section.op")  # the contract is rendered
    assert ui.page.locator("section.op").count() >= 5
    assert violations(ui) == []
