"""Request ids, the private access log, metrics, readiness, index ids, app-layer limits and rate limiting."""

from __future__ import annotations

import json
import logging

import pytest

from qa.settings import DEFAULTS

SECRET = "my daughter has leukemia and a rash"


def _app(fake_app, **overrides):
    from qa.web import create_app

    config = {name: fake_app.config[name] for name in DEFAULTS} | overrides
    app = create_app(config, searcher=fake_app.extensions["searcher"])
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def access_lines(caplog):
    """The JSON access-log lines written while the test runs."""
    caplog.set_level(logging.INFO, logger="qa.access")
    logging.getLogger("qa").propagate = True  # let caplog see them; restored below
    yield lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == "qa.access"]
    logging.getLogger("qa").propagate = False


# --------------------------------------------------------------------------- request ids and access log


def test_every_response_carries_a_request_id(client):
    ids = set()
    for path in ("/api/search?q=fever", "/healthz", "/api/nope", "/api/search?q=", "/openapi.json"):
        rid = client.get(path).headers.get("X-Request-ID")
        assert rid and len(rid) >= 16
        ids.add(rid)
    assert len(ids) == 5


@pytest.mark.parametrize(("sent", "kept"), [
    ("abc-123_DEF.456", True),
    ("req:7f3a@edge/1", True),
    ("x" * 128, True),
    ("x" * 129, False),
    ("bad id with spaces", False),
    ("evil\",\"status\":200", False),
    ("", False),
])
def test_a_sane_incoming_request_id_is_kept(client, sent, kept):
    rid = client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert (rid == sent) is kept


