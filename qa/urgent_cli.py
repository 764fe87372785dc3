"""``python -m qa notice`` (why the urgent notice fires or not) and ``python -m qa eval --urgent`` (how well)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import InputError, QAError

SPLITS = ("dev", "test", "report", "train")  # train: written blind as training data, never a report set
# Which parts of the detector run, for --ablation: the concepts and readings always do.
COMBINATIONS = {
    "concepts only": {"use_cues": False, "use_semantic": False, "use_classifier": False},
    "concepts + semantic check": {"use_cues": False, "use_semantic": True, "use_classifier": False},
    "concepts + cues": {"use_cues": True, "use_semantic": False, "use_classifier": False},
    "rules: concepts + cues + semantic check": {"use_cues": True, "use_semantic": True, "use_classifier": False},
    # Not served: the examples settle close calls (|score| <= 0.5), the nearest-urgent-minus-calm margin added.
    "rules + semantic tie-breaker (weight 1, band 0.5)": {"use_cues": True, "use_semantic": True,
                                                          "use_classifier": False, "tie_breaker": (1.0, 0.5)},
    "rules + classifier (served)": {"use_cues": True, "use_semantic": True, "use_classifier": True},
}


@dataclass(frozen=True)
class Labelled:
    qid: str
    query: str
    urgent: bool
    concept: str
    split: str


def load_labelled(path: str | Path) -> list[Labelled]:
    """JSONL lines ``{"qid", "query", "urgent": true|false, "concept"?, "split"?: "dev"|"test"|"report"|"train"}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("invalid_file", f"{path}: no such file")
    items, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError("invalid_file", f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError("invalid_file", f"{where}: expected a JSON object")
        qid, query, urgent = row.get("qid"), row.get("query"), row.get("urgent")
        if not isinstance(qid, str) or not qid or qid in seen:
            raise InputError("invalid_file", f"{where}: qid must be a unique non-empty string")
        if not isinstance(query, str) or not query.strip():
            raise InputError("invalid_file", f"{where}: query must be a non-empty string")
        if not isinstance(urgent, bool):
            raise InputError("invalid_file", f"{where}: urgent must be true or false")
        split = row.get("split", "dev")
        if split not in SPLITS:
            raise InputError("invalid_file", f"{where}: split must be {', '.join(SPLITS)}, not {split!r}")
        seen.add(qid)
        items.append(Labelled(qid, query, urgent, str(row.get("concept", "")), split))
    if not items:
        raise InputError("invalid_file", f"{path}: no labelled questions")
    return items


def query_vectors(searcher, queries: list[str]):
    """The vectors the search computes for these queries (analysed retrieval text, plain typography)."""
    return searcher.query_vectors(queries)


def _open(settings: dict):
    from qa.service import open_searcher

    searcher = open_searcher(settings)
    if searcher.notices.urgent is None or not searcher.notices.urgent_text:
        raise QAError(f"{settings['NOTICES_FILE']} has no urgent.text and urgent.rules: no urgent notice to check")
    return searcher


def run_notice(args, settings: dict) -> int:
    searcher = _open(settings)
    vector = query_vectors(searcher, [args.question])[0]
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


def score(items: list[Labelled], fired: list[bool]) -> dict:
    urgent = [f for item, f in zip(items, fired) if item.urgent]
    calm = [f for item, f in zip(items, fired) if not item.urgent]
    return {"emergencies": len(urgent), "recall": round(sum(urgent) / len(urgent), 4) if urgent else None,
            "calm": len(calm), "false_notice_rate": round(sum(calm) / len(calm), 4) if calm else None}


def evaluate(searcher, items: list[Labelled], use_cues: bool = True, use_semantic: bool = True,
             use_classifier: bool = True, tie_breaker: tuple[float, float] | None = None, vectors=None):
    """Each item's decision, and the milliseconds the decisions took in all (vectors excluded). ``tie_breaker``
    (weight, band) overrides the data file's semantic weight and band for this run only."""
    vectors = query_vectors(searcher, [item.query for item in items]) if vectors is None else vectors
    detector = searcher.notices.urgent
    detector.decide("warm up", vectors[0])  # the examples are encoded on first use: not part of the timing
    kept = detector.semantic_weight, detector.semantic_band
    if tie_breaker:
        detector.semantic_weight, detector.semantic_band = tie_breaker
    try:
        started = time.perf_counter()
        decisions = [detector.decide(item.query, vector, use_cues, use_semantic, use_classifier)
                     for item, vector in zip(items, vectors)]
        took = (time.perf_counter() - started) * 1000
    finally:
        detector.semantic_weight, detector.semantic_band = kept
    return decisions, took


def run_urgent_eval(args, settings: dict) -> int:
    items = load_labelled(args.urgent)
    searcher = _open(settings)
    chosen = [item for item in items if args.split in ("all", item.split)]
    if not chosen:
        raise InputError("invalid_file", f"{args.urgent}: no questions in split {args.split}")
    all_vectors = query_vectors(searcher, [item.query for item in items])  # once, for every combination below
    decisions, ms = evaluate(searcher, items, vectors=all_vectors)
    fired = [d.fires for d in decisions]
    report = {"file": str(args.urgent), "split": args.split,
              "splits": {name: score([i for i in items if i.split == name],
                                     [f for i, f in zip(items, fired) if i.split == name])
                         for name in SPLITS if any(i.split == name for i in items)},
              "all": score(items, fired), "ms_per_question": round(ms / len(items), 4)}
    if args.ablation:
        report["ablation"] = {}
        vectors = all_vectors[[i for i, item in enumerate(items) if item in chosen]]
        for name, switches in COMBINATIONS.items():
            results = evaluate(searcher, chosen, vectors=vectors, **switches)[0]
            report["ablation"][name] = score(chosen, [d.fires for d in results])
        detector = searcher.notices.urgent
        if detector.semantic_ready:  # nearer an urgent example than any calm one, no rules at all
            leaning = [detector.semantic(v)["margin"] > 0 for v in vectors]
            report["ablation"]["semantic check alone (nearest example)"] = score(chosen, leaning)
        if detector.classifier_ready:
            alone = [detector.classifier.probability(v, item.query, detector.word_weight) >= 0.5
                     for v, item in zip(vectors, chosen)]
            report["ablation"]["classifier alone (probability >= 0.5)"] = score(chosen, alone)
    report["misses"] = [_row(i, d) for i, d in zip(items, decisions) if i in chosen and i.urgent and not d.fires]
    report["false_notices"] = [_row(i, d) for i, d in zip(items, decisions)
                               if i in chosen and not i.urgent and d.fires]
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else _table(report))
    return 0


