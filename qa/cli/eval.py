"""``qa eval``: score a query set, write runs and reports, compare two systems, calibrate a corpus."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from qa.corpus.questions import SPLITS, load_qrels, load_queries
from qa.errors import InputError
from qa.evaluation import calibration
from qa.evaluation.runs import Evaluation, compare, write_report, write_run
from qa.search.retrieval import RetrievalSettings
from qa.settings import load_settings


def add_eval_parser(commands) -> None:
    parser = commands.add_parser("eval", help="score a labelled query set with standard IR metrics")
    parser.add_argument("--queries", nargs="+", metavar="FILE",
                        help="TSV 'qid<TAB>question' or JSONL with gold quotes; several files are scored together, and "
                             "--calibrate leaves each out in turn to choose the abstention threshold out of fold")
    parser.add_argument("--urgent", metavar="FILE",
                        help="score the urgent notice instead, on JSONL {qid, query, urgent, concept, split}")
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all",
                        help="with --urgent: which split's misses to list (figures are printed for each split)")
    parser.add_argument("--ablation", action="store_true",
                        help="with --urgent: also score each combination of cues and semantic check")
    parser.add_argument("--qrels", help="TREC qrels 'qid 0 doc_id grade' (documents or passage ids)")
    parser.add_argument("--relevance", type=int, default=1, metavar="GRADE",
                        help="the lowest qrels grade that counts as relevant (MEDIQA: 2; default 1)")
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
    parser.add_argument("--curve", metavar="PNG", help="with --calibrate: draw the out-of-fold trade-off curve here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _system(settings: dict, retrieval_path: str | None):
    from qa.wiring import open_searcher

    settings = dict(settings)
    if retrieval_path:
        if not Path(retrieval_path).is_file():
            raise InputError("invalid_file", f"{retrieval_path}: no such file")
        settings["RETRIEVAL_FILE"] = retrieval_path
    return open_searcher(settings)


def run_eval(args) -> int:
    settings = load_settings({"INDEX_DIR": args.index})
    if bool(args.queries) == bool(args.urgent):
        raise InputError("invalid_arguments", "eval needs exactly one of --queries FILE or --urgent FILE")
    if args.urgent:
        from qa.cli.urgent import run_urgent_eval

        return run_urgent_eval(args, settings)
    files = {str(path): load_queries(path) for path in args.queries}
    queries = [q for items in files.values() for q in items]
    duplicates = len(queries) - len({q.qid for q in queries})
    if duplicates:
        raise InputError("invalid_file", f"the query files share {duplicates} qids; each qid must be unique")
    qrels = load_qrels(args.qrels, {q.qid for q in queries}) if args.qrels else None
    searcher = _system(settings, args.retrieval)
    calibrated: dict = {}
    if args.calibrate and searcher.settings.fusion in ("adaptive", "convex"):
        _calibrate_weight(searcher, queries, qrels, calibrated, args.relevance)
    elif args.calibrate:
        print(f"fusion is {searcher.settings.fusion!r}, which has no weight: only the abstention threshold is "
              "calibrated", file=sys.stderr)
    answerability = None
    if args.calibrate and searcher.examples is not None and _labelled_sets(files) >= 2:
        # Before the evaluation, which then judges by the model trained on every set.
        answerability = _calibrate_answerability(searcher, files, calibrated, args, settings)
    evaluation = Evaluation(searcher, queries, qrels, progress=not args.quiet, relevance=args.relevance)
    print(f"{len(queries)} queries in {evaluation.seconds:.2f}s "
          f"({len(queries) / evaluation.seconds:.0f} queries/s)", file=sys.stderr)
    if args.calibrate and answerability is None and any(q.out_of_scope for q in queries):
        _calibrate_threshold(evaluation, searcher, calibrated)
    metrics = {**evaluation.metrics(), **calibrated}
    if args.calibrate:
        _save_calibration(searcher, settings, args, answerability)
    if args.run:
        write_run(Path(args.run), evaluation.ranking(), args.tag)
    if args.report:
        write_report(Path(args.report), evaluation)
    if args.compare:
        other = Evaluation(_other_system(settings, args.compare), queries, qrels, progress=not args.quiet,
                           relevance=args.relevance)
        comparison = compare(evaluation, other)
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


def _calibrate_weight(searcher, queries, qrels, metrics: dict, relevance: int = 1) -> None:
    """Choose this corpus's fusion weight from its labelled queries and switch the searcher to it."""
    labelled, curve = calibration.weight_curve(searcher, queries, qrels, relevance=relevance)
    if not labelled:
        raise InputError("invalid_file", "--calibrate needs labelled in-scope queries (gold quotes or qrels)")
    default = RetrievalSettings().dense_weight
    chosen = calibration.choose_weight(curve, default)
    calibration.print_curve(curve, chosen)
    searcher.settings = calibration.with_weight(searcher.settings, chosen)
    metrics["calibrated_dense_weight"] = "adaptive" if chosen is calibration.ADAPTIVE else chosen
    for name, fold in zip(("odd", "even"), calibration.held_out_weights(curve, default)):
        weight = "adaptive" if fold["weight"] is calibration.ADAPTIVE else f"{fold['weight']:.2f}"
        print(f"held out: the {name}-numbered questions at the weight chosen on the others ({weight}): "
              f"RR@10 {fold['rr@10']:.4f}", file=sys.stderr)
        metrics[f"heldout_{name}_weight_rr@10"] = fold["rr@10"]


