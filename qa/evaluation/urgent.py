"""Scoring the urgent notice on labelled questions: recall, false notices, and which parts of the detector matter."""

from __future__ import annotations

import time
from dataclasses import replace

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


def score(items: list, fired: list[bool]) -> dict:
    urgent = [f for item, f in zip(items, fired) if item.urgent]
    calm = [f for item, f in zip(items, fired) if not item.urgent]
    return {"emergencies": len(urgent), "recall": round(sum(urgent) / len(urgent), 4) if urgent else None,
            "calm": len(calm), "false_notice_rate": round(sum(calm) / len(calm), 4) if calm else None}


def decide_all(detector, items: list, vectors, use_cues: bool = True, use_semantic: bool = True,
               use_classifier: bool = True, tie_breaker: tuple[float, float] | None = None):
    """Each item's decision, and the milliseconds the decisions took in all (vectors excluded). ``tie_breaker``
    (weight, band) decides with that semantic weight and band instead of the rules file's."""
    if tie_breaker:
        semantic = replace(detector.rules.semantic, weight=tie_breaker[0], band=tie_breaker[1])
        detector = detector.with_rules(replace(detector.rules, semantic=semantic))
    detector.decide("warm up", vectors[0])  # the examples are encoded on first use: not part of the timing
    started = time.perf_counter()
    decisions = [detector.decide(item.query, vector, use_cues, use_semantic, use_classifier)
                 for item, vector in zip(items, vectors)]
    return decisions, (time.perf_counter() - started) * 1000
