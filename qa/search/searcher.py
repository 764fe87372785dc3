"""Hybrid passage search: wires query analysis, candidates, fusion, confidence and presentation together."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from qa.corpus.splitter import Passage
from qa.embedding.base import Encoder
from qa.index.loading import LoadedIndex
from qa.search.analysis import AnalysedQuery, TermList, analyse_with_spelling
from qa.search.answerability import AnswerabilityModel
from qa.search.candidates import Candidates, DenseScorer, gather
from qa.search.confidence import Confidence, coverage_terms
from qa.search.examples import ExampleQuestions
from qa.search.fusion import adaptive_for, fuse, ranked
from qa.search.notices import Notices
from qa.search.presentation import answer_span, highlights, own_terms
from qa.search.retrieval import RetrievalSettings
from qa.text import bm25_tokens, normalise_words, plain_typography


@dataclass
class Hit:
    passage: Passage
    score: float
    highlights: list[list[int]]
    low_confidence: bool = False
    answer: list[int] | None = None  # [start, end) in the passage text of its best answering sentence


@dataclass
class Evidence:
    """One query before fusion: its analysis, its vector and its candidates' dense and lexical scores."""

    analysed: AnalysedQuery
    vector: np.ndarray
    candidates: Candidates
    terms: list[list[str]]  # the question's terms for coverage (qa.search.confidence.coverage_terms)
    # Cosines of the nearest answerable and out-of-scope example questions (-1 without examples).
    nearest_examples: tuple[float, float] = (-1.0, -1.0)


@dataclass
class Outcome:
    query: str
    answered: bool
    hits: list[Hit]
    confidence: float
    notice: dict | None = None
    message: str | None = None
    analysed: AnalysedQuery | None = field(default=None, repr=False)
    # Only when the question quotes words: whether passages hold them exactly. False for a question that quotes
    # words in passing that no passage holds: then the hits are the closest passages for the same words.
    phrase_matched: bool | None = None


