"""The slow-client table of issue 21, measured: for each row, hold that many slow or idle connections open to a
`python -m qa serve` (its defaults: 1 worker, 4 threads) on loopback, then send normal searches one at a time with a
5-second timeout and count those that failed.

    python scripts/slow_clients_table.py                               # starts the server of this checkout
    python scripts/slow_clients_table.py --url http://127.0.0.1:8000   # a server already running

Rows: 3 and 4 connections that sent a request line and part of the headers (then a header line every second),
4 POSTs that declared a 100-byte body and sent 5 (then a byte every second), and 5, 8, 16 and 50 idle connections.
Each connection the server closes is opened again, so the count stays held. Bounded: 7 rows, at most 10 searches
each, loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from slow_clients import SlowClients, check_loopback

ROOT = Path(__file__).resolve().parents[1]
ROWS = [("headers", 3, 10), ("headers", 4, 10), ("body", 4, 5), ("idle", 5, 5), ("idle", 8, 5), ("idle", 16, 5),
        ("idle", 50, 5)]
DESCRIPTION = {"headers": "connections that sent a request line and part of the headers, then a header line now "
                          "and then", "body": "POSTs that declared a 100-byte body and sent 5",
               "idle": "idle connections (connected, nothing sent)"}


def search(host: str, port: int, timeout: float) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/api/search?q=what+is+MRD&k=3", headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status == 200 and b'"results"' in response.read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_ready(host: str, port: int, process: subprocess.Popen | None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"error: the server exited with {process.returncode}")
        if search(host, port, 2):
            return
        time.sleep(0.5)
    raise SystemExit("error: the server did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="measure a server already running (loopback only)")
    parser.add_argument("--index", help="index directory for the server it starts")
    parser.add_argument("--timeout", type=float, default=5.0, help="a normal search's timeout, seconds")
    args = parser.parse_args()
    process = None
    if args.url:
        parsed = urllib.parse.urlsplit(args.url)
        host, port = parsed.hostname or "", parsed.port or 80
        check_loopback(host)
    else:
        from loadtest import free_port, qa_env

        host, port = "127.0.0.1", free_port()
        command = [sys.executable, "-m", "qa", "serve", "--host", host, "--port", str(port)]
        if args.index:
            command += ["--index", args.index]
        process = subprocess.Popen(command, cwd=ROOT, env=qa_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    rows = []
    try:
        wait_ready(host, port, process)
        for kind, count, searches in ROWS:
            holder = SlowClients(host, port, {kind: count}, interval=1.0, seconds=120)
            holder.start()
            time.sleep(1.0)
            failed = sum(not search(host, port, args.timeout) for _ in range(searches))
            held = holder.held()[kind]
            holder.stop()
            rows.append({"kind": kind, "held": count, "held_during": held, "searches": searches, "failed": failed})
            print(f"| {count} {DESCRIPTION[kind]} | {failed} of {searches} |", flush=True)
            time.sleep(1.0)  # a server that was stuck frees its threads once the slow clients are gone
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    print(json.dumps({"rows": rows, "loadavg": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
