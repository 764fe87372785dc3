"""The page routes through Flask's test client (no browser): security headers, caching and FRAME_ANCESTORS."""

from __future__ import annotations

import re

import pytest

from tests.conftest import FAKE_MODEL, app_config


def csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.fixture(scope="module")
def framed_client(fake_index, guide_corpus):
    from qa.web import create_app

    def make(frame_ancestors: str):
        app = create_app({**app_config(fake_index, guide_corpus, FAKE_MODEL), "FRAME_ANCESTORS": frame_ancestors})
        app.config["TESTING"] = True
        return app.test_client()

    return make


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_pages_are_html_with_security_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page and "<title>" in page and '<label for="q"' in page
    assert "<script>" not in page and " style=" not in page and "http://" not in page and "https://" not in page
    policy = csp(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["img-src"] == "'self' data:"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"


def test_search_page_is_not_frameable(client):
    response = client.get("/")
    assert csp(response)["frame-ancestors"] == "'self'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_embed_is_frameable_anywhere_by_default(client):
    response = client.get("/embed")
    assert csp(response)["frame-ancestors"] == "*"
    assert "X-Frame-Options" not in response.headers


def test_frame_ancestors_setting_is_reflected_on_embed(framed_client):
    client = framed_client("https://patients.example.org  https://www.example.net")
    assert csp(client.get("/embed"))["frame-ancestors"] == "https://patients.example.org https://www.example.net"
    assert csp(client.get("/"))["frame-ancestors"] == "'self'"  # the full page never follows the setting


def test_frame_ancestors_cannot_inject_directives(framed_client):
    response = framed_client("https://patients.example.org; script-src *").get("/embed")
    policy = csp(response)
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"  # a malformed setting fails closed


@pytest.mark.parametrize("name, mimetype", [("search.css", "text/css"), ("search.js", "text/javascript"),
                                            ("favicon.svg", "image/svg+xml")])
def test_static_files_are_cached(client, name, mimetype):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.cache_control.public and response.cache_control.max_age == 3600
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_page_links_versioned_assets_that_exist(client):
    page = client.get("/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]+)"', page)
    assert {path for path, _ in assets} == {"/static/search.css", "/static/search.js", "/static/favicon.svg"}
    for path, _ in assets:
        response = client.get(path)
        assert response.status_code == 200
        response.close()


def test_missing_static_file_is_not_cached(client):
    response = client.get("/static/nope.js")
    assert response.status_code == 404
    assert "max-age" not in response.headers.get("Cache-Control", "")


def test_api_url_and_limits_come_from_the_app(client):
    page = client.get("/embed").get_data(as_text=True)
    assert 'data-api="/api/search"' in page and 'data-default-k="3"' in page and 'data-max-k="20"' in page
    assert 'maxlength="1000"' in page
