"""The search index follows corpus size (exact, or IVF above qa.ann.FLAT_MAX), is recorded, and ranks alike."""

from __future__ import annotations

import pytest

from tests.conftest import FAKE_MODEL
from tests.support import ROOT


@pytest.fixture(scope="module")
def encoder():
    from qa.embedding import load_encoder

    return load_encoder(FAKE_MODEL)


def test_a_small_corpus_is_searched_exactly_and_the_choice_is_recorded(tmp_path, encoder):
    from qa.index import load_index
    from qa.index.build import build_index

    manifest = build_index(ROOT / "corpus", tmp_path / "index", encoder)
    assert {spec["type"] for spec in manifest["search_index"].values()} == {"flat"}
    loaded = load_index(tmp_path / "index", check_corpus=False)
    assert loaded.passage_search is loaded.vectors and loaded.unit_search is loaded.unit_vectors


def test_a_large_corpus_gets_an_ivf_index_that_finds_what_exact_search_finds(tmp_path, encoder, monkeypatch):
    import qa.index.build
    from qa.index import ann, load_index
    from qa.index.build import build_index
    from qa.search import Searcher

    exact = Searcher(load_index(_built(build_index, tmp_path / "exact", encoder), check_corpus=False), encoder)
    # Pretend the guide is large: every vector file past zero vectors gets an IVF spec, probing every list.
    monkeypatch.setattr(qa.index.build, "choose_index_spec",
                        lambda n, dim: ann.ivf_spec(max(n, 16 * 39), dim) if n else {"type": "flat", "dim": dim})
    manifest_dir = _built(build_index, tmp_path / "ivf", encoder)
    loaded = load_index(manifest_dir, check_corpus=False)
    assert loaded.manifest["search_index"]["vectors.faiss"]["type"] == "ivf"
    assert type(loaded.passage_search).__name__ == "IndexIVFFlat"
    approximate = Searcher(loaded, encoder)
    for question in ("what is MRD", "red dots on her skin", "car t cell therapy", "bone marrow transplant"):
        assert ([h.passage.id for h in approximate.search(question, k=3, include_low_confidence=True).hits]
                == [h.passage.id for h in exact.search(question, k=3, include_low_confidence=True).hits])


def _built(build_index, index_dir, encoder):
    build_index(ROOT / "corpus", index_dir, encoder)
    return index_dir
