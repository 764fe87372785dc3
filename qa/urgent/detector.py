"""Applying the urgent rules to a question: concepts, readings, cues, the semantic check and the classifier."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.urgent import explain
from qa.urgent.classifier import UrgentClassifier, halves, pooled
from qa.urgent.examples import ExampleVectors
from qa.urgent.matching import ConceptSpeller, FirstWords, Sentence, tokenize
from qa.urgent.readings import Reading, spoken_decimals
from qa.urgent.rules import UrgentRules, load_rules

log = logging.getLogger("qa.urgent")


@dataclass
class Decision:
    """Whether the urgent notice fires for a question, and why."""

    fires: bool
    concepts: dict[str, list[str]] = field(default_factory=dict)  # concept name -> the phrases that matched it
    readings: list[Reading] = field(default_factory=list)
    cues: dict[str, float] = field(default_factory=dict)  # cue phrase -> its weight
    corrections: dict[str, str] = field(default_factory=dict)
    semantic: dict | None = None  # nearest urgent and calm examples and the margin's contribution
    score: float = 0.0
    probability: float | None = None  # the classifier's, when it ran
    reason: str = ""


class UrgentDetector:
    """Applies one set of rules, with an optional classifier; ``decide`` explains its answer. Immutable once
    attached to an encoder: ``with_rules`` and ``with_classifier`` give variants (ablation, held-out training)."""

    def __init__(self, rules: UrgentRules, classifier: UrgentClassifier | None = None,
                 classifier_file: Path | None = None) -> None:
        self.rules = rules
        self.classifier = classifier
        self.classifier_file = classifier_file
        self.classifier_ready = False  # set by attach_encoder when the weights belong to its model
        self.examples: ExampleVectors | None = None
        self.speller = ConceptSpeller(rules.concept_words)
        self._signs = rules.signs
        self._concept_firsts = FirstWords([tuple(p.words[0] for p in c.groups[0]) for c in rules.concepts])
        self._cue_firsts = FirstWords([(phrase.patterns[0],) for phrase, _ in rules.cues])

    @classmethod
    def from_data(cls, data: dict, folder: Path | None = None) -> UrgentDetector:
        """The detector of a parsed rules file whose classifier weights (if named) sit in ``folder``."""
        return cls.with_classifier_file(UrgentRules.from_data(data), folder)

    @classmethod
    def with_classifier_file(cls, rules: UrgentRules, folder: Path | None) -> UrgentDetector:
        named = rules.classifier.file
        path = Path(folder or ".") / named if named else None
        classifier = UrgentClassifier.load(path) if path is not None and path.is_file() else None
        if path is not None and classifier is None:  # not silent: `train-urgent` writes it
            log.warning("the urgent classifier file %s does not exist: only the rules decide until "
                        "`python -m qa train-urgent` writes it", path)
        return cls(rules, classifier, path)

    # -- variants ----------------------------------------------------------------------------------------
    def with_rules(self, rules: UrgentRules) -> UrgentDetector:
        """The same classifier and examples under other rules (the ablation's tie-breaker)."""
        other = UrgentDetector(rules, self.classifier, self.classifier_file)
        other.classifier_ready, other.examples = self.classifier_ready, self.examples
        return other

    def with_classifier(self, classifier: UrgentClassifier) -> UrgentDetector:
        """The same rules and examples deciding with another classifier (training's held-out estimates)."""
        other = UrgentDetector(self.rules, classifier, self.classifier_file)
        other.classifier_ready, other.examples = True, self.examples
        return other

    # -- the semantic check ------------------------------------------------------------------------------
    def attach_encoder(self, encoder, cache_dir: str | Path | None = None) -> None:
        """The model whose query vectors ``decide`` will get: the examples are encoded with it on first use, and
        the classifier decides only when its weights were trained for it."""
        self.examples = ExampleVectors(self.rules.semantic, encoder, cache_dir)
        self.classifier_ready = self.classifier is not None and self.classifier.model == encoder.name
        if self.classifier is not None and not self.classifier_ready:
            log.warning("the urgent classifier in %s was trained for model %s, not %s: only the rules decide; "
                        "retrain it with `python -m qa train-urgent`", self.classifier_file, self.classifier.model,
                        encoder.name)

    @property
    def semantic_ready(self) -> bool:
        return self.examples is not None and self.examples.ready

    def semantic(self, vector: np.ndarray) -> dict:
        """The nearest urgent and calm examples to the query vector and how far it leans toward urgent."""
        return self.examples.nearest(vector, self.rules.semantic.weight)

    # -- the decision -----------------------------------------------------------------------------------
    def decide(self, question: str, vector: np.ndarray | None = None, use_cues: bool = True,
               use_semantic: bool = True, use_classifier: bool = True) -> Decision:
        """The rules' decision, then the classifier's: it fires on its own above ``fire_above`` and vetoes the
        rules below ``veto_below``. Both read ``vector``, the query vector the search already computed."""
        decision = self.decide_by_rules(question, vector, use_cues, use_semantic)
        if not (use_classifier and vector is not None and self.classifier_ready):
            return decision
        settings = self.rules.classifier
        logits = self.classifier.logits(vector, question)
        probability = pooled(logits, settings.word_weight)
        decision.probability = probability
        by_rules = decision.fires
        # A reading over its limit (38.7 °C, sats 88 %) is a measurement, and a sign urgent by itself (a concept of
        # one group: seizure, unresponsive) is named outright: only a classifier all but sure that the question
        # is calm (someone else's fever, last week's seizure, a rule) vetoes them.
        reading = any(r.over for r in decision.readings)
        sign = any(name in self._signs for name in decision.concepts)
        floor = min([settings.veto_below] + [settings.reading_veto_below] * reading + [settings.sign_veto] * sign)
        why = "a reading is over its limit" if reading else "a sign urgent by itself matched"
        decision.fires = (by_rules and probability >= floor) or probability >= settings.fire_above
        verdict = explain.classifier_verdict(by_rules, decision.fires, probability, settings.fire_above,
                                             settings.veto_below, floor, why)
        decision.reason += explain.classifier_reason(probability, halves(logits), verdict)
        return decision

    def decide_by_rules(self, question: str, vector: np.ndarray | None = None, use_cues: bool = True,
                        use_semantic: bool = True) -> Decision:
        rules = self.rules
        question = spoken_decimals(question)
        tokens, corrections = self.speller.correct(tokenize(question))
        sentence = Sentence(question, tokens, rules.negations, rules.negation_window, rules.not_negating)
        found = [reading for rule in rules.number_rules for reading in rule.readings(sentence)]
        concepts = {c.name: matched for c in map(rules.concepts.__getitem__, self._concept_firsts.candidates(sentence))
                    if (matched := c.match(sentence))}
        over = [r for r in found if r.over]
        for reading in found:
            if not any(r.over for r in found if r.rule == reading.rule):
                for name in rules.vetoes.get(reading.rule, ()):
                    concepts.pop(name, None)
        for reading in over:
            concepts.setdefault(reading.rule, []).append(f"{reading.value:g} {reading.unit}".strip())
        decision = Decision(False, concepts, found, corrections=corrections)
        semantic = rules.semantic
        if use_cues and (concepts or semantic.rescue_at > 0):
            for phrase, weight in map(rules.cues.__getitem__, self._cue_firsts.candidates(sentence)):
                if phrase.in_order(sentence):
                    decision.cues[phrase.text] = weight
        if not concepts:
            # Wording no concept knows may still be very close to an urgent example, unless the cues say it
            # asks in general or about the past ("last week she had a nosebleed that stopped quickly").
            if use_semantic and vector is not None and self.semantic_ready and semantic.rescue_at > 0:
                decision.semantic = self.semantic(vector)
                nearest = decision.semantic["urgent"][1]
                decision.score = sum(decision.cues.values())
                decision.fires = (nearest >= semantic.rescue_at and decision.semantic["margin"] > 0
                                  and decision.score >= rules.fire_at)
                decision.reason = explain.rescue_reason(decision, semantic.rescue_at)
            else:
                decision.reason = "no urgent concept or reading"
            return decision
        if use_cues:
            # Each further concept is another sign described: "ribs sucking in" and "lips a bit blue".
            decision.score = (sum(decision.cues.values()) + (rules.reading_weight if over else 0.0)
                              + rules.extra_concept_weight * (len(concepts) - 1))
        # The semantic check only settles questions the rules leave close to the line.
        if use_semantic and vector is not None and self.semantic_ready and semantic.weight > 0 \
                and abs(decision.score - rules.fire_at) <= semantic.band:
            decision.semantic = self.semantic(vector)
            decision.score += decision.semantic["contribution"]
        decision.fires = decision.score >= rules.fire_at
        decision.reason = explain.rules_reason(decision, rules.fire_at)
        return decision


def load_urgent(path: str | Path | None) -> UrgentDetector | None:
    """The detector for an urgent data file; None when there is no file (no urgent notice)."""
    if not path or not Path(path).is_file():
        return None
    return UrgentDetector.with_classifier_file(load_rules(path), Path(path).parent)
