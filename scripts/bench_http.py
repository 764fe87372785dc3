"""HTTP side of the benchmark: the real server on a free loopback port, bounded load, worker memory."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m qa serve` on 127.0.0.1; ``start_seconds`` is the time from launch to a ready /healthz."""

    def __init__(self, index: str, corpus: str, workers: int, threads: int, timeout: float = 120) -> None:
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "qa", "serve", "--index", index, "--corpus", corpus, "--host",
                        "127.0.0.1", "--port", str(self.port), "--workers", str(workers), "--threads", str(threads)]
        self.workers = workers
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.start_seconds = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> Server:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        started = time.perf_counter()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = started + self.timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {' '.join(self.command)}")
            if _healthy(self.url):
                self.start_seconds = time.perf_counter() - started
                self._wait_for_workers(deadline)
                return self
            time.sleep(0.01)
        self.__exit__()
        raise RuntimeError(f"server was not ready within {self.timeout}s")

    def _wait_for_workers(self, deadline: float) -> None:
        """The first ready worker answers /healthz; let the others finish loading before measuring."""
        import psutil

        while time.perf_counter() < deadline:
            children = psutil.Process(self.pid).children()
            if len(children) >= self.workers and all(c.cpu_percent(0.2) < 20 for c in children):
                return

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _healthy(url: str) -> bool:
    try:
        connection = http.client.HTTPConnection(url, timeout=1)
        connection.request("GET", "/healthz")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def _search(connection: http.client.HTTPConnection, question: str) -> int:
    connection.request("GET", f"/api/search?q={quote(question)}")
    response = connection.getresponse()
    body = response.read()
    if response.status == 200:
        json.loads(body)  # a whole, valid body
    return response.status


def latency_run(url: str, questions: list[str]) -> list[float]:
    """Milliseconds per search, one request at a time over one keep-alive connection."""
    connection = http.client.HTTPConnection(url, timeout=30)
    timings = []
    for question in questions:
        started = time.perf_counter()
        status = _search(connection, question)
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"search for {question!r} answered {status}")
    connection.close()
    return timings


def load_run(url: str, questions: list[str], clients: int, limit: int, seconds: float) -> dict:
    """``clients`` threads, each with its own connection, share at most ``limit`` requests and ``seconds``."""
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "errors": 0}
    deadline = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(url, timeout=30)
        while time.perf_counter() < deadline:
            with lock:
                position = state["next"]
                if position >= limit:
                    break
                state["next"] += 1
            try:
                ok = _search(connection, questions[position % len(questions)]) == 200
            except (OSError, http.client.HTTPException, ValueError):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(url, timeout=30)
            with lock:
                state["done" if ok else "errors"] += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"rps": state["done"] / elapsed, "done": state["done"], "errors": state["errors"], "seconds": elapsed}


def worker_memory(pid: int) -> list[dict]:
    """RSS, and PSS (shared pages split between the processes that map them), of each gunicorn worker."""
    import psutil

    rows = []
    for child in psutil.Process(pid).children():
        info = child.memory_full_info()
        rows.append({"pid": child.pid, "rss_mb": info.rss / 2**20, "pss_mb": getattr(info, "pss", 0) / 2**20,
                     "uss_mb": info.uss / 2**20})
    return rows