def _row(item: Labelled, decision) -> dict:
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
    from qa.urgent_classifier import file_digest, train

    sets = {str(path): load_labelled(path) for path in args.files}
    searcher = _open(settings)
    detector = searcher.notices.urgent
    if detector.classifier_file is None:
        raise QAError("the urgent rules name no classifier.file to write the weights to")
    texts = [item.query for items in sets.values() for item in items]
    labels = [item.urgent for items in sets.values() for item in items]
    origin = [name for name, items in sets.items() for _ in items]
    for kind in ("urgent", "calm"):  # the example sentences of the rules file are labelled questions too
        texts += detector.examples[kind]
        labels += [kind == "urgent"] * len(detector.examples[kind])
        origin += ["examples"] * len(detector.examples[kind])
    vectors, labels, origin = query_vectors(searcher, texts), np.array(labels), np.array(origin)
    strength = args.strength or detector.classifier_strength
    model = searcher.encoder.name

    def words(left_out: np.ndarray) -> dict:
        """The word half's training arguments (none when the rules set word_strength to 0)."""
        if detector.word_strength <= 0:
            return {}
        return {"texts": [t for t, out in zip(texts, left_out) if not out], "word_strength": detector.word_strength,
                "word_min_df": detector.word_min_df}

    print(f"{len(texts)} labelled questions ({int(labels.sum())} urgent) from {len(sets)} files and the examples")
    if len(sets) > 1:
        print(f"\nleft out of training, then decided with the rules (fires >= {detector.fire_above:g}, "
              f"vetoes < {detector.veto_below:g}, a reading over its limit < {detector.reading_veto_below:g}):")
        for name, items in sets.items():
            held_out = origin == name
            with _using(detector, train(vectors[~held_out], labels[~held_out], model, strength, **words(held_out))):
                decisions, _ = evaluate(searcher, items, vectors=vectors[held_out])
            figures = score(items, [d.fires for d in decisions])
            print(f"  {name}: recall {figures['recall']:.3f}, false notices {figures['false_notice_rate']:.3f}")
    sources = {name: file_digest(name) for name in sets}
    classifier = train(vectors, labels, model, strength, sources, **words(np.zeros(len(texts), dtype=bool)))
    classifier.save(detector.classifier_file)
    print(f"\nwrote {detector.classifier_file} (model {model}, strength {strength:g}); restart the service to use it")
    return 0


class _using:
    """Decide with another classifier for a while (the held-out estimates), then restore the served one."""

    def __init__(self, detector, classifier) -> None:
        self.detector, self.classifier = detector, classifier

    def __enter__(self):
        self.kept = self.detector.classifier, self.detector.classifier_ready
        self.detector.classifier, self.detector.classifier_ready = self.classifier, True

    def __exit__(self, *exc) -> None:
        self.detector.classifier, self.detector.classifier_ready = self.kept
