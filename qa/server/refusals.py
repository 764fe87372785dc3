"""What the server layer sends when it answers a connection itself, before or instead of the app: a JSON error from
the one table of error codes, with a new X-Request-ID, and the same access-log line as the app's."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from qa.errors import ErrorCode

access_log = logging.getLogger("qa.access")


def refusal(error: ErrorCode, message: str) -> bytes:
    """The whole HTTP response (it closes the connection), logged as the app logs a request. Method and path are
    left out: unknown or unparsed, and a request line can hold a patient's question."""
    request_id = uuid.uuid4().hex  # the request's own X-Request-ID was never parsed
    access_log.info(json.dumps({
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": request_id,
        "method": None, "path": None, "status": error.status, "error": error.code}))
    body = json.dumps(error.body(message)).encode()
    head = (f"HTTP/1.1 {error.status} {error.reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nX-Request-ID: {request_id}\r\n"
            "\r\n").encode("latin-1")
    return head + body
