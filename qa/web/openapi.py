"""GET /openapi.json, built with apispec from the pydantic models in qa/web/schemas.py, and GET /docs that renders
it."""

from __future__ import annotations

from pathlib import Path

from apispec import APISpec
from flask import Blueprint, Response, current_app, jsonify

from qa import __version__
from qa.errors import ERROR_CODES
from qa.web.schemas import BatchResponse, ErrorBody, Health, PassageBody, Ready, SearchResponse, request_models

DOCS_DIR = Path(__file__).resolve().parent / "apidocs"

DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

apidocs = Blueprint("apidocs", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _register(spec: APISpec, model: type) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        if name not in spec.components.schemas:
            spec.components.schema(name, definition)
    if model.__name__ not in spec.components.schemas:
        spec.components.schema(model.__name__, schema)


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def status_description(status: int) -> str:
    """Every error code of one HTTP status, with what it means, from the one table in qa/errors.py."""
    codes = [error for error in ERROR_CODES if error.status == status and error.http]
    return f"{codes[0].reason}: " + "; ".join(f"{error.code} ({error.message})" for error in codes) + "."


def _errors(*statuses: int) -> dict:
    return {str(status): _json("ErrorBody", status_description(status)) for status in statuses}


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _query_schema(prop: dict) -> dict:
    """A body field's schema as a query parameter: a query string cannot say null, so that branch goes."""
    branches = [branch for branch in prop.get("anyOf", []) if branch.get("type") != "null"]
    schema = {key: value for key, value in prop.items() if key not in ("title", "description", "anyOf")}
    return {**branches[0], **schema} if len(branches) == 1 else schema


def build_spec(config) -> dict:
    """The OpenAPI 3.1 document for this app's limits (they come from settings, like the validation)."""
    search_model, batch_model, _ = request_models(config["MAX_QUERY_CHARS"], config["MAX_K"], config["DEFAULT_K"],
                                                  config["MAX_BATCH"])
    spec = APISpec(title="qa: cited passages from a patient-education guide", version=__version__,
                   openapi_version="3.1.0",
                   info={"description": "Every passage is a verbatim, cited slice of the corpus. Every error is "
                                        "{\"error\": {\"code\", \"message\"}}."})
    for model in (ErrorBody, SearchResponse, BatchResponse, PassageBody, Health, Ready, search_model, batch_model):
        _register(spec, model)
    common = (404, 405, 408, 413, 414, 429, 431, 500, 503)
    search_schema = spec.components.schemas[search_model.__name__]
    parameters = [{"name": name, "in": "query", "required": name in search_schema.get("required", []),
                   "description": prop.get("description", ""), "schema": _query_schema(prop)}
                  for name, prop in search_schema["properties"].items()]
    answer = _json("SearchResponse", "Verbatim passages with citations, or an abstention (answered: false).")
    spec.path(path="/api/search", operations={
        "get": {"summary": "Search", "operationId": "search", "parameters": parameters,
                "responses": {"200": answer, **_errors(400, *common)}},
        "post": {"summary": "Search with a JSON body", "operationId": "searchPost",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": _ref(search_model.__name__)}}},
                 "responses": {"200": answer, **_errors(400, *common)}},
    })
    spec.path(path="/api/search/batch", operations={"post": {
        "summary": "Many searches; a bad query gets its own error entry", "operationId": "searchBatch",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(batch_model.__name__)}}},
        "responses": {"200": _json("BatchResponse", "One entry per query, in order."), **_errors(400, *common)}}})
    spec.path(path="/api/passages/{passage_id}", operations={"get": {
        "summary": "One passage with its citation", "operationId": "passage",
        "parameters": [{"name": "passage_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json("PassageBody", "The passage."), **_errors(*common)}}})
    spec.path(path="/healthz", operations={"get": {
        "summary": "Liveness", "operationId": "healthz",
        "responses": {"200": _json("Health", "The loaded index."), **_errors(*common)}}})
    spec.path(path="/readyz", operations={"get": {
        "summary": "Readiness: 503 until an index is loaded", "operationId": "readyz",
        "responses": {"200": _json("Ready", "Ready, with the index id and model."),
                      **_errors(*common[:-1]), "503": _json("Ready", "Not ready.")}}})
    spec.path(path="/metrics", operations={"get": {
        "summary": "Prometheus metrics", "operationId": "metrics",
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors(*common)}}})
    spec.path(path="/openapi.json", operations={"get": {
        "summary": "This document", "operationId": "openapi",
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {
            "schema": {"type": "object"}}}}, **_errors(*common)}}})
    for path, summary in (("/docs", "This document, readable"), ("/", "The search page"),
                          ("/embed", "The search page for an iframe")):
        spec.path(path=path, operations={"get": {"summary": summary, "responses": {"200": _html(summary),
                                                                                   **_errors(*common)}}})
    return spec.to_dict()


@apidocs.get("/openapi.json")
def openapi_json() -> Response:
    spec = current_app.extensions.get("openapi")
    if spec is None:
        spec = current_app.extensions["openapi"] = build_spec(current_app.config)
    return jsonify(spec)


@apidocs.get("/docs")
def docs() -> Response:
    response = Response((DOCS_DIR / "docs.html").read_text(encoding="utf-8"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@apidocs.get("/docs/<any('docs.js', 'docs.css'):name>")
def docs_asset(name: str) -> Response:
    kind = "text/javascript" if name.endswith(".js") else "text/css"
    response = Response((DOCS_DIR / name).read_text(encoding="utf-8"), mimetype=kind)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
