"""The JSON API: handlers parse the request, call the Searcher and build the response from the API's models."""

from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from qa.errors import ERRORS, InputError
from qa.search.searcher import Searcher
from qa.web import observability
from qa.web.responses import batch_body, batch_entry, passage_body, search_body
from qa.web.schemas import Health, Ready, batch_request, dump, query_item, search_request

api = Blueprint("api", __name__)


class NotReady(HTTPException):
    code = 503


def _searcher() -> Searcher:
    searcher = current_app.extensions.get("searcher")
    if searcher is None:
        raise NotReady()
    return searcher


def _json_object() -> dict:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InputError("invalid_json", "request body must be a JSON object, and it is empty")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("invalid_json", f"request body is not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError("invalid_json", "request body is nested too deeply to parse") from None
    if not isinstance(body, dict):
        raise InputError("invalid_json", f"request body must be a JSON object, not {type(body).__name__}")
    return body


@api.route("/api/search", methods=["GET", "POST"])
def search():
    source = request.args if request.method in ("GET", "HEAD") else _json_object()
    query, k, low_confidence = search_request(source, current_app.config)
    started = time.perf_counter()
    searcher = _searcher()
    outcome = searcher.search(query, k, low_confidence)
    observability.note_search([outcome], [query])
    return jsonify(search_body(outcome, searcher.index.documents, (time.perf_counter() - started) * 1000,
                               searcher.index.id))


@api.route("/api/search/batch", methods=["POST"])
def search_batch():
    config = current_app.config
    queries, k, low_confidence = batch_request(_json_object(), config)
    ids: list = []
    errors: dict[int, dict] = {}
    valid: list[tuple[int, str]] = []
    for position, item in enumerate(queries):
        ids.append(item.get("id", position) if isinstance(item, dict) else position)
        try:
            valid.append((position, query_item(item, position, config)))
        except InputError as exc:
            errors[position] = exc.to_dict()
    started = time.perf_counter()
    searcher = _searcher()
    outcomes = searcher.search_batch([q for _, q in valid], k, low_confidence) if valid else []
    answered = {position: outcome for (position, _), outcome in zip(valid, outcomes)}
    documents = searcher.index.documents
    entries = [batch_entry(item_id, error=errors[position]) if position in errors
               else batch_entry(item_id, answered[position], documents) for position, item_id in enumerate(ids)]
    observability.note_search(outcomes, [q for _, q in valid])
    return jsonify(batch_body(entries, (time.perf_counter() - started) * 1000, searcher.index.id))


@api.route("/api/passages/<path:passage_id>", methods=["GET"])
def passage(passage_id: str):
    searcher = _searcher()
    found = searcher.index.passage(passage_id)
    if found is None:
        error = ERRORS["passage_not_found"]
        return jsonify(error.body(passage_id=passage_id)), error.status
    return jsonify(passage_body(found, searcher.index.documents[found.doc_id]))


@api.route("/healthz", methods=["GET"])
def healthz():
    manifest = _searcher().index.manifest
    return jsonify(dump(Health(status="ok", passages=manifest["passages"], model=manifest["model"],
                               built_at=manifest["built_at"])))


@api.route("/readyz", methods=["GET"])
def readyz():
    """200 once this worker can answer, with the index id and model; 503 before."""
    searcher = current_app.extensions.get("searcher")
    if searcher is None:
        return jsonify(dump(Ready(ready=False))), 503
    manifest = searcher.index.manifest
    return jsonify(dump(Ready(ready=True, index_id=searcher.index.id, model=manifest["model"],
                              passages=manifest["passages"], built_at=manifest["built_at"])))
