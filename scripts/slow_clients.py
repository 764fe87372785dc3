"""Slow, idle and half-open clients for the load tests: one thread holds N connections of each kind to a loopback
server and opens a new one whenever the server closes one, bounded in connections opened and in time.

- idle: connects and sends nothing (a browser's speculative connection);
- headers: sends a request line and a header, then one more header line every ``interval`` seconds;
- body: sends a POST's headers declaring a 100-byte body and 5 bytes of it, then one more byte every ``interval``.

Used by scripts/loadtest.py (--idle, --slow-headers, --slow-bodies) and scripts/slow_clients_table.py.
"""

from __future__ import annotations

import errno
import ipaddress
import multiprocessing
import resource
import selectors
import socket
import statistics
import threading
import time

from qa.server.open_files import raise_open_file_limit

KINDS = ("idle", "headers", "body")
MAX_HELD = 10_000  # connections held at once, all kinds together
MAX_OPENED = 500_000  # connections opened in one run
OPENS_PER_TICK = 200  # new connections started per pass of the loop (about 20 ms)
_FIRST = {
    "idle": b"",
    "headers": b"GET /api/search?q=fever HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-client\r\n",
    "body": b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"q\":",
}


def check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        loopback = False
    if not loopback:
        raise SystemExit(f"error: {host} is not a loopback address; slow clients only target this machine")


class _Conn:
    __slots__ = ("kind", "sock", "connected", "opened", "next_send", "sent", "reply")

    def __init__(self, kind: str, sock: socket.socket, now: float) -> None:
        self.kind, self.sock, self.connected, self.opened = kind, sock, False, now
        self.next_send, self.sent, self.reply = now, 0, b""


