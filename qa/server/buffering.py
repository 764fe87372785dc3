"""The serve worker's event loop reads every request whole before a thread serves it, so that slow, idle and
half-open clients hold no thread.

Plain gthread gives each new connection to a pool thread, which blocks while it reads the request: as many slow
connections as there are threads stop a worker. Here the main thread's poller reads each connection without
blocking and asks h11 (qa.server.framing) whether its request is whole; only then does a thread parse it with
gunicorn's parser, run the app and write the response. Meanwhile every connection has a deadline:

- no request in progress (new, or kept alive after a response): ``QA_KEEPALIVE_TIMEOUT_S``, then closed silently;
- request line and headers: ``QA_HEADER_TIMEOUT_S`` from their first byte, then 408 and closed;
- body: ``QA_BODY_TIMEOUT_S`` after the headers, plus a second per ``QA_BODY_MIN_RATE`` bytes received, then 408;
- a response the client does not take: ``QA_SEND_TIMEOUT_S``, then closed by the thread.

At ``QA_MAX_CONNECTIONS`` a new connection closes the one idle the longest, or is refused with 503 when none is
idle. Every close and refusal is counted in /metrics (qa.server.connection_metrics). Closing waits for the client's
side without blocking (RFC 9112 section 9.6): gthread's graceful close blocks the event loop up to 2 s.
"""

from __future__ import annotations

import errno
import resource
import selectors
import socket
import time
from collections import OrderedDict
from functools import partial

from gunicorn.http.parser import RequestParser
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from qa.errors import ERRORS
from qa.server.connection_metrics import connection_metrics
from qa.server.framing import FramingLimits, Phase, RequestFramer
from qa.server.lingering import LingeringThreadWorker
from qa.server.refusals import refusal
from qa.settings import load_settings

READ_SIZE = 65536
ACCEPTS_PER_WAKE = 64  # a burst of new connections is accepted in one pass, not one per poll
ACCEPT_PAUSE_SECONDS = 0.1  # out of open files (it should not happen: QA_MAX_CONNECTIONS is fitted to the limit)
SWEEP_SECONDS = 0.2  # how often deadlines are checked: a slow client is closed at most this late
# Connections closed per pass at most. A thousand idle connections opened together expire together; closing them
# in one pass would hold the GIL for tens of milliseconds, and every request thread would wait behind it.
SWEEP_BATCH = 64
CLOSE_LINGER_SECONDS = 2.0  # after the last response, how long the client has to close its side
CLOSE_DRAIN_BYTES = 65536
RESERVED_FILES = 256  # open files a worker needs besides its connections: model, index, logs, pipes
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BufferedConn(TConn):
    """A client connection, the bytes of its request so far, and when each part of that request began."""

    def __init__(self, cfg, sock, client, server, limits: FramingLimits, now: float) -> None:
        super().__init__(cfg, sock, client, server)  # non-blocking
        self.initialized = True  # gthread's blocking first read never runs: the event loop reads
        self.data_ready = True
        self.framer: RequestFramer | None = RequestFramer(limits)
        self.idle_since = now
        self.head_since = now
        self.body_since = now
        self.continue_sent = False
        self.close_by: float | None = None  # closing: the client's side is awaited until then

    def receive(self, chunk: bytes, now: float) -> Phase:
        """Feed bytes read from the socket; note when the head and the body began."""
        before = self.framer.phase
        phase = self.framer.feed(chunk)
        if before is Phase.IDLE:
            self.head_since = now
        if phase is Phase.BODY and before is not Phase.BODY:
            self.body_since = now
            if self.framer.expects_continue and not self.continue_sent:
                self.continue_sent = True  # the client waits for it before it sends the body
                try:
                    self.sock.send(CONTINUE, socket.MSG_DONTWAIT)
                except OSError:
                    pass
        return phase


