"""Production serving under gunicorn; each worker process loads the model and index once."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class _GunicornApp(BaseApplication):
    def __init__(self, overrides: dict, options: dict) -> None:
        self._overrides = overrides
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from qa.api import create_app

        return create_app(self._overrides)


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # Loading per worker (no preload) keeps torch's thread pools out of fork().
        "preload_app": False,
    }


def serve(overrides: dict, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, threads: int = 4) -> int:
    _GunicornApp(overrides, gunicorn_options(host, port, workers, threads)).run()
    return 0
