"""Training the answerability model (qa/search/answerability.py) and choosing its threshold out of fold.

Each labelled set is left out in turn: its questions are judged by a model trained on the other sets, with the
example questions of its own set left out too. The threshold is chosen on those out-of-fold probabilities, pooled:
the highest out-of-scope abstention that refuses at most ``MAX_REFUSED`` of the answerable questions. The model that
is saved is then trained on every set, and judged by that threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qa.search.answerability import FEATURES, AnswerabilityModel, as_array

MAX_REFUSED = 0.03  # the share of answerable questions the chosen threshold may refuse, out of fold
STRENGTH = 1.0  # scikit-learn's C


@dataclass
class LabelledSignals:
    """One labelled set's questions as the answerability model sees them."""

    name: str
    signals: np.ndarray  # (questions, features)
    answerable: np.ndarray  # bool per question


def signals_of(searcher, queries) -> np.ndarray:
    """The features of each question's best passage, as the search ranks it, each labelled set judged without its
    own example questions."""
    rows: list = [None] * len(queries)
    for held_out, positions in searcher.held_out(queries):
        for position, evidence in zip(positions, held_out.evidence([queries[i].query for i in positions])):
            order, _, confidence = held_out.judge(evidence)
            rows[position] = confidence.signals(order[0]) if order else dict.fromkeys(FEATURES, 0.0)
    return as_array(rows)


def fit(signals: np.ndarray, answerable: np.ndarray, strength: float = STRENGTH) -> tuple:
    """(mean, scale, weights, bias) of a class-balanced logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression

    if answerable.all() or not answerable.any():
        raise ValueError("training needs both answerable and out-of-scope questions")
    mean, scale = signals.mean(axis=0), signals.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    model = LogisticRegression(C=strength, class_weight="balanced", max_iter=5000)
    model.fit((signals - mean) / scale, answerable)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def probabilities(params: tuple, signals: np.ndarray) -> np.ndarray:
    mean, scale, weights, bias = params
    z = np.clip(((signals - mean) / scale) @ weights + bias, -50, 50)
    return 1.0 / (1.0 + np.exp(-z))


def out_of_fold(sets: list[LabelledSignals], strength: float = STRENGTH) -> dict[str, np.ndarray]:
    """Each set's probabilities from a model trained on the other sets."""
    found = {}
    for held in sets:
        others = [s for s in sets if s is not held]
        params = fit(np.vstack([s.signals for s in others]), np.concatenate([s.answerable for s in others]), strength)
        found[held.name] = probabilities(params, held.signals)
    return found


def rates(probability: np.ndarray, answerable: np.ndarray, threshold: float) -> dict:
    """Answerable questions refused and out-of-scope ones abstained on, below ``threshold``, with 95% intervals."""
    refused = int((probability[answerable] < threshold).sum())
    abstained = int((probability[~answerable] < threshold).sum())
    n_in, n_out = int(answerable.sum()), int((~answerable).sum())
    return {"threshold": float(threshold), "refused": refused, "answerable": n_in,
            "refused_share": refused / n_in if n_in else 0.0, "refused_interval": wilson(refused, n_in),
            "abstained": abstained, "out_of_scope": n_out,
            "oos_abstention": abstained / n_out if n_out else 0.0, "oos_interval": wilson(abstained, n_out)}


def tradeoff(probability: np.ndarray, answerable: np.ndarray) -> list[dict]:
    """The rates at every threshold the probabilities offer (each question's own probability and 0)."""
    return [rates(probability, answerable, t) for t in sorted({0.0, *np.round(probability, 6).tolist()})]


def choose(curve: list[dict], max_refused: float = MAX_REFUSED) -> dict:
    """The point with the highest out-of-scope abstention that refuses at most ``max_refused`` of the answerable
    questions; among ties the lower threshold (fewer refusals)."""
    allowed = [point for point in curve if point["refused_share"] <= max_refused]
    return max(allowed, key=lambda p: (p["oos_abstention"], -p["threshold"]))


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if not total:
        return (0.0, 0.0)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def final_model(sets: list[LabelledSignals], threshold: float, model: str, tags: dict,
                strength: float = STRENGTH) -> AnswerabilityModel:
    signals = np.vstack([s.signals for s in sets])
    answerable = np.concatenate([s.answerable for s in sets])
    mean, scale, weights, bias = fit(signals, answerable, strength)
    return AnswerabilityModel(model, tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, weights)),
                              bias, float(threshold), FEATURES, tags,
                              {"sets": {s.name: [int(s.answerable.sum()), int((~s.answerable).sum())] for s in sets},
                               "strength": strength, "max_refused": MAX_REFUSED})


def plot(curve: list[dict], chosen: dict, path, title: str) -> None:
    """The out-of-fold trade-off as a PNG: out-of-scope questions abstained on against answerable ones refused."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    axes.plot([p["refused_share"] for p in curve], [p["oos_abstention"] for p in curve], color="#1f5fa8",
              drawstyle="steps-post", label="out of fold, each threshold")
    axes.axvline(MAX_REFUSED, color="#999999", linestyle=":", label=f"at most {MAX_REFUSED:.0%} refused")
    low, high = chosen["oos_interval"]
    axes.errorbar([chosen["refused_share"]], [chosen["oos_abstention"]], yerr=[[chosen["oos_abstention"] - low],
                  [high - chosen["oos_abstention"]]], fmt="o", color="#c0392b", capsize=4,
                  label=f"chosen: threshold {chosen['threshold']:.3f}")
    axes.set_xlabel("answerable questions refused")
    axes.set_ylabel("out-of-scope questions abstained on")
    axes.set_xlim(0, 0.5)
    axes.set_ylim(0, 1.02)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
