"""Readings spoken aloud and typed as words: "38 point 5", "thirty eight point five", "a hundred and one"."""

from __future__ import annotations

import re

_SPOKEN_DECIMAL = re.compile(r"\b(\d+) point (\d)\b", re.IGNORECASE)
_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                      "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_WORD = "|".join(sorted([*_UNITS, *_TENS, "hundred"], key=len, reverse=True))
_DIGIT = "|".join(_UNITS)
# Number words that read as a value: a tens word or "hundred" in them, or a decimal point after them.
_SPOKEN_NUMBER = re.compile(rf"\b((?:a\s+)?(?:{_WORD})(?:[\s-]+(?:and\s+)?(?:{_WORD}))*)(?:\s+point\s+({_DIGIT}))?\b",
                            re.IGNORECASE)


def _spoken_number(match: re.Match) -> str:
    words, decimal = re.split(r"[\s-]+", match.group(1).lower()), match.group(2)
    if not decimal and not any(w in _TENS or w == "hundred" for w in words):
        return match.group(0)  # "one seizure", "two days": leave small counts as words
    value = 0
    for word in words:
        if word == "hundred":
            value = (value or 1) * 100
        elif word not in ("a", "and"):
            value += _TENS.get(word, _UNITS.get(word, 0))
    return f"{value}.{_UNITS[decimal.lower()]}" if decimal else str(value)


def spoken_decimals(text: str) -> str:
    """ "38 point 5", "thirty eight point five" and "a hundred and one" as 38.5 and 101: a reading read aloud."""
    return _SPOKEN_DECIMAL.sub(r"\1.\2", _SPOKEN_NUMBER.sub(_spoken_number, text))
