"""The Flask app factory: settings, the searcher, and every layer's hooks; errors answered from one table."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from qa.errors import BY_STATUS, ERRORS, InputError
from qa.search.searcher import Searcher
from qa.settings import load_settings
from qa.web import limits, observability
from qa.web.api import api
from qa.web.openapi import apidocs


def create_app(config: dict | None = None, searcher: Searcher | None = None) -> Flask:
    """Build the app; the index and model load once here, never per request."""
    app = Flask(__name__, static_folder=None)  # the page blueprint serves its own static files
    app.config.from_mapping(load_settings(config))
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if searcher is None:
        from qa.wiring import open_searcher

        searcher = open_searcher(app.config)
    app.extensions["searcher"] = searcher
    observability.init_app(app)  # first: every later response, errors included, gets an id and a log line
    observability.record_index(searcher.index.manifest)
    limits.init_app(app)
    app.register_blueprint(api)
    app.register_blueprint(apidocs)
    try:
        from qa.web.page import page
    except ImportError:  # the page is optional for an API-only deployment
        page = None
    if page is not None:
        app.register_blueprint(page)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InputError, _input_error)
    app.register_error_handler(Exception, _internal_error)
    app.after_request(_api_headers)
    return app


def error_response(status: int, body: dict):
    response = jsonify(body)
    response.status_code = status
    return response


def _http_error(exc: HTTPException):
    status = exc.code or 500
    error = BY_STATUS.get(status)
    if error is None:  # a status the table does not know: its own description, still the JSON shape
        return error_response(status, {"error": {"code": "http_error", "message": exc.description or ""}})
    config = current_app.config
    allowed = sorted(getattr(exc, "valid_methods", None) or [])
    message = error.text(path=request.path, method=request.method, allowed=", ".join(allowed),
                         max_body_bytes=config["MAX_BODY_BYTES"], max_request_line=config["MAX_REQUEST_LINE"],
                         limit=exc.description, detail=exc.description, header_timeout=config["HEADER_TIMEOUT_S"],
                         body_timeout=config["BODY_TIMEOUT_S"], body_min_rate=config["BODY_MIN_RATE"])
    response = error_response(status, error.body(message))
    if status == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _input_error(exc: InputError):
    error = ERRORS.get(exc.code, ERRORS["invalid_parameter"])
    return error_response(error.status, {"error": exc.to_dict()})


def _internal_error(exc: Exception):
    current_app.logger.exception("unhandled error on %s", request.path)
    return error_response(500, ERRORS["internal_error"].body())


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
