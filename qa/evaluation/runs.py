"""Running a labelled set through a searcher, and writing what it ranked: TREC runs and per-query reports."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

from qa.corpus.questions import LabelledQuery
from qa.evaluation.metrics import (
    document_level,
    gold_metrics,
    gold_qrels,
    hit_rank,
    ir_metrics,
    passage_level,
    per_query_rr,
    standard_measures,
    strictly_decreasing,
)
from qa.search.searcher import Searcher

RUN_DEPTH = 100


@dataclass
class QueryResult:
    """One query's ranking (passage rows, best first) and whether the service would answer it."""

    qid: str
    query: str
    passage_ids: list[str]
    doc_ids: list[str]
    scores: list[float]
    texts: list[str]
    answered: bool
    confidence: float
    answer: list[int] | None = None  # the first result's answering sentence, [start, end) in its text


def run_queries(searcher: Searcher, queries: list[LabelledQuery], chunk_size: int = 256,
                progress: bool = False) -> list[QueryResult]:
    """Rank every query (low-confidence passages included) in batches, keeping the abstention decision."""
    from tqdm import tqdm

    results: list[QueryResult | None] = [None] * len(queries)
    depth = min(RUN_DEPTH, len(searcher.index.passages))
    with tqdm(total=len(queries), unit="q", disable=not progress, desc="queries") as bar:
        # Out of sample, whatever the corpus's example questions hold: each set without its own examples.
        for held_out, positions in searcher.held_out(queries):
            for start in range(0, len(positions), chunk_size):
                chunk = positions[start:start + chunk_size]
                outcomes = held_out.search_batch([queries[i].query for i in chunk], k=depth, highlight=False,
                                                 ranking_only=True)
                for i, outcome in zip(chunk, outcomes):
                    item, hits = queries[i], outcome.hits
                    results[i] = QueryResult(item.qid, item.query, [h.passage.id for h in hits],
                                             [h.passage.doc_id for h in hits], [h.score for h in hits],
                                             [h.passage.text for h in hits], outcome.answered, outcome.confidence,
                                             hits[0].answer if hits else None)
                bar.update(len(chunk))
    return results


class Evaluation:
    """Runs one system over the queries and derives every metric from that single run."""

    def __init__(self, searcher, queries, qrels, progress: bool = False, relevance: int = 1) -> None:
        self.relevance = relevance  # the lowest grade of the qrels that counts as relevant
        started = time.perf_counter()
        self.results = run_queries(searcher, queries, progress=progress)
        self.seconds = time.perf_counter() - started
        self.queries = queries
        self.qrels = qrels
        self.passages = searcher.index.passages
        passage_ids = {p.id for p in self.passages}
        self.passage_qrels = qrels is not None and any(q.doc_id in passage_ids for q in qrels)

    def ranking(self):
        if self.qrels is not None and not self.passage_qrels:
            return document_level(self.results)
        return passage_level(self.results)

    def effective_qrels(self):
        if self.qrels is not None:
            return self.qrels
        return gold_qrels(self.queries, self.passages)

    def metrics(self) -> dict:
        metrics = {}
        qrels = self.effective_qrels()
        if qrels:
            metrics.update(ir_metrics(qrels, self.ranking(), standard_measures(self.relevance)))
        if any(q.gold or q.out_of_scope for q in self.queries):
            metrics.update(gold_metrics(self.queries, self.results))
        metrics["queries_per_second"] = round(len(self.queries) / self.seconds, 1) if self.seconds else None
        return metrics

    def per_query_score(self) -> dict[str, float]:
        """Reciprocal rank of the first relevant result per query (gold quotes or qrels)."""
        if self.qrels is None and any(q.gold for q in self.queries):
            scores = {}
            for item, result in zip(self.queries, self.results):
                if item.out_of_scope:
                    scores[item.qid] = 0.0 if result.answered else 1.0
                else:
                    rank = hit_rank(result, item.gold)
                    scores[item.qid] = 1 / rank if rank and rank <= 10 else 0.0
            return scores
        return per_query_rr(self.effective_qrels(), self.ranking(), self.relevance)


def compare(first: Evaluation, second: Evaluation) -> dict:
    a, b = first.per_query_score(), second.per_query_score()
    wins = sorted(q for q in a if a[q] > b.get(q, 0.0))
    losses = sorted(q for q in a if a[q] < b.get(q, 0.0))
    return {"other": second.metrics(), "wins": wins, "losses": losses,
            "ties": len(a) - len(wins) - len(losses)}


def write_run(path: Path, ranking: dict, tag: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for qid, docs in ranking.items():
            for rank, (doc_id, score) in enumerate(strictly_decreasing(docs), start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")


def write_report(path: Path, evaluation: Evaluation) -> None:
    rows = []
    for item, result in zip(evaluation.queries, evaluation.results):
        rows.append({
            "qid": item.qid,
            "query": item.query,
            "out_of_scope": item.out_of_scope,
            "gold": item.gold,
            "hit_rank": hit_rank(result, item.gold) if item.gold else None,
            "abstained": not result.answered,
            "confidence": round(result.confidence, 4),
            "top_passages": [{"passage_id": pid, "score": score, "text": text}
                             for pid, score, text in list(zip(result.passage_ids, result.scores, result.texts))[:3]],
        })
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["qid", "query", "out_of_scope", "gold", "hit_rank", "abstained", "confidence",
                             "top1_passage_id", "top1_text", "top2_passage_id", "top3_passage_id"])
            for row in rows:
                top = row["top_passages"] + [{"passage_id": "", "text": ""}] * 3
                writer.writerow([row["qid"], row["query"], row["out_of_scope"], " | ".join(row["gold"]),
                                 row["hit_rank"] or "", row["abstained"], row["confidence"],
                                 top[0]["passage_id"], top[0]["text"], top[1]["passage_id"], top[2]["passage_id"]])
    else:
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
