"""Production serving under gunicorn; each worker process loads the model and index once.

Also: gunicorn's own errors in the JSON error shape, request limits, Prometheus multiprocess mode, and
SIGHUP reloading the index in every worker without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from qa.settings import load_settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# gunicorn's parser errors, answered before the request reaches Flask: (status, reason, code, message).
_GUNICORN_ERRORS = (
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long",
     "the request line is longer than the limit of {line} bytes; send a long query with POST /api/search"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "headers_too_large",
     "request headers are too large: at most {fields} headers of at most {field} bytes each"),
)


def _error_for(exc: Exception, cfg) -> tuple[int, str, str, str]:
    limits = {"line": cfg.limit_request_line, "fields": cfg.limit_request_fields, "field": cfg.limit_request_field_size}
    if isinstance(exc, (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName,
                        http_errors.ConfigurationProblem)):  # the app's or the setup's fault, not the client's
        return 500, "Internal Server Error", "internal_error", "the server could not answer this request"
    for kind, status, reason, code, message in _GUNICORN_ERRORS:
        if isinstance(exc, kind):
            return status, reason, code, message.format(**limits)
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        return 501, "Not Implemented", "not_implemented", "this transfer coding is not supported"
    if isinstance(exc, http_errors.ParseException) or isinstance(exc, (http_errors.NoMoreData, ValueError)):
        return 400, "Bad Request", "bad_request", "the request is not valid HTTP/1.1"
    return 500, "Internal Server Error", "internal_error", "the server could not answer this request"


class LingeringThreadWorker(ThreadWorker):
    """gthread, except that the thread which answered a kept-alive connection serves its next request itself when
    it comes within ``QA_KEEPALIVE_LINGER_MS`` and no other connection is waiting for a thread.

    gthread hands every kept-alive connection back to the main thread's poller after each response, and the poller
    hands its next request to a pool thread again: two thread wake-ups per request. A client sending requests back
    to back (a script, a proxy's pooled upstream connection) skips both. Lingering never delays another connection
    by more than the linger: a thread does not wait while a connection is queued for the pool."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._linger_ms = load_settings()["KEEPALIVE_LINGER_MS"]
        self._queued = 0  # connections handed to the pool that no thread has started on yet
        self._queued_lock = threading.Lock()

    def enqueue_req(self, conn) -> None:
        with self._queued_lock:
            self._queued += 1
        super().enqueue_req(conn)

    def handle(self, conn):
        with self._queued_lock:
            self._queued -= 1
        keepalive = super().handle(conn)
        while keepalive is True and self.alive and self._next_request_comes(conn):
            keepalive = super().handle(conn)
        return keepalive

    def _next_request_comes(self, conn) -> bool:
        if conn.parser is None or conn.is_http2 or self._linger_ms <= 0:
            return False
        if conn.parser.unreader.buf.getvalue():  # pipelined: the next request is already read
            return True
        with self._queued_lock:
            if self._queued:
                return False
        # poll, not a selector: no epoll instance to create and close for each request
        waiting = select.poll()
        waiting.register(conn.sock, select.POLLIN)
        return bool(waiting.poll(self._linger_ms))


class JsonErrorWorker(LingeringThreadWorker):
    """The service's worker: gthread that lingers on kept-alive connections (above), and whose own errors use the
    API's JSON shape, never an HTML page, with a log line that names the error class only: a request line can hold
    a patient's question."""

    def handle_error(self, req, client, addr, exc) -> None:
        status, reason, code, message = _error_for(exc, self.cfg)
        request_id = uuid.uuid4().hex  # the request's own X-Request-ID was never parsed
        if status >= 500:
            self.log.error("error handling a request: %s", type(exc).__name__)
        # The same access-log line as the app's; method and path are unknown or unparsed, so left out.
        logging.getLogger("qa.access").info(json.dumps({
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": request_id,
            "method": None, "path": None, "status": status, "error": code}))
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nX-Request-ID: {request_id}\r\n"
                "\r\n").encode("latin-1")
        try:
            client.sendall(head + body)
        except OSError:
            pass


class _ReloadingArbiter(Arbiter):
    """SIGHUP reloads the index inside every worker (model kept, no request dropped), rather than gunicorn's
    respawn of all workers, which would leave the port without a ready worker while they load the model."""

    def handle_hup(self) -> None:
        self.log.info("SIGHUP: reloading the index in every worker")
        self.kill_workers(signal.SIGHUP)


def _post_worker_init(worker) -> None:
    from qa.reload import install_sighup

    install_sighup(worker.wsgi)


def _child_exit(server, worker) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # its live gauges stop counting


class _GunicornApp(BaseApplication):
    def __init__(self, overrides: dict, options: dict) -> None:
        self._overrides = overrides
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from qa.api import create_app
        from qa.errors import QAError

        try:
            return create_app(self._overrides)
        except QAError as exc:  # a missing model, a bad index: one line, and gunicorn stops ("App failed to load")
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(Arbiter.APP_LOAD_ERROR)

    def run(self) -> None:
        _ReloadingArbiter(self).run()


def gunicorn_options(host: str, port: int, workers: int, threads: int, settings: dict | None = None) -> dict:
    settings = settings or load_settings()
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "qa.server.JsonErrorWorker",
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,  # the app writes its own access log, without query strings
        "errorlog": "-",
        "loglevel": "info",
        # Loading per worker (no preload) keeps torch's thread pools out of fork().
        "preload_app": False,
        # gunicorn 27's control socket sits at one fixed path per user: two servers would fight over it.
        "control_socket_disable": True,
        # Set on purpose and documented: the same limits the app enforces (qa.limits).
        "limit_request_line": settings["MAX_REQUEST_LINE"],
        "limit_request_fields": settings["MAX_HEADERS"],
        "limit_request_field_size": settings["MAX_HEADER_BYTES"],
        "post_worker_init": _post_worker_init,
        "child_exit": _child_exit,
    }


def metrics_dir() -> tuple[Path, bool]:
    """An empty directory for the workers' metric files, and whether it is ours to remove at exit.

    PROMETHEUS_MULTIPROC_DIR when set (its *.db files are deleted: old workers' counts would add up with
    this server's), else a private temporary directory."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="qa-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)  # before any worker imports prometheus_client
    return path, True


def serve(overrides: dict, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, threads: int = 4) -> int:
    directory, owned = metrics_dir()
    try:
        _GunicornApp(overrides, gunicorn_options(host, port, workers, threads, load_settings(overrides))).run()
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
    return 0
