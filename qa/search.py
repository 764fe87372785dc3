"""Hybrid passage search: dense (FAISS) and BM25 scores fused, exact phrases, highlights and abstention."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.embedding import Encoder
from qa.index import LoadedIndex
from qa.lexical import tokenize
from qa.notices import Notices
from qa.query import AnalysedQuery, TermList, analyse, merge_spans, normalise_words, phrase_spans, term_spans
from qa.splitter import Passage


@dataclass(frozen=True)
class RetrievalSettings:
    """How scores are fused and when to abstain; ``python -m qa eval --calibrate`` chooses the threshold."""

    fusion: str = "weighted"  # "weighted" normalised-score fusion or "rrf" reciprocal-rank fusion
    dense_weight: float = 0.6
    rrf_k: int = 60
    candidates: int = 100
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
        self._normalised_texts: list[str] | None = None

    def search(self, query: str, k: int = 5, include_low_confidence: bool = False) -> Outcome:
        return self.search_batch([query], k, include_low_confidence)[0]

    def search_batch(self, queries: list[str], k: int = 5, include_low_confidence: bool = False,
                     batch_size: int = 64, progress: bool = False) -> list[Outcome]:
        analysed = [analyse(query, self.lay_terms) for query in queries]
        vectors = self.encoder.encode([a.retrieval_text for a in analysed], batch_size=batch_size,
                                      progress=progress)
        pool = min(self.settings.candidates, self.index.vectors.ntotal)
        dense_scores, dense_rows = self.index.vectors.search(vectors, pool)
        tokens = tokenize([a.retrieval_text for a in analysed])
        return [
            self._rank(a, vectors[i], dense_scores[i], dense_rows[i], tokens[i], k, include_low_confidence)
            for i, a in enumerate(analysed)
        ]

    def _rank(self, analysed: AnalysedQuery, vector: np.ndarray, dense_scores: np.ndarray, dense_rows: np.ndarray,
              query_tokens: list[str], k: int, include_low_confidence: bool) -> Outcome:
        lexical = self.index.lexical.scores(query_tokens)
        rows, fused, confidence = self._fuse(vector, dense_scores, dense_rows, lexical)
        notice = self.notices.urgent_notice(analysed.raw)
        if analysed.phrases:
            allowed = self._rows_with_phrases(analysed.phrases)
            keep = [i for i, row in enumerate(rows) if row in allowed]
            missing = sorted(allowed - set(rows))
            rows = [rows[i] for i in keep] + missing
            fused = [fused[i] for i in keep] + [0.0] * len(missing)
            if not rows:
                return Outcome(analysed.raw, False, [], 0.0, notice, self.notices.no_phrase_match, analysed)
            confidence = 1.0  # an exact phrase match is certain, whatever its ranking score
        answered = confidence >= self.settings.abstain_below
        if not answered and not include_low_confidence:
            return Outcome(analysed.raw, False, [], confidence, notice, self.notices.no_answer, analysed)
        hits = [
            Hit(self.index.passages[row], round(float(score), 4), self._highlights(analysed, row), not answered)
            for row, score in zip(rows[:k], fused[:k])
        ]
        message = None if answered else self.notices.no_answer
        return Outcome(analysed.raw, answered, hits, confidence, notice, message, analysed)

    def _fuse(self, vector, dense_scores, dense_rows, lexical) -> tuple[list[int], list[float], float]:
        """Candidate rows best first, their fused scores, and the confidence of the best one."""
        settings = self.settings
        dense = {int(r): float(s) for r, s in zip(dense_rows, dense_scores) if r >= 0}
        pool = min(settings.candidates, lexical.shape[0])
        lexical_top = np.argpartition(-lexical, pool - 1)[:pool] if pool else np.array([], dtype=int)
        candidates = set(dense) | {int(r) for r in lexical_top if lexical[r] > 0}
        for row in candidates - set(dense):
            dense[row] = float(self.index.vectors.reconstruct(row) @ vector)
        rows = np.array(sorted(candidates), dtype=np.int64)
        dense_values = np.array([dense[r] for r in rows], dtype=np.float32)
        lexical_values = lexical[rows]
        lexical_max = float(lexical_values.max()) if len(rows) else 0.0
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
        best = order[0] if len(order) else None
        confidence = self._confidence(dense_values, lexical_values, best)
        return [int(rows[i]) for i in order], [float(fused[i]) for i in order], confidence

    def _confidence(self, dense_values, lexical_values, best) -> float:
        """How sure the top passage answers: its dense similarity, as the labelled set calibrates."""
        if best is None:
            return 0.0
        return float(dense_values[best])

    def _rows_with_phrases(self, phrases: list[str]) -> set[int]:
        if self._normalised_texts is None:
            self._normalised_texts = [" " + " ".join(normalise_words(p.text)) + " " for p in self.index.passages]
        needles = [" " + " ".join(normalise_words(phrase)) + " " for phrase in phrases]
        return {row for row, text in enumerate(self._normalised_texts) if all(n in text for n in needles)}

    def _highlights(self, analysed: AnalysedQuery, row: int) -> list[list[int]]:
        text = self.index.passages[row].text
        spans = [span for phrase in analysed.phrases for span in phrase_spans(text, phrase)]
        if analysed.free_text.strip() or not analysed.phrases:
            spans += term_spans(text, analysed.highlight_terms())
        return merge_spans(spans)


def _rrf(score_lists: list[np.ndarray], k: int) -> np.ndarray:
    fused = np.zeros_like(score_lists[0], dtype=np.float32)
    for scores in score_lists:
        ranks = np.empty(len(scores), dtype=np.float32)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        fused += 1.0 / (k + ranks)
    return fused
