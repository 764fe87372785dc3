"""Batch evaluation: metrics against ir-measures, run files, reports, comparison and calibration."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import ir_measures
import pytest
from ir_measures import AP, RR, R, Success, nDCG

from qa import evaluation as ev
from qa.index import read_manifest
from tests.support import ROOT, run_qa

FAKE = "hash:128"


def _result(qid: str, passages: list[tuple[str, str, str]], answered: bool = True, confidence: float = 0.5):
    """passages: (passage_id, doc_id, text), best first."""
    return ev.QueryResult(qid, f"question {qid}", [p[0] for p in passages], [p[1] for p in passages],
                          [1.0 / (i + 1) for i in range(len(passages))], [p[2] for p in passages],
                          answered, confidence)


def test_metrics_match_a_hand_checked_run():
    # q1: relevant doc at rank 2 -> RR 1/2; q2: relevant docs at ranks 1 and 3 of 2 relevant -> AP (1 + 2/3)/2.
    qrels = [ir_measures.Qrel("q1", "d2", 1), ir_measures.Qrel("q2", "d1", 1), ir_measures.Qrel("q2", "d3", 2)]
    ranking = {"q1": [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)], "q2": [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)]}
    metrics = ev.ir_metrics(qrels, ranking)
    assert metrics["RR@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["Success@1"] == pytest.approx(0.5)
    assert metrics["P@1"] == pytest.approx(0.5)
    assert metrics["R@10"] == pytest.approx(1.0)
    assert metrics["AP@10"] == pytest.approx((0.5 + (1 + 2 / 3) / 2) / 2)
    run = [ir_measures.ScoredDoc(q, d, s) for q, docs in ranking.items() for d, s in docs]
    reference = ir_measures.calc_aggregate([RR @ 10, nDCG @ 10, R @ 10, AP @ 10, Success @ 1], qrels, run)
    for measure, value in reference.items():
        assert metrics[str(measure)] == pytest.approx(value)


def test_document_level_ranking_takes_each_documents_best_passage():
    result = _result("q", [("a:1", "a", ""), ("b:1", "b", ""), ("a:2", "a", ""), ("c:1", "c", "")])
    assert [doc for doc, _ in ev.document_level([result])["q"]] == ["a", "b", "c"]


def test_gold_metrics_and_abstention_rates():
    queries = [ev.LabelledQuery("1", "x", ["alpha"]), ev.LabelledQuery("2", "y", ["beta"]),
               ev.LabelledQuery("3", "z", ["gamma"]), ev.LabelledQuery("4", "w", [], out_of_scope=True),
               ev.LabelledQuery("5", "v", [], out_of_scope=True)]
    results = [
        _result("1", [("p1", "d", "has alpha"), ("p2", "d", "none")]),  # hit at 1, answered
        _result("2", [("p1", "d", "none"), ("p2", "d", "has beta")]),  # hit at 2, answered: wrong answer
        _result("3", [("p1", "d", "none")], answered=False),  # miss, abstained
        _result("4", [("p1", "d", "none")], answered=False),  # out of scope, abstained
        _result("5", [("p1", "d", "none")], answered=True),  # out of scope, answered: wrong answer
    ]
    metrics = ev.gold_metrics(queries, results)
    assert metrics["hit@1"] == pytest.approx(1 / 3)
    assert metrics["hit@3"] == pytest.approx(2 / 3)
    assert metrics["MRR@10"] == pytest.approx((1 + 0.5) / 3)
    assert metrics["coverage"] == pytest.approx(2 / 3)
    assert metrics["oos_abstention"] == pytest.approx(0.5)
    assert metrics["wrong_answer_rate"] == pytest.approx(2 / 3)  # q2 and q5 of three answered


def test_confidence_auc_is_the_chance_in_scope_outranks_out_of_scope():
    queries = [ev.LabelledQuery("1", "x", ["a"]), ev.LabelledQuery("2", "y", ["a"]),
               ev.LabelledQuery("3", "z", [], out_of_scope=True), ev.LabelledQuery("4", "w", [], out_of_scope=True)]
    confidences = [0.9, 0.4, 0.5, 0.1]  # of the four in/out pairs, only 0.4 < 0.5 is misordered
    results = [_result(q.qid, [("p", "d", "a")], confidence=c) for q, c in zip(queries, confidences)]
    assert ev.gold_metrics(queries, results)["confidence_auc"] == pytest.approx(3 / 4)
    assert "confidence_auc" not in ev.gold_metrics(queries[:2], results[:2])


def test_tradeoff_curve_and_threshold_choice():
    queries = [ev.LabelledQuery("1", "x", ["a"]), ev.LabelledQuery("2", "y", [], out_of_scope=True)]
    results = [_result("1", [("p", "d", "a")], confidence=0.7), _result("2", [("p", "d", "b")], confidence=0.3)]
    curve = ev.tradeoff_curve(queries, results)
    chosen = ev.choose_threshold(curve)
    assert chosen["threshold"] == pytest.approx(0.7)  # answers the in-scope one, abstains on the other
    assert chosen["coverage"] == 1.0 and chosen["oos_abstention"] == 1.0


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A synthetic JSONL corpus of long documents with TREC topics and qrels, indexed with the fake encoder."""
    out = tmp_path_factory.mktemp("synthetic")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_synthetic_corpus.py"), "--documents", "300",
                    "--queries", "120", "--paragraphs", "6", "--out", str(out)], check=True, capture_output=True)
    built = run_qa("build", "--corpus", str(out / "corpus.jsonl"), "--index", str(out / "index"), "--model", FAKE,
                   "--quiet")
    assert built.returncode == 0, built.stderr
    return out


