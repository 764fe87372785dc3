"""`python -m qa` as a user runs it: real subprocesses with the hashing fake model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import ROOT, copy_corpus, run_qa

FAKE_MODEL = "hash:64"


def assert_one_line_error(result, *mentions: str) -> str:
    """A failed command: non-zero exit, exactly one line on stderr, no traceback, nothing on stdout."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert result.stdout.strip() == ""
    for word in mentions:
        assert word in lines[0], lines[0]
    return lines[0]


def error_line_after_progress(result) -> str:
    """A command that failed after printing progress lines: non-zero exit, no traceback, one error line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(error_lines) == 1, result.stderr
    return error_lines[0]


@pytest.fixture(scope="module")
def retrieval_file(tmp_path_factory) -> Path:
    """corpus/retrieval.json without abstention: its threshold is calibrated for the real model, not the fake."""
    settings = json.loads((ROOT / "corpus" / "retrieval.json").read_text(encoding="utf-8"))
    settings["abstain_below"] = -1e9
    path = tmp_path_factory.mktemp("cli-settings") / "retrieval.json"
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def env(retrieval_file) -> dict:
    return {"QA_MODEL": FAKE_MODEL, "QA_RETRIEVAL_FILE": str(retrieval_file)}


@pytest.fixture(scope="module")
def cli_corpus(tmp_path_factory) -> Path:
    return copy_corpus(tmp_path_factory, "cli")


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, cli_corpus) -> Path:
    index_dir = tmp_path_factory.mktemp("cli-index") / "index"
    result = run_qa("build", "--model", FAKE_MODEL, "--corpus", str(cli_corpus), "--index", str(index_dir),
                    "--quiet", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "indexed" in result.stderr
    return index_dir


@pytest.fixture(scope="module")
def cli_app(cli_index, cli_corpus, retrieval_file):
    """The API over the same index and settings that the CLI uses (its defaults resolve from the repo root)."""
    from qa.web import create_app

    app = create_app({
        "INDEX_DIR": str(cli_index), "CORPUS": str(cli_corpus), "MODEL": FAKE_MODEL,
        "NOTICES_FILE": str(ROOT / "corpus" / "notices.json"),
        "LAY_TERMS_FILE": str(ROOT / "corpus" / "lay_terms.tsv"),
        "RETRIEVAL_FILE": str(retrieval_file),
    })
    app.config["TESTING"] = True
    return app


def test_build_writes_a_live_index(cli_index):
    manifest = json.loads((cli_index / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == FAKE_MODEL
    assert manifest["dim"] == 64
    assert manifest["passages"] > 10


def test_search_prints_results(cli_index, env):
    result = run_qa("search", "what is MRD", "--index", str(cli_index), **env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "[1]" in out
    assert "MRD means a small number of cells remain" in out
    assert "Relapsed/ Refractory Acute Lymphoblastic Leukemia (ALL)" in out
    assert "reviewed November 2022" in out
    assert "relapsed-refractory-all:" in out


def test_search_k_limits_results(cli_index, env):
    result = run_qa("search", "fever", "--index", str(cli_index), "-k", "2", **env)
    assert result.returncode == 0, result.stderr
    assert "[2]" in result.stdout and "[3]" not in result.stdout


@pytest.mark.parametrize(("question", "k"), [("what is MRD", None), ("red dots on her skin", "7"),
                                             ("\"central line\"", None), ("high fever and seizure", "3")])
def test_search_json_is_exactly_the_api_body(cli_index, env, cli_app, question, k):
    args = ["search", question, "--index", str(cli_index), "--json"] + (["-k", k] if k else [])
    result = run_qa(*args, **env)
    assert result.returncode == 0, result.stderr
    cli_body = json.loads(result.stdout)
    query = {"q": question} | ({"k": k} if k else {})
    api_body = cli_app.test_client().get("/api/search", query_string=query).get_json()
    assert list(cli_body) == list(api_body)
    assert isinstance(cli_body.pop("took_ms"), (int, float))
    api_body.pop("took_ms")
    assert cli_body == api_body
    assert cli_body["results"]


@pytest.mark.parametrize(("args", "mentions"), [
    (["search", "fever", "-k", "0"], ("-k",)),
    (["search", "fever", "-k", "abc"], ("-k", "abc")),
    (["search", "fever", "-k", "-1"], ("-k",)),
    (["search", "fever", "-k", "21"], ("-k", "20")),
    (["search", "fever", "-k", "2.5"], ("-k",)),
    (["frobnicate"], ("frobnicate",)),
    ([], ()),
    (["search"], ("question",)),
    (["search", ""], ("question",)),
    (["search", "   "], ("question",)),
    (["search", "x" * 1001], ("1000",)),
    (["search", "fever", "--bogus"], ("--bogus",)),
    (["serve", "--port", "99999"], ("65535",)),
    (["serve", "--workers", "0"], ("--workers",)),
    (["build", "--corpus"], ("--corpus",)),
])
def test_bad_arguments_give_one_line(cli_index, env, args, mentions):
    if args[:1] == ["search"] and len(args) > 1:
        args = [*args, "--index", str(cli_index)]
    assert_one_line_error(run_qa(*args, timeout=60, **env), *mentions)


@pytest.mark.parametrize("name", ["QA_ENCODER_SPIN_US", "QA_KEEPALIVE_LINGER_MS"])
def test_serve_refuses_a_negative_spin_or_linger_in_one_line(cli_index, env, name):
    result = run_qa("serve", "--index", str(cli_index), "--port", "1", timeout=60, **{**env, name: "-5"})
    assert_one_line_error(result, name, "0 or more", "-5")


def test_search_with_a_missing_index(tmp_path, env):
    missing = tmp_path / "no-index-here"
    line = assert_one_line_error(run_qa("search", "fever", "--index", str(missing), **env), str(missing))
    assert "python -m qa build" in line
    assert not missing.exists(), "searching must not create the index directory"


@pytest.mark.parametrize("damage", ["vectors", "manifest", "passages"])
def test_search_with_a_corrupt_index(cli_index, env, tmp_path, damage):
    index_dir = tmp_path / "index"
    shutil.copytree(cli_index, index_dir, symlinks=True)
    live = index_dir / "current"
    target = {"vectors": live / "vectors.faiss", "manifest": live / "manifest.json",
              "passages": live / "passages.jsonl"}[damage]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    line = assert_one_line_error(run_qa("search", "fever", "--index", str(index_dir), **env))
    assert "python -m qa build" in line


def test_search_with_the_wrong_model(cli_index):
    line = assert_one_line_error(run_qa("search", "fever", "--index", str(cli_index), QA_MODEL="hash:32"))
    assert "hash:64" in line and "hash:32" in line and "python -m qa build" in line


def test_build_with_a_missing_corpus(tmp_path):
    result = run_qa("build", "--model", FAKE_MODEL, "--corpus", str(tmp_path / "none"), "--index",
                    str(tmp_path / "index"), "--quiet")
    assert str(tmp_path / "none") in error_line_after_progress(result)
    assert not (tmp_path / "index" / "current").exists()


def test_build_with_a_broken_corpus_names_the_file_and_line(tmp_path):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n', encoding="utf-8")
    result = run_qa("build", "--model", FAKE_MODEL, "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                    "--quiet")
    assert f"{corpus}:2" in error_line_after_progress(result)


def test_build_into_an_unusable_index_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    result = run_qa("build", "--model", FAKE_MODEL, "--corpus", str(ROOT / "corpus"), "--index",
                    str(blocker / "index"), "--quiet")
    assert str(blocker) in error_line_after_progress(result)


def test_build_with_an_invalid_boilerplate_pattern(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Doc\n\nSome text here.\n", encoding="utf-8")
    (corpus / "boilerplate.patterns").write_text("Footer (\n", encoding="utf-8")
    result = run_qa("build", "--model", FAKE_MODEL, "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                    "--quiet")
    assert "boilerplate.patterns" in error_line_after_progress(result)


# --------------------------------------------------------------------------- eval


def _eval(cli_index, env, queries: Path, *extra: str):
    return run_qa("eval", "--queries", str(queries), "--index", str(cli_index), "--quiet", *extra, timeout=120, **env)


def test_eval_runs_on_a_small_query_set(cli_index, env, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"qid": "q1", "query": "what is MRD", "gold": ["MRD means a small number of cells remain"]}) + "\n"
        + json.dumps({"qid": "q2", "query": "fever", "gold": ["Fever"]}) + "\n", encoding="utf-8")
    result = _eval(cli_index, env, queries, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["queries"] == 2
    assert 0.0 <= metrics["hit@3"] <= 1.0


@pytest.mark.parametrize(("content", "line"), [
    ("", None),
    ("\n\n  \n", None),
    ("q1\twhat is MRD\nthis line has no tab\n", 2),
    ("q1\twhat is MRD\n\n{\"qid\": \"q2\", \"query\": \n", 3),
    ("{\"qid\": \"q1\"}\n", 1),
    ("{\"qid\": \"q1\", \"query\": \"x\", \"gold\": \"not a list\"}\n", 1),
    ("q1\twhat is MRD\nq1\tagain\n", 2),
])
def test_eval_bad_queries_file(cli_index, env, tmp_path, content, line):
    queries = tmp_path / "queries.tsv"
    queries.write_text(content, encoding="utf-8")
    where = f"{queries}:{line}" if line else str(queries)
    assert_one_line_error(_eval(cli_index, env, queries), where)


def test_eval_run_file_in_a_missing_directory(cli_index, env, tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\twhat is MRD\n", encoding="utf-8")
    target = tmp_path / "no-such-dir" / "run.txt"
    assert str(target) in error_line_after_progress(_eval(cli_index, env, queries, "--run", str(target)))


def test_eval_missing_queries_file(cli_index, env, tmp_path):
    missing = tmp_path / "nope.tsv"
    assert_one_line_error(_eval(cli_index, env, missing), str(missing))


@pytest.mark.parametrize(("content", "line", "mentions"), [
    ("q1 0 relapsed-refractory-all 1\nq9 0 relapsed-refractory-all 1\n", 2, "q9"),
    ("q1 0 relapsed-refractory-all\n", 1, "fields"),
    ("q1 0 relapsed-refractory-all high\n", 1, "high"),
    ("", None, "judgements"),
])
def test_eval_bad_qrels_file(cli_index, env, tmp_path, content, line, mentions):
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\twhat is MRD\nq2\tfever\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text(content, encoding="utf-8")
    where = f"{qrels}:{line}" if line else str(qrels)
    assert_one_line_error(_eval(cli_index, env, queries, "--qrels", str(qrels)), where, mentions)


def test_explain_says_why_it_answers_or_abstains(tmp_path, guide_corpus):
    index = tmp_path / "index"
    assert run_qa("build", "--model", "hash:64", "--corpus", str(guide_corpus), "--index", str(index),
                  "--quiet").returncode == 0
    result = run_qa("explain", "what is MRD", "--index", str(index), "--json", QA_MODEL="hash:64")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["judged_by"] == "plain confidence"  # the guide's model belongs to MiniLM, not the fake
    assert set(report["signals"]) == {"similarity", "coverage", "foreign_term"}
    shares = sum(entry["share"] for entry in report["signals"].values())
    assert shares == pytest.approx(report["confidence"], abs=2e-3)  # the plain confidence is the sum of its parts
    assert report["answered"] == (report["confidence"] >= report["threshold"])
    assert report["nearest_examples"]["answerable"]["question"]
    text = run_qa("explain", "what is MRD", "--index", str(index), QA_MODEL="hash:64")
    assert text.returncode == 0 and text.stdout.splitlines()[0].split(":")[0] in ("answers", "abstains")
    assert_one_line_error(run_qa("explain", "   ", "--index", str(index), QA_MODEL="hash:64"), "empty")
    # A quoted phrase: the passage explained is the one the search puts first, the only one that holds it.
    quoted = 'what is MRD "stem cell"'
    searched = json.loads(run_qa("search", quoted, "-k", "1", "--json", "--index", str(index),
                                 QA_MODEL="hash:64").stdout)
    explained = json.loads(run_qa("explain", quoted, "--index", str(index), "--json", QA_MODEL="hash:64").stdout)
    assert explained["phrase_matched"] is True
    assert "stem cell" in searched["results"][0]["text"].lower()
    assert explained["passage"]["passage_id"] == searched["results"][0]["passage_id"]
