"""Batch evaluation: one labelled-question reader, runs, IR and guide metrics, calibration, urgent scoring."""

from qa.corpus.questions import SPLITS, LabelledQuery, load_qrels, load_queries, load_urgent_questions
from qa.evaluation.calibration import choose_threshold, rates_at, tradeoff_curve, two_fold_check
from qa.evaluation.metrics import (
    STANDARD_MEASURES,
    answer_hit,
    document_level,
    gold_metrics,
    gold_qrels,
    hit_rank,
    ir_metrics,
    passage_level,
)
from qa.evaluation.runs import RUN_DEPTH, Evaluation, QueryResult, run_queries

__all__ = ["RUN_DEPTH", "SPLITS", "STANDARD_MEASURES", "Evaluation", "LabelledQuery", "QueryResult", "answer_hit",
           "choose_threshold", "document_level", "gold_metrics", "gold_qrels", "hit_rank", "ir_metrics",
           "load_qrels", "load_queries", "load_urgent_questions", "passage_level", "rates_at", "run_queries",
           "tradeoff_curve", "two_fold_check"]
