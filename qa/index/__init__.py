"""The stored artifact: its layout and manifest, the atomic build, loading with checks, FAISS (exact or
approximate), BM25 and the embedding cache of rebuilds."""

from qa.index.build import BuildOptions, build_index, corpus_build_options
from qa.index.layout import index_id, live_path, read_manifest, rebuild_hint
from qa.index.lexical import LexicalIndex
from qa.index.loading import LoadedIndex, load_index, staleness, stored_vectors
from qa.index.vocabulary import Vocabulary

__all__ = ["BuildOptions", "LexicalIndex", "LoadedIndex", "Vocabulary", "build_index", "corpus_build_options",
           "index_id", "live_path", "load_index", "read_manifest", "rebuild_hint", "staleness", "stored_vectors"]
