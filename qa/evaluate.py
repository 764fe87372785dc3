"""Batch evaluation: query and qrels files, runs, IR metrics via ir-measures, gold-quote and abstention rates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import InputError
from qa.search import Searcher

STANDARD_MEASURES = ("RR@10", "nDCG@10", "R@10", "AP@10", "Success@1", "P@1")
RUN_DEPTH = 100


@dataclass
class LabelledQuery:
    qid: str
    query: str
    gold: list[str] = field(default_factory=list)
    out_of_scope: bool = False


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


def _bad(path: Path, line: int | None, message: str) -> InputError:
    where = f"{path}:{line}" if line else str(path)
    return InputError("invalid_file", f"{where}: {message}")


def load_queries(path: str | Path) -> list[LabelledQuery]:
    """TSV ``qid<TAB>question`` (TREC topics style) or JSONL ``{"qid", "query", "gold", "out_of_scope"}``."""
    path = Path(path)
    if not path.is_file():
        raise _bad(path, None, "no such file")
    queries: list[LabelledQuery] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            item = _parse_query_line(path, number, line)
            if item.qid in seen:
                raise _bad(path, number, f"duplicate qid {item.qid!r}")
            seen.add(item.qid)
            queries.append(item)
    if not queries:
        raise _bad(path, None, "holds no queries")
    return queries


def _parse_query_line(path: Path, number: int, line: str) -> LabelledQuery:
    if line.lstrip().startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(path, number, f"invalid JSON ({exc.msg})") from None
        qid, query = record.get("qid"), record.get("query")
        gold = record.get("gold", [])
        out_of_scope = record.get("out_of_scope", False)
        if not isinstance(qid, (str, int)) or not str(qid).strip():
            raise _bad(path, number, "needs a non-empty \"qid\"")
        if not isinstance(query, str) or not query.strip():
            raise _bad(path, number, "needs a non-empty string \"query\"")
        if not isinstance(gold, list) or not all(isinstance(g, str) and g for g in gold):
            raise _bad(path, number, "\"gold\" must be a list of non-empty strings")
        if not isinstance(out_of_scope, bool):
            raise _bad(path, number, "\"out_of_scope\" must be true or false")
        if out_of_scope and gold:
            raise _bad(path, number, "an out-of-scope query cannot have gold quotes")
        return LabelledQuery(str(qid), query.strip(), gold, out_of_scope)
    qid, tab, query = line.rstrip("\n").partition("\t")
    if not tab or not qid.strip() or not query.strip():
        raise _bad(path, number, "expected 'qid<TAB>question' or a JSON object")
    return LabelledQuery(qid.strip(), query.strip())


def load_qrels(path: str | Path, known_qids: set[str]):
    """TREC qrels ``qid 0 doc_id grade``; every qid must be one of the queries."""
    import ir_measures

    path = Path(path)
    if not path.is_file():
        raise _bad(path, None, "no such file")
    qrels = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 4:
                raise _bad(path, number, f"expected 'qid 0 doc_id grade', got {len(parts)} fields")
            qid, _, doc_id, grade = parts
            try:
                relevance = int(grade)
            except ValueError:
                raise _bad(path, number, f"grade must be an integer, not {grade!r}") from None
            if qid not in known_qids:
                raise _bad(path, number, f"unknown qid {qid!r}: it is not in the queries file")
            qrels.append(ir_measures.Qrel(qid, doc_id, relevance))
    if not qrels:
        raise _bad(path, None, "holds no judgements")
    return qrels


def run_queries(searcher: Searcher, queries: list[LabelledQuery], chunk_size: int = 256,
                progress: bool = False) -> list[QueryResult]:
    """Rank every query (low-confidence passages included) in batches, keeping the abstention decision."""
    from tqdm import tqdm

    results: list[QueryResult] = []
    depth = min(RUN_DEPTH, len(searcher.index.passages))
    with tqdm(total=len(queries), unit="q", disable=not progress, desc="queries") as bar:
        for start in range(0, len(queries), chunk_size):
            chunk = queries[start:start + chunk_size]
            outcomes = searcher.search_batch([q.query for q in chunk], k=depth, highlight=False, ranking_only=True)
            for item, outcome in zip(chunk, outcomes):
                hits = outcome.hits
                results.append(QueryResult(item.qid, item.query, [h.passage.id for h in hits],
                                           [h.passage.doc_id for h in hits], [h.score for h in hits],
                                           [h.passage.text for h in hits], outcome.answered, outcome.confidence,
                                           hits[0].answer if hits else None))
            bar.update(len(chunk))
    return results


def hit_rank(result: QueryResult, gold: list[str]) -> int | None:
    """Rank (1-based) of the first passage containing a gold quote."""
    for rank, text in enumerate(result.texts, start=1):
        if any(quote in text for quote in gold):
            return rank
    return None


def answer_hit(result: QueryResult, gold: list[str]) -> bool:
    """Whether the first result's answering sentence holds a gold quote, or covers most of one (a quote that runs
    over two sentences). A passage without smaller units is its own answer."""
    if not result.texts:
        return False
    text = result.texts[0]
    start, end = result.answer or (0, len(text))
    for quote in gold:
        position = text.find(quote)
        while position >= 0:
            overlap = min(end, position + len(quote)) - max(start, position)
            if overlap > len(quote) / 2:
                return True
            position = text.find(quote, position + 1)
    return False


def gold_qrels(queries: list[LabelledQuery], passages) -> list:
    """Passage-level qrels from gold quotes: every indexed passage that contains a quote is relevant."""
    import ir_measures

    return [ir_measures.Qrel(item.qid, passage.id, 1)
            for item in queries if item.gold
            for passage in passages if any(quote in passage.text for quote in item.gold)]


def document_level(results: list[QueryResult]) -> dict[str, list[tuple[str, float]]]:
    """A document's score is its best passage's score; documents best first."""
    ranked = {}
    for result in results:
        best: dict[str, float] = {}
        for doc_id, score in zip(result.doc_ids, result.scores):
            best.setdefault(doc_id, score)
        ranked[result.qid] = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return ranked


def passage_level(results: list[QueryResult]) -> dict[str, list[tuple[str, float]]]:
    return {r.qid: list(zip(r.passage_ids, r.scores)) for r in results}


def strictly_decreasing(docs: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Scores nudged down where they tie, so that tools which sort by score (trec_eval, ir-measures) keep
    our ranking order; the run file and our own metrics use these same scores."""
    result: list[tuple[str, float]] = []
    previous = float("inf")
    for doc_id, score in docs:
        score = round(min(float(score), previous - 1e-6), 6)
        result.append((doc_id, score))
        previous = score
    return result


