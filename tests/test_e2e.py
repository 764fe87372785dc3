"""End to end: `python -m qa serve` builds the index with the real model and serves it under gunicorn."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support import ROOT, Server, get_json

pytestmark = pytest.mark.slow

GUIDE_FILE = ROOT / "corpus" / "relapsed-refractory-all.txt"
TITLE = "Relapsed/ Refractory Acute Lymphoblastic Leukemia (ALL)"


def _request(url: str, data: bytes | None = None, method: str | None = None, headers: dict | None = None):
    """(status, headers, parsed JSON body) for any response, errors included."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory, guide_corpus):
    index_dir = tmp_path_factory.mktemp("e2e") / "index"
    assert not index_dir.exists()
    with Server("--index", str(index_dir), "--corpus", str(guide_corpus)) as running:
        running.index_dir = index_dir
        yield running
    assert "Traceback" not in running.log, running.log
    assert "gunicorn" in running.log.lower(), running.log


@pytest.fixture(scope="module")
def guide_source() -> str:
    with GUIDE_FILE.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def test_serve_built_the_missing_index(server):
    manifest = json.loads((server.index_dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    status, health = get_json(server.url + "/healthz")
    assert status == 200
    assert health["status"] == "ok"
    assert health["passages"] == manifest["passages"]
    assert health["model"] == manifest["model"]


def test_search_over_http_with_the_real_model(server, guide_source):
    status, headers, body = _request(server.url + "/api/search?q=what+is+MRD")
    assert status == 200
    assert headers.get_content_type() == "application/json"
    assert body["answered"] is True
    first = body["results"][0]
    assert "MRD means a small number of cells remain" in first["text"]
    citation = first["citation"]
    assert citation["title"] == TITLE
    assert citation["reviewed"] == "November 2022"
    assert citation["publisher"] == "St. Jude Children's Research Hospital (Together)"
    assert citation["section"].endswith("Length of the first complete remission")
    assert TITLE in citation["text"] and "November 2022" in citation["text"]
    for result in body["results"]:
        assert guide_source[result["start"]:result["end"]] == result["text"]


def test_post_and_batch_over_http(server):
    status, _, single = _request(server.url + "/api/search", json.dumps({"q": "red dots on her skin"}).encode(),
                                 headers={"Content-Type": "application/json"})
    assert status == 200 and single["results"]
    status, _, batch = _request(server.url + "/api/search/batch",
                                json.dumps({"queries": [{"id": "a", "q": "red dots on her skin"}, {"id": "b"}]})
                                .encode(), headers={"Content-Type": "application/json"})
    assert status == 200
    assert [r["passage_id"] for r in batch["results"][0]["results"]] == [r["passage_id"] for r in single["results"]]
    assert batch["results"][1]["error"]["code"] == "missing_query"


@pytest.mark.parametrize(("path", "method", "status", "code"), [
    ("/api/search?q=", "GET", 400, "empty_query"),
    ("/api/search?q=fever&k=99", "GET", 400, "invalid_k"),
    ("/api/search?q=" + urllib.parse.quote("x" * 1001), "GET", 400, "query_too_long"),
    ("/api/nope", "GET", 404, "not_found"),
    ("/api/passages/does-not-exist", "GET", 404, "passage_not_found"),
    ("/api/search", "DELETE", 405, "method_not_allowed"),
])
def test_errors_are_json_from_gunicorn(server, path, method, status, code):
    got, headers, body = _request(server.url + path, method=method)
    assert got == status
    assert headers.get_content_type() == "application/json"
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_the_server_really_is_gunicorn(server):
    status, headers, _ = _request(server.url + "/healthz")
    assert status == 200
    assert "gunicorn" in (headers.get("Server") or "").lower(), dict(headers)
