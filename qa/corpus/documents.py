"""Corpus loading: documents with their metadata from a directory or a JSONL file."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from qa.corpus.html import html_to_text
from qa.errors import CorpusError

DOCUMENT_SUFFIXES = (".txt", ".md", ".html", ".htm")
BOILERPLATE_FILE = "boilerplate.patterns"
METADATA_SUFFIX = ".meta.json"
CITATION_FIELDS = ("title", "publisher", "reviewed", "url")
_REVIEWED_LINE = re.compile(
    r"^[ \t]*(?:Last )?(?:Reviewed|Updated)[ \t]*:[ \t]*(?P<date>\S[^\n]*?)[ \t]*$", re.I | re.M
)


@dataclass
class Document:
    """One corpus document: its exact source text plus citation metadata."""

    id: str
    text: str
    title: str = ""
    publisher: str = ""
    reviewed: str = ""
    url: str = ""
    format: str = "text"  # text | markdown | html
    heading_levels: dict[str, int] = field(default_factory=dict)
    boilerplate: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    titled: bool = True  # False when the source gave no title (``title`` is then the document id)

    def citation_metadata(self) -> dict:
        return {name: getattr(self, name) for name in CITATION_FIELDS}

    def to_record(self) -> dict:
        return {
            "id": self.id,
            **self.citation_metadata(),
            "format": self.format,
            "extra": self.extra,
            "titled": self.titled,
            "text": self.text,
        }

    @classmethod
    def from_record(cls, record: dict) -> Document:
        """The document ``to_record`` wrote (an index's documents.jsonl)."""
        return cls(id=record["id"], text=record["text"], **{name: record[name] for name in CITATION_FIELDS},
                   format=record.get("format", "text"), extra=record.get("extra", {}),
                   titled=bool(record.get("titled", True)))


@dataclass
class Corpus:
    """The loaded documents plus a hash of everything that shapes the passages."""

    path: Path
    documents: list[Document]
    content_hash: str

    def __len__(self) -> int:
        return len(self.documents)


def load_corpus(path: str | Path) -> Corpus:
    """Load a corpus directory (``.txt``/``.md``/``.html`` files) or a ``.jsonl`` file."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus {path} does not exist")
    hasher = hashlib.sha256()
    if path.is_dir():
        documents = _load_directory(path, hasher)
    elif path.suffix == ".jsonl":
        documents = _load_jsonl(path, hasher)
    else:
        raise CorpusError(f"corpus {path} must be a directory or a .jsonl file")
    if not documents:
        raise CorpusError(f"corpus {path} holds no documents ({', '.join(DOCUMENT_SUFFIXES)} files or JSONL lines)")
    return Corpus(path=path, documents=documents, content_hash=hasher.hexdigest())


def corpus_hash(path: str | Path) -> str:
    """Hash of the corpus content, as recorded in an index manifest."""
    return load_corpus(path).content_hash


def _read_text(path: Path) -> str:
    try:
        # newline="" keeps the characters exactly as stored, so spans slice the file itself.
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _hash_file(hasher, name: str, data: str) -> None:
    hasher.update(name.encode("utf-8") + b"\0" + data.encode("utf-8") + b"\0")


def _load_directory(directory: Path, hasher) -> list[Document]:
    boilerplate: list[str] = []
    boilerplate_path = directory / BOILERPLATE_FILE
    if boilerplate_path.is_file():
        raw = _read_text(boilerplate_path)
        _hash_file(hasher, BOILERPLATE_FILE, raw)
        boilerplate = [line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("#")]
        _check_patterns(boilerplate, str(boilerplate_path))
    documents = []
    files = sorted(
        p for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES and not p.name.upper().startswith("README")
    )
    for file in files:
        raw = _read_text(file)
        _hash_file(hasher, file.name, raw)
        meta_path = file.with_name(file.stem + METADATA_SUFFIX)
        metadata = {}
        if meta_path.is_file():
            meta_raw = _read_text(meta_path)
            _hash_file(hasher, meta_path.name, meta_raw)
            metadata = _parse_json_object(meta_raw, f"{meta_path}")
        where = str(meta_path) if meta_path.is_file() else str(file)  # metadata errors name the sidecar
        document = _make_document(file.stem, raw, metadata, _format_for(file.suffix.lower()), where)
        document.boilerplate = boilerplate + document.boilerplate
        documents.append(document)
    return documents


def _load_jsonl(path: Path, hasher) -> list[Document]:
    documents = []
    seen: set[str] = set()
    with path.open("rb") as handle:
        for line_number, raw_line in enumerate(handle, start=1):
            where = f"{path}:{line_number}"
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            _hash_file(hasher, str(line_number), line)
            record = _parse_json_object(line, where)
            doc_id, text = record.get("id"), record.get("text")
            if not isinstance(doc_id, (str, int)) or str(doc_id).strip() == "":
                raise CorpusError(f"{where}: each line needs a non-empty \"id\"")
            if not isinstance(text, str):
                raise CorpusError(f"{where}: \"text\" must be a string")
            doc_id = str(doc_id)
            if doc_id in seen:
                raise CorpusError(f"{where}: duplicate document id {doc_id!r}")
            seen.add(doc_id)
            metadata = {key: value for key, value in record.items() if key not in ("id", "text")}
            fmt = metadata.pop("format", "text")
            documents.append(_make_document(doc_id, text, metadata, fmt, where))
    return documents


def _parse_json_object(raw: str, where: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(value, dict):
        raise CorpusError(f"{where}: expected a JSON object")
    return value


def _format_for(suffix: str) -> str:
    return {".md": "markdown", ".html": "html", ".htm": "html"}.get(suffix, "text")


def _make_document(doc_id: str, raw: str, metadata: dict, fmt: str, where: str) -> Document:
    if fmt not in ("text", "markdown", "html"):
        raise CorpusError(f"{where}: unknown format {fmt!r} (text, markdown or html)")
    heading_levels = metadata.get("headings", {})
    if not isinstance(heading_levels, dict) or not all(isinstance(v, int) for v in heading_levels.values()):
        raise CorpusError(f"{where}: \"headings\" must map heading text to a level number")
    text = raw
    if fmt == "html":
        text, html_levels, html_title = html_to_text(raw)
        heading_levels = {**html_levels, **heading_levels}
        metadata.setdefault("title", html_title)
    reviewed = str(metadata.get("reviewed") or "")
    if not reviewed:
        match = _REVIEWED_LINE.search(text)
        reviewed = match.group("date") if match else ""
    boilerplate = metadata.get("boilerplate", [])
    if not isinstance(boilerplate, list) or not all(isinstance(p, str) for p in boilerplate):
        raise CorpusError(f"{where}: \"boilerplate\" must be a list of regular expressions")
    _check_patterns(boilerplate, where)
    known = set(CITATION_FIELDS) | {"headings", "boilerplate"}
    return Document(
        id=doc_id,
        text=text,
        title=str(metadata.get("title") or doc_id),
        titled=bool(metadata.get("title")),
        publisher=str(metadata.get("publisher") or ""),
        reviewed=reviewed,
        url=str(metadata.get("url") or ""),
        format=fmt,
        heading_levels={str(k): int(v) for k, v in heading_levels.items()},
        boilerplate=list(boilerplate),
        extra={key: value for key, value in metadata.items() if key not in known},
    )


def _check_patterns(patterns: list[str], where: str) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CorpusError(f"{where}: invalid boilerplate pattern {pattern!r} ({exc})") from None


def is_reviewed_line(line: str) -> bool:
    return bool(_REVIEWED_LINE.fullmatch(line))