def scored_docs(ranking: dict[str, list[tuple[str, float]]]) -> list:
    import ir_measures

    return [ir_measures.ScoredDoc(qid, doc_id, score)
            for qid, docs in ranking.items() for doc_id, score in strictly_decreasing(docs)]


def ir_metrics(qrels, ranking: dict[str, list[tuple[str, float]]], measures=STANDARD_MEASURES) -> dict:
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    aggregate = ir_measures.calc_aggregate(parsed, qrels, scored_docs(ranking))
    return {str(m): float(aggregate.get(m, 0.0)) for m in parsed}


def per_query_rr(qrels, ranking) -> dict[str, float]:
    import ir_measures

    run = scored_docs(ranking)
    return {m.query_id: float(m.value) for m in ir_measures.iter_calc([ir_measures.parse_measure("RR@10")],
                                                                      qrels, run)}


def gold_metrics(queries: list[LabelledQuery], results: list[QueryResult]) -> dict:
    """hit@1, hit@3 and MRR@10 on in-scope queries, plus the abstention rates and the confidence's AUC."""
    in_scope = [(q, r) for q, r in zip(queries, results) if not q.out_of_scope]
    out_scope = [(q, r) for q, r in zip(queries, results) if q.out_of_scope]
    ranks = [hit_rank(r, q.gold) for q, r in in_scope]
    answered = [r for _, r in in_scope if r.answered]
    metrics = {
        "queries": len(queries),
        "in_scope": len(in_scope),
        "out_of_scope": len(out_scope),
    }
    if in_scope:
        metrics.update({
            "hit@1": sum(1 for rank in ranks if rank == 1) / len(in_scope),
            "hit@3": sum(1 for rank in ranks if rank is not None and rank <= 3) / len(in_scope),
            "MRR@10": sum(1 / rank for rank in ranks if rank is not None and rank <= 10) / len(in_scope),
            "answer_hit@1": sum(1 for (q, r), rank in zip(in_scope, ranks) if rank == 1 and answer_hit(r, q.gold))
            / len(in_scope),
            "coverage": len(answered) / len(in_scope),
            "in_scope_abstention": 1 - len(answered) / len(in_scope),
        })
    wrong = sum(1 for (q, r), rank in zip(in_scope, ranks) if r.answered and rank != 1)
    wrong += sum(1 for _, r in out_scope if r.answered)
    answered_total = len(answered) + sum(1 for _, r in out_scope if r.answered)
    metrics["wrong_answer_rate"] = wrong / answered_total if answered_total else 0.0
    if out_scope:
        metrics["oos_abstention"] = sum(1 for _, r in out_scope if not r.answered) / len(out_scope)
    if in_scope and out_scope:
        # Threshold-free: the chance that an in-scope question gets more confidence than an out-of-scope one.
        from sklearn.metrics import roc_auc_score

        metrics["confidence_auc"] = float(roc_auc_score([1] * len(in_scope) + [0] * len(out_scope),
                                                        [r.confidence for _, r in in_scope + out_scope]))
    return metrics


