"""IR metrics through ir-measures, and the gold-quote, answer and abstention rates of a labelled guide set."""

from __future__ import annotations

from qa.corpus.questions import holds_answer

STANDARD_MEASURES = ("RR@10", "nDCG@10", "R@10", "AP@10", "Success@1", "P@1")


def standard_measures(relevance: int = 1) -> tuple[str, ...]:
    """The standard measures, counting a judgement relevant from grade ``relevance`` (MEDIQA counts 2 and 3 as
    correct); nDCG keeps every grade's gain."""
    if relevance <= 1:
        return STANDARD_MEASURES
    rel = f"(rel={relevance})"
    return (f"RR{rel}@10", "nDCG@10", f"R{rel}@10", f"AP{rel}@10", f"Success{rel}@1", f"P{rel}@1")


def pooled(ranking: dict[str, list[tuple[str, float]]], qrels) -> dict[str, list[tuple[str, float]]]:
    """Each query's judged documents only, in the ranking's order; judged ones the ranking lacks come last, in id
    order. Scored this way, a run is compared with another system on that system's own candidates."""
    judged: dict[str, set[str]] = {}
    for qrel in qrels:
        judged.setdefault(qrel.query_id, set()).add(qrel.doc_id)
    pooled_ranking = {}
    for qid, docs in judged.items():
        order = list(dict.fromkeys(doc for doc, _ in ranking.get(qid, []) if doc in docs))
        order += sorted(docs - set(order))
        pooled_ranking[qid] = [(doc, float(len(order) - i)) for i, doc in enumerate(order)]
    return pooled_ranking


def hit_rank(result, gold: list[str]) -> int | None:
    """Rank (1-based) of the first passage containing a gold quote."""
    for rank, text in enumerate(result.texts, start=1):
        if any(quote in text for quote in gold):
            return rank
    return None


def answer_hit(result, gold: list[str]) -> bool:
    """Whether the first result's answering sentence holds a gold quote, or covers most of one (a quote that runs
    over two sentences). A passage without smaller units is its own answer."""
    if not result.texts:
        return False
    text = result.texts[0]
    start, end = result.answer or (0, len(text))
    return holds_answer(text, start, end, gold)


def gold_qrels(queries, passages) -> list:
    """Passage-level qrels from gold quotes: every indexed passage that contains a quote is relevant."""
    import ir_measures

    return [ir_measures.Qrel(item.qid, passage.id, 1)
            for item in queries if item.gold
            for passage in passages if any(quote in passage.text for quote in item.gold)]


def document_level(results) -> dict[str, list[tuple[str, float]]]:
    """A document's score is its best passage's score; documents best first."""
    ranked = {}
    for result in results:
        best: dict[str, float] = {}
        for doc_id, score in zip(result.doc_ids, result.scores):
            best.setdefault(doc_id, score)
        ranked[result.qid] = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return ranked


def passage_level(results) -> dict[str, list[tuple[str, float]]]:
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


def per_query_rr(qrels, ranking, relevance: int = 1) -> dict[str, float]:
    import ir_measures

    run = scored_docs(ranking)
    measure = ir_measures.parse_measure(standard_measures(relevance)[0])
    return {m.query_id: float(m.value) for m in ir_measures.iter_calc([measure], qrels, run)}


def gold_metrics(queries, results) -> dict:
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


