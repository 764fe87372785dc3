"""The semantic check's example sentences: encoded once with the search's model, kept in a small cache file, and
compared with the query vector the search already computed."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

from qa.storage import save_cache
from qa.text import plain_typography
from qa.urgent.rules import SemanticSettings


class ExampleVectors:
    """The urgent and calm examples' vectors for one encoder: encoded on first use only, and stored in
    ``cache_dir`` under a name made of the model and the examples' hash, so a later start reads them."""

    def __init__(self, semantic: SemanticSettings, encoder, cache_dir: str | Path | None = None) -> None:
        self.examples = {kind: list(sentences) for kind, sentences in semantic.examples.items()}
        self.encoder = encoder
        self.cache_path = Path(cache_dir) / f"urgent-examples-{fingerprint(encoder.name, self.examples)}.npz" \
            if cache_dir else None
        self._vectors: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return all(self.examples.values())

    def vectors(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = self._read_cache() or self._encode()
        return self._vectors

    def nearest(self, vector: np.ndarray, weight: float) -> dict:
        """The nearest urgent and calm examples to the query vector, the margin between them, and the margin's
        contribution to the rules' score at ``weight``."""
        vectors = self.vectors()
        found = {}
        for kind in self.examples:
            sims = vectors[kind] @ vector
            best = int(np.argmax(sims))
            found[kind] = (self.examples[kind][best], float(sims[best]))
        margin = found["urgent"][1] - found["calm"][1]
        return {"urgent": found["urgent"], "calm": found["calm"], "margin": margin, "contribution": weight * margin}

    def _encode(self) -> dict[str, np.ndarray]:
        vectors = {kind: self.encoder.encode([plain_typography(s) for s in sentences])
                   for kind, sentences in self.examples.items()}
        save_cache(self.cache_path, lambda partial: np.savez(partial, **vectors))
        return vectors

    def _read_cache(self) -> dict[str, np.ndarray] | None:
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        try:
            with np.load(self.cache_path) as stored:
                vectors = {kind: stored[kind] for kind in self.examples}
        except (OSError, ValueError, KeyError):
            return None
        sizes_match = all(len(vectors[k]) == len(self.examples[k]) for k in self.examples)
        return vectors if sizes_match and vectors["urgent"].shape[1] == self.encoder.dim else None


def fingerprint(model: str, examples: dict[str, list[str]]) -> str:
    text = json.dumps([model, examples], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
