"""The JSON shapes of search results, passages and citations, shared by the API and the CLI."""

from __future__ import annotations

from qa.corpus import Document
from qa.search import Hit, Outcome
from qa.splitter import Passage


def citation(document: Document, passage: Passage) -> dict:
    section = passage.section_path
    parts = [f"\"{document.title}\""]
    if document.publisher:
        parts.append(document.publisher)
    if section:
        parts.append(f"section \"{section}\"")
    if document.reviewed:
        parts.append(f"reviewed {document.reviewed}")
    if document.url:
        parts.append(document.url)
    return {
        "title": document.title,
        "publisher": document.publisher,
        "section": section,
        "reviewed": document.reviewed,
        "url": document.url,
        "text": ", ".join(parts),
    }


def passage_body(passage: Passage, document: Document) -> dict:
    return {
        "passage_id": passage.id,
        "doc_id": passage.doc_id,
        "text": passage.text,
        "section": passage.section_path,
        "start": passage.start,
        "end": passage.end,
        "citation": citation(document, passage),
    }


def hit_body(rank: int, hit: Hit, document: Document) -> dict:
    body = {"rank": rank, "score": hit.score, **passage_body(hit.passage, document), "highlights": hit.highlights,
            "answer": hit.answer}
    if hit.low_confidence:
        body["low_confidence"] = True
    return body


def outcome_body(outcome: Outcome, documents: dict[str, Document]) -> dict:
    body: dict = {"query": outcome.query, "answered": outcome.answered}
    if outcome.message:
        body["message"] = outcome.message
    if outcome.notice:
        body["notice"] = outcome.notice
    body["results"] = [hit_body(rank, hit, documents[hit.passage.doc_id])
                       for rank, hit in enumerate(outcome.hits, start=1)]
    return body


def search_body(outcome: Outcome, documents: dict[str, Document], took_ms: float) -> dict:
    return {**outcome_body(outcome, documents), "took_ms": round(took_ms, 2)}
