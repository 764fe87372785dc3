"""Urgent-care detection: symptom concepts, readings, question-form cues and example sentences from one data file."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.spoken_numbers import spoken_decimals
from qa.urgent_classifier import UrgentClassifier, halves, pooled
from qa.urgent_match import FirstWords, NumberRule, Phrase, Reading, Sentence, Speller, plain, tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Concept:
    """Fires when one phrase of every group occurs within ``window`` words of each other, or within
    ``clause_window`` words in the same sentence or clause."""

    name: str
    groups: tuple[tuple[Phrase, ...], ...]
    window: int
    clause_window: int = 0

    @cached_property
    def _openers(self) -> tuple[tuple[frozenset[str], tuple[str, ...]], ...]:
        """Per group, its phrases' first words (exact, and ``prefix*``): a group none of whose phrases can
        start in a question cannot match, and most concepts end there without looking further."""
        openers = []
        for group in self.groups:
            first = [phrase.words[0] for phrase in group]
            openers.append((frozenset(w for w in first if not w.endswith("*")),
                            tuple(w[:-1] for w in first if w.endswith("*"))))
        return tuple(openers)

    def match(self, sentence: Sentence) -> list[str] | None:
        """The phrases that matched, or None."""
        for exact, prefixes in self._openers:
            if exact.isdisjoint(sentence.words) and not any(map(sentence.has_prefix, prefixes)):
                return None
        spans = []
        for group in self.groups:
            spans.append([(phrase, span) for phrase in group for span in phrase.any_order(sentence)])
            if not spans[-1]:
                return None
        best = None
        for combo in itertools.product(*spans):
            if _negated(sentence, [span for _, span in combo]):
                continue
            first = min(span[0] for _, span in combo)
            last = max(span[1] for _, span in combo)
            near = last - first <= self.window or (
                last - first <= self.clause_window and sentence.same_clause(first, last))
            if near and (best is None or last - first < best[0]):
                best = (last - first, [phrase.text for phrase, _ in combo])
        return best[1] if best else None


def _negated(sentence: Sentence, spans: list[tuple[int, int]]) -> bool:
    """Whether a negation word just before one of the phrases denies it ("no redness, no pain, no fever"). A
    negation word that is itself one of the matched phrases ("no wee since last night") denies nothing."""
    for first, _ in spans:
        negator = sentence.negator_before(first)
        if negator is not None and not any(a <= negator <= b for a, b in spans):
            return True
    return False


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
    """Rules and examples from the urgent data file; ``decide`` explains, ``fires`` is the fast yes/no."""

    def __init__(self, data: dict, folder: Path | None = None) -> None:
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

        self.concepts = [Concept(str(c["name"]), tuple(phrases(g) for g in c["all_of"]), int(c.get("window", window)),
                                 int(c.get("clause_window", clause_window))) for c in data["concepts"]]
        self.number_rules = [NumberRule.parse(rule) for rule in data.get("numbers", [])]
        # A reading under the limit overrides the word: "is 37.6 a fever" is not a fever.
        self.vetoes = {rule["name"]: [str(c) for c in rule.get("under_limit_cancels", [])]
                       for rule in data.get("numbers", [])}
        self.reading_weight = float(data.get("reading_weight", 0.0))
        self.extra_concept_weight = float(data.get("extra_concept_weight", 0.0))
        self.negations = frozenset(plain(str(word)).lower() for word in data.get("negations", []))
        self.negation_window = int(data.get("negation_window", 3))
        self.not_negating = tuple(plain(str(word)).lower().rstrip("*") for word in data.get("not_negating", []))
        cues = data.get("cues", {})
        self.cues = [(Phrase.parse(text), float(weight)) for text, weight in cues.items() if not text.startswith("_")]
        self._signs = {c.name for c in self.concepts if len(c.groups) == 1}
        self._concept_firsts = FirstWords([tuple(p.words[0] for p in c.groups[0]) for c in self.concepts])
        self._cue_firsts = FirstWords([(phrase.patterns[0],) for phrase, _ in self.cues])
        self.fire_at = float(data.get("fire_at", 0.0))
        semantic = data.get("semantic", {})
        self.semantic_weight = float(semantic.get("weight", 0.0))
        self.semantic_band = float(semantic.get("band", 0.0))
        self.rescue_at = float(semantic.get("rescue_at", 0.0))  # 0: no rescue
        self.examples = {kind: [str(s) for s in semantic.get(kind, [])] for kind in ("urgent", "calm")}
        classifier = data.get("classifier", {})
        self.fire_above = float(classifier.get("fire_above", 1.01))  # over 1: never fires on its own
        self.veto_below = float(classifier.get("veto_below", 0.0))  # 0: never vetoes
        self.reading_veto_below = float(classifier.get("reading_veto_below", 0.0))  # 0: never vetoes a reading
        # A concept of one group (urgent by itself); absent: vetoed like any rules decision.
        self.sign_veto_below = float(classifier.get("sign_veto_below", self.veto_below))
        self.classifier_strength = float(classifier.get("strength", 30.0))  # scikit-learn's C when training
        self.word_strength = float(classifier.get("word_strength", 10.0))  # 0: train the vector half only
        self.word_min_df = int(classifier.get("word_min_df", 2))
        self.word_weight = float(classifier.get("word_weight", 0.5))  # the words half's share of the log-odds
        if not 0.0 <= self.word_weight <= 1.0:
            raise ValueError(f"classifier.word_weight must be between 0 and 1, not {self.word_weight:g}")
        self.classifier_file = (Path(folder or ".") / str(classifier["file"])) if classifier.get("file") else None
        self.classifier = UrgentClassifier.load(self.classifier_file) \
            if self.classifier_file is not None and self.classifier_file.is_file() else None
        if self.classifier_file is not None and self.classifier is None:  # not silent: `train-urgent` writes it
            log.warning("the urgent classifier file %s does not exist: only the rules decide until "
                        "`python -m qa train-urgent` writes it", self.classifier_file)
        self.classifier_ready = False  # set by attach_encoder when the weights belong to its model
        words = [w for c in self.concepts for g in c.groups for p in g for w in p.text.split()]
        self.speller = Speller(words)
        self._vectors: dict[str, np.ndarray] | None = None
        self._encoder = None
        self._cache: Path | None = None
        self._lock = threading.Lock()

    # -- the semantic check ------------------------------------------------------------------------------
    def attach_encoder(self, encoder, cache_dir: str | Path | None = None) -> None:
        """The model whose query vectors ``decide`` will get. The examples are encoded on first use only, and
        their vectors kept in ``cache_dir`` under a name made of the model and the examples' hash."""
        self._encoder = encoder
        self._vectors = None
        self.classifier_ready = self.classifier is not None and self.classifier.model == encoder.name
        if self.classifier is not None and not self.classifier_ready:
            log.warning("the urgent classifier in %s was trained for model %s, not %s: only the rules decide; "
                        "retrain it with `python -m qa train-urgent`", self.classifier_file, self.classifier.model,
                        encoder.name)
        self._cache = Path(cache_dir) / f"urgent-examples-{self.examples_fingerprint(encoder.name)}.npz" \
            if cache_dir else None

    @property
    def semantic_ready(self) -> bool:
        return self._encoder is not None and all(self.examples.values())

    def _example_vectors(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = self._read_cache() or self._encode_examples()
        return self._vectors

    def _encode_examples(self) -> dict[str, np.ndarray]:
        from qa.index import plain_typography

        vectors = {kind: self._encoder.encode([plain_typography(s) for s in sentences])
                   for kind, sentences in self.examples.items()}
        if self._cache is not None:
            try:  # a cache that cannot be written only costs the next start an encode
                self._cache.parent.mkdir(parents=True, exist_ok=True)
                partial = self._cache.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(partial, **vectors)
                os.replace(partial, self._cache)
            except OSError:
                pass
        return vectors

    def _read_cache(self) -> dict[str, np.ndarray] | None:
        if self._cache is None or not self._cache.is_file():
            return None
        try:
            with np.load(self._cache) as stored:
                vectors = {kind: stored[kind] for kind in self.examples}
        except (OSError, ValueError, KeyError):
            return None
        sizes_match = all(len(vectors[k]) == len(self.examples[k]) for k in self.examples)
        return vectors if sizes_match and vectors["urgent"].shape[1] == self._encoder.dim else None

    def examples_fingerprint(self, model: str) -> str:
        text = json.dumps([model, self.examples], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def semantic(self, vector: np.ndarray) -> dict:
        """The nearest urgent and calm examples to the query vector and how far it leans toward urgent."""
        vectors = self._example_vectors()
        found = {}
        for kind in ("urgent", "calm"):
            sims = vectors[kind] @ vector
            best = int(np.argmax(sims))
            found[kind] = (self.examples[kind][best], float(sims[best]))
        margin = found["urgent"][1] - found["calm"][1]
        return {"urgent": found["urgent"], "calm": found["calm"], "margin": margin,
                "contribution": self.semantic_weight * margin}

    # -- the decision -----------------------------------------------------------------------------------
    def decide(self, question: str, vector: np.ndarray | None = None, use_cues: bool = True,
               use_semantic: bool = True, use_classifier: bool = True) -> Decision:
        """The rules' decision, then the classifier's: it fires on its own above ``fire_above`` and vetoes the
        rules below ``veto_below``. Both read ``vector``, the query vector the search already computed."""
        decision = self.decide_by_rules(question, vector, use_cues, use_semantic)
        if not (use_classifier and vector is not None and self.classifier_ready):
            return decision
        logits = self.classifier.logits(vector, question)
        parts, probability = halves(logits), pooled(logits, self.word_weight)
        decision.probability = probability
        by_rules = decision.fires
        # A reading over its limit (38.7 °C, sats 88 %) is a measurement, and a sign urgent by itself (a concept of
        # one group: seizure, unresponsive) is named outright: only a classifier all but sure that the question
        # is calm (someone else's fever, last week's seizure, a rule) vetoes them.
        reading = any(r.over for r in decision.readings)
        sign = any(name in self._signs for name in decision.concepts)
        floors = [self.veto_below] + [self.reading_veto_below] * reading + [self.sign_veto_below] * sign
        veto_below = min(floors)
        why = "a reading is over its limit" if reading else "a sign urgent by itself matched"
        decision.fires = (by_rules and probability >= veto_below) or probability >= self.fire_above
        if decision.fires and not by_rules:
            verdict = f"fires at >= {self.fire_above:g}"
        elif by_rules and not decision.fires:
            verdict = f"vetoes the rules below {veto_below:g}" + (f" ({why})" if veto_below < self.veto_below else "")
        elif by_rules and probability < self.veto_below:
            verdict = f"would veto, but {why} (vetoed only below {veto_below:g})"
        else:
            verdict = "agrees"
        pooled_from = f" (pooled from {', '.join(f'{name} {p:.2f}' for name, p in parts.items())})" \
            if len(parts) > 1 else ""
        decision.reason += f"; classifier {probability:.2f} urgent{pooled_from}: {verdict}"
        return decision

    def decide_by_rules(self, question: str, vector: np.ndarray | None = None, use_cues: bool = True,
                        use_semantic: bool = True) -> Decision:
        question = spoken_decimals(question)
        tokens, corrections = self.speller.correct(tokenize(question))
        sentence = Sentence(question, tokens, self.negations, self.negation_window, self.not_negating)
        found = [reading for rule in self.number_rules for reading in rule.readings(sentence)]
        concepts = {c.name: matched for c in map(self.concepts.__getitem__, self._concept_firsts.candidates(sentence))
                    if (matched := c.match(sentence))}
        over = [r for r in found if r.over]
        for reading in found:
            if not any(r.over for r in found if r.rule == reading.rule):
                for name in self.vetoes.get(reading.rule, []):
                    concepts.pop(name, None)
        for reading in over:
            concepts.setdefault(reading.rule, []).append(f"{reading.value:g} {reading.unit}".strip())
        decision = Decision(False, concepts, found, corrections=corrections)
        if use_cues and (concepts or self.rescue_at > 0):
            for phrase, weight in map(self.cues.__getitem__, self._cue_firsts.candidates(sentence)):
                if phrase.in_order(sentence):
                    decision.cues[phrase.text] = weight
        if not concepts:
            # Wording no concept knows may still be very close to an urgent example, unless the cues say it
            # asks in general or about the past ("last week she had a nosebleed that stopped quickly").
            if use_semantic and vector is not None and self.semantic_ready and self.rescue_at > 0:
                decision.semantic = self.semantic(vector)
                nearest = decision.semantic["urgent"][1]
                decision.score = sum(decision.cues.values())
                decision.fires = (nearest >= self.rescue_at and decision.semantic["margin"] > 0
                                  and decision.score >= self.fire_at)
                decision.reason = (f"no urgent concept or reading; nearest urgent example "
                                   f"{decision.semantic['urgent'][0]!r} ({nearest:.2f}), nearest calm example "
                                   f"{decision.semantic['calm'][0]!r} ({decision.semantic['calm'][1]:.2f}); cues: "
                                   f"{_cue_text(decision)}: {'fires' if decision.fires else 'does not fire'} "
                                   f"at rescue_at {self.rescue_at:g}")
            else:
                decision.reason = "no urgent concept or reading"
            return decision
        if use_cues:
            # Each further concept is another sign described: "ribs sucking in" and "lips a bit blue".
            decision.score = (sum(decision.cues.values()) + (self.reading_weight if over else 0.0)
                              + self.extra_concept_weight * (len(concepts) - 1))
        # The semantic check only settles questions the rules leave close to the line.
        if use_semantic and vector is not None and self.semantic_ready and self.semantic_weight > 0 \
                and abs(decision.score - self.fire_at) <= self.semantic_band:
            decision.semantic = self.semantic(vector)
            decision.score += decision.semantic["contribution"]
        decision.fires = decision.score >= self.fire_at
        decision.reason = _explain(decision, self.fire_at)
        return decision


def _cue_text(decision: Decision) -> str:
    return ", ".join(f"{text!r} {weight:+g}" for text, weight in decision.cues.items()) or "none"


def _explain(decision: Decision, fire_at: float) -> str:
    parts = [f"concept {name!r} ({' + '.join(matched)})" for name, matched in decision.concepts.items()]
    line = f"{'; '.join(parts)}; cues: {_cue_text(decision)}"
    if decision.semantic:
        s = decision.semantic
        line += (f"; nearest urgent example {s['urgent'][0]!r} ({s['urgent'][1]:.2f}), nearest calm example "
                 f"{s['calm'][0]!r} ({s['calm'][1]:.2f}): {s['contribution']:+.2f}")
    verdict = ">=" if decision.fires else "<"
    return f"{line}; score {decision.score:+.2f} {verdict} {fire_at:g}"


def load_urgent(path: str | Path | None) -> UrgentDetector | None:
    """The detector for an urgent data file; None when there is no file (no urgent notice)."""
    if not path or not Path(path).is_file():
        return None
    try:
        return UrgentDetector(json.loads(Path(path).read_text(encoding="utf-8")), Path(path).parent)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"urgent rules file {path} is malformed ({type(exc).__name__}: {exc}); it needs "
                         "concepts with a name and all_of, and may have lists, numbers, cues and semantic") from None
