"""The urgent classifier: weights on disk, and how its probability combines with the rules."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from qa.embedding import HashingEncoder
from qa.urgent import UrgentDetector
from qa.urgent.classifier import UrgentClassifier, train
from qa.urgent.words import WordModel, ngrams, train_words

RULES = {"concepts": [{"name": "seizure", "all_of": [["seizure"]]}], "cues": {"why": -2}}


def _detector(tmp_path, classifier: UrgentClassifier, fire_above=0.9, veto_below=0.2) -> UrgentDetector:
    classifier.save(tmp_path / "weights.json")
    section = {"file": "weights.json", "fire_above": fire_above, "veto_below": veto_below}
    return UrgentDetector.from_data(RULES | {"classifier": section}, tmp_path)


def _leaning(encoder, text: str, toward: float) -> UrgentClassifier:
    """Weights whose probability for ``text`` is ``toward`` (the vector is unit length)."""
    vector = encoder.encode([text])[0]
    return UrgentClassifier(encoder.name, vector, float(np.log(toward / (1 - toward)) - 1.0))


def test_weights_round_trip_and_are_written_whole(tmp_path):
    classifier = UrgentClassifier("m", np.array([0.5, -0.25], dtype=np.float32), 0.1, {"questions": 2})
    classifier.save(tmp_path / "w.json")
    loaded = UrgentClassifier.load(tmp_path / "w.json")
    assert loaded.model == "m" and loaded.bias == 0.1 and loaded.weights.tolist() == [0.5, -0.25]
    assert [p.name for p in tmp_path.iterdir()] == ["w.json"]  # no partial file left behind
    assert loaded.probability(np.array([0.0, 0.0])) == pytest.approx(1 / (1 + np.exp(-0.1)))
    assert loaded.probability(np.array([1e9, 0.0])) == pytest.approx(1.0)  # no overflow


@pytest.mark.parametrize("content", ["{", '{"format": 1}', '{"format": 3, "model": "m", "bias": 0, "weights": [1]}',
                                     '{"format": 2, "model": "m", "bias": 0, "weights": [1], "words": {"bias": 0}}',
                                     '{"format": 2, "model": "m", "bias": 0, "weights": [1], '
                                     '"words": {"ngram_range": [1, 3], "bias": 0, "terms": {}}}',
                                     '{"format": 2, "model": "m", "bias": 0, "weights": [1], '
                                     '"words": {"ngram_range": [1, 2], "bias": 0, "terms": {"fever": [1, Infinity]}}}',
                                     '{"format": 1, "model": "m", "bias": 0, "weights": []}',
                                     '{"format": 1, "model": "m", "bias": 0, "weights": [NaN]}'])
def test_a_damaged_weights_file_is_one_clear_error(tmp_path, content):
    (tmp_path / "w.json").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="retrain it with `python -m qa train-urgent`"):
        UrgentClassifier.load(tmp_path / "w.json")


def test_the_classifier_fires_vetoes_or_agrees(tmp_path):
    encoder = HashingEncoder(256)
    question = "my son is having a seizure right now"
    vector = encoder.encode([question])[0]
    cases = [(0.95, True, "fires at >= 0.9"),  # the rules fire too: it agrees
             (0.5, True, "agrees"), (0.1, False, "vetoes the rules below 0.2")]
    for toward, fires, said in cases:
        detector = _detector(tmp_path, _leaning(encoder, question, toward))
        detector.attach_encoder(encoder)
        decision = detector.decide(question, vector)
        assert decision.fires is fires and decision.probability == pytest.approx(toward, abs=1e-3)
        assert ("agrees" if toward == 0.95 else said) in decision.reason
    calm = "what is MRD"  # no concept: only a confident classifier fires
    detector = _detector(tmp_path, _leaning(encoder, calm, 0.95))
    detector.attach_encoder(encoder)
    decision = detector.decide(calm, encoder.encode([calm])[0])
    assert decision.fires and "fires at >= 0.9" in decision.reason
    assert not detector.decide(calm, encoder.encode([calm])[0], use_classifier=False).fires
    assert not detector.decide(calm).fires  # no query vector: the rules alone


def test_weights_for_another_model_are_not_used(tmp_path, caplog):
    encoder = HashingEncoder(256)
    detector = _detector(tmp_path, UrgentClassifier("another-model", np.ones(256, dtype=np.float32), 5.0))
    with caplog.at_level(logging.WARNING, logger="qa.urgent"):
        detector.attach_encoder(encoder)
    assert not detector.classifier_ready and "trained for model another-model" in caplog.text
    assert not detector.decide("what is MRD", encoder.encode(["what is MRD"])[0]).fires


def test_training_separates_two_kinds_of_question():
    encoder = HashingEncoder(256)
    urgent = ["he is bleeding right now", "she is bleeding a lot now", "bleeding now and it won't stop"]
    calm = ["what is MRD", "what does MRD mean", "is MRD good"]
    vectors = encoder.encode(urgent + calm)
    classifier = train(vectors, np.array([True] * 3 + [False] * 3), encoder.name, 30.0, {"x.jsonl": "ab"})
    probabilities = [classifier.probability(v) for v in vectors]
    assert min(probabilities[:3]) > 0.5 > max(probabilities[3:])
    assert classifier.trained_on == {"questions": 6, "urgent": 3, "strength": 30.0, "files": {"x.jsonl": "ab"}}
    with pytest.raises(ValueError, match="both urgent and calm"):
        train(vectors[:3], np.array([True] * 3), encoder.name, 30.0)


def test_the_served_weights_belong_to_the_served_model():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rules = json.loads((root / "corpus" / "urgent.json").read_text(encoding="utf-8"))
    weights = UrgentClassifier.load(root / "corpus" / rules["classifier"]["file"])
    assert weights.model == "sentence-transformers/all-MiniLM-L6-v2" and weights.weights.shape == (384,)
    assert weights.trained_on["questions"] >= 1900


def test_a_reading_over_its_limit_is_never_vetoed(tmp_path):
    encoder = HashingEncoder(256)
    fever = {"name": "fever", "kind": "temperature", "context": ["temp*"], "celsius_at_least": 38.0,
             "fahrenheit_at_least": 100.4}
    rules = RULES | {"numbers": [fever], "reading_weight": 2}
    question = "temp 38.9 but she seems fine"
    weights = _leaning(encoder, question, 0.05)
    weights.save(tmp_path / "weights.json")
    detector = UrgentDetector.from_data(rules | {"classifier": {"file": "weights.json", "veto_below": 0.2}}, tmp_path)
    detector.attach_encoder(encoder)
    decision = detector.decide(question, encoder.encode([question])[0])
    assert decision.fires and "a reading is over its limit" in decision.reason
    below = "temp 37.2 and a seizure"  # under the limit: the seizure concept alone, which may be vetoed
    weights = _leaning(encoder, below, 0.05)
    weights.save(tmp_path / "weights.json")
    detector = UrgentDetector.from_data(rules | {"classifier": {"file": "weights.json", "veto_below": 0.2}}, tmp_path)
    detector.attach_encoder(encoder)
    assert not detector.decide(below, encoder.encode([below])[0]).fires


def test_a_sign_urgent_by_itself_is_vetoed_only_below_sign_veto_below(tmp_path):
    """The CI failure: "my daughter is unresponsive" matched the one-group concept 'unresponsive', and a classifier
    at 0.1996 vetoed it below veto_below 0.2."""
    encoder = HashingEncoder(256)
    rules = RULES | {"concepts": RULES["concepts"] + [{"name": "seizure in a bath", "all_of": [["bath"], ["fit"]]}]}
    question = "she is having a seizure"
    vector = encoder.encode([question])[0]
    _leaning(encoder, question, 0.15).save(tmp_path / "weights.json")
    section = {"file": "weights.json", "veto_below": 0.2}
    unsure = UrgentDetector.from_data(rules | {"classifier": section | {"sign_veto_below": 0.1}}, tmp_path)
    unsure.attach_encoder(encoder)
    decision = unsure.decide(question, vector)
    assert decision.fires and "a sign urgent by itself matched (vetoed only below 0.1)" in decision.reason
    _leaning(encoder, question, 0.05).save(tmp_path / "weights.json")
    sure = UrgentDetector.from_data(rules | {"classifier": section | {"sign_veto_below": 0.1}}, tmp_path)
    sure.attach_encoder(encoder)
    assert not sure.decide(question, vector).fires  # all but sure it is calm: vetoed
    # Without the setting a sign is vetoed like any rules decision; a concept of two groups always is.
    _leaning(encoder, question, 0.15).save(tmp_path / "weights.json")
    plain = UrgentDetector.from_data(rules | {"classifier": section}, tmp_path)
    plain.attach_encoder(encoder)
    assert not plain.decide(question, vector).fires
    two = "a fit in the bath"
    _leaning(encoder, two, 0.15).save(tmp_path / "weights.json")
    grouped = UrgentDetector.from_data(rules | {"classifier": section | {"sign_veto_below": 0.1}}, tmp_path)
    grouped.attach_encoder(encoder)
    assert grouped.decide_by_rules(two).fires and not grouped.decide(two, encoder.encode([two])[0]).fires


def test_a_named_weights_file_that_is_missing_is_said(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="qa.urgent"):
        detector = UrgentDetector.from_data(RULES | {"classifier": {"file": "absent.json"}}, tmp_path)
    assert detector.classifier is None and "absent.json does not exist" in caplog.text
    detector.attach_encoder(HashingEncoder(64))
    assert not detector.classifier_ready


WORD_TRAINING = ["he is bleeding right now and it won't stop", "she has a fever of 39 and is on chemo",
                 "his lips are blue and he can't breathe", "seizure now, not stopping", "fever fever fever now",
                 "why does chemo cause bruising", "is a fever a sign of relapse", "what is MRD",
                 "can she go back to school", "what does a seizure mean for relapse"]
WORD_LABELS = np.array([True] * 5 + [False] * 5)


def test_the_word_half_scores_exactly_as_scikit_learn():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    model = train_words(WORD_TRAINING, WORD_LABELS, strength=10.0, min_df=1)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    fit = LogisticRegression(C=10.0, class_weight="balanced", max_iter=5000).fit(
        vectorizer.fit_transform(WORD_TRAINING), WORD_LABELS)
    probes = WORD_TRAINING + ["", "???", "zebra quantum", "FEVER fever, Fever! now now", "a I 5 x",
                              "bleeding bleeding right now right now", "école fièvre 39,5"]
    expected = fit.decision_function(vectorizer.transform(probes))
    assert [model.logit(text) for text in probes] == pytest.approx(expected.tolist(), abs=1e-9)
    assert ngrams("He is BLEEDING, a lot") == ["he", "is", "bleeding", "lot", "he is", "is bleeding", "bleeding lot"]


def test_the_probability_pools_both_halves_log_odds_and_survives_a_round_trip(tmp_path):
    encoder = HashingEncoder(256)
    vectors = encoder.encode(WORD_TRAINING)
    classifier = train(vectors, WORD_LABELS, encoder.name, 30.0, texts=WORD_TRAINING, word_strength=10.0,
                       word_min_df=1)
    assert classifier.trained_on["word_strength"] == 10.0 and classifier.trained_on["word_min_df"] == 1
    text, vector = WORD_TRAINING[0], vectors[0]
    parts = classifier.parts(vector, text)
    assert set(parts) == {"vector", "words"}
    logits = classifier.logits(vector, text)
    assert parts == pytest.approx({name: 1 / (1 + np.exp(-z)) for name, z in logits.items()})
    pooled = (logits["vector"] + logits["words"]) / 2
    assert classifier.probability(vector, text) == pytest.approx(1 / (1 + np.exp(-pooled)))
    # A sure half outweighs an unsure one: log-odds +6 and -1 pool to about 0.92, not the 0.63 of a plain mean.
    sure = UrgentClassifier("m", np.zeros(2, dtype=np.float32), 6.0, words=WordModel({}, -1.0))
    assert sure.probability(np.zeros(2), "anything") == pytest.approx(1 / (1 + np.exp(-2.5)))
    assert classifier.probability(vector) == pytest.approx(parts["vector"])  # no text: the vector half alone
    classifier.save(tmp_path / "w.json")
    loaded = UrgentClassifier.load(tmp_path / "w.json")
    assert isinstance(loaded.words, WordModel)
    for t, v in zip(WORD_TRAINING, vectors):
        assert loaded.probability(v, t) == pytest.approx(classifier.probability(v, t), abs=1e-5)
    detector = _detector(tmp_path, loaded)
    detector.attach_encoder(encoder)
    reason = detector.decide("my son is having a seizure right now", encoder.encode(["x"])[0]).reason
    assert "(pooled from vector " in reason and ", words " in reason


def test_word_weight_sets_the_words_half_share_of_the_pooled_log_odds(tmp_path):
    sure = UrgentClassifier("m", np.zeros(2, dtype=np.float32), 6.0, words=WordModel({}, -1.0))
    assert sure.probability(np.zeros(2), "x", word_weight=0.8) == pytest.approx(1 / (1 + np.exp(-(0.2 * 6 - 0.8))))
    assert sure.probability(np.zeros(2), "x", word_weight=0.0) == pytest.approx(1 / (1 + np.exp(-6.0)))
    encoder = HashingEncoder(256)
    detector = UrgentDetector.from_data(RULES | {"classifier": {"file": "weights.json", "word_weight": 0.8}}, tmp_path)
    assert detector.rules.classifier.word_weight == 0.8
    with pytest.raises(ValueError, match="word_weight"):
        UrgentDetector.from_data(RULES | {"classifier": {"word_weight": 1.5}}, tmp_path)
    from qa.urgent import load_urgent

    (tmp_path / "urgent.json").write_text(json.dumps(RULES | {"classifier": {"sign_veto_below": "low"}}))
    with pytest.raises(ValueError, match="malformed"):  # one clear line for the operator, not a traceback
        load_urgent(tmp_path / "urgent.json")
    vectors = encoder.encode(WORD_TRAINING)
    trained = train(vectors, WORD_LABELS, encoder.name, 30.0, texts=WORD_TRAINING, word_min_df=1)
    served = _detector(tmp_path, trained)
    served = served.with_rules(replace(served.rules, classifier=replace(served.rules.classifier, word_weight=0.8)))
    served.attach_encoder(encoder)
    decision = served.decide(WORD_TRAINING[0], vectors[0])
    assert decision.probability == pytest.approx(trained.probability(vectors[0], WORD_TRAINING[0], 0.8))


def test_a_format_1_file_still_loads_as_the_vector_half_alone(tmp_path):
    (tmp_path / "w.json").write_text('{"format": 1, "model": "m", "bias": 0.5, "weights": [1.0, 0.0]}')
    loaded = UrgentClassifier.load(tmp_path / "w.json")
    assert loaded.words is None and loaded.parts(np.array([0.0, 1.0]), "any text").keys() == {"vector"}
