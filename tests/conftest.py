"""Shared fixtures: a real-model index of the guide (built once per session) and small fake-encoder ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import ROOT, copy_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GUIDE = ROOT / "corpus" / "relapsed-refractory-all.txt"
FAKE_MODEL = "hash:256"


@pytest.fixture(scope="session")
def guide_corpus(tmp_path_factory) -> Path:
    """A copy of the real corpus directory, so tests never touch the repository's corpus/ or index/."""
    return copy_corpus(tmp_path_factory, "corpus")


@pytest.fixture(scope="session")
def real_encoder():
    from qa.embedding import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, guide_corpus, real_encoder) -> Path:
    """The guide indexed with the real bundled model."""
    from qa.index.build import build_index

    index_dir = tmp_path_factory.mktemp("real-index")
    build_index(guide_corpus, index_dir, real_encoder)
    return index_dir


def app_config(index_dir: Path, corpus: Path, model: str) -> dict:
    return {
        "INDEX_DIR": str(index_dir),
        "CORPUS": str(corpus),
        "MODEL": model,
        "NOTICES_FILE": str(ROOT / "corpus" / "notices.json"),
        "LAY_TERMS_FILE": str(ROOT / "corpus" / "lay_terms.tsv"),
        "RETRIEVAL_FILE": str(ROOT / "corpus" / "retrieval.json"),
    }


@pytest.fixture(scope="session")
def real_app(real_index, guide_corpus, real_encoder):
    from qa.settings import load_settings
    from qa.web import create_app
    from qa.wiring import open_searcher

    config = app_config(real_index, guide_corpus, "all-MiniLM-L6-v2")
    app = create_app(config, searcher=open_searcher(load_settings(config), encoder=real_encoder))
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def real_client(real_app):
    return real_app.test_client()


@pytest.fixture(scope="session")
def fake_index(tmp_path_factory, guide_corpus) -> Path:
    """The guide indexed with the hashing fake encoder: fast, deterministic, no model."""
    from qa.embedding import load_encoder
    from qa.index.build import build_index

    index_dir = tmp_path_factory.mktemp("fake-index")
    build_index(guide_corpus, index_dir, load_encoder(FAKE_MODEL))
    return index_dir


@pytest.fixture(scope="session")
def fake_app(fake_index, guide_corpus):
    from qa.web import create_app

    app = create_app(app_config(fake_index, guide_corpus, FAKE_MODEL))
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(fake_app):
    return fake_app.test_client()
