"""The labelled guide set, scored with the real model: quality may not fall below the recorded floor."""

from __future__ import annotations

import json

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

QUERIES = ROOT / "eval" / "guide_questions.jsonl"
FLOOR = json.loads((ROOT / "eval" / "quality_floor.json").read_text())


@pytest.fixture(scope="module")
def metrics(real_app):
    from qa import evaluate as ev

    queries = ev.load_queries(QUERIES)
    results = ev.run_queries(real_app.extensions["searcher"], queries)
    return ev.gold_metrics(queries, results)


@pytest.mark.parametrize("name", [k for k in FLOOR if not k.startswith("_")])
def test_metric_stays_above_recorded_floor(metrics, name):
    assert metrics[name] >= FLOOR[name], f"{name} fell to {metrics[name]:.4f}, below the floor {FLOOR[name]}"


def test_labelled_set_is_substantial():
    from qa import evaluate as ev

    queries = ev.load_queries(QUERIES)
    assert len(queries) >= 80
    assert sum(q.out_of_scope for q in queries) >= 15


def test_every_gold_quote_is_in_the_guide():
    from qa import evaluate as ev

    guide = (ROOT / "corpus" / "relapsed-refractory-all.txt").read_text(encoding="utf-8")
    for query in ev.load_queries(QUERIES):
        for quote in query.gold:
            assert quote in guide, f"{query.qid}: gold quote {quote!r} is not in the guide"
