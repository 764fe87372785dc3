"""Exporting a sentence-transformers model to ONNX with torch.onnx, checked against the torch vectors."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from qa.embedding.onnx_runtime import (
    EXPORT_VERSION,
    META_FILE,
    MIN_COSINE,
    MODEL_FILE,
    TOKENIZER_FILE,
    OnnxEncoder,
    export_dir,
    read_export,
)

_WORDS = ("the child may have a fever after chemotherapy and her doctor checks blood counts often; "
          "relapsed acute lymphoblastic leukemia, intrathecal methotrexate, petechiae, CAR T-cell therapy, "
          "hematopoietic stem cell transplant (HSCT), minimal residual disease 0.01% — what's next?").split()


def check_texts() -> list[str]:
    """Texts of about 1 to 400 tokens (past the 256-token cut), for comparing an export with torch."""
    rng = np.random.default_rng(11)
    texts = ["a", "MRD", "what is MRD", "red dots on her skin", "it came back after 2 years"]
    for words in (1, 2, 3, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 90, 100, 127, 128, 129,
                  150, 180, 200, 230, 250, 254, 255, 256, 257, 300, 400):
        texts.append(" ".join(rng.choice(_WORDS, size=words)))
    return texts


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def ensure_export(model_name: str, model_dir: str | Path, cache_root: str | Path | None = None,
                  log=None) -> tuple[Path, dict]:
    """The checked export of this model, made now (with torch) when the cache has none.

    Returns the cache entry and its record; ``record["passed"]`` is False when the export did not
    match the torch vectors, and then it must not be used.
    """
    directory = export_dir(model_name, model_dir, cache_root)
    meta = read_export(directory)
    if meta is not None:
        return directory, meta
    log = log or (lambda message: print(message, file=sys.stderr))
    log(f"exporting {model_name} to ONNX in {directory} (once per model)")
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory.parent))
    work.chmod(0o755)  # readable by other users of a shared cache
    try:
        meta = _export_and_check(model_name, Path(model_dir), work)
        if directory.exists() and read_export(directory) is None:  # an unfinished or outdated entry
            shutil.rmtree(directory, ignore_errors=True)
        try:
            os.replace(work, directory)
        except OSError:  # another process finished the same export first: keep theirs
            shutil.rmtree(work, ignore_errors=True)
            meta = read_export(directory) or meta
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not meta["passed"]:
        log(f"the ONNX export of {model_name} does not match torch (lowest cosine {meta['min_cosine']:.6f} "
            f"< {MIN_COSINE}); it will not be used")
    return directory, meta


def _export_and_check(model_name: str, model_dir: Path, work: Path) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir), device="cpu")
    transformer, pooling = reference[0], (reference[1] if len(reference) > 1 else None)
    modes = _pooling_mode(pooling)
    tokenizer_file = model_dir / TOKENIZER_FILE
    meta = {"export_version": EXPORT_VERSION, "model": model_name, "passed": False, "min_cosine": 0.0,
            "torch": torch.__version__, "dim": int(_dimension(reference)),
            "max_seq_length": int(reference.max_seq_length)}
    if modes != "mean" or not tokenizer_file.is_file():
        meta["reason"] = f"only mean pooling with a tokenizer.json is exported (pooling {modes!r})"
        _write_meta(work, meta)
        return meta
    shutil.copyfile(tokenizer_file, work / TOKENIZER_FILE)
    meta["pad_id"] = int(transformer.tokenizer.pad_token_id or 0)
    plain, fused = work / "plain.onnx", work / "fused.onnx"
    _torch_export(_eager(model_dir, transformer.auto_model), plain)
    texts = check_texts()
    expected = reference.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    graphs = [("fused", fused)] if _fuse(plain, fused, transformer.auto_model.config) else []
    for graph, path in [*graphs, ("plain", plain)]:  # the fused graph when it passes, else the plain one
        shutil.copyfile(path, work / MODEL_FILE)
        _write_meta(work, dict(meta, passed=True))  # provisional, so the encoder can open it for the check
        candidate = OnnxEncoder(model_name, work, threads=1)
        mixed = candidate.encode(texts, batch_size=16)  # batches of mixed lengths, padded
        single = np.vstack([candidate.encode([text]) for text in texts])  # each length alone, unpadded
        low = float(min(cosines(mixed, expected).min(), cosines(single, expected).min()))
        meta.update(passed=bool(low >= MIN_COSINE), min_cosine=low, check_texts=len(texts), graph=graph)
        if meta["passed"]:
            break
    for path in (plain, fused):
        path.unlink(missing_ok=True)
    _write_meta(work, meta)
    return meta


def _eager(model_dir: Path, loaded):
    """The transformer with plain (eager) attention, whose graph ONNX Runtime can fuse; else the loaded one."""
    try:
        from transformers import AutoModel

        return AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    except Exception:  # not a plain transformers checkpoint: export it as sentence-transformers loaded it
        return loaded.eval()


def _torch_export(transformer, path: Path) -> None:
    import torch

    model = _mean_pooled_class()(transformer)
    # Two rows, one padded: the trace sees a real attention mask, and both axes are dynamic.
    ids = torch.tensor([[101, 2054, 2003, 2026, 102, 0], [101, 2054, 2003, 2026, 2026, 102]], dtype=torch.long)
    mask = (ids != 0).long()
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on values it keeps constant; the check decides
        torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}})


def _fuse(source: Path, target: Path, config) -> bool:
    """ONNX Runtime's BERT fusions (attention, layer norms, GELU): about 15% faster on one thread."""
    if getattr(config, "model_type", "") != "bert":
        return False
    try:
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=int(config.num_attention_heads),
                                         hidden_size=int(config.hidden_size))
        fused.save_model_to_file(str(target))
        return True
    except Exception:  # an optimiser failure only costs the speed-up
        return False


def _dimension(model) -> int:
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(dimension())


def _pooling_mode(pooling) -> str:
    """The pooling as one string ("mean", "cls", "mean+max" ...), across sentence-transformers versions."""
    if pooling is None:
        return ""
    mode = pooling.get_config_dict().get("pooling_mode")
    if mode is None and getattr(pooling, "pooling_mode_mean_tokens", False):
        mode = "mean"
    return "+".join(mode) if isinstance(mode, (list, tuple)) else str(mode or "")


def _write_meta(directory: Path, meta: dict) -> None:
    (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _mean_pooled_class():
    import torch

    class MeanPooled(torch.nn.Module):
        """The transformer, then mean pooling over real tokens and L2 normalisation, as sentence-transformers."""

        def __init__(self, transformer) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=torch.zeros_like(input_ids))[0]
            weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return MeanPooled
