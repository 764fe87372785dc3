"""Response bodies built from the API's models (qa/web/schemas.py), for the HTTP API and ``qa search --json``."""

from __future__ import annotations

from qa.corpus.documents import Document
from qa.corpus.splitter import Passage
from qa.search.searcher import Hit, Outcome
from qa.web.schemas import (
    BatchEntry,
    BatchResponse,
    Citation,
    ErrorDetail,
    Notice,
    PassageBody,
    Result,
    SearchResponse,
    dump,
)


def citation(document: Document, passage: Passage) -> Citation:
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
    return Citation(title=document.title, publisher=document.publisher, section=section, reviewed=document.reviewed,
                    url=document.url, text=", ".join(parts))


def _passage_fields(passage: Passage, document: Document) -> dict:
    return {"passage_id": passage.id, "doc_id": passage.doc_id, "text": passage.text, "section": passage.section_path,
            "start": passage.start, "end": passage.end, "citation": citation(document, passage)}


def passage_body(passage: Passage, document: Document) -> dict:
    return dump(PassageBody(**_passage_fields(passage, document)))


def result(rank: int, hit: Hit, document: Document) -> Result:
    extra = {"low_confidence": True} if hit.low_confidence else {}
    return Result(rank=rank, score=hit.score, **_passage_fields(hit.passage, document), highlights=hit.highlights,
                  answer=hit.answer, **extra)


def _answer_fields(outcome: Outcome, documents: dict[str, Document]) -> dict:
    fields: dict = {"query": outcome.query, "answered": outcome.answered}
    if outcome.message:
        fields["message"] = outcome.message
    if outcome.notice:
        fields["notice"] = Notice(**outcome.notice)
    if outcome.phrase_matched is not None:
        fields["phrase_matched"] = outcome.phrase_matched
    fields["results"] = [result(rank, hit, documents[hit.passage.doc_id])
                         for rank, hit in enumerate(outcome.hits, start=1)]
    return fields


def search_body(outcome: Outcome, documents: dict[str, Document], took_ms: float, index_id: str) -> dict:
    return dump(SearchResponse(**_answer_fields(outcome, documents), took_ms=round(took_ms, 2), index_id=index_id))


def batch_entry(item_id, outcome: Outcome | None = None, documents: dict[str, Document] | None = None,
                error: dict | None = None) -> BatchEntry:
    if error is not None:
        return BatchEntry(id=item_id, error=ErrorDetail(**error))
    return BatchEntry(id=item_id, **_answer_fields(outcome, documents))


def batch_body(entries: list[BatchEntry], took_ms: float, index_id: str) -> dict:
    return dump(BatchResponse(results=entries, took_ms=round(took_ms, 2), index_id=index_id))
