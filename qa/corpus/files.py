"""The files a corpus brings beside its documents, and where the built-in guide lives.

Notices, lay terms, retrieval settings and build options belong to one corpus, so that the guide's never apply to
another: ``NAME`` inside a corpus directory, or ``STEM.NAME`` beside a ``STEM.jsonl`` corpus.
"""

from __future__ import annotations

from pathlib import Path

NOTICES = "notices.json"
LAY_TERMS = "lay_terms.tsv"
RETRIEVAL = "retrieval.json"
BUILD = "build.json"
EXAMPLES = "example_questions.jsonl"
ANSWERABILITY = "answerability.json"
# The settings that name a corpus file, and the file each defaults to.
SETTING_FILES = {"NOTICES_FILE": NOTICES, "LAY_TERMS_FILE": LAY_TERMS, "RETRIEVAL_FILE": RETRIEVAL,
                 "EXAMPLES_FILE": EXAMPLES, "ANSWERABILITY_FILE": ANSWERABILITY}
_PACKAGE = Path(__file__).resolve().parents[1]  # the qa package


def corpus_file(corpus_path: str | Path, name: str) -> Path:
    """Where a corpus keeps its own ``name`` (notices, lay terms, settings): inside a corpus directory, or
    ``STEM.name`` beside a ``STEM.jsonl`` corpus."""
    corpus_path = Path(corpus_path)
    if corpus_path.suffix == ".jsonl":
        return corpus_path.with_name(f"{corpus_path.stem}.{name}")
    return corpus_path / name


def resolve_corpus_files(settings: dict, corpus_path: str | Path | None) -> dict:
    """Settings with each unset corpus file (notices, lay terms, retrieval settings) found beside the corpus."""
    resolved = dict(settings)
    for key, name in SETTING_FILES.items():
        if not resolved.get(key) and corpus_path:
            resolved[key] = str(corpus_file(corpus_path, name))
    return resolved


def builtin_corpus() -> Path:
    """The guide that ships with the service: ``qa/guide`` in an installed package (the wheel maps the repository's
    ``corpus/`` there), else ``corpus/`` beside the ``qa`` package in a checkout."""
    installed = _PACKAGE / "guide"
    return installed if installed.is_dir() else _PACKAGE.parent / "corpus"
