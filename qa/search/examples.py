"""A corpus's labelled example questions: evidence for the passages they ask about, and for answerability.

A corpus may bring questions people asked of it, each with the gold quotes that answer it or marked out of scope
(the same JSONL as a labelled set; qa/corpus/questions.py reads both). Then:

- a passage is also as close to a new question as the nearest example question it answers: a paraphrase of an
  asked question finds its passage even when it shares few words with it;
- the sentence that answered the nearest such example is favoured as the answering sentence;
- how close the question is to an answerable example, and to an out-of-scope one, tells answerability
  (qa/search/answerability.py).

Example questions are never shown; they only score. Evaluation leaves out every example whose question it scores
(``without``), so that its figures stay out of sample.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

from qa.corpus.questions import LabelledQuery, holds_answer, load_queries
from qa.storage import save_cache
from qa.text import plain_typography


def _key(question: str) -> str:
    return " ".join(question.casefold().split())


class ExampleQuestions:
    """The example questions of one corpus: each answerable one as a row of every passage that answers it, and the
    out-of-scope ones, with their vectors.

    An example is embedded exactly as the search embeds a question (lay terms, spelling, typography): the searcher
    binds its own ``embed`` (``Searcher.query_vectors``). Vectors are computed on first use, then read from a cache
    file named by the model and what was embedded."""

    def __init__(self, questions: list[LabelledQuery], passages, encoder, cache_dir: str | Path | None = None) -> None:
        pairs = [(q, row) for q in questions if q.gold and not q.out_of_scope
                 for row, passage in enumerate(passages) if any(quote in passage.text for quote in q.gold)]
        pairs.sort(key=lambda pair: pair[1])  # by passage row (stable): each passage's examples are one run
        self.texts = [q.query for q, _ in pairs]  # one per (answerable example, passage) pair
        self.gold = [q.gold for q, _ in pairs]
        self.rows = np.array([row for _, row in pairs], dtype=np.int64)
        self.out_of_scope = [q.query for q in questions if q.out_of_scope]
        self.answers: list[np.ndarray] = []  # per pair, which of its passage's units hold its answer (bind_units)
        self.passages = len(passages)
        self.encoder = encoder
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._embed = lambda texts: encoder.encode([plain_typography(text) for text in texts])
        self._inputs = [*self.texts, *self.out_of_scope]  # what is embedded, for the cache name
        self._vectors: np.ndarray | None = None  # answerable pairs, then out-of-scope examples
        self._source: tuple[ExampleQuestions, list[int]] | None = None  # a subset of another bank's vectors
        self._starts: np.ndarray | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.texts) + len(self.out_of_scope)

    def bind(self, embed, inputs: list[str]) -> None:
        """Embed the examples with ``embed`` (texts to vectors); ``inputs`` is what it embeds of each (the pairs'
        questions, then the out-of-scope ones), for the cache file's name."""
        self._embed, self._inputs, self._vectors = embed, list(inputs), None

    def bind_units(self, passages, unit_spans) -> None:
        """Which sentences and list items of its passage hold each example's answer (``unit_spans(row)`` gives a
        passage's unit spans), for ``answer_votes``."""
        self.answers = [np.array([holds_answer(passages[row].text, start, end, gold)
                                  for start, end in unit_spans(int(row))], dtype=np.float32)
                        for row, gold in zip(self.rows, self.gold)]

    @property
    def cache_path(self) -> Path | None:
        return self.cache_dir / f"example-questions-{self.fingerprint()}.npy" if self.cache_dir else None

    def fingerprint(self) -> str:
        payload = json.dumps([self.encoder.name, self._inputs, self.rows.tolist()], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def without(self, questions) -> ExampleQuestions:
        """The same bank less every example asking one of ``questions`` (compared ignoring case and spacing)."""
        drop = {_key(q) for q in questions}
        keep = [i for i, text in enumerate(self.texts) if _key(text) not in drop]
        keep_out = [i for i, text in enumerate(self.out_of_scope) if _key(text) not in drop]
        other = ExampleQuestions([], [], self.encoder)
        other.texts, other.rows, other.passages = [self.texts[i] for i in keep], self.rows[keep], self.passages
        other.gold = [self.gold[i] for i in keep]
        other.out_of_scope = [self.out_of_scope[i] for i in keep_out]
        other.answers = [self.answers[i] for i in keep] if self.answers else []
        other._inputs = [*(self._inputs[i] for i in keep), *(self._inputs[len(self.texts) + i] for i in keep_out)]
        other._source = (self, [*keep, *(len(self.texts) + i for i in keep_out)])
        return other

    def vectors(self) -> np.ndarray:
        """Every example's vector: the answerable pairs, then the out-of-scope examples."""
        if self._source is not None:
            bank, keep = self._source
            return bank.vectors()[keep]
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = self._read_cache()
                    if self._vectors is None:
                        self._vectors = self._encode()
        return self._vectors

    def best_per_passage(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each query vector: each passage's best cosine with an example question it answers (-1 where it has
        none), and the cosine of the nearest answerable and of the nearest out-of-scope example (-1 for none)."""
        best = np.full((len(vectors), self.passages), -1.0, dtype=np.float32)
        answerable = np.full(len(vectors), -1.0, dtype=np.float32)
        out_of_scope = np.full(len(vectors), -1.0, dtype=np.float32)
        if not len(self):
            return best, answerable, out_of_scope
        sims = vectors @ self.vectors().T  # (queries, examples)
        pairs = len(self.texts)
        if pairs:
            # The pairs are sorted by passage row: each passage's best is one reduction over its run.
            starts = self._runs()
            best[:, self.rows[starts]] = np.maximum.reduceat(sims[:, :pairs], starts, axis=1)
            answerable = sims[:, :pairs].max(axis=1)
        if len(self.out_of_scope):
            out_of_scope = sims[:, pairs:].max(axis=1)
        return best, answerable, out_of_scope

    def _runs(self) -> np.ndarray:
        """Where each passage's run of pairs starts (the pairs are sorted by row)."""
        if self._starts is None:
            self._starts = np.flatnonzero(np.r_[True, self.rows[1:] != self.rows[:-1]])
        return self._starts

    def nearest(self, vector: np.ndarray) -> dict[str, tuple[str, float] | None]:
        """The nearest answerable and out-of-scope example questions and their cosines, for explanations."""
        sims = self.vectors() @ vector
        pairs = len(self.texts)
        found: dict[str, tuple[str, float] | None] = {"answerable": None, "out_of_scope": None}
        if pairs:
            at = int(np.argmax(sims[:pairs]))
            found["answerable"] = (self.texts[at], float(sims[at]))
        if len(self.out_of_scope):
            at = int(np.argmax(sims[pairs:]))
            found["out_of_scope"] = (self.out_of_scope[at], float(sims[pairs + at]))
        return found

    def answer_votes(self, row: int, vector: np.ndarray, units: int) -> np.ndarray | None:
        """For passage ``row`` and a question's vector: the units that hold the answer of the nearest example question
        this passage answers, weighted by that example's cosine and shared among them; None without one."""
        mine = np.flatnonzero(self.rows == row)
        if not len(mine) or not self.answers:
            return None
        sims = self.vectors()[mine] @ vector
        nearest = int(mine[int(np.argmax(sims))])
        answer = self.answers[nearest]
        if len(answer) != units or not answer.any():
            return None
        return float(sims.max()) * answer / answer.sum()

    def _encode(self) -> np.ndarray:
        texts = [*self.texts, *self.out_of_scope]
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        vectors = np.asarray(self._embed(texts), dtype=np.float32)
        save_cache(self.cache_path, lambda partial: np.save(partial, vectors))
        return vectors

    def _read_cache(self) -> np.ndarray | None:
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        try:
            vectors = np.load(self.cache_path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return vectors if vectors.shape == (len(self), self.encoder.dim) else None


def load_examples(path: str | Path | None, passages, encoder, cache_dir: str | Path | None = None
                  ) -> ExampleQuestions | None:
    """The example questions of ``path`` (a labelled JSONL file), or None when the corpus has none."""
    if not path or not Path(path).is_file():
        return None
    return ExampleQuestions(load_queries(path), passages, encoder, cache_dir)
