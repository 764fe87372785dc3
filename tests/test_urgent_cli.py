"""`python -m qa notice` and `python -m qa eval --urgent` as a user runs them, with the hashing fake model."""

from __future__ import annotations

import json

import pytest

from tests.support import run_qa
from tests.test_cli import assert_one_line_error

FAKE_MODEL = "hash:64"
ENV = {"QA_MODEL": FAKE_MODEL}


@pytest.fixture(scope="module")
def index(tmp_path_factory, guide_corpus):
    index_dir = tmp_path_factory.mktemp("urgent-cli") / "index"
    result = run_qa("build", "--model", FAKE_MODEL, "--corpus", str(guide_corpus), "--index", str(index_dir),
                    "--quiet", timeout=120)
    assert result.returncode == 0, result.stderr
    return str(index_dir)


@pytest.fixture()
def labelled(tmp_path):
    rows = [
        {"qid": "a", "query": "my son is having a seizure right now", "urgent": True, "concept": "seizure",
         "split": "dev"},
        {"qid": "b", "query": "the thing we were told to watch for is happening", "urgent": True,
         "concept": "vague", "split": "test"},
        {"qid": "c", "query": "can a seizure be a sign of relapse", "urgent": False, "concept": "seizure",
         "split": "dev"},
        {"qid": "d", "query": "seizure", "urgent": False, "concept": "seizure", "split": "test"},
    ]
    path = tmp_path / "urgent.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_notice_says_it_fires_and_why(index):
    result = run_qa("notice", "my son is having a seizure right now", "--index", index, **ENV)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "urgent notice: FIRES"
    assert "concept 'seizure'" in result.stdout and "'right now' +2" in result.stdout


def test_notice_says_why_a_question_about_a_symptom_does_not_fire(index):
    result = run_qa("notice", "can a seizure be a sign of relapse in the brain", "--index", index, **ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("urgent notice: does not fire")
    assert "'sign of' -2" in result.stdout and "< 0" in result.stdout


def test_notice_json_and_spelling(index):
    result = run_qa("notice", "siezure just now", "--index", index, "--json", **ENV)
    decision = json.loads(result.stdout)
    assert decision["fires"] is True
    assert decision["concepts"]["seizure"] and decision["corrections"] == {"siezure": "seizure"}


def test_eval_urgent_prints_recall_false_notices_and_each_miss(index, labelled):
    result = run_qa("eval", "--urgent", str(labelled), "--index", index, **ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    table = [line.split() for line in out.splitlines() if line.startswith(("dev ", "test ", "all "))]
    rows = {row[0]: row[1:] for row in table}
    assert rows["dev"] == ["1", "1.000", "1", "0.000"]
    assert rows["test"] == ["1", "0.000", "1", "1.000"]
    assert rows["all"] == ["2", "0.500", "2", "0.500"]
    assert "missed emergencies (all): 1" in out and "the thing we were told to watch for" in out
    assert "false notices (all): 1" in out and "  d [seizure] seizure" in out


def test_eval_urgent_json_with_a_split_and_ablation(index, labelled):
    result = run_qa("eval", "--urgent", str(labelled), "--index", index, "--json", "--split", "dev",
                    "--ablation", **ENV)
    report = json.loads(result.stdout)
    assert report["splits"]["dev"] == {"emergencies": 1, "recall": 1.0, "calm": 1, "false_notice_rate": 0.0}
    assert report["misses"] == [] and report["false_notices"] == []  # only dev's are listed
    assert report["ablation"]["concepts only"]["false_notice_rate"] == 1.0  # without cues "sign of" fires
    assert report["ablation"]["concepts + cues"]["false_notice_rate"] == 0.0


@pytest.mark.parametrize("content, mentions", [
    (None, ["no such file"]),
    ("", ["no labelled questions"]),
    ('{"qid": "a", "query": "x", "urgent": true}\nnot json\n', [":2:", "not JSON"]),
    ('{"qid": "a", "query": "x", "urgent": "yes"}\n', [":1:", "urgent must be true or false"]),
    ('{"qid": "a", "query": "x", "urgent": true, "split": "holdout"}\n',
     [":1:", "split must be dev, test, report, train"]),
    ('{"qid": "a", "query": "x", "urgent": true}\n{"qid": "a", "query": "y", "urgent": false}\n',
     [":2:", "unique"]),
])
def test_eval_urgent_bad_file_is_one_clear_line(tmp_path, index, content, mentions):
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run_qa("eval", "--urgent", str(path), "--index", index, **ENV)
    assert_one_line_error(result, *mentions)


def test_eval_needs_exactly_one_of_queries_or_urgent(index, labelled):
    assert_one_line_error(run_qa("eval", "--index", index, **ENV), "exactly one of --queries")
    assert_one_line_error(run_qa("eval", "--queries", str(labelled), "--urgent", str(labelled), "--index", index,
                                 **ENV), "exactly one of --queries")


def test_notice_without_an_index_is_one_clear_line(tmp_path):
    assert_one_line_error(run_qa("notice", "seizure", "--index", str(tmp_path / "none"), **ENV), "index")


def test_train_urgent_writes_weights_beside_the_rules_and_the_notice_uses_them(index, labelled, tmp_path,
                                                                              guide_corpus):
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps({"qid": "e", "query": "he is not breathing right now", "urgent": True}) + "\n"
                      + json.dumps({"qid": "f", "query": "what is MRD", "urgent": False}) + "\n", encoding="utf-8")
    weights = guide_corpus / "urgent_classifier.json"
    kept = weights.read_bytes()
    try:
        result = run_qa("train-urgent", str(labelled), str(second), "--index", index, **ENV)
        assert result.returncode == 0, result.stderr
        assert "labelled questions" in result.stdout and f"{labelled}: recall" in result.stdout
        written = json.loads(weights.read_text(encoding="utf-8"))
        assert written["model"] == FAKE_MODEL and len(written["weights"]) == 64
        assert set(written["trained_on"]["files"]) == {str(labelled), str(second)}
        decision = json.loads(run_qa("notice", "my son is having a seizure right now", "--index", index, "--json",
                                     **ENV).stdout)
        assert 0.0 <= decision["classifier_probability"] <= 1.0
    finally:
        weights.write_bytes(kept)


def test_train_urgent_refuses_a_malformed_file_and_writes_nothing(index, tmp_path, guide_corpus):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"qid": "a", "query": "what is MRD"}\n', encoding="utf-8")  # no label
    weights = guide_corpus / "urgent_classifier.json"
    kept = weights.read_bytes()
    result = run_qa("train-urgent", str(broken), "--index", index, **ENV)
    assert_one_line_error(result, "urgent must be true or false")
    assert weights.read_bytes() == kept
