"""The search page at / and its compact iframe version at /embed, with their security and cache headers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Blueprint, Response, current_app, make_response, render_template, request, url_for

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_MAX_AGE = 3600  # seconds; asset URLs carry a content hash, so a deploy is never served stale pages
EMBED_DEFAULT_K = 3
PAGE_ENDPOINTS = frozenset({"page.index", "page.embed"})
STATIC_ENDPOINTS = frozenset({"page.static"})
_SOURCE = re.compile(r"^(?:'self'|'none'|[^\s'\";,]+)$")  # one CSP source expression, nothing that ends it

page = Blueprint("page", __name__, static_folder="static", static_url_path="/static", template_folder="templates")


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = _asset_version()


def content_security_policy(frame_ancestors: str) -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {frame_ancestors}")


def embed_frame_ancestors(setting: object) -> str:
    """FRAME_ANCESTORS as a CSP source list: empty allows any origin; a malformed one allows none (fails closed)."""
    sources = str(setting or "").replace(",", " ").split()
    if not sources:
        return "*"
    if all(_SOURCE.match(source) for source in sources):
        return " ".join(sources)
    current_app.logger.warning("FRAME_ANCESTORS %r is not a list of CSP sources; /embed cannot be framed", setting)
    return "'none'"


def _guide_titles() -> list[str]:
    searcher = current_app.extensions.get("searcher")
    documents = getattr(getattr(searcher, "index", None), "documents", None) or {}
    return sorted({document.title for document in documents.values() if document.title})


def _page(embed: bool) -> Response:
    config = current_app.config
    response = make_response(render_template(
        "page.html", embed=embed, guides=_guide_titles(), api_url=url_for("api.search"),
        page_url=url_for("page.embed" if embed else "page.index"), full_url=url_for("page.index"),
        default_k=EMBED_DEFAULT_K if embed else "", max_k=config["MAX_K"],
        max_chars=config["MAX_QUERY_CHARS"], asset=lambda name: url_for("page.static", filename=name, v=ASSET_VERSION),
    ))
    ancestors = embed_frame_ancestors(config.get("FRAME_ANCESTORS")) if embed else "'self'"
    response.headers["Content-Security-Policy"] = content_security_policy(ancestors)
    if not embed:
        response.headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers that predate frame-ancestors
    response.headers["Cache-Control"] = "no-cache"
    return response


@page.get("/")
def index() -> Response:
    return _page(embed=False)


@page.get("/embed")
def embed() -> Response:
    return _page(embed=True)


@page.after_app_request
def _headers(response: Response) -> Response:
    if request.endpoint in STATIC_ENDPOINTS and response.status_code in (200, 206, 304):
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = STATIC_MAX_AGE
    if request.endpoint in PAGE_ENDPOINTS or request.endpoint in STATIC_ENDPOINTS:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response
