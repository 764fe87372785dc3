"""FAISS index choice by corpus size (exact below a size, approximate above it), and memory-mapped files.

The thresholds and parameters come from `python scripts/bench_scale.py` (see the README's Scale section):
each approximate spec kept recall@10 >= 0.99 against exact search at the sizes measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Exact search scans every vector: measured 0.7 ms per query at 10k x 384 on one core, but 24 ms at 100k
# (more than encoding the query) and 290 ms at 1M. IVF-Flat held recall@10 1.0 at 100k and 1M in under
# 1 ms; HNSW (this spec) held 0.999 at 100k but only 0.988 at 1M even at efSearch 384, so IVF is chosen.
FLAT_MAX = 20_000
HNSW = {"type": "hnsw", "M": 32, "ef_construction": 80, "ef_search": 192}
# IVF lists to probe: recall@10 >= 0.99 took 50 of 400 lists at 10k, 19 of 1,264 at 100k, 15 of 4,000 at 1M.
IVF_MIN_PROBE = 48


def choose_index_spec(n_vectors: int, dim: int) -> dict:
    """The index type and parameters for ``n_vectors`` vectors of ``dim`` dimensions (inner product)."""
    if n_vectors <= FLAT_MAX:
        return {"type": "flat", "dim": dim}
    return ivf_spec(n_vectors, dim)


def ivf_spec(n_vectors: int, dim: int) -> dict:
    """An IVF-Flat spec: about 4 x sqrt(n) lists, probing at least 48 of them (or 1/64 of them)."""
    nlist = max(16, int(min(4 * np.sqrt(n_vectors), n_vectors / 39)))  # FAISS wants 39 points per list
    return {"type": "ivf", "dim": dim, "nlist": nlist, "nprobe": min(nlist, max(IVF_MIN_PROBE, nlist // 64))}


def build_ann(vectors: np.ndarray, spec: dict, train_size: int = 100_000, seed: int = 0):
    """A FAISS inner-product index of ``vectors`` (L2-normalised float32 rows) built as ``spec`` says."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    kind = spec["type"]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(spec["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(spec["ef_construction"])
    elif kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, int(spec["nlist"]), faiss.METRIC_INNER_PRODUCT)
        sample = vectors
        if len(vectors) > train_size:
            sample = vectors[np.random.default_rng(seed).choice(len(vectors), train_size, replace=False)]
        index.train(sample)
    else:
        raise ValueError(f"unknown index type {kind!r}: expected flat, hnsw or ivf")
    index.add(vectors)
    apply_search_params(index, spec)
    return index


def apply_search_params(index, spec: dict) -> None:
    """Search-time parameters, which FAISS files do not always keep."""
    import faiss

    if spec["type"] == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = int(spec["ef_search"])
    elif spec["type"] == "ivf":
        faiss.extract_index_ivf(index).nprobe = int(spec["nprobe"])


def save_ann(index, path: str | Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def open_ann(path: str | Path, spec: dict | None = None, mmap: bool = True):
    """Read an index; with ``mmap`` its vectors stay in the page cache, shared by every worker process."""
    import faiss

    flags = (faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY) if mmap else 0
    index = faiss.read_index(str(path), flags)
    if spec:
        apply_search_params(index, spec)
    return index


def recall_at_k(found: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Share of the exact top-k ids that the approximate search also returned in its top k."""
    hits = sum(len(set(f[:k].tolist()) & set(e[:k].tolist()) - {-1}) for f, e in zip(found, exact))
    return hits / (len(exact) * k)
