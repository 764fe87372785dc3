"""What the model and BM25 read for each passage: its text with the document title and section path."""

from __future__ import annotations

from qa.corpus.documents import Document
from qa.corpus.splitter import Passage
from qa.text import plain_typography


def embedding_input(document: Document, passage: Passage, text: str | None = None) -> str:
    """What the model sees: the document title and section path as context, then the passage (or a part)."""
    context = " › ".join([document.title, *passage.section])
    return plain_typography(f"{context}\n{passage.text if text is None else text}")


def lexical_input(document: Document, passage: Passage, with_title: bool = True) -> str:
    """What BM25 indexes: the document title (when the corpus has several documents: a title that every
    passage shares tells them nothing apart), the section path and the passage."""
    return "\n".join([*([document.title] if with_title else []), *passage.section, passage.text])
