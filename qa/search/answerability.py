"""Whether the corpus answers a question: a small logistic model over evidence the search already has.

Five signals, for the best passage (and, below it, each passage shown):

- ``similarity``: the passage's answer similarity (its best cosine with and without context, or a sentence's);
- ``coverage``: the IDF-weighted share of the question's terms the passage contains;
- ``foreign_term``: 1 when the question names a specific term the corpus never uses;
- ``nearest_answerable`` and ``nearest_out_of_scope``: the cosine of the nearest example question the corpus
  answers, and of the nearest one it does not (qa/search/examples.py). A question that reads like "what does a
  transplant cost" sits by the labelled cost questions, whatever words it shares with the guide.

The weights are trained by ``qa eval --calibrate`` on the corpus's labelled questions, leaving one labelled set out at
a time; the threshold is chosen on those out-of-fold probabilities, never in sample. They live in the corpus's
``answerability.json``, tagged with the corpus, its example questions and the model they were measured with.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.errors import QAError
from qa.storage import file_digest, write_text_atomic

FEATURES = ("similarity", "coverage", "foreign_term", "nearest_answerable", "nearest_out_of_scope")
FORMAT = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerabilityModel:
    """Logistic regression over standardised features; ``threshold`` is the probability under which to abstain."""

    model: str  # the embedding model the cosines come from
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    features: tuple[str, ...] = FEATURES
    tags: dict = field(default_factory=dict)  # corpus hash, examples digest: what it applies to
    trained_on: dict = field(default_factory=dict)

    def logit(self, values: dict[str, float]) -> float:
        return self.bias + sum(c for c in self.contributions(values).values())

    def contributions(self, values: dict[str, float]) -> dict[str, float]:
        """Each feature's share of the log-odds: its weight times its standardised value."""
        return {name: w * (values[name] - m) / s for name, m, s, w in
                zip(self.features, self.mean, self.scale, self.weights)}

    def probability(self, values: dict[str, float]) -> float:
        z = max(-50.0, min(50.0, self.logit(values)))
        return 1.0 / (1.0 + math.exp(-z))

    def to_dict(self) -> dict:
        return {"format": FORMAT, "model": self.model, "features": list(self.features),
                "mean": [round(v, 6) for v in self.mean], "scale": [round(v, 6) for v in self.scale],
                "weights": [round(v, 6) for v in self.weights], "bias": round(self.bias, 6),
                "threshold": round(self.threshold, 6), "tags": self.tags, "trained_on": self.trained_on}

    def save(self, path: str | Path) -> None:
        """Written whole or not at all."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> AnswerabilityModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        features = tuple(str(name) for name in data["features"])
        if features != FEATURES:
            raise ValueError(f"features {list(features)}, expected {list(FEATURES)}")
        numbers = [tuple(float(v) for v in data[key]) for key in ("mean", "scale", "weights")]
        if any(len(values) != len(FEATURES) for values in numbers) or min(numbers[1]) <= 0:
            raise ValueError("mean, scale and weights need one number per feature, scales above 0")
        values = [*numbers[0], *numbers[1], *numbers[2], float(data["bias"]), float(data["threshold"])]
        if not all(math.isfinite(v) for v in values) or not 0.0 <= float(data["threshold"]) <= 1.0:
            raise ValueError("numbers must be finite and the threshold a probability")
        return cls(str(data["model"]), *numbers, float(data["bias"]), float(data["threshold"]), features,
                   dict(data.get("tags", {})), dict(data.get("trained_on", {})))


def examples_digest(path: str | Path | None) -> str:
    """A short hash of a corpus's example-question file: the model's example features depend on it."""
    return file_digest(path) if path and Path(path).is_file() else ""


def answerability_tags(manifest: dict, examples_path: str | Path | None) -> dict:
    """What a trained model applies to, as it is saved and checked on load: the corpus and its example questions."""
    return {"corpus_hash": manifest["corpus"].get("hash"), "examples": examples_digest(examples_path)}


def load_answerability(path: str | Path | None, manifest: dict, examples_path: str | Path | None,
                       model: str) -> AnswerabilityModel | None:
    """The corpus's answerability model, when there is one and it was trained for this corpus, these example
    questions and this model; else None (the search then judges by its plain confidence)."""
    if not path or not Path(path).is_file():
        return None
    try:
        loaded = AnswerabilityModel.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QAError(f"answerability model {path} is malformed ({type(exc).__name__}: {exc}); retrain it with "
                      "`python -m qa eval --calibrate`") from None
    expected = answerability_tags(manifest, examples_path)
    if loaded.model != model or any(loaded.tags.get(key) != value for key, value in expected.items()):
        log.warning("answerability model %s was trained for another corpus, example questions or model; the search "
                    "judges by its plain confidence (run `python -m qa eval --calibrate` on this corpus)", path)
        return None
    return loaded


def example_features(nearest: tuple[float, float]) -> dict[str, float]:
    return {"nearest_answerable": nearest[0], "nearest_out_of_scope": nearest[1]}


def as_array(values: list[dict[str, float]]) -> np.ndarray:
    return np.array([[row[name] for name in FEATURES] for row in values], dtype=np.float64)
