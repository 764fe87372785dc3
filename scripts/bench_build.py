"""Time a full `qa build` against one plain encode of exactly the passages it made, and an unchanged rebuild.

    python scripts/bench_build.py --corpus ../shared/dev-corpora/medquad-nih/corpus.jsonl [--repeat 1] [--json]

In one run: `python -m qa build --corpus PATH --index FRESH_DIR --quiet` as a subprocess (nothing cached),
then `SentenceTransformer.encode` of the texts of the passages that build wrote (batch size 32, the model loaded
before the clock starts), then the same build again into the same directory (every passage in the cache).
Prints the three times and the ratios build / encode (issue target: at most 1.5) and rebuild / build (at most
0.10). Medians over --repeat runs; compare ratios, not seconds, on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _build(corpus: str, index_dir: str, model: str) -> float:
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "qa", "build", "--corpus", corpus, "--index", index_dir,
                                "--model", model, "--quiet"], cwd=ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"build failed: {completed.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="corpus directory or .jsonl file")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    from qa.embedding import resolve_model_path

    model = SentenceTransformer(resolve_model_path(args.model), device="cpu")
    model.encode(["warm up"])
    runs = []
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory(prefix="bench-build-") as index_dir:
            build = _build(args.corpus, index_dir, args.model)
            live = Path(index_dir) / "current"
            texts = [json.loads(line)["text"] for line in (live / "passages.jsonl").open(encoding="utf-8")]
            started = time.perf_counter()
            model.encode(texts, batch_size=32, normalize_embeddings=True)
            encode = time.perf_counter() - started
            rebuild = _build(args.corpus, index_dir, args.model)
            manifest = json.loads((Path(index_dir) / "current" / "manifest.json").read_text())
            runs.append({"build": build, "encode": encode, "rebuild": rebuild, "passages": len(texts),
                         "reused": manifest["embedding"]["reused"]})
    median = {key: statistics.median(run[key] for run in runs) for key in ("build", "encode", "rebuild")}
    summary = {
        "corpus": args.corpus, "passages": runs[0]["passages"], "runs": len(runs),
        "build_seconds": round(median["build"], 2), "plain_encode_seconds": round(median["encode"], 2),
        "build_over_encode": round(median["build"] / median["encode"], 3),
        "rebuild_seconds": round(median["rebuild"], 2),
        "rebuild_over_build": round(median["rebuild"] / median["build"], 3),
        "rebuild_reused": runs[-1]["reused"],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"passages                      {summary['passages']}")
    print(f"full build                    {summary['build_seconds']:8.2f} s")
    print(f"plain encode of its passages  {summary['plain_encode_seconds']:8.2f} s")
    print(f"build / encode                {summary['build_over_encode']:8.3f}   (target <= 1.5)")
    print(f"unchanged rebuild             {summary['rebuild_seconds']:8.2f} s  ({summary['rebuild_reused']} reused)")
    print(f"rebuild / build               {summary['rebuild_over_build']:8.3f}   (target <= 0.10)")


if __name__ == "__main__":
    main()
