"""Rebuilds embed only what changed: the live build is the embedding cache, keyed by model and exact input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.embedding import HashingEncoder, LazyEncoder
from qa.index import load_index, stored_vectors
from qa.index.build import BuildOptions, build_index

DOCUMENTS = [
    {"id": f"doc{i}", "title": f"Topic {i}", "publisher": "test", "url": "", "format": "text",
     "text": f"Overview\n\nTopic {i} is a condition number {i}. It affects the blood. Doctors treat it with care.\n\n"
             f"Symptoms\n\nPeople with topic {i} may feel tired. Some have a fever. Others bruise easily."}
    for i in range(5)
]


class CountingEncoder(HashingEncoder):
    """The hashing fake, counting what it is asked to embed."""

    def __init__(self, name: str = "hash:64") -> None:
        super().__init__(64)
        self.name = name
        self.span_texts: list[str] = []
        self.texts: list[str] = []

    def encode(self, texts, batch_size=64, progress=False):
        self.texts += list(texts)
        return super().encode(texts, batch_size, progress)

    def encode_spans(self, texts, spans, batch_size=64, progress=False):
        self.span_texts += list(texts)
        return super().encode_spans(texts, spans, batch_size, progress)


def write_corpus(path, documents) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    write_corpus(path, DOCUMENTS)
    return path


def vectors(index_dir) -> dict[str, np.ndarray]:
    loaded = load_index(index_dir, check_corpus=False)
    return {name: stored_vectors(getattr(loaded, name)).copy()
            for name in ("vectors", "unit_vectors", "plain_vectors", "plain_unit_vectors")}


def test_an_unchanged_rebuild_embeds_nothing_and_gives_the_same_vectors(corpus, tmp_path):
    first = build_index(corpus, tmp_path / "index", CountingEncoder())
    before = vectors(tmp_path / "index")
    encoder = CountingEncoder()
    second = build_index(corpus, tmp_path / "index", encoder)
    assert first["embedding"]["embedded"] == first["passages"] > 0
    assert second["embedding"] == {**second["embedding"], "embedded": 0, "reused": second["passages"]}
    assert encoder.span_texts == [] and encoder.texts == []
    after = vectors(tmp_path / "index")
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_after_one_edit_only_the_changed_passages_are_embedded(corpus, tmp_path):
    build_index(corpus, tmp_path / "index", CountingEncoder())
    old = {p.text for p in load_index(tmp_path / "index", check_corpus=False).passages}
    edited = [dict(d) for d in DOCUMENTS]
    edited[2]["text"] = edited[2]["text"].replace("Some have a fever.", "Some have a high fever at night.")
    write_corpus(corpus, edited)
    encoder = CountingEncoder()
    manifest = build_index(corpus, tmp_path / "index", encoder)
    changed = [p for p in load_index(tmp_path / "index", check_corpus=False).passages if p.text not in old]
    assert len(changed) == 1 and changed[0].doc_id == "doc2"
    assert manifest["embedding"]["embedded"] == 1
    assert manifest["embedding"]["reused"] == manifest["passages"] - 1
    assert len(encoder.span_texts) == 1 and encoder.span_texts[0].endswith(changed[0].text)
    # The rebuilt index equals a build from scratch of the edited corpus.
    build_index(corpus, tmp_path / "fresh", CountingEncoder())
    for name, matrix in vectors(tmp_path / "fresh").items():
        np.testing.assert_allclose(vectors(tmp_path / "index")[name], matrix, atol=1e-6)


def test_another_model_reuses_nothing(corpus, tmp_path):
    build_index(corpus, tmp_path / "index", CountingEncoder("hash:64"))
    manifest = build_index(corpus, tmp_path / "index", CountingEncoder("another-model"))
    assert manifest["embedding"]["reused"] == 0


def test_other_build_options_reuse_nothing(corpus, tmp_path):
    build_index(corpus, tmp_path / "index", CountingEncoder(), options=BuildOptions(plain_vectors="pooled"))
    manifest = build_index(corpus, tmp_path / "index", CountingEncoder(), options=BuildOptions(plain_vectors="encoded"))
    assert manifest["embedding"]["reused"] == 0


@pytest.mark.parametrize("damage", ["garbage-vectors", "garbage-keys", "reordered-keys", "truncated-units"])
def test_a_damaged_live_build_never_lends_wrong_vectors(corpus, tmp_path, damage):
    build_index(corpus, tmp_path / "fresh", CountingEncoder())
    build_index(corpus, tmp_path / "index", CountingEncoder())
    live = (tmp_path / "index" / "current").resolve()
    if damage == "garbage-vectors":
        (live / "vectors.faiss").write_bytes(b"\x00garbage" * 50)
    elif damage == "garbage-keys":
        (live / "embedding_keys.json").write_text("[\"not a key\", 3")
    elif damage == "reordered-keys":  # valid keys, each on another row: checked against the build's own passages
        keys = json.loads((live / "embedding_keys.json").read_text())
        (live / "embedding_keys.json").write_text(json.dumps(keys[::-1]))
    else:
        data = (live / "units.faiss").read_bytes()
        (live / "units.faiss").write_bytes(data[: len(data) // 2])
    manifest = build_index(corpus, tmp_path / "index", CountingEncoder())
    assert manifest["embedding"]["reused"] == 0
    for name, matrix in vectors(tmp_path / "fresh").items():
        np.testing.assert_allclose(vectors(tmp_path / "index")[name], matrix, atol=1e-6)


def test_a_rebuild_from_cache_never_loads_the_model(corpus, tmp_path):
    build_index(corpus, tmp_path / "index", CountingEncoder("hash:64"))
    lazy = LazyEncoder("hash:64")
    manifest = build_index(corpus, tmp_path / "index", lazy)
    assert manifest["embedding"]["embedded"] == 0
    assert lazy._encoder is None


def test_a_failure_while_embedding_leaves_the_previous_build_live(corpus, tmp_path):
    build_index(corpus, tmp_path / "index", CountingEncoder())
    link = (tmp_path / "index" / "current").readlink()
    edited = [dict(d, text=d["text"] + " New sentence.") for d in DOCUMENTS]
    write_corpus(corpus, edited)

    class Failing(CountingEncoder):
        def encode_spans(self, texts, spans, batch_size=64, progress=False):
            raise RuntimeError("the model fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        build_index(corpus, tmp_path / "index", Failing())
    assert (tmp_path / "index" / "current").readlink() == link
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "index" / "builds").iterdir())


@pytest.mark.parametrize("content, message", [
    ("{not json", "unreadable"),
    ('["encoded"]', "must be a JSON object"),
    ('{"plain_vectors": "fancy"}', "plain_vectors must be one of"),
    ('{"sub_units": "yes"}', "sub_units must be true or false"),
    ('{"plain_vectors": "encoded", "speed": 3}', "unknown: ['speed']"),
])
def test_a_malformed_build_json_is_a_clear_error_and_builds_nothing(corpus, tmp_path, content, message):
    from qa.errors import CorpusError

    (tmp_path / "corpus.build.json").write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_index(corpus, tmp_path / "index", CountingEncoder())
    assert not (tmp_path / "index").exists()


def test_build_json_beside_a_jsonl_corpus_is_applied(corpus, tmp_path):
    (tmp_path / "corpus.build.json").write_text('{"plain_vectors": "encoded"}', encoding="utf-8")
    manifest = build_index(corpus, tmp_path / "index", CountingEncoder())
    assert manifest["build"]["plain_vectors"] == "encoded"
    assert load_index(tmp_path / "index", check_corpus=False).plain_unit_vectors.ntotal > 0
