"""Command line: ``python -m qa build | search | serve | eval``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from qa.errors import InputError, QAError
from qa.settings import load_settings


class _Parser(argparse.ArgumentParser):
    """Argument errors are one line on stderr and exit status 2, never a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, not {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m qa", description="Cited, verbatim passage search over patient guides.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    build = commands.add_parser("build", help="split, embed and index a corpus")
    build.add_argument("--corpus", help="corpus directory or .jsonl file (default: corpus/)")
    build.add_argument("--index", help="index directory (default: index/)")
    build.add_argument("--model", help="embedding model (default: bundled all-MiniLM-L6-v2)")
    build.add_argument("--no-sub-units", action="store_true",
                       help="embed whole passages only: about 5x fewer vectors for large corpora, less precise")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="where to embed: cuda runs sentence-transformers on a GPU (large corpora)")

    search = commands.add_parser("search", help="answer one question from the index")
    search.add_argument("question")
    search.add_argument("--index", help="index directory (default: index/)")
    search.add_argument("-k", type=_positive, help="number of passages (default 5, at most 20)")
    search.add_argument("--json", action="store_true", help="print exactly the API's JSON response body")
    search.add_argument("--include-low-confidence", action="store_true",
                        help="show passages even when the service would abstain")

    serve = commands.add_parser("serve", help="build the index if needed, then serve HTTP with gunicorn")
    serve.add_argument("--index", help="index directory (default: index/)")
    serve.add_argument("--corpus", help="corpus to build from and check against (default: corpus/)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (each loads the model)")
    serve.add_argument("--threads", type=_positive, default=4, help="threads per worker")

    notice = commands.add_parser("notice", help="say whether the urgent notice fires for a question, and why")
    notice.add_argument("question")
    notice.add_argument("--index", help="index directory (default: index/)")
    notice.add_argument("--json", action="store_true", help="print the decision as JSON")

    train = commands.add_parser("train-urgent", help="train the urgent notice's classifier on labelled questions")
    train.add_argument("files", nargs="+", help="labelled JSONL files (qid, query, urgent) as qa eval --urgent reads")
    train.add_argument("--index", help="index directory (default: index/)")
    train.add_argument("--strength", type=float, help="regularisation C (default: classifier.strength in the rules)")

    from qa.evaluate_cli import add_eval_parser

    add_eval_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"build": _build, "search": _search, "serve": _serve, "eval": _eval,
                "notice": _notice, "train-urgent": _train_urgent}[args.command](args)
    except (QAError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _settings(args) -> dict:
    return load_settings({"INDEX_DIR": getattr(args, "index", None), "CORPUS": getattr(args, "corpus", None),
                          "MODEL": getattr(args, "model", None)})


def _build(args) -> int:
    settings = _settings(args)
    try:
        build_with_progress(settings, progress=not args.quiet, sub_units=not args.no_sub_units, device=args.device)
    except OSError as exc:  # disk full, read-only or unwritable index directory: nothing went live
        where = f" ({exc.filename})" if exc.filename else ""
        raise QAError(f"build failed: {exc.strerror or exc}{where}; the index in {settings['INDEX_DIR']} "
                      "was not changed") from None
    return 0


def build_with_progress(settings: dict, progress: bool = True, sub_units: bool = True, device: str = "cpu") -> dict:
    from qa.build import build_index, corpus_build_options
    from qa.embedding import LazyEncoder

    started = time.perf_counter()
    print(f"building index {settings['INDEX_DIR']} from {settings['CORPUS']} with {settings['MODEL']}",
          file=sys.stderr)
    options = corpus_build_options(settings["CORPUS"], sub_units)
    manifest = build_index(settings["CORPUS"], settings["INDEX_DIR"], LazyEncoder(settings["MODEL"], device=device),
                           options=options, progress=progress)
    counts = manifest["embedding"]
    print(f"indexed {manifest['passages']} passages from {manifest['corpus']['documents']} documents in "
          f"{time.perf_counter() - started:.1f}s ({counts['embedded']} embedded, {counts['reused']} reused from "
          f"the previous build)", file=sys.stderr)
    return manifest


def _search(args) -> int:
    from qa.responses import search_body
    from qa.service import open_searcher

    settings = _settings(args)
    if args.k is not None and args.k > settings["MAX_K"]:
        raise InputError("invalid_k", f"-k must be from 1 to {settings['MAX_K']}, not {args.k}")
    from qa.validation import parse_query

    query = parse_query(args.question, settings["MAX_QUERY_CHARS"], name="question")
    searcher = open_searcher(settings)
    started = time.perf_counter()
    outcome = searcher.search(query, args.k or settings["DEFAULT_K"], args.include_low_confidence)
    body = search_body(outcome, searcher.index.documents, (time.perf_counter() - started) * 1000)

    body["index_id"] = searcher.index.id
    if args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    print(format_results(body))
    return 0


def format_results(body: dict) -> str:
    lines = []
    if body.get("notice"):
        lines += [f"!! {body['notice']['text']}", ""]
    if body.get("message"):
        lines += [body["message"], ""]
    for result in body["results"]:
        flag = "  (low confidence)" if result.get("low_confidence") else ""
        lines.append(f"[{result['rank']}] {result['score']:.3f}  {result['passage_id']}{flag}")
        lines.append(f"    {result['citation']['text']}")
        lines += ["    " + line for line in result["text"].splitlines()]
        lines.append("")
    return "\n".join(lines).rstrip()


def _serve(args) -> int:
    from qa.embedding import checked_export
    from qa.index import read_manifest, staleness
    from qa.onnx_encoder import default_threads
    from qa.server import serve

    settings = _settings(args)
    try:
        reason = staleness(settings["INDEX_DIR"], settings["CORPUS"], settings["MODEL"])
    except QAError as exc:  # missing or unreadable: build it
        reason = str(exc)
    if reason:
        print(f"index needs a build: {reason}", file=sys.stderr)
        _build_in_child(settings)
    read_manifest(settings["INDEX_DIR"])
    from qa.index import load_index

    # Refuse a corrupt or truncated index here, in one line, before any worker starts.
    load_index(settings["INDEX_DIR"], model=settings["MODEL"], check_corpus=False)
    threads = settings["ENCODER_THREADS"] or default_threads(args.workers)
    if settings["ENCODER_BACKEND"] != "torch":  # export once here, before the workers start
        checked_export(settings["MODEL"], settings["ONNX_CACHE"] or None, settings["ENCODER_BACKEND"] == "onnx")
    # The corpus was checked above. From here on a corpus edit takes effect by a build and SIGHUP; a worker
    # started later (gunicorn replacing one that died) serves the built index rather than stop the server.
    overrides = {"INDEX_DIR": settings["INDEX_DIR"], "CORPUS": settings["CORPUS"], "MODEL": settings["MODEL"],
                 "ENCODER_THREADS": threads, "CHECK_CORPUS": False}
    return serve(overrides, host=args.host, port=args.port, workers=args.workers, threads=args.threads)


def _build_in_child(settings: dict) -> None:
    """Build in a child process: the server process, which forks the workers, must never have run torch
    (its thread pools do not survive fork) nor keep the model's memory."""
    import subprocess

    command = [sys.executable, "-m", "qa", "build", "--index", str(settings["INDEX_DIR"]),
               "--corpus", str(settings["CORPUS"]), "--model", str(settings["MODEL"])]
    if subprocess.run(command).returncode != 0:
        raise QAError("the index build failed (see above); the server did not start")


def _eval(args) -> int:
    from qa.evaluate_cli import run_eval

    return run_eval(args)


def _notice(args) -> int:
    from qa.urgent_cli import run_notice
    from qa.validation import parse_query

    settings = _settings(args)
    args.question = parse_query(args.question, settings["MAX_QUERY_CHARS"], name="question")
    return run_notice(args, settings)


def _train_urgent(args) -> int:
    from qa.urgent_cli import run_train

    return run_train(args, _settings(args))
