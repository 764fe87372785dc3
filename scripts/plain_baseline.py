"""The simplest alternative to compare against: one MiniLM vector per document in a flat FAISS index.

Nothing else: no passages, no BM25, no context, no expansions (qa/evaluation/baselines.py). With gold-quote
queries (the guide's JSONL) the corpus is one document, so the unit is the passage.

    python scripts/plain_baseline.py --corpus ../shared/dev-corpora/medquad-nih/corpus.jsonl \
        --queries ../shared/dev-corpora/medquad-nih/queries.tsv --qrels ../shared/dev-corpora/medquad-nih/qrels.txt
    python scripts/plain_baseline.py --corpus corpus --queries eval/guide_questions.jsonl

Prints the ir-measures metrics (RR@10 first) as JSON. scripts/battery.py runs it beside the service's systems.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="corpus directory or .jsonl file")
    parser.add_argument("--queries", required=True, help="TSV topics or JSONL with gold quotes")
    parser.add_argument("--qrels", help="TREC qrels naming documents (omit for gold-quote queries)")
    parser.add_argument("--relevance", type=int, default=1, help="lowest qrels grade that counts (MEDIQA: 2)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args()

    from qa import evaluation as ev
    from qa.evaluation.baselines import plain_ranking
    from qa.evaluation.metrics import standard_measures

    queries = ev.load_queries(args.queries)
    qrels = ev.load_qrels(args.qrels, {q.qid for q in queries}) if args.qrels else None
    ranking, qrels = plain_ranking(args.corpus, queries, qrels, args.model)
    metrics = ev.ir_metrics(qrels, ranking, standard_measures(args.relevance))
    print(json.dumps({**metrics, "queries": len(ranking)}, indent=2))


if __name__ == "__main__":
    main()
