"""Bounded load on loopback against `python -m qa serve`: N clients for T seconds with distinct realistic queries.

Reports throughput, p50/p95/p99 latency, errors and the server's RSS (master and workers) after start-up,
after warm-up and at the end, and checks the targets: zero errors, RSS growth under 5% after warm-up, and
the p99 of the last 10 s within 1.5x of the p99 of the first 10 s after warm-up.

    python scripts/loadtest.py --clients 16 --seconds 60 --workers 2            # starts its own server
    python scripts/loadtest.py --url http://127.0.0.1:8000 --server-pid PID --clients 4 --seconds 20  # a running one
    python scripts/loadtest.py --clients 16 --seconds 30 --sighup-at 15     # reload the index mid-load

Slow-client mode (any of --idle, --slow-headers, --slow-bodies): M normal clients search for T seconds without slow
clients, then for T seconds more while another process holds N idle, N slow-header and N slow-body connections
open (scripts/slow_clients.py; each one the server closes is opened again). It reports errors and p50/p99 of the
normal clients in both phases, how long the server took to close each kind of slow connection against its
deadline, and the largest worker's RSS, and checks: zero errors, p99 with at most 3x p99 without, each slow
connection closed within its deadline plus 1 s, at most 500 MB per worker.

    python scripts/loadtest.py --workers 1 --clients 8 --seconds 30 --idle 1000 --slow-headers 256 --slow-bodies 64
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import psutil
from bench_http import free_port

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10.0  # seconds compared at the start and the end of the measured run


def questions(seed: int) -> list[str]:
    """The labelled questions, each also in lower case and with a short family-style prefix: ~600 distinct."""
    base = [json.loads(line)["query"] for line in (ROOT / "eval" / "guide_questions.jsonl").open(encoding="utf-8")
            if line.strip()]
    prefixes = ["", "please help: ", "my child's nurse said, ", "quick question, "]
    variants = [prefix + (q.lower() if n % 2 else q) for n, q in enumerate(base) for prefix in prefixes]
    random.Random(seed).shuffle(variants)
    return variants


def qa_env() -> dict:
    """The server's environment: offline, and unbuffered so its log is complete when it stops."""
    return dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")


def server_rss(pid: int | None) -> int | None:
    """Resident memory of the server: the gunicorn master and all its workers."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    except psutil.Error:
        return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Client(threading.Thread):
    """One client sending its share of the questions back to back, each on a new connection: a kept-alive
    connection stays with one gunicorn worker, and patients' browsers are many different connections."""

    def __init__(self, host: str, port: int, queries: list[str], stop: threading.Event, records: list,
                 timeout: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.queries, self.stop, self.records = host, port, queries, stop, records
        self.timeout = timeout

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            query = self.queries[n % len(self.queries)]
            n += 1
            started = time.perf_counter()
            ok = False
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                connection.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query, "k": 5}),
                                   headers={"Connection": "close"})
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and b'"results"' in body
            except (OSError, http.client.HTTPException):
                pass
            finally:
                connection.close()
            self.records.append((time.monotonic(), time.perf_counter() - started, ok))


def wait_ready(host: str, port: int, timeout: float, process: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"error: the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: the server was not ready within {timeout:.0f}s")


