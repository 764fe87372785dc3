"""The urgent classifier: weights on disk, and how its probability combines with the rules."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from qa.embedding import HashingEncoder
from qa.urgent import UrgentDetector
from qa.urgent_classifier import UrgentClassifier, train

RULES = {"concepts": [{"name": "seizure", "all_of": [["seizure"]]}], "cues": {"why": -2}}


def _detector(tmp_path, classifier: UrgentClassifier, fire_above=0.9, veto_below=0.2) -> UrgentDetector:
    classifier.save(tmp_path / "weights.json")
    section = {"file": "weights.json", "fire_above": fire_above, "veto_below": veto_below}
    return UrgentDetector(RULES | {"classifier": section}, tmp_path)


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


@pytest.mark.parametrize("content", ["{", '{"format": 1}', '{"format": 2, "model": "m", "bias": 0, "weights": [1]}',
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
    detector = UrgentDetector(rules | {"classifier": {"file": "weights.json", "veto_below": 0.2}}, tmp_path)
    detector.attach_encoder(encoder)
    decision = detector.decide(question, encoder.encode([question])[0])
    assert decision.fires and "a reading is over its limit" in decision.reason
    below = "temp 37.2 and a seizure"  # under the limit: the seizure concept alone, which may be vetoed
    weights = _leaning(encoder, below, 0.05)
    weights.save(tmp_path / "weights.json")
    detector = UrgentDetector(rules | {"classifier": {"file": "weights.json", "veto_below": 0.2}}, tmp_path)
    detector.attach_encoder(encoder)
    assert not detector.decide(below, encoder.encode([below])[0]).fires


def test_a_named_weights_file_that_is_missing_is_said(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="qa.urgent"):
        detector = UrgentDetector(RULES | {"classifier": {"file": "absent.json"}}, tmp_path)
    assert detector.classifier is None and "absent.json does not exist" in caplog.text
    detector.attach_encoder(HashingEncoder(64))
    assert not detector.classifier_ready
