"""Word-level matching for urgent detection: tokens, stemmed phrases in a window, misspellings and readings."""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from functools import cached_property

from qa.lexical import stem

_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[^\W\d_]+(?:['’][^\W\d_]+)*")
NUMBER = "#"  # a pattern word that matches any number
GAP = "..."  # in a cue phrase: up to MAX_GAP other words
MAX_GAP = 4
SPELL_MIN_LENGTH = 4  # shorter words have too many close neighbours to correct safely
SPELL_SCORE = 80.0  # rapidfuzz ratio (0-100) a correction must reach
COMMON_ZIPF = 3.0  # a word this common in English is a real word, never a misspelling (wordfreq's Zipf scale)
_CLAUSE_END = re.compile(r"[.!?;:\n]")  # what ends a sentence or clause between two words


def plain(word: str) -> str:
    """Lower case without apostrophes, so "won't", "won’t" and "wont" are one word."""
    return word.casefold().replace("'", "").replace("’", "")


@dataclass(frozen=True)
class Token:
    text: str  # plain form
    stem: str
    number: float | None
    start: int  # character offsets in the question
    end: int


def _number(word: str) -> float | None:
    """The value of a written number ("38.5", "38,5"); None for a word, or for digits Python cannot read as a
    number (superscripts and other Unicode digits)."""
    if not word[0].isdigit():
        return None
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None


def tokenize(text: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        word = plain(match.group())
        number = _number(word)
        tokens.append(Token(word, word if number is not None else stem(word), number, match.start(), match.end()))
    return tokens


class Sentence:
    """A question's tokens, with each pattern's positions looked up once (a dozen concepts share words)."""

    def __init__(self, text: str, tokens: list[Token], negations: frozenset[str] = frozenset(),
                 negation_window: int = 3, not_negating: tuple[str, ...] = ()) -> None:
        self.text = text
        self.tokens = tokens
        # "hasn't stopped bleeding", "not getting better": a negated stop or improvement affirms the symptom.
        self._negators = [i for i, token in enumerate(tokens) if token.text in negations
                          and not (i + 1 < len(tokens) and tokens[i + 1].text.startswith(not_negating))]
        self._negation_window = negation_window
        self._by_stem: dict[str, list[int]] = {}
        for i, token in enumerate(tokens):
            self._by_stem.setdefault(token.stem, []).append(i)
        self._numbers = [i for i, token in enumerate(tokens) if token.number is not None]
        self.words = frozenset(self._by_stem) | ({NUMBER} if self._numbers else frozenset())  # for quick misses
        self.texts = frozenset(token.text for token in tokens)
        self._sorted_texts = sorted(self.texts)
        self._cache: dict[str, list[int]] = {}
        # Each token's clause: a new one starts after . ! ? ; : or a line break between two words.
        self.clause = []
        for i, token in enumerate(tokens):
            gap = text[tokens[i - 1].end:token.start] if i else ""
            self.clause.append((self.clause[-1] + bool(_CLAUSE_END.search(gap))) if i else 0)

    def same_clause(self, first: int, last: int) -> bool:
        return self.clause[first] == self.clause[last]

    def negator_before(self, position: int) -> int | None:
        """A negation word ("no fever", "without any pain") up to the window before ``position``, same clause."""
        for i in self._negators:
            if 0 < position - i <= self._negation_window and self.same_clause(i, position):
                return i
        return None

    def has_prefix(self, prefix: str) -> bool:
        """Whether any word starts with ``prefix``: one binary search, for the many patterns that miss."""
        at = bisect.bisect_left(self._sorted_texts, prefix)
        return at < len(self._sorted_texts) and self._sorted_texts[at].startswith(prefix)

    def positions(self, pattern: str) -> list[int]:
        if pattern == NUMBER:
            return self._numbers
        if not pattern.endswith("*"):
            return self._by_stem.get(pattern, [])
        found = self._cache.get(pattern)
        if found is None:
            prefix = pattern[:-1]
            found = self._cache[pattern] = [i for i, t in enumerate(self.tokens) if t.text.startswith(prefix)]
        return found


@dataclass(frozen=True)
class Phrase:
    """One phrase of the data file: its words as stems, ``prefix*``, ``#`` (a number) or ``...`` (a gap)."""

    text: str
    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Phrase:
        patterns = []
        for word in text.split():
            if word in (GAP, NUMBER):
                patterns.append(word)
                continue
            word = plain(word.strip(".,;:!?\"()"))
            if word:
                patterns.append(word if word.endswith("*") else stem(word))
        if not [p for p in patterns if p != GAP] or GAP in (patterns[0], patterns[-1]):
            raise ValueError(f"phrase {text!r} needs words, and '...' only between words")
        return cls(text, tuple(patterns))

    @cached_property  # read for every phrase of every concept on every question
    def words(self) -> tuple[str, ...]:
        return tuple(p for p in self.patterns if p != GAP)

    def any_order(self, sentence: Sentence) -> list[tuple[int, int]]:
        """(first, last) token positions where all the phrase's words occur, in any order, close together."""
        positions = []
        for word in self.words:  # most phrases miss on their first word: stop there
            found = sentence.positions(word)
            if not found:
                return []
            positions.append(found)
        if len(positions) == 1:
            return [(i, i) for i in positions[0]]
        slack = len(self.words) + 1  # "lips blue" also matches "blue lips" and "lips are blue"
        found = []
        for combo in itertools.product(*positions):
            if len(set(combo)) == len(combo) and max(combo) - min(combo) <= slack:
                found.append((min(combo), max(combo)))
        return found

    def in_order(self, sentence: Sentence) -> list[tuple[int, int]]:
        """(first, last) positions where the words occur in order, adjacent except across a ``...`` gap."""
        if not sentence.positions(self.patterns[0]):  # most cues miss on their first word
            return []
        sets = [set(sentence.positions(p)) if p != GAP else None for p in self.patterns]
        found = []
        for start in sets[0]:
            end = self._match_from(sets, start, 0)
            if end is not None:
                found.append((start, end))
        return sorted(found)

    def _match_from(self, sets: list, position: int, index: int) -> int | None:
        if sets[index] is None:  # a gap: skip up to MAX_GAP words
            for skip in range(MAX_GAP + 1):
                end = self._match_from(sets, position + skip, index + 1)
                if end is not None:
                    return end
            return None
        if position not in sets[index]:
            return None
        return position if index == len(sets) - 1 else self._match_from(sets, position + 1, index + 1)


class FirstWords:
    """Which of many items could match a sentence, judged by the words one of them must start with: most
    questions hold none of the hundreds of first words, so most items are never tried."""

    def __init__(self, firsts: list[tuple[str, ...]]) -> None:
        self._exact: dict[str, list[int]] = {}
        self._prefixes: dict[str, list[int]] = {}
        for item, words in enumerate(firsts):
            for word in dict.fromkeys(words):
                if word.endswith("*"):
                    self._prefixes.setdefault(word[:-1], []).append(item)
                else:
                    self._exact.setdefault(word, []).append(item)
        self._all_prefixes = tuple(self._prefixes)

    def candidates(self, sentence: Sentence) -> list[int]:
        """The items, in their original order, one of whose first words the sentence has."""
        found = {item for word in sentence.words & self._exact.keys() for item in self._exact[word]}
        # One C-level test per word first: few words start with any of the prefixes.
        starting = [text for text in sentence.texts if text.startswith(self._all_prefixes)]
        found.update(item for prefix, items in self._prefixes.items()
                     if any(text.startswith(prefix) for text in starting) for item in items)
        return sorted(found)


class Speller:
    """Corrects a misspelt word toward the words of the data file ("siezure" -> seizure, "bleding" -> bleeding).

    Only words unknown to general English are corrected, so a real word is never turned into a symptom.
    """

    def __init__(self, words: list[str]) -> None:
        words = [plain(w) for w in words if w.rstrip("*").isalpha()]
        # A prefix such as "bleed*" stands for its usual forms: "bleding" is closest to "bleeding".
        self._prefixes = tuple(w[:-1] for w in words if w.endswith("*"))
        forms = [f for w in words for f in ([w[:-1], w[:-1] + "ing", w[:-1] + "ed", w[:-1] + "s"]
                                            if w.endswith("*") else [w])]
        self._choices = sorted({w for w in forms if len(w) >= SPELL_MIN_LENGTH})
        self._stems = {stem(w) for w in self._choices}

    def correct(self, tokens: list[Token]) -> tuple[list[Token], dict[str, str]]:
        from qa.vocabulary import english_zipf

        corrected, changes = [], {}
        for token in tokens:
            word = token.text
            if (token.number is None and len(word) >= SPELL_MIN_LENGTH and word.isalpha()
                    and token.stem not in self._stems and not word.startswith(self._prefixes)
                    and english_zipf(word) < COMMON_ZIPF):
                better = self._closest(word)
                if better:
                    changes[word] = better
                    token = Token(better, stem(better), None, token.start, token.end)
            corrected.append(token)
        return corrected, changes

    def _closest(self, word: str) -> str | None:
        from rapidfuzz import fuzz, process

        match = process.extractOne(word, self._choices, scorer=fuzz.ratio, score_cutoff=SPELL_SCORE)
        return match[0] if match else None


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
