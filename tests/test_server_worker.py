"""The serve worker's linger on kept-alive connections, decided without a server (tests/test_production.py runs
the real one)."""

from __future__ import annotations

import io
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from qa.errors import ModelError
from qa.server.worker import LingeringThreadWorker


def worker(linger_ms: float, queued: int = 0) -> LingeringThreadWorker:
    made = object.__new__(LingeringThreadWorker)  # the decision needs none of gunicorn's worker state
    made._linger_ms = linger_ms
    made._queued = queued
    made._queued_lock = threading.Lock()
    return made


@pytest.fixture()
def connection():
    ours, theirs = socket.socketpair()
    parser = SimpleNamespace(unreader=SimpleNamespace(buf=io.BytesIO()))
    conn = SimpleNamespace(sock=ours, is_http2=False, parser=parser)
    yield conn, theirs
    ours.close()
    theirs.close()


def test_a_request_that_comes_within_the_linger_is_served_by_the_same_thread(connection):
    conn, client = connection
    threading.Timer(0.01, client.sendall, [b"GET / HTTP/1.1\r\n\r\n"]).start()
    assert worker(linger_ms=1000)._next_request_comes(conn)


def test_without_a_request_the_thread_stops_waiting_after_the_linger(connection):
    conn, _ = connection
    started = time.monotonic()
    assert not worker(linger_ms=50)._next_request_comes(conn)
    assert 0.04 <= time.monotonic() - started < 1.0


def test_the_thread_does_not_wait_while_another_connection_is_queued(connection):
    conn, client = connection
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert not worker(linger_ms=1000, queued=1)._next_request_comes(conn)


def test_a_pipelined_request_already_read_is_served_at_once(connection):
    conn, _ = connection
    conn.parser.unreader.buf.write(b"GET / HTTP/1.1\r\n\r\n")
    assert worker(linger_ms=1000)._next_request_comes(conn)


def test_a_linger_of_zero_is_plain_gthread(connection):
    conn, client = connection
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    conn.parser.unreader.buf.write(b"GET / HTTP/1.1\r\n\r\n")
    assert not worker(linger_ms=0)._next_request_comes(conn)


def test_http2_and_unparsed_connections_go_back_to_the_poller(connection):
    conn, client = connection
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert not worker(linger_ms=1000)._next_request_comes(SimpleNamespace(**{**vars(conn), "is_http2": True}))
    assert not worker(linger_ms=1000)._next_request_comes(SimpleNamespace(**{**vars(conn), "parser": None}))


def test_the_encoder_refuses_a_negative_spin():
    from qa.embedding.onnx_runtime import OnnxEncoder

    with pytest.raises(ModelError, match="QA_ENCODER_SPIN_US"):
        OnnxEncoder("model", "/nonexistent", spin_us=-1)
