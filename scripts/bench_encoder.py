"""Compare query-encoder variants (ONNX Runtime options, int8, bf16) for speed and for quality against torch fp32.

Run from the repository root (it builds ./index first when that is missing or stale):

    python scripts/bench_encoder.py [--rounds 3] [--only onnx-fp32-t1,torch-bf16-t2] [--no-dev-sample]

For each variant it measures, on the short questions of eval/*.jsonl (deduplicated):
- single-query latency p50, one question at a time;
- encode-only throughput at batch sizes 16 and 64 (questions sorted by length, as the encoders do);
- the batch path end to end: `qa.evaluate.run_queries` over the same questions;
- the lowest and mean cosine to the torch fp32 vectors of sentence-transformers;
- top-5 agreement with the torch reference on the labelled guide set, the guide metrics that drop, and RR@10 on
  the development sample (eval/medquad-sample, built once with the reference encoder into --dev-index).
Speed figures are medians over --rounds rounds, the variants taking turns in each round, so that the other jobs
on a shared machine weigh on all of them alike. Prints JSON, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from bench import LABELLED, ensure_index

DEV_SAMPLE = ROOT / "eval" / "medquad-sample"


# The 879 distinct short questions every figure in the README's table was measured on. Named, not globbed: the
# urgent-notice sets added to eval/ since (10,491 questions in all) would change the benchmark and take 12x longer.
QUESTION_FILES = ("guide_questions.jsonl", "urgent_questions.jsonl", "urgent_questions_b.jsonl")


def questions() -> list[str]:
    texts = [json.loads(line)["query"] for name in QUESTION_FILES
             for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(dict.fromkeys(texts))


def int8_model(source: Path, target: Path, exclude) -> Path:
    """Dynamic int8 (per-channel weights, u8 activations) of the fused graph's MatMuls, less the excluded ones."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [n.name for n in onnx.load(str(source), load_external_data=False).graph.node
             if n.op_type in ("MatMul", "Attention")]
    quantize_dynamic(str(source), str(target), per_channel=True, reduce_range=False, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=[n for n in nodes if exclude(n)],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # the fused ops lack shapes
    return target


def layer(name: str) -> int | None:
    """The encoder layer of a node of the fused graph (Attention_3 or /transformer/encoder/layer.3/...)."""
    if name.startswith("Attention_"):
        return int(name.rsplit("_", 1)[1])
    if "/layer." in name:
        return int(name.split("/layer.")[1].split("/")[0])
    return None


def ffn(name: str) -> bool:
    return "/intermediate/" in name or "/output/dense" in name and "/attention/" not in name


INT8 = {  # variant: which MatMul / Attention nodes stay in float32
    "int8-all": lambda n: False,
    "int8-ffn": lambda n: not ffn(n),
    "int8-ffn-l1-4": lambda n: not ffn(n) or layer(n) in (0, 5),
    "int8-ffn-up": lambda n: "/intermediate/" not in n,
}


class OrtVariant:
    """The checked export's encoder with another graph or other session options."""

    def __init__(self, export: Path, model: Path, threads: int, work: Path, name: str, **options) -> None:
        import shutil

        import onnxruntime

        from qa.embedding.onnx_runtime import SPIN_MICROSECONDS, OnnxEncoder, session_options

        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        for file in ("export.json", "tokenizer.json"):
            shutil.copyfile(export / file, folder / file)
        if not (folder / "model.onnx").exists():
            os.symlink(model, folder / "model.onnx")
        self.inner = OnnxEncoder("bench", folder, threads=threads)
        if options:
            # The service's options (qa.onnx_encoder.session_options), with this variant's changes.
            session = session_options(threads, options.get("spin_us", SPIN_MICROSECONDS))
            session.inter_op_num_threads = options.get("inter", 1)
            session.graph_optimization_level = options.get("level", onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL)
            if options.get("parallel"):
                session.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
            self.inner._session = onnxruntime.InferenceSession(str(folder / "model.onnx"), session,
                                                               providers=["CPUExecutionProvider"])
        self.name, self.dim = self.inner.name, self.inner.dim

    def encode(self, texts, batch_size=64, progress=False):
        return self.inner.encode(texts, batch_size=batch_size)


class TorchVariant:
    """The transformer on torch with mean pooling, in fp32 or under bf16 autocast (AMX through oneDNN)."""

    def __init__(self, model_dir: str, threads: int, bf16: bool, ffn_only: bool = False) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        self.torch, self.threads, self.bf16, self.name, self.dim = torch, threads, bf16, "bench", 384
        self.model = AutoModel.from_pretrained(model_dir).eval()
        if ffn_only:  # only the feed-forward Linears in bf16 (two thirds of the FLOPs); attention stays fp32
            for block in self.model.encoder.layer:
                block.intermediate.dense = _Bf16Linear(block.intermediate.dense)
                block.output.dense = _Bf16Linear(block.output.dense)
            self.bf16 = False
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=256)

    def encode(self, texts, batch_size=64, progress=False):
        torch = self.torch
        torch.set_num_threads(self.threads)
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
            width = max(len(e.ids) for e in encodings)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, encoding in enumerate(encodings):
                ids[row, :len(encoding.ids)] = torch.tensor(encoding.ids)
                mask[row, :len(encoding.ids)] = 1
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                tokens = self.model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))[0]
            weights = mask.unsqueeze(-1).float()
            pooled = (tokens.float() * weights).sum(1) / weights.sum(1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return out


def _Bf16Linear(linear):
    import torch

    class Bf16Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
            self.bias = torch.nn.Parameter(linear.bias.detach().to(torch.bfloat16), requires_grad=False)

        def forward(self, x):
            return torch.nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias).float()

    return Bf16Linear()


