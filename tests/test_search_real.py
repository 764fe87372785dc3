"""Retrieval quality with the real bundled MiniLM model, through the Flask test client."""

from __future__ import annotations

import pytest

from qa.text import normalise_words, stem
from tests.support import ROOT

pytestmark = pytest.mark.slow

GUIDE_FILE = ROOT / "corpus" / "relapsed-refractory-all.txt"
MRD = "MRD means a small number of cells remain"
PETECHIAE = "Tiny, flat, dark-red skin spots (petechiae)"


@pytest.fixture(scope="module")
def guide_source() -> str:
    with GUIDE_FILE.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def _search(client, query: str, k: int = 5) -> dict:
    response = client.get("/api/search", query_string={"q": query, "k": k})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _assert_verbatim(body: dict, guide_source: str) -> None:
    for result in body["results"]:
        assert guide_source[result["start"]:result["end"]] == result["text"]


def test_what_is_mrd_puts_the_mrd_passage_first(real_client, guide_source):
    body = _search(real_client, "what is MRD")
    assert body["answered"] is True
    assert MRD in body["results"][0]["text"]
    assert body["results"][0]["citation"]["section"].endswith("Length of the first complete remission")
    _assert_verbatim(body, guide_source)


def test_lay_words_find_petechiae(real_client, guide_source):
    body = _search(real_client, "red dots on her skin")
    top3 = [r["text"] for r in body["results"][:3]]
    assert any(PETECHIAE in text for text in top3), top3
    _assert_verbatim(body, guide_source)


def _lay_expansion_words(query: str) -> set[str]:
    """Words that lay_terms.tsv adds to ``query``: a lay phrase matches whole words, a trailing * any ending."""
    query_words = normalise_words(query)
    added: set[str] = set()
    for line in (ROOT / "corpus" / "lay_terms.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "\t" not in line:
            continue
        lay, clinical = line.split("\t", 1)
        pattern = normalise_words(lay)
        prefix = lay.strip().endswith("*")
        for i in range(len(query_words) - len(pattern) + 1):
            window = query_words[i:i + len(pattern)]
            if window[:-1] == pattern[:-1] and (window[-1].startswith(pattern[-1]) if prefix
                                                else window[-1] == pattern[-1]):
                added |= set(normalise_words(clinical))
    return added


def test_lay_expansion_helper():
    assert {"petechiae", "skin", "spots"} <= _lay_expansion_words("red dots on her skin")
    assert _lay_expansion_words("zzz qqq") == set()


@pytest.mark.parametrize("query", ["what is MRD", "red dots on her skin", "stem cell transplant",
                                   "infection prevention", "nelarabine"])
def test_highlights_slice_to_query_words_or_expansions(real_client, query):
    body = _search(real_client, query)
    allowed = {stem(word) for word in [*normalise_words(query), *_lay_expansion_words(query)]}
    seen = 0
    for result in body["results"]:
        text = result["text"]
        for start, end in result["highlights"]:
            marked = text[start:end]
            assert marked == marked.strip() and marked, (query, marked)
            for word in normalise_words(marked):
                assert stem(word) in allowed, f"{query!r}: highlighted {marked!r} is not a query word or expansion"
            seen += 1
    assert seen, f"no highlights for {query!r}"


def test_quoted_phrase_returns_only_passages_with_the_phrase(real_client, guide_source):
    body = _search(real_client, "\"central line\"", k=20)
    assert body["results"], body
    for result in body["results"]:
        assert "central line" in result["text"].casefold()
        assert result["highlights"], result["passage_id"]
        for start, end in result["highlights"]:
            assert result["text"][start:end].casefold() == "central line"
    _assert_verbatim(body, guide_source)


def test_quoted_phrase_absent_from_the_guide_returns_nothing(real_client):
    body = _search(real_client, "\"purple elephant\"")
    assert body["results"] == []
    assert body["answered"] is False
    assert body.get("message")
    assert body["phrase_matched"] is False  # a lookup of quoted words only stays exact: nothing is honest


def test_words_quoted_in_passing_that_no_passage_holds_fall_back_to_the_same_words(real_client, guide_source):
    """A parent quoting a leaflet gets the closest passages, told that the exact words are not in the guide."""
    question = ('the leaflet from the pharmacy says "wash your hands with soap for twenty seconds", '
                'how do we stop infections')
    body = _search(real_client, question, k=3)
    assert body["phrase_matched"] is False
    assert body["answered"] is True and body["results"], body
    assert "Wash your hands" in body["results"][0]["text"]  # the guide's own step, found by the same words
    marked = {body["results"][0]["text"][a:b].casefold() for a, b in body["results"][0]["highlights"]}
    assert "wash" in marked and "hands" in marked  # the quoted words count as words
    _assert_verbatim(body, guide_source)


def test_words_quoted_in_passing_that_a_passage_holds_keep_the_exact_match(real_client):
    body = _search(real_client, 'what does "minimal residual disease" mean for my son', k=5)
    assert body["phrase_matched"] is True and body["results"]
    assert all("minimal residual disease" in r["text"].casefold() for r in body["results"])


def test_a_question_without_quotes_has_no_phrase_field(real_client):
    assert "phrase_matched" not in _search(real_client, "what is MRD")


def test_urgent_question_gets_a_notice_and_passages(real_client, guide_source):
    body = _search(real_client, "my child has a high fever and is hard to wake")
    assert body.get("notice"), body
    assert body["notice"]["kind"] == "urgent"
    assert body["notice"]["text"].strip()
    assert body["results"]
    _assert_verbatim(body, guide_source)


def test_calm_question_has_no_notice(real_client):
    body = _search(real_client, "what is refractory ALL")
    assert not body.get("notice"), body.get("notice")
    assert body["results"]


def test_refractory_definition_in_the_top_three(real_client):
    """A known miss since convex fusion (issue 9), found again by the guide's example questions."""
    body = _search(real_client, "what is refractory ALL")
    assert any("does not respond to treatment" in r["text"] for r in body["results"][:3])


def test_batch_with_the_real_model_matches_single_searches(real_client):
    queries = ["what is MRD", "red dots on her skin", "what is refractory ALL"]
    response = real_client.post("/api/search/batch", json={"queries": [{"id": q, "q": q} for q in queries]})
    assert response.status_code == 200
    for entry, query in zip(response.get_json()["results"], queries):
        single = _search(real_client, query)
        assert entry["id"] == query
        assert [r["passage_id"] for r in entry["results"]] == [r["passage_id"] for r in single["results"]]
