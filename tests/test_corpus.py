"""Corpus loading: directories with metadata sidecars, JSONL files, errors and the content hash."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from qa.corpus import corpus_hash, load_corpus
from qa.corpus.splitter import SplitOptions, split_document
from qa.errors import CorpusError
from tests.support import ROOT

FAKE_MODEL = "hash:64"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture()
def mixed_dir(tmp_path) -> Path:
    """A directory corpus with one document of each format, a sidecar, chrome patterns and non-documents."""
    root = tmp_path / "mixed"
    root.mkdir()
    _write(root / "alpha.txt", "Alpha guide\n\nWhat it is\n\nAlpha is a plain text guide.\n\nReviewed: March 2021\n")
    _write(root / "alpha.meta.json", json.dumps({
        "title": "Alpha guide", "publisher": "Alpha House", "url": "https://example.org/alpha",
        "reviewed": "April 2024", "audience": "parents",
    }))
    _write(root / "beta.md", "# Beta notes\n\n## Section one\n\nBeta body text.\n\nReviewed: June 2020\n")
    _write(root / "gamma.html", "<html><head><title>Gamma page</title></head><body><h1>Gamma page</h1>"
                                "<h2>Part</h2><p>Gamma paragraph.</p></body></html>")
    _write(root / "README.md", "# This folder\n\nNot a document.\n")
    _write(root / "readme.txt", "Not a document either.\n")
    _write(root / "notes.json", "{}")
    _write(root / "terms.tsv", "a\tb\n")
    _write(root / "boilerplate.patterns", "# comment line\nSkip to content\n")
    return root


def test_directory_corpus_loads_documents_with_metadata(mixed_dir):
    corpus = load_corpus(mixed_dir)
    assert len(corpus) == 3
    by_id = {d.id: d for d in corpus.documents}
    assert sorted(by_id) == ["alpha", "beta", "gamma"]

    alpha = by_id["alpha"]
    assert alpha.format == "text"
    assert (alpha.title, alpha.publisher, alpha.url) == ("Alpha guide", "Alpha House", "https://example.org/alpha")
    assert alpha.reviewed == "April 2024"  # the sidecar wins over the text's own line
    assert alpha.extra == {"audience": "parents"}
    assert alpha.text == (mixed_dir / "alpha.txt").read_text(encoding="utf-8")
    assert "Skip to content" in alpha.boilerplate

    beta = by_id["beta"]
    assert beta.format == "markdown"
    assert beta.title == "beta"  # no sidecar: the file name
    assert beta.reviewed == "June 2020"  # from the "Reviewed:" line
    assert beta.publisher == beta.url == ""

    gamma = by_id["gamma"]
    assert gamma.format == "html"
    assert gamma.title == "Gamma page"
    assert "<" not in gamma.text and "Gamma paragraph." in gamma.text


def test_readme_and_other_files_are_not_documents(mixed_dir):
    ids = {d.id for d in load_corpus(mixed_dir).documents}
    assert not any(i.lower().startswith("readme") for i in ids)
    assert not ids & {"notes", "terms", "boilerplate", "alpha.meta"}


def test_directory_documents_split_into_exact_slices(mixed_dir):
    for document in load_corpus(mixed_dir).documents:
        passages = split_document(document)
        assert passages, document.id
        for passage in passages:
            assert document.text[passage.start:passage.end] == passage.text
            assert "Reviewed" not in passage.text


def test_the_real_guide_corpus_loads():
    corpus = load_corpus(ROOT / "corpus")
    (document,) = corpus.documents
    assert document.id == "relapsed-refractory-all"
    assert document.title == "Relapsed/ Refractory Acute Lymphoblastic Leukemia (ALL)"
    assert document.publisher == "St. Jude Children's Research Hospital (Together)"
    assert document.reviewed == "November 2022"


@pytest.mark.parametrize("content", ['{"title": "x",}', "not json at all", ""])
def test_invalid_metadata_json_names_the_file(mixed_dir, content):
    _write(mixed_dir / "alpha.meta.json", content)
    with pytest.raises(CorpusError) as raised:
        load_corpus(mixed_dir)
    assert "alpha.meta.json" in str(raised.value)
    assert "invalid JSON" in str(raised.value)


@pytest.mark.parametrize("content", ['["a list"]', '"a string"', "42"])
def test_metadata_that_is_not_an_object_names_the_file(mixed_dir, content):
    _write(mixed_dir / "alpha.meta.json", content)
    with pytest.raises(CorpusError, match="alpha.meta.json"):
        load_corpus(mixed_dir)


def test_metadata_heading_hints_must_be_levels(mixed_dir):
    _write(mixed_dir / "alpha.meta.json", json.dumps({"headings": {"What it is": "two"}}))
    with pytest.raises(CorpusError, match="headings"):
        load_corpus(mixed_dir)


def _split_all(path: Path) -> None:
    for document in load_corpus(path).documents:
        split_document(document)


def test_invalid_boilerplate_pattern_names_the_file(mixed_dir):
    _write(mixed_dir / "boilerplate.patterns", "# chrome\nSkip to content\nFooter (\n")
    with pytest.raises(CorpusError) as raised:
        _split_all(mixed_dir)  # whether loading or splitting notices it, it must be a CorpusError
    assert "boilerplate.patterns" in str(raised.value)


@pytest.mark.parametrize("boilerplate", ["Blog", 5, {"x": 1}, ["Footer ("], [3]])
def test_metadata_boilerplate_must_be_a_list_of_patterns(mixed_dir, boilerplate):
    _write(mixed_dir / "alpha.meta.json", json.dumps({"title": "Alpha guide", "boilerplate": boilerplate}))
    with pytest.raises(CorpusError) as raised:
        _split_all(mixed_dir)
    assert "alpha.meta.json" in str(raised.value)


def test_metadata_boilerplate_list_drops_those_lines(mixed_dir):
    _write(mixed_dir / "alpha.meta.json", json.dumps({"title": "Alpha guide", "boilerplate": ["Alpha is a .*"]}))
    (alpha,) = [d for d in load_corpus(mixed_dir).documents if d.id == "alpha"]
    assert not any("Alpha is a plain text guide" in p.text for p in split_document(alpha))


# --------------------------------------------------------------------------- JSONL corpora


def _long_document(number: int, paragraphs: int = 12) -> str:
    parts = [f"Overview of topic {number}"]
    for j in range(paragraphs):
        parts.append(f"Paragraph {j} of document {number} explains point {j} about topic {number} in detail. "
                     f"It adds a second sentence so that the paragraph has some length to it, about "
                     f"{number * 10 + j} words of care advice. A third sentence closes paragraph {j}.")
    return "\n\n".join(parts) + "\n"


JSONL_DOCS = [
    {"id": "fever", "title": "Fever at home", "url": "https://example.org/fever", "publisher": "Example Clinic",
     "reviewed": "May 2023", "text": _long_document(1)},
    {"id": "port-care", "title": "Caring for a port", "url": "https://example.org/port",
     "text": _long_document(2) + "Flushing the port keeps the central line open.\n"},
    {"id": 7, "title": "Numbered document", "url": "https://example.org/7", "text": _long_document(3),
     "language": "en"},
]


@pytest.fixture()
def jsonl_corpus(tmp_path) -> Path:
    path = tmp_path / "docs.jsonl"
    _write(path, "\n".join(json.dumps(d, ensure_ascii=False) for d in JSONL_DOCS) + "\n")
    return path


def test_jsonl_corpus_loads_long_documents(jsonl_corpus):
    corpus = load_corpus(jsonl_corpus)
    assert [d.id for d in corpus.documents] == ["fever", "port-care", "7"]
    for document, record in zip(corpus.documents, JSONL_DOCS):
        assert document.text == record["text"]
        assert document.title == record["title"]
        assert document.url == record["url"]
        assert document.text.count("\n\n") >= 10
    assert corpus.documents[0].publisher == "Example Clinic"
    assert corpus.documents[0].reviewed == "May 2023"
    assert corpus.documents[2].extra == {"language": "en"}


def test_jsonl_documents_split_into_many_exact_passages(jsonl_corpus):
    for document in load_corpus(jsonl_corpus).documents:
        passages = split_document(document, SplitOptions(target_chars=500, max_chars=1000))
        assert len(passages) >= 3, document.id
        assert {p.doc_id for p in passages} == {document.id}
        for passage in passages:
            assert document.text[passage.start:passage.end] == passage.text


def test_jsonl_titles_and_urls_travel_into_citations(jsonl_corpus, tmp_path):
    from qa.embedding import load_encoder
    from qa.index.build import build_index
    from qa.web import create_app

    index_dir = tmp_path / "index"
    build_index(jsonl_corpus, index_dir, load_encoder(FAKE_MODEL))
    # The calibrated threshold is for the real model; the fake must not abstain here.
    retrieval = tmp_path / "retrieval.json"
    settings = json.loads((ROOT / "corpus" / "retrieval.json").read_text(encoding="utf-8"))
    retrieval.write_text(json.dumps({**settings, "abstain_below": -1e9}), encoding="utf-8")
    app = create_app({
        "INDEX_DIR": str(index_dir), "CORPUS": str(jsonl_corpus), "MODEL": FAKE_MODEL,
        "NOTICES_FILE": str(ROOT / "corpus" / "notices.json"),
        "LAY_TERMS_FILE": str(ROOT / "corpus" / "lay_terms.tsv"),
        "RETRIEVAL_FILE": str(retrieval),
    })
    client = app.test_client()
    records = {str(d["id"]): d for d in JSONL_DOCS}

    response = client.get("/api/search", query_string={"q": "flushing the port central line", "k": 20})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results and results[0]["doc_id"] == "port-care"
    assert {r["doc_id"] for r in results} == set(records)
    for result in results:
        record = records[result["doc_id"]]
        citation = result["citation"]
        assert citation["title"] == record["title"]
        assert citation["url"] == record["url"]
        assert citation["publisher"] == record.get("publisher", "")
        assert citation["reviewed"] == record.get("reviewed", "")
        assert record["title"] in citation["text"] and record["url"] in citation["text"]
        assert record["text"][result["start"]:result["end"]] == result["text"]

    passage = client.get(f"/api/passages/{results[0]['passage_id']}").get_json()
    assert passage["citation"]["url"] == "https://example.org/port"


@pytest.mark.parametrize(("lines", "bad_line", "message"), [
    (['{"id": "a", "text": "ok"}', '{"id": "b", "text": "broken"'], 2, "invalid JSON"),
    (['{"id": "a", "text": "ok"}', "", '{"text": "no id"}'], 3, '"id"'),
    (['{"id": "", "text": "empty id"}'], 1, '"id"'),
    (['{"id": "a", "text": 5}'], 1, '"text"'),
    (['{"id": "a", "text": null}'], 1, '"text"'),
    (['{"id": "a"}'], 1, '"text"'),
    (['{"id": "a", "text": "x"}', '{"id": "b", "text": "y"}', '{"id": "a", "text": "z"}'], 3, "duplicate"),
    (['{"id": 1, "text": "x"}', '{"id": "1", "text": "y"}'], 2, "duplicate"),
    (['["a", "b"]'], 1, "JSON object"),
    (['{"id": "a", "text": "x", "format": "pdf"}'], 1, "format"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, lines, bad_line, message):
    path = _write(tmp_path / "bad.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(CorpusError) as raised:
        load_corpus(path)
    text = str(raised.value)
    assert f"{path}:{bad_line}:" in text
    assert message in text


@pytest.mark.parametrize("layout", ["empty-dir", "readme-only", "other-files", "empty-jsonl", "blank-jsonl"])
def test_empty_corpus_is_an_error(tmp_path, layout):
    if layout.endswith("jsonl"):
        target = _write(tmp_path / "docs.jsonl", "" if layout == "empty-jsonl" else "\n  \n\n")
    else:
        target = tmp_path / "docs"
        target.mkdir()
        if layout == "readme-only":
            _write(target / "README.md", "# Readme\n")
        if layout == "other-files":
            _write(target / "data.csv", "a,b\n")
            _write(target / "x.meta.json", "{}")
    with pytest.raises(CorpusError, match="no documents"):
        load_corpus(target)


def test_missing_corpus_and_wrong_kind_of_path(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")
    single = _write(tmp_path / "single.txt", "hello\n")
    with pytest.raises(CorpusError, match="directory or a .jsonl"):
        load_corpus(single)


def test_non_utf8_document_names_the_file(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    _write(root / "good.txt", "Fine text.\n")
    (root / "latin.txt").write_bytes("Caf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(CorpusError) as raised:
        load_corpus(root)
    assert "latin.txt" in str(raised.value)
    assert "UTF-8" in str(raised.value)


def test_non_utf8_metadata_names_the_file(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    _write(root / "good.txt", "Fine text.\n")
    (root / "good.meta.json").write_bytes('{"title": "Caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(CorpusError, match="good.meta.json"):
        load_corpus(root)


def test_non_utf8_jsonl_names_the_file(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'{"id": "a", "text": "fine"}\n' + '{"id": "b", "text": "Caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(CorpusError) as raised:
        load_corpus(path)
    assert str(path) in str(raised.value)
    assert "UTF-8" in str(raised.value)


# --------------------------------------------------------------------------- the content hash


@pytest.fixture()
def guide_copy(tmp_path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    _write(path, text.replace(old, new, 1))


@pytest.mark.parametrize("change", [
    "document-text", "document-whitespace", "metadata-title", "metadata-heading", "boilerplate", "new-document",
    "removed-metadata", "renamed-document",
])
def test_content_hash_changes_with_documents_and_metadata(guide_copy, change):
    before = corpus_hash(guide_copy)
    guide = guide_copy / "relapsed-refractory-all.txt"
    meta = guide_copy / "relapsed-refractory-all.meta.json"
    if change == "document-text":
        _edit(guide, "about 90%", "about 91%")
    elif change == "document-whitespace":
        _edit(guide, "Paleness\n", "Paleness \n")
    elif change == "metadata-title":
        _edit(meta, '"title": "Relapsed/', '"title": "Relapsed /')
    elif change == "metadata-heading":
        _edit(meta, '"Bone marrow": 4', '"Bone marrow": 3')
    elif change == "boilerplate":
        _write(guide_copy / "boilerplate.patterns", (guide_copy / "boilerplate.patterns").read_text() + "Footer\n")
    elif change == "new-document":
        _write(guide_copy / "second.txt", "Second guide\n\nMore text.\n")
    elif change == "removed-metadata":
        meta.unlink()
    elif change == "renamed-document":
        guide.rename(guide_copy / "renamed.txt")
        meta.rename(guide_copy / "renamed.meta.json")
    assert corpus_hash(guide_copy) != before


@pytest.mark.parametrize("change", ["nothing", "rewrite-same-bytes", "touch", "readme", "notices", "lay-terms",
                                    "unrelated-file"])
def test_content_hash_is_stable_otherwise(guide_copy, change):
    before = corpus_hash(guide_copy)
    guide = guide_copy / "relapsed-refractory-all.txt"
    if change == "rewrite-same-bytes":
        guide.write_bytes(guide.read_bytes())
    elif change == "touch":
        os.utime(guide, (1_000_000_000, 1_000_000_000))
        os.utime(guide_copy / "relapsed-refractory-all.meta.json", None)
    elif change == "readme":
        _write(guide_copy / "README.md", "# About this corpus\n")
    elif change == "notices":
        _edit(guide_copy / "notices.json", "Please ask", "Please do ask")
    elif change == "lay-terms":
        _write(guide_copy / "lay_terms.tsv", (guide_copy / "lay_terms.tsv").read_text() + "owie\tpain\n")
    elif change == "unrelated-file":
        _write(guide_copy / "notes.csv", "a,b\n")
    assert corpus_hash(guide_copy) == before


def test_jsonl_content_hash(jsonl_corpus):
    before = corpus_hash(jsonl_corpus)
    assert corpus_hash(jsonl_corpus) == before
    jsonl_corpus.write_bytes(jsonl_corpus.read_bytes())
    assert corpus_hash(jsonl_corpus) == before
    original = jsonl_corpus.read_text(encoding="utf-8")
    _write(jsonl_corpus, original.replace("Fever at home", "Fever at home (2)"))
    retitled = corpus_hash(jsonl_corpus)
    assert retitled != before
    _write(jsonl_corpus, original.replace("paragraph 0.", "paragraph zero.", 1))
    assert corpus_hash(jsonl_corpus) not in (before, retitled)
