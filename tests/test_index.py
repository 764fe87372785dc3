"""Index build/load with the hashing fake encoder: manifest, FAISS correctness, refusals and atomic builds."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from qa.corpus import load_corpus
from qa.corpus.splitter import split_document
from qa.embedding import load_encoder
from qa.errors import IndexLoadError, QAError
from qa.index import live_path, load_index
from qa.index.build import BuildOptions, build_index
from qa.index.inputs import document_contexts, embedding_input
from qa.search import Searcher
from tests.support import ROOT, copy_corpus, qa_env

FAKE_MODEL = "hash:64"
REBUILD = "python -m qa build"
# The documented layout of an index directory (index/README.md).
CURRENT_LINK = "current"
BUILDS_DIR = "builds"
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
PLAIN_VECTORS = "plain.faiss"
UNIT_VECTORS = "units.faiss"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.jsonl"
LEXICAL = "bm25"


@pytest.fixture(scope="module")
def encoder():
    return load_encoder(FAKE_MODEL)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    return copy_corpus(tmp_path_factory, "index-corpus")


@pytest.fixture(scope="module")
def built(tmp_path_factory, corpus_dir, encoder) -> tuple[Path, dict]:
    index_dir = tmp_path_factory.mktemp("index") / "index"
    manifest = build_index(corpus_dir, index_dir, encoder)
    return index_dir, manifest


@pytest.fixture()
def index_copy(built, tmp_path) -> Path:
    """A private copy of the module's index (the ``current`` symlink is relative, so it survives)."""
    target = tmp_path / "index"
    shutil.copytree(built[0], target, symlinks=True)
    return target


def _builds(index_dir: Path) -> set[str]:
    return {p.name for p in (index_dir / BUILDS_DIR).iterdir()}


# --------------------------------------------------------------------------- round trip


def test_build_load_round_trip(built, corpus_dir):
    index_dir, manifest = built
    loaded = load_index(index_dir)
    document = load_corpus(corpus_dir).documents[0]
    expected = split_document(document)
    assert len(loaded.passages) == len(expected) == manifest["passages"] == loaded.vectors.ntotal
    assert [p.to_record() for p in loaded.passages] == [p.to_record() for p in expected]
    stored = loaded.documents[document.id]
    assert (stored.text, stored.title, stored.publisher, stored.reviewed) == (
        document.text, document.title, document.publisher, document.reviewed)
    for passage in loaded.passages:
        assert loaded.passage(passage.id) is passage
    assert loaded.passage("no-such-id") is None


