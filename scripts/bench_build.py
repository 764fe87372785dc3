"""Build cost against one plain encode of the same passages, and the cost of an unchanged rebuild.

Usage:
    python scripts/bench_build.py --corpus PATH [--model M] [--repeat N] [--keep DIR] [--json]

Each repeat times a full ``python -m qa build --corpus PATH --index DIR --quiet`` into a fresh index directory
(nothing cached), then one ``SentenceTransformer.encode`` of exactly the passages that build made (model loaded
before the clock starts; batch_size=32, normalised), then an unchanged rebuild into the same index. Prints the
passage count, the three times and the ratios build/encode (target <= 1.5) and rebuild/build (target <= 0.10);
medians over --repeat. ``--keep DIR`` keeps the last built index there. The build subprocess inherits QA_*
settings from the environment; --model is passed to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embedding import DEFAULT_MODEL, resolve_model_path  # noqa: E402
from qa.index import CURRENT_LINK, PASSAGES  # noqa: E402


def timed_build(corpus: Path, index: Path, model: str) -> float:
    env = {**os.environ, "QA_MODEL": model, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "qa", "build", "--corpus", str(corpus), "--index", str(index), "--model", model,
               "--quiet"]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"error: qa build failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return seconds


def built_passages(index: Path) -> list[str]:
    lines = (index / CURRENT_LINK / PASSAGES).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--model", default=os.environ.get("QA_MODEL", DEFAULT_MODEL))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the last built index in this directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        sys.exit(f"error: corpus {args.corpus} does not exist")
    if args.repeat < 1:
        sys.exit("error: --repeat must be at least 1")

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path(args.model), device="cpu")  # loaded before any clock starts
    builds, encodes, rebuilds, counts = [], [], [], []
    scratch = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        for attempt in range(args.repeat):
            index = scratch / f"index-{attempt}"
            builds.append(timed_build(args.corpus, index, args.model))
            texts = built_passages(index)
            counts.append(len(texts))
            started = time.perf_counter()
            model.encode(texts, batch_size=32, normalize_embeddings=True)
            encodes.append(time.perf_counter() - started)
            rebuilds.append(timed_build(args.corpus, index, args.model))
            if args.keep and attempt == args.repeat - 1:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(index, args.keep, symlinks=True)
            shutil.rmtree(index, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    build, encode, rebuild = (statistics.median(v) for v in (builds, encodes, rebuilds))
    result = {
        "corpus": str(args.corpus), "model": args.model, "repeat": args.repeat, "passages": counts[-1],
        "build_s": round(build, 3), "plain_encode_s": round(encode, 3), "build_over_encode": round(build / encode, 3),
        "rebuild_s": round(rebuild, 3), "rebuild_over_build": round(rebuild / build, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"corpus {result['corpus']}  model {result['model']}  repeats {args.repeat} (medians)")
        print(f"passages                 {result['passages']}")
        print(f"full build               {build:.2f} s")
        print(f"plain encode             {encode:.2f} s")
        print(f"build / encode           {build / encode:.2f}   (target <= 1.5)")
        print(f"unchanged rebuild        {rebuild:.2f} s")
        print(f"rebuild / build          {rebuild / build:.3f}  (target <= 0.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
