"""What the model and BM25 read for each passage: its text, after the context that names its topic.

The context is the document's title and the passage's section path. A document without a title (many corpora come
so) gets its opening sentence instead: a long answer seldom names its topic in every passage, so without it a
passage from the middle of "Acromegaly" would not say what it is about.
"""

from __future__ import annotations

from collections.abc import Iterable

from qa.corpus.documents import Document
from qa.corpus.splitter import SECTION_SEPARATOR, Passage, sub_unit_spans
from qa.text import plain_typography

OPENING_MAX_CHARS = 200  # the opening sentence, cut at a word before this


def document_contexts(documents: dict[str, Document], passages: Iterable[Passage]) -> dict[str, str]:
    """Per document id, what names its topic: the title, or for an untitled document the first sentence of its
    first passage (at most OPENING_MAX_CHARS, cut at a word)."""
    contexts = {doc_id: document.title for doc_id, document in documents.items() if document.titled}
    for passage in passages:
        if passage.doc_id not in contexts:
            units = sub_unit_spans(passage.text)
            start, end = units[0] if units else (0, len(passage.text))
            opening = " ".join(passage.text[start:end].split())
            if len(opening) > OPENING_MAX_CHARS:
                opening = opening[:OPENING_MAX_CHARS].rsplit(" ", 1)[0]
            contexts[passage.doc_id] = opening
    return contexts


def embedding_input(context: str, passage: Passage) -> str:
    """What the model sees: the document's context and the section path, then the passage."""
    heading = SECTION_SEPARATOR.join([context, *passage.section])
    return plain_typography(f"{heading}\n{passage.text}")


def lexical_input(context: str, passage: Passage, with_title: bool = True) -> str:
    """What BM25 indexes: the document's context (when the corpus has several documents: a title that every
    passage shares tells them nothing apart), the section path and the passage."""
    return "\n".join([*([context] if with_title else []), *passage.section, passage.text])
