"""Growth curves of the vector index: build time, memory, search latency and recall@10 from 10k to 1M vectors.

    python scripts/bench_scale.py [--sizes 10000,100000,1000000] [--queries 200] [--plot docs/scale.png]

Vectors are synthetic, 384-dimensional unit vectors with cluster structure (like sentence embeddings of
many documents on few topics): about one cluster per 1,000 vectors, each vector its centre plus Gaussian
noise. Queries are noisy copies of stored vectors. For each size it builds an exact flat index (the
ground truth), HNSW and IVF-Flat, sweeps their search parameter, and reports for each the smallest setting
with recall@10 >= 0.99 against exact search. Search latency is one query at a time on one thread, as a
serving worker searches. It prints JSON and a markdown table and draws the PNG.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from qa.index.ann import HNSW, apply_search_params, build_ann, choose_index_spec, ivf_spec, recall_at_k

DIM = 384
TARGET_RECALL = 0.99
EF_SEARCH = (16, 32, 64, 128, 192, 256, 384)
NPROBE_SHARE = (1 / 256, 1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8)


def clustered_vectors(n: int, seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit vectors around ``n / 1000`` random centres (cosine to the centre about 0.6)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, n // 1000), DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        block = centres[rng.integers(0, len(centres), rows)]
        block += rng.standard_normal((rows, DIM), dtype=np.float32) * (1.3 / np.sqrt(DIM))
        out[start:start + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def noisy_queries(vectors: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    queries = vectors[rng.integers(0, len(vectors), count)].copy()
    queries += rng.standard_normal(queries.shape, dtype=np.float32) * (0.6 / np.sqrt(DIM))
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def one_at_a_time(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    ids, timings = [], []
    for query in queries:
        started = time.perf_counter()
        _, found = index.search(query[None, :], k)
        timings.append((time.perf_counter() - started) * 1000)
        ids.append(found[0])
    return np.vstack(ids), timings


def index_bytes(index) -> int:
    import faiss

    with tempfile.NamedTemporaryFile(suffix=".faiss") as handle:
        faiss.write_index(index, handle.name)
        return Path(handle.name).stat().st_size


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray | None) -> dict:
    import faiss

    spec = {"flat": {"type": "flat", "dim": DIM}, "hnsw": dict(HNSW, dim=DIM),
            "ivf": ivf_spec(len(vectors), DIM)}[kind]
    faiss.omp_set_num_threads(2)  # building may use both cores
    started = time.perf_counter()
    index = build_ann(vectors, spec)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)  # searching: one query, one thread, as in a serving worker
    sweep = []
    if kind == "hnsw":
        settings = [("ef_search", ef) for ef in EF_SEARCH]
    elif kind == "ivf":
        settings = [("nprobe", max(1, int(spec["nlist"] * share))) for share in NPROBE_SHARE]
    else:
        settings = [(None, None)]
    chosen = None
    for name, value in settings:
        if name:
            apply_search_params(index, dict(spec, **{name: value}))
        found, timings = one_at_a_time(index, queries)
        recall = 1.0 if exact is None else recall_at_k(found, exact)
        row = {"param": name, "value": value, "recall@10": recall, "p50_ms": statistics.median(timings),
               "p99_ms": float(np.percentile(timings, 99))}
        sweep.append(row)
        if chosen is None and recall >= TARGET_RECALL:
            chosen = row
    chosen = chosen or sweep[-1]
    return {"n": len(vectors), "type": kind, "build_s": build_s, "memory_mb": index_bytes(index) / 2**20,
            **{k: chosen[k] for k in ("param", "value", "recall@10", "p50_ms", "p99_ms")}, "sweep": sweep}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for kind, style in (("flat", "o-"), ("hnsw", "s-"), ("ivf", "^-")):
        mine = [r for r in rows if r["type"] == kind]
        if not mine:
            continue
        sizes = [r["n"] for r in mine]
        for axis, key in zip(axes, ("build_s", "memory_mb", "p50_ms")):
            axis.plot(sizes, [r[key] for r in mine], style, label=kind)
    titles = ("build time (s)", "index memory (MB)", "search p50, one query, 1 thread (ms)")
    for axis, title in zip(axes, titles):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("vectors (384-d)")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle("FAISS index growth; HNSW and IVF at their smallest setting with recall@10 >= 0.99 "
                    "(or the largest tried)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200, help="sampled queries per size")
    parser.add_argument("--types", default="flat,hnsw,ivf")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "scale.png"))
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--merge", action="append", default=[], help="rows of earlier runs (--json files) to "
                        "add to the table and plot")
    args = parser.parse_args()
    rows = [row for path in args.merge for row in json.loads(Path(path).read_text())]
    for n in (int(size) for size in args.sizes.split(",") if size):
        vectors = clustered_vectors(n)
        queries = noisy_queries(vectors, args.queries)
        flat = measure("flat", vectors, queries, None)
        import faiss

        exact_index = faiss.IndexFlatIP(DIM)
        exact_index.add(vectors)
        faiss.omp_set_num_threads(2)
        _, exact = exact_index.search(queries, 10)
        del exact_index
        for kind in args.types.split(","):
            row = flat if kind == "flat" else measure(kind, vectors, queries, exact)
            row["chosen_by_size"] = choose_index_spec(n, DIM)["type"] == kind
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "sweep"}), file=sys.stderr, flush=True)
        del vectors
    for row in rows:  # rows of earlier runs too: the choice is today's rule
        row["chosen_by_size"] = choose_index_spec(row["n"], DIM)["type"] == row["type"]
    rows.sort(key=lambda r: (r["n"], r["type"]))
    print(json.dumps(rows, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print("\n| vectors | index | build s | memory MB | p50 ms | p99 ms | recall@10 | setting | auto |")
    print("|---:|---|---:|---:|---:|---:|---:|---|:-:|")
    for r in rows:
        setting = f"{r['param']}={r['value']}" if r["param"] else "exact"
        print(f"| {r['n']:,} | {r['type']} | {r['build_s']:.1f} | {r['memory_mb']:.0f} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['recall@10']:.3f} | {setting} | {'yes' if r['chosen_by_size'] else ''} |")
    plot(rows, Path(args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
