"""Wires settings to a ready Searcher: index, encoder, notices and their urgent rules, lay terms and retrieval
settings. The one place that knows every layer; HTTP, the command line and evaluation open searchers here."""

from __future__ import annotations

from pathlib import Path

from qa.corpus.files import resolve_corpus_files
from qa.embedding.base import Encoder
from qa.embedding.loading import load_encoder
from qa.errors import QAError
from qa.index.loading import load_index
from qa.search.analysis import load_lay_terms
from qa.search.answerability import load_answerability
from qa.search.examples import load_examples
from qa.search.notices import Notices, read_notices
from qa.search.retrieval import load_retrieval_settings
from qa.search.searcher import Searcher
from qa.urgent.detector import load_urgent


def load_notices(path: str | Path | None) -> Notices:
    """The notice texts of ``path`` with the urgent rules they name (no urgent notice without them)."""
    notices, rules = read_notices(path)
    notices.urgent = load_urgent(rules)
    return notices


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
    cache = Path(settings["INDEX_DIR"]) / "cache"  # example vectors: encoded on first use, then read from here
    if notices.urgent is not None:
        notices.urgent.attach_encoder(encoder, cache)
    try:
        examples = load_examples(settings.get("EXAMPLES_FILE"), index.passages, encoder, cache)
    except QAError as exc:
        raise QAError(f"example questions: {exc}") from None
    answerability = load_answerability(settings.get("ANSWERABILITY_FILE"), index.manifest,
                                       settings.get("EXAMPLES_FILE"), encoder.name)
    return Searcher(index, encoder, retrieval, lay_terms, notices, examples, answerability)
