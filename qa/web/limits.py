"""Request limits at the app layer, per-client rate limiting (flask-limiter) and trusted proxy hops."""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from qa.errors import QAError


class UriTooLong(HTTPException):
    code = 414
    description = "uri_too_long"


class HeadersTooLarge(HTTPException):
    code = 431
    description = "headers_too_large"


def request_line_bytes(environ: dict) -> int:
    """The request line's length as the client sent it: method, target and protocol, without CRLF."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target:
        target = quote(environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~")
    if "?" not in target and environ.get("QUERY_STRING"):  # werkzeug's test client leaves it out
        target += "?" + environ["QUERY_STRING"]
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    return len(environ.get("REQUEST_METHOD", "GET")) + 1 + len(target.encode("latin-1", "replace")) + 1 + len(protocol)


def _check_limits() -> None:
    """The same limits gunicorn enforces, for any WSGI server (and the test client)."""
    config = current_app.config
    if request_line_bytes(request.environ) > config["MAX_REQUEST_LINE"]:
        raise UriTooLong()
    headers = list(request.headers.items())
    if len(headers) > config["MAX_HEADERS"]:
        raise HeadersTooLarge(f"the request has {len(headers)} headers; the limit is {config['MAX_HEADERS']}")
    for name, value in headers:
        if len(name) + 2 + len(value.encode("latin-1", "replace")) > config["MAX_HEADER_BYTES"]:
            raise HeadersTooLarge(f"a header line is longer than the limit of {config['MAX_HEADER_BYTES']} bytes")


def _rate_limited_path() -> bool:
    return not request.path.startswith("/api/")


def _rate_limits(config) -> list[str]:
    """QA_RATE_LIMIT as flask-limiter limit strings, and its storage, checked now rather than at a request."""
    from limits import parse_many
    from limits.errors import ConfigurationError
    from limits.storage import storage_from_string

    limits = [part.strip() for part in str(config["RATE_LIMIT"]).split(";") if part.strip()]
    try:
        parse_many(";".join(limits)) if limits else None
    except ValueError:
        raise QAError(f"QA_RATE_LIMIT {config['RATE_LIMIT']!r} is not a list of limits such as "
                      "'30/minute;500/hour'") from None
    if limits:
        try:
            storage_from_string(config["RATE_LIMIT_STORAGE"])
        except ConfigurationError as exc:
            raise QAError(f"QA_RATE_LIMIT_STORAGE {config['RATE_LIMIT_STORAGE']!r} cannot be used: {exc}") from None
    return limits


def init_app(app: Flask) -> None:
    config = app.config
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_BODY_BYTES"]
    if config["TRUSTED_PROXIES"] > 0:
        # Only this many X-Forwarded-For hops are believed; anything further left is client-controlled.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config["TRUSTED_PROXIES"], x_proto=config["TRUSTED_PROXIES"])
    app.before_request(_check_limits)
    limits = _rate_limits(config)
    # Application limits: one budget per client address for all of /api/*, not one per endpoint.
    limiter = Limiter(get_remote_address, app=app, application_limits=[";".join(limits)] if limits else [],
                      application_limits_exempt_when=_rate_limited_path, storage_uri=config["RATE_LIMIT_STORAGE"],
                      headers_enabled=True, enabled=bool(limits), strategy="moving-window")
    app.extensions["qa_limiter"] = limiter
