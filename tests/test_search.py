"""Searcher.search_batch with the hashing fake model: what batch evaluation may skip."""

from __future__ import annotations


def test_ranking_only_keeps_the_ranking_and_the_first_answer(fake_app):
    searcher = fake_app.extensions["searcher"]
    questions = ["my son is having a seizure right now", "what is MRD", "red dots on her skin"]
    full = searcher.search_batch(questions, k=20, include_low_confidence=True, highlight=False)
    lean = searcher.search_batch(questions, k=20, highlight=False, ranking_only=True)
    for judged, ranked in zip(full, lean):
        assert [h.passage.id for h in judged.hits] == [h.passage.id for h in ranked.hits]
        assert (judged.answered, judged.confidence) == (ranked.answered, ranked.confidence)
        assert judged.hits[0].answer == ranked.hits[0].answer and ranked.notice is None
    assert full[0].notice is not None  # the urgent check is what batch evaluation skips
