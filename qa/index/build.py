"""Building an index: split, embed and write a complete build, then swap it in with one atomic rename."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.corpus.documents import Corpus, Document, load_corpus
from qa.corpus.files import BUILD, corpus_file
from qa.corpus.splitter import Passage, SplitOptions, split_document, sub_unit_spans
from qa.embedding.base import Encoder
from qa.embedding.loading import LazyEncoder
from qa.errors import CorpusError
from qa.index.ann import build_ann, choose_index_spec
from qa.index.embedding_cache import EMBED_SCHEME, Embedded, EmbeddingCache, cache_key
from qa.index.inputs import document_contexts, embedding_input, lexical_input
from qa.index.layout import (
    BUILDS_DIR,
    CURRENT_LINK,
    DOCUMENTS,
    KEYS_FILE,
    LEXICAL,
    MANIFEST,
    PASSAGES,
    PLAIN_UNIT_VECTORS,
    PLAIN_VECTORS,
    UNIT_ROWS,
    UNIT_SPANS,
    UNIT_VECTORS,
    VECTORS,
    VOCABULARY,
    make_manifest,
    search_file,
)
from qa.index.lexical import LexicalIndex
from qa.index.loading import read_jsonl, stored_vectors
from qa.index.vocabulary import Vocabulary
from qa.storage import write_text_atomic


@dataclass(frozen=True)
class BuildOptions:
    """Build parameters, recorded in the manifest; they never make an index stale."""

    split: SplitOptions = SplitOptions()
    sub_units: bool = True  # also keep a vector for each sentence and list item (pooled: no extra encoding)
    # How each passage's own words are embedded for confidence: "pooled" from the one forward pass (no extra
    # cost), or "encoded": the passage and each of its sentences and list items embedded again on their own,
    # without context. That sharpens abstention on short answers for about two more encodes of the corpus.
    plain_vectors: str = "pooled"


PLAIN_MODES = ("pooled", "encoded")


def corpus_build_options(corpus_path: str | Path, sub_units: bool = True) -> BuildOptions:
    """The build options a corpus asks for in its ``build.json`` (``{"plain_vectors": "encoded"}``), else the
    defaults; ``sub_units=False`` (``--no-sub-units``) always wins."""
    path = corpus_file(corpus_path, BUILD)
    values: dict = {}
    if path.is_file():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusError(f"build options {path} are unreadable ({exc})") from None
        unknown = set(values) - {"plain_vectors", "sub_units", "_comment"} if isinstance(values, dict) else None
        if unknown is None or unknown:
            raise CorpusError(f"build options {path} must be a JSON object with plain_vectors and/or sub_units; "
                              f"unknown: {sorted(unknown or [])}")
        if values.get("plain_vectors", "pooled") not in PLAIN_MODES:
            raise CorpusError(f"build options {path}: plain_vectors must be one of {', '.join(PLAIN_MODES)}")
        if not isinstance(values.get("sub_units", True), bool):
            raise CorpusError(f"build options {path}: sub_units must be true or false")
    return BuildOptions(sub_units=sub_units and values.get("sub_units", True),
                        plain_vectors=values.get("plain_vectors", "pooled"))


KEEP_BUILDS = 2  # the live build and the one before it


def build_index(corpus_path: str | Path, index_dir: str | Path, encoder: Encoder,
                options: BuildOptions | None = None, progress: bool = False, batch_size: int = 32) -> dict:
    """Split, embed and index a corpus; the new index goes live only once it is complete. Without ``options``
    the corpus's own ``build.json`` decides, else the defaults."""
    import faiss

    started = time.time()
    options = options or corpus_build_options(corpus_path)
    if not hasattr(encoder, "encode_spans"):
        # The ONNX encoder gives pooled vectors only; sentence vectors are pooled from torch's token vectors.
        encoder = LazyEncoder(encoder.name)
    corpus = load_corpus(corpus_path)
    passages, by_id = _split(corpus, options.split)
    if not passages:
        raise CorpusError(f"corpus {corpus_path} produced no passages")
    index_dir = Path(index_dir)
    builds = index_dir / BUILDS_DIR
    builds.mkdir(parents=True, exist_ok=True)
    _prune(builds, keep=None)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=builds))
    try:
        # What names each document's topic, for the model and BM25: its title, or an untitled one's opening.
        contexts = document_contexts(by_id, passages)
        embedded, reused = _embed(passages, contexts, encoder, _previous_cache(index_dir, encoder.name), options,
                                  progress, batch_size)
        dim = int(embedded.context.shape[1])
        for name, block in ((VECTORS, embedded.context), (UNIT_VECTORS, embedded.units),
                            (PLAIN_VECTORS, embedded.plain), (PLAIN_UNIT_VECTORS, embedded.plain_units)):
            flat = faiss.IndexFlatIP(dim)
            flat.add(np.ascontiguousarray(block))
            _write_faiss(faiss, flat, work / name)
        # Exact search up to a size, an approximate index above it (qa/ann.py); the flat files stay, for scoring.
        search_specs = {}
        for name, block in ((VECTORS, embedded.context), (UNIT_VECTORS, embedded.units)):
            spec = choose_index_spec(len(block), dim)
            search_specs[name] = spec
            if spec["type"] != "flat":
                _write_faiss(faiss, build_ann(block, spec), work / search_file(name))
        np.save(work / UNIT_SPANS, embedded.unit_spans)
        (work / KEYS_FILE).write_text(json.dumps(embedded.keys), encoding="utf-8")
        np.save(work / UNIT_ROWS, embedded.unit_rows)
        # Every word of every document (headings and lead-ins included): what the corpus talks about.
        Vocabulary.from_texts(f"{d.title}\n{d.text}" for d in corpus.documents).save(work / VOCABULARY)
        # BM25 sees what the model sees: a passage rarely repeats its document's title, which names its topic.
        with_title = len(corpus.documents) > 1
        LexicalIndex.build([lexical_input(contexts[p.doc_id], p, with_title) for p in passages]).save(work / LEXICAL)
        _write_jsonl(work / PASSAGES, (p.to_record() for p in passages))
        _write_jsonl(work / DOCUMENTS, (d.to_record() for d in corpus.documents))
        manifest = make_manifest(
            model=encoder.name, dim=dim, corpus_path=corpus_path, corpus_hash=corpus.content_hash,
            documents=len(corpus), passages=len(passages),
            build={"target_chars": options.split.target_chars, "max_chars": options.split.max_chars,
                   "sub_units": options.sub_units, "plain_vectors": options.plain_vectors},
            embedding={"scheme": EMBED_SCHEME, "embedded": len(passages) - reused, "reused": reused},
            search_index=search_specs, started=started)
        # The manifest is written last: a directory without one is never a complete build.
        write_text_atomic(work / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        final = builds / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        final = Path(tempfile.mkdtemp(prefix=final.name + "-", dir=builds))
        os.replace(work, final)
        _point_current(index_dir, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _prune(builds, keep=final)
    return manifest


@dataclass
class _Vectors:
    keys: list[str]
    context: np.ndarray  # (passages, dim): title, section path and text
    plain: np.ndarray  # (passages, dim): the passage's own tokens only
    units: np.ndarray  # (units, dim): each sentence and list item
    plain_units: np.ndarray  # (units, dim) when the build encodes them on their own, else (0, dim)
    unit_rows: np.ndarray  # passage row of each unit, ascending
    unit_spans: np.ndarray  # (units, 2): character span of each unit within its passage's text


def _embed(passages: list[Passage], contexts: dict[str, str], encoder: Encoder, cache: EmbeddingCache,
           options: BuildOptions, progress: bool, batch_size: int) -> tuple[_Vectors, int]:
    """Every passage's vectors from one forward pass of the model over its text with context (late chunking):
    the whole input, the passage's own tokens and each sentence and list item are pooled from the same token
    vectors. Passages already in ``cache`` are not embedded again. Returns the vectors and the reuse count."""
    inputs, unit_spans, spans, keys = _model_inputs(passages, contexts, encoder.name, options)
    found = {key: hit for key in keys if (hit := cache.get(key)) is not None}
    todo = list(dict.fromkeys(key for key in keys if key not in found))
    if todo:
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        todo_inputs, todo_spans = [inputs[first[k]] for k in todo], [spans[first[k]] for k in todo]
        vectors, span_vectors = encoder.encode_spans(todo_inputs, todo_spans, batch_size=batch_size, progress=progress)
        for key, vector, pooled in zip(todo, vectors, span_vectors):
            found[key] = Embedded(vector, pooled[0], pooled[1:], pooled[:0])
        if options.plain_vectors == "encoded":
            _encode_plain(todo, found, todo_inputs, todo_spans, encoder, progress, batch_size)
    rows = [found[key] for key in keys]
    dim = rows[0].context.shape[0]
    unit_blocks = [row.units.reshape(-1, dim) for row in rows]
    plain_unit_blocks = [row.plain_units.reshape(-1, dim) for row in rows]
    return _Vectors(
        keys=keys,
        context=np.stack([row.context for row in rows]).astype(np.float32),
        plain=np.stack([row.plain for row in rows]).astype(np.float32),
        units=(np.concatenate(unit_blocks) if unit_blocks else np.zeros((0, dim))).astype(np.float32),
        plain_units=np.concatenate(plain_unit_blocks).astype(np.float32),
        unit_rows=np.repeat(np.arange(len(rows), dtype=np.int64), [len(b) for b in unit_blocks]),
        unit_spans=np.asarray([span for units in unit_spans for span in units], dtype=np.int32).reshape(-1, 2),
    ), sum(1 for key in keys if key not in todo)


def _model_inputs(passages: list[Passage], contexts: dict[str, str], model: str, options: BuildOptions):
    """Each passage's model input (after its document's context, qa/index/inputs.py), its units' spans in the
    passage, all spans in the input, and its cache key."""
    inputs = [embedding_input(contexts[p.doc_id], p) for p in passages]
    unit_spans = [sub_unit_spans(p.text) if options.sub_units else [] for p in passages]
    spans = []
    for text, passage, units in zip(inputs, passages, unit_spans):
        offset = len(text) - len(passage.text)  # the passage follows its context; typography keeps lengths
        spans.append([(offset, len(text))] + [(offset + start, offset + end) for start, end in units])
    keys = [cache_key(model, text, span, options.plain_vectors) for text, span in zip(inputs, spans)]
    return inputs, unit_spans, spans, keys


def _encode_plain(keys: list[str], found: dict[str, Embedded], inputs: list[str], spans: list, encoder: Encoder,
                  progress: bool, batch_size: int) -> None:
    """Embed each passage, and each of its sentences and list items, on its own without context."""
    texts = [text[start:end] for text, text_spans in zip(inputs, spans) for start, end in text_spans]
    vectors = encoder.encode(texts, batch_size=batch_size, progress=progress)
    at = 0
    for key, text_spans in zip(keys, spans):
        entry = found[key]
        entry.plain, entry.plain_units = vectors[at], vectors[at + 1:at + len(text_spans)]
        at += len(text_spans)


def _previous_cache(index_dir: Path, model: str) -> EmbeddingCache:
    """The live build's vectors, reusable when they were made by the same model and scheme."""
    import faiss

    live = index_dir / CURRENT_LINK
    names = {"context": VECTORS, "plain": PLAIN_VECTORS, "units": UNIT_VECTORS, "plain_units": PLAIN_UNIT_VECTORS}

    def read(kind: str) -> np.ndarray:
        flat = faiss.read_index(str(live / names[kind]))
        return stored_vectors(flat).copy()  # copied while ``flat`` still owns the memory

    if not live.is_dir():
        return EmbeddingCache()
    return EmbeddingCache.from_build(live, model, read, expected=_live_keys(live, model))


def _live_keys(live: Path, model: str) -> list[str] | None:
    """The keys the live build's own passages should have: a stored key that differs lends no vectors."""
    try:
        manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
        options = BuildOptions(sub_units=bool(manifest["build"]["sub_units"]),
                               plain_vectors=str(manifest["build"].get("plain_vectors", "pooled")))
        passages = [Passage.from_record(record) for record in read_jsonl(live / PASSAGES)]
        documents = {record["id"]: Document.from_record(record) for record in read_jsonl(live / DOCUMENTS)}
        return _model_inputs(passages, document_contexts(documents, passages), model, options)[3]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _split(corpus: Corpus, options: SplitOptions) -> tuple[list[Passage], dict[str, Document]]:
    passages = [p for document in corpus.documents for p in split_document(document, options)]
    return passages, {d.id: d for d in corpus.documents}


def _point_current(index_dir: Path, target: Path) -> None:
    """Swap the ``current`` symlink in one atomic rename."""
    link = index_dir / CURRENT_LINK
    temporary = index_dir / f".{CURRENT_LINK}.{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(target.relative_to(index_dir))
    os.replace(temporary, link)


def _prune(builds: Path, keep: Path | None) -> None:
    """Remove temporary builds whose builder died, and all but the newest complete builds."""
    for path in builds.iterdir():
        if path.name.startswith(".tmp-") and not _builder_alive(path.name):
            shutil.rmtree(path, ignore_errors=True)
    if keep is None:
        return
    complete = sorted((p for p in builds.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    for path in [p for p in complete if p != keep][KEEP_BUILDS - 1:]:
        shutil.rmtree(path, ignore_errors=True)


def _builder_alive(name: str) -> bool:
    """Whether the process that named ``.tmp-<pid>-…`` still runs (another build in progress)."""
    try:
        pid = int(name.split("-")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_STRERROR = {os.strerror(code): code for code in errno.errorcode}


def _write_faiss(faiss, flat, path: Path) -> None:
    """faiss reports a failed write (a full disk) as RuntimeError "... (No space left on device)": make it the
    OSError it is, so the command line prints one clear line."""
    try:
        faiss.write_index(flat, str(path))
    except RuntimeError as exc:
        reason = str(exc).rstrip().rstrip(")").rpartition("(")[2]
        if reason in _STRERROR:
            raise OSError(_STRERROR[reason], reason, str(path)) from None
        raise


def _write_jsonl(path: Path, records) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

