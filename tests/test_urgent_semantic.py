"""The urgent notice's semantic check with the real model: it reads the search's own query vector."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searcher(real_app):
    return real_app.extensions["searcher"]


def _decide(searcher, question):
    return searcher.notices.urgent_decision(question, searcher.query_vectors([question])[0])


def test_nearest_examples_are_the_ones_a_reader_would_pick(searcher):
    detector = searcher.notices.urgent
    urgent = detector.semantic(searcher.query_vectors(["my daughter can't catch her breath"])[0])
    assert "breathe" in urgent["urgent"][0] and urgent["margin"] > 0.2
    calm = detector.semantic(searcher.query_vectors(["why does chemotherapy make kids bruise"])[0])
    assert calm["calm"][0] == "why does chemo cause bruising" and calm["margin"] < -0.2


def test_wording_no_concept_knows_is_rescued_by_an_urgent_example(searcher):
    question = "she whacked her noggin on the table and her platelets are low"
    without = searcher.notices.urgent_decision(question)  # no vector: the rules alone
    assert not without.fires and not without.concepts
    decision = _decide(searcher, question)
    assert decision.fires and "she hit her head and her platelets are low" in decision.reason
    body = searcher.search(question)
    assert body.notice == {"kind": "urgent", "text": searcher.notices.urgent_text}


def test_a_calm_question_is_not_rescued(searcher):
    decision = _decide(searcher, "how do platelets help blood clot")
    assert not decision.fires and decision.semantic["urgent"][1] < 0.7


def test_the_classifier_reads_the_search_vector_with_the_real_model(searcher):
    detector = searcher.notices.urgent
    assert detector.classifier_ready
    assert _decide(searcher, "my son is having a seizure right now").probability > detector.rules.classifier.fire_above
    calm = _decide(searcher, "what does MRD mean")
    assert not calm.fires and calm.probability < detector.rules.classifier.veto_below
    # A search reaches the same decision from the vector it computed itself.
    question = "found my toddler with grandpa's open pill bottle, no idea how many are gone"
    decision = _decide(searcher, question)
    assert decision.fires and decision.probability >= detector.rules.classifier.fire_above, decision.reason
    assert searcher.search(question).notice == {"kind": "urgent", "text": searcher.notices.urgent_text}
