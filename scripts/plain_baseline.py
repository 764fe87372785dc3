"""The simplest alternative to compare against: one MiniLM vector per document in a flat FAISS index.

Nothing else: no passages, no BM25, no context, no expansions. Each document's text is encoded as it is (the
model reads its first 256 tokens). With gold-quote queries (the guide's JSONL) the corpus is one document, so
the unit is the passage: one plain vector per passage of the splitter, scored at passage level.

    python scripts/plain_baseline.py --corpus ../shared/dev-corpora/medquad-nih/corpus.jsonl \
        --queries ../shared/dev-corpora/medquad-nih/queries.tsv --qrels ../shared/dev-corpora/medquad-nih/qrels.txt
    python scripts/plain_baseline.py --corpus corpus --queries eval/guide_questions.jsonl

Prints the ir-measures metrics (RR@10 first) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="corpus directory or .jsonl file")
    parser.add_argument("--queries", required=True, help="TSV topics or JSONL with gold quotes")
    parser.add_argument("--qrels", help="TREC qrels naming documents (omit for gold-quote queries)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args()

    import faiss
    from sentence_transformers import SentenceTransformer

    from qa import evaluation as ev
    from qa.corpus import load_corpus
    from qa.corpus.splitter import split_document
    from qa.embedding import resolve_model_path

    corpus = load_corpus(args.corpus)
    queries = [q for q in ev.load_queries(args.queries) if not q.out_of_scope]
    if args.qrels:
        units = [(d.id, d.text) for d in corpus.documents]
        qrels = ev.load_qrels(args.qrels, {q.qid for q in ev.load_queries(args.queries)})
    else:
        passages = [p for d in corpus.documents for p in split_document(d)]
        units = [(p.id, p.text) for p in passages]
        qrels = ev.gold_qrels(queries, passages)
    model = SentenceTransformer(resolve_model_path(args.model), device="cpu")
    started = time.perf_counter()
    vectors = model.encode([text for _, text in units], batch_size=32, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    encode_seconds = time.perf_counter() - started
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    query_vectors = model.encode([q.query for q in queries], batch_size=64, normalize_embeddings=True,
                                 convert_to_numpy=True)
    depth = min(ev.RUN_DEPTH, len(units))
    scores, rows = index.search(query_vectors, depth)
    ranking = {q.qid: [(units[r][0], float(s)) for r, s in zip(row, score) if r >= 0]
               for q, row, score in zip(queries, rows, scores)}
    metrics = ev.ir_metrics(qrels, ranking)
    print(json.dumps({**metrics, "units": len(units), "queries": len(queries),
                      "encode_seconds": round(encode_seconds, 1)}, indent=2))


if __name__ == "__main__":
    main()
