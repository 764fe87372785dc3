"""Build, save and load the passage index: FAISS vectors, BM25, passages and a self-describing manifest."""

from __future__ import annotations

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
from qa.errors import CorpusError, IndexLoadError
from qa.lexical import LexicalIndex
from qa.splitter import SPLITTER_VERSION, Passage, SplitOptions, split_document, sub_units
from qa.vocabulary import Vocabulary

FORMAT_VERSION = 1
CURRENT_LINK = "current"
BUILDS_DIR = "builds"
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
UNIT_VECTORS = "units.faiss"
UNIT_ROWS = "unit_rows.npy"
VOCABULARY = "vocabulary.json"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.jsonl"
LEXICAL = "bm25"


@dataclass(frozen=True)
class BuildOptions:
    """Build parameters, recorded in the manifest; they never make an index stale."""

    split: SplitOptions = SplitOptions()
    sub_units: bool = True  # also embed each sentence and list item (about 5x the vectors of passages alone)


DEFAULT_BUILD = BuildOptions()
KEEP_BUILDS = 2  # the live build and the one before it
_LIBRARIES = ("faiss-cpu", "numpy", "sentence-transformers", "torch", "transformers", "bm25s", "PyStemmer")


def embedding_input(document: Document, passage: Passage, text: str | None = None) -> str:
    """What the model sees: the document title and section path as context, then the passage (or a part)."""
    context = " › ".join([document.title, *passage.section])
    return plain_typography(f"{context}\n{passage.text if text is None else text}")


_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                             "\u2014": "-", "\u00a0": " ", "\u2022": "-"})


def plain_typography(text: str) -> str:
    """Curly quotes, dashes and no-break spaces as plain ASCII: the model's tokenizer handles them poorly
    (a curly apostrophe alone can halve a similarity). Only model inputs change, never returned text."""
    return text.translate(_TYPOGRAPHY)


def pipeline_settings() -> dict:
    """The code's way of making an index, besides corpus and model: a change makes old indexes stale."""
    return {
        "splitter_version": SPLITTER_VERSION,
        "embedding_input": "title+section+text, plain typography",
        "sub_units": "sentences+list-items",
        "lexical": LexicalIndex.SETTINGS,
    }


@dataclass
class LoadedIndex:
    """A verified index in memory."""

    path: Path
    manifest: dict
    vectors: object  # faiss.Index over whole passages
    unit_vectors: object  # faiss.Index over sentences and list items
    unit_rows: np.ndarray  # passage row of each unit vector
    vocabulary: Vocabulary
    passages: list[Passage]
    documents: dict[str, Document]
    lexical: LexicalIndex
    position: dict[str, int]

    def passage(self, passage_id: str) -> Passage | None:
        row = self.position.get(passage_id)
        return None if row is None else self.passages[row]


def live_path(index_dir: str | Path) -> Path:
    """The directory holding the live index files: ``DIR/current`` or, for a copied index, ``DIR`` itself."""
    index_dir = Path(index_dir)
    if (index_dir / MANIFEST).is_file():
        return index_dir
    return index_dir / CURRENT_LINK


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
        unit_texts, unit_rows = [], []
        for row, passage in enumerate(passages if options.sub_units else []):
            for unit in sub_units(passage.text):
                unit_texts.append(embedding_input(by_id[passage.doc_id], passage, unit))
                unit_rows.append(row)
        vectors = encoder.encode(texts + unit_texts, batch_size=batch_size, progress=progress)
        for name, block in ((VECTORS, vectors[:len(texts)]), (UNIT_VECTORS, vectors[len(texts):])):
            flat = faiss.IndexFlatIP(encoder.dim)
            flat.add(np.ascontiguousarray(block))
            faiss.write_index(flat, str(work / name))
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


def rebuild_hint(index_dir: str | Path, corpus_path: str | Path | None = None, model: str | None = None) -> str:
    command = f"python -m qa build --index {index_dir}"
    if corpus_path:
        command += f" --corpus {corpus_path}"
    if model:
        command += f" --model {model}"
    return command


def read_manifest(index_dir: str | Path) -> dict:
    """The manifest of the live index, or IndexLoadError saying why there is none."""
    path = live_path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexLoadError(f"no index in {index_dir}: build one with `{rebuild_hint(index_dir)}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"index manifest {path} is unreadable ({exc}); rebuild with "
                             f"`{rebuild_hint(index_dir)}`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise IndexLoadError(f"index in {index_dir} has an unsupported format; rebuild with "
                             f"`{rebuild_hint(index_dir)}`")
    shapes = {"model": str, "dim": int, "corpus": dict, "passages": int, "pipeline": dict, "built_at": str}
    wrong = [key for key, kind in shapes.items() if not isinstance(manifest.get(key), kind)]
    if wrong:
        raise IndexLoadError(f"index manifest {path} is corrupt (bad or missing {', '.join(wrong)}); rebuild "
                             f"with `{rebuild_hint(index_dir)}`")
    return manifest


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
    import faiss

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    reason = staleness(index_dir, corpus_path, model, check_corpus)
    if reason:
        raise IndexLoadError(reason)
    path = live_path(index_dir)
    hint = rebuild_hint(index_dir)
    try:
        vectors = faiss.read_index(str(path / VECTORS))
        unit_vectors = faiss.read_index(str(path / UNIT_VECTORS))
        unit_rows = np.load(path / UNIT_ROWS, allow_pickle=False)
        vocabulary = Vocabulary.load(path / VOCABULARY)
        passages = [Passage.from_record(r) for r in _read_jsonl(path / PASSAGES)]
        documents = {r["id"]: Document(id=r["id"], text=r["text"], title=r["title"], publisher=r["publisher"],
                                       reviewed=r["reviewed"], url=r["url"], format=r.get("format", "text"),
                                       extra=r.get("extra", {}))
                     for r in _read_jsonl(path / DOCUMENTS)}
        lexical = LexicalIndex.load(path / LEXICAL)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
        raise IndexLoadError(f"index in {index_dir} is corrupt ({type(exc).__name__}: {exc}); "
                             f"rebuild with `{hint}`") from None
    expected = manifest.get("passages")
    consistent = (vectors.ntotal == len(passages) == expected == lexical.size and vectors.d == manifest.get("dim")
                  and unit_vectors.ntotal == len(unit_rows) and unit_vectors.d == vectors.d
                  and (len(unit_rows) == 0 or 0 <= int(unit_rows.min()) <= int(unit_rows.max()) < len(passages)))
    if not consistent:
        raise IndexLoadError(f"index in {index_dir} is inconsistent ({vectors.ntotal} vectors, {len(passages)} "
                             f"passages, manifest says {expected}); rebuild with `{hint}`")
    for passage in passages:
        document = documents.get(passage.doc_id)
        if document is None or document.text[passage.start:passage.end] != passage.text:
            raise IndexLoadError(f"index in {index_dir} is corrupt: passage {passage.id} is not a slice of its "
                                 f"document; rebuild with `{hint}`")
    return LoadedIndex(path=path, manifest=manifest, vectors=vectors, unit_vectors=unit_vectors,
                       unit_rows=unit_rows, vocabulary=vocabulary, passages=passages, documents=documents,
                       lexical=lexical, position={p.id: row for row, p in enumerate(passages)})


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def stored_vectors(flat) -> np.ndarray:
    """A zero-copy (n, d) view of the vectors inside a flat FAISS index."""
    import faiss

    if flat.ntotal == 0:
        return np.zeros((0, flat.d), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
