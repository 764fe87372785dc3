"""Prometheus metrics of the serve workers' connections: how many are open, and why the server closed or refused
any (summed over workers in multiprocess mode, like every other metric of /metrics).

Made in the worker, after fork: prometheus-client chooses multiprocess mode once, when it is first imported, and
the gunicorn master sets PROMETHEUS_MULTIPROC_DIR only when it starts; importing it earlier would leave /metrics
empty."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

REASONS = ("keepalive_timeout", "header_timeout", "body_timeout", "send_timeout", "evicted")


@dataclass(frozen=True)
class ConnectionMetrics:
    open: object  # Gauge
    closed: object  # Counter, by reason
    refused: object  # Counter


@cache
def connection_metrics() -> ConnectionMetrics:
    from prometheus_client import Counter, Gauge

    made = ConnectionMetrics(
        open=Gauge("qa_connections_open", "Client connections open, in every serve worker.",
                   multiprocess_mode="livesum"),
        closed=Counter("qa_connections_closed_total", "Connections the server closed before the client did, by "
                       "reason: keepalive_timeout (no request in progress), header_timeout and body_timeout "
                       "(answered 408), send_timeout (a response the client did not take), evicted (idle, closed "
                       "to make room at QA_MAX_CONNECTIONS).", ["reason"]),
        refused=Counter("qa_connections_refused_total",
                        "Connections refused with 503 too_many_connections at QA_MAX_CONNECTIONS."))
    for reason in REASONS:  # every series at zero, before the first event
        made.closed.labels(reason)
    return made
