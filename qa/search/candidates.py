"""Candidate passages for a query and their raw evidence: dense similarity (FAISS) and BM25 scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.index.lexical import LexicalIndex
from qa.index.loading import LoadedIndex, stored_vectors


@dataclass
class Candidates:
    """Rows of the passages worth ranking, with each one's dense similarity, BM25 score and coverage of the
    question's terms."""

    rows: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    coverage: np.ndarray
    # Each one's best cosine with an example question it answers (-1 for none), when the corpus has examples.
    examples: np.ndarray | None = None

    @property
    def semantic(self) -> np.ndarray:
        """The dense evidence that ranks: a passage is as close as its own text or its nearest example question."""
        return self.dense if self.examples is None else np.maximum(self.dense, self.examples)


class DenseScorer:
    """Cosine similarities against the stored passage, sentence and list-item vectors (read-only, thread-safe)."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self.passages = stored_vectors(index.vectors)
        self.units = stored_vectors(index.unit_vectors)
        self.plain = stored_vectors(index.plain_vectors)
        self.plain_units = stored_vectors(index.plain_unit_vectors)
        # unit_rows is sorted by passage row, so each passage's units are one contiguous slice.
        bounds = np.searchsorted(index.unit_rows, np.arange(len(index.passages) + 1))
        self.unit_slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.unit_starts, self.unit_counts = bounds[:-1], np.diff(bounds)

    def unit_scores(self, row: int, vector: np.ndarray) -> np.ndarray:
        """Cosine of each sentence and list item of passage ``row`` (empty when it has none)."""
        return self.units[self.unit_slices[row]] @ vector

    def similarity(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Per passage, the best cosine of the passage with its context or any of its sentences and list items."""
        return self._with_best_unit(self.passages[rows] @ vector, self.units, rows, vector)

    def answer_similarities(self, rows: np.ndarray, vector: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """``answer_similarity`` of many passages at once, given their ``similarity`` (a new array is returned)."""
        best = np.maximum(similarity, self.plain[rows] @ vector)
        return self._with_best_unit(best, self.plain_units, rows, vector) if len(self.plain_units) else best

    def _with_best_unit(self, scores: np.ndarray, units: np.ndarray, rows: np.ndarray,
                        vector: np.ndarray) -> np.ndarray:
        """``scores`` raised, per passage, to the best cosine of its units in ``units``."""
        counts = self.unit_counts[rows]
        with_units = counts > 0
        if with_units.any():
            # All their units in one product, then each passage's best: a loop of small products cost 5x more.
            counts = counts[with_units]
            firsts = np.cumsum(counts) - counts  # where each passage's units begin in the gathered rows
            gathered = np.repeat(self.unit_starts[rows[with_units]] - firsts, counts) + np.arange(counts.sum())
            best = np.maximum.reduceat(units[gathered] @ vector, firsts)
            scores[with_units] = np.maximum(scores[with_units], best)
        return scores

    def answer_similarity(self, row: int, vector: np.ndarray, similarity: float | None = None) -> float:
        """How closely passage ``row`` itself matches: its best dense similarity (``similarity`` when the caller
        has it already), or its own words without the title and section path, which on a short passage would
        dilute a plain match."""
        rows = np.array([row])
        known = self.similarity(rows, vector) if similarity is None else np.array([similarity], dtype=np.float32)
        return float(self.answer_similarities(rows, vector, known)[0])

    def nearest(self, vectors: np.ndarray, depth: int) -> list[set[int]]:
        """Per query vector, the rows of the passages nearest to it, by the passage or any of its units."""
        depth_passages = min(depth, self.index.vectors.ntotal)
        _, passage_rows = (self.index.passage_search or self.index.vectors).search(vectors, depth_passages)
        depth_units = min(depth, self.index.unit_vectors.ntotal)
        unit_hits = ((self.index.unit_search or self.index.unit_vectors).search(vectors, depth_units)[1] if depth_units
                     else np.zeros((len(vectors), 0), dtype=np.int64))
        found = []
        for passages, units in zip(passage_rows, unit_hits):
            rows = set(passages[passages >= 0].tolist())
            rows |= set(self.index.unit_rows[units[units >= 0]].tolist())
            found.append(rows)
        return found


def gather(dense: DenseScorer, lexical_index: LexicalIndex, dense_rows: set[int], query_tokens: list[str],
           terms: list[list[str]], vector: np.ndarray, depth: int, examples: np.ndarray | None = None) -> Candidates:
    """The union of the dense neighbours and the top ``depth`` passages by BM25 (those with any score).

    ``examples``, when the corpus has example questions, is every passage's best cosine with an example question
    it answers (qa/search/examples.py)."""
    lexical = lexical_index.scores(query_tokens)
    pool = min(depth, lexical.shape[0])
    lexical_top = np.argpartition(-lexical, pool - 1)[:pool] if pool else np.array([], dtype=np.int64)
    rows = np.array(sorted(dense_rows | {int(r) for r in lexical_top if lexical[r] > 0}), dtype=np.int64)
    if not len(rows):
        empty = np.zeros(0, dtype=np.float32)
        return Candidates(rows, empty, empty, empty)
    return Candidates(rows, dense.similarity(rows, vector), lexical[rows], lexical_index.coverage_many(terms, rows),
                      None if examples is None else examples[rows])
