"""Print what the urgent-notice check costs: per question, at start-up, and on first use of the examples.

Run from the repository root after `python -m qa build`:

    python scripts/bench_urgent.py [--index index/] [--repeat 5]

Per-question figures are over every question of eval/urgent_questions.jsonl, each the median of --repeat
runs, in this one process. "rules only" is the check with no query vector (no model call at all); "as served" adds the
semantic check on the search's own query vector (a dot product with the example vectors; nothing encoded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _timings(function, items, repeat: int) -> list[float]:
    """Per item, the median of ``repeat`` runs: a shared machine's hiccups do not land on one question."""
    timings = []
    for item in items:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            function(item)
            runs.append((time.perf_counter() - started) * 1000)
        timings.append(statistics.median(runs))
    return timings


def _line(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"{name:<44} median {statistics.median(ordered):7.3f} ms   p95 {p95:7.3f} ms   max {ordered[-1]:7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="index")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from qa.evaluation import load_urgent_questions
    from qa.settings import load_settings
    from qa.wiring import load_notices

    started = time.perf_counter()
    notices = load_notices(ROOT / "corpus" / "notices.json")
    print(f"start-up: loading notices.json and urgent.json: {(time.perf_counter() - started) * 1000:.1f} ms")

    from qa.wiring import open_searcher

    searcher = open_searcher(load_settings({"INDEX_DIR": args.index}))
    items = load_urgent_questions(ROOT / "eval" / "urgent_questions.jsonl")
    questions = [item.query for item in items]
    vectors = searcher.query_vectors(questions)
    detector = searcher.notices.urgent
    examples = detector.examples

    cached = examples.cache_path is not None and examples.cache_path.is_file()
    started = time.perf_counter()
    examples.vectors()
    how = f"reading {examples.cache_path}" if cached else "encoding them (and writing the cache file)"
    print(f"first use of the {sum(len(v) for v in examples.examples.values())} example sentences, {how}: "
          f"{(time.perf_counter() - started) * 1000:.1f} ms (once per process)")

    for question in questions:  # warm the stemmer and wordfreq caches, as a running service has them
        notices.urgent.decide(question)
    pairs = list(zip(questions, vectors))
    print(_line("rules only (no model call)", _timings(lambda q: notices.urgent.decide(q), questions, args.repeat)))
    print(_line("as served (semantic check on the query vector)",
                _timings(lambda pair: detector.decide(*pair), pairs, args.repeat)))
    search = _timings(lambda q: searcher.search(q), questions[:40], 1)
    print(_line("whole search, for scale (40 questions, once)", search))


if __name__ == "__main__":
    main()
