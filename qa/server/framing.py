"""Where one HTTP/1.1 request ends in the bytes a connection has sent so far, found by h11 without any I/O.

The worker's event loop feeds each connection's bytes here as they arrive and hands the request to a thread only
once it is whole (request line, headers and body), or once it is certain to be refused: over a limit or not
HTTP/1.1. gunicorn's own parser then parses exactly those bytes again in the thread, so every limit and error is
still gunicorn's (answered as JSON by the worker); h11 only says where the request ends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import h11


class Phase(enum.Enum):
    IDLE = "idle"  # no byte of a request yet
    HEAD = "head"  # the request line and headers are arriving
    BODY = "body"  # the headers are complete; the body is arriving
    READY = "ready"  # whole, or certain to be refused: a thread may serve it


@dataclass(frozen=True)
class FramingLimits:
    max_request_line: int
    max_head_bytes: int  # request line, every header line and their line ends
    max_body_bytes: int

    @classmethod
    def from_settings(cls, settings: dict) -> FramingLimits:
        line, fields, field = settings["MAX_REQUEST_LINE"], settings["MAX_HEADERS"], settings["MAX_HEADER_BYTES"]
        return cls(max_request_line=line, max_head_bytes=line + 2 + fields * (field + 2) + 2,
                   max_body_bytes=settings["MAX_BODY_BYTES"])


class RequestFramer:
    """The bytes of one connection since its last request ended, and whether they hold a whole request yet.

    ``take()`` gives the request's bytes to the thread that serves it and keeps what follows (a pipelined next
    request). ``close_after`` says the connection cannot carry another request: the request was refused before its
    body was read, or was not HTTP/1.1 that h11 could frame, so where the next one would start is unknown."""

    def __init__(self, limits: FramingLimits, data: bytes = b"") -> None:
        self.limits = limits
        self.data = bytearray()
        self.phase = Phase.IDLE
        self.request_length = 0  # bytes of ``data`` that make the request, once READY
        self.body_received = 0
        self.expects_continue = False  # the client waits for "100 Continue" before it sends the body
        self.close_after = False
        self._h11: h11.Connection | None = None  # made at the first byte: an idle connection never needs one
        if data:
            self.feed(data)

    def feed(self, chunk: bytes) -> Phase:
        """Add bytes read from the socket and say where the request stands. (A peer that closes before its
        request is whole is the caller's to close: there is nothing to answer.)"""
        self.data += chunk
        if self.phase is Phase.READY:
            return self.phase
        if self.phase is Phase.IDLE:
            self.phase = Phase.HEAD
            self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes)
        self._h11.receive_data(chunk)
        try:
            self._advance()
        except h11.RemoteProtocolError:
            # Malformed, or over h11's head limit: gunicorn's parser gives its own (JSON) answer for these bytes.
            self._refuse()
        return self.phase

    def take(self) -> tuple[bytes, RequestFramer | None]:
        """The ready request's bytes, and a framer holding what came after them (None once the connection is done)."""
        request = bytes(self.data[:self.request_length])
        if self.close_after:
            return request, None
        return request, RequestFramer(self.limits, bytes(self.data[self.request_length:]))

    def _advance(self) -> None:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                if self.phase is Phase.HEAD and self._request_line_too_long():
                    self._refuse()
                return
            if isinstance(event, h11.Request):
                self.phase = Phase.BODY
                length = _header(event, b"content-length")
                if length is not None and length.isdigit() and int(length) > self.limits.max_body_bytes:
                    self._refuse()  # the app answers 413 from Content-Length, without waiting for the body
                    return
                self.expects_continue = (event.http_version == b"1.1"
                                         and (_header(event, b"expect") or b"").lower() == b"100-continue")
            elif isinstance(event, h11.Data):
                self.body_received += len(event.data)
                if self.body_received > self.limits.max_body_bytes:  # chunked, past the limit: the app says 413
                    self._refuse()
                    return
            elif isinstance(event, h11.EndOfMessage):
                self.phase = Phase.READY
                self.request_length = len(self.data) - len(self._h11.trailing_data[0])
                return
            else:  # PAUSED: h11 waits for a response it will never see; the request ended above
                return

    def _request_line_too_long(self) -> bool:
        limit = self.limits.max_request_line + 2
        return len(self.data) > limit and b"\n" not in self.data[:limit]

    def _refuse(self) -> None:
        """Hand over everything received: gunicorn or the app refuses it, and the connection closes after."""
        self.phase = Phase.READY
        self.request_length = len(self.data)
        self.close_after = True


def _header(event: h11.Request, name: bytes) -> bytes | None:
    for key, value in event.headers:
        if key == name:
            return value
    return None
