"""Embedding cache for builds: a passage embedded once is never embedded again while its text is unchanged.

The cache is the previous build itself: every build stores each passage's cache key (a hash of the model, the
embedding scheme and the exact model input) beside its vectors. A new build reuses the vectors of every key it
finds in the live build and embeds only the rest. The cache is therefore bounded by the corpus and pruned with
the builds it belongs to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.index.layout import KEYS_FILE, MANIFEST, UNIT_ROWS

EMBED_SCHEME = "late-chunking-v1"  # how the model input and its spans become vectors; a change empties the cache


def cache_key(model: str, text: str, spans: list[tuple[int, int]], plain_mode: str) -> str:
    payload = json.dumps([EMBED_SCHEME, model, text, spans, plain_mode], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Embedded:
    """One passage's vectors: with its context, its own text alone, each of its sentences and list items, and
    (only when the build encodes them) each sentence and list item embedded on its own."""

    context: np.ndarray
    plain: np.ndarray
    units: np.ndarray
    plain_units: np.ndarray


class EmbeddingCache:
    """Vectors by cache key, read from a finished build; empty when there is none or it cannot be read."""

    def __init__(self, entries: dict[str, Embedded] | None = None) -> None:
        self.entries = entries or {}

    def get(self, key: str) -> Embedded | None:
        return self.entries.get(key)

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def from_build(cls, path: Path, model: str, read_vectors, expected: list[str] | None) -> EmbeddingCache:
        """The entries of the build at ``path`` if it was made with ``model``; ``read_vectors(name)`` reads one of
        its vector files as an array. ``expected`` are the keys its passages should have, recomputed from its own
        passages: a row whose stored key differs is dropped. A damaged or foreign build gives an empty cache."""
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("model") != model or manifest.get("embedding", {}).get("scheme") != EMBED_SCHEME:
                return cls()
            keys = json.loads((path / KEYS_FILE).read_text(encoding="utf-8"))
            context, plain, units = read_vectors("context"), read_vectors("plain"), read_vectors("units")
            plain_units = read_vectors("plain_units")
            unit_rows = np.load(path / UNIT_ROWS, allow_pickle=False)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError):
            return cls()
        if not (isinstance(keys, list) and len(keys) == len(context) == len(plain) and len(unit_rows) == len(units)
                and len(plain_units) in (0, len(units)) and expected is not None and len(expected) == len(keys)):
            return cls()
        bounds = np.searchsorted(unit_rows, np.arange(len(keys) + 1))
        sound = _unit_length(context) & _unit_length(plain)
        unit_sound = _unit_length(units) & (_unit_length(plain_units) if len(plain_units) else True)
        entries = {}
        for row, key in enumerate(keys):
            units_of = slice(bounds[row], bounds[row + 1])
            if sound[row] and np.all(unit_sound[units_of]) and key == expected[row]:
                entries[key] = Embedded(context[row], plain[row], units[units_of], plain_units[units_of])
        return cls(entries)


def _unit_length(vectors: np.ndarray) -> np.ndarray:
    """Which rows are finite, L2-normalised vectors: anything else is damage, and is embedded again."""
    if not len(vectors):
        return np.ones(0, dtype=bool)
    norms = np.linalg.norm(vectors, axis=1)
    return np.isfinite(norms) & (np.abs(norms - 1.0) < 1e-3)
