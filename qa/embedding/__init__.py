"""Text to vectors: the ``Encoder`` interface, sentence-transformers, ONNX Runtime with its checked export, and a
hashing fake for tests."""

from qa.embedding.base import DEFAULT_MODEL, HASH_PREFIX, Encoder, canonical_model_name, resolve_model_path
from qa.embedding.fake import HashingEncoder
from qa.embedding.loading import BACKENDS, DEVICES, LazyEncoder, checked_export, load_encoder
from qa.embedding.transformer import SentenceTransformerEncoder

__all__ = ["BACKENDS", "DEFAULT_MODEL", "DEVICES", "HASH_PREFIX", "Encoder", "HashingEncoder", "LazyEncoder",
           "SentenceTransformerEncoder", "canonical_model_name", "checked_export", "load_encoder",
           "resolve_model_path"]
