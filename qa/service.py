"""Wires settings to a ready Searcher: index, encoder, notices, lay terms and retrieval settings."""

from __future__ import annotations

import json
from pathlib import Path

from qa.embedding import Encoder, load_encoder
from qa.errors import QAError
from qa.index import load_index
from qa.notices import load_notices
from qa.query import load_lay_terms
from qa.search import RetrievalSettings, Searcher


def load_retrieval_settings(path: str | Path | None) -> RetrievalSettings:
    if not path or not Path(path).is_file():
        return RetrievalSettings()
    try:
        return RetrievalSettings.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise QAError(f"retrieval settings {path} are malformed: {exc}") from None


def open_searcher(settings: dict, encoder: Encoder | None = None) -> Searcher:
    """Load everything a Searcher needs once; raises QAError with a message fit for the operator."""
    # The index is checked against the corpus it was built from; `serve` also checks --corpus and rebuilds.
    index = load_index(settings["INDEX_DIR"], model=settings["MODEL"], check_corpus=settings["CHECK_CORPUS"])
    try:
        notices = load_notices(settings["NOTICES_FILE"])
        lay_terms = load_lay_terms(settings["LAY_TERMS_FILE"])
    except ValueError as exc:
        raise QAError(str(exc)) from None
    retrieval = load_retrieval_settings(settings["RETRIEVAL_FILE"])
    encoder = encoder or load_encoder(settings["MODEL"], backend=settings.get("ENCODER_BACKEND"),
                                      threads=settings.get("ENCODER_THREADS") or 0,
                                      onnx_cache=settings.get("ONNX_CACHE") or None)
    return Searcher(index, encoder, retrieval, lay_terms, notices)
