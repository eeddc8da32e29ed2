"""Every notebook belongs to the book and runs end to end at `smoke` (PySDM-style completeness)."""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ftscope.book import runner
from ftscope.paths import Project

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.py"))


def toc_chapters() -> set[str]:
    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                yield node["file"]
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    return {Path(f).name for f in walk(yaml.safe_load((REPO / "_toc.yml").read_text()))
            if f.startswith("book/chapters/")}


def test_every_notebook_is_a_chapter_and_every_chapter_a_notebook():
    assert NOTEBOOKS, "no notebooks"
    assert set(NOTEBOOKS) == toc_chapters()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_declares_its_parameters_and_name(name):
    source = (REPO / "notebooks" / f"{name}.py").read_text()
    runner.to_ipynb(REPO / "notebooks" / f"{name}.py")  # exactly one parameters cell with preset/device/seed
    assert re.search(r"^overrides\s*=", source, re.M)
    assert f'Chapter("{name}"' in source, "the Chapter must carry the notebook's own name"
    assert "ch.finish()" in source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_smoke(name, tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / f"{name}.py", tmp_path / "notebooks")
    [outcome] = runner.run(Project(tmp_path), [name], preset="smoke", device="cpu", echo=lambda *_: None)
    assert outcome.status == "executed", outcome.error
    assert outcome.claims and all(c["verdict"] != "failed" for c in outcome.claims), outcome.claims
