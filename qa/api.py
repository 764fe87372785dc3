"""Flask app factory and the JSON API; handlers parse, call the Searcher and shape the response."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from qa import limits, observability
from qa.contract import batch_request, query_item, search_request
from qa.errors import InputError
from qa.responses import outcome_body, passage_body, search_body
from qa.search import Searcher
from qa.settings import DEFAULTS, load_settings

api = Blueprint("api", __name__)
MAX_BODY_BYTES = DEFAULTS["MAX_BODY_BYTES"]  # the default; QA_MAX_BODY_BYTES changes it per app


def create_app(config: dict | None = None, searcher: Searcher | None = None) -> Flask:
    """Build the app; the index and model load once here, never per request."""
    app = Flask(__name__, static_folder=None)  # the page blueprint serves its own static files
    app.config.from_mapping(load_settings(config))
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if searcher is None:
        from qa.service import open_searcher

        searcher = open_searcher(app.config)
    app.extensions["searcher"] = searcher
    observability.init_app(app)  # first: every later response, errors included, gets an id and a log line
    observability.record_index(searcher.index.manifest)
    limits.init_app(app)
    app.register_blueprint(api)
    from qa.openapi import contract

    app.register_blueprint(contract)
    try:
        from qa.web import web
    except ImportError:  # the page is optional for an API-only deployment
        web = None
    if web is not None:
        app.register_blueprint(web)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InputError, _input_error)
    app.register_error_handler(Exception, _internal_error)
    app.after_request(_api_headers)
    return app


def _searcher() -> Searcher:
    searcher = current_app.extensions.get("searcher")
    if searcher is None:
        raise _NotReady()
    return searcher


class _NotReady(HTTPException):
    code = 503


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _http_error(exc: HTTPException):
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 414: "uri_too_long",
             429: "rate_limited", 431: "headers_too_large", 503: "not_ready"}
    config = current_app.config
    messages = {
        404: f"no such endpoint: {request.path}",
        405: f"{request.method} is not allowed on {request.path}; allowed: "
             f"{', '.join(sorted(getattr(exc, 'valid_methods', None) or []))}",
        413: f"request body is larger than the limit of {config['MAX_BODY_BYTES']} bytes",
        414: f"the request line is longer than the limit of {config['MAX_REQUEST_LINE']} bytes; "
             "send a long query with POST /api/search",
        429: f"too many requests from this address (limit: {exc.description}); retry after Retry-After seconds",
        431: f"request headers are too large: {exc.description}",
        503: "no index is loaded yet; retry shortly",
    }
    status = exc.code or 500
    response = error_response(status, codes.get(status, "http_error"), messages.get(status, exc.description or ""))
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _input_error(exc: InputError):
    return error_response(400, exc.code, str(exc))


def _internal_error(exc: Exception):
    current_app.logger.exception("unhandled error on %s", request.path)
    return error_response(500, "internal_error", "the server could not answer this request")


def _api_headers(response):
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return _cors(response)


def _cors(response):
    allowed = [o.strip() for o in str(current_app.config["CORS_ORIGINS"]).split(",") if o.strip()]
    origin = request.headers.get("Origin")
    if request.path.startswith("/api/") and origin and (origin in allowed or "*" in allowed):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
    return response


def _json_object() -> dict:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InputError("invalid_json", "request body must be a JSON object, and it is empty")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("invalid_json", f"request body is not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError("invalid_json", "request body is nested too deeply to parse") from None
    if not isinstance(body, dict):
        raise InputError("invalid_json", f"request body must be a JSON object, not {type(body).__name__}")
    return body


@api.route("/api/search", methods=["GET", "POST"])
def search():
    source = request.args if request.method in ("GET", "HEAD") else _json_object()
    query, k, low_confidence = search_request(source, current_app.config)
    started = time.perf_counter()
    searcher = _searcher()
    outcome = searcher.search(query, k, low_confidence)
    observability.note_search([outcome], [query])
    body = search_body(outcome, searcher.index.documents, (time.perf_counter() - started) * 1000)
    body["index_id"] = searcher.index.id
    return jsonify(body)


@api.route("/api/search/batch", methods=["POST"])
def search_batch():
    config = current_app.config
    queries, k, low_confidence = batch_request(_json_object(), config)
    entries: list[dict] = []
    valid: list[tuple[int, str]] = []
    for position, item in enumerate(queries):
        item_id = item.get("id", position) if isinstance(item, dict) else position
        try:
            query = query_item(item, position, config)
            valid.append((position, query))
            entries.append({"id": item_id})
        except InputError as exc:
            entries.append({"id": item_id, "error": exc.to_dict()})
    started = time.perf_counter()
    searcher = _searcher()
    outcomes = searcher.search_batch([q for _, q in valid], k, low_confidence) if valid else []
    for (position, _), outcome in zip(valid, outcomes):
        entries[position].update(outcome_body(outcome, searcher.index.documents))
    observability.note_search(outcomes, [q for _, q in valid])
    return jsonify({"results": entries, "took_ms": round((time.perf_counter() - started) * 1000, 2),
                    "index_id": searcher.index.id})


@api.route("/api/passages/<path:passage_id>", methods=["GET"])
def passage(passage_id: str):
    searcher = _searcher()
    found = searcher.index.passage(passage_id)
    if found is None:
        return error_response(404, "passage_not_found", f"no passage with id {passage_id!r}")
    return jsonify(passage_body(found, searcher.index.documents[found.doc_id]))


@api.route("/healthz", methods=["GET"])
def healthz():
    manifest = _searcher().index.manifest
    return jsonify({"status": "ok", "passages": manifest["passages"], "model": manifest["model"],
                    "built_at": manifest["built_at"]})


@api.route("/readyz", methods=["GET"])
def readyz():
    """200 once this worker can answer, with the index id and model; 503 before."""
    searcher = current_app.extensions.get("searcher")
    if searcher is None:
        return jsonify({"ready": False}), 503
    manifest = searcher.index.manifest
    return jsonify({"ready": True, "index_id": searcher.index.id, "model": manifest["model"],
                    "passages": manifest["passages"], "built_at": manifest["built_at"]})
