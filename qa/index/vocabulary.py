"""The corpus vocabulary: spelling correction toward the corpus, and terms the corpus never mentions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from qa.text import Speller, is_common_english, normalise_words


class Vocabulary:
    """Words of the corpus with their passage frequencies."""

    def __init__(self, frequencies: dict[str, int] | None = None) -> None:
        self.frequencies: dict[str, int] = dict(frequencies or {})
        self._speller: Speller | None = None

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        return cls().extend(texts)

    def extend(self, texts: Iterable[str]) -> Vocabulary:
        for text in texts:
            for word in set(normalise_words(text)):
                self.frequencies[word] = self.frequencies.get(word, 0) + 1
        self._speller = None
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
        if word in self.frequencies:
            return None
        if self._speller is None:
            self._speller = Speller(self.frequencies)
        return self._speller.correction(word)

    def is_foreign_term(self, word: str) -> bool:
        """A specific term (rare in general English) that the corpus never uses: a sign of an out-of-scope topic.

        Callers leave out words that ``correction`` maps to a corpus word: those are misspellings.
        """
        return len(word) >= 2 and word.isalpha() and word not in self.frequencies and not is_common_english(word)
