"""The command line, ``qa`` (or ``python -m qa``): its parser and dispatch; each command lives in qa/cli/commands.py."""

from __future__ import annotations

import argparse
import sys

from qa.cli import commands
from qa.cli.eval import add_eval_parser
from qa.errors import QAError


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
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    build = subcommands.add_parser("build", help="split, embed and index a corpus")
    build.add_argument("--corpus", help="corpus directory or .jsonl file (default: corpus/)")
    build.add_argument("--index", help="index directory (default: index/)")
    build.add_argument("--model", help="embedding model (default: bundled all-MiniLM-L6-v2)")
    build.add_argument("--no-sub-units", action="store_true",
                       help="embed whole passages only: about 5x fewer vectors for large corpora, less precise")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="where to embed: cuda runs sentence-transformers on a GPU (large corpora)")

    search = subcommands.add_parser("search", help="answer one question from the index")
    search.add_argument("question")
    search.add_argument("--index", help="index directory (default: index/)")
    search.add_argument("-k", type=_positive, help="number of passages (default 5, at most 20)")
    search.add_argument("--json", action="store_true", help="print exactly the API's JSON response body")
    search.add_argument("--include-low-confidence", action="store_true",
                        help="show passages even when the service would abstain")

    serve = subcommands.add_parser("serve", help="build the index if needed, then serve HTTP with gunicorn")
    serve.add_argument("--index", help="index directory (default: index/)")
    serve.add_argument("--corpus", help="corpus to build from and check against (default: corpus/)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (each loads the model)")
    serve.add_argument("--threads", type=_positive, default=4, help="threads per worker")

    notice = subcommands.add_parser("notice", help="say whether the urgent notice fires for a question, and why")
    notice.add_argument("question")
    notice.add_argument("--index", help="index directory (default: index/)")
    notice.add_argument("--json", action="store_true", help="print the decision as JSON")

    explain = subcommands.add_parser("explain", help="say why the service answers a question or abstains")
    explain.add_argument("question")
    explain.add_argument("--index", help="index directory (default: index/)")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")

    train = subcommands.add_parser("train-urgent", help="train the urgent notice's classifier on labelled questions")
    train.add_argument("files", nargs="+", help="labelled JSONL files (qid, query, urgent) as qa eval --urgent reads")
    train.add_argument("--index", help="index directory (default: index/)")
    train.add_argument("--strength", type=float, help="regularisation C (default: classifier.strength in the rules)")

    add_eval_parser(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return commands.COMMANDS[args.command](args)
    except (QAError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
