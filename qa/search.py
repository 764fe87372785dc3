"""Hybrid passage search: dense (FAISS) and BM25 scores fused, exact phrases, highlights and abstention."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.embedding import Encoder
from qa.index import LoadedIndex, plain_typography, stored_vectors
from qa.lexical import tokenize
from qa.notices import Notices
from qa.query import (
    STOPWORDS,
    AnalysedQuery,
    TermList,
    analyse,
    merge_spans,
    normalise_words,
    phrase_spans,
    term_spans,
)
from qa.splitter import Passage


@dataclass(frozen=True)
class RetrievalSettings:
    """How scores are fused and when to abstain; ``python -m qa eval --calibrate`` chooses the threshold."""

    fusion: str = "rrf"  # "rrf" reciprocal-rank fusion or "weighted" normalised-score fusion
    dense_weight: float = 0.9
    rrf_k: int = 60
    candidates: int = 100
    coverage_weight: float = 0.4  # weight of the query terms' lexical coverage by the best passage
    foreign_term_penalty: float = 0.4  # confidence lost when the question names a term the corpus never uses
    abstain_below: float = 0.0  # confidence under which the service abstains

    @classmethod
    def from_dict(cls, values: dict) -> RetrievalSettings:
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        settings = cls(**known)
        if settings.fusion not in ("weighted", "rrf", "dense", "lexical"):
            raise ValueError(f"fusion must be weighted, rrf, dense or lexical, not {settings.fusion!r}")
        return settings


@dataclass
class Hit:
    passage: Passage
    score: float
    highlights: list[list[int]]
    low_confidence: bool = False


@dataclass
class Outcome:
    query: str
    answered: bool
    hits: list[Hit]
    confidence: float
    notice: dict | None = None
    message: str | None = None
    analysed: AnalysedQuery | None = field(default=None, repr=False)


class Searcher:
    """Answers queries from one loaded index; safe to share between threads (read-only state)."""

    def __init__(self, index: LoadedIndex, encoder: Encoder, settings: RetrievalSettings = RetrievalSettings(),
                 lay_terms: TermList | None = None, notices: Notices | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.settings = settings
        self.lay_terms = lay_terms or TermList()
        self.notices = notices or Notices()
        self._passage_vectors = stored_vectors(index.vectors)
        self._unit_vectors = stored_vectors(index.unit_vectors)
        plain = stored_vectors(index.plain_vectors)
        self._plain_passage_vectors = plain[:len(index.passages)]
        self._plain_unit_vectors = plain[len(index.passages):]
        # unit_rows is sorted by passage row, so each passage's units are one contiguous slice.
        rows, starts, counts = np.unique(index.unit_rows, return_index=True, return_counts=True)
        self._units_of = {int(r): slice(int(s), int(s + c)) for r, s, c in zip(rows, starts, counts)}
        self._normalised_texts: list[str] | None = None

    def search(self, query: str, k: int = 5, include_low_confidence: bool = False) -> Outcome:
        return self.search_batch([query], k, include_low_confidence)[0]

    def analyse(self, query: str) -> AnalysedQuery:
        """Phrases and lay-term expansions, plus corrections of misspelt words toward the corpus vocabulary."""
        analysed = analyse(query, self.lay_terms)
        vocabulary = self.index.vocabulary
        corrections = {w: c for w in analysed.content_words if (c := vocabulary.correction(w))}
        analysed.expansions = list(dict.fromkeys([*analysed.expansions, *corrections.values()]))
        analysed.explained |= set(corrections)  # a corrected word stands for its correction
        return analysed

    def search_batch(self, queries: list[str], k: int = 5, include_low_confidence: bool = False,
                     batch_size: int = 64, highlight: bool = True) -> list[Outcome]:
        analysed = [self.analyse(query) for query in queries]
        texts = [a.retrieval_text for a in analysed]
        vectors = self.encoder.encode([plain_typography(t) for t in texts], batch_size=batch_size)
        pool = min(self.settings.candidates, self.index.vectors.ntotal)
        _, passage_rows = self.index.vectors.search(vectors, pool)
        unit_pool = min(self.settings.candidates, self.index.unit_vectors.ntotal)
        _, unit_hits = (self.index.unit_vectors.search(vectors, unit_pool) if unit_pool
                        else (None, np.zeros((len(texts), 0), dtype=np.int64)))
        tokens = tokenize(texts)
        outcomes = []
        for i, query in enumerate(analysed):
            dense_rows = set(passage_rows[i][passage_rows[i] >= 0].tolist())
            dense_rows |= set(self.index.unit_rows[unit_hits[i][unit_hits[i] >= 0]].tolist())
            outcomes.append(self._rank(query, vectors[i], dense_rows, tokens[i], k, include_low_confidence,
                                       highlight))
        return outcomes

    def _rank(self, analysed: AnalysedQuery, vector: np.ndarray, dense_rows: set[int], query_tokens: list[str],
              k: int, include_low_confidence: bool, highlight: bool) -> Outcome:
        lexical = self.index.lexical.scores(query_tokens)
        rows, fused = self._fuse(vector, dense_rows, lexical)
        penalty = self._foreign_penalty(analysed)
        coverage_terms = self._coverage_terms(analysed)
        confidence = self._confidence(rows[0], vector, coverage_terms, penalty) if rows else 0.0
        notice = self.notices.urgent_notice(analysed.raw, vector)
        if analysed.phrases:
            allowed = self._rows_with_phrases(analysed.phrases)
            keep = [i for i, row in enumerate(rows) if row in allowed]
            missing = sorted(allowed - set(rows))
            rows = [rows[i] for i in keep] + missing
            fused = [fused[i] for i in keep] + [0.0] * len(missing)
            if not rows:
                return Outcome(analysed.raw, False, [], 0.0, notice, self.notices.no_phrase_match, analysed)
            confidence = 1.0  # an exact phrase match is certain, whatever its ranking score
        threshold = self.settings.abstain_below
        answered = confidence >= threshold
        # With an urgent notice the passages still come back, marked low-confidence where they are.
        include_low_confidence = include_low_confidence or notice is not None
        if not answered and not include_low_confidence:
            return Outcome(analysed.raw, False, [], confidence, notice, self.notices.no_answer, analysed)
        hits = []
        for position, (row, score) in enumerate(zip(rows, fused)):
            if len(hits) == k:
                break
            # Below the best passage, each passage must be a confident match on its own to be shown.
            sure = answered and (position == 0 or analysed.phrases
                                 or self._confidence(row, vector, coverage_terms, penalty) >= threshold)
            if not sure and not include_low_confidence:
                continue
            hits.append(Hit(self.index.passages[row], round(float(score), 4),
                            self._highlights(analysed, row) if highlight else [], not sure))
        message = None if answered else self.notices.no_answer
        return Outcome(analysed.raw, answered, hits, confidence, notice, message, analysed)

    def dense_similarity(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Per passage, the best cosine of the passage itself or any of its sentences and list items."""
        scores = self._passage_vectors[rows] @ vector
        for i, row in enumerate(rows.tolist()):
            units = self._units_of.get(row)
            if units is not None:
                scores[i] = max(scores[i], float((self._unit_vectors[units] @ vector).max()))
        return scores

    def answer_similarity(self, row: int, vector: np.ndarray) -> float:
        """How closely passage ``row`` itself matches: the best cosine of the passage or any of its units,
        with or without their title and section context. Context helps ranking, but on a short sentence it
        can halve the similarity of a plain match."""
        plain = [float(self._plain_passage_vectors[row] @ vector)]
        units = self._units_of.get(row)
        if units is not None:
            plain.append(float((self._plain_unit_vectors[units] @ vector).max()))
        return max(float(self.dense_similarity(np.array([row]), vector)[0]), *plain)

    def _fuse(self, vector, dense_rows: set[int], lexical: np.ndarray) -> tuple[list[int], list[float]]:
        """Candidate rows best first and their fused scores."""
        settings = self.settings
        pool = min(settings.candidates, lexical.shape[0])
        lexical_top = np.argpartition(-lexical, pool - 1)[:pool] if pool else np.array([], dtype=int)
        candidates = dense_rows | {int(r) for r in lexical_top if lexical[r] > 0}
        rows = np.array(sorted(candidates), dtype=np.int64)
        if not len(rows):
            return [], []
        dense_values = self.dense_similarity(rows, vector)
        lexical_values = lexical[rows]
        lexical_max = float(lexical_values.max())
        lexical_norm = lexical_values / lexical_max if lexical_max > 0 else np.zeros_like(lexical_values)
        if settings.fusion == "rrf":
            fused = _rrf([dense_values, lexical_values], settings.rrf_k)
        elif settings.fusion == "dense":
            fused = dense_values
        elif settings.fusion == "lexical":
            fused = lexical_norm
        else:
            fused = settings.dense_weight * dense_values + (1 - settings.dense_weight) * lexical_norm
        order = np.lexsort((rows, -fused))
        return [int(rows[i]) for i in order], [float(fused[i]) for i in order]

    def _foreign_penalty(self, analysed: AnalysedQuery) -> float:
        """Confidence lost when the question names a specific term the corpus never uses (another disease,
        a drug the guide does not cover): a strong sign that the guide cannot answer it."""
        vocabulary = self.index.vocabulary
        foreign = any(w not in analysed.explained and vocabulary.is_foreign_term(w) for w in analysed.content_words)
        return self.settings.foreign_term_penalty if foreign else 0.0

    @staticmethod
    def _coverage_terms(analysed: AnalysedQuery) -> list[list[str]]:
        """The question's content terms as token groups: each own word, and each lay phrase or misspelling
        as the corpus words it maps to (one concept, however many words its expansion has)."""
        own = [w for w in normalise_words(" ".join([analysed.free_text, *analysed.phrases]))
               if w not in analysed.explained and w not in STOPWORDS]
        groups = dict.fromkeys(tuple(group) for group in tokenize([*own, *analysed.expansions]) if group)
        return [list(group) for group in groups]  # a word asked twice is still one term

    def _confidence(self, row: int, vector: np.ndarray, coverage_terms: list[list[str]], penalty: float) -> float:
        """How sure it is that passage ``row`` answers: its answer similarity, raised by how much of the
        question's terms it contains, minus the foreign-term penalty."""
        similarity = self.answer_similarity(row, vector)
        coverage = self.index.lexical.coverage(coverage_terms, row)
        return similarity + self.settings.coverage_weight * coverage - penalty

    def _plain_texts(self) -> list[str]:
        """Each passage as ' word word … ', for whole-word phrase tests that ignore case and punctuation."""
        if self._normalised_texts is None:
            self._normalised_texts = [" " + " ".join(normalise_words(p.text)) + " " for p in self.index.passages]
        return self._normalised_texts

    def _rows_with_phrases(self, phrases: list[str]) -> set[int]:
        needles = [" " + " ".join(normalise_words(phrase)) + " " for phrase in phrases]
        return {row for row, text in enumerate(self._plain_texts()) if all(n in text for n in needles)}

    def _highlights(self, analysed: AnalysedQuery, row: int) -> list[list[int]]:
        text = self.index.passages[row].text
        spans = [span for phrase in analysed.phrases for span in phrase_spans(text, phrase)]
        if analysed.free_text.strip() or not analysed.phrases:
            spans += term_spans(text, analysed.highlight_terms())
        return merge_spans(spans)


def _rrf(score_lists: list[np.ndarray], k: int) -> np.ndarray:
    """Reciprocal-rank fusion. In every list but the first (dense), a zero score is no evidence and earns
    nothing, rather than an arbitrary rank among the ties."""
    fused = np.zeros_like(score_lists[0], dtype=np.float32)
    for position, scores in enumerate(score_lists):
        ranks = np.empty(len(scores), dtype=np.float32)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        credit = 1.0 / (k + ranks)
        fused += credit if position == 0 else np.where(scores > 0, credit, 0.0)
    return fused
