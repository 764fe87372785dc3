"""What each ``qa`` command does; the parser in qa/cli/main.py names them."""

from __future__ import annotations

import json
import sys
import time

from qa.errors import InputError, QAError
from qa.settings import load_settings


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
    from qa.embedding.loading import LazyEncoder
    from qa.index.build import build_index, corpus_build_options

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
    from qa.web.responses import search_body
    from qa.web.validation import parse_query
    from qa.wiring import open_searcher

    settings = _settings(args)
    if args.k is not None and args.k > settings["MAX_K"]:
        raise InputError("invalid_k", f"-k must be from 1 to {settings['MAX_K']}, not {args.k}")
    query = parse_query(args.question, settings["MAX_QUERY_CHARS"], name="question")
    searcher = open_searcher(settings)
    started = time.perf_counter()
    outcome = searcher.search(query, args.k or settings["DEFAULT_K"], args.include_low_confidence)
    body = search_body(outcome, searcher.index.documents, (time.perf_counter() - started) * 1000, searcher.index.id)
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
    from qa.embedding.loading import checked_export
    from qa.embedding.onnx_runtime import default_threads
    from qa.index.layout import read_manifest
    from qa.index.loading import load_index, staleness
    from qa.server.gunicorn_app import serve

    settings = _settings(args)
    try:
        reason = staleness(settings["INDEX_DIR"], settings["CORPUS"], settings["MODEL"])
    except QAError as exc:  # missing or unreadable: build it
        reason = str(exc)
    if reason:
        print(f"index needs a build: {reason}", file=sys.stderr)
        _build_in_child(settings)
    read_manifest(settings["INDEX_DIR"])
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
    from qa.cli.eval import run_eval

    return run_eval(args)


def _explain(args) -> int:
    from qa.cli.explain import run_explain
    from qa.web.validation import parse_query

    settings = _settings(args)
    args.question = parse_query(args.question, settings["MAX_QUERY_CHARS"], name="question")
    return run_explain(args, settings)


def _notice(args) -> int:
    from qa.cli.urgent import run_notice
    from qa.web.validation import parse_query

    settings = _settings(args)
    args.question = parse_query(args.question, settings["MAX_QUERY_CHARS"], name="question")
    return run_notice(args, settings)


def _train_urgent(args) -> int:
    from qa.cli.urgent import run_train

    return run_train(args, _settings(args))


COMMANDS = {"build": _build, "search": _search, "serve": _serve, "eval": _eval, "explain": _explain,
            "notice": _notice, "train-urgent": _train_urgent}
