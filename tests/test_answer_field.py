"""The API's `answer` field with the fake encoder: a sentence or list item of the passage, or null."""

from __future__ import annotations

import pytest

from qa.corpus.splitter import sub_unit_spans


@pytest.mark.parametrize("query", ["red dots on her skin", "what is MRD", "fever", '"intrathecal chemotherapy"'])
def test_answer_is_one_unit_of_the_passage_or_null(client, query):
    response = client.get("/api/search", query_string={"q": query, "k": 5, "include_low_confidence": "true"})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results
    for result in results:
        assert "answer" in result
        units = [list(span) for span in sub_unit_spans(result["text"])]
        if not units:  # a passage of a single unit is its own answer
            assert result["answer"] is None
        else:
            assert result["answer"] in units, (result["answer"], units)


def test_batch_results_carry_answer(client):
    response = client.post("/api/search/batch", json={"queries": [{"id": "a", "q": "red dots on her skin"}], "k": 3})
    assert response.status_code == 200
    (entry,) = response.get_json()["results"]
    assert entry["id"] == "a" and entry["results"]
    assert all("answer" in result for result in entry["results"])