def variants(export: Path, model_dir: str, work: Path, only: set[str]) -> dict:
    import onnxruntime

    plain = work / "plain.onnx"
    builders = {
        "onnx-fp32-t1": lambda: OrtVariant(export, export / "model.onnx", 1, work, "fp32-t1"),
        "onnx-fp32-t2": lambda: OrtVariant(export, export / "model.onnx", 2, work, "fp32-t2"),
        "onnx-fp32-t2-nospin": lambda: OrtVariant(export, export / "model.onnx", 2, work, "fp32-t2-nospin", spin_us=0),
        "onnx-fp32-t2-ortspin": lambda: OrtVariant(export, export / "model.onnx", 2, work, "fp32-t2-ortspin",
                                                   spin_us=None),
        "onnx-fp32-t2-parallel": lambda: OrtVariant(export, export / "model.onnx", 2, work, "fp32-t2-par",
                                                    parallel=True, inter=2),
        "onnx-fp32-t2-basic": lambda: OrtVariant(export, export / "model.onnx", 2, work, "fp32-t2-basic",
                                                 level=onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC),
        "onnx-fp32-unfused-t2": lambda: OrtVariant(export, plain_graph(model_dir, plain), 2, work, "unfused-t2"),
        **{f"onnx-{name}-t2": (lambda name=name, rule=rule: OrtVariant(
            export, int8_model(export / "model.onnx", work / f"{name}.onnx", rule), 2, work, name))
           for name, rule in INT8.items()},
        "torch-fp32-t2": lambda: TorchVariant(model_dir, 2, bf16=False),
        "torch-bf16-t1": lambda: TorchVariant(model_dir, 1, bf16=True),
        "torch-bf16-t2": lambda: TorchVariant(model_dir, 2, bf16=True),
        "torch-bf16-ffn-t2": lambda: TorchVariant(model_dir, 2, bf16=True, ffn_only=True),
    }
    return {name: build() for name, build in builders.items() if not only or name in only}


def plain_graph(model_dir: str, path: Path) -> Path:
    from qa.embedding.onnx_export import _eager, _torch_export

    if not path.exists():
        _torch_export(_eager(Path(model_dir), None), path)
    return path


def guide_run(settings: dict, encoder) -> tuple:
    from qa.evaluation import load_queries, run_queries
    from qa.wiring import open_searcher

    queries = load_queries(LABELLED)
    return queries, run_queries(open_searcher(settings, encoder=encoder), queries)


def agreement(settings: dict, encoder, reference_run: tuple) -> dict:
    """Top-5 agreement with the reference encoder's rankings on the labelled set, and the guide metrics that drop
    (as scripts/bench.py judges the served encoder)."""
    from qa.evaluation import gold_metrics

    queries, theirs = reference_run
    mine = guide_run(settings, encoder)[1]
    overlap = [len(set(a.passage_ids[:5]) & set(b.passage_ids[:5])) / max(1, min(5, len(b.passage_ids)))
               for a, b in zip(mine, theirs)]
    served, reference = gold_metrics(queries, mine), gold_metrics(queries, theirs)
    lower_is_better = {"wrong_answer_rate", "in_scope_abstention"}
    drops = {name: served[name] - value for name, value in reference.items()
             if isinstance(value, float) and (served[name] - value) * (-1 if name in lower_is_better else 1) < -1e-9}
    return {"top5_agreement": sum(overlap) / len(overlap),
            "top5_identical": sum(a.passage_ids[:5] == b.passage_ids[:5] for a, b in zip(mine, theirs)) / len(mine),
            "metric_drops": drops, "metrics": served}


def dev_sample_rr(encoder, index_dir: Path) -> float:
    from qa import evaluation as ev
    from qa.settings import load_settings
    from qa.wiring import open_searcher

    searcher = open_searcher(load_settings({"INDEX_DIR": str(index_dir)}), encoder=encoder)
    queries = ev.load_queries(DEV_SAMPLE / "queries.tsv")
    qrels = ev.load_qrels(DEV_SAMPLE / "qrels.txt", {q.qid for q in queries})
    return ev.ir_metrics(qrels, ev.document_level(ev.run_queries(searcher, queries)), ["RR@10"])["RR@10"]


