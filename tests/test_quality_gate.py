"""Quality with the real model may not fall below the recorded floors: every labelled guide set as served, the
development sample and a sample of the battery at the uncalibrated default, and every urgent set."""

from __future__ import annotations

import json
import os

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

QUERIES = ROOT / "eval" / "guide_questions.jsonl"
DEV_SAMPLE = ROOT / "eval" / "medquad-sample"
FLOOR = json.loads((ROOT / "eval" / "quality_floor.json").read_text())
GUIDE_FLOOR = json.loads((ROOT / "eval" / "guide_floor.json").read_text())
GUIDE_SETS = [name for name in GUIDE_FLOOR if not name.startswith("_")]
GUIDE_METRICS = ("hit@1", "hit@3", "oos_abstention", "coverage", "confidence_auc", "answer_hit@1")
SHARED = ROOT.parent / "shared" / "dev-corpora"  # the battery, beside the checkout (never copied into it)


@pytest.fixture(scope="module")
def guide_metrics(real_app):
    """Each labelled guide set as served: its own example questions left out of the search."""
    from qa import evaluation as ev

    found = {}
    for name in GUIDE_SETS:
        queries = ev.load_queries(ROOT / "eval" / f"{name}.jsonl")
        found[name] = ev.gold_metrics(queries, ev.run_queries(real_app.extensions["searcher"], queries))
    return found


@pytest.mark.parametrize("name", GUIDE_SETS)
def test_each_guide_set_stays_above_its_floors(guide_metrics, name):
    measured, floor = guide_metrics[name], GUIDE_FLOOR[name]
    for metric in GUIDE_METRICS:
        assert measured[metric] >= floor[metric], \
            f"{name}: {metric} fell to {measured[metric]:.4f}, below the floor {floor[metric]}"


@pytest.mark.parametrize("name", GUIDE_SETS)
def test_the_marked_sentence_is_right_when_the_passage_is(guide_metrics, name):
    """When the first passage is right, its marked answering sentence is too, at least 85 times in a hundred on every
    set (the labelled set: nine in ten)."""
    share = 0.9 if name == "guide_questions" else 0.85
    assert guide_metrics[name]["answer_hit@1"] >= share * guide_metrics[name]["hit@1"]


@pytest.fixture(scope="module")
def battery(tmp_path_factory, real_encoder):
    """A sample of the battery small enough for CI, as a new corpus gets it (uncalibrated default): the first 300
    NIH answers without titles with their questions, and the whole of mediqa-alexa (graded; correct from grade 2)."""
    from dataclasses import replace

    from qa import evaluation as ev
    from qa.embedding.loading import LazyEncoder
    from qa.evaluation.metrics import pooled, standard_measures
    from qa.index.build import build_index
    from qa.settings import load_settings
    from qa.wiring import open_searcher

    if not SHARED.is_dir():
        if os.environ.get("QA_REQUIRE_SHARED"):
            pytest.fail(f"the development battery is not at {SHARED}")
        pytest.skip(f"the development battery is not at {SHARED}")
    work = tmp_path_factory.mktemp("battery")
    sample = {"corpus_notitle.jsonl": "corpus.jsonl", "queries.tsv": "queries.tsv", "qrels.txt": "qrels.txt"}
    for source, target in sample.items():  # the first N lines of each form a corpus with its own questions
        lines = (SHARED / "medquad-nih" / source).read_text(encoding="utf-8").splitlines()[:300]
        (work / target).write_text("\n".join(lines) + "\n", encoding="utf-8")
    sets = {"medquad_notitle_sample": (work / "corpus.jsonl", work / "queries.tsv", work / "qrels.txt", 1),
            "mediqa_alexa": (SHARED / "mediqa-alexa" / "corpus.jsonl", SHARED / "mediqa-alexa" / "queries.tsv",
                             SHARED / "mediqa-alexa" / "qrels.txt", 2)}
    found = {}
    for name, (corpus, queries_file, qrels_file, relevance) in sets.items():
        build_index(corpus, work / name, LazyEncoder())
        searcher = open_searcher(load_settings({"INDEX_DIR": str(work / name)}), encoder=real_encoder)
        queries = ev.load_queries(queries_file)
        qrels = ev.load_qrels(qrels_file, {q.qid for q in queries})
        measure = standard_measures(relevance)[0]
        default = ev.Evaluation(searcher, queries, qrels, relevance=relevance)
        figures = {"RR@10": default.metrics()[measure], "queries": len(queries)}
        if name == "mediqa_alexa":  # CHiQA's own candidates, in our order
            figures["pool_RR@10"] = ev.ir_metrics(qrels, pooled(default.ranking(), qrels), (measure,))[measure]
        for single in ("dense", "lexical"):
            searcher.settings = replace(searcher.settings, fusion=single)
            figures[single] = ev.Evaluation(searcher, queries, qrels, relevance=relevance).metrics()[measure]
        found[name] = figures
    return found


@pytest.mark.parametrize("name", ["medquad_notitle_sample", "mediqa_alexa"])
def test_the_battery_sample_stays_above_its_floors(battery, name):
    figures, floor = battery[name], FLOOR["battery"][name]
    for metric, value in floor.items():
        assert figures[metric] >= value, f"{name}: {metric} fell to {figures[metric]:.4f}, below the floor {value}"


