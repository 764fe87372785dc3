"""Serving the app in production with gunicorn: the service's worker, its JSON errors, reloads and metrics."""

from qa.server.gunicorn_app import gunicorn_options, serve
from qa.server.worker import JsonErrorWorker, LingeringThreadWorker

__all__ = ["JsonErrorWorker", "LingeringThreadWorker", "gunicorn_options", "serve"]
