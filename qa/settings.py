"""Every setting declared once, with its default and help; read from ``QA_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from qa.embedding import DEFAULT_MODEL

ENV_PREFIX = "QA_"


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("CORPUS", "corpus", "Corpus directory or .jsonl file the index is built from and checked against."),
    Setting("INDEX_DIR", "index", "Directory that holds the built index."),
    Setting("MODEL", DEFAULT_MODEL, "Embedding model: the bundled all-MiniLM-L6-v2 or a local "
            "sentence-transformers directory. Nothing is downloaded."),
    Setting("ENCODER_BACKEND", "auto", "Query and build encoder: onnx (ONNX Runtime, no torch at serve time), torch "
            "(sentence-transformers), or auto: onnx when its export matches torch, else torch."),
    Setting("ENCODER_THREADS", 0, "Encoder threads per process (ONNX Runtime, torch, OpenMP); 0: the cores shared "
            "out between the serve workers."),
    Setting("ONNX_CACHE", "", "Directory for the checked ONNX exports, one per model and model-file hash; empty: "
            "~/.cache/qa/onnx."),
    Setting("NOTICES_FILE", "corpus/notices.json", "Abstention and urgent-care texts and the urgent triggers."),
    Setting("LAY_TERMS_FILE", "corpus/lay_terms.tsv", "Lay-to-clinical query expansions (queries only)."),
    Setting("RETRIEVAL_FILE", "corpus/retrieval.json", "Fusion weights and the abstention threshold "
            "(written by `python -m qa eval --calibrate`)."),
    Setting("CHECK_CORPUS", True, "Refuse to serve an index that is older than its corpus."),
    Setting("DEFAULT_K", 5, "Passages returned when a request does not give k."),
    Setting("MAX_K", 20, "Largest k a request may ask for."),
    Setting("MAX_QUERY_CHARS", 1000, "Longest query accepted, in characters."),
    Setting("MAX_BATCH", 1000, "Most queries in one POST /api/search/batch."),
    Setting("CORS_ORIGINS", "", "Comma-separated origins allowed to call /api/* from a browser; empty: CORS off."),
    Setting("FRAME_ANCESTORS", "", "Space-separated origins allowed to put /embed in an iframe; empty: any."),
)
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}


def _coerce(setting: Setting, raw: str) -> object:
    if isinstance(setting.default, bool):
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{setting.env} must be true or false, not {raw!r}")
    if isinstance(setting.default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{setting.env} must be a whole number, not {raw!r}") from None
    return raw


def load_settings(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Defaults, then ``QA_*`` environment variables, then explicit overrides (tests, CLI flags)."""
    environ = os.environ if environ is None else environ
    values = dict(DEFAULTS)
    for setting in SETTINGS:
        if setting.env in environ:
            values[setting.name] = _coerce(setting, environ[setting.env])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return values