def test_run_file_agrees_with_ir_measures(synthetic, tmp_path):
    run_file = tmp_path / "run.txt"
    completed = run_qa("eval", "--index", str(synthetic / "index"), "--queries", str(synthetic / "topics.tsv"),
                       "--qrels", str(synthetic / "qrels.txt"), "--run", str(run_file), "--json", "--quiet",
                       QA_MODEL=FAKE)
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads(completed.stdout)
    lines = run_file.read_text().splitlines()
    for line in lines:
        qid, q0, doc_id, rank, score, tag = line.split()
        assert q0 == "Q0" and doc_id.startswith("doc") and int(rank) >= 1 and tag == "qa"
        float(score)
    qrels = list(ir_measures.read_trec_qrels(str(synthetic / "qrels.txt")))
    run = list(ir_measures.read_trec_run(str(run_file)))
    reference = ir_measures.calc_aggregate([RR @ 10, nDCG @ 10], qrels, run)
    assert metrics["RR@10"] == pytest.approx(reference[RR @ 10], abs=1e-9)
    assert metrics["nDCG@10"] == pytest.approx(reference[nDCG @ 10], abs=1e-9)
    assert metrics["RR@10"] > 0.5  # the marker words make most queries findable even by the fake encoder


def test_report_compare_and_calibrate(fake_index, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"qid": "a", "query": "what is MRD", "gold": ["MRD means a small number of cells remain"]},
        {"qid": "b", "query": "petechiae", "gold": ["Tiny, flat, dark-red skin spots (petechiae)"]},
        {"qid": "c", "query": "what is the weather in paris", "gold": [], "out_of_scope": True},
    ]) + "\n")
    retrieval = tmp_path / "retrieval.json"
    retrieval.write_text(json.dumps({"fusion": "rrf", "abstain_below": 0.0}))
    other = tmp_path / "dense.json"
    other.write_text(json.dumps({"fusion": "dense", "abstain_below": 0.0}))
    report = tmp_path / "report.csv"
    env = {"QA_MODEL": "hash:256"}
    completed = run_qa("eval", "--index", str(fake_index), "--queries", str(queries), "--retrieval", str(retrieval),
                       "--report", str(report), "--compare", str(other), "--calibrate", "--quiet", **env)
    assert completed.returncode == 0, completed.stderr
    assert "wins" in completed.stdout and "losses" in completed.stdout
    with report.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:6] == ["qid", "query", "out_of_scope", "gold", "hit_rank", "abstained"]
    assert [row[0] for row in rows[1:]] == ["a", "b", "c"]
    assert "<- chosen" in completed.stderr
    saved = json.loads(retrieval.read_text())
    assert saved["fusion"] == "rrf" and "abstain_below" in saved  # RRF has no weight: only the threshold is chosen
    # The saved settings are bound to this corpus and model.
    manifest = read_manifest(fake_index)
    assert saved["corpus_hash"] == manifest["corpus"]["hash"] and saved["model"] == manifest["model"]


