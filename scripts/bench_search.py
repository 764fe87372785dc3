"""Print latency figures: one bare model encode, one in-process search, one HTTP search, and batch rate.

Run from the repository root after `python -m qa build`:

    python scripts/bench_search.py [--index index/] [--repeat 50]

Figures are medians over --repeat runs in this one process, so their ratios are comparable; absolute
numbers move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUESTIONS = ["what is MRD", "red dots on her skin", "it came back after 2 years", "how do we prevent infections",
             "is relapsed ALL curable", "what are the side effects", "\"central line\"", "swollen glands in his neck"]


def _median_ms(function, repeat: int) -> float:
    timings = []
    for i in range(repeat):
        started = time.perf_counter()
        function(i)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="index")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    from qa.evaluation import LabelledQuery, run_queries
    from qa.web import create_app

    app = create_app({"INDEX_DIR": args.index})
    searcher = app.extensions["searcher"]
    client = app.test_client()
    from sentence_transformers import SentenceTransformer

    from qa.embedding import resolve_model_path

    model = SentenceTransformer(resolve_model_path(searcher.encoder.name), device="cpu")  # the bare model
    question = lambda i: QUESTIONS[i % len(QUESTIONS)]  # noqa: E731
    for i in range(10):  # warm up every path before measuring
        model.encode([question(i)])
        searcher.search(question(i))
        client.get("/api/search", query_string={"q": question(i)})

    encode = _median_ms(lambda i: model.encode([question(i)]), args.repeat)
    search = _median_ms(lambda i: searcher.search(question(i)), args.repeat)
    http = _median_ms(lambda i: client.get("/api/search", query_string={"q": question(i)}), args.repeat)
    queries = [LabelledQuery(str(i), f"{QUESTIONS[i % len(QUESTIONS)]} {i}") for i in range(1000)]
    started = time.perf_counter()
    run_queries(searcher, queries)
    rate = len(queries) / (time.perf_counter() - started)

    print(f"passages indexed            {len(searcher.index.passages)}")
    print(f"bare model encode, 1 query  p50 {encode:7.2f} ms")
    print(f"Searcher.search             p50 {search:7.2f} ms  ({search / encode:.2f} x encode)")
    print(f"HTTP GET /api/search (WSGI) p50 {http:7.2f} ms  ({http / encode:.2f} x encode)")
    print(f"batch evaluation            {rate:7.0f} queries/s over {len(queries)} queries")


if __name__ == "__main__":
    main()