def test_access_log_is_json_without_the_query(client, access_lines):
    response = client.get("/api/search", query_string={"q": SECRET, "k": 2}, headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 200
    client.post("/api/search", json={"q": SECRET})
    client.get("/api/search", query_string={"q": SECRET, "k": 99})  # an error must not leak it either
    lines = access_lines()
    assert len(lines) == 3
    assert SECRET not in json.dumps(lines) and "leukemia" not in json.dumps(lines)
    first = lines[0]
    assert first["request_id"] == "trace-1"
    assert first["method"] == "GET" and first["path"] == "/api/search" and first["status"] == 200
    assert isinstance(first["latency_ms"], float) and first["time"].endswith("+00:00")
    assert first["answered"] is response.get_json()["answered"]
    assert first["abstained"] is not first["answered"]
    assert first["urgent_notice"] is False
    assert "query" not in first
    assert lines[2]["status"] == 400


def test_urgent_notice_is_logged_as_a_flag_only(client, access_lines):
    body = client.get("/api/search", query_string={"q": "she had a seizure"}).get_json()
    assert body.get("notice")
    (line,) = access_lines()
    assert line["urgent_notice"] is True
    assert "seizure" not in json.dumps(line)


def test_queries_are_logged_only_when_the_operator_opts_in(fake_app, access_lines):
    client = _app(fake_app, LOG_QUERIES=True).test_client()
    client.get("/api/search", query_string={"q": SECRET})
    client.post("/api/search/batch", json={"queries": [{"q": "fever"}, {"q": SECRET}]})
    single, batch = access_lines()
    assert single["query"] == SECRET
    assert batch["query"] == ["fever", SECRET]
    assert batch["answered"] + batch["abstained"] == 2


def test_log_queries_setting_parses_from_the_environment():
    from qa.settings import load_settings

    assert load_settings(environ={})["LOG_QUERIES"] is False
    assert load_settings(environ={"QA_LOG_QUERIES": "true"})["LOG_QUERIES"] is True


# --------------------------------------------------------------------------- readiness and index id


def test_readyz_names_the_index_and_model(client, fake_app):
    from qa.index.layout import index_id

    body = client.get("/readyz").get_json()
    manifest = fake_app.extensions["searcher"].index.manifest
    assert body == {"ready": True, "index_id": index_id(manifest), "model": "hash:256",
                    "passages": manifest["passages"], "built_at": manifest["built_at"]}
    assert len(body["index_id"]) == 12


def test_readyz_is_503_until_an_index_is_loaded(fake_app):
    app = _app(fake_app)
    app.extensions["searcher"] = None  # as in a worker that has not loaded its index yet
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["ready"] is False
    search = client.get("/api/search?q=fever")
    assert search.status_code == 503 and search.get_json()["error"]["code"] == "not_ready"


def test_every_search_response_carries_the_index_id(client):
    rid = client.get("/readyz").get_json()["index_id"]
    assert client.get("/api/search?q=fever").get_json()["index_id"] == rid
    assert client.post("/api/search", json={"q": "fever"}).get_json()["index_id"] == rid
    assert client.post("/api/search/batch", json={"queries": [{"q": "fever"}]}).get_json()["index_id"] == rid


def test_index_id_changes_with_the_manifest():
    from qa.index.layout import index_id

    manifest = {"model": "m", "built_at": "2026-01-01T00:00:00Z", "passages": 3}
    assert index_id(manifest) == index_id(dict(reversed(list(manifest.items()))))
    assert index_id(manifest) != index_id(manifest | {"built_at": "2026-01-01T00:00:01Z"})


# --------------------------------------------------------------------------- metrics


def _sample(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_count_requests_outcomes_and_notices(client):
    before = client.get("/metrics").get_data(as_text=True)
    client.get("/api/search?q=what+is+MRD")  # calm: a bare symptom word such as "fever" fires the notice
    client.get("/api/search?q=")
    client.get("/api/search", query_string={"q": "she had a seizure"})
    after = client.get("/metrics")
    assert after.status_code == 200 and after.mimetype == "text/plain"
    text = after.get_data(as_text=True)

    def delta(name, **labels):
        return _sample(text, name, **labels) - _sample(before, name, **labels)

    assert delta("qa_http_requests_total", endpoint="api.search", method="GET", status="200") == 2
    assert delta("qa_http_requests_total", endpoint="api.search", method="GET", status="400") == 1
    assert delta("qa_http_request_duration_seconds_count", endpoint="api.search", status="200") == 2
    assert delta("qa_searches_total", outcome="answered") + delta("qa_searches_total", outcome="abstained") == 2
    assert delta("qa_urgent_notices_total") == 1
    assert _sample(text, "qa_index_passages") > 0
    assert _sample(text, "qa_index_build_seconds") > 0
    assert "seizure" not in text


# --------------------------------------------------------------------------- app-layer limits


def test_request_line_over_the_limit_is_json_414(fake_app):
    client = _app(fake_app, MAX_REQUEST_LINE=200).test_client()
    assert client.get("/api/search", query_string={"q": "x" * 100}).status_code == 200
    response = client.get("/api/search", query_string={"q": "x" * 300})
    assert response.status_code == 414 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "uri_too_long" and "200" in error["message"] and "POST" in error["message"]


def test_headers_over_the_limits_are_json_431(fake_app):
    client = _app(fake_app, MAX_HEADER_BYTES=300, MAX_HEADERS=20).test_client()
    assert client.get("/healthz", headers={"X-Note": "y" * 200}).status_code == 200
    long = client.get("/healthz", headers={"X-Note": "y" * 400})
    many = client.get("/healthz", headers={f"X-H{i}": "1" for i in range(25)})
    for response in (long, many):
        assert response.status_code == 431
        assert response.get_json()["error"]["code"] == "headers_too_large"


def test_body_limit_follows_the_setting(fake_app):
    client = _app(fake_app, MAX_BODY_BYTES=1000).test_client()
    assert client.post("/api/search", json={"q": "fever"}).status_code == 200
    response = client.post("/api/search", json={"q": "fever", "pad": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json()["error"] == {"code": "body_too_large",
                                            "message": "request body is larger than the limit of 1000 bytes"}


# --------------------------------------------------------------------------- rate limiting


def test_rate_limiting_is_off_by_default(client):
    assert all(client.get("/api/search?q=fever").status_code == 200 for _ in range(30))


def test_over_the_rate_limit_is_a_json_429_with_retry_after(fake_app):
    client = _app(fake_app, RATE_LIMIT="3/minute").test_client()
    statuses = [client.get("/api/search?q=fever").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get("/api/search?q=fever")
    assert response.status_code == 429 and response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert client.get("/healthz").status_code == 200  # only /api/* is limited
    assert client.get("/api/search?q=fever", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_forwarded_addresses_count_only_through_trusted_proxies(fake_app):
    untrusted = _app(fake_app, RATE_LIMIT="2/minute").test_client()
    for n in range(2):
        assert untrusted.get("/api/search?q=fever", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 200
    # Without trusted proxies a forged X-Forwarded-For does not give a fresh allowance.
    assert untrusted.get("/api/search?q=fever", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429

    proxied = _app(fake_app, RATE_LIMIT="2/minute", TRUSTED_PROXIES=1).test_client()
    for _ in range(2):
        assert proxied.get("/api/search?q=fever", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    assert proxied.get("/api/search?q=fever", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # One trusted hop: the address the proxy saw (rightmost) counts, not one the client prepended.
    assert proxied.get("/api/search?q=fever",
                       headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.1"}).status_code == 429
    assert proxied.get("/api/search?q=fever", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200


@pytest.mark.parametrize(("overrides", "mentions"), [
    ({"RATE_LIMIT": "lots"}, "QA_RATE_LIMIT"),
    ({"RATE_LIMIT": "5/minute", "RATE_LIMIT_STORAGE": "bogus://x"}, "QA_RATE_LIMIT_STORAGE"),
])
def test_a_bad_rate_limit_setting_is_refused_at_start(fake_app, overrides, mentions):
    from qa.errors import QAError

    with pytest.raises(QAError, match=mentions):
        _app(fake_app, **overrides)
