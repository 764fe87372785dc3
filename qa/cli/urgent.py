"""``qa notice`` (why the urgent notice fires or not), ``qa eval --urgent`` (how well) and ``qa train-urgent``."""

from __future__ import annotations

import json

import numpy as np

from qa.corpus.questions import SPLITS, load_urgent_questions
from qa.errors import InputError, QAError
from qa.evaluation.urgent import COMBINATIONS, decide_all, score


def _open(settings: dict):
    from qa.wiring import open_searcher

    searcher = open_searcher(settings)
    if searcher.notices.urgent is None or not searcher.notices.urgent_text:
        raise QAError(f"{settings['NOTICES_FILE']} has no urgent.text and urgent.rules: no urgent notice to check")
    return searcher


def run_notice(args, settings: dict) -> int:
    searcher = _open(settings)
    vector = searcher.query_vectors([args.question])[0]
    decision = searcher.notices.urgent_decision(args.question, vector)
    if args.json:
        print(json.dumps({"fires": decision.fires, "concepts": decision.concepts, "cues": decision.cues,
                          "readings": [r.__dict__ for r in decision.readings], "corrections": decision.corrections,
                          "semantic": decision.semantic, "score": round(decision.score, 4),
                          "classifier_probability": decision.probability,
                          "reason": decision.reason}, indent=2, ensure_ascii=False))
        return 0
    print(f"urgent notice: {'FIRES' if decision.fires else 'does not fire'}")
    if decision.corrections:
        print("spelling: " + ", ".join(f"{a} -> {b}" for a, b in decision.corrections.items()))
    print(f"why: {decision.reason}")
    return 0


def run_urgent_eval(args, settings: dict) -> int:
    items = load_urgent_questions(args.urgent)
    searcher = _open(settings)
    detector = searcher.notices.urgent
    picked = [i for i, item in enumerate(items) if args.split in ("all", item.split)]
    chosen = [items[i] for i in picked]
    if not chosen:
        raise InputError("invalid_file", f"{args.urgent}: no questions in split {args.split}")
    all_vectors = searcher.query_vectors([item.query for item in items])  # once, for every combination below
    decisions, ms = decide_all(detector, items, all_vectors)
    fired = [d.fires for d in decisions]
    report = {"file": str(args.urgent), "split": args.split,
              "splits": {name: score([i for i in items if i.split == name],
                                     [f for i, f in zip(items, fired) if i.split == name])
                         for name in SPLITS if any(i.split == name for i in items)},
              "all": score(items, fired), "ms_per_question": round(ms / len(items), 4)}
    if args.ablation:
        report["ablation"] = {}
        vectors = all_vectors[picked]
        for name, switches in COMBINATIONS.items():
            results = decide_all(detector, chosen, vectors, **switches)[0]
            report["ablation"][name] = score(chosen, [d.fires for d in results])
        if detector.semantic_ready:  # nearer an urgent example than any calm one, no rules at all
            leaning = [detector.semantic(v)["margin"] > 0 for v in vectors]
            report["ablation"]["semantic check alone (nearest example)"] = score(chosen, leaning)
        if detector.classifier_ready:
            weight = detector.rules.classifier.word_weight
            alone = [detector.classifier.probability(v, item.query, weight) >= 0.5 for v, item in zip(vectors, chosen)]
            report["ablation"]["classifier alone (probability >= 0.5)"] = score(chosen, alone)
    report["misses"] = [_row(items[i], decisions[i]) for i in picked if items[i].urgent and not decisions[i].fires]
    report["false_notices"] = [_row(items[i], decisions[i]) for i in picked
                               if not items[i].urgent and decisions[i].fires]
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else _table(report))
    return 0


def _row(item, decision) -> dict:
    return {"qid": item.qid, "split": item.split, "concept": item.concept, "query": item.query,
            "reason": decision.reason}


def _table(report: dict) -> str:
    lines = [f"urgent notice on {report['file']}", "",
             f"{'split':<48} {'emergencies':>11} {'recall':>7} {'calm':>5} {'false notices':>13}"]
    rows = [*report["splits"].items(), ("all", report["all"])]
    rows += [(f"[{report['split']}] {name}", figures) for name, figures in report.get("ablation", {}).items()]
    for name, s in rows:
        recall = "-" if s["recall"] is None else f"{s['recall']:.3f}"
        false = "-" if s["false_notice_rate"] is None else f"{s['false_notice_rate']:.3f}"
        lines.append(f"{name:<48} {s['emergencies']:>11} {recall:>7} {s['calm']:>5} {false:>13}")
    lines.append(f"\n{report['ms_per_question']:.3f} ms per question for the decision (query vectors excluded)")
    for title, key in (("missed emergencies", "misses"), ("false notices", "false_notices")):
        lines.append(f"\n{title} ({report['split']}): {len(report[key])}")
        lines += [f"  {r['qid']} [{r['concept']}] {r['query']}\n      {r['reason']}" for r in report[key]]
    return "\n".join(lines)


def run_train(args, settings: dict) -> int:
    """Train the urgent classifier on labelled files and the data file's example sentences, print what each file
    scores when it is left out of the training, and write the weights where the rules file names them."""
    from qa.storage import file_digest
    from qa.urgent.classifier import train

    sets = {str(path): load_urgent_questions(path) for path in args.files}
    searcher = _open(settings)
    detector = searcher.notices.urgent
    rules = detector.rules.classifier
    if detector.classifier_file is None:
        raise QAError("the urgent rules name no classifier.file to write the weights to")
    texts = [item.query for items in sets.values() for item in items]
    labels = [item.urgent for items in sets.values() for item in items]
    origin = [name for name, items in sets.items() for _ in items]
    for kind, examples in detector.rules.semantic.examples.items():  # the example sentences are labelled too
        texts += list(examples)
        labels += [kind == "urgent"] * len(examples)
        origin += ["examples"] * len(examples)
    vectors, labels, origin = searcher.query_vectors(texts), np.array(labels), np.array(origin)
    strength = args.strength or rules.strength
    model = searcher.encoder.name

    def words(left_out: np.ndarray) -> dict:
        """The word half's training arguments (none when the rules set word_strength to 0)."""
        if rules.word_strength <= 0:
            return {}
        return {"texts": [t for t, out in zip(texts, left_out) if not out], "word_strength": rules.word_strength,
                "word_min_df": rules.word_min_df}

    print(f"{len(texts)} labelled questions ({int(labels.sum())} urgent) from {len(sets)} files and the examples")
    if len(sets) > 1:
        print(f"\nleft out of training, then decided with the rules (fires >= {rules.fire_above:g}, "
              f"vetoes < {rules.veto_below:g}, a reading over its limit < {rules.reading_veto_below:g}):")
        for name, items in sets.items():
            held_out = origin == name
            trained = train(vectors[~held_out], labels[~held_out], model, strength, **words(held_out))
            decisions, _ = decide_all(detector.with_classifier(trained), items, vectors[held_out])
            figures = score(items, [d.fires for d in decisions])
            print(f"  {name}: recall {figures['recall']:.3f}, false notices {figures['false_notice_rate']:.3f}")
    sources = {name: file_digest(name) for name in sets}
    classifier = train(vectors, labels, model, strength, sources, **words(np.zeros(len(texts), dtype=bool)))
    classifier.save(detector.classifier_file)
    print(f"\nwrote {detector.classifier_file} (model {model}, strength {strength:g}); restart the service to use it")
    return 0
