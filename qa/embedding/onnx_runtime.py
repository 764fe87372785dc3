"""The sentence encoder on ONNX Runtime and the tokenizers package alone: no torch at serve time."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from qa.errors import ModelError

EXPORT_VERSION = 2  # bump when the exported graph or its check changes: old exports are then ignored
MIN_COSINE = 0.9999  # every check text must match the torch vector at least this closely
# Padded tokens per session run: on 2 Sapphire Rapids cores, 256 to 512 encoded short questions 1.7 to 1.9 times
# faster than batches of 64 (scripts/bench_encoder.py): a run's activations then stay in the core's L2 cache.
TOKENS_PER_RUN = 256
# How long an idle ONNX Runtime pool thread spins before it sleeps. A query runs about 50 graph nodes one after
# another; a thread that sleeps between them pays a wake-up at each. 20 us catches the next node and stops soon
# after the run, so no idle thread holds a core that another request or worker needs. On 2 cores it cut a short
# query's encode from 3.11 to 2.58 ms p50 and its CPU time from 5.56 to 5.03 ms; ONNX Runtime's default spin
# took 5.74 ms of CPU (README, "The ONNX encoder").
SPIN_MICROSECONDS = 20  # the default of QA_ENCODER_SPIN_US (qa.settings reads it here)
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "export.json"
# Files whose content defines the model's vectors; a change makes a new cache entry.
_FINGERPRINTED = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                  "model.safetensors", "pytorch_model.bin", "modules.json", "sentence_bert_config.json",
                  "1_Pooling/config.json")


def default_cache_root() -> Path:
    """Where exports live unless QA_ONNX_CACHE says otherwise: the user's cache, shared by every index."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa" / "onnx"


def model_fingerprint(model_dir: str | Path, cache_root: str | Path | None = None) -> str:
    """sha256 over the model's defining files (names and contents) and the export version.

    Hashing 90 MB costs about 0.2 s, so the result is remembered in the cache under a key of the files'
    paths, sizes and modification times (as make decides staleness); any change to a file rehashes it.
    """
    files = [(name, Path(model_dir) / name) for name in _FINGERPRINTED if (Path(model_dir) / name).is_file()]
    stat_key = hashlib.sha256(repr([EXPORT_VERSION] + [(str(path.resolve()), path.stat().st_size,
                                                        path.stat().st_mtime_ns) for _, path in files]
                                   ).encode()).hexdigest()[:32]
    memo = Path(cache_root or default_cache_root()) / ".fingerprints" / stat_key
    try:
        remembered = memo.read_text(encoding="ascii").strip()
        if re.fullmatch(r"[0-9a-f]{64}", remembered):
            return remembered
    except OSError:
        pass
    digest = hashlib.sha256(f"qa-onnx-export-{EXPORT_VERSION}".encode())
    for name, path in files:
        digest.update(name.encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        temporary = memo.with_name(f".{memo.name}.{os.getpid()}")
        temporary.write_text(digest.hexdigest(), encoding="ascii")
        os.replace(temporary, memo)
    except OSError:  # a read-only cache still works, only slower
        pass
    return digest.hexdigest()


def export_dir(model_name: str, model_dir: str | Path, cache_root: str | Path | None = None) -> Path:
    """The cache entry for this model: ``ROOT/<model name>-<fingerprint prefix>``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")[-60:]
    root = Path(cache_root or default_cache_root())
    return root / f"{slug}-{model_fingerprint(model_dir, root)[:16]}"


def read_export(directory: Path) -> dict | None:
    """The export's record (``passed`` says whether it matched torch), or None when there is none yet."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("export_version") != EXPORT_VERSION:
        return None
    if meta.get("passed") and not ((directory / MODEL_FILE).is_file() and (directory / TOKENIZER_FILE).is_file()):
        return None
    return meta


def default_threads(workers: int = 1) -> int:
    """Intra-op threads per worker: the cores shared out between the workers, at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def session_options(threads: int, spin_us: int | None):
    """ONNX Runtime's options for the encoder: ``threads`` intra-op threads, full graph optimisation, and pool threads
    that spin ``spin_us`` microseconds before they sleep (0: sleep at once; None: ONNX Runtime's own spin)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0" if spin_us == 0 else "1")
    if spin_us:
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
    return options


class OnnxEncoder:
    """Mean-pooled, L2-normalised sentence vectors from an export checked against sentence-transformers."""

    def __init__(self, name: str, directory: str | Path, threads: int | None = None,
                 spin_us: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.spin_us = SPIN_MICROSECONDS if spin_us is None else int(spin_us)
        if self.spin_us < 0:
            raise ModelError(f"QA_ENCODER_SPIN_US must be 0 or more microseconds, not {self.spin_us}")
        directory = Path(directory)
        meta = read_export(directory)
        if not meta or not meta.get("passed"):
            raise ModelError(f"no checked ONNX export in {directory}")
        self.name = name
        self.dim = int(meta["dim"])
        self.max_seq_length = int(meta["max_seq_length"])
        self.directory = directory
        self.threads = threads or default_threads()
        self._tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self._tokenizer.no_padding()  # padded per batch below, to the batch's longest text
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        self._pad_id = int(meta["pad_id"])
        try:
            self._session = onnxruntime.InferenceSession(str(directory / MODEL_FILE),
                                                         session_options(self.threads, self.spin_us),
                                                         providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a broken file
            raise ModelError(f"could not load the ONNX export {directory / MODEL_FILE}: {exc}") from None

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        unique = list(dict.fromkeys(texts))  # a repeated text is encoded once
        encodings = self._tokenizer.encode_batch(unique)
        runs = token_runs([len(e.ids) for e in encodings], batch_size, TOKENS_PER_RUN)
        if progress:
            from tqdm import tqdm

            runs = tqdm(runs, desc="embedding", unit="batch")
        found = np.zeros((len(unique), self.dim), dtype=np.float32)
        for rows in runs:
            found[rows] = self._run([encodings[i] for i in rows])
        position = {text: row for row, text in enumerate(unique)}
        vectors[:] = found[[position[text] for text in texts]]
        return vectors

    def _run(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def token_runs(lengths: list[int], batch_size: int, tokens_per_run: int) -> list[list[int]]:
    """Row groups for one session run each: texts sorted by token count, so each run pads little, and each run
    at most ``batch_size`` rows and, beyond its first row, ``tokens_per_run`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    runs: list[list[int]] = []
    for row in order:
        if runs and len(runs[-1]) < max(1, batch_size) and (len(runs[-1]) + 1) * lengths[row] <= tokens_per_run:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs
