"""The real server (`python -m qa serve`, gunicorn, 2 workers): limits at the gunicorn layer, metrics across
workers, SIGHUP index reloads during load, builds while serving, killed builds and killed workers.

These use the hashing fake encoder so each server starts in seconds; tests/test_e2e.py covers the real model.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.support import ROOT, Server, qa_env

pytestmark = pytest.mark.slow

FAKE = "hash:256"
SECRET = "does my son's relapse mean he will die"
NEW_DOC = "Zebrafish Appendix\n\nThe zebrafish appendix explains the quokka protocol for testing reloads.\n"


def call(server, method: str, target: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, dict, bytes]:
    """One request on a fresh connection (so successive calls spread over the workers)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def assert_json_error(status: int, headers: dict, body: bytes, expected: int, code: str) -> dict:
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json"), headers
    assert b"<html" not in body.lower()
    parsed = json.loads(body)
    assert set(parsed) == {"error"} and set(parsed["error"]) == {"code", "message"}
    assert parsed["error"]["code"] == code
    return parsed["error"]


def build(index_dir: Path, corpus: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qa", "build", "--model", FAKE, "--corpus", str(corpus),
                             "--index", str(index_dir), "--quiet"], cwd=ROOT, env=qa_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def ready_id(server) -> str:
    status, _, body = call(server, "GET", "/readyz")
    assert status == 200
    return json.loads(body)["index_id"]


def workers(server) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children()}


class Load:
    """Clients searching in a loop on fresh connections until stopped; counts every failure."""

    def __init__(self, server, clients: int = 4) -> None:
        self.server = server
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.index_ids: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, n: int) -> None:
        queries = ["what is MRD", "red dots on her skin", "central line care", "relapse treatment", "zebrafish"]
        while not self.stop.is_set():
            query = queries[(n + self.ok) % len(queries)].replace(" ", "+")
            try:
                status, _, body = call(self.server, "GET", f"/api/search?q={query}&k=3")
                result = json.loads(body)
                with self.lock:
                    if status == 200 and "results" in result:
                        self.ok += 1
                        self.index_ids.append(result["index_id"])
                    else:
                        self.failures.append(f"{status} {body[:200]!r}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                with self.lock:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("prod") / "corpus"
    shutil.copytree(ROOT / "corpus", target)
    return target


@pytest.fixture(scope="module")
def server(tmp_path_factory, corpus):
    """Two workers over a live index directory that tests rebuild while it serves."""
    index_dir = tmp_path_factory.mktemp("prod-index") / "index"
    metrics = tmp_path_factory.mktemp("prod-metrics")
    (metrics / "counter_99999.db").write_bytes(b"left over by a previous server")
    with Server("--index", str(index_dir), "--corpus", str(corpus), "--workers", "2", "--threads", "4",
                QA_MODEL=FAKE, PROMETHEUS_MULTIPROC_DIR=str(metrics), startup_timeout=120) as running:
        running.index_dir = index_dir
        running.corpus = corpus
        running.metrics_dir = metrics
        assert len(workers(running)) == 2
        assert not (metrics / "counter_99999.db").exists(), "old metric files are cleaned at start"
        yield running
    assert "Traceback" not in running.log, running.log[-3000:]


# --------------------------------------------------------------------------- limits at the gunicorn layer


def test_an_over_long_request_line_is_json_414_from_gunicorn(server):
    """The original bug: gunicorn answered an over-long request line with its own HTML page."""
    status, headers, body = call(server, "GET", "/api/search?q=" + "x" * 9000)
    assert_json_error(status, headers, body, 414, "uri_too_long")
    assert len(headers["x-request-id"]) == 32
    # Within the line limit but over the query limit: the app's own 400.
    assert_json_error(*call(server, "GET", "/api/search?q=" + "x" * 5000), 400, "query_too_long")


def test_over_large_headers_are_json_431_from_gunicorn(server):
    assert_json_error(*call(server, "GET", "/healthz", headers={"X-Big": "y" * 9000}), 431, "headers_too_large")
    many = {f"X-H{i}": "1" for i in range(120)}
    assert_json_error(*call(server, "GET", "/healthz", headers=many), 431, "headers_too_large")


def test_an_over_large_body_is_json_413(server):
    """Refused from Content-Length, before the body is read: the client may stop sending at once."""
    import socket

    size = 4 * 1024 * 1024 + 1
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode() + b"{" + b" " * 65536)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head, head
    error = json.loads(body[:body.rindex(b"}") + 1])["error"]
    assert error["code"] == "body_too_large" and "4194304" in error["message"]


def test_bad_http_is_json_400_from_gunicorn(server):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")
        reply = sock.recv(65536)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"


# --------------------------------------------------------------------------- request ids, logs and metrics


def test_request_ids_and_no_query_text_in_the_server_logs(server):
    status, headers, _ = call(server, "GET", "/api/search?q=" + SECRET.replace(" ", "+").replace("'", "%27"),
                              headers={"X-Request-ID": "trace-prod-1"})
    assert status == 200 and headers["x-request-id"] == "trace-prod-1"
    assert_json_error(*call(server, "GET", "/api/search?q=" + "relapse+" * 1200), 414, "uri_too_long")
    time.sleep(0.5)
    log = server.log
    assert "trace-prod-1" in log
    assert "relapse" not in log and "son's" not in log and "son%27s" not in log
    line = next(json.loads(row) for row in log.splitlines() if "trace-prod-1" in row)
    assert line["path"] == "/api/search" and line["status"] == 200 and "query" not in line
    refused = [json.loads(row) for row in log.splitlines() if row.startswith("{") and '"uri_too_long"' in row]
    assert refused and refused[-1]["status"] == 414  # gunicorn-layer refusals are in the access log too


def test_metrics_add_up_across_two_workers(server):
    def count() -> float:
        _, _, body = call(server, "GET", "/metrics")
        total = 0.0
        for row in body.decode().splitlines():
            if row.startswith('qa_http_requests_total{') and 'endpoint="api.passage"' in row:
                total += float(row.rsplit(" ", 1)[1])
        return total

    before = count()
    for _ in range(30):
        call(server, "GET", "/api/passages/no-such-passage")
    assert count() - before == 30
    assert count() - before == 30  # whichever worker answers the scrape
    pids = {path.stem.rsplit("_", 1)[-1] for path in server.metrics_dir.glob("counter_*.db")}
    assert len(pids) >= 2, "both workers should have written metrics"
    _, _, body = call(server, "GET", "/metrics")
    text = body.decode()
    assert "qa_http_request_duration_seconds_bucket" in text and "qa_index_passages" in text


def test_open_connections_are_counted_across_two_workers(server):
    """qa_connections_open sums every worker's connections, whichever worker answers the scrape."""
    import socket

    def open_now() -> float:
        _, _, body = call(server, "GET", "/metrics")
        return sum(float(row.rsplit(" ", 1)[1]) for row in body.decode().splitlines()
                   if row.startswith("qa_connections_open "))

    before = [open_now() for _ in range(6)]
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(40)]
    try:
        time.sleep(0.5)
        during = [open_now() for _ in range(6)]
    finally:
        for sock in held:
            sock.close()
    assert min(during) >= 40 > max(before), (before, during)
    pids = {path.stem.rsplit("_", 1)[-1] for path in server.metrics_dir.glob("gauge_livesum_*.db")}
    assert len(pids) >= 2, "both workers count their connections"


# --------------------------------------------------------------------------- index updates without downtime


def test_build_while_serving_then_sighup_reloads_every_worker_without_a_failure(server):
    old_id = ready_id(server)
    (server.corpus / "zebrafish.txt").write_text(NEW_DOC, encoding="utf-8")
    with Load(server) as load:
        time.sleep(1.0)
        builder = build(server.index_dir, server.corpus)
        _, err = builder.communicate(timeout=120)
        assert builder.returncode == 0, err
        time.sleep(0.5)  # the build is live on disk; workers still serve the old index until told
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until every worker sampled serves one new index, not just the first
            seen = {ready_id(server) for _ in range(10)}
            if len(seen) == 1 and old_id not in seen:
                break
            time.sleep(0.2)
        ids = {ready_id(server) for _ in range(20)}
        time.sleep(1.0)
    assert load.failures == [], load.failures[:5]
    assert load.ok > 20
    assert len(ids) == 1 and old_id not in ids, "every worker serves the new index"
    assert old_id in load.index_ids and ids <= set(load.index_ids)
    status, _, body = call(server, "GET", "/api/search?q=zebrafish+quokka+protocol&k=1&include_low_confidence=true")
    assert status == 200 and json.loads(body)["results"][0]["doc_id"] == "zebrafish"
    assert '"event": "index_reloaded"' in server.log


