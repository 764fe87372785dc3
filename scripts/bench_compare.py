"""Compare server settings side by side: two or more real servers measured in turns, in one time window.

    python scripts/bench_compare.py nospin:QA_ENCODER_SPIN_US=0 spin:QA_ENCODER_SPIN_US=20 [--rounds 6]
    python scripts/bench_compare.py gthread:QA_KEEPALIVE_LINGER_MS=0 linger:QA_KEEPALIVE_LINGER_MS=2

Each argument is NAME:VAR=VALUE,VAR=VALUE (QA_* settings, empty for the defaults). Every server runs
`python -m qa serve` (1 worker, 4 threads unless --workers/--threads) on a free loopback port. Each round sends
the same 100 distinct questions, one at a time, to each server in turn, then runs 8 clients against each in turn
(at most 300 requests or 5 s); the order alternates between rounds. On a shared machine whose load moves within
seconds, this cancels the drift that separate runs of scripts/bench.py would add to a small difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import distinct_questions, ensure_index, percentile
from bench_http import Server, latency_run, load_run

QUESTIONS_PER_ROUND = 100
LOAD_REQUESTS = 300


def parse_config(text: str) -> tuple[str, dict]:
    name, _, assignments = text.partition(":")
    env = {}
    for pair in filter(None, assignments.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("QA_"):
            raise SystemExit(f"error: {pair!r} in {text!r} is not QA_SETTING=VALUE")
        env[key] = value
    if not name:
        raise SystemExit(f"error: {text!r} needs a name before the colon")
    return name, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="NAME:QA_VAR=VALUE,... (two or more)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--index", default="index")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    configs = dict(parse_config(text) for text in args.configs)
    if len(configs) < 2:
        parser.error("give two or more configurations with different names")
    ensure_index(args.index, args.corpus)
    needed = 30 + args.rounds * (QUESTIONS_PER_ROUND + LOAD_REQUESTS)
    questions = distinct_questions(needed)
    servers = {}
    base = dict(os.environ)
    try:
        for name, env in configs.items():
            os.environ.update(env)  # the server inherits this process's environment
            servers[name] = Server(args.index, args.corpus, args.workers, args.threads).__enter__()
            os.environ.clear()
            os.environ.update(base)
        latencies = {name: [] for name in servers}
        rates = {name: [] for name in servers}
        errors = {name: 0 for name in servers}
        for server in servers.values():
            latency_run(server.url, questions[:30])  # warm-up
        for round_ in range(args.rounds):
            start = 30 + round_ * (QUESTIONS_PER_ROUND + LOAD_REQUESTS)
            asked = questions[start:start + QUESTIONS_PER_ROUND]
            load = questions[start + QUESTIONS_PER_ROUND:start + QUESTIONS_PER_ROUND + LOAD_REQUESTS]
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for name in order:
                latencies[name] += latency_run(servers[name].url, asked)
            for name in order:
                result = load_run(servers[name].url, load, clients=8, limit=LOAD_REQUESTS, seconds=5)
                rates[name].append(result["rps"])
                errors[name] += result["errors"]
    finally:
        for server in servers.values():
            server.__exit__()
        os.environ.clear()
        os.environ.update(base)
    print(f"| configuration | HTTP p50 ms | p99 ms | 8 clients, req/s (median of {args.rounds} rounds) | rounds | "
          "errors |")
    print("|---|---:|---:|---:|---|---:|")
    for name in servers:
        print(f"| {name} | {statistics.median(latencies[name]):.2f} | {percentile(latencies[name], 0.99):.2f} | "
              f"{statistics.median(rates[name]):.1f} | {', '.join(f'{r:.0f}' for r in rates[name])} | "
              f"{errors[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
