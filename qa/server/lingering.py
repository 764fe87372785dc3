"""The serve worker's linger: the thread that answered a kept-alive connection serves its next request itself."""

from __future__ import annotations

import select
import threading

from gunicorn.workers.gthread import ThreadWorker

from qa.settings import load_settings


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
