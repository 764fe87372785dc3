"""Slow, idle and half-open clients against the real server (`python -m qa serve`, gunicorn, the service's worker):
they hold no thread, they get 408 and are closed at their deadlines, idle kept-alive connections are closed, and
the connection limit makes room or refuses, each counted in /metrics.

The hashing fake encoder keeps each server's start to seconds; deadlines are shortened where a test waits for one.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time

import pytest

from tests.support import Server
from tests.test_production import FAKE, assert_json_error, call

pytestmark = pytest.mark.slow

SECRET = "does+my+son+have+a+marmoset+relapse"
SLOW_HEAD = f"GET /api/search?q={SECRET} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n".encode()
SLOW_BODY = (b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100\r\n\r\n{\"q\":")


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def still_open(sock: socket.socket) -> bool:
    """Whether the server has neither closed nor answered this connection: nothing to read on it."""
    waiting = select.poll()
    waiting.register(sock, select.POLLIN)
    return not waiting.poll(0)


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (seconds from now)."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def metric(server, name: str) -> float:
    _, _, body = call(server, "GET", "/metrics")
    total = 0.0
    for row in body.decode().splitlines():
        if row.startswith(name + " ") or row.startswith(name + "{"):
            total += float(row.rsplit(" ", 1)[1])
    return total


def search_ok(server, query: str = "what+is+MRD") -> float:
    started = time.monotonic()
    status, _, body = call(server, "GET", f"/api/search?q={query}&k=3", timeout=10)
    assert status == 200 and "results" in json.loads(body)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from tests.support import copy_corpus

    return copy_corpus(tmp_path_factory, "slow-clients")


@pytest.fixture(scope="module")
def two_threads(tmp_path_factory, corpus):
    """One worker with two threads and the default deadlines (10 s for a head or a body)."""
    index_dir = tmp_path_factory.mktemp("slow-index") / "index"
    with Server("--index", str(index_dir), "--corpus", str(corpus), "--workers", "1", "--threads", "2",
                QA_MODEL=FAKE, startup_timeout=120) as running:
        running.index_dir = index_dir
        yield running
    assert "Traceback" not in running.log, running.log[-3000:]


@pytest.fixture(scope="module")
def short_deadlines(tmp_path_factory, corpus, two_threads):
    """Deadlines of one second, so that tests can wait for them."""
    with Server("--index", str(two_threads.index_dir), "--corpus", str(corpus), "--workers", "1", "--threads", "2",
                QA_MODEL=FAKE, QA_HEADER_TIMEOUT_S="1", QA_BODY_TIMEOUT_S="1", QA_KEEPALIVE_TIMEOUT_S="1",
                startup_timeout=120) as running:
        yield running
    assert "Traceback" not in running.log, running.log[-3000:]


# --------------------------------------------------------------------------- they hold no thread


def test_more_slow_and_idle_connections_than_threads_leave_searches_prompt(two_threads):
    """The issue: plain gthread stopped answering with as many slow connections as threads (here two)."""
    held = []
    try:
        held += [connect(two_threads) for _ in range(24)]  # idle: connected, nothing sent
        for _ in range(8):  # a request line and part of the headers
            sock = connect(two_threads)
            sock.sendall(SLOW_HEAD)
            held.append(sock)
        for _ in range(8):  # a POST that declared a 100-byte body and sent 5
            sock = connect(two_threads)
            sock.sendall(SLOW_BODY)
            held.append(sock)
        time.sleep(0.5)
        waits = []
        for n in range(20):
            waits.append(search_ok(two_threads, ["what+is+MRD", "central+line+care", "fever"][n % 3]))
            if n % 5 == 0:
                for sock in held[24:]:  # the slow ones keep sending, a line or a byte at a time
                    sock.sendall(b"X-More: 1\r\n" if sock in held[24:32] else b" ")
        assert max(waits) < 3.0, waits
        assert all(still_open(sock) for sock in held), "the slow clients were still being held"
        assert metric(two_threads, "qa_connections_open") >= len(held)
        # With the slow clients still held, a kept-alive client is answered request after request too.
        connection = http.client.HTTPConnection("127.0.0.1", two_threads.port, timeout=10)
        for _ in range(10):
            connection.request("GET", "/api/search?q=fever&k=1")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["results"]
        connection.close()
    finally:
        for sock in held:
            sock.close()


def test_a_client_waiting_for_100_continue_gets_it_before_it_sends_the_body(two_threads):
    body = json.dumps({"q": "central line care", "k": 2}).encode()
    with connect(two_threads) as sock:
        sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\n" + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(1000) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        reply, _ = read_until_closed(sock, 10)
    assert reply.startswith(b"HTTP/1.1 200") and reply.count(b"100 Continue") == 0
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["results"]


def test_metrics_show_connections_without_a_multiprocess_directory_given(two_threads):
    """qa serve chooses the metrics directory itself; prometheus-client must not be imported before it does."""
    search_ok(two_threads)
    assert metric(two_threads, "qa_http_requests_total") > 0
    assert metric(two_threads, "qa_connections_open") >= 1
    _, _, body = call(two_threads, "GET", "/metrics")
    for reason in ("keepalive_timeout", "header_timeout", "body_timeout", "send_timeout", "evicted"):
        assert f'qa_connections_closed_total{{reason="{reason}"}}' in body.decode()
    assert "qa_connections_refused_total" in body.decode()


# --------------------------------------------------------------------------- deadlines


def test_a_client_slow_to_send_its_headers_gets_408_and_is_closed(short_deadlines):
    closed_before = _closed(short_deadlines, "header_timeout")
    with connect(short_deadlines) as sock:
        sock.sendall(SLOW_HEAD)
        started = time.monotonic()
        for n in range(3):  # a header line now and then keeps no deadline from passing
            time.sleep(0.3)
            try:
                sock.sendall(f"X-Slow-{n}: 1\r\n".encode())
            except OSError:
                break
        reply, closed_in = read_until_closed(sock, 10)
    took = time.monotonic() - started
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout") and b"application/json" in head, reply[:300]
    assert b"Connection: close" in head and b"X-Request-ID: " in head
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "1 s" in error["message"]
    assert 0.9 <= took <= 1.0 + 1.0, took  # closed within its deadline plus one second
    assert _closed(short_deadlines, "header_timeout") == closed_before + 1
    time.sleep(0.3)
    logged = [json.loads(row) for row in short_deadlines.log.splitlines() if '"request_timeout"' in row]
    assert logged and logged[-1]["status"] == 408 and logged[-1]["path"] is None
    assert "marmoset" not in short_deadlines.log and "relapse" not in short_deadlines.log  # no query text logged


def test_a_client_slow_to_send_its_body_gets_408_and_is_closed(short_deadlines):
    closed_before = _closed(short_deadlines, "body_timeout")
    with connect(short_deadlines) as sock:
        sock.sendall(SLOW_BODY)
        started = time.monotonic()
        reply, _ = read_until_closed(sock, 10)
    took = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:300]
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"
    assert 0.9 <= took <= 1.0 + 1.0, took
    assert _closed(short_deadlines, "body_timeout") == closed_before + 1


def test_a_body_that_keeps_the_minimum_rate_may_take_longer_than_the_body_timeout(short_deadlines):
    """1 s plus a second per 500 bytes received: 1,500 bytes sent over about 1.8 s stay within it."""
    body = b'{"q": "central line care", "k": 1' + b" " * 1450 + b"}"  # JSON's own whitespace, not the query's
    with connect(short_deadlines) as sock:
        sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        started = time.monotonic()
        for start in range(0, len(body), 150):
            sock.sendall(body[start:start + 150])
            time.sleep(0.18)
        took = time.monotonic() - started
        reply, _ = read_until_closed(sock, 10)
    assert took > 1.5
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]


def test_an_idle_kept_alive_connection_is_closed_after_its_timeout(short_deadlines):
    closed_before = _closed(short_deadlines, "keepalive_timeout")
    with connect(short_deadlines) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        head, _, body = reply.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and b"close" not in head.lower()  # kept alive
        rest, closed_in = read_until_closed(sock, 10)
    assert rest == b"", "an idle connection is closed without a response"
    assert 0.8 <= closed_in <= 1.0 + 1.0, closed_in
    with connect(short_deadlines) as sock:  # a connection that never sends a byte: the same timeout
        rest, closed_in = read_until_closed(sock, 10)
    assert rest == b"" and 0.8 <= closed_in <= 2.0, closed_in
    assert _closed(short_deadlines, "keepalive_timeout") >= closed_before + 2


def _closed(server, reason: str) -> float:
    _, _, body = call(server, "GET", "/metrics")
    for row in body.decode().splitlines():
        if row.startswith(f'qa_connections_closed_total{{reason="{reason}"}}'):
            return float(row.rsplit(" ", 1)[1])
    return 0.0


# --------------------------------------------------------------------------- the connection limit


def test_at_the_connection_limit_an_idle_connection_makes_room_else_503(tmp_path, corpus, two_threads):
    with Server("--index", str(two_threads.index_dir), "--corpus", str(corpus), "--workers", "1", "--threads", "2",
                QA_MODEL=FAKE, QA_MAX_CONNECTIONS="6", startup_timeout=120) as limited:
        idle = [connect(limited) for _ in range(6)]
        time.sleep(0.3)
        search_ok(limited)  # the longest idle connection was closed to make room
        assert not still_open(idle[0])
        slow = []
        for _ in range(6):  # none idle now: every connection has part of a request
            sock = connect(limited)
            sock.sendall(SLOW_HEAD)
            slow.append(sock)
            time.sleep(0.1)  # its part is read before the next connection comes, which may evict only the idle
        time.sleep(0.3)
        status, headers, body = call(limited, "GET", "/healthz")
        assert_json_error(status, headers, body, 503, "too_many_connections")
        for sock in slow:
            sock.close()
        time.sleep(0.3)
        search_ok(limited)  # room again
        assert metric(limited, "qa_connections_refused_total") >= 1
        assert _closed(limited, "evicted") >= 1
        for sock in idle:
            sock.close()
    assert "Traceback" not in limited.log