class SlowClients(threading.Thread):
    """Holds ``counts[kind]`` connections of each kind open until ``stop()``; see the module docstring."""

    def __init__(self, host: str, port: int, counts: dict[str, int], interval: float = 1.0,
                 seconds: float = 600.0, reopen: bool = True) -> None:
        super().__init__(daemon=True, name="slow-clients")
        check_loopback(host)
        if sum(counts.values()) > MAX_HELD:
            raise SystemExit(f"error: at most {MAX_HELD} slow connections at once")
        raise_open_file_limit()  # as the server does for itself
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < sum(counts.values()) + 1024:
            raise SystemExit("error: the open-file limit is too low for that many connections")
        self.address = (host, port)
        self.counts = {kind: counts.get(kind, 0) for kind in KINDS}
        self.interval, self.seconds, self.reopen = interval, seconds, reopen
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.open = dict.fromkeys(KINDS, 0)
        self.opened = dict.fromkeys(KINDS, 0)
        self.closed_by_server = dict.fromkeys(KINDS, 0)
        self.answered_408 = dict.fromkeys(KINDS, 0)
        self.other_replies = dict.fromkeys(KINDS, 0)
        self.connect_errors = 0
        self.lifetimes: dict[str, list[float]] = {kind: [] for kind in KINDS}  # seconds, for those the server closed
        self.samples: dict[str, list[int]] = {kind: [] for kind in KINDS}  # open connections, sampled

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self.open)

    def sample(self) -> None:
        """Note how many of each kind are open now (the caller samples during its measured window)."""
        with self._lock:
            for kind in KINDS:
                self.samples[kind].append(self.open[kind])

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        conns: set[_Conn] = set()
        ends = time.monotonic() + self.seconds
        next_trickle = 0.0
        try:
            while not self._halt.is_set() and time.monotonic() < ends:
                self._top_up(selector, conns)
                for key, mask in selector.select(timeout=0.02):
                    self._on_event(selector, conns, key.data, mask)
                now = time.monotonic()
                if now >= next_trickle:  # a tenth of a second late at most, for a fraction of the CPU
                    next_trickle = now + 0.1
                    for conn in [c for c in conns if c.connected and c.kind != "idle" and c.next_send <= now]:
                        self._trickle(selector, conns, conn, now)
        finally:
            for conn in list(conns):
                self._drop(selector, conns, conn, by_server=False)
            selector.close()

    def _top_up(self, selector, conns: set[_Conn]) -> None:
        started = 0
        for kind in KINDS:
            while (self.open[kind] < self.counts[kind] and started < OPENS_PER_TICK
                   and sum(self.opened.values()) < MAX_OPENED):
                if not self.reopen and self.opened[kind] >= self.counts[kind]:
                    break
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                code = sock.connect_ex(self.address)
                if code not in (0, errno.EINPROGRESS):
                    sock.close()
                    self.connect_errors += 1
                    return
                conn = _Conn(kind, sock, time.monotonic())
                conns.add(conn)
                with self._lock:
                    self.open[kind] += 1
                    self.opened[kind] += 1
                selector.register(sock, selectors.EVENT_WRITE, conn)
                started += 1

    def _on_event(self, selector, conns: set[_Conn], conn: _Conn, mask: int) -> None:
        if conn not in conns:
            return
        if not conn.connected:
            if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.connect_errors += 1
                self._drop(selector, conns, conn, by_server=False)
                return
            conn.connected = True
            conn.opened = time.monotonic()  # the server's clock starts at its accept, about now
            selector.modify(conn.sock, selectors.EVENT_READ, conn)
            if _FIRST[conn.kind]:
                self._send(selector, conns, conn, _FIRST[conn.kind])
            return
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.reply += data[:64]
            return
        if conn.reply.startswith(b"HTTP/1.1 408"):
            self.answered_408[conn.kind] += 1
        elif conn.reply:
            self.other_replies[conn.kind] += 1
        self.lifetimes[conn.kind].append(time.monotonic() - conn.opened)
        self._drop(selector, conns, conn, by_server=True)

    def _trickle(self, selector, conns: set[_Conn], conn: _Conn, now: float) -> None:
        conn.next_send = now + self.interval
        conn.sent += 1
        self._send(selector, conns, conn, f"X-Slow-{conn.sent}: 1\r\n".encode() if conn.kind == "headers" else b" ")

    def _send(self, selector, conns: set[_Conn], conn: _Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except BlockingIOError:
            pass
        except OSError:  # closed by the server: the read side reports it, or it is gone already
            self.lifetimes[conn.kind].append(time.monotonic() - conn.opened)
            self._drop(selector, conns, conn, by_server=True)

    def _drop(self, selector, conns: set[_Conn], conn: _Conn, by_server: bool) -> None:
        conns.discard(conn)
        try:
            selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        with self._lock:
            self.open[conn.kind] -= 1
            if by_server:
                self.closed_by_server[conn.kind] += 1

    def report(self, deadlines: dict[str, float] | None = None) -> dict:
        """Per kind: held (median and least of the samples), opened, closed by the server, 408s, and how long the
        server took to close one, against its deadline when given."""
        out = {}
        for kind in KINDS:
            if not self.counts[kind]:
                continue
            lifetimes = sorted(self.lifetimes[kind])
            entry = {"wanted": self.counts[kind], "opened": self.opened[kind],
                     "held_median": statistics.median(self.samples[kind]) if self.samples[kind] else None,
                     "held_least": min(self.samples[kind]) if self.samples[kind] else None,
                     "closed_by_server": self.closed_by_server[kind], "answered_408": self.answered_408[kind],
                     "other_replies": self.other_replies[kind],
                     "closed_after_s_median": round(statistics.median(lifetimes), 2) if lifetimes else None,
                     "closed_after_s_max": round(lifetimes[-1], 2) if lifetimes else None}
            if deadlines and lifetimes:
                entry["deadline_s"] = deadlines[kind]
                entry["past_deadline_s_max"] = round(lifetimes[-1] - deadlines[kind], 2)
            out[kind] = entry
        out["connect_errors"] = self.connect_errors
        return out


def _serve_commands(pipe, args: tuple, kwargs: dict) -> None:
    holder = SlowClients(*args, **kwargs)
    holder.start()
    while True:
        command, value = pipe.recv()
        if command == "held":
            pipe.send(holder.held())
        elif command == "sample":
            holder.sample()
            pipe.send(None)
        elif command == "stop":
            holder.stop()
            pipe.send(holder.report(value))
            return


class SlowClientsProcess:
    """SlowClients in a process of its own, so that holding thousands of connections takes no time from the normal
    clients' threads (the GIL) in the load test's process; the same methods."""

    def __init__(self, *args, **kwargs) -> None:
        check_loopback(args[0])
        self._pipe, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(target=_serve_commands,
                                                                     args=(theirs, args, kwargs), daemon=True)

    def _ask(self, command: str, value=None):
        self._pipe.send((command, value))
        return self._pipe.recv()

    def start(self) -> None:
        self._process.start()

    def held(self) -> dict[str, int]:
        return self._ask("held")

    def sample(self) -> None:
        self._ask("sample")

    def stop_and_report(self, deadlines: dict[str, float] | None = None) -> dict:
        report = self._ask("stop", deadlines)
        self._process.join(timeout=30)
        return report
