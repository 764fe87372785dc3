"""The ONNX Runtime encoder: export cache keys, refusing unchecked exports, and (slow) equality with torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qa.embedding import checked_export, load_encoder
from qa.embedding.onnx_runtime import (
    EXPORT_VERSION,
    META_FILE,
    MIN_COSINE,
    default_threads,
    export_dir,
    model_fingerprint,
)
from qa.errors import ModelError
from tests.support import ROOT, run_qa


@pytest.fixture()
def model_dir(tmp_path):
    """A stand-in model directory: only its files' bytes matter to the cache key."""
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"weights")
    return directory


def test_fingerprint_follows_the_model_files(model_dir, tmp_path):
    cache = tmp_path / "cache"
    first = model_fingerprint(model_dir, cache)
    assert model_fingerprint(model_dir, cache) == first  # remembered, same answer
    (model_dir / "model.safetensors").write_bytes(b"other weights")
    assert model_fingerprint(model_dir, cache) != first
    assert export_dir("org/model", model_dir, cache).parent == cache


def test_an_export_that_failed_its_check_is_never_used(model_dir, tmp_path):
    cache = tmp_path / "cache"
    entry = export_dir(str(model_dir), model_dir, cache)
    entry.mkdir(parents=True)
    (entry / META_FILE).write_text(json.dumps({"export_version": EXPORT_VERSION, "passed": False,
                                               "min_cosine": 0.85}))
    with pytest.raises(ModelError, match="does not match the torch vectors"):
        checked_export(str(model_dir), str(cache), required=True)
    assert checked_export(str(model_dir), str(cache), required=False) is None  # auto: torch instead


def test_an_export_without_its_files_is_not_trusted(model_dir, tmp_path):
    cache = tmp_path / "cache"
    entry = export_dir(str(model_dir), model_dir, cache)
    entry.mkdir(parents=True)
    (entry / META_FILE).write_text(json.dumps({"export_version": EXPORT_VERSION, "passed": True}))
    from qa.embedding.onnx_runtime import read_export

    assert read_export(entry) is None  # model.onnx and tokenizer.json are missing


def test_unknown_backend_and_device_are_refused():
    with pytest.raises(ModelError, match="backend"):
        load_encoder("minilm", backend="tensorrt")
    with pytest.raises(ModelError, match="device"):
        load_encoder("minilm", device="tpu")


def test_threads_are_shared_between_workers():
    assert default_threads(1) >= 1
    assert default_threads(1000) == 1
    assert default_threads(2) == max(1, default_threads(1) // 2)


def test_build_on_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    result = run_qa("build", "--index", str(tmp_path / "index"), "--device", "cuda", "--quiet", timeout=120)
    if "error:" not in result.stderr:
        pytest.skip("this machine has a CUDA GPU")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_onnx_vectors_match_torch_over_lengths_and_mixed_batches(real_encoder):
    """Every length from one token to past the 256-token cut, alone and in padded mixed batches."""
    from sentence_transformers import SentenceTransformer

    from qa.embedding import resolve_model_path
    from qa.embedding.onnx_export import check_texts
    from qa.embedding.onnx_runtime import OnnxEncoder

    onnx = load_encoder(backend="onnx")
    assert isinstance(onnx, OnnxEncoder)
    reference = SentenceTransformer(resolve_model_path("minilm"), device="cpu")
    words = "the care team checks blood counts and minimal residual disease after treatment".split()
    texts = check_texts() + [" ".join(words[i % len(words)] for i in range(n)) for n in range(1, 260, 17)]
    lengths = [len(onnx._tokenizer.encode(text).ids) for text in texts]
    assert min(lengths) <= 3 and max(lengths) == 256  # short ones, and long ones cut at max_seq_length
    expected = reference.encode(texts, normalize_embeddings=True)
    for batch_size in (1, 16):
        got = onnx.encode(texts, batch_size=batch_size)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * expected).sum(axis=1)
        assert cosines.min() >= MIN_COSINE, texts[int(cosines.argmin())]


@pytest.mark.slow
def test_serving_with_onnx_never_imports_torch(real_index, guide_corpus, real_encoder):
    script = (
        "import sys, json\n"
        "from qa.web import create_app\n"
        f"app = create_app({{'INDEX_DIR': {str(real_index)!r}, 'CORPUS': {str(guide_corpus)!r}, "
        "'ENCODER_BACKEND': 'onnx'})\n"
        "body = app.test_client().get('/api/search?q=what+is+MRD').get_json()\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'answered': body['answered'], "
        "'encoder': type(app.extensions['searcher'].encoder).__name__}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"heavy": [], "answered": True, "encoder": "OnnxEncoder"}


def test_the_remembered_fingerprint_changes_with_the_export_version(model_dir, tmp_path, monkeypatch):
    import qa.embedding.onnx_runtime as onnx_encoder

    cache = tmp_path / "cache"
    first = model_fingerprint(model_dir, cache)
    monkeypatch.setattr(onnx_encoder, "EXPORT_VERSION", EXPORT_VERSION + 1)
    assert model_fingerprint(model_dir, cache) != first  # an old export is never taken for a new one


def test_token_runs_sort_by_length_and_respect_both_limits():
    from qa.embedding.onnx_runtime import token_runs

    lengths = [30, 5, 200, 5, 12, 300, 7, 12]
    runs = token_runs(lengths, batch_size=3, tokens_per_run=64)
    assert sorted(row for run in runs for row in run) == list(range(len(lengths)))  # every row exactly once
    flat = [lengths[row] for run in runs for row in run]
    assert flat == sorted(lengths)  # short texts together: each run pads little
    for run in runs:
        assert len(run) <= 3
        assert len(run) == 1 or len(run) * max(lengths[row] for row in run) <= 64
    assert [lengths[row] for row in runs[-1]] == [300]  # over the budget alone: a run of its own
    assert token_runs([], 64, 256) == []
    assert all(len(run) == 1 for run in token_runs([4, 4, 4], batch_size=0, tokens_per_run=256))


@pytest.mark.slow
def test_grouped_and_deduplicated_batches_give_each_text_its_own_vector(real_encoder):
    """Repeated texts, mixed lengths and any batch size: row i is always the vector of text i alone."""
    from qa.embedding.onnx_runtime import OnnxEncoder

    onnx = load_encoder(backend="onnx")
    assert isinstance(onnx, OnnxEncoder)
    texts = ["what is MRD", "red dots on her skin", "what is MRD", "fever " * 80, "a", "red dots on her skin",
             "how long does maintenance chemotherapy last for ALL in children"]
    alone = np.vstack([onnx.encode([text]) for text in texts])
    for batch_size in (1, 2, 64):
        got = onnx.encode(texts, batch_size=batch_size)
        assert got.shape == (len(texts), onnx.dim)
        assert ((got * alone).sum(axis=1) >= 0.99999).all()
    assert np.array_equal(got[0], got[2]) and np.array_equal(got[1], got[5])
    assert onnx.encode([]).shape == (0, onnx.dim)
