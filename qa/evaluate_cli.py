"""``python -m qa eval``: score a query set, write runs and reports, compare two systems."""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from qa import evaluate as ev
from qa.errors import InputError
from qa.search import RetrievalSettings
from qa.settings import load_settings
from qa.urgent_cli import SPLITS as URGENT_SPLITS


def add_eval_parser(commands) -> None:
    parser = commands.add_parser("eval", help="score a labelled query set with standard IR metrics")
    parser.add_argument("--queries", help="TSV 'qid<TAB>question' or JSONL with gold quotes")
    parser.add_argument("--urgent", metavar="FILE",
                        help="score the urgent notice instead, on JSONL {qid, query, urgent, concept, split}")
    parser.add_argument("--split", choices=(*URGENT_SPLITS, "all"), default="all",
                        help="with --urgent: which split's misses to list (figures are printed for each split)")
    parser.add_argument("--ablation", action="store_true",
                        help="with --urgent: also score each combination of cues and semantic check")
    parser.add_argument("--qrels", help="TREC qrels 'qid 0 doc_id grade' (documents or passage ids)")
    parser.add_argument("--index", help="index directory (default: index/)")
    parser.add_argument("--retrieval", help="retrieval settings JSON (default: corpus/retrieval.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of metrics")
    parser.add_argument("--run", help="write a TREC run file here")
    parser.add_argument("--tag", default="qa", help="run tag in the run file")
    parser.add_argument("--report", help="write per-query results here (.csv or .jsonl)")
    parser.add_argument("--compare", help="another index directory or retrieval settings JSON to compare")
    parser.add_argument("--calibrate", action="store_true",
                        help="choose this corpus's fusion weight (convex fusion) and, with out-of-scope queries, "
                             "its abstention threshold; save them tagged with the corpus hash")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _system(settings: dict, retrieval_path: str | None):
    from qa.service import open_searcher

    settings = dict(settings)
    if retrieval_path:
        if not Path(retrieval_path).is_file():
            raise InputError("invalid_file", f"{retrieval_path}: no such file")
        settings["RETRIEVAL_FILE"] = retrieval_path
    return open_searcher(settings)


class _Evaluation:
    """Runs one system over the queries and derives every metric from that single run."""

    def __init__(self, searcher, queries, qrels, progress: bool) -> None:
        started = time.perf_counter()
        self.results = ev.run_queries(searcher, queries, progress=progress)
        self.seconds = time.perf_counter() - started
        self.queries = queries
        self.qrels = qrels
        self.passages = searcher.index.passages
        passage_ids = {p.id for p in self.passages}
        self.passage_qrels = qrels is not None and any(q.doc_id in passage_ids for q in qrels)

    def ranking(self):
        if self.qrels is not None and not self.passage_qrels:
            return ev.document_level(self.results)
        return ev.passage_level(self.results)

    def effective_qrels(self):
        if self.qrels is not None:
            return self.qrels
        return ev.gold_qrels(self.queries, self.passages)

    def metrics(self) -> dict:
        metrics = {}
        qrels = self.effective_qrels()
        if qrels:
            metrics.update(ev.ir_metrics(qrels, self.ranking()))
        if any(q.gold or q.out_of_scope for q in self.queries):
            metrics.update(ev.gold_metrics(self.queries, self.results))
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
                    rank = ev.hit_rank(result, item.gold)
                    scores[item.qid] = 1 / rank if rank and rank <= 10 else 0.0
            return scores
        return ev.per_query_rr(self.effective_qrels(), self.ranking())


def run_eval(args) -> int:
    settings = load_settings({"INDEX_DIR": args.index})
    if bool(args.queries) == bool(args.urgent):
        raise InputError("invalid_arguments", "eval needs exactly one of --queries FILE or --urgent FILE")
    if args.urgent:
        from qa.urgent_cli import run_urgent_eval

        return run_urgent_eval(args, settings)
    queries = ev.load_queries(args.queries)
    qrels = ev.load_qrels(args.qrels, {q.qid for q in queries}) if args.qrels else None
    searcher = _system(settings, args.retrieval)
    calibrated: dict = {}
    if args.calibrate and searcher.settings.fusion == "convex":
        _calibrate_weight(searcher, queries, qrels, calibrated)
    elif args.calibrate:
        print(f"fusion is {searcher.settings.fusion!r}, which has no weight: only the abstention threshold is "
              "calibrated", file=sys.stderr)
    evaluation = _Evaluation(searcher, queries, qrels, progress=not args.quiet)
    print(f"{len(queries)} queries in {evaluation.seconds:.2f}s "
          f"({len(queries) / evaluation.seconds:.0f} queries/s)", file=sys.stderr)
    if args.calibrate and any(q.out_of_scope for q in queries):
        _calibrate_threshold(evaluation, searcher, calibrated)
    metrics = {**evaluation.metrics(), **calibrated}
    if args.calibrate:
        _save_calibration(searcher, settings, args)
    if args.run:
        _write_run(Path(args.run), evaluation.ranking(), args.tag)
    if args.report:
        _write_report(Path(args.report), evaluation)
    if args.compare:
        other = _other_system(settings, args.compare)
        other_eval = _Evaluation(other, queries, qrels, progress=not args.quiet)
        comparison = _compare(evaluation, other_eval)
        if args.json:
            print(json.dumps({"metrics": metrics, "compare": comparison}, indent=2))
        else:
            print(_comparison_table(metrics, comparison))
        return 0
    print(json.dumps(metrics, indent=2) if args.json else _metrics_table(metrics))
    return 0


def _other_system(settings: dict, target: str):
    path = Path(target)
    if path.is_dir():
        return _system({**settings, "INDEX_DIR": str(path)}, None)
    if path.suffix == ".json" and path.is_file():
        return _system(settings, str(path))
    raise InputError("invalid_compare", f"--compare {target}: expected an index directory or a retrieval .json")


def _calibrate_weight(searcher, queries, qrels, metrics: dict) -> None:
    """Choose this corpus's fusion weight from its labelled queries and switch the searcher to it."""
    from qa import calibration

    labelled, curve = calibration.weight_curve(searcher, queries, qrels)
    if not labelled:
        raise InputError("invalid_file", "--calibrate needs labelled in-scope queries (gold quotes or qrels)")
    default = RetrievalSettings().dense_weight
    chosen = calibration.choose_weight(curve, default)
    calibration.print_curve(curve, chosen)
    searcher.settings = calibration.with_weight(searcher.settings, chosen)
    metrics["calibrated_dense_weight"] = chosen
    for name, fold in zip(("odd", "even"), calibration.held_out_weights(curve, default)):
        print(f"held out: the {name}-numbered questions at the weight chosen on the others ({fold['weight']:.2f}): "
              f"RR@10 {fold['rr@10']:.4f}", file=sys.stderr)
        metrics[f"heldout_{name}_weight_rr@10"] = fold["rr@10"]


def _calibrate_threshold(evaluation: _Evaluation, searcher, metrics: dict) -> None:
    """Choose the abstention threshold (when the queries include out-of-scope ones) and apply it to the run."""
    curve = ev.tradeoff_curve(evaluation.queries, evaluation.results)
    chosen = ev.choose_threshold(curve)
    print("threshold  coverage  wrong_answer_rate  oos_abstention", file=sys.stderr)
    for point in curve:
        mark = "  <- chosen" if point is chosen else ""
        print(f"{point['threshold']:9.4f}  {point['coverage']:8.3f}  {point['wrong_answer_rate']:17.3f}  "
              f"{point['oos_abstention']:14.3f}{mark}", file=sys.stderr)
    searcher.settings = replace(searcher.settings, abstain_below=chosen["threshold"])
    for result in evaluation.results:  # the searcher answers exactly when confidence reaches the threshold
        result.answered = result.confidence >= chosen["threshold"]
    metrics["calibrated_threshold"] = chosen["threshold"]
    for name, fold in zip(("odd", "even"), ev.two_fold_check(evaluation.queries, evaluation.results)):
        print(f"held out: the {name}-numbered questions, scored at the threshold calibrated on the others "
              f"({fold['threshold']:.4f}): coverage {fold['coverage']:.3f}, out-of-scope abstention "
              f"{fold['oos_abstention']:.3f}", file=sys.stderr)
        metrics[f"heldout_{name}_coverage"] = fold["coverage"]
        metrics[f"heldout_{name}_oos_abstention"] = fold["oos_abstention"]


def _save_calibration(searcher, settings: dict, args) -> None:
    from qa import calibration
    from qa.service import resolve_corpus_files

    manifest = searcher.index.manifest
    target = Path(args.retrieval or resolve_corpus_files(settings, manifest["corpus"].get("path"))["RETRIEVAL_FILE"])
    calibration.save(target, searcher.settings, manifest, str(args.queries))
    print(f"saved dense_weight={searcher.settings.dense_weight} abstain_below={searcher.settings.abstain_below} "
          f"for corpus {manifest['corpus']['hash'][:12]} to {target}", file=sys.stderr)


def _compare(first: _Evaluation, second: _Evaluation) -> dict:
    a, b = first.per_query_score(), second.per_query_score()
    wins = sorted(q for q in a if a[q] > b.get(q, 0.0))
    losses = sorted(q for q in a if a[q] < b.get(q, 0.0))
    return {"other": second.metrics(), "wins": wins, "losses": losses,
            "ties": len(a) - len(wins) - len(losses)}


def _format(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _metrics_table(metrics: dict) -> str:
    width = max(len(name) for name in metrics)
    return "\n".join(f"{name:<{width}}  {_format(value)}" for name, value in metrics.items())


def _comparison_table(metrics: dict, comparison: dict) -> str:
    other = comparison["other"]
    names = list(dict.fromkeys([*metrics, *other]))
    width = max(len(name) for name in names)
    lines = [f"{'metric':<{width}}  {'this':>10}  {'other':>10}"]
    for name in names:
        lines.append(f"{name:<{width}}  {_format(metrics.get(name, '-')):>10}  {_format(other.get(name, '-')):>10}")
    lines.append(f"per query: {len(comparison['wins'])} wins, {len(comparison['losses'])} losses, "
                 f"{comparison['ties']} ties")
    lines.append(f"wins: {' '.join(comparison['wins']) or '-'}")
    lines.append(f"losses: {' '.join(comparison['losses']) or '-'}")
    return "\n".join(lines)


def _write_run(path: Path, ranking: dict, tag: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for qid, docs in ranking.items():
            for rank, (doc_id, score) in enumerate(ev.strictly_decreasing(docs), start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")


def _write_report(path: Path, evaluation: _Evaluation) -> None:
    rows = []
    for item, result in zip(evaluation.queries, evaluation.results):
        rows.append({
            "qid": item.qid,
            "query": item.query,
            "out_of_scope": item.out_of_scope,
            "gold": item.gold,
            "hit_rank": ev.hit_rank(result, item.gold) if item.gold else None,
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
