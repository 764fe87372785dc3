"""The OpenAPI contract: generated from the request models, served at /openapi.json, fuzzed with schemathesis."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from qa.settings import DEFAULTS
from qa.web.openapi import build_spec

# Built at import for pytest's parametrization; a test below checks the app serves exactly this document.
# (schemathesis' lazy fixture loader does not work with pytest 9.)
SPEC = build_spec(DEFAULTS)
fuzzed = schemathesis.openapi.from_dict(SPEC)


@fuzzed.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_honours_the_contract(case, fake_app):
    """Generated requests, valid and invalid: never a 5xx, every response (errors too) matches the schema."""
    # A batch answers a malformed query with its own error entry and still answers the others (documented):
    # that one 200 for invalid items is the only accepted schema violation.
    excluded = [negative_data_rejection] if case.operation.path == "/api/search/batch" else []
    case.call_and_validate(app=fake_app, excluded_checks=excluded)


def test_the_app_serves_the_fuzzed_document(client):
    assert client.get("/openapi.json").get_json() == SPEC


def test_the_document_describes_every_endpoint_and_the_error_shape(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/api/search", "/api/search/batch", "/api/passages/{passage_id}", "/healthz", "/readyz",
                 "/metrics", "/openapi.json", "/docs"):
        assert path in spec["paths"], path
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
    get = spec["paths"]["/api/search"]["get"]
    for status in ("400", "404", "413", "414", "429", "431", "500"):
        assert get["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_the_limits_in_the_document_are_the_ones_enforced(fake_app, client):
    """The document is built from the same models (and settings) that validate requests: they cannot drift."""
    from qa.web import create_app

    config = {name: fake_app.config[name] for name in DEFAULTS} | {"MAX_K": 7, "MAX_QUERY_CHARS": 50}
    app = create_app(config, searcher=fake_app.extensions["searcher"])
    narrow = app.test_client()
    params = {p["name"]: p for p in narrow.get("/openapi.json").get_json()["paths"]["/api/search"]["get"]["parameters"]}
    assert params["k"]["schema"]["maximum"] == 7 and params["q"]["schema"]["maxLength"] == 50
    assert params["q"]["required"] is True
    assert narrow.get("/api/search", query_string={"q": "fever", "k": 8}).get_json()["error"]["code"] == "invalid_k"
    assert narrow.get("/api/search", query_string={"q": "x" * 51}).get_json()["error"]["code"] == "query_too_long"
    served = client.get("/openapi.json").get_json()
    default = {p["name"]: p for p in served["paths"]["/api/search"]["get"]["parameters"]}
    assert default["k"]["schema"]["maximum"] == DEFAULTS["MAX_K"]


def test_docs_page_is_self_contained(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # no CDN, nothing from other sites
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    script = client.get("/docs/docs.js")
    assert script.status_code == 200 and "openapi.json" in script.get_data(as_text=True)
    assert client.get("/docs/docs.css").status_code == 200


def _closed(schema: dict, spec: dict, seen: set[str]) -> list[str]:
    """Object schemas reachable from ``schema`` that accept fields they do not document."""
    open_ones = []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _closed(spec["components"]["schemas"][name], spec, seen)
    if schema.get("type") == "object" and "properties" in schema and schema.get("additionalProperties") is not False:
        open_ones.append(schema.get("title", "?"))
    for value in schema.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict):
                open_ones += _closed(child, spec, seen)
    return open_ones


def test_every_response_schema_is_closed_and_documents_the_answer_field(client):
    """Responses are built from these models: a field the models lack cannot be sent, and schemathesis (above)
    rejects any undocumented one, because no response schema accepts extra fields."""
    spec = client.get("/openapi.json").get_json()
    for name in ("SearchResponse", "BatchResponse", "PassageBody", "Health", "Ready", "ErrorBody"):
        assert _closed({"$ref": f"#/components/schemas/{name}"}, spec, set()) == [], name
    result = spec["components"]["schemas"]["Result"]
    assert "answer" in result["properties"] and "answer" in result["required"]
    assert "low_confidence" in result["properties"] and "low_confidence" not in result["required"]


def test_a_field_the_models_do_not_declare_cannot_be_sent():
    import pytest
    from pydantic import ValidationError

    from qa.web.schemas import Citation

    with pytest.raises(ValidationError, match="extra"):
        Citation(title="t", publisher="p", section="s", reviewed="r", url="", text="x", summary="made up")


def test_every_error_status_in_the_document_lists_the_codes_of_the_one_table(client):
    from qa.errors import ERROR_CODES

    spec = client.get("/openapi.json").get_json()
    described = spec["paths"]["/api/search"]["get"]["responses"]
    for error in ERROR_CODES:
        if error.http and str(error.status) in described:
            assert error.code in described[str(error.status)]["description"], error.code
    assert "invalid_file" not in described["400"]["description"]  # the command line's own, never the API's
