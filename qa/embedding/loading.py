"""Choosing and loading an encoder: ONNX Runtime when its checked export matches torch, else sentence-transformers;
``hash:DIM`` for tests. Heavy libraries load only when a model is used."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from qa.embedding.base import DEFAULT_MODEL, HASH_PREFIX, Encoder, Span, canonical_model_name, resolve_model_path
from qa.embedding.fake import HashingEncoder
from qa.embedding.transformer import SentenceTransformerEncoder
from qa.errors import ModelError

BACKENDS = ("auto", "onnx", "torch")
DEVICES = ("cpu", "cuda")


def load_encoder(spec: str = DEFAULT_MODEL, backend: str | None = None, threads: int = 0, device: str = "cpu",
                 onnx_cache: str | None = None, spin_us: int | None = None) -> Encoder:
    """Build the encoder named by ``spec``: a model directory, a cached model name, or ``hash:DIM`` for tests.

    ``backend`` "onnx" runs a checked ONNX export (made once, with torch, into ``onnx_cache``) on ONNX Runtime;
    "torch" runs sentence-transformers; "auto" (the default) takes ONNX when its
    export matches the torch vectors, else torch. ``device`` "cuda" means torch on the GPU. ``threads`` 0
    means every core this process may use (``serve`` passes each worker its share). ``spin_us`` is how long
    an idle ONNX Runtime pool thread spins (None: the encoder's default).
    """
    if spec.startswith(HASH_PREFIX):
        return HashingEncoder(int(spec[len(HASH_PREFIX):] or 256))
    backend = (backend or "auto").strip().lower()
    if backend not in BACKENDS:
        raise ModelError(f"encoder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if device not in DEVICES:
        raise ModelError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if not threads:
        from qa.embedding.onnx_runtime import default_threads

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
        from qa.embedding.onnx_runtime import OnnxEncoder
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
    from qa.embedding.onnx_runtime import export_dir, read_export

    name = canonical_model_name(spec)
    try:
        path = resolve_model_path(spec)
        if not Path(path).is_dir():
            raise ModelError(f"the ONNX backend needs a local model directory, and {spec!r} is not one")
        directory = export_dir(name, path, cache or None)
        meta = read_export(directory)
        if meta is None:
            from qa.embedding.onnx_export import ensure_export

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
