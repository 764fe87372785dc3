"""Measure every performance target of the service against a bare model encode B, all in one run.

Run from the repository root (it builds ./index first when that is missing or stale):

    python scripts/bench.py [--index index/] [--corpus corpus/] [--workers 1] [--threads 4]
    python scripts/bench.py --scale [--sizes 10000,100000,1000000]   # FAISS growth curves (scripts/bench_scale.py)

B is the p50 of a bare sentence-transformers encode of one short query, sampled in rounds that alternate with
the HTTP latency rounds, so that both see the same load from the machine's other jobs; with torch's default
threads and with one thread, B is the faster of the two (stricter than the default alone: on a busy machine the
default threads contend).
The real server (`python -m qa serve`) runs on a free loopback port and is stopped at the end. The load
generator is bounded in requests and seconds. It prints a JSON summary, then a markdown table: target,
figure, ratio to its limit, pass or fail.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_http import Server, latency_run, load_run, worker_memory

LABELLED = ROOT / "eval" / "guide_questions.jsonl"
_TAILS = ("", " please", " for my son", " for my daughter", " now", " today", " exactly", " in children",
          " after relapse", " at home", " really", " again")


def distinct_questions(count: int) -> list[str]:
    """``count`` different short questions: the labelled ones, then the same with short tails."""
    base = [json.loads(line)["query"] for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [question + tail for tail in _TAILS for question in base]
    if count > len(texts):
        texts += [f"{base[i % len(base)]} {i}" for i in range(count - len(texts))]
    return texts[:count]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def bare_encode_ms(model, questions: list[str]) -> list[float]:
    """Milliseconds of one bare SentenceTransformer.encode per question (one query at a time)."""
    timings = []
    for question in questions:
        started = time.perf_counter()
        model.encode([question])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def quality(settings: dict, reference_encoder) -> dict:
    """Top-5 agreement of the served encoder with the torch reference, and the eval metrics of both."""
    from qa.evaluation import gold_metrics, load_queries, run_queries
    from qa.wiring import open_searcher

    queries = load_queries(LABELLED)
    served = open_searcher(settings)
    reference = open_searcher(settings, encoder=reference_encoder)
    mine, theirs = run_queries(served, queries), run_queries(reference, queries)
    overlap = [len(set(a.passage_ids[:5]) & set(b.passage_ids[:5])) / max(1, min(5, len(b.passage_ids)))
               for a, b in zip(mine, theirs)]
    identical = sum(a.passage_ids[:5] == b.passage_ids[:5] for a, b in zip(mine, theirs)) / len(queries)
    metrics = {"served": gold_metrics(queries, mine), "reference": gold_metrics(queries, theirs)}
    lower_is_better = {"wrong_answer_rate", "in_scope_abstention"}
    drops = {name: metrics["served"][name] - value for name, value in metrics["reference"].items()
             if isinstance(value, float) and (metrics["served"][name] - value) * (-1 if name in lower_is_better
                                                                                 else 1) < -1e-9}
    return {"encoder": type(served.encoder).__name__, "top5_agreement": sum(overlap) / len(overlap),
            "top5_identical": identical, "metrics": metrics, "metric_drops": drops, "searcher": served}


def batch_rate(searcher, questions: list[str]) -> float:
    """Queries per second of `python -m qa eval`'s batch path over distinct short questions."""
    from qa.evaluation import LabelledQuery, run_queries

    queries = [LabelledQuery(str(i), q) for i, q in enumerate(questions)]
    run_queries(searcher, queries[:64])  # warm-up
    started = time.perf_counter()
    run_queries(searcher, queries)
    return len(queries) / (time.perf_counter() - started)


def ensure_index(index: str, corpus: str, quiet: bool = True) -> None:
    """Build ``index`` from ``corpus`` with the configured model (``qa build``) unless it is current."""
    from qa.index import staleness

    try:
        reason = staleness(index, corpus)
    except Exception as exc:  # missing or unreadable: build it
        reason = str(exc)
    if reason:
        print(f"building {index}: {reason}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "qa", "build", "--index", index, "--corpus", corpus,
                        *(["--quiet"] if quiet else [])], cwd=ROOT, check=True)


