"""Write the guide's example questions (corpus/example_questions.jsonl) from its labelled development sets.

    python scripts/make_example_questions.py           # rewrite the file
    python scripts/make_example_questions.py --check   # exit 1 if it is not what the sets give

The examples are the questions of eval/guide_questions.jsonl and of the blind development sets B to E, as they were
written (qids, gold quotes and out-of-scope labels unchanged). The held-out set A and the
report set F are never examples. Evaluation leaves out every example whose question it scores, so a labelled set
is always scored out of sample (see docs/retrieval.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qa.corpus.questions import load_queries

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["guide_questions.jsonl", *(f"guide_questions_{x}.jsonl" for x in "bcde")]
TARGET = ROOT / "corpus" / "example_questions.jsonl"


def lines() -> str:
    rows = []
    for name in SOURCES:  # each set's qids have their own prefix (g, gb, gc, ...), so they stay unique
        for item in load_queries(ROOT / "eval" / name):
            rows.append({"qid": item.qid, "query": item.query, "gold": item.gold, "out_of_scope": item.out_of_scope})
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the file is current")
    args = parser.parse_args()
    content = lines()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else ""
        if current != content:
            print(f"{TARGET} is not current: run python scripts/make_example_questions.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(content, encoding="utf-8")
    print(f"wrote {content.count(chr(10))} example questions to {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
