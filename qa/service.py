"""Wires settings to a ready Searcher: index, encoder, notices, lay terms and retrieval settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from qa.corpus import corpus_file
from qa.embedding import Encoder, load_encoder
from qa.errors import QAError
from qa.index import load_index
from qa.notices import load_notices
from qa.query import load_lay_terms
from qa.search import RetrievalSettings, Searcher

log = logging.getLogger(__name__)

# What a corpus may bring beside it; the guide's own live in corpus/.
CORPUS_FILES = {"NOTICES_FILE": "notices.json", "LAY_TERMS_FILE": "lay_terms.tsv", "RETRIEVAL_FILE": "retrieval.json"}


def resolve_corpus_files(settings: dict, corpus_path: str | Path | None) -> dict:
    """Settings with each unset corpus file (notices, lay terms, retrieval settings) found beside the corpus."""
    resolved = dict(settings)
    for key, name in CORPUS_FILES.items():
        if not resolved.get(key) and corpus_path:
            resolved[key] = str(corpus_file(corpus_path, name))
    return resolved


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


def open_searcher(settings: dict, encoder: Encoder | None = None) -> Searcher:
    """Load everything a Searcher needs once; raises QAError with a message fit for the operator."""
    # The index is checked against the corpus it was built from; `serve` also checks --corpus and rebuilds.
    index = load_index(settings["INDEX_DIR"], model=settings["MODEL"], check_corpus=settings["CHECK_CORPUS"])
    settings = resolve_corpus_files(settings, index.manifest["corpus"].get("path"))
    try:
        notices = load_notices(settings["NOTICES_FILE"])
        lay_terms = load_lay_terms(settings["LAY_TERMS_FILE"])
    except ValueError as exc:
        raise QAError(str(exc)) from None
    retrieval = load_retrieval_settings(settings["RETRIEVAL_FILE"], index.manifest)
    encoder = encoder or load_encoder(settings["MODEL"], backend=settings.get("ENCODER_BACKEND"),
                                      threads=settings.get("ENCODER_THREADS") or 0,
                                      spin_us=settings.get("ENCODER_SPIN_US"),
                                      onnx_cache=settings.get("ONNX_CACHE") or None)
    if notices.urgent is not None:
        # The semantic check's example sentences: encoded on first use, then read from a small cache file.
        notices.urgent.attach_encoder(encoder, Path(settings["INDEX_DIR"]) / "cache")
    return Searcher(index, encoder, retrieval, lay_terms, notices)
