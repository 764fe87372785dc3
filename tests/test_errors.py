"""One table of error codes: every code the code raises is in it, and every layer answers from it."""

from __future__ import annotations

import ast

import pytest

from qa.errors import BY_STATUS, ERROR_CODES, ERRORS
from tests.support import ROOT


def _raised_codes() -> set[str]:
    """The code of every ``InputError("code", ...)`` written anywhere in the package."""
    codes = set()
    for path in (ROOT / "qa").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InputError" and node.args:
                first = node.args[0]
                assert isinstance(first, ast.Constant), f"{path}: an InputError code must be a literal"
                codes.add(first.value)
    return codes


def test_every_raised_code_is_in_the_table():
    raised = _raised_codes()
    assert raised and raised <= set(ERRORS), sorted(raised - set(ERRORS))


def test_codes_are_unique_and_each_status_has_one_reason():
    assert len(ERRORS) == len(ERROR_CODES)
    reasons = {}
    for error in ERROR_CODES:
        assert reasons.setdefault(error.status, error.reason) == error.reason, error.code
    assert {status: error.code for status, error in BY_STATUS.items()}[400] == "bad_request"


@pytest.mark.parametrize("path, method, status, code", [
    ("/nowhere", "GET", 404, "not_found"),
    ("/api/search/batch", "GET", 405, "method_not_allowed"),
    ("/api/passages/nope", "GET", 404, "passage_not_found"),
    ("/api/search", "GET", 400, "missing_query"),
])
def test_the_app_answers_with_the_table_entry(client, path, method, status, code):
    response = client.open(path, method=method)
    assert response.status_code == status == ERRORS[code].status
    assert response.get_json()["error"]["code"] == code


def test_the_gunicorn_layer_answers_with_the_same_table():
    from types import SimpleNamespace

    from gunicorn.http import errors as http_errors

    from qa.server.worker import error_for

    cfg = SimpleNamespace(limit_request_line=8190, limit_request_fields=100, limit_request_field_size=8190)
    cases = {http_errors.LimitRequestLine(9000, 8190): "uri_too_long",
             http_errors.LimitRequestHeaders("too many"): "headers_too_large",
             http_errors.InvalidRequestLine("x"): "bad_request",
             http_errors.UnsupportedTransferCoding("gzip"): "not_implemented"}
    for exc, code in cases.items():
        error, message = error_for(exc, cfg)
        assert error is ERRORS[code]
        assert error.body(message) == {"error": {"code": code, "message": message}}
    assert "8190" in error_for(http_errors.LimitRequestLine(9000, 8190), cfg)[1]


def test_no_qa_setting_is_read_outside_settings():
    """Every QA_* variable goes through qa/settings.py (the one place with defaults, types and minimums)."""
    offenders = []
    for path in (ROOT / "qa").rglob("*.py"):
        if path.name == "settings.py" and path.parent.name == "qa":
            continue
        text = path.read_text(encoding="utf-8")
        for marker in ('environ.get("QA_', "environ['QA_", 'environ["QA_', 'getenv("QA_'):
            if marker in text:
                offenders.append(f"{path.relative_to(ROOT)}: {marker}")
    assert offenders == []
