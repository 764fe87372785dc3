"""Readings in a question: temperatures in °C or °F, saturation, heart rate, pain scores and blood pressure, written
as digits or spoken as words ("38 point 5", "thirty eight point five", "a hundred and one")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.urgent.matching import NUMBER, Phrase, Sentence, Token

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


@dataclass(frozen=True)
class Reading:
    """A measured value found in the question, such as a temperature."""

    rule: str
    value: float
    unit: str
    position: int
    over: bool  # past the rule's limit


def temperature_unit(text: str, token: Token) -> tuple[str | None, bool]:
    """'C' or 'F' from the unit written after the number, or from its range when no unit is given; and
    whether a unit or degree sign was written."""
    after = re.sub(r"^\s*(°|º|degrees?|degs?)?\s*", "", text[token.end:token.end + 16].casefold())
    written = after != text[token.end:token.end + 16].casefold().lstrip()
    if re.match(r"(c|celsius|centigrade)\b", after):
        return "C", True
    if re.match(r"(f|fahrenheit|farenheit)\b", after):
        return "F", True
    if 34.0 <= token.number <= 43.5:
        return "C", written
    if 93.0 <= token.number <= 110.0:
        return "F", written
    return None, written


@dataclass(frozen=True)
class NumberRule:
    """A value read from the question: a temperature (°C or °F), or a number under or over a limit."""

    name: str
    kind: str  # "temperature", "below" or "above"
    context: tuple[Phrase, ...]
    window: int
    limits: dict

    @classmethod
    def parse(cls, rule: dict) -> NumberRule:
        if rule.get("kind") not in ("temperature", "below", "above") or "name" not in rule or "context" not in rule:
            raise ValueError(f"number rule {rule!r} needs a name, context and kind temperature, below or above")
        limits = {k: float(v) for k, v in rule.items() if k in ("celsius_at_least", "fahrenheit_at_least",
                                                                    "below", "above", "min", "max")}
        limits["decimal_alone"] = bool(rule.get("decimal_alone", False))
        return cls(str(rule["name"]), rule["kind"], tuple(Phrase.parse(c) for c in rule["context"]),
                   int(rule.get("window", 6)), limits | {"unit": str(rule.get("unit", ""))})

    def readings(self, sentence: Sentence) -> list[Reading]:
        text, tokens = sentence.text, sentence.tokens
        found = []
        numbers = sentence.positions(NUMBER)
        if not numbers:
            return found
        near = {i for phrase in self.context for first, last in phrase.in_order(sentence) for i in (first, last)}
        for i in numbers:
            token = tokens[i]
            if _denominator(text, tokens, i):  # "10/10", "8 out of 10": the scale, not a reading
                continue
            close = any(abs(i - j) <= self.window for j in near)
            if self.kind == "temperature":
                unit, written = temperature_unit(text, token)
                # "he is 38.3": a decimal in the fever range is a temperature even with no word for it.
                alone = self.limits["decimal_alone"] and "." in token.text and (
                    37.5 <= token.number <= 43.5 or 99.5 <= token.number <= 110.0)
                if unit is None or not (close or written or alone):
                    continue
                limit = self.limits["celsius_at_least" if unit == "C" else "fahrenheit_at_least"]
                found.append(Reading(self.name, token.number, unit, i, token.number >= limit))
            elif close and self.limits.get("min", 0) <= token.number <= self.limits.get("max", 1e9):
                over = (token.number < self.limits["below"]) if self.kind == "below" \
                    else (token.number > self.limits["above"])
                found.append(Reading(self.name, token.number, self.limits["unit"], i, over))
        return found


def _denominator(text: str, tokens: list[Token], i: int) -> bool:
    """Whether the number at ``i`` is the scale of a score: written after "/" or "out of"."""
    if i and text[tokens[i - 1].end:tokens[i].start].strip() == "/":
        return True
    return i >= 2 and (tokens[i - 2].text, tokens[i - 1].text) == ("out", "of")