def targets(figures: dict) -> list[dict]:
    b = figures["bare_encode_p50_ms"]
    rows = [
        ("HTTP search p50, distinct queries one at a time", figures["http_p50_ms"], "ms", 0.6 * b, "<=",
         f"0.6 x B = {0.6 * b:.2f} ms"),
        ("HTTP search p99", figures["http_p99_ms"], "ms", 2 * b, "<=", f"2 x B = {2 * b:.2f} ms"),
        ("throughput, 8 concurrent clients", figures["throughput_rps"], "req/s", 1.5 / (b / 1000), ">=",
         f"1.5 / B = {1.5 / (b / 1000):.0f} req/s"),
        ("errors under load", figures["load_errors"], "", 0, "<=", "0"),
        ("start: `python -m qa serve` to ready /healthz", figures["start_s"], "s", 2.5, "<=", "2.5 s"),
        ("batch evaluation, short questions", figures["batch_qps"], "q/s", 1500, ">=", "1500 q/s"),
        ("RSS per worker (largest)", figures["worker_rss_mb"], "MB", 500, "<=", "500 MB"),
        ("top-5 agreement with the torch reference", figures["top5_agreement"], "", 0.99, ">=", "0.99"),
        ("eval metrics that dropped", len(figures["metric_drops"]), "", 0, "<=", "0"),
    ]
    out = []
    for name, value, unit, limit, sense, limit_text in rows:
        met = value <= limit if sense == "<=" else value >= limit
        ratio = (value / limit) if limit else None
        out.append({"target": name, "figure": value, "unit": unit, "limit": limit_text, "ratio_to_limit": ratio,
                    "ratio_to_B": value / b if unit == "ms" else None, "pass": bool(met)})
    return out


