"""Query analysis: quoted phrases, lay-term expansion, spelling corrections and highlight offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from qa.text import STOPWORDS, content_stems, normalise_words, stem, words

_PHRASE = re.compile(r"[\"“”]([^\"“”]+)[\"“”]")


@dataclass
class TermList:
    """Phrases matched as whole words: ``entries`` maps a phrase's words to a payload."""

    entries: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    def matches(self, query_words: list[str]) -> list[str]:
        return [payload for payload, _ in self.match_positions(query_words)]

    def match_positions(self, query_words: list[str]) -> list[tuple[str, range]]:
        """Each matching entry's payload and the positions of the query words it matched, in entry order."""
        found = []
        for number in self._candidates(query_words):
            pattern, payload = self.entries[number]
            position = _find(query_words, pattern)
            if position is not None:
                found.append((payload, range(position, position + len(pattern))))
        return found

    def _candidates(self, query_words: list[str]) -> list[int]:
        """Entries whose first word occurs in the query: scanning every entry per query cost ~10 ms."""
        if getattr(self, "_indexed", -1) != len(self.entries):  # entries may be appended after creation
            self._by_first: dict[str, list[int]] = {}
            self._wild_first: list[tuple[str, int]] = []
            for number, (pattern, _) in enumerate(self.entries):
                if pattern and pattern[0].endswith("*"):
                    self._wild_first.append((pattern[0][:-1], number))
                elif pattern:
                    self._by_first.setdefault(pattern[0], []).append(number)
            self._indexed = len(self.entries)
        numbers = {n for word in set(query_words) for n in self._by_first.get(word, ())}
        numbers.update(n for prefix, n in self._wild_first if any(w.startswith(prefix) for w in query_words))
        return sorted(numbers)


def _word_matches(word: str, pattern: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


def _find(sequence: list[str], pattern: tuple[str, ...]) -> int | None:
    for i in range(len(sequence) - len(pattern) + 1):
        if all(_word_matches(sequence[i + j], pattern[j]) for j in range(len(pattern))):
            return i
    return None


def _pattern_words(phrase: str) -> tuple[str, ...]:
    return tuple(word + ("*" if phrase.strip().endswith("*") and i == len(phrase.split()) - 1 else "")
                 for i, word in enumerate(normalise_words(phrase)))


def load_lay_terms(path: str | Path | None) -> TermList:
    """``lay phrase<TAB>clinical terms`` lines; ``#`` starts a comment."""
    terms = TermList()
    if not path or not Path(path).is_file():
        return terms
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        lay, separator, clinical = line.partition("\t")
        if not separator or not lay.strip() or not clinical.strip():
            raise ValueError(f"{path}:{number}: expected 'lay phrase<TAB>clinical terms'")
        terms.entries.append((_pattern_words(lay), clinical.strip()))
    return terms


@dataclass
class AnalysedQuery:
    raw: str
    free_text: str  # the query without its quoted phrases
    phrases: list[str]
    expansions: list[str]
    explained: set[str] = field(default_factory=set)  # query words mapped to corpus words (lay terms, spelling)

    @property
    def content_words(self) -> list[str]:
        return [w for w in normalise_words(self.raw) if w not in STOPWORDS and len(w) > 1]

    @property
    def retrieval_text(self) -> str:
        """What is embedded and BM25-scored: the question, its phrases and any clinical expansions."""
        parts = [self.free_text, *self.phrases]
        if self.expansions:
            parts.append("(" + "; ".join(self.expansions) + ")")
        return " ".join(part for part in parts if part.strip())

    def as_words(self) -> AnalysedQuery:
        """The same question with its quoted phrases read as plain words (no exact-phrase lookup)."""
        return AnalysedQuery(self.raw, _PHRASE.sub(lambda m: f" {m.group(1)} ", self.raw).strip(), [],
                             self.expansions, self.explained)

    def highlight_terms(self) -> set[str]:
        """Stems of the content words that the user asked for, directly or through an expansion."""
        source = " ".join([self.free_text, *self.expansions])
        return {stem(word) for word in normalise_words(source) if word not in STOPWORDS and len(word) > 1}


def analyse(query: str, lay_terms: TermList) -> AnalysedQuery:
    phrases = [p.strip() for p in _PHRASE.findall(query) if normalise_words(p)]
    free_text = _PHRASE.sub(" ", query).strip() if phrases else query.strip()
    query_words = normalise_words(query)
    matched = lay_terms.match_positions(query_words)
    expansions = [payload for payload, _ in matched]
    explained = {query_words[i] for _, positions in matched for i in positions}
    return AnalysedQuery(query, free_text, phrases, list(dict.fromkeys(expansions)), explained)


def analyse_with_spelling(query: str, lay_terms: TermList, vocabulary) -> AnalysedQuery:
    """``analyse``, plus corrections of misspelt words toward ``vocabulary`` (a ``qa.index.Vocabulary``)."""
    analysed = analyse(query, lay_terms)
    corrections = {w: c for w in analysed.content_words if (c := vocabulary.correction(w))}
    analysed.expansions = list(dict.fromkeys([*analysed.expansions, *corrections.values()]))
    analysed.explained |= set(corrections)  # a corrected word stands for its correction
    return analysed


def phrase_spans(text: str, phrase: str) -> list[tuple[int, int]]:
    """Where ``phrase`` occurs in ``text`` as whole words, ignoring case and punctuation."""
    text_words = words(text)
    target = normalise_words(phrase)
    if not target:
        return []
    sequence = [w for _, _, w in text_words]
    spans = []
    for i in range(len(sequence) - len(target) + 1):
        if sequence[i:i + len(target)] == target:
            spans.append((text_words[i][0], text_words[i + len(target) - 1][1]))
    return spans


def term_spans(text: str, stems: set[str]) -> list[tuple[int, int]]:
    return [(start, end) for start, end, word_stem in content_stems(text) if word_stem in stems]


def merge_spans(spans: list[tuple[int, int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
