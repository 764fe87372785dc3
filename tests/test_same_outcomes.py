"""scripts/same_outcomes.py: a speed change that moves a decision fails; float noise is reported, not failed."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

SCRIPT = ROOT / "scripts" / "same_outcomes.py"


def _record(query: str, **changes) -> dict:
    row = {"set": "index", "path": "one", "query": query, "answered": True, "passages": ["a", "b"], "notice": None,
           "answers": [[0, 10], None], "highlights": [[[0, 4]], []], "scores": [0.5123, 0.4], "confidence": "0.61"}
    return row | changes


def _compare(tmp_path, before: list[dict], after: list[dict]) -> subprocess.CompletedProcess:
    for name, rows in (("before", before), ("after", after)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), "compare", str(tmp_path / "before.jsonl"),
                           str(tmp_path / "after.jsonl")], capture_output=True, text=True, timeout=60)


def test_last_bit_noise_is_counted_and_passes(tmp_path):
    before = [_record("q1"), _record("q2")]
    after = [_record("q1", confidence="0.6100000001"), _record("q2", scores=[0.5124, 0.4])]
    result = _compare(tmp_path, before, after)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no decision changed" in result.stdout
    assert "confidence       1" in result.stdout and "scores           1" in result.stdout


def test_a_changed_ranking_or_abstention_fails_and_is_named(tmp_path):
    before = [_record("q1"), _record("q2"), _record("q3")]
    after = [_record("q1", passages=["b", "a"]), _record("q2", answered=False, passages=[]),
             _record("q3", notice="urgent")]
    result = _compare(tmp_path, before, after)
    assert result.returncode == 1
    assert "3 records changed a decision" in result.stdout
    for kind in ("passages", "answered", "notice"):
        assert f"{kind:11s}      1" in result.stdout


def test_recordings_of_different_questions_are_refused(tmp_path):
    result = _compare(tmp_path, [_record("q1")], [_record("another")])
    assert result.returncode == 2 and "different questions" in result.stderr


def test_a_malformed_question_file_or_missing_index_is_one_line_and_leaves_no_recording(tmp_path):
    bad = tmp_path / "questions.tsv"
    bad.write_text("no tab on this line\n", encoding="utf-8")
    good = tmp_path / "good.tsv"
    good.write_text("q1\twhat is relapse\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    for spec, says in ((f"index:{bad}", "expected 'qid<TAB>question'"), (f"{tmp_path / 'none'}:{good}", "no index")):
        result = subprocess.run([sys.executable, str(SCRIPT), "record", str(out), "--set", spec],
                                capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
        assert list(tmp_path.glob("out.jsonl*")) == []
