"""sentence-transformers on torch: the build's encoder (it gives token vectors for late chunking) and a query
encoder when ONNX Runtime cannot be had."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qa.embedding.base import DEFAULT_MODEL, Span, canonical_model_name, pool_spans, resolve_model_path
from qa.errors import ModelError


class SentenceTransformerEncoder:
    """sentence-transformers on torch (CPU, or a CUDA GPU for large builds), strictly offline."""

    def __init__(self, spec: str = DEFAULT_MODEL, threads: int = 0, device: str = "cpu") -> None:
        if threads:  # OpenMP reads this once, when torch loads
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.name = canonical_model_name(spec)
        path = resolve_model_path(spec)
        if not Path(path).exists() and "/" not in path:
            raise ModelError(f"model {spec!r} is neither a directory nor a model name")
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ModelError("--device cuda was asked for, but torch sees no CUDA GPU here")
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            if threads:
                torch.set_num_threads(threads)
            self._model = SentenceTransformer(path, device=device)
        except Exception as exc:  # the library raises many types for a missing or broken model
            raise ModelError(f"could not load model {spec!r} offline: {type(exc).__name__}: {exc}") from None
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim())

    def encode_spans(self, texts: list[str], spans: list[list[Span]], batch_size: int = 32,
                     progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward pass per text gives its mean-pooled vector (as ``encode``) and its spans' vectors.

        Spans cut off by the length limit are embedded on their own, with the text before the first span as
        context, so that every span gets a vector.
        """
        import torch
        from tqdm import tqdm

        tokenizer, model = self._model.tokenizer, self._transformer()
        limit = self._model.max_seq_length
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad least
        retry: list[tuple[int, int, str]] = []
        with torch.inference_mode(), tqdm(total=len(texts), disable=not progress, unit="text") as bar:
            for first in range(0, len(order), batch_size):
                batch = order[first:first + batch_size]
                encoded = tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=limit,
                                    return_offsets_mapping=True, return_tensors="pt")
                offsets = encoded.pop("offset_mapping").numpy()
                mask = encoded["attention_mask"]
                tokens = model(**encoded).last_hidden_state
                pooled = (tokens * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
                pooled = torch.nn.functional.normalize(pooled, dim=1).numpy()
                tokens = tokens.numpy()
                for j, i in enumerate(batch):
                    vectors[i] = pooled[j]
                    if spans[i]:
                        length = int(mask[j].sum())
                        span_vectors[i], missing = pool_spans(offsets[j, :length], tokens[j, :length], spans[i])
                        context = texts[i][:spans[i][0][0]]
                        retry += [(i, k, context + texts[i][slice(*spans[i][k])]) for k in missing]
                bar.update(len(batch))
        if retry:
            extra = self.encode([text for _, _, text in retry], batch_size=batch_size)
            for (i, k, _), vector in zip(retry, extra):
                span_vectors[i][k] = vector
        return vectors, span_vectors

    def _transformer(self):
        module = self._model[0]
        return getattr(module, "auto_model", None) or module.model

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
