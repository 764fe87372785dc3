"""The one-line explanations of urgent decisions, as ``qa notice`` prints them."""

from __future__ import annotations


def cue_text(cues: dict[str, float]) -> str:
    return ", ".join(f"{text!r} {weight:+g}" for text, weight in cues.items()) or "none"


def rules_reason(decision, fire_at: float) -> str:
    """Why the rules fired or not when a concept or reading matched."""
    parts = [f"concept {name!r} ({' + '.join(matched)})" for name, matched in decision.concepts.items()]
    line = f"{'; '.join(parts)}; cues: {cue_text(decision.cues)}"
    if decision.semantic:
        s = decision.semantic
        line += (f"; nearest urgent example {s['urgent'][0]!r} ({s['urgent'][1]:.2f}), nearest calm example "
                 f"{s['calm'][0]!r} ({s['calm'][1]:.2f}): {s['contribution']:+.2f}")
    verdict = ">=" if decision.fires else "<"
    return f"{line}; score {decision.score:+.2f} {verdict} {fire_at:g}"


def rescue_reason(decision, rescue_at: float) -> str:
    """Why the semantic rescue fired or not when no concept or reading matched."""
    nearest, calm = decision.semantic["urgent"], decision.semantic["calm"]
    return (f"no urgent concept or reading; nearest urgent example {nearest[0]!r} ({nearest[1]:.2f}), nearest calm "
            f"example {calm[0]!r} ({calm[1]:.2f}); cues: {cue_text(decision.cues)}: "
            f"{'fires' if decision.fires else 'does not fire'} at rescue_at {rescue_at:g}")


def classifier_reason(probability: float, parts: dict[str, float], verdict: str) -> str:
    pooled_from = f" (pooled from {', '.join(f'{name} {p:.2f}' for name, p in parts.items())})" \
        if len(parts) > 1 else ""
    return f"; classifier {probability:.2f} urgent{pooled_from}: {verdict}"


def classifier_verdict(by_rules: bool, fires: bool, probability: float, fire_above: float, veto_below: float,
                       floor: float, why: str) -> str:
    """What the classifier did to the rules' decision; ``floor`` is the veto threshold that applied."""
    if fires and not by_rules:
        return f"fires at >= {fire_above:g}"
    if by_rules and not fires:
        return f"vetoes the rules below {floor:g}" + (f" ({why})" if floor < veto_below else "")
    if by_rules and probability < veto_below:
        return f"would veto, but {why} (vetoed only below {floor:g})"
    return "agrees"