def speed(encoder, searcher, texts: list[str]) -> dict:
    from qa.evaluation import LabelledQuery, run_queries

    single = []
    for text in texts[:200]:
        started = time.perf_counter()
        encoder.encode([text])
        single.append((time.perf_counter() - started) * 1000)
    figures = {"single_p50_ms": statistics.median(single)}
    for size in (16, 64):
        started = time.perf_counter()
        encoder.encode(texts, batch_size=size)
        figures[f"encode_bs{size}_qps"] = len(texts) / (time.perf_counter() - started)
    queries = [LabelledQuery(str(i), q) for i, q in enumerate(texts)]
    searcher.encoder = encoder
    started = time.perf_counter()
    run_queries(searcher, queries)
    figures["run_queries_qps"] = len(texts) / (time.perf_counter() - started)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="index")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--dev-index", default=str(Path(tempfile.gettempdir()) / "qa-bench-dev-sample-index"))
    parser.add_argument("--no-dev-sample", action="store_true")
    args = parser.parse_args()

    from qa.embedding import SentenceTransformerEncoder, checked_export, resolve_model_path
    from qa.index.build import build_index
    from qa.settings import load_settings
    from qa.wiring import open_searcher

    ensure_index(args.index, args.corpus)
    settings = load_settings({"INDEX_DIR": args.index, "CORPUS": args.corpus})
    model_dir = resolve_model_path(settings["MODEL"])
    export = checked_export(settings["MODEL"], required=True)
    reference = SentenceTransformerEncoder(settings["MODEL"])
    texts = questions()
    expected = reference.encode(texts, batch_size=64)
    reference_run = guide_run(settings, reference)
    dev_index = Path(args.dev_index)
    if not args.no_dev_sample and not (dev_index / "current").exists():
        build_index(DEV_SAMPLE / "corpus.jsonl", dev_index, reference)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-encoder-"))
    chosen = variants(export, model_dir, work, {n for n in args.only.split(",") if n})
    results: dict[str, dict] = {}
    for name, encoder in chosen.items():
        vectors = encoder.encode(texts, batch_size=64)
        cosine = (vectors * expected).sum(axis=1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(expected, axis=1)
        judged = agreement(settings, encoder, reference_run)
        results[name] = {"cos_min": float(cosine.min()), "cos_mean": float(cosine.mean()),
                         "top5_agreement": judged["top5_agreement"], "top5_identical": judged["top5_identical"],
                         "metric_drops": judged["metric_drops"],
                         "dev_rr10": None if args.no_dev_sample else dev_sample_rr(encoder, dev_index)}
        print(name, json.dumps(results[name]), file=sys.stderr)
    reference_rr = None if args.no_dev_sample else dev_sample_rr(reference, dev_index)
    searcher = open_searcher(settings)
    rounds: dict[str, list[dict]] = {name: [] for name in chosen}
    for _ in range(args.rounds):
        for name, encoder in chosen.items():
            encoder.encode(texts[:64], batch_size=16)  # warm-up: shapes seen once
            rounds[name].append(speed(encoder, searcher, texts))
    for name, runs in rounds.items():
        results[name].update({key: statistics.median(r[key] for r in runs) for key in runs[0]})
    summary = {"questions": len(texts), "reference_dev_rr10": reference_rr, "rounds": args.rounds,
               "machine": f"{os.cpu_count()} cores; load average at end {os.getloadavg()[0]:.2f}",
               "variants": results}
    print(json.dumps(summary, indent=2))
    print(table(summary))
    return 0


def table(summary: dict) -> str:
    lines = [f"{summary['questions']} questions; medians of {summary['rounds']} rounds; {summary['machine']}; "
             f"dev sample RR@10 with the torch reference: {summary['reference_dev_rr10']}", "",
             "| variant | single p50 ms | encode q/s (bs 16) | encode q/s (bs 64) | run_queries q/s | cosine min | "
             "top-5 agreement | guide metrics dropped | dev RR@10 |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for name, r in summary["variants"].items():
        drops = ", ".join(f"{k} {v:+.3f}" for k, v in r["metric_drops"].items()) or "none"
        rr = "" if r["dev_rr10"] is None else f"{r['dev_rr10']:.4f}"
        lines.append(f"| {name} | {r['single_p50_ms']:.2f} | {r['encode_bs16_qps']:.0f} | {r['encode_bs64_qps']:.0f} "
                     f"| {r['run_queries_qps']:.0f} | {r['cos_min']:.5f} | {r['top5_agreement']:.3f} | {drops} | "
                     f"{rr} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
