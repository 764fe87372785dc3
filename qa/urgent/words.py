"""The urgent classifier's word half: logistic regression over TF-IDF word unigrams and bigrams of the question.

Trained with scikit-learn's TfidfVectorizer and LogisticRegression; scored here without scikit-learn, because
its per-call overhead (about 2 ms for one question) is more than the whole urgent check may cost. A test holds
``WordModel.logit`` equal to scikit-learn's ``decision_function``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token_pattern
NGRAMS = (1, 2)


def ngrams(text: str) -> list[str]:
    """The question's word unigrams and bigrams, as TfidfVectorizer(ngram_range=(1, 2)) makes them."""
    tokens = TOKEN.findall(text.lower())
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


@dataclass(frozen=True)
class WordModel:
    """Per known n-gram its IDF and coefficient; sublinear term frequency and L2 norm, as in training."""

    terms: dict[str, tuple[float, float]]
    bias: float

    def logit(self, text: str) -> float:
        counts: dict[str, int] = {}
        for gram in ngrams(text):
            if gram in self.terms:
                counts[gram] = counts.get(gram, 0) + 1
        if not counts:
            return self.bias
        values = {gram: (1.0 + math.log(count)) * self.terms[gram][0] for gram, count in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values()))
        return self.bias + sum(self.terms[gram][1] * v for gram, v in values.items()) / norm

    def to_dict(self) -> dict:
        return {"ngram_range": list(NGRAMS), "bias": self.bias,
                "terms": {gram: [round(idf, 6), round(coef, 6)] for gram, (idf, coef) in sorted(self.terms.items())}}

    @classmethod
    def from_dict(cls, data: dict) -> WordModel:
        if list(data.get("ngram_range", [])) != list(NGRAMS):
            raise ValueError(f"word ngram_range {data.get('ngram_range')!r}, expected {list(NGRAMS)}")
        terms = {str(gram): (float(pair[0]), float(pair[1])) for gram, pair in dict(data["terms"]).items()}
        bias = float(data["bias"])
        if not all(math.isfinite(x) for pair in terms.values() for x in pair) or not math.isfinite(bias):
            raise ValueError("word terms and bias must be finite numbers")
        return cls(terms, bias)


def train_words(texts: list[str], labels: np.ndarray, strength: float, min_df: int) -> WordModel:
    """Fit TF-IDF (word unigrams and bigrams, sublinear tf) and balanced logistic regression with scikit-learn."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=NGRAMS, min_df=min_df, sublinear_tf=True)
    features = vectorizer.fit_transform(texts)
    fit = LogisticRegression(C=strength, class_weight="balanced", max_iter=5000).fit(features, labels)
    idf, coef = vectorizer.idf_, fit.coef_[0]
    terms = {gram: (float(idf[column]), float(coef[column])) for gram, column in vectorizer.vocabulary_.items()}
    return WordModel(terms, float(fit.intercept_[0]))
