"""The stored index in one place: its file names, its manifest (written by a build, checked by a load) and its id.

A build is a directory ``INDEX/builds/NAME`` holding the files below; ``INDEX/current`` is a symlink to the live
one, swapped in one atomic rename. A directory without a manifest is never a complete build: the manifest is
written last.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

from qa import __version__
from qa.corpus.splitter import SPLITTER_VERSION
from qa.embedding.base import canonical_model_name
from qa.errors import IndexLoadError
from qa.index.lexical import LexicalIndex

FORMAT_VERSION = 2
CURRENT_LINK = "current"
BUILDS_DIR = "builds"
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
UNIT_VECTORS = "units.faiss"
UNIT_ROWS = "unit_rows.npy"
UNIT_SPANS = "unit_spans.npy"  # (start, end) of each unit within its passage's text
PLAIN_VECTORS = "plain.faiss"  # each passage's own words, without its title and section path
PLAIN_UNIT_VECTORS = "plain_units.faiss"  # each unit embedded on its own (empty unless the build encodes them)
VOCABULARY = "vocabulary.json"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.jsonl"
LEXICAL = "bm25"
KEYS_FILE = "embedding_keys.json"  # each passage's embedding cache key (qa/index/embedding_cache.py)
_LIBRARIES = ("faiss-cpu", "numpy", "sentence-transformers", "torch", "transformers", "bm25s", "PyStemmer")
# What a manifest must hold, and of which type, for the index to be read at all.
_REQUIRED = {"model": str, "dim": int, "corpus": dict, "passages": int, "pipeline": dict, "built_at": str}


def search_file(name: str) -> str:
    """The approximate search index kept beside a large flat vector file (``vectors.faiss`` -> ``vectors.ann``)."""
    return name.replace(".faiss", ".ann")


def pipeline_settings() -> dict:
    """The code's way of making an index, besides corpus and model: a change makes old indexes stale."""
    return {
        "splitter_version": SPLITTER_VERSION,
        "embedding_input": "title (untitled: the opening sentence)+section+text, plain typography",
        "sub_units": "sentences+list-items, late chunking",
        "confidence_vectors": "passage's own words (pooled, or encoded with its units), plain_units.faiss",
        "lexical": {**LexicalIndex.SETTINGS,
                    "fields": "title or opening sentence (several documents)+section+text"},
    }


def make_manifest(*, model: str, dim: int, corpus_path: str | Path, corpus_hash: str, documents: int,
                  passages: int, build: dict, embedding: dict, search_index: dict, started: float) -> dict:
    """The manifest of a finished build: what it was made from and how, library versions and build time."""
    return {
        "format": FORMAT_VERSION,
        "model": canonical_model_name(model),
        "dim": dim,
        "corpus": {"path": str(Path(corpus_path).resolve()), "hash": corpus_hash, "documents": documents},
        "passages": passages,
        "pipeline": pipeline_settings(),
        "build": build,
        "embedding": embedding,
        "search_index": search_index,
        "versions": _versions(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.time() - started, 3),
    }


def _versions() -> dict:
    versions = {"python": platform.python_version(), "qa": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return versions


def live_path(index_dir: str | Path) -> Path:
    """The directory holding the live index files: ``DIR/current`` or, for a copied index, ``DIR`` itself."""
    index_dir = Path(index_dir)
    if (index_dir / MANIFEST).is_file():
        return index_dir
    return index_dir / CURRENT_LINK


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
    wrong = [key for key, kind in _REQUIRED.items() if not isinstance(manifest.get(key), kind)]
    if wrong:
        raise IndexLoadError(f"index manifest {path} is corrupt (bad or missing {', '.join(wrong)}); rebuild "
                             f"with `{rebuild_hint(index_dir)}`")
    return manifest


def index_id(manifest: dict) -> str:
    """A short, stable id of a build: 12 hex digits of the SHA-256 of its manifest (two builds differ at least in
    their build time), so that an answer can be replayed against the exact same index."""
    canonical = json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
