"""Request ids, a private JSON-lines access log and Prometheus metrics (multiprocess-safe under gunicorn)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")  # nothing that could forge a log line or a header
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("qa_http_requests_total", "HTTP requests by endpoint, method and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("qa_http_request_duration_seconds", "Time to answer, by endpoint and status.",
                    ["endpoint", "status"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
SEARCHES = Counter("qa_searches_total", "Queries answered or abstained on (batch queries count one each).",
                   ["outcome"])
URGENT = Counter("qa_urgent_notices_total", "Responses that showed the urgent notice.")
INDEX_PASSAGES = Gauge("qa_index_passages", "Passages in the loaded index.", multiprocess_mode="mostrecent")
INDEX_BUILD_SECONDS = Gauge("qa_index_build_seconds", "How long the loaded index took to build.",
                            multiprocess_mode="mostrecent")
INDEX_BUILT_AT = Gauge("qa_index_built_timestamp_seconds", "When the loaded index was built (Unix time).",
                       multiprocess_mode="mostrecent")

access_log = logging.getLogger("qa.access")


def _configure_logs() -> None:
    """JSON lines from the ``qa`` loggers (access log, index reloads) go to stderr as they are."""
    root = logging.getLogger("qa")
    if not root.handlers:  # one handler per process, however many apps are created
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new random one."""
    if incoming and _SANE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def record_index(manifest: dict) -> None:
    INDEX_PASSAGES.set(manifest.get("passages", 0))
    INDEX_BUILD_SECONDS.set(float(manifest.get("build_seconds") or 0))
    try:
        built = datetime.strptime(manifest["built_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        INDEX_BUILT_AT.set(built.timestamp())
    except (KeyError, ValueError):
        pass


def note_search(outcomes: list, queries: list[str]) -> None:
    """What the access log and metrics say about a search, set by the handler that ran it."""
    g.answered = sum(1 for o in outcomes if o.answered)
    g.abstained = len(outcomes) - g.answered
    g.urgent = sum(1 for o in outcomes if o.notice)
    g.queries = queries
    for outcome in outcomes:
        SEARCHES.labels("answered" if outcome.answered else "abstained").inc()
    if g.urgent:
        URGENT.inc(g.urgent)


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    rid = g.get("request_id") or request_id(None)
    response.headers[REQUEST_ID_HEADER] = rid
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.endpoint or "unmatched"  # bounded label set: unknown paths share one value
    status = str(response.status_code)
    REQUESTS.labels(endpoint, request.method, status).inc()
    LATENCY.labels(endpoint, status).observe(elapsed)
    entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": rid,
             "method": request.method, "path": request.path, "status": response.status_code,
             "latency_ms": round(elapsed * 1000, 2)}
    if "answered" in g:
        single = request.endpoint == "api.search"
        entry["answered"] = bool(g.answered) if single else g.answered
        entry["abstained"] = bool(g.abstained) if single else g.abstained
        entry["urgent_notice"] = bool(g.urgent) if single else g.urgent
        if _flask_config("LOG_QUERIES"):
            entry["query"] = g.queries[0] if single and g.queries else g.queries
    access_log.info(json.dumps(entry, ensure_ascii=False))
    return response


def _flask_config(name: str):
    from flask import current_app

    return current_app.config.get(name)


def metrics_response() -> Response:
    """All workers' metrics when gunicorn runs several (multiprocess mode), else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    response = Response(body, mimetype="text/plain")
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register first, so every response (errors from later hooks included) gets an id and a log line."""
    _configure_logs()
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics_response, methods=["GET"])