def rates_at(queries: list[LabelledQuery], results: list[QueryResult], threshold: float) -> dict:
    """Coverage, wrong-answer rate and out-of-scope abstention if the service abstained below ``threshold``."""
    in_scope = answered = wrong = covered = oos = oos_abstained = 0
    for item, result in zip(queries, results):
        answers = result.confidence >= threshold
        answered += answers
        if item.out_of_scope:
            oos += 1
            oos_abstained += not answers
            wrong += answers
        else:
            in_scope += 1
            covered += answers
            wrong += answers and hit_rank(result, item.gold) != 1
    return {
        "threshold": threshold,
        "coverage": covered / in_scope if in_scope else 0.0,
        "wrong_answer_rate": wrong / answered if answered else 0.0,
        "oos_abstention": oos_abstained / oos if oos else 0.0,
    }


def tradeoff_curve(queries: list[LabelledQuery], results: list[QueryResult]) -> list[dict]:
    """Coverage against wrong-answer rate for every candidate abstention threshold."""
    thresholds = sorted({round(r.confidence, 4) for r in results} | {0.0})
    return [rates_at(queries, results, threshold) for threshold in thresholds]


def two_fold_check(queries: list[LabelledQuery], results: list[QueryResult]) -> list[dict]:
    """Score the odd-numbered questions at the threshold calibrated on the even-numbered ones, then the other
    way round: how well a threshold chosen on labelled questions carries over to questions it never saw."""
    folds = []
    for held_out in (0, 1):
        calibrate = [i for i in range(len(queries)) if i % 2 != held_out]
        score = [i for i in range(len(queries)) if i % 2 == held_out]
        chosen = choose_threshold(tradeoff_curve([queries[i] for i in calibrate], [results[i] for i in calibrate]))
        folds.append(rates_at([queries[i] for i in score], [results[i] for i in score], chosen["threshold"]))
    return folds


def choose_threshold(curve: list[dict]) -> dict:
    """The point that best balances answering in-scope questions and abstaining on out-of-scope ones.

    Maximises coverage + out-of-scope abstention; among ties, the higher (safer) threshold wins.
    """
    return max(curve, key=lambda p: (round(p["coverage"] + p["oos_abstention"], 6), p["threshold"]))
