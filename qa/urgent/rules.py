"""The urgent rules as a typed, immutable data object, parsed once from the data file (``corpus/urgent.json``).

Nothing here decides anything: ``qa.urgent.detector`` applies the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from qa.text import plain
from qa.urgent.matching import Concept, Phrase
from qa.urgent.readings import NumberRule


@dataclass(frozen=True)
class SemanticSettings:
    """Example sentences compared with the query vector: a rescue for wording no concept knows, and (``weight``
    over 0) a tie-breaker for close calls within ``band`` of ``fire_at``."""

    weight: float = 0.0
    band: float = 0.0
    rescue_at: float = 0.0  # 0: no rescue
    urgent: tuple[str, ...] = ()
    calm: tuple[str, ...] = ()

    @property
    def examples(self) -> dict[str, tuple[str, ...]]:
        return {"urgent": self.urgent, "calm": self.calm}


@dataclass(frozen=True)
class ClassifierSettings:
    """When the classifier fires on its own or vetoes the rules, and how ``qa train-urgent`` trains it."""

    file: str | None = None  # the weights file, beside the rules file
    fire_above: float = 1.01  # over 1: never fires on its own
    veto_below: float = 0.0  # 0: never vetoes
    reading_veto_below: float = 0.0  # a reading over its limit is vetoed only below this; 0: never
    sign_veto_below: float | None = None  # a concept of one group (urgent by itself); None: as veto_below
    strength: float = 30.0  # scikit-learn's C for the vector half
    word_strength: float = 10.0  # C for the words half; 0: train the vector half only
    word_min_df: int = 2
    word_weight: float = 0.5  # the words half's share of the pooled log-odds

    def __post_init__(self) -> None:
        if not 0.0 <= self.word_weight <= 1.0:
            raise ValueError(f"classifier.word_weight must be between 0 and 1, not {self.word_weight:g}")

    @property
    def sign_veto(self) -> float:
        return self.veto_below if self.sign_veto_below is None else self.sign_veto_below


@dataclass(frozen=True)
class UrgentRules:
    concepts: tuple[Concept, ...]
    number_rules: tuple[NumberRule, ...] = ()
    # A reading under its rule's limit cancels these concepts: "is 37.6 a fever" is not a fever.
    vetoes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reading_weight: float = 0.0
    extra_concept_weight: float = 0.0  # added for each concept beyond the first: two signs beat one
    negations: frozenset[str] = frozenset()
    negation_window: int = 3
    not_negating: tuple[str, ...] = ()
    cues: tuple[tuple[Phrase, float], ...] = ()
    fire_at: float = 0.0
    semantic: SemanticSettings = SemanticSettings()
    classifier: ClassifierSettings = ClassifierSettings()

    @property
    def signs(self) -> frozenset[str]:
        """The concepts urgent by themselves: one group, no qualifier needed (seizure, unresponsive)."""
        return frozenset(c.name for c in self.concepts if len(c.groups) == 1)

    @property
    def concept_words(self) -> list[str]:
        """Every word of every concept phrase: what misspellings are corrected toward."""
        return [w for c in self.concepts for g in c.groups for p in g for w in p.text.split()]

    @classmethod
    def from_data(cls, data: dict) -> UrgentRules:
        """The rules of a parsed data file; KeyError, TypeError or ValueError when it is malformed."""
        lists = {name: [str(p) for p in phrases] for name, phrases in data.get("lists", {}).items()}
        window = int(data.get("window", 8))
        clause_window = int(data.get("clause_window", 0))

        def phrases(items) -> tuple[Phrase, ...]:
            out: list[str] = []
            for item in items:
                item = str(item)
                if item.startswith("@"):
                    if item[1:] not in lists:
                        raise ValueError(f"unknown list {item!r}; the lists are {', '.join(sorted(lists)) or 'none'}")
                    out += lists[item[1:]]
                else:
                    out.append(item)
            return tuple(Phrase.parse(p) for p in dict.fromkeys(out))

        semantic = data.get("semantic", {})
        classifier = data.get("classifier", {})
        veto_below = float(classifier.get("veto_below", 0.0))
        return cls(
            concepts=tuple(Concept(str(c["name"]), tuple(phrases(g) for g in c["all_of"]),
                                   int(c.get("window", window)), int(c.get("clause_window", clause_window)))
                           for c in data["concepts"]),
            number_rules=tuple(NumberRule.parse(rule) for rule in data.get("numbers", [])),
            vetoes={rule["name"]: tuple(str(c) for c in rule.get("under_limit_cancels", []))
                    for rule in data.get("numbers", [])},
            reading_weight=float(data.get("reading_weight", 0.0)),
            extra_concept_weight=float(data.get("extra_concept_weight", 0.0)),
            negations=frozenset(plain(str(word)).lower() for word in data.get("negations", [])),
            negation_window=int(data.get("negation_window", 3)),
            not_negating=tuple(plain(str(word)).lower().rstrip("*") for word in data.get("not_negating", [])),
            cues=tuple((Phrase.parse(text), float(weight)) for text, weight in data.get("cues", {}).items()
                       if not text.startswith("_")),
            fire_at=float(data.get("fire_at", 0.0)),
            semantic=SemanticSettings(
                weight=float(semantic.get("weight", 0.0)), band=float(semantic.get("band", 0.0)),
                rescue_at=float(semantic.get("rescue_at", 0.0)),
                urgent=tuple(str(s) for s in semantic.get("urgent", [])),
                calm=tuple(str(s) for s in semantic.get("calm", []))),
            classifier=ClassifierSettings(
                file=str(classifier["file"]) if classifier.get("file") else None,
                fire_above=float(classifier.get("fire_above", 1.01)), veto_below=veto_below,
                reading_veto_below=float(classifier.get("reading_veto_below", 0.0)),
                sign_veto_below=float(classifier.get("sign_veto_below", veto_below)),
                strength=float(classifier.get("strength", 30.0)),
                word_strength=float(classifier.get("word_strength", 10.0)),
                word_min_df=int(classifier.get("word_min_df", 2)),
                word_weight=float(classifier.get("word_weight", 0.5))),
        )


def load_rules(path: str | Path) -> UrgentRules:
    """The rules of an urgent data file, or ValueError with one line for the operator."""
    try:
        return UrgentRules.from_data(json.loads(Path(path).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"urgent rules file {path} is malformed ({type(exc).__name__}: {exc}); it needs "
                         "concepts with a name and all_of, and may have lists, numbers, cues and semantic") from None