def markdown(rows: list[dict], figures: dict) -> str:
    lines = [f"B = {figures['bare_encode_p50_ms']:.2f} ms: the faster p50 of a bare sentence-transformers encode "
             f"of one short query, with torch's default {figures['torch_default_threads']} threads "
             f"({figures['bare_encode_default_threads_p50_ms']:.2f} ms) or one thread "
             f"({figures['bare_encode_one_thread_p50_ms']:.2f} ms). Encoder: {figures['encoder']}, "
             f"workers {figures['workers']}, threads {figures['threads']}; {figures['machine']}.",
             "", "| target | figure | limit | figure / limit | met |", "|---|---:|---|---:|:-:|"]
    for row in rows:
        value = row["figure"]
        shown = f"{value:.3f}" if isinstance(value, float) and value < 10 else (
            f"{value:.1f}" if isinstance(value, float) else str(value))
        ratio = "" if row["ratio_to_limit"] is None else f"{row['ratio_to_limit']:.2f}"
        lines.append(f"| {row['target']} | {shown} {row['unit']} | {row['limit']} | {ratio} | "
                     f"{'yes' if row['pass'] else '**no**'} |")
    rounds = figures.get("latency_rounds_p50_over_B")
    if rounds:
        lines += ["", f"HTTP p50 / B in each of the {len(rounds)} latency rounds: "
                      f"{min(rounds):.2f} to {max(rounds):.2f} (median {statistics.median(rounds):.2f})."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="index")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (serve's default: 1)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--requests", type=int, default=300, help="sequential requests for the latency figures")
    parser.add_argument("--rounds", type=int, default=10,
                        help="latency rounds, each followed by a round of bare encodes (B)")
    parser.add_argument("--load-requests", type=int, default=1200, help="most requests of the 8-client run")
    parser.add_argument("--load-seconds", type=float, default=20.0, help="longest 8-client run")
    parser.add_argument("--starts", type=int, default=3, help="server starts timed (median)")
    parser.add_argument("--scale", action="store_true", help="run scripts/bench_scale.py instead")
    args, rest = parser.parse_known_args()
    if args.scale:
        return subprocess.call([sys.executable, str(ROOT / "scripts" / "bench_scale.py"), *rest], cwd=ROOT)

    from sentence_transformers import SentenceTransformer

    from qa.embedding import SentenceTransformerEncoder, resolve_model_path
    from qa.settings import load_settings

    ensure_index(args.index, args.corpus)
    settings = load_settings({"INDEX_DIR": args.index, "CORPUS": args.corpus})
    model = SentenceTransformer(resolve_model_path(settings["MODEL"]), device="cpu")
    questions = distinct_questions(max(1000, args.requests + args.load_requests))
    import torch

    default_threads = torch.get_num_threads()

    def sample_bare(texts: list[str]) -> tuple[list[float], list[float]]:
        """Bare encodes with torch's default threads, then one thread: on a busy machine one thread is faster."""
        found = []
        for threads in (default_threads, 1):
            torch.set_num_threads(threads)
            found.append(bare_encode_ms(model, texts))
        torch.set_num_threads(default_threads)
        return found[0], found[1]

    bare: list[float] = []
    bare_one: list[float] = []
    latencies: list[float] = []
    round_ratios: list[float] = []  # each round's HTTP p50 over its own B, to show the spread
    bare_encode_ms(model, questions[:20])  # warm-up
    per_round = -(-args.requests // max(1, args.rounds))
    bare_per_round = max(5, 100 // max(1, args.rounds))

    timings = []
    for attempt in range(args.starts):
        with Server(args.index, args.corpus, args.workers, args.threads) as server:
            timings.append(server.start_seconds)
            if attempt < args.starts - 1:
                continue
            latency_run(server.url, questions[-50:])  # warm-up: every worker, every path
            # The machine's other jobs come and go within seconds: B and the HTTP figures are sampled in
            # alternating rounds so that a burst of load slows both rather than one of them.
            for start in range(0, args.requests, per_round):
                http = latency_run(server.url, questions[start:min(args.requests, start + per_round)])
                default, one = sample_bare(questions[start:start + bare_per_round])
                latencies += http
                bare += default
                bare_one += one
                round_ratios.append(statistics.median(http) / min(statistics.median(default), statistics.median(one)))
            load = load_run(server.url, questions[args.requests:], clients=8, limit=args.load_requests,
                            seconds=args.load_seconds)
            memory = worker_memory(server.pid)

    reference = SentenceTransformerEncoder(settings["MODEL"])
    reference._model = model
    judged = quality(settings, reference)
    searcher = judged.pop("searcher")
    figures = {
        "machine": f"{os.cpu_count()} cores; load average at end {os.getloadavg()[0]:.2f}",
        "encoder": judged["encoder"], "workers": args.workers, "threads": args.threads,
        "passages": len(searcher.index.passages),
        # B: the faster of the two bare figures, so that a busy machine cannot inflate it.
        "bare_encode_p50_ms": min(statistics.median(bare), statistics.median(bare_one)),
        "bare_encode_default_threads_p50_ms": statistics.median(bare), "torch_default_threads": default_threads,
        "bare_encode_one_thread_p50_ms": statistics.median(bare_one),
        "http_p50_ms": statistics.median(latencies), "http_p99_ms": percentile(latencies, 0.99),
        "http_requests": len(latencies), "latency_rounds_p50_over_B": [round(r, 3) for r in round_ratios],
        "throughput_rps": load["rps"], "load_requests": load["done"], "load_errors": load["errors"],
        "load_seconds": load["seconds"],
        "start_s": statistics.median(timings), "start_runs_s": [round(t, 3) for t in timings],
        "batch_qps": batch_rate(searcher, questions[:1000]),
        "worker_rss_mb": max(m["rss_mb"] for m in memory), "workers_memory": memory,
        "top5_agreement": judged["top5_agreement"], "top5_identical": judged["top5_identical"],
        "metric_drops": judged["metric_drops"], "metrics": judged["metrics"],
    }
    rows = targets(figures)
    print(json.dumps({"figures": figures, "targets": rows}, indent=2, default=float))
    print()
    print(markdown(rows, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
