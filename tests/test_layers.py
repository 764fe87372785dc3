"""The package's shape: one-way layers (import-linter's contract in pyproject.toml) and a named public surface."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT

SUBPACKAGES = ("cli", "corpus", "embedding", "evaluation", "index", "search", "server", "text", "urgent", "web")


def test_imports_run_one_way_between_layers():
    linter = shutil.which("lint-imports", path=str(ROOT / ".venv" / "bin")) or shutil.which("lint-imports")
    command = [linter] if linter else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_names_its_public_surface(name):
    package = importlib.import_module(f"qa.{name}")
    assert package.__doc__, f"qa.{name} says what it is for"
    assert package.__all__, f"qa.{name} lists its public names"
    missing = [item for item in package.__all__ if not hasattr(package, item)]
    assert missing == []


def test_search_never_needs_the_urgent_rules():
    """A search imports no urgent module: the urgent check is attached by qa.wiring, through an interface."""
    code = ("import sys; import qa.search, qa.web.responses; "
            "print(sorted(m for m in sys.modules if m.startswith('qa.urgent')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