@pytest.mark.parametrize("name", ["medquad_notitle_sample", "mediqa_alexa"])
def test_the_default_is_not_below_its_better_single_list(battery, name):
    """Fusion that cannot lose to its better list (within one question, for float differences between CPUs)."""
    figures = battery[name]
    better = max(figures["dense"], figures["lexical"])
    assert figures["RR@10"] >= better - 1 / figures["queries"], figures


@pytest.fixture(scope="module")
def dev_sample_rr(tmp_path_factory, real_encoder):
    """The development corpus sample, built and scored as a new corpus is: default settings, no calibration."""
    from qa import evaluation as ev
    from qa.index.build import build_index
    from qa.settings import load_settings
    from qa.wiring import open_searcher

    index_dir = tmp_path_factory.mktemp("dev-sample-index")
    build_index(DEV_SAMPLE / "corpus.jsonl", index_dir, real_encoder)
    searcher = open_searcher(load_settings({"INDEX_DIR": str(index_dir)}), encoder=real_encoder)
    queries = ev.load_queries(DEV_SAMPLE / "queries.tsv")
    qrels = ev.load_qrels(DEV_SAMPLE / "qrels.txt", {q.qid for q in queries})
    results = ev.run_queries(searcher, queries)
    return ev.ir_metrics(qrels, ev.document_level(results), ["RR@10"])["RR@10"]


def test_dev_sample_stays_above_recorded_floor(dev_sample_rr):
    floor = FLOOR["dev_sample_RR@10"]
    assert dev_sample_rr >= floor, f"RR@10 on the dev sample fell to {dev_sample_rr:.4f}, below the floor {floor}"


def test_dev_sample_is_substantial():
    assert len((DEV_SAMPLE / "queries.tsv").read_text(encoding="utf-8").splitlines()) >= 300


def test_labelled_set_is_substantial():
    from qa import evaluation as ev

    queries = ev.load_queries(QUERIES)
    assert len(queries) >= 80
    assert sum(q.out_of_scope for q in queries) >= 15


def test_every_gold_quote_is_in_the_guide():
    from qa import evaluation as ev

    guide = (ROOT / "corpus" / "relapsed-refractory-all.txt").read_text(encoding="utf-8")
    for query in ev.load_queries(QUERIES):
        for quote in query.gold:
            assert quote in guide, f"{query.qid}: gold quote {quote!r} is not in the guide"


# Nineteen sets, each written blind by another session (eval/README.md), keyed by the letter in their file name
# (the first set, urgent_questions.jsonl, is "a"), in the order they were written. The classifier is trained on all
# but the last (in-sample floors); "x" was scored once, held out, after round 10 was committed.
URGENT_ORDER = ("a", "b", "c", "d", "e", "g", "h", "t", "k", "s", "r", "m", "n", "w", "l", "q", "p", "y", "x")
URGENT_SETS = {letter: ROOT / "eval" / f"urgent_questions{'' if letter == 'a' else '_' + letter}.jsonl"
               for letter in URGENT_ORDER}
HELD_OUT = ("x",)
URGENT_FLOOR = json.loads((ROOT / "eval" / "urgent_floor.json").read_text())
# Questions a held-out set repeats word for word from the sets before it (short ones collide: "what are blasts"),
# counted as written; its figures without them are in eval/README.md.
HELD_OUT_REPEATS = {"x": 14}


@pytest.fixture(scope="module")
def urgent_figures(real_app):
    from qa.evaluation import load_urgent_questions
    from qa.evaluation.urgent import decide_all, score

    searcher = real_app.extensions["searcher"]
    figures = {}
    for name, path in URGENT_SETS.items():
        items = load_urgent_questions(path)
        vectors = searcher.query_vectors([item.query for item in items])
        decisions, _ = decide_all(searcher.notices.urgent, items, vectors)
        figures[name] = score(items, [d.fires for d in decisions])
    return figures


@pytest.mark.parametrize("name", list(URGENT_SETS))
def test_urgent_notice_stays_within_its_floors(urgent_figures, name):
    figures, floor = urgent_figures[name], URGENT_FLOOR[name]
    assert figures["recall"] >= floor["recall_at_least"], f"{name} recall fell to {figures['recall']}"
    assert figures["false_notice_rate"] <= floor["false_notice_rate_at_most"], \
        f"{name} false-notice rate rose to {figures['false_notice_rate']}"


def test_urgent_sets_are_substantial():
    from qa.evaluation import load_urgent_questions

    sets = {name: load_urgent_questions(path) for name, path in URGENT_SETS.items()}
    for items in sets.values():
        assert sum(i.urgent for i in items) >= 100 and sum(not i.urgent for i in items) >= 200
    assert {i.split for i in sets["a"]} == {"dev", "test"}
    assert all({i.split for i in sets[name]} == {"train"} for name in ("s", "r", "m", "n", "q", "y"))
    written_as_report = ("b", "c", "d", "e", "g", "h", "t", "k", "w", "l", "p", "x")
    assert all({i.split for i in sets[name]} == {"report"} for name in written_as_report)
    labels: dict[str, bool] = {}
    for name in URGENT_ORDER:
        repeated = [i for i in sets[name] if i.query.lower() in labels]
        assert all(labels[i.query.lower()] == i.urgent for i in repeated), f"{name} relabels a repeated question"
        if name in HELD_OUT:
            assert len(repeated) <= HELD_OUT_REPEATS[name], f"{name} repeats {len(repeated)} earlier questions"
        labels.update((i.query.lower(), i.urgent) for i in sets[name])
