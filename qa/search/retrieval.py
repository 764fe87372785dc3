"""Retrieval settings: how evidence is fused and when to abstain, read from a corpus's ``retrieval.json``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

from qa.errors import QAError
from qa.search.fusion import METHODS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalSettings:
    """How evidence is fused and when to abstain. ``python -m qa eval --calibrate`` chooses ``dense_weight`` and
    ``abstain_below`` for one corpus; these defaults are the ones measured safe on every corpus tried."""

    fusion: str = "adaptive"  # convex with a per-question weight, or "convex", "rrf", "dense", "lexical"
    dense_weight: float = 0.5  # share of the cosine in the convex combination (qa/search/fusion.py); "convex" only
    rrf_k: int = 60
    candidates: int = 100
    coverage_weight: float = 0.4  # weight of the query terms' lexical coverage by the best passage
    foreign_term_penalty: float = 0.4  # confidence lost when the question names a term the corpus never uses
    abstain_below: float = 0.0  # confidence under which the service abstains

    @classmethod
    def from_dict(cls, values: dict) -> RetrievalSettings:
        known = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        settings = cls(**known)
        if settings.fusion not in METHODS:
            raise ValueError(f"fusion must be one of {', '.join(METHODS)}, not {settings.fusion!r}")
        if not 0.0 <= settings.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be from 0 to 1, not {settings.dense_weight!r}")
        return settings

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def load_retrieval_settings(path: str | Path | None, manifest: dict | None = None) -> RetrievalSettings:
    """The settings in ``path``; calibrated ones apply only to the corpus and model they were measured on."""
    if not path or not Path(path).is_file():
        return RetrievalSettings()
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(values, dict):
            raise TypeError("the file must hold a JSON object")
        settings = RetrievalSettings.from_dict(values)
    except (ValueError, TypeError) as exc:
        raise QAError(f"retrieval settings {path} are malformed: {exc}") from None
    if manifest is not None and not applies_to(values, manifest):
        log.warning("retrieval settings %s were calibrated on another corpus or model; using the uncalibrated "
                    "defaults (run `python -m qa eval --calibrate` on this corpus)", path)
        return RetrievalSettings()
    return settings


def applies_to(values: dict, manifest: dict) -> bool:
    """Whether settings tagged by calibration were measured on this index's corpus and model (untagged ones,
    written by hand, always apply)."""
    if "corpus_hash" in values and values["corpus_hash"] != manifest["corpus"].get("hash"):
        return False
    return "model" not in values or values["model"] == manifest["model"]
