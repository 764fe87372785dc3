"""BM25 over passages through bm25s, with an English Snowball stemmer (tokens: ``qa.text.bm25_tokens``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa.text import bm25_tokens


class LexicalIndex:
    """A bm25s index saved as plain files (no pickle)."""

    SETTINGS = {"library": "bm25s", "method": "lucene", "k1": 1.2, "b": 0.75, "stemmer": "english",
                "stopwords": "en"}
    _SIZE_FILE = "size.json"

    def __init__(self, retriever, size: int) -> None:
        self._retriever = retriever
        self.size = size
        self._vocab = retriever.vocab_dict
        self._terms: dict[str, tuple[float, frozenset[int]]] = {}

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25(method=cls.SETTINGS["method"], k1=cls.SETTINGS["k1"], b=cls.SETTINGS["b"])
        retriever.index(bm25_tokens(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, directory: Path) -> None:
        self._retriever.save(str(directory), show_progress=False)
        (Path(directory) / self._SIZE_FILE).write_text(json.dumps({"size": self.size}))

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        size = json.loads((Path(directory) / cls._SIZE_FILE).read_text())["size"]
        return cls(bm25s.BM25.load(str(directory), show_progress=False), int(size))

    def postings(self, token: str) -> np.ndarray:
        """Rows of the passages that contain ``token`` (an already stemmed token)."""
        column = self._vocab.get(token)
        if column is None:
            return np.zeros(0, dtype=np.int64)
        matrix = self._retriever.scores
        return matrix["indices"][matrix["indptr"][column]:matrix["indptr"][column + 1]]

    def coverage_many(self, query_terms: list[list[str]], rows: np.ndarray) -> np.ndarray:
        """``coverage`` of each passage in ``rows`` at once."""
        total = 0.0
        covered = np.zeros(len(rows))
        for group in query_terms:
            terms = [self._term(token) for token in dict.fromkeys(group)]
            if not terms:
                continue
            total += sum(weight for weight, _ in terms) / len(terms)
            for weight, postings in terms:
                covered += weight * _members(rows, postings) / len(terms)
        return covered / total if total else covered

    def coverage(self, query_terms: list[list[str]], row: int) -> float:
        """IDF-weighted share of the query's terms that passage ``row`` contains (0 to 1).

        Each term is a group of stemmed tokens: one question word, or the clinical words a lay phrase
        expands to. A group weighs its tokens' mean IDF, however many there are, and counts as covered in
        proportion to the IDF of its tokens found in the passage. A token the corpus never uses weighs as
        much as the rarest corpus token: the passage cannot cover it.
        """
        return float(self.coverage_many(query_terms, np.array([row]))[0])

    def idf(self, token: str) -> float:
        """The IDF weight ``coverage`` gives a stemmed token."""
        return self._term(token)[0]

    def _term(self, token: str) -> tuple[float, np.ndarray]:
        """A token's IDF weight and the rows containing it, memoised: confidence asks per candidate."""
        cached = self._terms.get(token)
        if cached is None:
            rows = np.sort(self.postings(token))  # sorted, for _members' binary search
            cached = (float(np.log1p(self.size / max(len(rows), 1))), rows)
            if len(self._terms) < 100_000:
                self._terms[token] = cached
        return cached

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every passage for one tokenised query (zeros when no token is known)."""
        known = [token for token in query_tokens if token in self._vocab]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)


def _members(rows: np.ndarray, sorted_postings: np.ndarray) -> np.ndarray:
    """Whether each of ``rows`` is in ``sorted_postings``: a binary search each, cheaper than np.isin's sort
    for the few dozen candidates a query has."""
    if not len(sorted_postings):
        return np.zeros(len(rows), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_postings, rows), len(sorted_postings) - 1)
    return sorted_postings[at] == rows
