"""Swap in a newly built index inside a running worker, without dropping a request or reloading the model."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time

from flask import Flask

from qa.errors import QAError
from qa.web.observability import record_index

log = logging.getLogger("qa.reload")
_lock = threading.Lock()


def reload_index(app: Flask) -> bool:
    """Load the live index again; on any failure the index already loaded keeps serving."""
    from qa.wiring import open_searcher

    with _lock:  # two quick SIGHUPs load one after the other
        old = app.extensions.get("searcher")
        started = time.perf_counter()
        try:
            new = open_searcher(app.config, encoder=getattr(old, "encoder", None))
        except (QAError, OSError) as exc:
            log.error(json.dumps({"event": "index_reload_failed", "error": str(exc),
                                  "serving": old.index.id if old else None}))
            return False
        # One reference swap: a request in flight keeps the searcher it started with.
        app.extensions["searcher"] = new
        record_index(new.index.manifest)
        log.info(json.dumps({"event": "index_reloaded", "index_id": new.index.id,
                                "previous": old.index.id if old else None,
                                "seconds": round(time.perf_counter() - started, 3)}))
        return True


def install_sighup(app: Flask) -> None:
    """SIGHUP in this worker reloads the index in a background thread; requests go on meanwhile."""
    def handler(signum, frame) -> None:
        threading.Thread(target=reload_index, args=(app,), name="qa-index-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handler)