def _calibrate_threshold(evaluation: Evaluation, searcher, metrics: dict) -> None:
    """Choose the abstention threshold (when the queries include out-of-scope ones) and apply it to the run."""
    curve = calibration.tradeoff_curve(evaluation.queries, evaluation.results)
    chosen = calibration.choose_threshold(curve)
    print("threshold  coverage  wrong_answer_rate  oos_abstention", file=sys.stderr)
    for point in curve:
        mark = "  <- chosen" if point is chosen else ""
        print(f"{point['threshold']:9.4f}  {point['coverage']:8.3f}  {point['wrong_answer_rate']:17.3f}  "
              f"{point['oos_abstention']:14.3f}{mark}", file=sys.stderr)
    searcher.settings = replace(searcher.settings, abstain_below=chosen["threshold"])
    for result in evaluation.results:  # the searcher answers exactly when confidence reaches the threshold
        result.answered = result.confidence >= chosen["threshold"]
    metrics["calibrated_threshold"] = chosen["threshold"]
    for name, fold in zip(("odd", "even"), calibration.two_fold_check(evaluation.queries, evaluation.results)):
        print(f"held out: the {name}-numbered questions, scored at the threshold calibrated on the others "
              f"({fold['threshold']:.4f}): coverage {fold['coverage']:.3f}, out-of-scope abstention "
              f"{fold['oos_abstention']:.3f}", file=sys.stderr)
        metrics[f"heldout_{name}_coverage"] = fold["coverage"]
        metrics[f"heldout_{name}_oos_abstention"] = fold["oos_abstention"]


def _labelled_sets(files: dict) -> int:
    """How many files hold both answerable and out-of-scope questions (answerability needs two to leave one out)."""
    return sum(1 for items in files.values() if any(q.out_of_scope for q in items)
               and any(not q.out_of_scope and q.gold for q in items))


def _calibrate_answerability(searcher, files: dict, metrics: dict, args, settings: dict):
    """Train the answerability model leaving each labelled set out, choose its threshold on the out-of-fold
    probabilities, and switch the searcher to the model trained on every set."""
    import numpy as np

    from qa.corpus.files import resolve_corpus_files
    from qa.evaluation import answerability as train
    from qa.search.answerability import answerability_tags

    sets = [train.LabelledSignals(name, train.signals_of(searcher, items),
                                  np.array([not q.out_of_scope for q in items]))
            for name, items in files.items() if any(q.out_of_scope for q in items) or any(q.gold for q in items)]
    found = train.out_of_fold(sets)
    pooled = np.concatenate([found[s.name] for s in sets])
    labels = np.concatenate([s.answerable for s in sets])
    curve = train.tradeoff(pooled, labels)
    chosen = train.choose(curve)
    print("out of fold (each set judged by a model trained on the others), at the chosen threshold "
          f"{chosen['threshold']:.4f}:", file=sys.stderr)
    for s in sets:
        point = train.rates(found[s.name], s.answerable, chosen["threshold"])
        print(f"  {s.name}: {_rates_line(point)}", file=sys.stderr)
        metrics.setdefault("oof_by_set", {})[s.name] = _rounded(point)
    print(f"  all: {_rates_line(chosen)}", file=sys.stderr)
    metrics["oof"] = _rounded(chosen)
    if args.curve:
        train.plot(curve, chosen, args.curve, f"Out of fold over {len(sets)} labelled sets "
                                               f"({chosen['answerable']} answerable, {chosen['out_of_scope']} not)")
        print(f"drew the trade-off curve to {args.curve}", file=sys.stderr)
    manifest = searcher.index.manifest
    examples = resolve_corpus_files(settings, manifest["corpus"].get("path"))["EXAMPLES_FILE"]
    model = train.final_model(sets, chosen["threshold"], searcher.encoder.name, answerability_tags(manifest, examples))
    searcher.answerability = model
    metrics["calibrated_threshold"] = chosen["threshold"]
    return model


def _rates_line(point: dict) -> str:
    low, high = point["oos_interval"]
    r_low, r_high = point["refused_interval"]
    return (f"out-of-scope abstention {point['abstained']}/{point['out_of_scope']} = {point['oos_abstention']:.3f} "
            f"(95% {low:.3f}-{high:.3f}), answerable refused {point['refused']}/{point['answerable']} = "
            f"{point['refused_share']:.3f} (95% {r_low:.3f}-{r_high:.3f})")


def _rounded(point: dict) -> dict:
    return {key: (round(value, 4) if isinstance(value, float) else
                  [round(v, 4) for v in value] if isinstance(value, tuple) else value) for key, value in point.items()}


def _save_calibration(searcher, settings: dict, args, answerability=None) -> None:
    from qa.corpus.files import resolve_corpus_files

    manifest = searcher.index.manifest
    files = resolve_corpus_files(settings, manifest["corpus"].get("path"))
    target = Path(args.retrieval or files["RETRIEVAL_FILE"])
    calibration.save(target, searcher.settings, manifest, " ".join(str(q) for q in args.queries))
    print(f"saved dense_weight={searcher.settings.dense_weight} abstain_below={searcher.settings.abstain_below} "
          f"for corpus {manifest['corpus']['hash'][:12]} to {target}", file=sys.stderr)
    if answerability is not None:
        answerability_path = Path(files["ANSWERABILITY_FILE"])
        answerability.save(answerability_path)
        print(f"saved the answerability model (threshold {answerability.threshold:.4f}) to {answerability_path}",
              file=sys.stderr)


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
