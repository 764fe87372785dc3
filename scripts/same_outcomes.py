"""Check that a speed change changes no answer: record every eval question's outcome before and after, compare.

Run from the repository root:

    python scripts/same_outcomes.py record before.jsonl [--set INDEX_DIR:QUESTIONS ...]
    (make the change)
    python scripts/same_outcomes.py record after.jsonl [--set ...]
    python scripts/same_outcomes.py compare before.jsonl after.jsonl

`record` searches each question one at a time (as the API does: k=5, highlights, urgent notice) and through the
batch path (as `python -m qa eval` does), and writes one JSON line per question and path. Without --set it uses
./index with every question of eval/*.jsonl (`--set index:eval`). QUESTIONS is a query file as `python -m qa
eval --queries` takes it (JSONL with qid and query, or a TSV of qid<TAB>question) or a directory of JSONL files.
To add the dev sample: `--set index:eval --set /tmp/mq-index:eval/medquad-sample/queries.tsv`, after
`python -m qa build --corpus eval/medquad-sample/corpus.jsonl --index /tmp/mq-index`.

`compare` counts the differences by kind and exits 1 when a decision differs: whether it answered, the passages
and their order, the notice, the answer span or the highlights. Differences only in the last bits of a score or
a confidence (float sums in another order) are counted and reported, and do not fail.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# What a user or a metric sees, in the order they are checked; the first that differs names the difference.
DECISIONS = ("answered", "passages", "notice", "answers", "highlights")
NOISE = ("scores", "confidence")


def read_questions(path: Path) -> list[str]:
    """The distinct questions of a query file (as `python -m qa eval --queries` reads it) or of every JSONL file
    in a directory."""
    from qa.evaluation import load_queries

    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return list(dict.fromkeys(query.query for file in files for query in load_queries(file)))


def outcome_record(name: str, path: str, outcome) -> dict:
    hits = outcome.hits
    return {"set": name, "path": path, "query": outcome.query, "answered": outcome.answered,
            "passages": [h.passage.id for h in hits], "notice": (outcome.notice or {}).get("kind"),
            "answers": [h.answer for h in hits], "highlights": [h.highlights for h in hits],
            "scores": [h.score for h in hits], "confidence": repr(outcome.confidence)}


def record(out: Path, sets: list[tuple[str, list[str]]]) -> int:
    from qa.settings import load_settings
    from qa.wiring import open_searcher

    partial = out.with_name(out.name + ".partial")  # renamed when whole: a failed run leaves no recording
    try:
        with partial.open("w", encoding="utf-8") as sink:
            for index_dir, questions in sets:
                searcher = open_searcher(load_settings({"INDEX_DIR": index_dir}))
                rows = [outcome_record(index_dir, "one", searcher.search(q)) for q in questions]
                rows += [outcome_record(index_dir, "batch", o) for o in
                         searcher.search_batch(questions, k=10, highlight=False, ranking_only=True)]
                sink.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                print(f"{index_dir}: {len(questions)} questions", file=sys.stderr)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return 0


def differences(before: list[dict], after: list[dict]) -> tuple[Counter, dict[str, list[str]]]:
    """Per kind, how many records differ (a record counts once, under the first kind that differs)."""
    if [(r["set"], r["path"], r["query"]) for r in before] != [(r["set"], r["path"], r["query"]) for r in after]:
        raise ValueError("the two recordings hold different questions: record both with the same --set")
    counts: Counter = Counter()
    examples: dict[str, list[str]] = {}
    for old, new in zip(before, after):
        kind = next((k for k in DECISIONS + NOISE if old[k] != new[k]), None)
        if kind is not None:
            counts[kind] += 1
            examples.setdefault(kind, []).append(f"[{old['path']}] {old['query']}")
    return counts, examples


def compare(first: Path, second: Path) -> int:
    def load(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    try:
        counts, examples = differences(load(first), load(second))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(1 for _ in first.open(encoding="utf-8"))
    print(f"{total} records compared")
    for kind in DECISIONS + NOISE:
        shown = "; ".join(examples.get(kind, [])[:3])
        print(f"  {kind:11s} {counts[kind]:6d}" + (f"   e.g. {shown}" if shown else ""))
    changed = sum(counts[k] for k in DECISIONS)
    print("no decision changed" if not changed else f"{changed} records changed a decision")
    return 1 if changed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="write every question's outcome")
    rec.add_argument("out", type=Path)
    rec.add_argument("--set", action="append", default=[], metavar="INDEX_DIR:QUESTIONS")
    cmp = commands.add_parser("compare", help="compare two recordings")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "compare":
        return compare(args.before, args.after)
    from qa.errors import QAError

    try:
        sets = []
        for spec in args.set:
            index_dir, sep, questions = spec.partition(":")
            if not sep or not Path(questions).exists():
                parser.error(f"--set {spec!r} is not INDEX_DIR:QUESTIONS with an existing file or directory")
            sets.append((index_dir, read_questions(Path(questions))))
        return record(args.out, sets or [(str(ROOT / "index"), read_questions(ROOT / "eval"))])
    except QAError as exc:  # a malformed query file, a missing or stale index
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
