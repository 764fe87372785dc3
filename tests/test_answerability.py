"""Answerability: the model's signals and weights, training out of fold, the threshold's choice and its file."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from qa.errors import QAError
from qa.evaluation import answerability as train
from qa.search.answerability import FEATURES, AnswerabilityModel, examples_digest, load_answerability

MANIFEST = {"corpus": {"hash": "abc"}, "model": "m"}


def _model(threshold=0.5, tags=None) -> AnswerabilityModel:
    return AnswerabilityModel("m", (0.5, 0.3, 0.0, 0.6, 0.5), (0.1, 0.2, 1.0, 0.1, 0.1), (1.0, 0.5, -1.0, 2.0, -3.0),
                              0.25, threshold, FEATURES, tags if tags is not None else {"corpus_hash": "abc",
                                                                                        "examples": ""})


SIGNALS = {"similarity": 0.6, "coverage": 0.5, "foreign_term": 1.0, "nearest_answerable": 0.8,
           "nearest_out_of_scope": 0.4}


def test_the_log_odds_are_the_bias_plus_each_signal_weighted_on_its_standard_scale():
    model = _model()
    shares = model.contributions(SIGNALS)
    assert shares == pytest.approx({"similarity": 1.0, "coverage": 0.5, "foreign_term": -1.0,
                                    "nearest_answerable": 4.0, "nearest_out_of_scope": 3.0})
    assert model.logit(SIGNALS) == pytest.approx(0.25 + 7.5)
    assert model.probability(SIGNALS) == pytest.approx(1 / (1 + np.exp(-7.75)))
    near_a_cost_question = SIGNALS | {"nearest_out_of_scope": 0.95, "nearest_answerable": 0.5}
    assert model.probability(near_a_cost_question) < 0.5 < model.probability(SIGNALS)


def test_a_saved_model_loads_only_for_its_corpus_examples_and_model(tmp_path, caplog):
    path = tmp_path / "answerability.json"
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"qid": "a", "query": "q", "gold": ["x"]}\n')
    _model(tags={"corpus_hash": "abc", "examples": examples_digest(examples)}).save(path)
    loaded = load_answerability(path, MANIFEST, examples, "m")
    assert loaded is not None and loaded.probability(SIGNALS) == pytest.approx(_model().probability(SIGNALS))
    with caplog.at_level(logging.WARNING):
        assert load_answerability(path, MANIFEST, examples, "another-model") is None
        examples.write_text('{"qid": "a", "query": "q changed", "gold": ["x"]}\n')
        assert load_answerability(path, MANIFEST, examples, "m") is None
        assert load_answerability(path, {"corpus": {"hash": "other"}}, examples, "m") is None
    assert "plain confidence" in caplog.text
    assert load_answerability(tmp_path / "absent.json", MANIFEST, examples, "m") is None


@pytest.mark.parametrize("change", [{"format": 9}, {"features": ["similarity"]}, {"scale": [0, 1, 1, 1, 1]},
                                    {"threshold": 1.5}, {"weights": [1, 2]}, {"bias": "x"}])
def test_a_malformed_model_file_is_one_clear_error(tmp_path, change):
    path = tmp_path / "answerability.json"
    path.write_text(json.dumps(_model().to_dict() | change))
    with pytest.raises(QAError, match="answerability model .* is malformed"):
        load_answerability(path, MANIFEST, None, "m")


def _sets(seed=0) -> list[train.LabelledSignals]:
    """Three labelled sets where answerable questions sit near answerable examples and out-of-scope ones near
    out-of-scope examples, with noise."""
    rng = np.random.default_rng(seed)
    sets = []
    for name in ("a", "b", "c"):
        answerable = np.array([True] * 60 + [False] * 40)
        signals = rng.normal(0.5, 0.1, (100, len(FEATURES)))
        signals[:, 3] += np.where(answerable, 0.3, 0.0)
        signals[:, 4] += np.where(answerable, 0.0, 0.3)
        sets.append(train.LabelledSignals(name, signals, answerable))
    return sets


def test_each_set_is_judged_by_a_model_trained_on_the_others():
    sets = _sets()
    found = train.out_of_fold(sets)
    assert set(found) == {"a", "b", "c"} and all(len(p) == 100 for p in found.values())
    others = train.fit(np.vstack([sets[1].signals, sets[2].signals]),
                       np.concatenate([sets[1].answerable, sets[2].answerable]))
    np.testing.assert_allclose(found["a"], train.probabilities(others, sets[0].signals))
    for s in sets:
        assert found[s.name][s.answerable].mean() > found[s.name][~s.answerable].mean() + 0.5


def test_the_threshold_is_the_most_abstention_that_refuses_at_most_3_percent():
    probability = np.array([0.9] * 95 + [0.2, 0.3, 0.35, 0.6, 0.7] + [0.1] * 30 + [0.5] * 5 + [0.8] * 5)
    answerable = np.array([True] * 100 + [False] * 40)
    chosen = train.choose(train.tradeoff(probability, answerable))
    assert chosen["refused"] == 3 and chosen["threshold"] == pytest.approx(0.6)  # 0.2, 0.3, 0.35 refused
    assert chosen["abstained"] == 35 and chosen["oos_abstention"] == pytest.approx(35 / 40)
    looser = train.choose(train.tradeoff(probability, answerable), max_refused=0.05)
    assert looser["refused"] == 5 and looser["abstained"] == 40


def test_wilson_intervals_hold_the_proportion_and_stay_in_0_to_1():
    low, high = train.wilson(38, 40)
    assert low < 38 / 40 < high and high <= 1.0
    assert train.wilson(0, 20)[0] == 0.0 and train.wilson(20, 20)[1] == 1.0
    assert train.wilson(0, 0) == (0.0, 0.0)
    assert train.wilson(95, 100)[0] == pytest.approx(0.888, abs=0.001)  # the textbook value


def test_training_needs_both_kinds():
    with pytest.raises(ValueError, match="both"):
        train.fit(np.zeros((4, len(FEATURES))), np.array([True] * 4))


def test_the_curve_is_drawn_with_the_chosen_point(tmp_path):
    sets = _sets()
    found = train.out_of_fold(sets)
    probability = np.concatenate(list(found.values()))
    answerable = np.concatenate([s.answerable for s in sets])
    curve = train.tradeoff(probability, answerable)
    train.plot(curve, train.choose(curve), tmp_path / "curve.png", "test")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
