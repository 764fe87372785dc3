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


def test_dense_similarity_is_each_passage_best_cosine_with_itself_or_one_of_its_units(fake_index):
    import numpy as np

    from qa.index import load_index
    from qa.search.candidates import DenseScorer

    scorer = DenseScorer(load_index(fake_index, check_corpus=False))
    passages = len(scorer.passages)
    assert (scorer.unit_counts == 0).any() and (scorer.unit_counts > 1).any()  # both kinds are drawn below
    rng = np.random.default_rng(7)
    for _ in range(20):
        vector = rng.standard_normal(scorer.passages.shape[1]).astype(np.float32)
        vector /= np.linalg.norm(vector)
        # Any subset, in any order, with repeats: the scores follow the rows given.
        rows = rng.choice(passages, size=rng.integers(1, 2 * passages), replace=True)
        expected = [max([float(scorer.passages[row] @ vector)] + [float(u) for u in scorer.unit_scores(row, vector)])
                    for row in rows.tolist()]
        found = scorer.similarity(rows, vector)
        assert found.dtype == np.float32 and found.shape == (len(rows),)
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)
    assert len(scorer.similarity(np.zeros(0, dtype=np.int64), vector)) == 0


def test_answer_similarities_of_many_passages_are_each_passage_own(fake_index):
    """The vectorised answer similarity (what confidence reads for every candidate at once) is the one of each
    passage on its own: its best cosine with context, without it, or of one of its units alone."""
    import numpy as np

    from qa.index import load_index
    from qa.search.candidates import DenseScorer

    scorer = DenseScorer(load_index(fake_index, check_corpus=False))
    assert len(scorer.plain_units)  # the guide's build encodes its units on their own: both kinds are drawn
    rng = np.random.default_rng(11)
    for _ in range(10):
        vector = rng.standard_normal(scorer.passages.shape[1]).astype(np.float32)
        vector /= np.linalg.norm(vector)
        rows = rng.choice(len(scorer.passages), size=15, replace=True)
        similarity = scorer.similarity(rows, vector)
        expected = [scorer.answer_similarity(int(row), vector, float(s)) for row, s in zip(rows, similarity)]
        np.testing.assert_allclose(scorer.answer_similarities(rows, vector, similarity.copy()), expected, atol=1e-6)
