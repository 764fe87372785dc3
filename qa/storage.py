"""Files written whole or not at all, caches that may fail to write, and short digests of files.

Every layer that saves something (the index build, calibration, trained models, vector caches) writes through
here, so that a process killed mid-write never leaves a half-written file where a reader looks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path


def _partial(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process, hidden from globs on ``path``'s own name."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def _remove(partial: Path) -> None:
    """A partial file gone, if there is one (its directory may itself be what failed)."""
    with contextlib.suppress(OSError):
        partial.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """``text`` in ``path`` as UTF-8, written whole or not at all (flushed to disk before it replaces the old)."""
    path = Path(path)
    partial = _partial(path)
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        _remove(partial)


def save_cache(path: Path | None, save: Callable[[Path], None]) -> None:
    """``save(partial)`` writes a cache file, which then replaces ``path``. A cache that cannot be written only
    costs the next start its work again, so write errors are ignored."""
    if path is None:
        return
    partial = _partial(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(partial)
        os.replace(partial, path)
    except OSError:
        _remove(partial)


def file_digest(path: str | Path) -> str:
    """A short SHA-256 of a file's bytes: what a saved model or setting was trained or measured on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
