"""``qa explain "question"``: why the service answers a question or abstains, signal by signal."""

from __future__ import annotations

import json


def explain(searcher, question: str) -> dict:
    """The decision for ``question`` and what it read: the best passage, each signal and its share of the log-odds
    (with an answerability model) or of the plain confidence, the threshold and the nearest example questions."""
    evidence = searcher.evidence([question])[0]
    outcome = searcher.rank(evidence, k=1, include_low_confidence=True)
    report = {"question": question, "answered": outcome.answered, "confidence": round(outcome.confidence, 4),
              "threshold": round(searcher.threshold, 4),
              "judged_by": "answerability model" if searcher.answerability is not None else "plain confidence"}
    if outcome.phrase_matched is not None:
        report["phrase_matched"] = outcome.phrase_matched
    if not outcome.hits:
        return {**report, "passage": None}
    passage = outcome.hits[0].passage  # the passage the search puts first, quoted-phrase lookup included
    report["passage"] = {"passage_id": passage.id, "section": passage.section_path}
    _, _, judge = searcher.judge(evidence)
    signals = judge.signals(searcher.index.position[passage.id])
    if searcher.answerability is not None:
        shares = searcher.answerability.contributions(signals)
        report["bias"] = round(searcher.answerability.bias, 4)
    else:
        shares = judge.plain_shares(signals)
    report["signals"] = {name: {"value": round(value, 4), "share": round(shares[name], 4)}
                         for name, value in signals.items() if name in shares}
    if searcher.examples is not None:
        report["nearest_examples"] = {kind: ({"question": found[0], "cosine": round(found[1], 4)} if found else None)
                                      for kind, found in searcher.examples.nearest(evidence.vector).items()}
    return report


def format_report(report: dict) -> str:
    verdict = "answers" if report["answered"] else "abstains"
    comparison = ">=" if report["answered"] else "<"
    lines = [f"{verdict}: {report['judged_by']} {report['confidence']:.3f} {comparison} threshold "
             f"{report['threshold']:.3f}"]
    if report.get("phrase_matched") is not None:
        lines.append(f"quoted words held by a passage: {'yes' if report['phrase_matched'] else 'no'}")
    if report.get("passage"):
        lines.append(f"best passage: {report['passage']['passage_id']} ({report['passage']['section']})")
        label = "share of the log-odds" if "bias" in report else "share of the confidence"
        lines.append(f"{'signal':<22}{'value':>8}  {label}")
        for name, entry in report["signals"].items():
            lines.append(f"{name:<22}{entry['value']:>8.3f}  {entry['share']:+.3f}")
        if "bias" in report:
            lines.append(f"{'bias':<22}{'':>8}  {report['bias']:+.3f}")
    for kind, found in (report.get("nearest_examples") or {}).items():
        if found:
            lines.append(f"nearest {kind.replace('_', '-')} example: {found['question']!r} ({found['cosine']:.3f})")
    return "\n".join(lines)


def run_explain(args, settings: dict) -> int:
    from qa.wiring import open_searcher

    report = explain(open_searcher(settings), args.question)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_report(report))
    return 0
