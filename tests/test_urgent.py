"""Urgent detection rules on corpus/urgent.json: concepts in a window, readings, misspellings and question forms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.embedding import HashingEncoder
from qa.urgent import UrgentDetector, load_urgent
from qa.urgent.matching import Phrase, Sentence, tokenize
from qa.wiring import load_notices
from tests.support import ROOT

RULES = ROOT / "corpus" / "urgent.json"


@pytest.fixture(scope="module")
def detector() -> UrgentDetector:
    return load_urgent(RULES)


def fires(detector, question: str) -> bool:
    return detector.decide(question).fires


@pytest.mark.parametrize("question", [
    # the wordings the old phrase list missed (issue 12)
    "the bleeding from his nose hasn't stopped for an hour",
    "temp is 101.5 and he has a central line",
    "38.4 fever while on chemo, should we go in",
    "he is breathing fast and his lips are bluish",
    "she vomited blood this evening",
    "worst headache ever and can't move her neck",
])
def test_wordings_the_phrase_list_missed_fire(detector, question):
    assert fires(detector, question), detector.decide(question).reason


@pytest.mark.parametrize("question", [
    "can a seizure be a sign of relapse in the brain",
    "does fever mean relapse",
    "can a seizure mean the leukemia is in the brain",
    "what should we do if she has a seizure",
    "what is a seizure",
    "is fever a symptom of relapse",
])
def test_questions_about_a_symptom_do_not_fire(detector, question):
    decision = detector.decide(question)
    assert not decision.fires, decision.reason
    assert decision.concepts, "the symptom is still recognised; the question form is what stops the notice"
    assert any(weight < 0 for weight in decision.cues.values())


def test_a_symptom_without_what_makes_it_urgent_does_not_fire(detector):
    assert not fires(detector, "why does chemo cause bruising")
    assert not fires(detector, "she had a nosebleed")
    assert fires(detector, "she has a nosebleed that won't stop")


@pytest.mark.parametrize("question, fire", [
    ("her temperature is 38.0 C", True),  # the limit itself needs a call
    ("her temperature is 37.9 C", False),
    ("temp 100.4 F", True),
    ("temp 100.3 F", False),
    ("39c and shivering", True),  # unit glued to the number
    ("he is 38.3 and on chemo", True),  # a decimal in the fever range needs no word for it
    ("fever of 103", True),  # °F read from the range
    ("thermometer says 38,6", True),  # decimal comma
    ("she measured 101 degrees", True),
    ("is 37.6 a fever or normal for her", False),  # a reading under the limit cancels the word "fever"
    ("we take bus 38 to clinic", False),  # a whole number with no temperature word is not a reading
    ("his sats are 88 on the monitor", True),
    ("his sats are 97 on the monitor", False),
])
def test_temperatures_and_other_readings(detector, question, fire):
    assert fires(detector, question) is fire, detector.decide(question).reason


def test_a_reading_names_its_value_and_unit(detector):
    decision = detector.decide("temp is 101.5 and he has a central line")
    (reading,) = [r for r in decision.readings if r.rule == "fever"]
    assert (reading.value, reading.unit, reading.over) == (101.5, "F", True)
    assert "101.5 F" in decision.reason


@pytest.mark.parametrize("question", [
    "bleeding won't stop", "won't stop bleeding", "it keeps bleeding", "she bleeds a lot",  # order, inflection
    "his lips are blue", "blue lips", "bleeding wont stop", "bleeding won’t stop",  # apostrophes
])
def test_word_order_inflection_and_apostrophes(detector, question):
    assert fires(detector, question), detector.decide(question).reason


def test_symptom_and_qualifier_must_be_within_the_window_or_one_clause(detector):
    near = "the bleeding from her arm will not stop"
    same_clause = "the bleeding from her arm after the blood test at the clinic on monday morning did not stop"
    other_sentence = "the bleeding from her arm after the blood test was small. the rash did not stop itching"
    too_far = ("the bleeding from her arm after the blood test at the clinic on monday morning with the new nurse "
               "and the student did not stop")
    assert fires(detector, near)
    assert "bleeding" in detector.decide(same_clause).concepts
    assert "bleeding" not in detector.decide(other_sentence).concepts
    assert "bleeding" not in detector.decide(too_far).concepts


@pytest.mark.parametrize("question, fired", [
    ("pain is 9/10 and nothing helps", True),
    ("her pain is 8 out of 10", True),
    ("pain is 3/10 today", False),
    ("his pain score is 2 out of 10", False),
])
def test_a_pain_score_is_read_and_its_scale_is_not(detector, question, fired):
    decision = detector.decide(question)
    assert ("severe pain score" in decision.concepts) is fired, decision.reason


@pytest.mark.parametrize("question, value", [
    ("temp is 38 point 6 and shivering", 38.6), ("39 POINT 1", 39.1),
    ("thirty eight point five and she's on chemo", 38.5), ("his temp is a hundred and one", 101.0),
    ("Thirty-Nine degrees", 39.0), ("temperature one hundred two point four", 102.4),
])
def test_a_spoken_decimal_is_read_as_a_number(detector, question, value):
    decision = detector.decide(question)
    assert decision.fires and [r.value for r in decision.readings] == [value], decision.reason


@pytest.mark.parametrize("text", ["he had one seizure", "two days ago", "she is five", "a few hours"])
def test_small_counts_in_words_stay_words(text):
    from qa.urgent.readings import spoken_decimals

    assert spoken_decimals(text) == text


@pytest.mark.parametrize("question", [
    "do they give seizure meds routinely after car t",
    "is it common for kids to get fevers during maintenance",
    "another kid on the ward had a nosebleed that would not stop, does that happen a lot",
    "whats the difference between a seizure and rigors",
])
def test_generic_routine_and_third_party_questions_are_calm(detector, question):
    assert not fires(detector, question), detector.decide(question).reason


@pytest.mark.parametrize("question, word, corrected", [
    ("siezure just happened", "siezure", "seizure"),
    ("fevr 102.3 my son is 4", "fevr", "fever"),
    ("the bleding wont stop", "bleding", "bleeding"),
    ("he is breating fast", "breating", "breathing"),
])
def test_misspellings_are_corrected_toward_concept_words(detector, question, word, corrected):
    decision = detector.decide(question)
    assert decision.fires, decision.reason
    assert decision.corrections[word] == corrected


def test_words_that_already_match_are_left_alone(detector):
    decision = detector.decide("he is vomitting blood and convulsing")
    assert decision.fires and decision.corrections == {}


def test_common_words_are_never_corrected_into_symptoms(detector):
    # "bleed" is one edit from "breed" and "freed", but those are real English words
    assert detector.decide("what breed of dog is safe").corrections == {}


def test_phrases_support_prefixes_numbers_and_gaps():
    sentence = Sentence("is a high fever a sign of relapse", tokenize("is a high fever a sign of relapse"))
    assert Phrase.parse("is ... a sign of").in_order(sentence) == [(0, 6)]
    assert Phrase.parse("sign is").in_order(sentence) == []
    assert Phrase.parse("fev*").any_order(sentence) == [(3, 3)]
    numbers = Sentence("for 30 min", tokenize("for 30 min"))
    assert Phrase.parse("for # min*").in_order(numbers) == [(0, 2)]


def test_the_decision_explains_itself(detector):
    decision = detector.decide("my son is having a seizure right now")
    assert decision.fires
    assert "seizure" in decision.concepts
    assert "'right now' +2" in decision.reason and ">= 0" in decision.reason
    quiet = detector.decide("what is MRD")
    assert not quiet.fires and quiet.reason == "no urgent concept or reading"


def _tiny(semantic: dict) -> UrgentDetector:
    return UrgentDetector.from_data({"concepts": [{"name": "seizure", "all_of": [["seizure"]]}],
                           "cues": {"why": -2}, "semantic": semantic})


def test_semantic_rescue_uses_the_given_vector_and_encodes_examples_once():
    encoder = HashingEncoder(256)
    calls = []
    original = encoder.encode
    encoder.encode = lambda texts, **kw: calls.append(list(texts)) or original(texts, **kw)
    detector = _tiny({"rescue_at": 0.9, "urgent": ["purple elephant stampede"], "calm": ["quiet library"]})
    detector.attach_encoder(encoder)
    vector = original(["purple elephant stampede"])[0]
    decision = detector.decide("purple elephant stampede", vector)
    assert decision.fires and "purple elephant stampede" in decision.reason
    assert not detector.decide("quiet library", original(["quiet library"])[0]).fires
    assert not detector.decide("purple elephant stampede").fires  # no vector: no semantic check
    detector.decide("purple elephant stampede", vector)
    assert len(calls) == 2  # the urgent and the calm examples, once; never the question


@pytest.mark.parametrize("question, fired", [
    ("some crusting at the line site, no redness, no pain, no fever", False),
    ("she has no fever but her nose has been bleeding for an hour", True),
    ("no wee since last night and her eyes look sunken", True),  # "no" is part of the matched phrase
    ("he is not breathing", True),
    ("the line hasn't stopped leaking", True),
])
def test_a_negated_symptom_does_not_count(detector, question, fired):
    decision = detector.decide(question)
    assert decision.fires is fired, decision.reason


def test_a_calm_cue_stops_the_semantic_rescue():
    encoder = HashingEncoder(256)
    detector = _tiny({"rescue_at": 0.5, "urgent": ["purple elephant stampede why"], "calm": ["quiet library"]})
    detector.attach_encoder(encoder)
    question = "why purple elephant stampede"  # as close to the urgent example, but asks "why"
    decision = detector.decide(question, encoder.encode([question])[0])
    assert decision.semantic["urgent"][1] >= 0.5 and not decision.fires
    assert "'why' -2" in decision.reason


def test_each_further_concept_adds_its_weight():
    data = {"concepts": [{"name": "blue", "all_of": [["blue lips"]]}, {"name": "ribs", "all_of": [["ribs sucking"]]}],
            "cues": {"a bit": -1}}
    question = "ribs sucking in and her lips a bit blue"
    assert not UrgentDetector.from_data(data).decide(question).fires
    decision = UrgentDetector.from_data(data | {"extra_concept_weight": 1.5}).decide(question)
    assert decision.fires and decision.score == 0.5


def test_semantic_tie_break_moves_a_close_call():
    encoder = HashingEncoder(256)
    detector = _tiny({"weight": 5, "band": 3, "urgent": ["why is my son having a seizure"], "calm": ["library"]})
    question = "why is my son having a seizure"
    assert not detector.decide(question).fires  # the cue "why" alone says no
    detector.attach_encoder(encoder)
    decision = detector.decide(question, encoder.encode([question])[0])
    assert decision.fires and decision.semantic["contribution"] > 2


@pytest.mark.parametrize("change, message", [
    (lambda d: d["concepts"][0].update(all_of=[["@nope"]]), "unknown list '@nope'"),
    (lambda d: d["numbers"].append({"name": "x", "kind": "sideways", "context": ["x"]}), "kind temperature"),
    (lambda d: d["concepts"][0].pop("all_of"), "needs concepts with a name and all_of"),
    (lambda d: d["cues"].update({"...": 1}), "only between words"),
])
def test_a_malformed_rules_file_is_named(tmp_path, change, message):
    data = json.loads(RULES.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "urgent.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="urgent rules file") as error:
        load_urgent(path)
    assert message in str(error.value)


def test_notices_point_to_the_rules_and_refuse_the_old_trigger_list(tmp_path):
    notices = load_notices(ROOT / "corpus" / "notices.json")
    assert notices.urgent is not None and notices.urgent_notice("she is having a seizure right now")
    data = json.loads((ROOT / "corpus" / "notices.json").read_text(encoding="utf-8"))
    data["urgent"]["rules"] = "missing.json"
    (tmp_path / "notices.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="missing.json"):
        load_notices(tmp_path / "notices.json")
    data["urgent"]["triggers"] = ["seizure"]
    (tmp_path / "notices.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="urgent.triggers is no longer read"):
        load_notices(tmp_path / "notices.json")


def test_search_passes_its_query_vector_to_the_notice(fake_app, monkeypatch):
    searcher = fake_app.extensions["searcher"]
    seen = []
    original = searcher.notices.urgent_decision
    monkeypatch.setattr(searcher.notices, "urgent_decision",
                        lambda query, vector=None: seen.append(vector) or original(query, vector))
    body = fake_app.test_client().get("/api/search", query_string={"q": "my son is having a seizure right now"})
    assert body.json["notice"] == {"kind": "urgent", "text": searcher.notices.urgent_text}
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == (searcher.encoder.dim,)
    calm = fake_app.test_client().get("/api/search", query_string={"q": "can a seizure be a sign of relapse"})
    assert "notice" not in calm.json


def test_example_vectors_are_cached_by_model_and_examples(tmp_path):
    semantic = {"rescue_at": 0.9, "urgent": ["purple elephant stampede"], "calm": ["quiet library"]}
    encoder = HashingEncoder(256)
    vector = encoder.encode(["purple elephant stampede"])[0]
    first = _tiny(semantic)
    first.attach_encoder(encoder, tmp_path)
    assert first.decide("purple elephant stampede", vector).fires
    (cached,) = tmp_path.glob("urgent-examples-*.npz")

    class NoEncoding(HashingEncoder):
        def encode(self, texts, batch_size=64, progress=False):
            raise AssertionError("the cached vectors should have been read")

    second = _tiny(semantic)
    second.attach_encoder(NoEncoding(256), tmp_path)
    assert second.decide("purple elephant stampede", vector).fires
    changed = _tiny({**semantic, "calm": ["quiet library", "a new calm example"]})
    changed.attach_encoder(encoder, tmp_path)
    assert changed.decide("purple elephant stampede", vector).fires
    assert len(list(tmp_path.glob("urgent-examples-*.npz"))) == 2  # other examples, another file


def test_unicode_digits_are_words_not_numbers():
    """Found by the schemathesis fuzzer: a superscript digit passed str.isdigit() and crashed float()."""
    from qa.urgent.matching import tokenize

    tokens = tokenize("fever ¹ and ²")
    assert [token.text for token in tokens] == ["fever", "¹", "and", "²"]
    assert all(token.number is None for token in tokens)