class BufferingThreadWorker(LingeringThreadWorker):
    """gthread whose event loop buffers whole requests and enforces the connection deadlines (module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        settings = load_settings()
        self._limits = FramingLimits.from_settings(settings)
        self._keepalive_timeout = settings["KEEPALIVE_TIMEOUT_S"]
        self._header_timeout = settings["HEADER_TIMEOUT_S"]
        self._body_timeout = settings["BODY_TIMEOUT_S"]
        self._body_min_rate = settings["BODY_MIN_RATE"]
        self._send_timeout = settings["SEND_TIMEOUT_S"]
        self._max_connections = self._configured_connections = settings["MAX_CONNECTIONS"]
        self._timeout_message = ERRORS["request_timeout"].text(
            header_timeout=self._header_timeout, body_timeout=self._body_timeout, body_min_rate=self._body_min_rate)
        # gthread stops accepting at its own limit, leaving clients in the listen backlog unanswered; this worker
        # accepts, then makes room or refuses, and counts it.
        self.worker_connections = 2**62
        self._idle: OrderedDict[int, BufferedConn] = OrderedDict()  # in the poller, no request yet; oldest first
        self._reading: dict[int, BufferedConn] = {}  # in the poller, part of a request received
        self._closing: dict[int, BufferedConn] = {}  # our side shut; waiting for the client's
        self._next_sweep = 0.0
        self._stopping_since: float | None = None
        self._accept_paused_until = 0.0

    # ------------------------------------------------------------------ the event loop (main thread)

    def init_process(self) -> None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft - RESERVED_FILES < self._max_connections:
            self._max_connections = max(1, soft - RESERVED_FILES)
            self.log.warning("open-file limit %s: at most %s connections per worker (QA_MAX_CONNECTIONS is %s)",
                             soft, self._max_connections, self._configured_connections)
        self._metrics = connection_metrics()
        super().init_process()

    def accept(self, listener) -> None:
        if self.cfg.is_ssl:  # TLS is read by the thread, as gthread does (qa serve never configures it)
            return super().accept(listener)
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                client, address = listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):  # out of files: pause, rather than spin on it
                    self.log.warning("cannot accept a connection: %s", exc.strerror)
                    self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE_SECONDS
                    self.set_accept_enabled(False)
                return  # EAGAIN: none left; ECONNABORTED: gone already
            now = time.monotonic()
            self.nr_conns += 1
            self._metrics.open.inc()
            conn = BufferedConn(self.cfg, client, address, listener.getsockname(), self._limits, now)
            if self.nr_conns > self._max_connections and not self._evict_idle():
                self._refuse(conn)
                continue
            self._watch(conn, now)

    def set_accept_enabled(self, enabled) -> None:
        if enabled and time.monotonic() < self._accept_paused_until:
            return  # gthread's loop asks again on its next pass
        super().set_accept_enabled(enabled)

    def _watch(self, conn: BufferedConn, now: float) -> None:
        """Wait in the poller for the rest of the connection's next request."""
        conn.sock.setblocking(False)
        if conn.framer.phase is Phase.IDLE:
            conn.idle_since = now
            self._idle[id(conn)] = conn
        else:
            self._reading[id(conn)] = conn
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _unwatch(self, conn: BufferedConn) -> None:
        self._idle.pop(id(conn), None)
        self._reading.pop(id(conn), None)
        self._closing.pop(id(conn), None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _on_readable(self, conn: BufferedConn, _sock) -> None:
        try:
            chunk = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client closed (or reset) before its request was whole: nothing to answer
            self._close(conn)
            return
        was_idle = conn.framer.phase is Phase.IDLE
        phase = conn.receive(chunk, time.monotonic())
        if phase is Phase.READY:
            self._unwatch(conn)
            self.enqueue_req(conn)
        elif was_idle:
            del self._idle[id(conn)]
            self._reading[id(conn)] = conn

    def wait_for_and_dispatch_events(self, timeout) -> None:
        """gthread's poll, woken for the next deadline sweep too."""
        now = time.monotonic()
        super().wait_for_and_dispatch_events(max(0.0, min(timeout, self._next_sweep - now)))
        now = time.monotonic()
        if now >= self._next_sweep:
            finished = self._sweep(now)
            self._next_sweep = now + SWEEP_SECONDS if finished else now  # more due: after the next poll

    def _sweep(self, now: float) -> bool:
        """Close connections past their deadlines, SWEEP_BATCH at most; whether none is left due."""
        budget = SWEEP_BATCH
        if not self.alive and self._stopping_since is None:
            self._stopping_since = now
        # Stopping: a kept-alive connection gets a short while for a request it may be sending already.
        stopped = self._stopping_since is not None and now >= self._stopping_since + STOP_KEEPALIVE_LINGER
        while self._idle and budget:
            conn = next(iter(self._idle.values()))
            if not stopped and conn.idle_since > now - self._keepalive_timeout:
                break  # the rest went idle later
            self._close(conn, "keepalive_timeout")
            budget -= 1
        for conn in list(self._reading.values()):
            if not budget:
                break
            if conn.framer.phase is Phase.HEAD:
                if now >= conn.head_since + self._header_timeout:
                    self._time_out(conn, "header_timeout")
                    budget -= 1
            elif now >= conn.body_since + self._body_timeout + conn.framer.body_received / self._body_min_rate:
                self._time_out(conn, "body_timeout")
                budget -= 1
        for conn in list(self._closing.values()):
            if not budget:
                break
            if now >= conn.close_by:
                self._close(conn)
                budget -= 1
        return budget > 0

    def _time_out(self, conn: BufferedConn, reason: str) -> None:
        """408 as JSON, if the client can still take it, then close (which unwatches it)."""
        self._metrics.closed.labels(reason).inc()
        try:
            conn.sock.send(refusal(ERRORS["request_timeout"], self._timeout_message), socket.MSG_DONTWAIT)
        except OSError:
            pass
        self._close_gracefully(conn)

    def _evict_idle(self) -> bool:
        if not self._idle:
            return False
        _, oldest = self._idle.popitem(last=False)
        self._close(oldest, "evicted")
        return True

    def _refuse(self, conn: BufferedConn) -> None:
        self._metrics.refused.inc()
        error = ERRORS["too_many_connections"]
        try:
            conn.sock.recv(READ_SIZE)  # what the client already sent: unread, closing would reset the connection
        except OSError:
            pass
        try:
            conn.sock.send(refusal(error, error.text()), socket.MSG_DONTWAIT)
        except OSError:
            pass
        self._close(conn)

    def _close_gracefully(self, conn: BufferedConn) -> None:
        """Shut our side, then wait (in the poller) for the client's, so the last response is not cut off by a
        reset; a client that keeps its side open is closed after CLOSE_LINGER_SECONDS."""
        self._unwatch(conn)
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
            if conn.sock.recv(CLOSE_DRAIN_BYTES) == b"":
                raise ConnectionError  # closed already
        except BlockingIOError:
            pass
        except OSError:
            self._close(conn)
            return
        conn.close_by = time.monotonic() + CLOSE_LINGER_SECONDS
        self._closing[id(conn)] = conn
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_closing_readable, conn))

    def _on_closing_readable(self, conn: BufferedConn, _sock) -> None:
        try:
            if conn.sock.recv(CLOSE_DRAIN_BYTES):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._close(conn)

    def _close(self, conn: BufferedConn, reason: str | None = None) -> None:
        self._unwatch(conn)
        if reason:
            self._metrics.closed.labels(reason).inc()
        self.nr_conns -= 1
        self._metrics.open.dec()
        conn.close()

    def finish_request(self, conn, fs) -> None:
        """Back from a thread: wait for the next request, or close."""
        if not isinstance(conn, BufferedConn):
            return super().finish_request(conn, fs)
        try:
            keepalive = fs.result() if not fs.cancelled() else False
        except Exception:
            keepalive = False
        if keepalive is not True or conn.framer is None:
            self._close_gracefully(conn)
        elif conn.framer.phase is Phase.READY:
            self.enqueue_req(conn)
        else:
            self._watch(conn, time.monotonic())

    # ------------------------------------------------------------------ serving (a pool thread)

    def handle(self, conn):
        if not isinstance(conn, BufferedConn):
            return super().handle(conn)
        with self._queued_lock:
            self._queued -= 1
        keepalive = self._serve_one(conn)
        while keepalive is True and self.alive:
            if conn.framer.phase is Phase.READY:  # pipelined: already read
                keepalive = self._serve_one(conn)
            elif conn.framer.phase is Phase.IDLE and self._next_request_comes(conn):
                if not self._read_now(conn):
                    return False
            else:  # the next request is not here, or not whole: the event loop waits for it
                break
        return keepalive

    def _serve_one(self, conn: BufferedConn) -> bool:
        request, conn.framer = conn.framer.take()
        conn.parser = RequestParser(self.cfg, [request], conn.client)  # gunicorn parses exactly these bytes
        keepalive = ThreadWorker.handle(self, conn)
        if conn.parser.unreader.buf.getvalue():  # gunicorn framed it otherwise than h11: where does the next start?
            return False
        return keepalive is True and conn.framer is not None

    def _read_now(self, conn: BufferedConn) -> bool:
        conn.sock.setblocking(False)  # what has arrived, no wait: the next serve makes it blocking again
        try:
            chunk = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        conn.receive(chunk, time.monotonic())
        return True

    def handle_request(self, req, conn):
        if isinstance(conn, BufferedConn):
            if conn.continue_sent:
                req._expected_100_continue = False  # sent by the event loop already
                conn.continue_sent = False
            conn.sock.settimeout(self._send_timeout)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:
            self._metrics.closed.labels("send_timeout").inc()
            return False