def test_a_build_killed_at_any_point_leaves_the_previous_index_serving(server):
    started = time.monotonic()
    complete = build(server.index_dir, server.corpus)
    complete.communicate(timeout=120)
    duration = time.monotonic() - started
    os.kill(server.process.pid, signal.SIGHUP)
    time.sleep(1.0)
    serving = ready_id(server)
    current = (server.index_dir / "current").resolve()
    rng = random.Random(7)
    with Load(server, clients=2) as load:
        for _ in range(8):
            builder = build(server.index_dir, server.corpus)
            time.sleep(rng.uniform(0, duration))
            builder.send_signal(signal.SIGKILL)
            builder.wait()
            assert (server.index_dir / "current").resolve() == current or builder.returncode == 0
            assert (server.index_dir / "current" / "manifest.json").is_file()
            os.kill(server.process.pid, signal.SIGHUP)  # reload whatever is live: must be a complete build
            time.sleep(0.3)
    assert load.failures == [], load.failures[:5]
    live = json.loads((server.index_dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    from qa.index.layout import index_id

    time.sleep(1.0)
    assert {ready_id(server) for _ in range(10)} == {index_id(live)}
    assert serving  # the index before the kills was a complete one too


def test_a_corrupt_new_index_is_refused_on_reload_and_the_old_one_keeps_serving(server):
    serving = ready_id(server)
    builder = build(server.index_dir, server.corpus)
    assert builder.wait(timeout=120) == 0
    live = (server.index_dir / "current").resolve()
    (live / "vectors.faiss").write_bytes((live / "vectors.faiss").read_bytes()[:100])  # truncated
    os.kill(server.process.pid, signal.SIGHUP)
    time.sleep(2.0)
    assert {ready_id(server) for _ in range(10)} == {serving}
    assert '"event": "index_reload_failed"' in server.log
    status, _, _ = call(server, "GET", "/api/search?q=fever")
    assert status == 200
    assert build(server.index_dir, server.corpus).wait(timeout=120) == 0  # repaired for the next tests
    os.kill(server.process.pid, signal.SIGHUP)
    time.sleep(1.0)


# --------------------------------------------------------------------------- faults


def test_a_worker_killed_mid_load_is_replaced_and_the_others_keep_answering(server):
    before = workers(server)
    assert len(before) == 2
    with Load(server, clients=4) as load:
        time.sleep(1.0)
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(workers(server)) != 2 or victim in workers(server)):
            time.sleep(0.2)
        time.sleep(2.0)
        failures_at_replacement = len(load.failures)
        served_at_replacement = load.ok
        time.sleep(2.0)
    after = workers(server)
    assert len(after) == 2 and victim not in after, "gunicorn replaced the killed worker"
    # Only requests in flight on the killed worker may fail (at most one per client); none after.
    assert failures_at_replacement <= 4, load.failures
    assert len(load.failures) == failures_at_replacement, load.failures
    assert load.ok > served_at_replacement + 10


def test_a_worker_replaced_while_the_corpus_is_edited_but_not_built_serves_the_built_index(server):
    """The CI failure: a worker that (re)started after a corpus edit refused the built index, and gunicorn
    then stopped the whole server ("App failed to load")."""
    serving = {ready_id(server) for _ in range(10)}
    assert len(serving) == 1
    edit = server.corpus / "unbuilt-edit.txt"
    edit.write_text("Unbuilt Edit\n\nA document added to the corpus but not yet built into the index.\n",
                    encoding="utf-8")
    try:
        victim = sorted(workers(server))[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(workers(server)) != 2 or victim in workers(server)):
            time.sleep(0.2)
        time.sleep(2.0)  # the replacement loads the model and the index
        assert server.process.poll() is None, server.log[-2000:]
        assert len(workers(server)) == 2 and victim not in workers(server)
        assert {ready_id(server) for _ in range(10)} == serving
    finally:
        edit.unlink()


# --------------------------------------------------------------------------- kept-alive connections


@pytest.fixture(scope="module")
def one_thread_server(tmp_path_factory, corpus):
    """One worker with one thread: every connection competes for the same thread."""
    index_dir = tmp_path_factory.mktemp("one-thread-index") / "index"
    with Server("--index", str(index_dir), "--corpus", str(corpus), "--workers", "1", "--threads", "1",
                QA_MODEL=FAKE, startup_timeout=120) as running:
        yield running
    assert "Traceback" not in running.log, running.log[-3000:]


def test_one_kept_alive_connection_is_answered_request_after_request_and_when_pipelined(one_thread_server):
    connection = http.client.HTTPConnection("127.0.0.1", one_thread_server.port, timeout=30)
    queries = ["what is MRD", "red dots on her skin", "central line care"]
    for n in range(30):
        connection.request("GET", f"/api/search?q={queries[n % 3].replace(' ', '+')}&k=2")
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200 and body["query"] == queries[n % 3]
    connection.close()
    # Three requests in one write: the thread answers each, in order, on the same connection.
    import socket

    with socket.create_connection(("127.0.0.1", one_thread_server.port), timeout=30) as raw:
        raw.sendall(b"".join(f"GET /api/passages/{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                             for name in ("nope-1", "nope-2", "nope-3")))
        received = b""
        deadline = time.monotonic() + 30
        # Until the third body has arrived too: its headers can come in an earlier segment than its body.
        while b"nope-3" not in received and time.monotonic() < deadline:
            received += raw.recv(65536)
    assert received.count(b"HTTP/1.1 404") == 3, received[:600]
    assert [received.find(f"nope-{n}".encode()) for n in (1, 2, 3)] == sorted(
        received.find(f"nope-{n}".encode()) for n in (1, 2, 3))


def test_a_client_sending_back_to_back_does_not_keep_the_thread_from_another_connection(one_thread_server):
    """The thread that answered a kept-alive connection waits for its next request only while no other connection
    is waiting: a client that never pauses must not hold the worker's only thread."""
    stop = threading.Event()
    busy_answers = []

    def busy_client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", one_thread_server.port, timeout=30)
        while not stop.is_set():
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            busy_answers.append(response.status)
        connection.close()

    busy = threading.Thread(target=busy_client, daemon=True)
    busy.start()
    try:
        time.sleep(0.5)
        waits = []
        for _ in range(5):
            started = time.monotonic()
            status, _, _ = call(one_thread_server, "GET", "/healthz", timeout=30)
            waits.append(time.monotonic() - started)
            assert status == 200
        answered_meanwhile = len(busy_answers)
        time.sleep(0.3)
    finally:
        stop.set()
        busy.join(timeout=30)
    assert len(busy_answers) > answered_meanwhile, "the busy client kept being answered"
    # Without the check, each of these waited until the busy client stopped; a request takes milliseconds.
    assert max(waits) < 1.0, waits


# --------------------------------------------------------------------------- rate limits shared through Redis


@pytest.fixture()
def redis_url(tmp_path):
    """A private redis-server on a free loopback port (Debian's; .ci/run installs it)."""
    from tests.support import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_rate_limit_in_redis_is_shared_by_the_workers(tmp_path, corpus, redis_url):
    """With memory storage each worker would allow the limit on its own; Redis makes it one count."""
    with Server("--index", str(tmp_path / "index"), "--corpus", str(corpus), "--workers", "2",
                QA_MODEL=FAKE, QA_RATE_LIMIT="10/minute", QA_RATE_LIMIT_STORAGE=redis_url,
                startup_timeout=120) as limited:
        time.sleep(1.0)  # both workers up, so fresh connections spread over them
        statuses = [call(limited, "GET", "/api/passages/x")[0] for _ in range(16)]
        status, headers, body = call(limited, "GET", "/api/search?q=fever")
    assert statuses[:10] == [404] * 10 and statuses[10:] == [429] * 6, statuses
    error = assert_json_error(status, headers, body, 429, "rate_limited")
    assert "10 per 1 minute" in error["message"] and int(headers["retry-after"]) > 0
