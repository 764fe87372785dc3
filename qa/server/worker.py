"""The gunicorn worker: gthread that buffers whole requests before a thread serves them and lingers on kept-alive
connections, and answers gunicorn's own errors (before a request reaches Flask) in the API's JSON shape, from the
one table of error codes."""

from __future__ import annotations

from gunicorn.http import errors as http_errors

from qa.errors import ERRORS, ErrorCode
from qa.server.buffering import BufferingThreadWorker
from qa.server.lingering import LingeringThreadWorker
from qa.server.refusals import refusal

__all__ = ["BufferingThreadWorker", "JsonErrorWorker", "LingeringThreadWorker", "error_for"]


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


class JsonErrorWorker(BufferingThreadWorker):
    """The service's worker: gthread that reads every request whole in its event loop before a thread serves it,
    lingers on kept-alive connections (qa.server.buffering, qa.server.lingering), and whose own errors use the
    API's JSON shape, never an HTML page, with a log line that names the error class only: a request line can hold
    a patient's question."""

    def handle_error(self, req, client, addr, exc) -> None:
        error, message = error_for(exc, self.cfg)
        if error.status >= 500:
            self.log.error("error handling a request: %s", type(exc).__name__)
        try:
            client.sendall(refusal(error, message))
        except OSError:
            pass
