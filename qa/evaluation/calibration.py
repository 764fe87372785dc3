"""Calibration of one corpus from its labelled queries: the fusion weight, the abstention threshold, and saving
them bound to that corpus and model.

Candidates are gathered once per query; each weight only re-fuses them, so a grid of weights costs one search.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.evaluation.metrics import hit_rank
from qa.search.fusion import fuse
from qa.search.retrieval import RetrievalSettings
from qa.search.searcher import Searcher
from qa.storage import write_text_atomic

WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.05))
DEPTH = 10  # RR@10, as the bars and ir-measures count it


def relevant_units(searcher: Searcher, queries, qrels, relevance: int = 1) -> tuple[dict[str, set[str]], bool]:
    """Per in-scope query, the ids that count as a hit, and whether those ids are documents (else passages)."""
    if qrels is None:
        ids = {q.qid: {p.id for p in searcher.index.passages if any(g in p.text for g in q.gold)}
               for q in queries if q.gold}
        return ids, False
    relevant: dict[str, set[str]] = {}
    for qrel in qrels:
        if qrel.relevance >= max(1, relevance):
            relevant.setdefault(qrel.query_id, set()).add(qrel.doc_id)
    passage_ids = {p.id for p in searcher.index.passages}
    return relevant, not any(doc in passage_ids for ids in relevant.values() for doc in ids)


ADAPTIVE = None  # the curve's point for the default, adaptive fusion (its weight follows each question)


def weight_curve(searcher: Searcher, queries, qrels, weights=WEIGHTS, chunk: int = 256,
                 relevance: int = 1) -> tuple[list, list]:
    """Per fixed weight (convex fusion), and for the adaptive default (``ADAPTIVE``), the reciprocal rank at 10 of
    every labelled in-scope query."""
    relevant, by_document = relevant_units(searcher, queries, qrels, relevance)
    labelled = [q for q in queries if not q.out_of_scope and relevant.get(q.qid)]
    passages = searcher.index.passages
    # The adaptive default competes with the fixed weights, unless the corpus asked for a fixed one.
    points = [ADAPTIVE, *weights] if searcher.settings.fusion == "adaptive" else list(weights)
    scores = {w: [] for w in points}
    evidence_of = {}
    for held_out, positions in searcher.held_out(labelled):  # each set without its own example questions
        for start in range(0, len(positions), chunk):
            part = positions[start:start + chunk]
            evidence_of.update(zip(part, held_out.evidence([labelled[i].query for i in part])))
    for position, item in enumerate(labelled):
        candidates = evidence_of[position].candidates
        units = [passages[row].doc_id if by_document else passages[row].id for row in candidates.rows]
        for w in points:
            fused = (fuse(candidates, "adaptive", searcher.settings.dense_weight, adaptive=searcher.adaptive)
                     if w is ADAPTIVE else fuse(candidates, "convex", w))
            scores[w].append(_reciprocal_rank(np.lexsort((candidates.rows, -fused)), units, relevant[item.qid]))
    return labelled, [(w, scores[w]) for w in points]


def _reciprocal_rank(order: np.ndarray, units: list[str], relevant: set[str]) -> float:
    seen: list[str] = []
    for i in order:
        if units[i] in seen:
            continue  # a document counts once, at its best passage
        seen.append(units[i])
        if units[i] in relevant:
            return 1.0 / len(seen)
        if len(seen) == DEPTH:
            break
    return 0.0


def choose_weight(curve: list, default: float, subset: list[int] | None = None) -> float | None:
    """The weight with the best mean RR@10 (``ADAPTIVE`` for the adaptive default); among ties the adaptive default,
    then the fixed weight nearest ``default``."""
    def mean(values):
        picked = values if subset is None else [values[i] for i in subset]
        return round(float(np.mean(picked)), 6) if picked else 0.0

    return max(curve, key=lambda point: (mean(point[1]), point[0] is ADAPTIVE,
                                         -abs(point[0] - default) if point[0] is not ADAPTIVE else 0.0))[0]


def held_out_weights(curve: list, default: float) -> list[dict]:
    """Each half of the queries scored at the weight chosen on the other half."""
    n = len(curve[0][1]) if curve else 0
    folds = []
    for held_out in (0, 1):
        train = [i for i in range(n) if i % 2 != held_out]
        test = [i for i in range(n) if i % 2 == held_out]
        weight = choose_weight(curve, default, train)
        values = dict(curve)[weight]
        folds.append({"weight": weight, "rr@10": float(np.mean([values[i] for i in test])) if test else 0.0})
    return folds


def print_curve(curve: list, chosen: float, out=sys.stderr) -> None:
    print("dense_weight  RR@10", file=out)
    for weight, values in curve:
        mark = "  <- chosen" if weight == chosen else ""
        label = "adaptive" if weight is ADAPTIVE else f"{weight:.2f}"
        print(f"{label:>12}  {float(np.mean(values)):.4f}{mark}", file=out)


def save(path: Path, settings: RetrievalSettings, manifest: dict, source: str) -> None:
    """Write calibrated settings tagged with the corpus and model they were measured on."""
    body = {
        "_comment": "Calibrated by `python -m qa eval --calibrate`; applies only to the corpus with this hash and "
                    "this model. On any other corpus the service uses its uncalibrated defaults.",
        "corpus_hash": manifest["corpus"]["hash"],
        "model": manifest["model"],
        "calibrated_on": source,
        "calibrated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **settings.to_dict(),
    }
    write_text_atomic(path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def with_weight(settings: RetrievalSettings, weight: float | None) -> RetrievalSettings:
    if weight is ADAPTIVE:
        return replace(settings, fusion="adaptive")
    return replace(settings, fusion="convex", dense_weight=weight)


def rates_at(queries, results, threshold: float) -> dict:
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


def tradeoff_curve(queries, results) -> list[dict]:
    """Coverage against wrong-answer rate for every candidate abstention threshold."""
    thresholds = sorted({round(r.confidence, 4) for r in results} | {0.0})
    return [rates_at(queries, results, threshold) for threshold in thresholds]


def two_fold_check(queries, results) -> list[dict]:
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
