"""The corpus vocabulary: spelling correction toward the corpus, and terms the corpus never mentions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from qa.query import normalise_words

MIN_CORRECTABLE = 4  # shorter words have too many close neighbours to correct safely
CORRECTION_SCORE = 80.0  # rapidfuzz ratio (0-100) a correction must reach
RARE_ZIPF = 3.0  # words rarer than this in general English are specific terms (wordfreq's Zipf scale)


@lru_cache(maxsize=65536)
def english_zipf(word: str) -> float:
    """How common a word is in general English (Zipf scale: 7 = 'the', 3 = once per million words)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


class Vocabulary:
    """Words of the corpus with their passage frequencies."""

    def __init__(self, frequencies: dict[str, int] | None = None) -> None:
        self.frequencies: dict[str, int] = dict(frequencies or {})
        self._choices: list[str] | None = None

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        return cls().extend(texts)

    def extend(self, texts: Iterable[str]) -> Vocabulary:
        for text in texts:
            for word in set(normalise_words(text)):
                self.frequencies[word] = self.frequencies.get(word, 0) + 1
        self._choices = None
        return self

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.frequencies, ensure_ascii=False, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return cls({str(word): int(count) for word, count in data.items()})

    def __contains__(self, word: str) -> bool:
        return word in self.frequencies

    def correction(self, word: str) -> str | None:
        """The corpus word a misspelt query word most likely meant, or None.

        Only words unknown both to the corpus and to general English are corrected, so real words that
        the corpus happens not to use are left alone.
        """
        if word in self.frequencies or len(word) < MIN_CORRECTABLE or not word.isalpha():
            return None
        if english_zipf(word) >= RARE_ZIPF:
            return None
        from rapidfuzz import fuzz, process

        if self._choices is None:
            self._choices = [w for w in self.frequencies if len(w) >= MIN_CORRECTABLE and w.isalpha()]
        match = process.extractOne(word, self._choices, scorer=fuzz.ratio, score_cutoff=CORRECTION_SCORE)
        return match[0] if match else None

    def is_foreign_term(self, word: str) -> bool:
        """A specific term (rare in general English) that the corpus never uses: a sign of an out-of-scope topic.

        Callers leave out words that ``correction`` maps to a corpus word: those are misspellings.
        """
        return len(word) >= 2 and word.isalpha() and word not in self.frequencies and english_zipf(word) < RARE_ZIPF
