"""Serving the app in production with gunicorn: the service's worker, its JSON errors, reloads and metrics."""

from qa.server.gunicorn_app import gunicorn_options, serve
from qa.server.worker import BufferingThreadWorker, JsonErrorWorker, LingeringThreadWorker

__all__ = ["BufferingThreadWorker", "JsonErrorWorker", "LingeringThreadWorker", "gunicorn_options", "serve"]
