"""The gunicorn worker: gthread that lingers on kept-alive connections, and answers gunicorn's own errors (before a
request reaches Flask) in the API's JSON shape, from the one table of error codes."""

from __future__ import annotations

import json
import logging
import select
import threading
import uuid
from datetime import UTC, datetime

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from qa.errors import ERRORS, ErrorCode
from qa.settings import load_settings


def error_for(exc: Exception, cfg) -> tuple[ErrorCode, str]:
    """The error code and message for an exception gunicorn raised while reading a request."""
    if isinstance(exc, (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName,
                        http_errors.ConfigurationProblem)):  # the app's or the setup's fault, not the client's
        error = ERRORS["internal_error"]
        return error, error.text()
    if isinstance(exc, http_errors.LimitRequestLine):
        error = ERRORS["uri_too_long"]
        return error, error.text(max_request_line=cfg.limit_request_line)
    if isinstance(exc, http_errors.LimitRequestHeaders):
        error = ERRORS["headers_too_large"]
        return error, error.text(detail=f"at most {cfg.limit_request_fields} headers of at most "
                                        f"{cfg.limit_request_field_size} bytes each")
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        error = ERRORS["not_implemented"]
        return error, error.text()
    if isinstance(exc, http_errors.ParseException) or isinstance(exc, (http_errors.NoMoreData, ValueError)):
        error = ERRORS["bad_request"]
        return error, error.text()
    error = ERRORS["internal_error"]
    return error, error.text()


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
        error, message = error_for(exc, self.cfg)
        status = error.status
        request_id = uuid.uuid4().hex  # the request's own X-Request-ID was never parsed
        if status >= 500:
            self.log.error("error handling a request: %s", type(exc).__name__)
        # The same access-log line as the app's; method and path are unknown or unparsed, so left out.
        logging.getLogger("qa.access").info(json.dumps({
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": request_id,
            "method": None, "path": None, "status": status, "error": error.code}))
        body = json.dumps(error.body(message)).encode()
        head = (f"HTTP/1.1 {status} {error.reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nX-Request-ID: {request_id}\r\n"
                "\r\n").encode("latin-1")
        try:
            client.sendall(head + body)
        except OSError:
            pass
