"""Loading the stored index, with checks against staleness and corruption."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.corpus.documents import Document, load_corpus
from qa.corpus.splitter import Passage
from qa.embedding.base import canonical_model_name
from qa.errors import CorpusError, IndexLoadError
from qa.index.ann import open_ann
from qa.index.layout import (
    DOCUMENTS,
    KEYS_FILE,
    LEXICAL,
    PASSAGES,
    PLAIN_UNIT_VECTORS,
    PLAIN_VECTORS,
    UNIT_ROWS,
    UNIT_SPANS,
    UNIT_VECTORS,
    VECTORS,
    VOCABULARY,
    index_id,
    live_path,
    pipeline_settings,
    read_manifest,
    rebuild_hint,
    search_file,
)
from qa.index.lexical import LexicalIndex
from qa.index.vocabulary import Vocabulary


@dataclass
class LoadedIndex:
    """A verified index in memory."""

    path: Path
    manifest: dict
    vectors: object  # faiss.Index over whole passages
    unit_vectors: object  # faiss.Index over sentences and list items
    unit_rows: np.ndarray  # passage row of each unit vector
    unit_spans: np.ndarray  # (units, 2) character span of each unit within its passage's text
    plain_vectors: object  # faiss.Index over the passages' own words (no title or section)
    plain_unit_vectors: object  # faiss.Index over the units embedded on their own, or empty
    vocabulary: Vocabulary
    passages: list[Passage]
    documents: dict[str, Document]
    lexical: LexicalIndex
    position: dict[str, int]
    passage_search: object = None  # what finds the nearest passages: ``vectors`` itself, or an approximate index
    unit_search: object = None

    @cached_property
    def id(self) -> str:
        """The short id of this index (qa/index/layout.py): computed once, since the manifest never changes."""
        return index_id(self.manifest)

    def passage(self, passage_id: str) -> Passage | None:
        row = self.position.get(passage_id)
        return None if row is None else self.passages[row]


def staleness(index_dir: str | Path, corpus_path: str | Path | None = None, model: str | None = None,
              check_corpus: bool = True) -> str | None:
    """Why the index cannot serve this corpus and model, or None when it is fresh.

    The corpus is compared with the one named, else with the path recorded at build time if it still exists.
    """
    manifest = read_manifest(index_dir)
    if model is not None and canonical_model_name(model) != manifest.get("model"):
        return (f"index in {index_dir} was built with model {manifest.get('model')!r}, not {model!r}; "
                f"rebuild with `{rebuild_hint(index_dir, corpus_path, model)}`")
    if manifest["pipeline"] != pipeline_settings():
        return (f"index in {index_dir} was built by another version of the passage pipeline; "
                f"rebuild with `{rebuild_hint(index_dir, corpus_path)}`")
    if check_corpus and corpus_path and not Path(corpus_path).exists():
        return f"corpus {corpus_path} does not exist, so the index in {index_dir} cannot be checked against it"
    corpus_path = corpus_path or manifest["corpus"].get("path")
    if check_corpus and corpus_path and Path(corpus_path).exists():
        try:
            current = load_corpus(corpus_path).content_hash
        except CorpusError as exc:
            return f"corpus {corpus_path} cannot be read: {exc}"
        if current != manifest["corpus"].get("hash"):
            return (f"corpus {corpus_path} changed since the index in {index_dir} was built; "
                    f"rebuild with `{rebuild_hint(index_dir, corpus_path)}`")
    return None


def load_index(index_dir: str | Path, corpus_path: str | Path | None = None, model: str | None = None,
               check_corpus: bool = True) -> LoadedIndex:
    """Load and verify the live index; refuses a stale, mismatched or corrupt one with a rebuild hint."""

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    reason = staleness(index_dir, corpus_path, model, check_corpus)
    if reason:
        raise IndexLoadError(reason)
    # Resolve `current` once: a build that swaps it meanwhile cannot mix two builds' files in one load.
    path = live_path(index_dir).resolve()
    manifest = read_manifest(path)
    hint = rebuild_hint(index_dir)
    try:
        # Memory-mapped: every worker process shares one copy of the vectors in the page cache.
        vectors = open_ann(path / VECTORS)
        unit_vectors = open_ann(path / UNIT_VECTORS)
        specs = manifest.get("search_index") or {}
        search = {name: open_ann(path / search_file(name), specs[name]) if specs.get(name, {}).get("type", "flat")
                  != "flat" else flat for name, flat in ((VECTORS, vectors), (UNIT_VECTORS, unit_vectors))}
        unit_rows = np.load(path / UNIT_ROWS, allow_pickle=False)
        unit_spans = np.load(path / UNIT_SPANS, allow_pickle=False)
        keys = json.loads((path / KEYS_FILE).read_text(encoding="utf-8"))  # the next build's embedding cache
        plain_vectors = open_ann(path / PLAIN_VECTORS)
        plain_unit_vectors = open_ann(path / PLAIN_UNIT_VECTORS)
        vocabulary = Vocabulary.load(path / VOCABULARY)
        passages = [Passage.from_record(r) for r in read_jsonl(path / PASSAGES)]
        documents = {r["id"]: Document.from_record(r) for r in read_jsonl(path / DOCUMENTS)}
        lexical = LexicalIndex.load(path / LEXICAL)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
        raise IndexLoadError(f"index in {index_dir} is corrupt ({type(exc).__name__}: {exc}); "
                             f"rebuild with `{hint}`") from None
    expected = manifest.get("passages")
    consistent = (vectors.ntotal == len(passages) == expected == lexical.size and vectors.d == manifest.get("dim")
                  and isinstance(keys, list) and len(keys) == len(passages)
                  and unit_vectors.ntotal == len(unit_rows) == len(unit_spans) and unit_vectors.d == vectors.d
                  and plain_vectors.ntotal == vectors.ntotal and plain_vectors.d == vectors.d
                  and plain_unit_vectors.ntotal in (0, unit_vectors.ntotal) and plain_unit_vectors.d == vectors.d
                  and unit_spans.ndim == 2 and unit_spans.shape[1] == 2
                  and (len(unit_rows) == 0 or 0 <= int(unit_rows.min()) <= int(unit_rows.max()) < len(passages))
                  and bool(np.all(np.diff(unit_rows) >= 0)))
    if not consistent:
        raise IndexLoadError(f"index in {index_dir} is inconsistent ({vectors.ntotal} vectors, {len(passages)} "
                             f"passages, manifest says {expected}); rebuild with `{hint}`")
    for passage in passages:
        document = documents.get(passage.doc_id)
        if document is None or document.text[passage.start:passage.end] != passage.text:
            raise IndexLoadError(f"index in {index_dir} is corrupt: passage {passage.id} is not a slice of its "
                                 f"document; rebuild with `{hint}`")
    if len(unit_rows):
        lengths = np.array([len(p.text) for p in passages])[unit_rows]
        if not (np.all(unit_spans[:, 0] >= 0) and np.all(unit_spans[:, 0] < unit_spans[:, 1])
                and np.all(unit_spans[:, 1] <= lengths)):
            raise IndexLoadError(f"index in {index_dir} is corrupt: a sentence span lies outside its passage; "
                                 f"rebuild with `{hint}`")
    return LoadedIndex(path=path, manifest=manifest, vectors=vectors, unit_vectors=unit_vectors,
                       unit_rows=unit_rows, unit_spans=unit_spans, plain_vectors=plain_vectors,
                       plain_unit_vectors=plain_unit_vectors, passage_search=search[VECTORS],
                       unit_search=search[UNIT_VECTORS], vocabulary=vocabulary,
                       passages=passages, documents=documents, lexical=lexical,
                       position={p.id: row for row, p in enumerate(passages)})


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL file the build wrote (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def stored_vectors(flat) -> np.ndarray:
    """A zero-copy (n, d) view of the vectors inside a flat FAISS index."""
    import faiss

    if flat.ntotal == 0:
        return np.zeros((0, flat.d), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
