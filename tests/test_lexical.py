"""BM25 scores and the lexical coverage that abstention weighs, on a tiny corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.index.lexical import LexicalIndex
from qa.text import bm25_tokens as tokenize

TEXTS = [
    "A stem cell (bone marrow) transplant may be an option.",
    "Treatment may cost a lot; ask about insurance.",
    "Wash your hands often.",
    "Fever and pain in the bones or joints.",
]


@pytest.fixture(scope="module")
def lexical() -> LexicalIndex:
    return LexicalIndex.build(TEXTS)


def test_scores_rank_the_passage_with_the_rare_word_first(lexical):
    scores = lexical.scores(tokenize(["insurance"])[0])
    assert scores.argmax() == 1 and scores[0] == scores[2] == scores[3] == 0


def test_unknown_tokens_score_nothing(lexical):
    assert not lexical.scores(tokenize(["zzzqqq"])[0]).any()


def test_coverage_is_the_idf_weighted_share_of_terms_found(lexical):
    terms = tokenize(["wash", "hands"])
    assert lexical.coverage(terms, 2) == pytest.approx(1.0)
    assert lexical.coverage(terms, 0) == 0.0
    assert 0.0 < lexical.coverage(tokenize(["wash", "transplant"]), 2) < 1.0


def test_a_term_the_corpus_never_uses_cannot_be_covered(lexical):
    assert lexical.coverage(tokenize(["transplant", "zzzqqq"]), 0) == pytest.approx(0.5)


def test_a_long_expansion_counts_as_one_term(lexical):
    """A lay word expanded to four clinical words must not outweigh the question's own unknown word."""
    expansion = tokenize(["stem cell marrow transplant"])[0]  # only passage 0 has these
    unknown = tokenize(["zzzqqq"])[0]
    assert lexical.coverage([expansion, unknown], 0) == pytest.approx(0.5)
    flattened = [[token] for token in expansion] + [unknown]
    assert lexical.coverage(flattened, 0) == pytest.approx(0.8)  # what per-token weighting would say


def test_a_partly_found_group_counts_in_proportion(lexical):
    group = tokenize(["fever transplant"])[0]
    assert 0.0 < lexical.coverage([group], 3) < 1.0
    assert lexical.coverage([group], 2) == 0.0


def test_empty_terms_cover_nothing(lexical):
    assert lexical.coverage([], 0) == 0.0
    assert lexical.coverage([[]], 0) == 0.0


def test_coverage_terms_are_one_group_per_word_or_lay_phrase():
    from qa.search.analysis import TermList, analyse
    from qa.search.confidence import coverage_terms

    lay = TermList([(("bmt",), "stem cell bone marrow transplant")])
    terms = coverage_terms(analyse("how much does a bmt cost, what does a bmt cost", lay))
    assert ["stem", "cell", "bone", "marrow", "transplant"] in terms
    assert terms.count(["cost"]) == 1  # asked twice, still one term
    assert not any("bmt" in group for group in terms)  # the lay word counts as what it maps to


def test_tokenize_matches_bm25s_on_real_corpus_text():
    import bm25s

    from qa.corpus import load_corpus
    from qa.text.words import _stemmer

    root = Path(__file__).resolve().parents[1]
    texts = [document.text for document in load_corpus(root / "corpus").documents]
    texts += [document.text for document in load_corpus(root / "eval/medquad-sample/corpus.jsonl").documents]
    texts += ["Straße ÉCOLE naïve 38.5°C 101F it's won't CAR-T e.g. x y", "", "  ", "a an the", "MRD's 0.01%"]
    library = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)
    assert tokenize(texts) == [list(tokens) for tokens in library]
