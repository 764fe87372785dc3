"""Request validation shared by the HTTP API and the CLI; errors name the problem and the limit."""

from __future__ import annotations

from qa.errors import InputError


def parse_query(value: object, max_chars: int, name: str = "q") -> str:
    if value is None:
        raise InputError("missing_query", f"'{name}' is required: the question to search for")
    if not isinstance(value, str):
        raise InputError("invalid_query", f"'{name}' must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise InputError("invalid_query", f"'{name}' must not contain NUL characters")
    if not value.strip():
        raise InputError("empty_query", f"'{name}' must not be empty or only whitespace")
    if len(value) > max_chars:
        raise InputError("query_too_long", f"'{name}' is {len(value)} characters long; the limit is {max_chars}")
    return value


def parse_k(value: object, default: int, max_k: int) -> int:
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():  # JSON has one number type: 3.0 is the integer 3
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError("invalid_k", f"'k' must be an integer from 1 to {max_k}")
    try:
        k = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        raise InputError("invalid_k", f"'k' must be an integer from 1 to {max_k}, not {value!r}") from None
    if not 1 <= k <= max_k:
        raise InputError("invalid_k", f"'k' must be from 1 to {max_k}, not {k}")
    return k


def parse_flag(value: object, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise InputError("invalid_parameter", f"'{name}' must be true or false, not {value!r}")
