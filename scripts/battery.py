"""The development battery: every set's index built or reused, and one table of set x system.

    python scripts/battery.py [--sets guide,mediqa-val,...] [--index-root index/battery] [--json] [--no-plain]

Systems, all on the same build of each set:
- plain: one MiniLM vector per document (per passage for the guide), FAISS, nothing else;
- bm25, dense: the service's own single lists (`{"fusion": "lexical"}` and `"dense"`);
- convex 0.5: the previous default (a fixed weight of 0.5);
- default: the current uncalibrated default (adaptive fusion), what a new corpus gets;
- calibrated: the guide as served (corpus/retrieval.json and its example questions, scored out of sample); on the
  other sets, the mean RR@10 of each half of the questions at the weight calibrated on the other half;
- CHiQA: on the MEDIQA sets, CHiQA's own order of its own candidates.
RR@10 and nDCG@10 for every set (MEDIQA: relevant from grade 2, as MEDIQA counts); "pool" rows score each system's
order of CHiQA's candidates only (as ../shared/tools/pool_rerank.py does); the guide rows add hit@1, answer_hit@1,
coverage and out-of-scope abstention. The sets live in ../shared/dev-corpora beside the checkout (never copied into
the repository); the synthetic corpus is generated into the index root.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench import ensure_index  # noqa: E402  (after the environment the model reads)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "dev-corpora"
NO_FILE = "/nonexistent/none"  # a corpus file setting that names nothing: no examples, no calibration


@dataclass(frozen=True)
class Set:
    corpus: Path
    queries: tuple[Path, ...]
    qrels: Path | None = None
    relevance: int = 1
    chiqa: Path | None = None  # CHiQA's own run, on the MEDIQA sets
    guide: bool = False
    index: str = ""  # sets that share a corpus share its index


def battery_sets(held_out: bool = False) -> dict[str, Set]:
    guide = ROOT / "corpus"
    sets = {
        "guide": Set(guide, (ROOT / "eval" / "guide_questions.jsonl",), guide=True, index="guide"),
        "guide-blind (B-E)": Set(guide, tuple(ROOT / "eval" / f"guide_questions_{x}.jsonl" for x in "bcde"),
                                 guide=True, index="guide"),
        "medquad-nih": Set(SHARED / "medquad-nih" / "corpus.jsonl", (SHARED / "medquad-nih" / "queries.tsv",),
                           SHARED / "medquad-nih" / "qrels.txt"),
        "medquad-nih, no titles": Set(SHARED / "medquad-nih" / "corpus_notitle.jsonl",
                                      (SHARED / "medquad-nih" / "queries.tsv",), SHARED / "medquad-nih" / "qrels.txt"),
        **{name: Set(SHARED / name / "corpus.jsonl", (SHARED / name / "queries.tsv",), SHARED / name / "qrels.txt",
                     2, SHARED / name / "chiqa.run") for name in ("mediqa-val", "mediqa-alexa")},
        "synthetic": Set(Path("synthetic-corpus") / "corpus.jsonl", (Path("synthetic-corpus") / "topics.tsv",),
                         Path("synthetic-corpus") / "qrels.txt"),
    }
    if held_out:  # the blind set kept out of every choice; scored only when asked
        sets["guide-held-out (A)"] = Set(guide, (ROOT / "eval" / "guide_questions_a.jsonl",), guide=True,
                                         index="guide")
    return sets


def resolve(spec: Set, root: Path) -> Set:
    """Paths of the generated synthetic corpus live in the index root."""
    def place(path):
        return path if path is None or path.is_absolute() else root / path

    return replace(spec, corpus=place(spec.corpus), queries=tuple(place(q) for q in spec.queries),
                   qrels=place(spec.qrels))


def ensure_synthetic(root: Path) -> None:
    target = root / "synthetic-corpus"
    if not (target / "corpus.jsonl").is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_synthetic_corpus.py"), "--documents", "300",
                        "--queries", "300", "--paragraphs", "8", "--out", str(target)], check=True)


def open_set(spec: Set, directory: Path, calibrated: bool):
    from qa.settings import load_settings
    from qa.wiring import open_searcher

    overrides = {"INDEX_DIR": str(directory), "CORPUS": str(spec.corpus)}
    if not calibrated:
        overrides.update({"RETRIEVAL_FILE": NO_FILE, "EXAMPLES_FILE": NO_FILE})
    return open_searcher(load_settings(overrides))


@dataclass
class Row:
    name: str
    figures: dict[str, dict[str, float | None]] = field(default_factory=dict)  # metric -> system -> value


def score_set(name: str, spec: Set, directory: Path, plain: bool) -> Row:
    from qa import evaluation as ev
    from qa.evaluation import calibration
    from qa.evaluation.baselines import plain_ranking
    from qa.evaluation.metrics import pooled, standard_measures
    from qa.evaluation.runs import Evaluation
    from qa.search.retrieval import RetrievalSettings

    queries = [q for path in spec.queries for q in ev.load_queries(path)]
    qrels = ev.load_qrels(spec.qrels, {q.qid for q in queries}) if spec.qrels else None
    rr, ndcg = standard_measures(spec.relevance)[:2]
    row = Row(name)

    def put(system: str, metrics: dict) -> None:
        for metric, value in metrics.items():
            row.figures.setdefault(metric, {})[system] = value

    def from_evaluation(system: str, evaluation: Evaluation) -> None:
        metrics = evaluation.metrics()
        put(system, {"RR@10": metrics[rr], "nDCG@10": metrics[ndcg]})
        if spec.chiqa is not None:
            pool = ev.ir_metrics(qrels, pooled(evaluation.ranking(), qrels), (rr, ndcg))
            put(system, {"pool RR@10": pool[rr], "pool nDCG@10": pool[ndcg]})
        if spec.guide:
            put(system, {name: metrics.get(name) for name in ("hit@1", "hit@3", "answer_hit@1", "coverage",
                                                              "oos_abstention")})

    searcher = open_set(spec, directory, calibrated=False)
    for system, settings in (("bm25", RetrievalSettings(fusion="lexical")),
                             ("dense", RetrievalSettings(fusion="dense")),
                             ("convex 0.5", RetrievalSettings(fusion="convex", dense_weight=0.5)),
                             ("default", RetrievalSettings())):
        searcher.settings = settings
        from_evaluation(system, Evaluation(searcher, queries, qrels, relevance=spec.relevance))
    if spec.guide:
        from_evaluation("calibrated", Evaluation(open_set(spec, directory, calibrated=True), queries, qrels))
    else:
        searcher.settings = RetrievalSettings()
        labelled, curve = calibration.weight_curve(searcher, queries, qrels, relevance=spec.relevance)
        folds = calibration.held_out_weights(curve, RetrievalSettings().dense_weight)
        put("calibrated", {"RR@10": sum(fold["rr@10"] for fold in folds) / len(folds)})
    if plain:
        ranking, plain_qrels = plain_ranking(spec.corpus, queries, qrels)
        metrics = ev.ir_metrics(plain_qrels, ranking, (rr, ndcg))
        put("plain", {"RR@10": metrics[rr], "nDCG@10": metrics[ndcg]})
    if spec.chiqa is not None:
        import ir_measures

        run = {}
        for entry in ir_measures.read_trec_run(str(spec.chiqa)):
            run.setdefault(entry.query_id, []).append((entry.doc_id, float(entry.score)))
        chiqa = ev.ir_metrics(qrels, pooled({q: sorted(d, key=lambda x: -x[1]) for q, d in run.items()}, qrels),
                              (rr, ndcg))
        put("CHiQA", {"pool RR@10": chiqa[rr], "pool nDCG@10": chiqa[ndcg]})
    return row


SYSTEMS = ("plain", "bm25", "dense", "convex 0.5", "default", "calibrated", "CHiQA")


def table(rows: list[Row]) -> str:
    lines = ["| set | metric | " + " | ".join(SYSTEMS) + " |", "|---|---|" + "---:|" * len(SYSTEMS)]
    for row in rows:
        for metric, values in row.figures.items():
            cells = [f"{values[s]:.3f}" if isinstance(values.get(s), float) else "–" for s in SYSTEMS]
            best = max((v for k, v in values.items() if k in ("bm25", "dense") and isinstance(v, float)),
                       default=None)
            if best is not None and isinstance(values.get("default"), float) and metric.endswith("RR@10"):
                cells[SYSTEMS.index("default")] += f" ({values['default'] - best:+.3f})"
            lines.append(f"| {row.name} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", help="comma-separated set names (default: all)")
    parser.add_argument("--index-root", default=str(ROOT / "index" / "battery"))
    parser.add_argument("--held-out", action="store_true", help="also score the guide's held-out blind set A")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain baseline (it encodes every document)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sets = battery_sets(args.held_out)
    chosen = [s.strip() for s in args.sets.split(",")] if args.sets else list(sets)
    unknown = [name for name in chosen if name not in sets]
    if unknown:
        parser.error(f"unknown set {unknown[0]!r}; the sets are: {', '.join(sets)}")
    if not SHARED.is_dir():
        parser.error(f"the development battery is not at {SHARED}")
    root = Path(args.index_root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in chosen:
        spec = sets[name]
        if name == "synthetic":
            ensure_synthetic(root)
        spec = resolve(spec, root)
        directory = root / (spec.index or name.replace(",", "").replace(" ", "-"))
        ensure_index(str(directory), str(spec.corpus), quiet=False)  # with the model open_set loads
        rows.append(score_set(name, spec, directory, plain=not args.no_plain))
        print(f"scored {name}", file=sys.stderr)
    if args.json:
        print(json.dumps({row.name: row.figures for row in rows}, indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
