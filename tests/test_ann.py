"""The vector index choice by size, approximate recall against exact search, and memory-mapped reopening."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index.ann import FLAT_MAX, HNSW, build_ann, choose_index_spec, ivf_spec, open_ann, recall_at_k, save_ann


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 20, n)] + rng.standard_normal((n, dim)).astype(np.float32) * 0.5
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def near_queries(vectors: np.ndarray, count: int = 50, seed: int = 1) -> np.ndarray:
    """Queries close to stored vectors, as a question is close to the passage that answers it."""
    rng = np.random.default_rng(seed)
    queries = vectors[rng.integers(0, len(vectors), count)] + rng.standard_normal((count, vectors.shape[1])) * 0.1
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]


def test_small_corpora_get_exact_search_and_large_ones_an_approximate_index():
    assert choose_index_spec(1_000, 384)["type"] == "flat"
    assert choose_index_spec(FLAT_MAX, 384)["type"] == "flat"
    large = choose_index_spec(FLAT_MAX + 1, 384)
    assert large["type"] in ("hnsw", "ivf") and large["dim"] == 384


@pytest.mark.parametrize("spec", [{"type": "flat"}, HNSW, ivf_spec(3000, 32)], ids=lambda s: s["type"])
def test_each_index_keeps_recall_at_10_against_exact_search(spec):
    vectors = unit_vectors(3000)
    queries = near_queries(vectors)
    index = build_ann(vectors, spec)
    _, found = index.search(queries, 10)
    assert recall_at_k(found, exact_top10(vectors, queries)) >= 0.99


def test_recall_counts_shared_ids_only():
    exact = np.array([[1, 2, 3, 4]])
    assert recall_at_k(np.array([[1, 2, 9, -1]]), exact, k=4) == 0.5
    assert recall_at_k(exact, exact, k=4) == 1.0


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_saved_index_reopens_memory_mapped_with_the_same_results(tmp_path, kind):
    vectors, queries = unit_vectors(500), unit_vectors(5, seed=2)
    spec = {"type": "flat"} if kind == "flat" else {"type": "hnsw", "M": 16, "ef_construction": 40, "ef_search": 50}
    index = build_ann(vectors, spec)
    save_ann(index, tmp_path / "vectors.faiss")
    reopened = open_ann(tmp_path / "vectors.faiss", spec, mmap=True)
    assert reopened.ntotal == 500
    np.testing.assert_array_equal(index.search(queries, 10)[1], reopened.search(queries, 10)[1])


def test_unknown_index_type_is_refused():
    with pytest.raises(ValueError, match="unknown index type"):
        build_ann(unit_vectors(10), {"type": "lsh"})
