"""HTTP: the Flask app factory, the JSON API and its schemas, OpenAPI, limits, observability, reloads and the page."""

from qa.web.app import create_app

__all__ = ["create_app"]
