"""Word-level matching for the urgent rules: stemmed phrases in a window, concepts, negation and misspellings."""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from functools import cached_property

from qa.text import Speller, Token, plain, stem, tokens

NUMBER = "#"  # a pattern word that matches any number
GAP = "..."  # in a cue phrase: up to MAX_GAP other words
MAX_GAP = 4
_CLAUSE_END = re.compile(r"[.!?;:\n]")  # what ends a sentence or clause between two words


def tokenize(text: str) -> list[Token]:
    """The question's words and numbers (``qa.text.tokens``)."""
    return tokens(text)


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


@dataclass(frozen=True)
class Concept:
    """Fires when one phrase of every group occurs within ``window`` words of each other, or within
    ``clause_window`` words in the same sentence or clause."""

    name: str
    groups: tuple[tuple[Phrase, ...], ...]
    window: int
    clause_window: int = 0

    @cached_property
    def _openers(self) -> tuple[tuple[frozenset[str], tuple[str, ...]], ...]:
        """Per group, its phrases' first words (exact, and ``prefix*``): a group none of whose phrases can
        start in a question cannot match, and most concepts end there without looking further."""
        openers = []
        for group in self.groups:
            first = [phrase.words[0] for phrase in group]
            openers.append((frozenset(w for w in first if not w.endswith("*")),
                            tuple(w[:-1] for w in first if w.endswith("*"))))
        return tuple(openers)

    def match(self, sentence: Sentence) -> list[str] | None:
        """The phrases that matched, or None."""
        for exact, prefixes in self._openers:
            if exact.isdisjoint(sentence.words) and not any(map(sentence.has_prefix, prefixes)):
                return None
        spans = []
        for group in self.groups:
            spans.append([(phrase, span) for phrase in group for span in phrase.any_order(sentence)])
            if not spans[-1]:
                return None
        best = None
        for combo in itertools.product(*spans):
            if _negated(sentence, [span for _, span in combo]):
                continue
            first = min(span[0] for _, span in combo)
            last = max(span[1] for _, span in combo)
            near = last - first <= self.window or (
                last - first <= self.clause_window and sentence.same_clause(first, last))
            if near and (best is None or last - first < best[0]):
                best = (last - first, [phrase.text for phrase, _ in combo])
        return best[1] if best else None


def _negated(sentence: Sentence, spans: list[tuple[int, int]]) -> bool:
    """Whether a negation word just before one of the phrases denies it ("no redness, no pain, no fever"). A
    negation word that is itself one of the matched phrases ("no wee since last night") denies nothing."""
    for first, _ in spans:
        negator = sentence.negator_before(first)
        if negator is not None and not any(a <= negator <= b for a, b in spans):
            return True
    return False


class ConceptSpeller:
    """Corrects a misspelt word toward the words of the concepts ("siezure" -> seizure, "bleding" -> bleeding),
    with the one speller of ``qa.text``. A word whose stem is already a concept word's is left alone."""

    def __init__(self, words: list[str]) -> None:
        words = [plain(w) for w in words if w.rstrip("*").isalpha()]
        # A prefix such as "bleed*" stands for its usual forms: "bleding" is closest to "bleeding".
        self._prefixes = tuple(w[:-1] for w in words if w.endswith("*"))
        forms = [f for w in words for f in ([w[:-1], w[:-1] + "ing", w[:-1] + "ed", w[:-1] + "s"]
                                            if w.endswith("*") else [w])]
        self._speller = Speller(sorted(set(forms)))
        self._stems = {stem(w) for w in self._speller.choices}

    def correct(self, found: list[Token]) -> tuple[list[Token], dict[str, str]]:
        corrected, changes = [], {}
        for token in found:
            word = token.text
            if token.number is None and token.stem not in self._stems and not word.startswith(self._prefixes):
                better = self._speller.correction(word)
                if better:
                    changes[word] = better
                    token = Token(better, stem(better), None, token.start, token.end)
            corrected.append(token)
        return corrected, changes
