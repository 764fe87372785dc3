"""Every setting declared once, with its default and help; read from ``QA_*`` environment variables.

Every ``QA_*`` variable is read here and nowhere else; lower layers get their values as arguments. The settings
table in docs/configuration.md is generated from ``SETTINGS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qa.corpus.files import builtin_corpus
from qa.embedding.base import DEFAULT_MODEL
from qa.embedding.onnx_runtime import SPIN_MICROSECONDS

ENV_PREFIX = "QA_"


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str
    minimum: int | None = None  # the smallest whole number allowed, when there is one

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("CORPUS", "", "Corpus directory or .jsonl file the index is built from and checked against. Empty: "
            "corpus/ in the working directory when there is one (a checkout), else the guide that ships with the "
            "package."),
    Setting("INDEX_DIR", "", "Directory that holds the built index. Empty: index/ in the working directory when it "
            "has a corpus/ folder, else the user's data directory ($XDG_DATA_HOME/qa/index, by default "
            "~/.local/share/qa/index)."),
    Setting("MODEL", DEFAULT_MODEL, "Embedding model: the bundled all-MiniLM-L6-v2 or a local "
            "sentence-transformers directory. Nothing is downloaded."),
    Setting("ENCODER_BACKEND", "auto", "Query and build encoder: onnx (ONNX Runtime, no torch at serve time), torch "
            "(sentence-transformers), or auto: onnx when its export matches torch, else torch."),
    Setting("ENCODER_THREADS", 0, "Encoder threads per process (ONNX Runtime, torch, OpenMP); 0: the cores shared "
            "out between the serve workers."),
    Setting("ENCODER_SPIN_US", SPIN_MICROSECONDS, "Microseconds an idle ONNX Runtime pool thread spins before it "
            "sleeps: a short query's encode is faster and uses less CPU than when the thread sleeps at once (0).",
            minimum=0),
    Setting("KEEPALIVE_LINGER_MS", 2, "Milliseconds a serve thread that has just answered on a kept-alive "
            "connection waits for that connection's next request, while no other connection waits; 0: hand it "
            "back to gunicorn's poller at once, as plain gthread does.", minimum=0),
    # Slow, idle and half-open clients: the worker reads every request whole in its event loop before a thread
    # serves it (qa/server/buffering.py); these bound how long a connection may take and how many there are.
    Setting("HEADER_TIMEOUT_S", 10, "Seconds a client has, from the first byte of a request, to send its request "
            "line and headers; past it: 408 request_timeout and the connection closes. A real request's head is one "
            "packet; 10 s allows for retransmissions on a bad mobile network.", minimum=1),
    Setting("BODY_TIMEOUT_S", 10, "Seconds a client has, after the headers, to send a request body, plus one second "
            "for every QA_BODY_MIN_RATE bytes already received; past it: 408 request_timeout and the connection "
            "closes.", minimum=1),
    Setting("BODY_MIN_RATE", 500, "Bytes per second a body must keep up on average to earn more time than "
            "QA_BODY_TIMEOUT_S (Apache's mod_reqtimeout default): a 4 MiB body may take as long as it needs at "
            "that rate, a client that trickles cannot hold its connection forever.", minimum=1),
    Setting("KEEPALIVE_TIMEOUT_S", 5, "Seconds a connection may stay open with no request in progress (a new one "
            "that has sent nothing, or a kept-alive one between requests) before the server closes it.", minimum=1),
    Setting("SEND_TIMEOUT_S", 30, "Seconds a serve thread waits for a client to take a response before it closes "
            "the connection: a client that never reads cannot hold a thread.", minimum=1),
    Setting("MAX_CONNECTIONS", 4096, "Open connections per serve worker. At the limit a new connection closes the "
            "one idle the longest, or gets 503 too_many_connections when none is idle. `qa serve` raises its "
            "open-file limit to the hard limit at start and lowers this to fit.", minimum=1),
    Setting("ONNX_CACHE", "", "Directory for the checked ONNX exports, one per model and model-file hash; empty: "
            "~/.cache/qa/onnx."),
    Setting("NOTICES_FILE", "", "Abstention and urgent-care texts, and the name of the urgent rules file "
            "(urgent.json beside it). Empty: the corpus's own (notices.json in a corpus directory, "
            "STEM.notices.json beside STEM.jsonl), else built-in texts and no urgent notice."),
    Setting("LAY_TERMS_FILE", "", "Lay-to-clinical query expansions (queries only). Empty: the corpus's own "
            "(lay_terms.tsv, or STEM.lay_terms.tsv), else none."),
    Setting("EXAMPLES_FILE", "", "Labelled example questions (JSONL with gold quotes, as eval/ holds them): a "
            "passage is also as close to a question as the nearest example it answers. Never shown. Empty: the "
            "corpus's own (example_questions.jsonl, or STEM.example_questions.jsonl), else none."),
    Setting("ANSWERABILITY_FILE", "", "The answerability model (when to abstain), written by `python -m qa eval "
            "--calibrate` and tagged with the corpus, its example questions and the model. Empty: the corpus's own "
            "(answerability.json, or STEM.answerability.json), else the plain confidence and abstain_below."),
    Setting("RETRIEVAL_FILE", "", "Fusion weight and abstention threshold, written by `python -m qa eval "
            "--calibrate` and tagged with the corpus hash. Empty: the corpus's own (retrieval.json, or "
            "STEM.retrieval.json), else the uncalibrated defaults."),
    Setting("CHECK_CORPUS", True, "Refuse to serve an index that is older than its corpus."),
    Setting("DEFAULT_K", 5, "Passages returned when a request does not give k."),
    Setting("MAX_K", 20, "Largest k a request may ask for."),
    Setting("MAX_QUERY_CHARS", 1000, "Longest query accepted, in characters."),
    Setting("MAX_BATCH", 1000, "Most queries in one POST /api/search/batch."),
    Setting("CORS_ORIGINS", "", "Comma-separated origins allowed to call /api/* from a browser; empty: CORS off."),
    Setting("FRAME_ANCESTORS", "", "Space-separated origins allowed to put /embed in an iframe; empty: any."),
    # Limits: enforced by gunicorn (request line, headers) and again by the app, so any WSGI server keeps them.
    Setting("MAX_REQUEST_LINE", 8190, "Longest request line (method, path, query string, protocol) in bytes; "
            "over it: 414 uri_too_long. 8190 is gunicorn's ceiling."),
    Setting("MAX_HEADER_BYTES", 8190, "Longest request header line (name and value) in bytes; over it: 431 "
            "headers_too_large."),
    Setting("MAX_HEADERS", 100, "Most request header fields; over it: 431 headers_too_large."),
    Setting("MAX_BODY_BYTES", 4 * 1024 * 1024, "Largest request body in bytes; over it: 413 body_too_large."),
    Setting("LOG_QUERIES", False, "Also write the query text into the access log. Off: queries are health "
            "information and never logged."),
    Setting("RATE_LIMIT", "", "Requests per client address on /api/*, as flask-limiter limits, e.g. "
            "'30/minute;500/hour'; empty: no limit."),
    Setting("RATE_LIMIT_STORAGE", "memory://", "Where rate-limit counters live: memory:// (per worker) or a "
            "redis://host:6379 URI shared by all workers and replicas."),
    Setting("TRUSTED_PROXIES", 0, "Reverse proxies in front of the service whose X-Forwarded-For is trusted; "
            "0: the client address is the socket peer."),
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
            value = int(raw)
        except ValueError:
            raise ValueError(f"{setting.env} must be a whole number, not {raw!r}") from None
        if setting.minimum is not None and value < setting.minimum:
            raise ValueError(f"{setting.env} must be {setting.minimum} or more, not {value}")
        return value
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
    if not values["CORPUS"]:
        values["CORPUS"] = str(default_corpus())
    if not values["INDEX_DIR"]:
        values["INDEX_DIR"] = str(default_index_dir(environ))
    return values


def _checkout() -> bool:
    """Whether the working directory holds a corpus/ folder: a checkout, or a deployment laid out like one."""
    return Path("corpus").is_dir()


def default_corpus() -> Path:
    return Path("corpus") if _checkout() else builtin_corpus()


def default_index_dir(environ=None) -> Path:
    if _checkout():
        return Path("index")
    environ = os.environ if environ is None else environ
    data = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "qa" / "index"
