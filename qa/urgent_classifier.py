"""A linear classifier over the search's query vectors, trained on labelled questions (``qa train-urgent``)."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = 1


@dataclass(frozen=True)
class UrgentClassifier:
    """Logistic regression weights for one embedding model: the probability that a question is an emergency."""

    model: str
    weights: np.ndarray
    bias: float
    trained_on: dict = field(default_factory=dict)  # files and their sha256, counts, regularisation strength

    def probability(self, vector: np.ndarray) -> float:
        z = float(self.weights @ vector) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_dict(self) -> dict:
        return {"format": FORMAT, "model": self.model, "trained_on": self.trained_on, "bias": self.bias,
                "weights": [round(float(w), 7) for w in self.weights]}

    def save(self, path: str | Path) -> None:
        """Written whole or not at all: a half-written file must never be read as weights."""
        path = Path(path)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str | Path) -> UrgentClassifier:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            weights = np.asarray(data["weights"], dtype=np.float32)
            bias = float(data["bias"])
            if weights.ndim != 1 or not len(weights) or not np.isfinite(weights).all() or not math.isfinite(bias):
                raise ValueError("weights must be a non-empty list of finite numbers and bias a finite number")
            return cls(str(data["model"]), weights, bias, dict(data.get("trained_on", {})))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"urgent classifier file {path} is unreadable ({type(exc).__name__}: {exc}); "
                             "retrain it with `python -m qa train-urgent`") from None


def train(vectors: np.ndarray, labels: np.ndarray, model: str, strength: float,
          sources: dict | None = None) -> UrgentClassifier:
    """Fit L2-regularised logistic regression (scikit-learn), each class weighted by its share."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("training needs both urgent and calm questions")
    fit = LogisticRegression(C=strength, class_weight="balanced", max_iter=5000).fit(vectors, labels)
    trained_on = {"questions": int(len(labels)), "urgent": int(labels.sum()), "strength": strength,
                  **({"files": sources} if sources else {})}
    return UrgentClassifier(model, fit.coef_[0].astype(np.float32), float(fit.intercept_[0]), trained_on)


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
