"""Every notebook belongs to the book and runs end to end at `smoke` (PySDM-style completeness)."""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ftscope import sweep
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
    assert re.search(rf'Chapter\(\s*"{name}"', source), "the Chapter must carry the notebook's own name"
    assert "ch.finish()" in source


# a later chapter reuses what an earlier one trained (same config, data and code): with one cache for
# the test session, these checkpoints must not be trained again by the chapter named on the left
REUSES = {"04_pcfg_finetuning": ("03_pcfg_pretraining", tuple(f"pcfg-{p}-s" for p in ("low", "medium", "high", "b_only"))),
          "07_capacity_and_data": ("06_topic_style_fact", ("zhang-base", "zhang-ft-")),
          "09_universal_features": ("08_universal_models", "horn-"),
          "10_three_lenses": ("05_tinystories_wrappers", "jain-stories-")}
RAN: set[str] = set()
# checkpoints a notebook may write that no sweep job declares: token caches (data, not training), and what a
# chapter's declaration names as trained in the notebook (``Declared.inline``)
DATA_CACHES = ("horn-tokens-", "jain-stories-tokens-")
INLINE = {"07_capacity_and_data": ("zhang-pubmed-", "horn-base-")}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ftscope-cache")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_smoke(name, tmp_path, shared_cache, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(shared_cache))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / f"{name}.py", tmp_path / "notebooks")
    before = set((shared_cache / "checkpoints").glob("*.pt"))
    [outcome] = runner.run(Project(tmp_path), [name], preset="smoke", device="cpu", echo=lambda *_: None)
    assert outcome.status == "executed", outcome.error
    assert outcome.claims and all(c["verdict"] != "failed" for c in outcome.claims), outcome.claims
    RAN.add(name)
    after = {p.name for p in (shared_cache / "checkpoints").glob("*.pt")}
    monkeypatch.setenv("FTSCOPE_ROOT", str(tmp_path))  # the declarations read the data the notebook read
    declared = sweep.declare(name, "smoke", 0, "cpu", {})
    names = {p.name for job in declared.jobs for p in job.paths(Project(tmp_path))}
    assert not declared.later, f"{name}: cells still declared later after its notebook ran: {declared.later}"
    assert names <= after, f"{name} declares cells its notebook did not build: {sorted(names - after)}"
    undeclared = sorted(n for n in after - {p.name for p in before} - names
                        if not n.startswith(DATA_CACHES + INLINE.get(name, ())))
    assert not undeclared, f"{name} trained cells no sweep job declares: {undeclared}"
    if name in REUSES and REUSES[name][0] in RAN:
        new = {p.name for p in set((shared_cache / "checkpoints").glob("*.pt")) - before}
        retrained = sorted(n for n in new if n.startswith(REUSES[name][1]))
        assert not retrained, f"{name} trained again what {REUSES[name][0]} had cached: {retrained}"