def run(args) -> dict:
    process = None
    log = None
    if args.url:
        parsed = urllib.parse.urlsplit(args.url)
        host, port = parsed.hostname, parsed.port or 80
    else:
        host, port = "127.0.0.1", free_port()
        log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL
        command = [sys.executable, "-m", "qa", "serve", "--host", host, "--port", str(port),
                   "--workers", str(args.workers), "--threads", str(args.threads)]
        if args.index:
            command += ["--index", args.index]
        process = subprocess.Popen(command, cwd=ROOT, env=qa_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(host, port, args.startup_timeout, process)
        pid = process.pid if process else args.server_pid
        if slow_mode(args):
            return slow_run(args, host, port, pid)
        load_start = round(os.getloadavg()[0], 2)  # the machine's 1-minute load: other work skews latency
        rss_start = server_rss(pid)
        pool = questions(args.seed)
        stop = threading.Event()
        records: list = []
        clients = [Client(host, port, pool[n::args.clients], stop, records) for n in range(args.clients)]
        began = time.monotonic()
        for client in clients:
            client.start()
        time.sleep(args.warmup)
        rss_warm = server_rss(pid)
        if args.sighup_at is not None and pid:
            # An index reload in every worker in the middle of the load: it must cost no request.
            threading.Timer(args.sighup_at, os.kill, (pid, signal.SIGHUP)).start()
        time.sleep(args.seconds)
        stop.set()
        for client in clients:
            client.join(timeout=90)
        rss_end = server_rss(pid)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if log not in (None, subprocess.DEVNULL):
            log.close()
    measured_from = began + args.warmup
    measured = [r for r in records if r[0] >= measured_from]
    latencies = [r[1] * 1000 for r in measured if r[2]]
    end = max((r[0] for r in measured), default=measured_from)
    first = [r[1] * 1000 for r in measured if r[0] < measured_from + WINDOW and r[2]]
    last = [r[1] * 1000 for r in measured if r[0] >= end - WINDOW and r[2]]
    report = {
        "sighup_at_seconds": args.sighup_at,
        "clients": args.clients, "seconds": args.seconds, "warmup_seconds": args.warmup,
        "workers": args.workers if not args.url else None, "threads": args.threads if not args.url else None,
        "requests": len(measured), "errors": sum(1 for r in measured if not r[2]),
        "errors_during_warmup": sum(1 for r in records if r[0] < measured_from and not r[2]),
        "throughput_rps": round(len(measured) / max(end - measured_from, 1e-9), 2),
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "p99_first_10s_ms": round(percentile(first, 99), 1), "p99_last_10s_ms": round(percentile(last, 99), 1),
        "rss_start_mb": rss_start and round(rss_start / 2**20, 1),
        "rss_after_warmup_mb": rss_warm and round(rss_warm / 2**20, 1),
        "rss_end_mb": rss_end and round(rss_end / 2**20, 1),
    }
    windows = int((end - measured_from) // WINDOW) + 1
    report["p99_by_10s_ms"] = [round(percentile([r[1] * 1000 for r in measured if r[2] and
                                                 measured_from + w * WINDOW <= r[0] < measured_from + (w + 1) * WINDOW],
                                                99), 1) for w in range(windows)]
    report["loadavg_start"], report["loadavg_end"] = load_start, round(os.getloadavg()[0], 2)
    report["rss_growth_after_warmup"] = (round(rss_end / rss_warm - 1, 4) if rss_warm and rss_end else None)
    report["p99_last_over_first"] = round(report["p99_last_10s_ms"] / report["p99_first_10s_ms"], 3) \
        if first and last else None
    report["targets"] = {
        "zero_errors": report["errors"] == 0 and report["errors_during_warmup"] == 0,
        "rss_growth_under_5pct": report["rss_growth_after_warmup"] is not None
        and report["rss_growth_after_warmup"] < 0.05,
        "p99_stable_within_1_5x": report["p99_last_over_first"] is not None and report["p99_last_over_first"] <= 1.5,
    }
    return report


def slow_mode(args) -> bool:
    return bool(args.idle or args.slow_headers or args.slow_bodies)


def worker_rss_mb(pid: int | None) -> float | None:
    """The largest serve worker's resident memory."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        serving = process.children(recursive=True) or [process]  # a server of one process serves in itself
        return round(max(each.memory_info().rss for each in serving) / 2**20, 1)
    except psutil.Error:
        return None


def normal_phase(host: str, port: int, pool: list[str], args, during=None) -> dict:
    """M clients searching for ``args.seconds``; ``during`` is called once a second meanwhile."""
    stop = threading.Event()
    records: list = []
    clients = [Client(host, port, pool[n::args.clients], stop, records, args.request_timeout)
               for n in range(args.clients)]
    started = time.monotonic()
    for client in clients:
        client.start()
    while time.monotonic() - started < args.seconds:
        time.sleep(1.0)
        if during:
            during()
    stop.set()
    for client in clients:
        client.join(timeout=args.request_timeout + 30)
    elapsed = time.monotonic() - started
    latencies = [r[1] * 1000 for r in records if r[2]]
    return {"requests": len(records), "errors": sum(1 for r in records if not r[2]),
            "throughput_rps": round(len(records) / elapsed, 2), "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "slowest_ms": round(max(latencies, default=0), 1)}


def slow_run(args, host: str, port: int, pid: int | None) -> dict:
    """Normal clients without, then with, the slow ones, in one run against one server."""
    from slow_clients import SlowClientsProcess

    from qa.settings import load_settings

    settings = load_settings()  # the started server's defaults; with --url, give the same QA_* environment
    deadlines = {"idle": settings["KEEPALIVE_TIMEOUT_S"], "headers": settings["HEADER_TIMEOUT_S"],
                 "body": settings["BODY_TIMEOUT_S"] + 100 / settings["BODY_MIN_RATE"]}
    pool = questions(args.seed)
    warm = argparse.Namespace(**{**vars(args), "seconds": args.warmup})
    normal_phase(host, port, pool, warm)
    rss = [worker_rss_mb(pid)]
    without = normal_phase(host, port, pool, args, during=lambda: rss.append(worker_rss_mb(pid)))
    holder = SlowClientsProcess(host, port, {"idle": args.idle, "headers": args.slow_headers, "body": args.slow_bodies},
                         interval=args.slow_interval, seconds=args.seconds + args.slow_ramp + 60)
    holder.start()
    ramp_ends = time.monotonic() + args.slow_ramp
    wanted = {"idle": args.idle, "headers": args.slow_headers, "body": args.slow_bodies}
    while time.monotonic() < ramp_ends and holder.held() != wanted:
        time.sleep(0.2)
    held_at_start = holder.held()

    def during() -> None:
        holder.sample()
        rss.append(worker_rss_mb(pid))

    with_slow = normal_phase(host, port, pool, args, during=during)
    slow = holder.stop_and_report(deadlines)
    rss = [value for value in rss if value is not None]
    ratio = round(with_slow["p99_ms"] / without["p99_ms"], 2) if without["p99_ms"] else None
    past = [entry["past_deadline_s_max"] for kind, entry in slow.items()
            if isinstance(entry, dict) and "past_deadline_s_max" in entry]
    report = {"clients": args.clients, "seconds": args.seconds, "request_timeout_s": args.request_timeout,
              "workers": args.workers if not args.url else None, "threads": args.threads if not args.url else None,
              "without_slow_clients": without, "with_slow_clients": with_slow, "p99_with_over_without": ratio,
              "slow_clients_held_at_start": held_at_start, "slow_clients": slow,
              "worker_rss_mb_max": max(rss, default=None), "loadavg_end": round(os.getloadavg()[0], 2)}
    report["targets"] = {
        "zero_errors": without["errors"] == 0 and with_slow["errors"] == 0,
        "p99_within_3x": ratio is not None and ratio <= 3.0,
        "slow_closed_within_deadline_plus_1s": bool(past) and max(past) <= 1.0,
        "worker_rss_within_500mb": bool(rss) and max(rss) <= 500,
    }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of load before measuring")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--index", help="index directory for the server it starts (default: index/)")
    parser.add_argument("--url", help="load an already running server instead of starting one")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's master pid, for its RSS")
    parser.add_argument("--server-log", help="write the started server's output here")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sighup-at", type=float, help="send SIGHUP (reload the index) this many measured "
                                                         "seconds into the run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    slow = parser.add_argument_group("slow clients (scripts/slow_clients.py)")
    slow.add_argument("--idle", type=int, default=0, help="idle connections held open (connected, nothing sent)")
    slow.add_argument("--slow-headers", type=int, default=0, help="connections sending their headers a line at a time")
    slow.add_argument("--slow-bodies", type=int, default=0, help="POSTs sending a 100-byte body a byte at a time")
    slow.add_argument("--slow-interval", type=float, default=1.0, help="seconds between a slow client's sends")
    slow.add_argument("--slow-ramp", type=float, default=20.0, help="seconds at most to open them all")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="a normal client's timeout, seconds")
    args = parser.parse_args()
    if args.clients < 1 or args.seconds < 2 * WINDOW or args.seconds > 600:
        parser.error("--clients must be at least 1 and --seconds from 20 to 600 (the run is bounded)")
    counts = (args.idle, args.slow_headers, args.slow_bodies)
    if min(counts) < 0 or sum(counts) > 10_000:
        parser.error("--idle, --slow-headers and --slow-bodies: 0 or more, at most 10,000 together")
    if args.url:
        from slow_clients import check_loopback

        check_loopback(urllib.parse.urlsplit(args.url).hostname or "")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = run(args)
    print(json.dumps(report, indent=2))
    return 1 if args.check and not all(report["targets"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
