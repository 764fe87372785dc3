"""The JSON API through Flask's test client, on the guide indexed with the hashing fake encoder."""

from __future__ import annotations

import json

import pytest

from qa.settings import DEFAULTS
from tests.support import ROOT

GUIDE_FILE = ROOT / "corpus" / "relapsed-refractory-all.txt"
GUIDE_TITLE = "Relapsed/ Refractory Acute Lymphoblastic Leukemia (ALL)"
RESULT_KEYS = {"rank", "score", "passage_id", "doc_id", "text", "section", "citation", "highlights"}
CITATION_KEYS = {"title", "publisher", "section", "reviewed", "url", "text"}
MAX_QUERY = DEFAULTS["MAX_QUERY_CHARS"]
MAX_K = DEFAULTS["MAX_K"]
MAX_BATCH = DEFAULTS["MAX_BATCH"]


@pytest.fixture(scope="module")
def guide_source() -> str:
    with GUIDE_FILE.open(encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def answering_app(fake_app, tmp_path_factory):
    """The fake-encoder app with abstention switched off.

    The abstention threshold in corpus/retrieval.json is calibrated for the real model; the hashing fake's
    similarities mean nothing against it, so these shape tests must not depend on it.
    """
    from qa.web import create_app

    settings = json.loads((ROOT / "corpus" / "retrieval.json").read_text(encoding="utf-8"))
    settings["abstain_below"] = -1e9
    retrieval = tmp_path_factory.mktemp("api-settings") / "retrieval.json"
    retrieval.write_text(json.dumps(settings), encoding="utf-8")
    config = {name: fake_app.config[name] for name in DEFAULTS}
    config["RETRIEVAL_FILE"] = str(retrieval)
    app = create_app(config)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(answering_app):
    """Shadows conftest's fake ``client``: the same fake index and model, never abstaining."""
    return answering_app.test_client()


@pytest.fixture()
def calibrated_client(fake_app):
    """conftest's fake client, with the real calibrated abstention threshold."""
    return fake_app.test_client()


def _app_with(fake_app, **overrides):
    """Another app over the same loaded searcher, with some settings changed."""
    from qa.web import create_app

    config = {name: fake_app.config[name] for name in DEFAULTS}
    config.update(overrides)
    app = create_app(config, searcher=fake_app.extensions["searcher"])
    app.config["TESTING"] = True
    return app


def _without_timing(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "took_ms"}


def assert_error(response, status: int, code: str | None = None, mentions: tuple[str, ...] = ()) -> dict:
    """An error response: the status, JSON (never HTML), exactly {"error": {"code", "message"}}."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.headers.get("Content-Type")
    raw = response.get_data(as_text=True)
    assert "<html" not in raw.lower() and "<!doctype" not in raw.lower()
    body = json.loads(raw)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message"}, error
    assert isinstance(error["code"], str) and error["code"].strip()
    assert isinstance(error["message"], str) and error["message"].strip()
    if code is not None:
        assert error["code"] == code, error
    for word in mentions:
        assert word in error["message"], error
    return error


def assert_search_body(body: dict, guide_source: str, query: str, k: int | None = None) -> None:
    assert body["query"] == query
    assert isinstance(body["answered"], bool)
    assert isinstance(body["took_ms"], (int, float)) and body["took_ms"] >= 0
    results = body["results"]
    assert isinstance(results, list)
    if k is not None:
        assert len(results) <= k
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for result in results:
        assert RESULT_KEYS <= set(result), set(result)
        assert isinstance(result["score"], (int, float))
        assert result["doc_id"] == "relapsed-refractory-all"
        assert result["passage_id"].startswith(result["doc_id"] + ":")
        assert guide_source[result["start"]:result["end"]] == result["text"]
        assert result["text"] in guide_source
        citation = result["citation"]
        assert set(citation) == CITATION_KEYS
        assert citation["title"] == GUIDE_TITLE
        assert citation["reviewed"] == "November 2022"
        assert citation["publisher"] == "St. Jude Children's Research Hospital (Together)"
        assert citation["section"] == result["section"]
        assert GUIDE_TITLE in citation["text"] and "November 2022" in citation["text"]
        for start, end in result["highlights"]:
            assert 0 <= start < end <= len(result["text"])


# --------------------------------------------------------------------------- search


def test_get_search_shape(client, guide_source):
    response = client.get("/api/search", query_string={"q": "what is MRD"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert_search_body(body, guide_source, "what is MRD", k=5)
    assert body["answered"] is True
    assert len(body["results"]) == 5  # k defaults to 5
    assert any("MRD" in r["text"] for r in body["results"])


def test_post_search_matches_get(client, guide_source):
    get = client.get("/api/search", query_string={"q": "central line infection", "k": 7}).get_json()
    post = client.post("/api/search", json={"q": "central line infection", "k": 7})
    assert post.status_code == 200
    assert_search_body(post.get_json(), guide_source, "central line infection", k=7)
    assert _without_timing(post.get_json()) == _without_timing(get)
    assert len(get["results"]) == 7


def test_post_accepts_json_without_content_type(client):
    response = client.post("/api/search", data=json.dumps({"q": "fever"}), content_type="text/plain")
    assert response.status_code == 200
    assert response.get_json()["results"]


@pytest.mark.parametrize("k", [1, 3, MAX_K])
def test_k_is_respected(client, guide_source, k):
    body = client.get("/api/search", query_string={"q": "treatment", "k": str(k)}).get_json()
    assert_search_body(body, guide_source, "treatment", k=k)
    assert len(body["results"]) == k


@pytest.mark.parametrize(("query", "allowed"), [
    ("nelarabine bortezomib", {"nelarabine", "bortezomib"}),
    # lay_terms.tsv expands "bone marrow transplant" to "stem cell transplant".
    ("bone marrow transplant", {"bone", "marrow", "transplant", "stem", "cell", "cells"}),
])
def test_highlights_mark_query_words(client, query, allowed):
    body = client.get("/api/search", query_string={"q": query}).get_json()
    marked = [r["text"][s:e].casefold() for r in body["results"] for s, e in r["highlights"]]
    assert marked
    for span in marked:
        assert set(span.replace("(", " ").replace(")", " ").split()) <= allowed, marked


def test_results_are_verbatim_slices_for_many_queries(client, guide_source):
    for query in ("fever", "what are the side effects", "Questions to ask", "prognosis", "T-cell ALL", "ALL"):
        body = client.get("/api/search", query_string={"q": query, "k": MAX_K}).get_json()
        assert_search_body(body, guide_source, query, k=MAX_K)


def test_unicode_and_punctuation_queries(client, guide_source):
    for query in ("child’s treatment plan", "B–cell ALL?", "¿qué es MRD?", "🙂", "<script>alert(1)</script>"):
        response = client.post("/api/search", json={"q": query})
        assert response.status_code == 200, query
        assert_search_body(response.get_json(), guide_source, query)


def test_query_at_the_limit_is_accepted(client):
    query = ("what is MRD " * 100)[:MAX_QUERY]
    assert len(query) == MAX_QUERY
    assert client.get("/api/search", query_string={"q": query}).status_code == 200
    assert client.post("/api/search", json={"q": query}).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("params", "code", "mentions"), [
    ({}, "missing_query", ("q",)),
    ({"q": ""}, "empty_query", ("q",)),
    ({"q": "   \t\n "}, "empty_query", ("q",)),
    ({"q": "x" * (MAX_QUERY + 1)}, "query_too_long", (str(MAX_QUERY),)),
    ({"q": "fever", "k": "abc"}, "invalid_k", (str(MAX_K),)),
    ({"q": "fever", "k": "2.5"}, "invalid_k", (str(MAX_K),)),
    ({"q": "fever", "k": "true"}, "invalid_k", (str(MAX_K),)),
    ({"q": "fever", "k": ""}, "invalid_k", (str(MAX_K),)),
    ({"q": "fever", "k": "0"}, "invalid_k", ("1", str(MAX_K))),
    ({"q": "fever", "k": "-3"}, "invalid_k", ("1", str(MAX_K))),
    ({"q": "fever", "k": str(MAX_K + 1)}, "invalid_k", ("1", str(MAX_K))),
])
def test_search_rejects_bad_parameters(client, method, params, code, mentions):
    if method == "GET":
        response = client.get("/api/search", query_string=params)
    else:
        response = client.post("/api/search", json=params)
    assert_error(response, 400, code, mentions)


@pytest.mark.parametrize(("body", "code"), [
    ({"q": 5}, "invalid_query"),
    ({"q": ["fever"]}, "invalid_query"),
    ({"q": {"text": "fever"}}, "invalid_query"),
    ({"q": True}, "invalid_query"),
    ({"q": None}, "missing_query"),
    ({"q": "fever", "k": 2.5}, "invalid_k"),
    ({"q": "fever", "k": True}, "invalid_k"),
    ({"q": "fever", "k": [5]}, "invalid_k"),
    ({"q": "fever", "k": 0}, "invalid_k"),
    ({"q": "fever", "k": MAX_K + 1}, "invalid_k"),
])
def test_post_search_rejects_bad_json_values(client, body, code):
    error = assert_error(client.post("/api/search", json=body), 400, code)
    if code == "invalid_k":
        assert str(MAX_K) in error["message"]


def test_k_as_json_integer_and_numeric_string_are_accepted(client):
    assert len(client.post("/api/search", json={"q": "fever", "k": 2}).get_json()["results"]) == 2
    assert len(client.post("/api/search", json={"q": "fever", "k": "3"}).get_json()["results"]) == 3


@pytest.mark.parametrize("data", [
    "not json", "{\"q\": ", "[\"fever\"]", "\"fever\"", "5", "null", "", "   ", b"\xff\xfe\x00",
])
def test_post_search_body_must_be_a_json_object(client, data):
    response = client.post("/api/search", data=data, content_type="application/json")
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("path", ["/api/search", "/api/search/batch"])
def test_deeply_nested_json_body_is_a_400(client, path):
    response = client.post(path, data="[" * 100_000, content_type="application/json")
    assert_error(response, 400, "invalid_json")


def test_post_search_without_body(client):
    assert_error(client.post("/api/search"), 400, "invalid_json")


def test_abstention_shape(calibrated_client):
    """Below the calibrated threshold the service abstains: no passages, the fixed notice text instead."""
    body = calibrated_client.get("/api/search", query_string={"q": "zzzz qqqq xxxx"}).get_json()
    assert body["answered"] is False
    assert body["results"] == []
    assert isinstance(body["message"], str) and body["message"].strip()
    notices = json.loads((ROOT / "corpus" / "notices.json").read_text(encoding="utf-8"))
    assert body["message"] == notices["no_answer"]["text"]
    low = calibrated_client.get("/api/search", query_string={"q": "zzzz qqqq xxxx", "include_low_confidence": "true",
                                                             "k": 3}).get_json()
    assert low["answered"] is False
    assert len(low["results"]) == 3
    assert all(r["low_confidence"] is True for r in low["results"])


# --------------------------------------------------------------------------- passages, health, routing


def test_get_passage_with_citation(client, guide_source):
    hit = client.get("/api/search", query_string={"q": "what is MRD"}).get_json()["results"][0]
    response = client.get(f"/api/passages/{hit['passage_id']}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["passage_id"] == hit["passage_id"]
    assert body["text"] == hit["text"] == guide_source[body["start"]:body["end"]]
    assert body["citation"] == hit["citation"]
    assert body["section"] == hit["section"]


def test_every_indexed_passage_is_served(client, answering_app, guide_source):
    for passage in answering_app.extensions["searcher"].index.passages:
        body = client.get(f"/api/passages/{passage.id}").get_json()
        assert body["text"] == guide_source[body["start"]:body["end"]] == passage.text


@pytest.mark.parametrize("passage_id", ["nope", "relapsed-refractory-all:000000000000", "relapsed-refractory-all",
                                        "a/b/c", "%00"])
def test_unknown_passage_is_a_json_404(client, passage_id):
    assert_error(client.get(f"/api/passages/{passage_id}"), 404)


def test_healthz(client, answering_app):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    manifest = answering_app.extensions["searcher"].index.manifest
    assert body["status"] == "ok"
    assert body["passages"] == manifest["passages"] == len(answering_app.extensions["searcher"].index.passages)
    assert body["model"] == "hash:256"
    assert body["built_at"] == manifest["built_at"]


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api/search/", "/api/passages/", "/api", "/healthz/x"])
def test_unknown_paths_are_json_404(client, path):
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/search", "GET"),
    ("PUT", "/api/search", "POST"),
    ("PATCH", "/api/search", "GET"),
    ("GET", "/api/search/batch", "POST"),
    ("DELETE", "/api/search/batch", "POST"),
    ("POST", "/healthz", "GET"),
    ("POST", "/api/passages/relapsed-refractory-all:x", "GET"),
])
def test_wrong_methods_are_json_405(client, method, path, allowed):
    response = client.open(path, method=method)
    assert_error(response, 405, "method_not_allowed", (method, allowed))


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/search", {"GET", "POST"}),
    ("GET", "/api/search/batch", {"POST"}),
    ("POST", "/healthz", {"GET"}),
])
def test_405_carries_an_allow_header(client, method, path, allowed):
    """RFC 9110 15.5.6: a 405 response MUST carry Allow with the methods the resource supports."""
    response = client.open(path, method=method)
    assert response.status_code == 405
    header = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= header, f"Allow header is {response.headers.get('Allow')!r}"


def test_body_over_the_size_limit_is_json_413(client):
    from qa.settings import DEFAULTS

    MAX_BODY_BYTES = DEFAULTS["MAX_BODY_BYTES"]
    response = client.post("/api/search", data=b"{" + b" " * MAX_BODY_BYTES + b"}", content_type="application/json")
    assert_error(response, 413, mentions=(str(MAX_BODY_BYTES),))


def test_an_unexpected_failure_is_a_json_500(fake_app):
    class Broken:
        index = fake_app.extensions["searcher"].index

        def search(self, *args, **kwargs):
            raise RuntimeError("secret internal detail")

        search_batch = search

    from qa.web import create_app

    app = create_app({name: fake_app.config[name] for name in DEFAULTS}, searcher=Broken())
    client = app.test_client()
    for response in (client.get("/api/search?q=fever"),
                     client.post("/api/search/batch", json={"queries": [{"q": "fever"}]})):
        error = assert_error(response, 500, "internal_error")
        assert "secret internal detail" not in error["message"]
        assert "Traceback" not in response.get_data(as_text=True)


ERROR_CASES = [
    ("GET", "/api/search", None, None, 400),
    ("GET", "/api/search?q=", None, None, 400),
    ("GET", "/api/search?q=fever&k=abc", None, None, 400),
    ("GET", "/api/search?q=fever&k=21", None, None, 400),
    ("GET", "/api/search?q=fever&include_low_confidence=maybe", None, None, 400),
    ("POST", "/api/search", None, "not json", 400),
    ("POST", "/api/search", [1, 2], None, 400),
    ("POST", "/api/search", {"q": 5}, None, 400),
    ("POST", "/api/search/batch", {"queries": "fever"}, None, 400),
    ("POST", "/api/search/batch", {"queries": []}, None, 400),
    ("POST", "/api/search/batch", {}, None, 400),
    ("POST", "/api/search/batch", None, "", 400),
    ("POST", "/api/search/batch", {"queries": [{"q": "x"}], "k": 0}, None, 400),
    ("GET", "/api/nope", None, None, 404),
    ("GET", "/does/not/exist", None, None, 404),
    ("GET", "/api/passages/missing-id", None, None, 404),
    ("DELETE", "/api/search", None, None, 405),
    ("GET", "/api/search/batch", None, None, 405),
    ("PUT", "/healthz", None, None, 405),
]


@pytest.mark.parametrize(("method", "path", "body", "data", "status"), ERROR_CASES,
                         ids=[f"{m} {p} {s}" for m, p, *_, s in ERROR_CASES])
def test_error_shape(client, method, path, body, data, status):
    kwargs = {"json": body} if body is not None else ({"data": data} if data is not None else {})
    assert_error(client.open(path, method=method, **kwargs), status)


# --------------------------------------------------------------------------- batch


def test_batch_keeps_order_and_isolates_bad_queries(client, guide_source):
    queries = [
        {"id": "mrd", "q": "what is MRD"},
        {"id": "empty", "q": ""},
        {"id": "number", "q": 5},
        {"id": "missing"},
        "not an object",
        {"id": "long", "q": "x" * (MAX_QUERY + 1)},
        {"q": "central line"},
        {"id": "fever", "q": "fever"},
    ]
    response = client.post("/api/search/batch", json={"queries": queries, "k": 3})
    assert response.status_code == 200
    body = response.get_json()
    assert isinstance(body["took_ms"], (int, float))
    results = body["results"]
    assert [r["id"] for r in results] == ["mrd", "empty", "number", "missing", 4, "long", 6, "fever"]
    expected_errors = {"empty": "empty_query", "number": "invalid_query", "missing": "missing_query",
                       4: "invalid_query", "long": "query_too_long"}
    for entry in results:
        if entry["id"] in expected_errors:
            assert set(entry) == {"id", "error"}, entry
            assert set(entry["error"]) == {"code", "message"}
            assert entry["error"]["code"] == expected_errors[entry["id"]]
            assert entry["error"]["message"].strip()
        else:
            assert "error" not in entry
            query = next(q["q"] for i, q in enumerate(queries) if isinstance(q, dict) and q.get("id", i) == entry["id"])
            assert_search_body({**entry, "took_ms": 0}, guide_source, query, k=3)
            single = client.post("/api/search", json={"q": query, "k": 3}).get_json()
            assert entry["results"] == single["results"], "a batch answer differs from the single answer"
            assert entry["answered"] == single["answered"]
    long_error = results[5]["error"]["message"]
    assert str(MAX_QUERY) in long_error


def test_batch_where_every_query_is_bad(client):
    response = client.post("/api/search/batch", json={"queries": [{"q": ""}, {"q": None}]})
    assert response.status_code == 200
    assert [r["error"]["code"] for r in response.get_json()["results"]] == ["empty_query", "missing_query"]


def test_batch_at_the_limit(client):
    queries = [{"id": i, "q": f"question number {i % 7} about fever"} for i in range(MAX_BATCH)]
    response = client.post("/api/search/batch", json={"queries": queries, "k": 1})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["id"] for r in results] == list(range(MAX_BATCH))
    assert all(len(r["results"]) == 1 for r in results)


def test_batch_over_the_limit_is_rejected(client):
    queries = [{"q": "fever"}] * (MAX_BATCH + 1)
    error = assert_error(client.post("/api/search/batch", json={"queries": queries}), 400, "too_many_queries")
    assert str(MAX_BATCH) in error["message"]


@pytest.mark.parametrize("queries", ["fever", {"q": "fever"}, 5, None, [], True])
def test_batch_queries_must_be_a_non_empty_list(client, queries):
    body = {} if queries is None else {"queries": queries}
    error = assert_error(client.post("/api/search/batch", json=body), 400, "invalid_queries")
    assert "queries" in error["message"]


@pytest.mark.parametrize("data", ["[]", "not json", "", "\"queries\""])
def test_batch_body_must_be_a_json_object(client, data):
    assert_error(client.post("/api/search/batch", data=data, content_type="application/json"), 400, "invalid_json")


# --------------------------------------------------------------------------- CORS


def test_cors_is_off_by_default(client):
    response = client.get("/api/search?q=fever", headers={"Origin": "https://example.org"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options("/api/search", headers={"Origin": "https://example.org",
                                                       "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_for_allowed_origins_only(answering_app):
    app = _app_with(answering_app, CORS_ORIGINS="https://allowed.example, https://also.example")
    client = app.test_client()
    for origin in ("https://allowed.example", "https://also.example"):
        response = client.get("/api/search?q=fever", headers={"Origin": origin})
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in response.headers.get("Vary", "")
        post = client.post("/api/search", json={"q": "fever"}, headers={"Origin": origin})
        assert post.headers["Access-Control-Allow-Origin"] == origin
    # Errors must carry the header too, or a browser cannot read the error message.
    error = client.get("/api/search?q=", headers={"Origin": "https://allowed.example"})
    assert error.status_code == 400
    assert error.headers["Access-Control-Allow-Origin"] == "https://allowed.example"
    preflight = client.options("/api/search/batch", headers={"Origin": "https://allowed.example",
                                                             "Access-Control-Request-Method": "POST",
                                                             "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://allowed.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]

    for origin in ("https://evil.example", "https://allowed.example.evil", "null", "http://allowed.example"):
        response = client.get("/api/search?q=fever", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers, origin
    assert "Access-Control-Allow-Origin" not in client.get("/api/search?q=fever").headers
