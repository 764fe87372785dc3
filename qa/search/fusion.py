"""Fusing the dense and lexical evidence of the candidates into one ranking score.

Fusion is a convex combination of scores (Bruch, Gai and Ingber, "An Analysis of Fusion Functions for Hybrid
Retrieval", ACM TOIS 2023): unlike reciprocal-rank fusion, a weak list cannot pull a strong one down, because each
list counts by how far apart its scores are, not only by their order.

    score = w * cosine + (1 - w) * (coverage + BM25 / best BM25) / 2

The default ("adaptive") sets ``w`` per question from the evidence: how well the model reads the question, as the
best candidate's cosine. When even the best passage is a weak semantic match (cosine up to ``COSINE_LOW``), the
dense list is close to guessing and the lexical evidence counts fully (``w`` = ``WEIGHT_LOW``); from ``COSINE_HIGH``
the model reads the question and the dense list leads (``WEIGHT_HIGH``), so that a lexical list made weak by a
long message, untitled answers or candidates that all share the question's topic cannot pull it down; in between,
``w`` rises linearly. A fixed weight (``convex``) is what ``qa eval --calibrate`` chooses for one corpus.

Neither side is stretched to fill [0, 1] per query. The cosine keeps its own scale, so a flat dense list (every
candidate about as similar) stays flat and cannot outvote a decisive lexical match. The lexical side is the
IDF-weighted share of the question's terms the passage contains, which counts a term once however often it
occurs, averaged with BM25 relative to the query's best, which adds frequency and length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.search.candidates import Candidates

METHODS = ("adaptive", "convex", "rrf", "dense", "lexical")


@dataclass(frozen=True)
class AdaptiveWeight:
    """The dense list's weight per question: ``low`` up to a best cosine of ``cosine_low``, ``high`` from
    ``cosine_high``, linear in between. Cosines have a scale of their own in each model, so the thresholds belong
    to the model they were measured with."""

    low: float
    high: float
    cosine_low: float
    cosine_high: float

    def weight(self, dense: np.ndarray) -> float:
        if not len(dense):
            return self.high
        share = min(1.0, max(0.0, (float(dense.max()) - self.cosine_low) / (self.cosine_high - self.cosine_low)))
        return self.low + (self.high - self.low) * share


# Chosen on the development battery (docs/retrieval.md). Left one set out, every held-out set gained over its better
# single list but the synthetic one, which lost 0.0035 RR@10 (one question of 300).
ADAPTIVE = {"sentence-transformers/all-MiniLM-L6-v2": AdaptiveWeight(0.6, 0.9, 0.45, 0.55)}


def adaptive_for(model: str) -> AdaptiveWeight | None:
    """The adaptive weight measured for ``model``; None for any other model, which then fuses at the fixed
    ``dense_weight`` (0.5 unless calibrated) until its own thresholds are measured."""
    return ADAPTIVE.get(model)


def relative_bm25(scores: np.ndarray) -> np.ndarray:
    """BM25 over the best candidate's score; BM25's theoretical minimum, 0, stays 0."""
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else np.zeros_like(scores)


def lexical_evidence(candidates: Candidates) -> np.ndarray:
    """On [0, 1]: the mean of term coverage and relative BM25."""
    return (candidates.coverage + relative_bm25(candidates.lexical)) / 2


def fuse(candidates: Candidates, method: str, dense_weight: float, rrf_k: int = 60,
         adaptive: AdaptiveWeight | None = None) -> np.ndarray:
    """One score per candidate; higher is better. ``dense_weight`` is the convex weight; ``adaptive`` sets its own
    per question, when the model has one (else the fixed weight applies)."""
    dense, lexical = candidates.semantic, candidates.lexical
    if method == "adaptive":
        dense_weight = adaptive.weight(dense) if adaptive is not None else dense_weight
        method = "convex"
    if method == "convex":
        return (dense_weight * dense + (1 - dense_weight) * lexical_evidence(candidates)).astype(np.float32)
    if method == "rrf":
        return rrf([dense, lexical], rrf_k)
    if method == "dense":
        return dense.astype(np.float32)
    if method == "lexical":
        return relative_bm25(lexical)
    raise ValueError(f"fusion must be one of {', '.join(METHODS)}, not {method!r}")


def rrf(score_lists: list[np.ndarray], k: int) -> np.ndarray:
    """Reciprocal-rank fusion. In every list but the first (dense), a zero score is no evidence and earns
    nothing, rather than an arbitrary rank among the ties."""
    fused = np.zeros_like(score_lists[0], dtype=np.float32)
    for position, scores in enumerate(score_lists):
        ranks = np.empty(len(scores), dtype=np.float32)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        credit = 1.0 / (k + ranks)
        fused += credit if position == 0 else np.where(scores > 0, credit, 0.0)
    return fused


def ranked(candidates: Candidates, fused: np.ndarray) -> tuple[list[int], list[float]]:
    """Candidate rows best first (ties by row, for a stable order) and their fused scores."""
    order = np.lexsort((candidates.rows, -fused))
    return [int(candidates.rows[i]) for i in order], [float(fused[i]) for i in order]
