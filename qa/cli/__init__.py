"""The ``qa`` command line: build, search, serve, eval, notice and train-urgent."""

from qa.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
