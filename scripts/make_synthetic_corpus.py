"""Write a synthetic JSONL corpus of long documents with TREC topics and qrels, for scale and format checks.

The documents are random English words, not medical text: they exercise building, batch evaluation and
run files at scale, not answer quality. Each document gets three rare "marker" words; a query asks for the
markers of one document (grade 2) and shares one marker with a second document (grade 1).

    python scripts/make_synthetic_corpus.py --documents 5000 --queries 1000 --out /tmp/synth
    python -m qa build --corpus /tmp/synth/corpus.jsonl --index /tmp/synth/index
    python -m qa eval --index /tmp/synth/index --queries /tmp/synth/topics.tsv --qrels /tmp/synth/qrels.txt \
        --run /tmp/synth/run.txt
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def _words(rng: random.Random) -> tuple[list[str], list[str]]:
    from wordfreq import top_n_list

    common = [w for w in top_n_list("en", 3000) if w.isalpha() and len(w) > 2]
    rare = [w for w in top_n_list("en", 60000)[20000:] if w.isalpha() and len(w) > 5]
    rng.shuffle(rare)
    return common, rare


def _paragraph(rng: random.Random, common: list[str], markers: list[str]) -> str:
    sentences = []
    for _ in range(rng.randint(3, 6)):
        words = rng.choices(common, k=rng.randint(8, 18))
        if markers and rng.random() < 0.4:
            words.insert(rng.randrange(len(words)), rng.choice(markers))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--paragraphs", type=int, default=12, help="paragraphs per document")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    common, rare = _words(rng)
    if len(rare) < args.documents * 3:
        raise SystemExit(f"at most {len(rare) // 3} documents: not enough distinct marker words")
    args.out.mkdir(parents=True, exist_ok=True)
    markers = [rare[3 * i:3 * i + 3] for i in range(args.documents)]
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(args.documents):
            paragraphs = [f"Section {j + 1}\n\n" + _paragraph(rng, common, markers[i]) for j in range(args.paragraphs)]
            record = {"id": f"doc{i:05d}", "title": f"Synthetic document {i}", "publisher": "synthetic",
                      "url": "", "text": "\n\n".join(paragraphs)}
            handle.write(json.dumps(record) + "\n")
    with (args.out / "topics.tsv").open("w", encoding="utf-8") as topics, \
            (args.out / "qrels.txt").open("w", encoding="utf-8") as qrels:
        for q in range(args.queries):
            target = rng.randrange(args.documents)
            other = (target + 1 + rng.randrange(args.documents - 1)) % args.documents
            words = markers[target][:2] + [markers[other][0]] + rng.choices(common, k=3)
            rng.shuffle(words)
            topics.write(f"q{q:05d}\t{' '.join(words)}\n")
            qrels.write(f"q{q:05d} 0 doc{target:05d} 2\nq{q:05d} 0 doc{other:05d} 1\n")
    print(f"wrote {args.documents} documents and {args.queries} queries to {args.out}")


if __name__ == "__main__":
    main()
