"""The package as users install it: a wheel that carries the guide, and a `qa` command that serves from anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.support import ROOT, Server, get_json, qa_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The wheel built from this checkout, installed (without dependencies: they are this environment's) into a
    folder of its own, as `pip install .` would put it into site-packages."""
    root = tmp_path_factory.mktemp("package")
    wheels, site = root / "wheel", root / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT),
                            "-w", str(wheels)], capture_output=True, text=True, timeout=600, cwd=root)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("qa-*.whl")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return {"wheel": wheel, "site": site, "root": root}


def test_the_wheel_carries_the_guide_its_files_and_the_page(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for name in ("relapsed-refractory-all.txt", "relapsed-refractory-all.meta.json", "notices.json", "urgent.json",
                 "urgent_classifier.json", "lay_terms.tsv", "retrieval.json", "build.json", "boilerplate.patterns"):
        assert f"qa/guide/{name}" in names, name
    for name in ("qa/web/templates/page.html", "qa/web/static/search.js", "qa/web/apidocs/docs.js"):
        assert name in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "qa = qa.cli:main" in zipfile.ZipFile(installed["wheel"]).read(entry_points).decode()


def test_qa_serve_from_another_directory_answers_from_the_built_in_guide(installed):
    elsewhere = installed["root"] / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(installed["site"]), "XDG_DATA_HOME": str(installed["root"] / "data")}
    where = subprocess.run([sys.executable, "-c", "import qa; print(qa.__file__)"], cwd=elsewhere,
                           env=qa_env(**env), capture_output=True, text=True, timeout=60)
    assert where.stdout.startswith(str(installed["site"])), where  # the installed copy, not this checkout
    with Server(command=[str(installed["site"] / "bin" / "qa")], cwd=elsewhere, ready_path="/readyz",
                startup_timeout=300, **env) as server:
        status, body = get_json(server.url + "/api/search?q=what+is+MRD&k=1")
        assert status == 200 and body["answered"] is True
        assert "minimal residual disease (MRD)" in body["results"][0]["text"]
        assert body["results"][0]["citation"]["reviewed"] == "November 2022"
    assert (installed["root"] / "data" / "qa" / "index" / "current" / "manifest.json").is_file()
    assert not (elsewhere / "index").exists()  # nothing written into the working directory
