"""What a result shows besides its text: highlighted words and the sentence that best answers the question."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from qa.index.loading import LoadedIndex
from qa.search.analysis import AnalysedQuery, merge_spans, phrase_spans, term_spans
from qa.search.candidates import DenseScorer
from qa.text import STOPWORDS, normalise_words, stem, words

ANSWER_TERM_WEIGHT = 0.3  # weight of the question's words found in a sentence, against its cosine
# Weight of the nearest example question's answering sentence (leave one labelled file out on the guide, the right
# sentence of the right passage went from 0.845 to 0.907; docs/retrieval.md).
ANSWER_EXAMPLE_WEIGHT = 0.2


def highlights(analysed: AnalysedQuery, text: str) -> list[list[int]]:
    """[start, end) offsets in ``text`` of the quoted phrases and the query's (expanded, stemmed) words."""
    spans = [span for phrase in analysed.phrases for span in phrase_spans(text, phrase)]
    if analysed.free_text.strip() or not analysed.phrases:
        spans += term_spans(text, analysed.highlight_terms())
    return merge_spans(spans)


def answer_span(index: LoadedIndex, dense: DenseScorer, row: int, vector: np.ndarray,
                stems: set[str], examples=None) -> list[int] | None:
    """[start, end) in the passage's text of the sentence or list item that best answers the question, or None
    when the passage has no smaller unit. A unit scores its cosine to the question (the mean of its vector in
    the passage and, when the build has one, its vector on its own), plus the IDF-weighted share of the
    question's own words it contains, plus, when the corpus has example questions, a vote for the units that
    answer the nearest example question this passage answers (qa/search/examples.py)."""
    units = dense.unit_slices[row]
    if units.stop == units.start:
        return None
    text = index.passages[row].text
    spans = index.unit_spans[units]
    scores = dense.unit_scores(row, vector)
    if len(dense.plain_units):
        scores = (scores + dense.plain_units[units] @ vector) / 2
    weights = {s: index.lexical.idf(s) for s in stems}
    total = sum(weights.values())
    if total > 0:
        for i, (start, end) in enumerate(spans.tolist()):
            found = _unit_stems(text[start:end]) & weights.keys()
            scores[i] += ANSWER_TERM_WEIGHT * sum(weights[s] for s in found) / total
    votes = examples.answer_votes(row, vector, len(scores)) if examples is not None else None
    if votes is not None:
        scores = scores + ANSWER_EXAMPLE_WEIGHT * votes
    start, end = spans[int(np.argmax(scores))].tolist()
    return [int(start), int(end)]


def own_terms(analysed: AnalysedQuery) -> set[str]:
    """Stems of the content words the person typed (expansions left out: they would outweigh the question)."""
    return {stem(w) for w in normalise_words(" ".join([analysed.free_text, *analysed.phrases]))
            if w not in STOPWORDS and len(w) > 1}


@lru_cache(maxsize=65536)
def _unit_stems(text: str) -> frozenset[str]:
    """The stems of a sentence's words, once per sentence: the same passages come back query after query."""
    return frozenset(stem(w) for _, _, w in words(text))

