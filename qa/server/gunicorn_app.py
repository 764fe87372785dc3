"""``qa serve``: gunicorn with the service's worker, Prometheus multiprocess mode, and SIGHUP reloading the index in
every worker without a restart. Each worker process loads the model and index once."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from qa.server.open_files import raise_open_file_limit
from qa.settings import load_settings

# prometheus-client's own name for it. Nothing imported here may import prometheus_client: it chooses multiprocess
# mode once, at its first import, and metrics_dir() must set this first (else /metrics stays empty).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _ReloadingArbiter(Arbiter):
    """SIGHUP reloads the index inside every worker (model kept, no request dropped), rather than gunicorn's
    respawn of all workers, which would leave the port without a ready worker while they load the model."""

    def handle_hup(self) -> None:
        self.log.info("SIGHUP: reloading the index in every worker")
        self.kill_workers(signal.SIGHUP)


def _post_worker_init(worker) -> None:
    from qa.web.reload import install_sighup

    install_sighup(worker.wsgi)


def _child_exit(server, worker) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # its live gauges stop counting


class _GunicornApp(BaseApplication):
    def __init__(self, overrides: dict, options: dict) -> None:
        self._overrides = overrides
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from qa.errors import QAError
        from qa.web.app import create_app

        try:
            return create_app(self._overrides)
        except QAError as exc:  # a missing model, a bad index: one line, and gunicorn stops ("App failed to load")
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(Arbiter.APP_LOAD_ERROR)

    def run(self) -> None:
        _ReloadingArbiter(self).run()


def gunicorn_options(host: str, port: int, workers: int, threads: int, settings: dict | None = None) -> dict:
    settings = settings or load_settings()
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "qa.server.worker.JsonErrorWorker",
        "timeout": 60,
        # Kept-alive connections wait in the worker's event loop, which closes them after this (qa.server.buffering).
        "keepalive": settings["KEEPALIVE_TIMEOUT_S"],
        "graceful_timeout": 10,
        "accesslog": None,  # the app writes its own access log, without query strings
        "errorlog": "-",
        "loglevel": "info",
        # Loading per worker (no preload) keeps torch's thread pools out of fork().
        "preload_app": False,
        # gunicorn 27's control socket sits at one fixed path per user: two servers would fight over it.
        "control_socket_disable": True,
        # Set on purpose and documented: the same limits the app enforces (qa.limits).
        "limit_request_line": settings["MAX_REQUEST_LINE"],
        "limit_request_fields": settings["MAX_HEADERS"],
        "limit_request_field_size": settings["MAX_HEADER_BYTES"],
        "post_worker_init": _post_worker_init,
        "child_exit": _child_exit,
    }


def metrics_dir() -> tuple[Path, bool]:
    """An empty directory for the workers' metric files, and whether it is ours to remove at exit.

    PROMETHEUS_MULTIPROC_DIR when set (its *.db files are deleted: old workers' counts would add up with
    this server's), else a private temporary directory."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="qa-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)  # before any worker imports prometheus_client
    return path, True


def serve(overrides: dict, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, threads: int = 4) -> int:
    raised = raise_open_file_limit()
    if raised:
        print(f"open-file limit raised from {raised[0]} to {raised[1]} (every connection is one)", file=sys.stderr,
              flush=True)
    directory, owned = metrics_dir()
    try:
        _GunicornApp(overrides, gunicorn_options(host, port, workers, threads, load_settings(overrides))).run()
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
    return 0
