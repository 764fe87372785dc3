"""A deterministic hashing encoder: a small fake for fast tests, not a real model."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from qa.embedding.base import HASH_PREFIX, Span


class HashingEncoder:
    """Deterministic bag-of-words hashing encoder: a small fake for fast tests, not a real model."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"{HASH_PREFIX}{dim}"

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w+", text.casefold()):
                bucket = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
                vectors[row, bucket % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def encode_spans(self, texts: list[str], spans: list[list[Span]], batch_size: int = 64,
                     progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.encode(texts), [self.encode([text[a:b] for a, b in text_spans]).reshape(-1, self.dim)
                                    for text, text_spans in zip(texts, spans)]
