"""A corpus's example questions: a paraphrase of an asked question finds its passage; evaluation stays out of sample."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qa.corpus.questions import LabelledQuery
from qa.embedding import HashingEncoder
from qa.search.examples import ExampleQuestions, load_examples
from tests.support import ROOT


class _Passage:
    def __init__(self, text: str) -> None:
        self.text = text


PASSAGES = [_Passage("Tiny, flat, dark-red skin spots (petechiae) can be a sign."), _Passage("MRD means a small number "
            "of cells remain during or after treatment."), _Passage("Wash your hands often.")]


def _bank(tmp_path=None) -> ExampleQuestions:
    questions = [LabelledQuery("a", "red dots all over her legs", ["dark-red skin spots"]),
                 LabelledQuery("b", "what does minimal residual disease mean", ["MRD means"]),
                 LabelledQuery("c", "how much does a transplant cost", [], out_of_scope=True),
                 LabelledQuery("d", "spots or mrd", ["dark-red skin spots", "MRD means"])]
    return ExampleQuestions(questions, PASSAGES, HashingEncoder(64), tmp_path)


def test_each_answerable_example_counts_for_every_passage_holding_one_of_its_quotes():
    bank = _bank()
    assert bank.texts == ["red dots all over her legs", "spots or mrd", "what does minimal residual disease mean",
                          "spots or mrd"]
    assert bank.rows.tolist() == [0, 0, 1, 1]  # by passage row: each passage's examples are one run
    assert bank.out_of_scope == ["how much does a transplant cost"]  # it answers nothing, and tells abstention
    assert len(bank) == 5 and bank.vectors().shape == (5, 64)


def test_a_passage_scores_its_nearest_example_and_a_passage_without_one_scores_minus_one():
    bank = _bank()
    encoder = bank.encoder
    vectors = encoder.encode(["red dots all over her legs", "what does a transplant cost"])
    best, answerable, out_of_scope = bank.best_per_passage(vectors)
    assert best.shape == (2, 3)
    example = encoder.encode(bank.texts)
    assert best[0, 0] == pytest.approx(max(example[0] @ vectors[0], example[1] @ vectors[0]))
    assert best[1, 1] == pytest.approx(max(example[2] @ vectors[1], example[3] @ vectors[1]))
    assert (best[:, 2] == -1).all()
    assert answerable[0] == pytest.approx(1.0) and answerable[1] == pytest.approx((example @ vectors[1]).max())
    cost = encoder.encode(["how much does a transplant cost"])[0]
    assert out_of_scope.tolist() == pytest.approx([float(cost @ vectors[0]), float(cost @ vectors[1])])
    assert bank.nearest(vectors[1])["out_of_scope"][0] == "how much does a transplant cost"


def test_without_drops_the_asked_questions_ignoring_case_and_spacing():
    bank = _bank()
    fewer = bank.without(["RED dots  all over her legs ", "spots or mrd", "How much does a transplant cost"])
    assert fewer.texts == ["what does minimal residual disease mean"] and fewer.rows.tolist() == [1]
    assert fewer.out_of_scope == []
    np.testing.assert_array_equal(fewer.vectors(), bank.vectors()[[2]])
    assert len(bank) == 5  # the bank itself is unchanged


def test_vectors_are_encoded_once_then_read_from_the_cache(tmp_path):
    first = _bank(tmp_path)
    vectors = first.vectors()
    (cached,) = tmp_path.glob("example-questions-*.npy")

    class NoEncoding(HashingEncoder):
        def encode(self, texts, batch_size=64, progress=False):
            raise AssertionError("the cached vectors should have been read")

    second = ExampleQuestions([LabelledQuery("a", "red dots all over her legs", ["dark-red skin spots"]),
                               LabelledQuery("b", "what does minimal residual disease mean", ["MRD means"]),
                               LabelledQuery("c", "how much does a transplant cost", [], out_of_scope=True),
                               LabelledQuery("d", "spots or mrd", ["dark-red skin spots", "MRD means"])],
                              PASSAGES, NoEncoding(64), tmp_path)
    np.testing.assert_array_equal(second.vectors(), vectors)
    assert cached.is_file()


def test_a_corpus_without_example_questions_has_none(tmp_path):
    assert load_examples(None, PASSAGES, HashingEncoder(64)) is None
    assert load_examples(tmp_path / "absent.jsonl", PASSAGES, HashingEncoder(64)) is None


def test_an_example_question_lifts_its_passage_and_evaluation_leaves_it_out(fake_app):
    """With the example bank the asked question ranks its passage first; run_queries, which scores labelled sets,
    leaves out the examples of the questions it scores, so its figures are out of sample."""
    from qa.evaluation import run_queries

    searcher = fake_app.extensions["searcher"]
    assert searcher.examples is not None  # the guide brings corpus/example_questions.jsonl
    question = searcher.examples.texts[0]
    with_examples = searcher.evidence([question])[0].candidates
    without = searcher.without_examples([question]).evidence([question])[0].candidates
    assert with_examples.examples is not None and with_examples.examples.max() > 0.99  # its own example
    assert without.examples.max() < 0.99
    held = searcher.held_out([LabelledQuery("x", question, [], source="one.jsonl"),
                              LabelledQuery("y", "something else", [], source="two.jsonl")])
    assert [positions for _, positions in held] == [[0], [1]]
    assert question not in held[0][0].examples.texts and question in held[1][0].examples.texts
    labelled = [LabelledQuery("x", question, [searcher.index.passages[int(searcher.examples.rows[0])].text[:30]])]
    result = run_queries(searcher, labelled)[0]
    assert result.passage_ids == [h.passage.id for h in searcher.without_examples([question]).search_batch(
        [question], k=len(searcher.index.passages), highlight=False, ranking_only=True)[0].hits]


def test_the_guide_example_file_is_made_from_the_development_sets_only():
    """corpus/example_questions.jsonl is exactly what scripts/make_example_questions.py makes from the labelled set and
    the blind development sets B to E (the held-out set A and the report set F are never read)."""
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_questions.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    qids = [json.loads(line)["qid"] for line in (ROOT / "corpus" / "example_questions.jsonl").open(encoding="utf-8")]
    assert {qid[:2] for qid in qids} == {"g0", "g1", "gb", "gc", "gd", "ge"}