def test_calibrate_chooses_the_convex_weight(fake_index, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"qid": "a", "query": "what is MRD", "gold": ["MRD means a small number of cells remain"]},
        {"qid": "b", "query": "petechiae", "gold": ["Tiny, flat, dark-red skin spots (petechiae)"]},
    ]) + "\n")
    retrieval = tmp_path / "retrieval.json"
    retrieval.write_text(json.dumps({"fusion": "convex"}))
    completed = run_qa("eval", "--index", str(fake_index), "--queries", str(queries), "--retrieval", str(retrieval),
                       "--calibrate", "--quiet", "--json", QA_MODEL="hash:256")
    assert completed.returncode == 0, completed.stderr
    assert "dense_weight  RR@10" in completed.stderr and "held out" in completed.stderr
    saved = json.loads(retrieval.read_text())
    chosen = json.loads(completed.stdout)["calibrated_dense_weight"]
    assert saved["fusion"] == "convex" and saved["dense_weight"] == chosen


def test_eval_rate_is_reported(fake_index, tmp_path):
    queries = tmp_path / "topics.tsv"
    queries.write_text("".join(f"q{i}\tquestion number {i} about relapse\n" for i in range(300)))
    completed = run_qa("eval", "--index", str(fake_index), "--queries", str(queries), "--quiet", QA_MODEL="hash:256")
    assert completed.returncode == 0, completed.stderr
    assert "300 queries in" in completed.stderr and "queries/s" in completed.stderr


def test_two_fold_check_scores_each_half_at_the_other_halfs_threshold():
    confidences = [0.9, 0.7, 0.2, 0.3, 0.6, 0.8, 0.5, 0.1]
    out_of_scope = [False, False, True, True, False, False, True, True]
    queries = [ev.LabelledQuery(str(i), "q", [] if oos else ["a"], out_of_scope=oos)
               for i, oos in enumerate(out_of_scope)]
    results = [_result(str(i), [("p", "d", "a")], confidence=c) for i, c in enumerate(confidences)]
    odd, even = ev.two_fold_check(queries, results)
    # The even-numbered questions (0.7, 0.3, 0.8, 0.1) choose 0.7, which refuses the odd half's 0.6.
    assert odd["threshold"] == pytest.approx(0.7)
    assert odd["coverage"] == pytest.approx(0.5) and odd["oos_abstention"] == 1.0
    assert even["threshold"] == pytest.approx(0.6)
    assert even["coverage"] == 1.0 and even["oos_abstention"] == 1.0


def test_calibrate_over_several_sets_trains_answerability_out_of_fold(tmp_path_factory, tmp_path):
    """Each set is judged by a model trained on the others; the threshold is chosen on those out-of-fold figures; the
    model saved beside the corpus is trained on every set and is tagged with the corpus, its examples and the model."""
    from qa.corpus import corpus_hash
    from tests.support import copy_corpus

    corpus = copy_corpus(tmp_path_factory, "answerability")
    index = tmp_path / "index"
    assert run_qa("build", "--model", "hash:256", "--corpus", str(corpus), "--index", str(index),
                  "--quiet").returncode == 0
    rows = [json.loads(line) for line in (ROOT / "eval" / "guide_questions.jsonl").open(encoding="utf-8")]
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    first.write_text("".join(json.dumps(row) + "\n" for row in rows[::2]))
    second.write_text("".join(json.dumps(row) + "\n" for row in rows[1::2]))
    curve = tmp_path / "curve.png"
    completed = run_qa("eval", "--index", str(index), "--queries", str(first), str(second), "--calibrate",
                       "--curve", str(curve), "--quiet", "--json", QA_MODEL="hash:256")
    assert completed.returncode == 0, completed.stderr
    assert "out of fold" in completed.stderr and f"{first}: out-of-scope abstention" in completed.stderr
    metrics = json.loads(completed.stdout)
    oof = metrics["oof"]
    assert oof["answerable"] == sum(not r.get("out_of_scope") for r in rows)
    assert oof["out_of_scope"] == sum(bool(r.get("out_of_scope")) for r in rows)
    assert oof["refused_share"] <= 0.03 and metrics["calibrated_threshold"] == pytest.approx(oof["threshold"], abs=1e-4)
    saved = json.loads((corpus / "answerability.json").read_text())
    assert saved["threshold"] == pytest.approx(oof["threshold"], abs=1e-4) and saved["model"] == "hash:256"
    assert saved["tags"]["corpus_hash"] == corpus_hash(corpus)
    assert set(saved["trained_on"]["sets"]) == {str(first), str(second)}
    assert curve.read_bytes()[:4] == b"\x89PNG"
    served = run_qa("explain", "how much does a transplant cost", "--index", str(index), "--json", QA_MODEL="hash:256")
    assert json.loads(served.stdout)["judged_by"] == "answerability model"  # the search now judges with it
