"""Where a request ends in the bytes received so far (qa.server.framing), decided without a server;
tests/test_slow_clients.py runs the real one."""

from __future__ import annotations

import pytest

from qa.server.framing import FramingLimits, Phase, RequestFramer
from qa.settings import DEFAULTS

LIMITS = FramingLimits.from_settings(DEFAULTS)


def fed(*chunks: bytes) -> RequestFramer:
    framer = RequestFramer(LIMITS)
    for chunk in chunks:
        framer.feed(chunk)
    return framer


def test_a_request_is_ready_only_once_its_head_is_whole():
    framer = fed(b"GET /api/search?q=fever HTTP/1.1\r\n", b"Host: x\r\n")
    assert framer.phase is Phase.HEAD
    assert framer.feed(b"\r\n") is Phase.READY
    request, following = framer.take()
    assert request == b"GET /api/search?q=fever HTTP/1.1\r\nHost: x\r\n\r\n"
    assert following.phase is Phase.IDLE and not framer.close_after


def test_a_body_is_waited_for_to_its_declared_length():
    framer = fed(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"q\":")
    assert framer.phase is Phase.BODY and framer.body_received == 5
    framer.feed(b" " * 94)
    assert framer.phase is Phase.BODY
    assert framer.feed(b"}") is Phase.READY


def test_a_chunked_body_is_whole_at_its_last_chunk():
    framer = fed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert framer.phase is Phase.BODY
    assert framer.feed(b"0\r\n\r\n") is Phase.READY


def test_pipelined_requests_are_taken_one_at_a_time():
    framer = fed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HT")
    first, framer = framer.take()
    assert first.startswith(b"GET /a ") and framer.phase is Phase.READY
    second, framer = framer.take()
    assert second.startswith(b"GET /b ") and framer.phase is Phase.HEAD and framer.data == b"GET /c HT"


def test_the_client_waiting_for_100_continue_is_noticed():
    framer = fed(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert framer.phase is Phase.BODY and framer.expects_continue


@pytest.mark.parametrize("data", [
    b"GET /" + b"x" * 9000,  # a request line over the limit, with no end in sight
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"y" * (LIMITS.max_head_bytes + 10),  # a head over every limit
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4194305\r\n\r\n{",  # a body over QA_MAX_BODY_BYTES, declared
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\nHost: x\r\n\r\n",  # malformed
])
def test_a_request_certain_to_be_refused_is_handed_over_at_once_and_closes_the_connection(data):
    """gunicorn's parser or the app answers it (414, 431, 413, 400): no waiting for more of it."""
    framer = fed(data)
    assert framer.phase is Phase.READY and framer.close_after
    request, following = framer.take()
    assert request == data and following is None


def test_a_chunked_body_past_the_limit_is_handed_over():
    small = FramingLimits(max_request_line=8190, max_head_bytes=100_000, max_body_bytes=10)
    framer = RequestFramer(small, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n")
    assert framer.phase is Phase.BODY
    framer.feed(b"8\r\n12345678\r\n")
    assert framer.phase is Phase.READY and framer.close_after