class Searcher:
    """Answers queries from one loaded index; safe to share between threads (read-only state)."""

    def __init__(self, index: LoadedIndex, encoder: Encoder, settings: RetrievalSettings | None = None,
                 lay_terms: TermList | None = None, notices: Notices | None = None,
                 examples: ExampleQuestions | None = None, answerability: AnswerabilityModel | None = None) -> None:
        self.index = index
        self.answerability = answerability if self.examples_allow(examples, answerability) else None
        self.examples = examples if examples is not None and len(examples) else None
        self.encoder = encoder
        self.settings = settings or RetrievalSettings()
        self.lay_terms = lay_terms or TermList()
        self.notices = notices or Notices()
        self.dense = DenseScorer(index)
        self.adaptive = adaptive_for(encoder.name)  # the per-question fusion weight measured for this model
        if self.examples is not None:  # embedded as this searcher embeds a question
            inputs = [*self.examples.texts, *self.examples.out_of_scope]
            self.examples.bind(self.query_vectors, [self.analyse(text).retrieval_text for text in inputs])
            self.examples.bind_units(index.passages, lambda row: index.unit_spans[self.dense.unit_slices[row]].tolist())
        self._normalised_texts: list[str] | None = None

    @staticmethod
    def examples_allow(examples: ExampleQuestions | None, answerability: AnswerabilityModel | None) -> bool:
        """An answerability model reads the example questions: without them it cannot judge."""
        return answerability is not None and examples is not None and len(examples) > 0

    @property
    def threshold(self) -> float:
        """The confidence under which the service abstains: the answerability model's, else the settings'."""
        return self.answerability.threshold if self.answerability is not None else self.settings.abstain_below

    def search(self, query: str, k: int = 5, include_low_confidence: bool = False) -> Outcome:
        return self.search_batch([query], k, include_low_confidence)[0]

    def analyse(self, query: str) -> AnalysedQuery:
        return analyse_with_spelling(query, self.lay_terms, self.index.vocabulary)

    def search_batch(self, queries: list[str], k: int = 5, include_low_confidence: bool = False,
                     batch_size: int = 64, highlight: bool = True, ranking_only: bool = False) -> list[Outcome]:
        """``ranking_only`` (batch evaluation) returns every row as low-confidence ones are, with the first
        row's confidence and answer, and skips the urgent notice and judging each later row on its own."""
        return [self.rank(evidence, k, include_low_confidence or ranking_only, highlight, ranking_only)
                for evidence in self.evidence(queries, batch_size)]

    def query_vectors(self, queries: list[str], batch_size: int = 64) -> np.ndarray:
        """The vectors a search computes for these queries (the urgent check reads the same ones)."""
        return self._embed([self.analyse(query) for query in queries], batch_size)

    def _embed(self, analysed: list[AnalysedQuery], batch_size: int) -> np.ndarray:
        return self.encoder.encode([plain_typography(a.retrieval_text) for a in analysed], batch_size=batch_size)

    def evidence(self, queries: list[str], batch_size: int = 64) -> list[Evidence]:
        """Each query analysed and embedded, with its candidate passages: everything but the fusion."""
        analysed = [self.analyse(query) for query in queries]
        texts = [a.retrieval_text for a in analysed]
        vectors = self._embed(analysed, batch_size)
        depth = self.settings.candidates
        neighbours = self.dense.nearest(vectors, depth)
        examples, nearest = None, [(-1.0, -1.0)] * len(queries)
        if self.examples is not None:  # the passages of the nearest example questions are candidates too
            examples, answerable, out_of_scope = self.examples.best_per_passage(vectors)
            nearest = list(zip(answerable.tolist(), out_of_scope.tolist()))
            for found, scores in zip(neighbours, examples):
                found.update(int(row) for row in np.argsort(-scores)[:depth] if scores[row] > -1)
        tokens = bm25_tokens(texts)
        terms = [coverage_terms(query) for query in analysed]
        return [Evidence(query, vectors[i], gather(self.dense, self.index.lexical, neighbours[i], tokens[i],
                                                   terms[i], vectors[i], depth,
                                                   None if examples is None else examples[i]), terms[i], nearest[i])
                for i, query in enumerate(analysed)]

    def without_examples(self, questions) -> Searcher:
        """This searcher less every example question asking one of ``questions``: evaluation scores a labelled
        set out of sample, even when the corpus's examples hold some of its questions (``held_out``)."""
        if self.examples is None:
            return self
        other = copy.copy(self)
        other.examples = self.examples.without(questions)
        return other

    def held_out(self, queries) -> list[tuple[Searcher, list[int]]]:
        """For labelled queries, one searcher per labelled set (``source``) without that set's example questions,
        with the positions of its queries: each set is judged with the examples of the others only."""
        sets: dict[str, list[int]] = {}
        for position, query in enumerate(queries):
            sets.setdefault(getattr(query, "source", ""), []).append(position)
        return [(self.without_examples(queries[i].query for i in positions), positions)
                for positions in sets.values()]

    def judge(self, evidence: Evidence) -> tuple[list[int], list[float], Confidence]:
        """The candidates of ``evidence`` ranked by fusion, best first, with their fused scores, and how sure the
        service is of each (before any quoted-phrase lookup)."""
        settings, candidates = self.settings, evidence.candidates
        rows, fused = ranked(candidates, fuse(candidates, settings.fusion, settings.dense_weight, settings.rrf_k,
                                              self.adaptive))
        confidence_of = Confidence(self.index, self.dense, evidence.analysed, evidence.vector,
                                   settings.coverage_weight, settings.foreign_term_penalty, evidence.terms,
                                   candidates, self.answerability, evidence.nearest_examples)
        return rows, fused, confidence_of

    def rank(self, evidence: Evidence, k: int = 5, include_low_confidence: bool = False, highlight: bool = True,
             ranking_only: bool = False) -> Outcome:
        """The outcome of one query's ``evidence``: what ``search`` returns (``search_batch`` for the flags)."""
        settings = self.settings
        analysed, vector = evidence.analysed, evidence.vector
        rows, fused, confidence_of = self.judge(evidence)
        confidence = confidence_of(rows[0]) if rows else 0.0
        notice = None if ranking_only else self.notices.urgent_notice(analysed.raw, vector)
        phrase_matched = None
        if analysed.phrases:
            allowed = self._rows_with_phrases(analysed.phrases)
            phrase_matched = bool(allowed)
            if allowed or not analysed.free_text.strip():
                # An exact lookup (only quoted words), or a question whose quoted words some passage holds.
                keep = [i for i, row in enumerate(rows) if row in allowed]
                missing = sorted(allowed - set(rows))
                rows = [rows[i] for i in keep] + missing
                fused = [fused[i] for i in keep] + [0.0] * len(missing)
                if not rows:
                    return Outcome(analysed.raw, False, [], 0.0, notice, self.notices.no_phrase_match, analysed,
                                   phrase_matched)
                confidence = 1.0  # an exact phrase match is certain, whatever its ranking score
            else:
                # Words quoted in passing ("the leaflet says 'take with food'") that no passage holds: the closest
                # passages for the same words, judged like any question, and the response says so.
                analysed = analysed.as_words()
        threshold = self.threshold
        answered = confidence >= threshold
        # With an urgent notice the passages still come back, marked low-confidence where they are.
        include_low_confidence = include_low_confidence or notice is not None
        if not answered and not include_low_confidence:
            return Outcome(analysed.raw, False, [], confidence, notice, self.notices.no_answer, analysed,
                           phrase_matched)
        stems = own_terms(analysed)
        hits = []
        for position, (row, score) in enumerate(zip(rows, fused)):
            if len(hits) == k:
                break
            # Below the best passage, each passage must be a confident match on its own to be shown: its plain
            # confidence against the settings' threshold (the answerability model judges the question, not each
            # passage; without one the two are the same).
            sure = answered and (position == 0 or bool(analysed.phrases)
                                 or (not ranking_only and confidence_of.passage(row) >= settings.abstain_below))
            if not sure and not include_low_confidence:
                continue
            text = self.index.passages[row].text
            hits.append(Hit(self.index.passages[row], round(float(score), 4),
                            highlights(analysed, text) if highlight else [], not sure,
                            # Batch evaluation needs only the first result's answer.
                            answer_span(self.index, self.dense, row, vector, stems, self.examples)
                            if highlight or not hits
                            else None))
        message = None if answered else self.notices.no_answer
        return Outcome(analysed.raw, answered, hits, confidence, notice, message, analysed, phrase_matched)

    def _plain_texts(self) -> list[str]:
        """Each passage as ' word word … ', for whole-word phrase tests that ignore case and punctuation."""
        if self._normalised_texts is None:
            self._normalised_texts = [" " + " ".join(normalise_words(p.text)) + " " for p in self.index.passages]
        return self._normalised_texts

    def _rows_with_phrases(self, phrases: list[str]) -> set[int]:
        needles = [" " + " ".join(normalise_words(phrase)) + " " for phrase in phrases]
        return {row for row, text in enumerate(self._plain_texts()) if all(n in text for n in needles)}
