"""A failed build never touches the live index; a corrupt index, a missing model or an unwritable index
directory stops `serve` or `build` with one clear line and a non-zero exit."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from qa.embedding import load_encoder
from qa.index import load_index
from qa.index.build import build_index
from tests.support import ROOT, free_port, run_qa

FAKE = "hash:256"


@pytest.fixture()
def live(tmp_path) -> Path:
    """A complete index of the guide with the fake encoder, in a directory of its own."""
    index_dir = tmp_path / "index"
    build_index(ROOT / "corpus", index_dir, load_encoder(FAKE))
    return index_dir


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _state(index_dir: Path) -> tuple[Path, list[str]]:
    return (index_dir / "current").resolve(), sorted(p.name for p in (index_dir / "builds").iterdir())


# --------------------------------------------------------------------------- disk full and read-only, simulated


@pytest.mark.parametrize("where", ["qa.index.build._write_jsonl", "qa.index.build.write_text_atomic"])
def test_a_disk_that_fills_during_a_build_leaves_the_old_index(live, monkeypatch, capsys, where):
    from qa import cli

    before = _state(live)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(where, full)
    status = cli.main(["build", "--model", FAKE, "--corpus", str(ROOT / "corpus"), "--index", str(live), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    (line,) = [row for row in err.splitlines() if row.startswith("error")]
    assert "No space left on device" in line and "was not changed" in line and str(live) in line
    assert _state(live) == before, "no half-written build left behind, the same build live"
    assert load_index(live, model=FAKE).manifest["passages"] > 0


def test_a_read_only_index_directory_gives_a_clear_build_error(live, monkeypatch, capsys):
    from qa import cli

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(live / "builds"))

    monkeypatch.setattr("qa.index.build.tempfile.mkdtemp", read_only)
    status = cli.main(["build", "--model", FAKE, "--corpus", str(ROOT / "corpus"), "--index", str(live), "--quiet"])
    (line,) = [row for row in capsys.readouterr().err.splitlines() if row.startswith("error")]
    assert status == 2 and "Read-only file system" in line and str(live) in line


# --------------------------------------------------------------------------- the same, on real filesystems


@pytest.fixture()
def tmpfs(tmp_path):
    """A small tmpfs mount (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "mnt"
    mount.mkdir()

    def mount_with(options: str) -> Path:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        return mount

    yield mount_with
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_really_full_disk_during_a_build(live, tmpfs):
    size = sum(f.stat().st_size for f in (live / "current").resolve().rglob("*") if f.is_file())
    mount = tmpfs(f"size={int(size * 1.5) // 1024 + 16}k")  # room for one build, not two
    index_dir = mount / "index"
    shutil.copytree(live, index_dir, symlinks=True)
    before = _state(index_dir)
    result = run_qa("build", "--model", FAKE, "--corpus", str(ROOT / "corpus"), "--index", str(index_dir), "--quiet")
    line = one_error_line(result)
    assert "No space left on device" in line and "was not changed" in line
    assert _state(index_dir) == before
    assert load_index(index_dir, model=FAKE).manifest["passages"] > 0


def test_a_really_read_only_index_directory(live, tmpfs):
    mount = tmpfs("size=4m")
    shutil.copytree(live, mount / "index", symlinks=True)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True)
    assert remount.returncode == 0, remount.stderr
    index_dir = mount / "index"
    result = run_qa("build", "--model", FAKE, "--corpus", str(ROOT / "corpus"), "--index", str(index_dir), "--quiet")
    assert "Read-only file system" in one_error_line(result)
    assert load_index(index_dir, model=FAKE).manifest["passages"] > 0  # serving only reads: still fine


# --------------------------------------------------------------------------- refused at start


@pytest.mark.parametrize("damage", ["truncate", "garbage", "passages"])
def test_serve_refuses_a_corrupt_index_in_one_line(live, damage):
    build = (live / "current").resolve()
    if damage == "truncate":
        (build / "vectors.faiss").write_bytes((build / "vectors.faiss").read_bytes()[:64])
    elif damage == "garbage":
        (build / "units.faiss").write_bytes(b"\x00not a faiss index" * 10)
    else:
        rows = (build / "passages.jsonl").read_text(encoding="utf-8").splitlines()
        (build / "passages.jsonl").write_text("\n".join(rows[:-1]) + "\n", encoding="utf-8")
    result = run_qa("serve", "--index", str(live), "--port", str(free_port()), timeout=120, QA_MODEL=FAKE,
                    QA_CHECK_CORPUS="false")
    line = one_error_line(result)
    assert str(live) in line and "rebuild with" in line
    assert "Booting worker" not in result.stderr, "refused before gunicorn starts"


def test_serve_with_a_missing_model_fails_clearly(live, tmp_path):
    """The index names a model directory that is gone (e.g. a model package not installed)."""
    gone = tmp_path / "models" / "gone"
    build = (live / "current").resolve()
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest["model"] = str(gone)
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = run_qa("serve", "--index", str(live), "--port", str(free_port()), timeout=120, QA_MODEL=str(gone),
                    QA_CHECK_CORPUS="false")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = {row for row in result.stderr.splitlines() if row.startswith("error")}
    assert len(errors) == 1 and str(gone) in errors.pop(), result.stderr
