"""A short, stable id for a built index, derived from its manifest: answers can be replayed against it."""

from __future__ import annotations

import hashlib
import json


def index_id(manifest: dict) -> str:
    """12 hex digits of the SHA-256 of the manifest; two builds differ at least in their build time."""
    canonical = json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
