"""Linear classifiers over the search's query vector and the question's words, trained by ``qa train-urgent``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.storage import write_text_atomic
from qa.urgent.words import WordModel, train_words

FORMAT = 2
READABLE = (1, 2)  # format 1: the vector half only


@dataclass(frozen=True)
class UrgentClassifier:
    """The probability that a question is an emergency from two logistic regressions, one over the query vector of
    one embedding model, one over the question's words (when trained with them). Their log-odds are averaged
    (weighted), so a half that is sure outweighs one that is unsure (a plain mean of probabilities would meet in the
    middle)."""

    model: str
    weights: np.ndarray
    bias: float
    trained_on: dict = field(default_factory=dict)  # files and their sha256, counts, regularisation strength
    words: WordModel | None = None

    def probability(self, vector: np.ndarray, text: str | None = None, word_weight: float = 0.5) -> float:
        return pooled(self.logits(vector, text), word_weight)

    def parts(self, vector: np.ndarray, text: str | None = None) -> dict[str, float]:
        """Each half's own probability, for explanations."""
        return halves(self.logits(vector, text))

    def logits(self, vector: np.ndarray, text: str | None = None) -> dict[str, float]:
        """Each half's log-odds: ``vector`` always, ``words`` when the model has it and ``text`` is given."""
        found = {"vector": float(self.weights @ vector) + self.bias}
        if self.words is not None and text is not None:
            found["words"] = self.words.logit(text)
        return found

    def to_dict(self) -> dict:
        return {"format": FORMAT, "model": self.model, "trained_on": self.trained_on, "bias": self.bias,
                "weights": [round(float(w), 7) for w in self.weights],
                **({"words": self.words.to_dict()} if self.words is not None else {})}

    def save(self, path: str | Path) -> None:
        """Written whole or not at all: a half-written file must never be read as weights."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> UrgentClassifier:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") not in READABLE:
                raise ValueError(f"format {data.get('format')!r}, expected one of {READABLE}")
            weights = np.asarray(data["weights"], dtype=np.float32)
            bias = float(data["bias"])
            if weights.ndim != 1 or not len(weights) or not np.isfinite(weights).all() or not math.isfinite(bias):
                raise ValueError("weights must be a non-empty list of finite numbers and bias a finite number")
            words = WordModel.from_dict(data["words"]) if "words" in data else None
            return cls(str(data["model"]), weights, bias, dict(data.get("trained_on", {})), words)
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"urgent classifier file {path} is unreadable ({type(exc).__name__}: {exc}); "
                             "retrain it with `python -m qa train-urgent`") from None


def train(vectors: np.ndarray, labels: np.ndarray, model: str, strength: float,
          sources: dict | None = None, texts: list[str] | None = None, word_strength: float = 10.0,
          word_min_df: int = 2) -> UrgentClassifier:
    """Fit L2-regularised logistic regression (scikit-learn), each class weighted by its share: over the vectors,
    and over the words of ``texts`` when given."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("training needs both urgent and calm questions")
    fit = LogisticRegression(C=strength, class_weight="balanced", max_iter=5000).fit(vectors, labels)
    words = train_words(texts, labels, word_strength, word_min_df) if texts is not None else None
    trained_on = {"questions": int(len(labels)), "urgent": int(labels.sum()), "strength": strength,
                  **({"word_strength": word_strength, "word_min_df": word_min_df} if words else {}),
                  **({"files": sources} if sources else {})}
    return UrgentClassifier(model, fit.coef_[0].astype(np.float32), float(fit.intercept_[0]), trained_on, words)


def pooled(logits: dict[str, float], word_weight: float = 0.5) -> float:
    """The probability from the halves' weighted mean log-odds; ``word_weight`` is the words half's share."""
    if "words" not in logits:
        return _sigmoid(logits["vector"])
    return _sigmoid((1.0 - word_weight) * logits["vector"] + word_weight * logits["words"])


def halves(logits: dict[str, float]) -> dict[str, float]:
    return {name: _sigmoid(z) for name, z in logits.items()}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

