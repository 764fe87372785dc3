"""Test helpers: free loopback ports and a real `python -m qa serve` process that always stops."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_corpus(tmp_path_factory, name: str) -> Path:
    """A private copy of the repository's corpus/, so a test may change it without touching the real one."""
    import shutil

    target = tmp_path_factory.mktemp(name) / "corpus"
    shutil.copytree(ROOT / "corpus", target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def qa_env(**extra: str) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_qa(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m qa ARGS`` from the repository root."""
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env=qa_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def get_json(url: str, timeout: float = 30) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Server:
    """`python -m qa serve` on a free loopback port; stops on exit, even when a test fails.

    Its output goes to a file, never a pipe: a pipe nobody reads fills up and blocks the server's logging."""

    def __init__(self, *args: str, startup_timeout: float = 240, ready_path: str = "/healthz",
                 command: list[str] | None = None, cwd: Path = ROOT, **env: str) -> None:
        self.command = command or [sys.executable, "-m", "qa"]  # or an installed `qa` script
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["serve", "--host", "127.0.0.1", "--port", str(self.port), *args]
        self.env = env
        self.startup_timeout = startup_timeout
        self.ready_path = ready_path
        self.process: subprocess.Popen | None = None
        self._output = tempfile.NamedTemporaryFile(prefix="qa-server-", suffix=".log", delete=False)

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return Path(self._output.name).read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Server:
        self.process = subprocess.Popen([*self.command, *self.args], cwd=self.cwd, env=qa_env(**self.env),
                                        stdout=self._output, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log}")
            try:
                status, _ = get_json(self.url + self.ready_path, timeout=2)
                if status == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, OSError, json.JSONDecodeError):
                pass
            time.sleep(0.25)
        self.__exit__(None, None, None)
        raise RuntimeError(f"server did not answer {self.ready_path} within {self.startup_timeout}s:\n{self.log}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
