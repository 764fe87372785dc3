"""qa/storage.py: files written whole or not at all, caches that may fail to write, file digests."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from qa.storage import file_digest, save_cache, write_text_atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_partial(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old\n", encoding="utf-8")
    write_text_atomic(path, "new ✓\n")
    assert path.read_text(encoding="utf-8") == "new ✓\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "half \udc80 written")  # a lone surrogate cannot be encoded midway
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_a_cache_is_saved_through_a_partial_file_numpy_accepts(tmp_path):
    path = tmp_path / "cache" / "vectors.npy"
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    save_cache(path, lambda partial: np.save(partial, vectors))
    assert np.array_equal(np.load(path), vectors)
    assert [p.name for p in path.parent.iterdir()] == ["vectors.npy"]
    save_cache(None, lambda partial: pytest.fail("no path, nothing to write"))


def test_a_cache_that_cannot_be_written_is_skipped_quietly(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    save_cache(blocker / "vectors.npy", lambda partial: np.save(partial, np.zeros(2)))  # raises nothing
    assert blocker.is_file()

    def fails(partial):
        partial.write_bytes(b"half")
        raise OSError("disk full")

    save_cache(tmp_path / "other.npy", fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_a_file_digest_is_the_short_sha256_of_its_bytes(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_bytes(b'{"qid": "a"}\n')
    assert file_digest(path) == hashlib.sha256(b'{"qid": "a"}\n').hexdigest()[:16]
