"""Errors: the exceptions that carry a message meant for the person who caused them, and the one table of error
codes that every layer answers with (Flask, the gunicorn layer, the OpenAPI document and the rate limiter)."""

from __future__ import annotations

from dataclasses import dataclass


class QAError(Exception):
    """Base class: the message is complete and safe to show as is."""

    code = "error"


class CorpusError(QAError):
    code = "corpus_error"


class IndexLoadError(QAError):
    """The index is missing, corrupt, stale or built for another model."""

    code = "index_error"


class InputError(QAError):
    """A request or query file is malformed; ``code`` names what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self)}


class ModelError(QAError):
    code = "model_error"


@dataclass(frozen=True)
class ErrorCode:
    """One error a client can get: its HTTP status and reason, its stable code, and its message. ``message`` is
    a template filled with the request's limits where it names them; an input error's message is written where
    it is raised, naming the problem, and ``message`` only summarises it for the documentation."""

    code: str
    status: int
    reason: str
    message: str
    http: bool = True  # False: only the command line raises it (a query file, an argument), never the API

    def text(self, **values) -> str:
        return self.message.format(**values)

    def body(self, message: str | None = None, **values) -> dict:
        """The JSON error body every layer sends."""
        return {"error": {"code": self.code, "message": message if message is not None else self.text(**values)}}


ERROR_CODES: tuple[ErrorCode, ...] = (
    # 400: a request the app could parse, with a bad parameter (raised as InputError with its own message)
    ErrorCode("missing_query", 400, "Bad Request", "the query 'q' is missing"),
    ErrorCode("empty_query", 400, "Bad Request", "the query is empty or only whitespace"),
    ErrorCode("invalid_query", 400, "Bad Request", "the query is not a string, or holds a NUL character"),
    ErrorCode("query_too_long", 400, "Bad Request", "the query is over QA_MAX_QUERY_CHARS characters"),
    ErrorCode("invalid_k", 400, "Bad Request", "'k' is not an integer from 1 to QA_MAX_K"),
    ErrorCode("invalid_parameter", 400, "Bad Request", "a parameter has the wrong type or value"),
    ErrorCode("invalid_json", 400, "Bad Request", "the body is not JSON, or not a JSON object"),
    ErrorCode("invalid_queries", 400, "Bad Request", "a batch's 'queries' is not a list"),
    ErrorCode("too_many_queries", 400, "Bad Request", "a batch holds more than QA_MAX_BATCH queries"),
    # 400 from the server layer: a request that is not HTTP at all
    ErrorCode("bad_request", 400, "Bad Request", "the request is not valid HTTP/1.1"),
    ErrorCode("not_found", 404, "Not Found", "no such endpoint: {path}"),
    ErrorCode("passage_not_found", 404, "Not Found", "no passage with id {passage_id!r}"),
    ErrorCode("method_not_allowed", 405, "Method Not Allowed", "{method} is not allowed on {path}; allowed: {allowed}"),
    ErrorCode("request_timeout", 408, "Request Timeout", "the request was not received in time (headers within "
              "{header_timeout} s, a body within {body_timeout} s at {body_min_rate} bytes/s); send it again"),
    ErrorCode("body_too_large", 413, "Content Too Large",
              "request body is larger than the limit of {max_body_bytes} bytes"),
    ErrorCode("uri_too_long", 414, "URI Too Long", "the request line is longer than the limit of {max_request_line} "
              "bytes; send a long query with POST /api/search"),
    ErrorCode("rate_limited", 429, "Too Many Requests",
              "too many requests from this address (limit: {limit}); retry after Retry-After seconds"),
    ErrorCode("headers_too_large", 431, "Request Header Fields Too Large", "request headers are too large: {detail}"),
    ErrorCode("internal_error", 500, "Internal Server Error", "the server could not answer this request"),
    ErrorCode("not_implemented", 501, "Not Implemented", "this transfer coding is not supported"),
    ErrorCode("not_ready", 503, "Service Unavailable", "no index is loaded yet; retry shortly"),
    ErrorCode("too_many_connections", 503, "Service Unavailable",
              "the server has too many open connections; retry shortly"),
    # The command line's own input errors: one line on stderr and exit status 2, never an HTTP answer.
    ErrorCode("invalid_file", 400, "Bad Request", "a query, qrels or labelled file is missing or malformed",
              http=False),
    ErrorCode("invalid_arguments", 400, "Bad Request", "the command's arguments do not fit together", http=False),
    ErrorCode("invalid_compare", 400, "Bad Request", "--compare names neither an index nor a retrieval file",
              http=False),
)
ERRORS: dict[str, ErrorCode] = {error.code: error for error in ERROR_CODES}
# The code an HTTP status maps to when nothing more specific is known (an HTTP error raised by the framework).
BY_STATUS: dict[int, ErrorCode] = {ERRORS[code].status: ERRORS[code] for code in (
    "bad_request", "not_found", "method_not_allowed", "request_timeout", "body_too_large", "uri_too_long",
    "rate_limited", "headers_too_large", "internal_error", "not_implemented", "not_ready")}
