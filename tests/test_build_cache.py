"""Embedding cache: a rebuild embeds only passages whose model input changed, and stays correct and atomic."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.build import build_index
from qa.corpus import load_corpus
from qa.embedding import HashingEncoder, LazyEncoder
from qa.index import CURRENT_LINK, PASSAGES, UNIT_VECTORS, VECTORS, embedding_input

TOPICS = ["fever", "nausea", "fatigue", "mouth sores", "hair loss"]


def _write_corpus(path: Path, edited: str | None = None) -> Path:
    rows = []
    for n, topic in enumerate(TOPICS):
        paragraphs = [f"{topic.capitalize()} is common during treatment. Tell the care team about {topic} early. "
                      f"Write down when the {topic} started and what helped." for _ in range(1)]
        paragraphs.append(f"Some families keep a diary of {topic}. It helps at clinic visits. Bring it along.")
        paragraphs.append(f"Call the hospital at once if {topic} comes with bleeding or a rash.")
        text = "\n\n".join(paragraphs)
        if edited is not None and n == 2:
            text = text.replace("Bring it along.", edited)
        rows.append({"id": f"doc{n}", "title": f"Coping with {topic}", "text": text})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class Counting:
    """Wraps an encoder and records every text it is asked to embed."""

    def __init__(self, inner, fail: bool = False) -> None:
        self.inner, self.fail = inner, fail
        self.name, self.dim = inner.name, inner.dim
        self.encoded: list[str] = []

    def encode(self, texts, batch_size=64, progress=False):
        self.encoded += list(texts)
        return self.inner.encode(texts, batch_size=batch_size, progress=progress)

    def encode_spans(self, texts, spans, batch_size=64, progress=False):
        if self.fail:
            raise RuntimeError("encoder failed")
        self.encoded += list(texts)
        return self.inner.encode_spans(texts, spans, batch_size=batch_size, progress=progress)


def _vectors(index_dir: Path, name: str = VECTORS) -> np.ndarray:
    flat = faiss.read_index(str(index_dir / CURRENT_LINK / name))
    return flat.reconstruct_n(0, flat.ntotal)


def _passages(index_dir: Path) -> list[dict]:
    lines = (index_dir / CURRENT_LINK / PASSAGES).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _inputs(corpus: Path) -> set[str]:
    """The model inputs of every passage a build of ``corpus`` makes."""
    from qa.build import _split, corpus_build_options

    passages, by_id = _split(load_corpus(corpus), corpus_build_options(corpus).split)
    return {embedding_input(by_id[p.doc_id], p) for p in passages}


@pytest.fixture()
def built(tmp_path):
    corpus = _write_corpus(tmp_path / "c.jsonl")
    index = tmp_path / "index"
    manifest = build_index(corpus, index, HashingEncoder(256))
    assert manifest["embedding"] == {**manifest["embedding"], "embedded": manifest["passages"], "reused": 0}
    return corpus, index, manifest


def test_unchanged_rebuild_embeds_nothing(built):
    corpus, index, first = built
    before = {n: _vectors(index, n) for n in (VECTORS, UNIT_VECTORS)}
    encoder = Counting(HashingEncoder(256))
    manifest = build_index(corpus, index, encoder)
    assert manifest["embedding"]["embedded"] == 0
    assert manifest["embedding"]["reused"] == manifest["passages"] == first["passages"]
    assert encoder.encoded == []
    for name, vectors in before.items():
        np.testing.assert_array_equal(_vectors(index, name), vectors)


def test_edit_one_document_embeds_only_its_changed_passages(built, tmp_path):
    corpus, index, _ = built
    old_inputs = _inputs(corpus)
    _write_corpus(corpus, edited="Bring it along to every visit, with the medicine list.")
    changed = _inputs(corpus) - old_inputs
    assert changed and all("fatigue" in text.casefold() for text in changed)
    encoder = Counting(HashingEncoder(256))
    manifest = build_index(corpus, index, encoder)
    assert sorted(encoder.encoded) == sorted(changed)
    assert manifest["embedding"]["embedded"] == len(changed)
    assert manifest["embedding"]["reused"] == manifest["passages"] - len(changed)
    fresh = tmp_path / "fresh"
    build_index(corpus, fresh, HashingEncoder(256))
    np.testing.assert_allclose(_vectors(index), _vectors(fresh), atol=1e-6)
    np.testing.assert_allclose(_vectors(index, UNIT_VECTORS), _vectors(fresh, UNIT_VECTORS), atol=1e-6)


def test_other_model_reuses_nothing(built):
    corpus, index, first = built
    encoder = Counting(HashingEncoder(128))
    manifest = build_index(corpus, index, encoder)
    assert manifest["embedding"]["reused"] == 0
    assert manifest["embedding"]["embedded"] == first["passages"]
    assert sorted(encoder.encoded) == sorted(_inputs(corpus))


@pytest.mark.parametrize("damage", [
    "truncate_units", "garbage_vectors", "short_keys",
    pytest.param("reordered_keys", marks=pytest.mark.xfail(
        reason="qa bug: a key file of the right length whose keys point at other rows is trusted; the cache "
               "could check keys against the live build's own passages.jsonl/documents.jsonl")),
])
def test_damaged_live_build_gives_a_correct_fresh_build(built, tmp_path, damage):
    corpus, index, _ = built
    live = (index / CURRENT_LINK).resolve()
    if damage == "truncate_units":
        data = (live / UNIT_VECTORS).read_bytes()
        (live / UNIT_VECTORS).write_bytes(data[: len(data) // 2])
    elif damage == "garbage_vectors":
        (live / VECTORS).write_bytes(b"not a faiss index at all")
    else:
        keys_file = live / "embedding_keys.json"
        keys = json.loads(keys_file.read_text(encoding="utf-8"))
        # one key missing (no longer matches the vector rows), or every key pointing at another passage's row
        keys = keys[1:] if damage == "short_keys" else list(reversed(keys))
        keys_file.write_text(json.dumps(keys), encoding="utf-8")
    manifest = build_index(corpus, index, HashingEncoder(256))
    fresh = tmp_path / "fresh"
    build_index(corpus, fresh, HashingEncoder(256))
    assert manifest["passages"] == len(_passages(fresh))
    for name in (VECTORS, UNIT_VECTORS):
        np.testing.assert_allclose(_vectors(index, name), _vectors(fresh, name), atol=1e-6)


def test_lazy_encoder_never_loads_when_everything_is_cached(built):
    corpus, index, _ = built
    lazy = LazyEncoder("hash:256")
    manifest = build_index(corpus, index, lazy)
    assert manifest["embedding"]["embedded"] == 0
    assert lazy._encoder is None


def test_failed_rebuild_keeps_previous_build_live(built):
    corpus, index, first = built
    live = (index / CURRENT_LINK).resolve()
    before = _vectors(index)
    _write_corpus(corpus, edited="Something new to embed.")
    with pytest.raises(RuntimeError, match="encoder failed"):
        build_index(corpus, index, Counting(HashingEncoder(256), fail=True))
    assert (index / CURRENT_LINK).resolve() == live
    np.testing.assert_array_equal(_vectors(index), before)
    leftovers = [p.name for p in (index / "builds").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []
