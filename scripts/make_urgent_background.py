"""Write eval/urgent_background.jsonl: everyday questions, labelled for the urgent classifier's training.

The urgent sets hold questions about symptoms only. A service also gets small talk, out-of-scope questions and
general medical questions, and a classifier that never saw them may call them urgent ("thanks so much" did).
This file labels the guide's question set by its own blind labels (kind "urgent" is urgent, every other kind
calm) and the dev sample's NIH questions as calm. Run from the repository root:

    python scripts/make_urgent_background.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    rows = []
    for line in (ROOT / "eval" / "guide_questions.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        rows.append({"qid": f"guide-{item['qid']}", "query": item["query"], "urgent": item["kind"] == "urgent",
                     "concept": item["kind"], "split": "dev"})
    with open(ROOT / "eval" / "medquad-sample" / "queries.tsv", encoding="utf-8", newline="") as handle:
        for qid, query in csv.reader(handle, delimiter="\t"):
            rows.append({"qid": f"nih-{qid}", "query": query, "urgent": False, "concept": "nih", "split": "dev"})
    target = ROOT / "eval" / "urgent_background.jsonl"
    target.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {target}: {len(rows)} questions, {sum(r['urgent'] for r in rows)} urgent")


if __name__ == "__main__":
    main()
