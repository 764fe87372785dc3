"""How sure the service is that a passage answers the question: the basis of abstention."""

from __future__ import annotations

import numpy as np

from qa.index.loading import LoadedIndex
from qa.search.analysis import AnalysedQuery
from qa.search.answerability import AnswerabilityModel, example_features
from qa.search.candidates import Candidates, DenseScorer
from qa.text import STOPWORDS, bm25_tokens, normalise_words


def coverage_terms(analysed: AnalysedQuery) -> list[list[str]]:
    """The question's content terms as token groups: each own word, and each lay phrase or misspelling as the
    corpus words it maps to (one concept, however many words its expansion has)."""
    own = [w for w in normalise_words(" ".join([analysed.free_text, *analysed.phrases]))
           if w not in analysed.explained and w not in STOPWORDS]
    groups = dict.fromkeys(tuple(group) for group in bm25_tokens([*own, *analysed.expansions]) if group)
    return [list(group) for group in groups]  # a word asked twice is still one term


class Confidence:
    """How sure the service is that one passage answers the question.

    With the corpus's answerability model (qa/search/answerability.py), the probability that the corpus answers it,
    from the passage's signals and the question's nearest example questions. Without one: answer similarity, plus
    ``coverage_weight`` times how much of the question's terms the passage contains, minus ``foreign_term_penalty``
    when the question names a specific term the corpus never uses."""

    def __init__(self, index: LoadedIndex, dense: DenseScorer, analysed: AnalysedQuery, vector: np.ndarray,
                 coverage_weight: float, foreign_term_penalty: float, terms: list[list[str]] | None = None,
                 candidates: Candidates | None = None, answerability: AnswerabilityModel | None = None,
                 nearest_examples: tuple[float, float] = (-1.0, -1.0)) -> None:
        self.index = index
        self.dense = dense
        self.vector = vector
        self.terms = coverage_terms(analysed) if terms is None else terms
        self.coverage_weight = coverage_weight
        self.foreign = names_foreign_term(index, analysed)
        self.penalty = foreign_term_penalty if self.foreign else 0.0
        self.answerability = answerability
        self.nearest_examples = nearest_examples
        # The candidates already hold each one's dense similarity and coverage: reuse them, not recompute.
        self._known = ({int(row): i for i, row in enumerate(candidates.rows)} if candidates is not None else {})
        self._candidates = candidates
        self._plain_cache: np.ndarray | None = None

    def signals(self, row: int) -> dict[str, float]:
        """What the judgement of passage ``row`` reads (the answerability model's features)."""
        at = self._known.get(int(row))
        if at is None:
            similarity = self.dense.answer_similarity(row, self.vector)
            coverage = self.index.lexical.coverage(self.terms, row)
        else:
            similarity = self.dense.answer_similarity(row, self.vector, float(self._candidates.dense[at]))
            coverage = float(self._candidates.coverage[at])
        return {"similarity": similarity, "coverage": coverage, "foreign_term": float(self.foreign),
                **example_features(self.nearest_examples)}

    def __call__(self, row: int) -> float:
        signals = self.signals(row)
        if self.answerability is not None:
            return self.answerability.probability(signals)
        return self._plain(signals)

    def passage(self, row: int) -> float:
        """The plain confidence of passage ``row`` on its own: whether a passage below the first is a match worth
        showing (the answerability model judges the question; this judges each passage shown for it)."""
        at = self._known.get(int(row))
        if at is not None:
            return float(self._plain_candidates()[at])
        return self._plain(self.signals(row))

    def _plain_candidates(self) -> np.ndarray:
        """Every candidate's plain confidence, computed once and in one product per kind of vector."""
        if self._plain_cache is None:
            c = self._candidates
            similarity = self.dense.answer_similarities(c.rows, self.vector, c.dense)
            self._plain_cache = similarity + self.coverage_weight * c.coverage - self.penalty
        return self._plain_cache

    def plain_shares(self, signals: dict[str, float]) -> dict[str, float]:
        """Each signal's share of the plain confidence, which is their sum."""
        return {"similarity": signals["similarity"], "coverage": self.coverage_weight * signals["coverage"],
                "foreign_term": -self.penalty}

    def _plain(self, signals: dict[str, float]) -> float:
        return sum(self.plain_shares(signals).values())


def names_foreign_term(index: LoadedIndex, analysed: AnalysedQuery) -> bool:
    """Whether the question names a specific term the corpus never uses (another disease, a drug the corpus
    does not cover): a strong sign that the corpus cannot answer it."""
    vocabulary = index.vocabulary
    return any(w not in analysed.explained and vocabulary.is_foreign_term(w) for w in analysed.content_words)
