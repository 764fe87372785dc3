"""Building an index: split, embed and write a complete build, then swap it in with one atomic rename."""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from qa import __version__
from qa.corpus import Corpus, Document, load_corpus
from qa.embedding import Encoder, canonical_model_name
from qa.errors import CorpusError
from qa.index import (
    BUILDS_DIR,
    CURRENT_LINK,
    DOCUMENTS,
    FORMAT_VERSION,
    LEXICAL,
    MANIFEST,
    PASSAGES,
    PLAIN_VECTORS,
    UNIT_ROWS,
    UNIT_VECTORS,
    VECTORS,
    VOCABULARY,
    embedding_input,
    pipeline_settings,
    plain_typography,
)
from qa.lexical import LexicalIndex
from qa.splitter import Passage, SplitOptions, split_document, sub_units
from qa.vocabulary import Vocabulary

_LIBRARIES = ("faiss-cpu", "numpy", "sentence-transformers", "torch", "transformers", "bm25s", "PyStemmer")


@dataclass(frozen=True)
class BuildOptions:
    """Build parameters, recorded in the manifest; they never make an index stale."""

    split: SplitOptions = SplitOptions()
    sub_units: bool = True  # also embed each sentence and list item (about 5x the vectors of passages alone)


DEFAULT_BUILD = BuildOptions()
KEEP_BUILDS = 2  # the live build and the one before it
_LIBRARIES = ("faiss-cpu", "numpy", "sentence-transformers", "torch", "transformers", "bm25s", "PyStemmer")


def build_index(corpus_path: str | Path, index_dir: str | Path, encoder: Encoder,
                options: BuildOptions = DEFAULT_BUILD, progress: bool = False, batch_size: int = 64) -> dict:
    """Split, embed and index a corpus; the new index goes live only once it is complete."""
    import faiss

    started = time.time()
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
        texts = [embedding_input(by_id[p.doc_id], p) for p in passages]
        plain_texts = [plain_typography(p.text) for p in passages]
        unit_texts, plain_unit_texts, unit_rows = [], [], []
        for row, passage in enumerate(passages if options.sub_units else []):
            for unit in sub_units(passage.text):
                unit_texts.append(embedding_input(by_id[passage.doc_id], passage, unit))
                plain_unit_texts.append(plain_typography(unit))
                unit_rows.append(row)
        # Context (title, section path) helps ranking; the text alone measures how well an answer matches.
        vectors = encoder.encode(texts + unit_texts + plain_texts + plain_unit_texts, batch_size=batch_size,
                                 progress=progress)
        contextual = len(texts) + len(unit_texts)
        for name, block in ((VECTORS, vectors[:len(texts)]), (UNIT_VECTORS, vectors[len(texts):contextual]),
                            (PLAIN_VECTORS, vectors[contextual:])):
            flat = faiss.IndexFlatIP(encoder.dim)
            flat.add(np.ascontiguousarray(block))
            _write_faiss(faiss, flat, work / name)
        np.save(work / UNIT_ROWS, np.asarray(unit_rows, dtype=np.int64))
        # Every word of every document (headings and lead-ins included): what the corpus talks about.
        Vocabulary.from_texts(f"{d.title}\n{d.text}" for d in corpus.documents).save(work / VOCABULARY)
        LexicalIndex.build([f"{' '.join(p.section)}\n{p.text}" for p in passages]).save(work / LEXICAL)
        _write_jsonl(work / PASSAGES, (p.to_record() for p in passages))
        _write_jsonl(work / DOCUMENTS, (d.to_record() for d in corpus.documents))
        manifest = {
            "format": FORMAT_VERSION,
            "model": canonical_model_name(encoder.name),
            "dim": encoder.dim,
            "corpus": {"path": str(Path(corpus_path).resolve()), "hash": corpus.content_hash,
                       "documents": len(corpus)},
            "passages": len(passages),
            "pipeline": pipeline_settings(),
            "build": {"target_chars": options.split.target_chars, "max_chars": options.split.max_chars,
                      "sub_units": options.sub_units},
            "versions": _versions(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.time() - started, 3),
        }
        # The manifest is written last: a directory without one is never a complete build.
        _write_atomic(work / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        final = builds / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        final = Path(tempfile.mkdtemp(prefix=final.name + "-", dir=builds))
        os.replace(work, final)
        _point_current(index_dir, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _prune(builds, keep=final)
    return manifest


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


def _write_atomic(path: Path, content: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _versions() -> dict:
    versions = {"python": platform.python_version(), "qa": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return versions