def test_manifest_fields(built, corpus_dir):
    index_dir, manifest = built
    on_disk = json.loads((live_path(index_dir) / MANIFEST).read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert manifest["model"] == FAKE_MODEL
    assert manifest["dim"] == 64
    assert manifest["corpus"]["hash"] == load_corpus(corpus_dir).content_hash
    assert manifest["corpus"]["documents"] == 1
    assert Path(manifest["corpus"]["path"]) == corpus_dir.resolve()
    assert isinstance(manifest["passages"], int) and manifest["passages"] > 10
    versions = manifest["versions"]
    for name in ("python", "qa", "faiss-cpu", "numpy", "bm25s"):
        assert versions.get(name), f"manifest versions lack {name}"
    built_at = datetime.strptime(manifest["built_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(time.time() - built_at.timestamp()) < 3600
    assert manifest["build"]["max_chars"] >= manifest["build"]["target_chars"]
    assert manifest["build"]["sub_units"] is True


def test_live_build_layout(built):
    index_dir, _ = built
    link = index_dir / CURRENT_LINK
    assert link.is_symlink()
    assert not os.path.isabs(os.readlink(link)), "current should be relative so the index can be moved"
    live = live_path(index_dir)
    for name in (MANIFEST, VECTORS, PASSAGES, DOCUMENTS):
        assert (live / name).is_file(), name
    assert (live / LEXICAL).is_dir()
    assert not any(name.startswith(".tmp-") for name in _builds(index_dir))


def test_a_copied_live_directory_loads(built, tmp_path):
    target = tmp_path / "flat"
    shutil.copytree(live_path(built[0]), target)
    assert len(load_index(target).passages) == built[1]["passages"]


def test_stored_vectors_are_the_encoded_passages(built, encoder):
    loaded = load_index(built[0])
    contexts = document_contexts(loaded.documents, loaded.passages)
    expected = encoder.encode([embedding_input(contexts[p.doc_id], p) for p in loaded.passages])
    stored = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
    np.testing.assert_allclose(stored, expected, atol=1e-6)


def test_plain_vectors_are_each_passage_and_each_unit_on_its_own(built, encoder):
    """The guide's build.json asks for encoded plain vectors: each passage's text and each sentence or list item,
    embedded without title or section path; the unit spans slice exactly those units out of their passages."""
    from qa.corpus.splitter import sub_units
    from qa.text import plain_typography

    loaded = load_index(built[0])
    assert loaded.manifest["build"]["plain_vectors"] == "encoded"
    units = [loaded.passages[row].text[start:end] for row, (start, end) in zip(loaded.unit_rows, loaded.unit_spans)]
    assert units == [u for p in loaded.passages for u in sub_units(p.text)]
    assert loaded.plain_vectors.ntotal == loaded.vectors.ntotal == len(loaded.passages)
    assert loaded.plain_unit_vectors.ntotal == loaded.unit_vectors.ntotal == len(units)
    np.testing.assert_allclose(loaded.plain_vectors.reconstruct_n(0, loaded.plain_vectors.ntotal),
                               encoder.encode([plain_typography(p.text) for p in loaded.passages]), atol=1e-6)
    np.testing.assert_allclose(loaded.plain_unit_vectors.reconstruct_n(0, loaded.plain_unit_vectors.ntotal),
                               encoder.encode([plain_typography(u) for u in units]), atol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 5, 10, 1000])
def test_faiss_top_k_equals_brute_force(built, encoder, k):
    loaded = load_index(built[0])
    matrix = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
    queries = ["what is MRD", "red dots on the skin", "central line infection", "bone marrow transplant",
               "questions to ask the care team", "zzz unknown words"]
    vectors = encoder.encode(queries)
    expected_k = min(k, loaded.vectors.ntotal)
    scores, rows = loaded.vectors.search(np.ascontiguousarray(vectors, dtype=np.float32), expected_k)
    assert scores.shape == rows.shape == (len(queries), expected_k)
    brute = vectors @ matrix.T
    for q in range(len(queries)):
        order = np.argsort(-brute[q], kind="stable")[:expected_k]
        np.testing.assert_allclose(scores[q], brute[q][order], atol=1e-5)
        assert len(set(rows[q].tolist())) == expected_k and (rows[q] >= 0).all()
        np.testing.assert_allclose(brute[q][rows[q]], scores[q], atol=1e-5)
        # Every row left out scores no higher than the last one kept.
        left_out = np.setdiff1d(np.arange(len(matrix)), rows[q])
        if len(left_out):
            assert brute[q][left_out].max() <= scores[q][-1] + 1e-5


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("model", ["hash:32", "all-MiniLM-L6-v2", "/models/other"])
def test_load_refuses_a_mismatched_model(built, model):
    with pytest.raises(IndexLoadError) as raised:
        load_index(built[0], model=model)
    message = str(raised.value)
    assert FAKE_MODEL in message
    assert model in message
    assert REBUILD in message


def test_load_accepts_the_same_model(built):
    assert load_index(built[0], model=FAKE_MODEL).manifest["model"] == FAKE_MODEL


def test_load_refuses_a_corpus_changed_since_the_build(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder)
    guide = corpus / "relapsed-refractory-all.txt"
    guide.write_text(guide.read_text(encoding="utf-8").replace("about 90%", "about 95%"), encoding="utf-8")
    for kwargs in ({}, {"corpus_path": corpus}):
        with pytest.raises(IndexLoadError) as raised:
            load_index(index_dir, **kwargs)
        assert "changed" in str(raised.value)
        assert REBUILD in str(raised.value)
    # The check can be switched off, e.g. for an index shipped without its corpus.
    assert load_index(index_dir, check_corpus=False).passages


def test_load_refuses_another_corpus_named_explicitly(built, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("Other\n\nSomething else.\n", encoding="utf-8")
    with pytest.raises(IndexLoadError, match="changed"):
        load_index(built[0], corpus_path=other)


def test_load_refuses_a_named_corpus_that_does_not_exist(built, tmp_path):
    """An index cannot be verified against a corpus that is not there: a typo must not pass silently."""
    missing = tmp_path / "typo-corpus"
    with pytest.raises(QAError) as raised:
        load_index(built[0], corpus_path=missing)
    assert str(missing) in str(raised.value)


def test_load_refuses_a_missing_index(tmp_path):
    for target in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(IndexLoadError) as raised:
            load_index(target)
        assert REBUILD in str(raised.value)


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _rewrite_manifest(live: Path, **changes) -> None:
    manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(changes)
    (live / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


CORRUPTIONS = {
    "manifest-truncated": lambda live: _truncate(live / MANIFEST),
    "manifest-empty": lambda live: (live / MANIFEST).write_text(""),
    "manifest-binary": lambda live: (live / MANIFEST).write_bytes(b"\xff\xfe\x00garbage"),
    "manifest-list": lambda live: (live / MANIFEST).write_text("[1, 2]"),
    "manifest-other-format": lambda live: _rewrite_manifest(live, format=99),
    "manifest-passage-count": lambda live: _rewrite_manifest(live, passages=3),
    "manifest-dim": lambda live: _rewrite_manifest(live, dim=128),
    "manifest-corpus-not-an-object": lambda live: _rewrite_manifest(live, corpus="corpus/"),
    "manifest-missing": lambda live: (live / MANIFEST).unlink(),
    "vectors-truncated": lambda live: _truncate(live / VECTORS),
    "vectors-empty": lambda live: (live / VECTORS).write_bytes(b""),
    "vectors-missing": lambda live: (live / VECTORS).unlink(),
    "plain-vectors-wrong-count": lambda live: shutil.copyfile(live / UNIT_VECTORS, live / PLAIN_VECTORS),
    "unit-span-outside-its-passage": lambda live: np.save(live / "unit_spans.npy",
                                                          np.load(live / "unit_spans.npy") + 100_000),
    "passages-missing": lambda live: (live / PASSAGES).unlink(),
    "passages-truncated": lambda live: _truncate(live / PASSAGES, 0.7),
    "passages-not-a-slice": lambda live: (live / PASSAGES).write_text(
        (live / PASSAGES).read_text(encoding="utf-8").replace("MRD means", "MRD meant"), encoding="utf-8"),
    "passages-wrong-fields": lambda live: (live / PASSAGES).write_text(
        "\n".join(json.dumps({"id": i}) for i in range(json.loads((live / MANIFEST).read_text())["passages"]))),
    "documents-missing": lambda live: (live / DOCUMENTS).unlink(),
    "bm25-missing": lambda live: shutil.rmtree(live / LEXICAL),
    "current-dangling": lambda live: shutil.rmtree(live.resolve()),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_load_refuses_a_corrupt_index_with_index_load_error(index_copy, corruption):
    live = live_path(index_copy)
    CORRUPTIONS[corruption](live)
    with pytest.raises(IndexLoadError) as raised:
        load_index(index_copy)
    assert REBUILD in str(raised.value), str(raised.value)
    assert str(index_copy) in str(raised.value)


def test_every_damaged_file_is_refused_with_index_load_error(built, tmp_path):
    """Whatever the build writes (today and tomorrow), deleting or mangling any one file is an IndexLoadError."""
    live = live_path(built[0])
    files = sorted(p.relative_to(live) for p in live.rglob("*") if p.is_file())
    assert Path(MANIFEST) in files and Path(VECTORS) in files and Path(PASSAGES) in files
    damages = {
        "deleted": lambda path, data: path.unlink(),
        "truncated": lambda path, data: path.write_bytes(data[: len(data) // 2]),
        "emptied": lambda path, data: path.write_bytes(b""),
        "garbage": lambda path, data: path.write_bytes(b"\x00\x01garbage\xff" * 10),
    }
    for relative in files:
        for damage, apply in damages.items():
            target = tmp_path / f"{relative.as_posix().replace('/', '_')}-{damage}"
            shutil.copytree(built[0], target, symlinks=True)
            path = live_path(target) / relative
            apply(path, path.read_bytes())
            try:
                load_index(target)
            except IndexLoadError as exc:
                assert REBUILD in str(exc), (relative, damage, str(exc))
            except Exception as exc:  # anything else is the bug this test is for: name it
                pytest.fail(f"{relative} {damage}: raw {type(exc).__name__}: {exc}")
            else:
                pytest.fail(f"{relative} {damage}: the damaged index loaded")
            shutil.rmtree(target)


# --------------------------------------------------------------------------- atomic builds


def _search_answers(index_dir: Path, encoder) -> list[str]:
    searcher = Searcher(load_index(index_dir), encoder)
    outcome = searcher.search("what is MRD", 3, True)  # low-confidence hits too: the fake is not calibrated
    assert outcome.hits
    return [hit.passage.text for hit in outcome.hits]


class _ExplodingEncoder:
    name = "exploding-model"  # another model: nothing in the live build's embedding cache applies
    dim = 64

    def encode(self, texts, batch_size=64, progress=False):
        raise RuntimeError("encoder blew up")

    def encode_spans(self, texts, spans, batch_size=32, progress=False):
        raise RuntimeError("encoder blew up")


def test_build_that_fails_in_encode_leaves_the_previous_index(index_copy, corpus_dir, encoder):
    link_before = os.readlink(index_copy / CURRENT_LINK)
    builds_before = _builds(index_copy)
    answers_before = _search_answers(index_copy, encoder)
    with pytest.raises(RuntimeError, match="encoder blew up"):
        build_index(corpus_dir, index_copy, _ExplodingEncoder())
    assert os.readlink(index_copy / CURRENT_LINK) == link_before
    assert _builds(index_copy) == builds_before
    assert not any(p.name.startswith(".current") for p in index_copy.iterdir())
    assert _search_answers(index_copy, encoder) == answers_before


def test_build_that_fails_in_encode_with_monkeypatch(index_copy, corpus_dir, encoder, monkeypatch):
    """The same with the real fake encoder patched to fail halfway through the build."""
    from qa.embedding import HashingEncoder

    def explode(self, *args, **kwargs):
        raise MemoryError("out of memory while encoding")

    builds_before = _builds(index_copy)
    link_before = os.readlink(index_copy / CURRENT_LINK)
    monkeypatch.setattr(HashingEncoder, "encode", explode)
    monkeypatch.setattr(HashingEncoder, "encode_spans", explode)
    with pytest.raises(MemoryError):
        # Pooled plain vectors: other cache keys than the live build's, so every passage must be embedded.
        build_index(corpus_dir, index_copy, load_encoder(FAKE_MODEL), options=BuildOptions(plain_vectors="pooled"))
    monkeypatch.undo()
    assert _builds(index_copy) == builds_before
    assert os.readlink(index_copy / CURRENT_LINK) == link_before
    assert load_index(index_copy).passages


def test_rebuild_switches_current_and_keeps_one_previous_build(index_copy, corpus_dir, encoder):
    before = os.readlink(index_copy / CURRENT_LINK)
    build_index(corpus_dir, index_copy, encoder)
    middle = os.readlink(index_copy / CURRENT_LINK)
    assert middle != before
    build_index(corpus_dir, index_copy, encoder)
    after = os.readlink(index_copy / CURRENT_LINK)
    assert after not in (before, middle)
    remaining = _builds(index_copy)
    assert Path(after).name in remaining
    assert len(remaining) <= 2, remaining
    assert load_index(index_copy).passages


def _write_big_corpus(path: Path, documents: int = 3000, paragraphs: int = 12) -> None:
    rng = random.Random(7)
    vocabulary = ("patient treatment marrow cells leukemia relapse remission therapy infection fever blood "
                  "doctor team care plan drug dose risk child family spleen liver bruising").split()
    sentences = [" ".join(rng.choice(vocabulary) for _ in range(12)).capitalize() + "." for _ in range(400)]
    with path.open("w", encoding="utf-8") as handle:
        for d in range(documents):
            paras = [" ".join(sentences[(d * 31 + p * 7 + s) % len(sentences)] for s in range(4))
                     for p in range(paragraphs)]
            record = {"id": f"doc-{d}", "title": f"Document {d}", "text": "\n\n".join(paras)}
            handle.write(json.dumps(record) + "\n")


def test_killed_build_leaves_the_previous_index_serving(tmp_path, encoder):
    small = tmp_path / "small"
    shutil.copytree(ROOT / "corpus", small)
    index_dir = tmp_path / "index"
    build_index(small, index_dir, encoder)
    link_before = os.readlink(index_dir / CURRENT_LINK)
    answers_before = _search_answers(index_dir, encoder)

    big = tmp_path / "big.jsonl"
    _write_big_corpus(big)
    builds = index_dir / BUILDS_DIR
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "build", "--model", FAKE_MODEL, "--corpus", str(big), "--index",
         str(index_dir), "--quiet"],
        cwd=ROOT, env=qa_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        temporary: list[Path] = []
        while time.monotonic() < deadline and not temporary:
            assert process.poll() is None, f"the build finished before it could be killed: {process.stderr.read()}"
            temporary = [p for p in builds.iterdir() if p.name.startswith(".tmp-")]
            if not temporary:
                time.sleep(0.005)
        assert temporary, "no temporary build directory appeared"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    # The old index is untouched and still answers.
    assert os.readlink(index_dir / CURRENT_LINK) == link_before
    assert not (index_dir / CURRENT_LINK).resolve().name.startswith(".tmp-")
    assert load_index(index_dir).manifest["corpus"]["path"] == str(small.resolve())
    assert _search_answers(index_dir, encoder) == answers_before
    leftovers = [p.name for p in builds.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers, "the killed build should have left its temporary directory behind"

    # The next build goes live and removes what the killed one left behind.
    build_index(small, index_dir, encoder)
    assert os.readlink(index_dir / CURRENT_LINK) != link_before
    assert _search_answers(index_dir, encoder) == answers_before
    remaining = [p.name for p in builds.iterdir() if p.name.startswith(".tmp-")]
    assert remaining == [], f"abandoned temporary builds were not cleaned up: {remaining}"


def test_next_build_removes_old_abandoned_temporary_builds(index_copy, corpus_dir, encoder):
    abandoned = index_copy / BUILDS_DIR / ".tmp-abandoned"
    abandoned.mkdir()
    (abandoned / VECTORS).write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(abandoned / VECTORS, (old, old))
    os.utime(abandoned, (old, old))
    build_index(corpus_dir, index_copy, encoder)
    assert not abandoned.exists()


def test_passage_only_build_loads_and_searches(tmp_path, guide_corpus):
    from qa.index.build import BuildOptions
    from qa.search import Searcher

    encoder = load_encoder("hash:64")
    manifest = build_index(guide_corpus, tmp_path / "idx", encoder, options=BuildOptions(sub_units=False))
    assert manifest["build"]["sub_units"] is False
    loaded = load_index(tmp_path / "idx", model="hash:64")
    assert loaded.unit_vectors.ntotal == 0 and len(loaded.unit_rows) == 0
    outcome = Searcher(loaded, encoder).search("minimal residual disease", k=3)
    assert outcome.hits and "minimal residual disease" in outcome.hits[0].passage.text


def test_an_untitled_document_gives_each_passage_its_opening_sentence_as_context(tmp_path):
    """A long answer seldom names its topic in every passage: without a title, its opening sentence does."""
    from qa.corpus import load_corpus, split_document
    from qa.index.inputs import OPENING_MAX_CHARS

    corpus = tmp_path / "answers.jsonl"
    lines = [{"id": "a1", "text": "Acromegaly is a hormonal disorder. It comes from too much growth hormone.\n\n"
                                  + "Treatment may include surgery. " * 40},
             {"id": "a2", "title": "Asthma", "text": "Asthma narrows the airways. " * 5},
             {"id": "a3", "text": "word " * 400}]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    documents = {d.id: d for d in load_corpus(corpus).documents}
    assert not documents["a1"].titled and documents["a2"].titled
    passages = [p for d in documents.values() for p in split_document(d)]
    contexts = document_contexts(documents, passages)
    assert contexts == {"a1": "Acromegaly is a hormonal disorder.", "a2": "Asthma",
                        "a3": contexts["a3"]}
    assert len(contexts["a3"]) <= OPENING_MAX_CHARS and contexts["a3"].startswith("word word")
    later = [p for p in passages if p.doc_id == "a1"][-1]
    assert "Acromegaly" not in later.text
    assert embedding_input(contexts["a1"], later).startswith("Acromegaly is a hormonal disorder.\n")
