"""Every notebook belongs to the book and runs end to end at `smoke` (PySDM-style completeness)."""

import re
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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_prose_is_left_in_a_code_cell(name):
    """A markdown heading or a glue role in a code cell's comments is prose that lost its `# %% [markdown]`
    marker: the book shows it as code, or not at all under `remove-input`."""
    cells = re.split(r"^# %%", (REPO / "notebooks" / f"{name}.py").read_text(), flags=re.M)
    stray = [c.strip().splitlines()[0] for c in cells[1:] if not c.lstrip().startswith("[markdown]")
             and re.search(r"^#\s*(#+ |.*\{glue:)", c, re.M)]
    assert not stray, f"prose in code cells starting at: {stray}"


# a later chapter reuses what an earlier one trained (same config, data and code): in one smoke book on a cold
# cache, these checkpoints must not be trained again by the chapter named on the left
REUSES = {"04_pcfg_finetuning": ("03_pcfg_pretraining", tuple(f"pcfg-{p}-s" for p in ("low", "medium", "high", "b_only"))),
          "07_capacity_and_data": ("06_topic_style_fact", ("zhang-base", "zhang-ft-")),
          "09_universal_features": ("08_universal_models", "horn-"),
          "10_three_lenses": ("05_tinystories_wrappers", "jain-stories-")}
# checkpoints a notebook may write that no sweep job declares: token caches (data, not training), and what a
# chapter's declaration names as trained in the notebook (``Declared.inline``)
DATA_CACHES = ("horn-tokens-", "jain-stories-tokens-")
INLINE = {"07_capacity_and_data": ("zhang-pubmed-", "horn-base-")}


def smoke_result(name: str) -> dict:
    project = Project(REPO)
    result = runner.load_result(project, "smoke", name)
    assert result is not None, f"no smoke result for {name}: run `make book PRESET=smoke` first (CI does)"
    return result


# The smoke book (`make book PRESET=smoke`, which CI runs) executes every notebook once; these tests read what
# that run recorded (its claims, and each checkpoint its kernel read or built) instead of executing the
# notebooks a second time. `make test` leaves them out; CI runs them after the smoke book (`pytest -m smoke_book`).
@pytest.mark.smoke_book
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_smoke_book_ran_every_notebook_and_built_what_its_cells_declare(name, monkeypatch):
    result = smoke_result(name)
    assert result["claims"] and all(c["verdict"] != "failed" for c in result["claims"]), result["claims"]
    touched = result["run"]["checkpoints"]
    monkeypatch.setenv("FTSCOPE_ROOT", str(REPO))  # the declarations read the data the notebook read
    monkeypatch.setenv("FTSCOPE_CACHE", result["run"]["cache"])  # and the cells it built
    declared = sweep.declare(name, "smoke", 0, "cpu", {})
    names = {p.name for job in declared.jobs for p in job.paths(Project(REPO))}
    assert not declared.later, f"{name}: cells still declared later after its notebook ran: {declared.later}"
    assert names <= set(touched), f"{name} declares cells its notebook did not read or build: {sorted(names - set(touched))}"
    built = {n for n, how in touched.items() if how == "built"}
    undeclared = sorted(n for n in built - names if not n.startswith(DATA_CACHES + INLINE.get(name, ())))
    assert not undeclared, f"{name} trained cells no sweep job declares: {undeclared}"
    if name in REUSES:
        upstream = smoke_result(REUSES[name][0])
        if upstream["run"]["finished"] <= result["run"]["finished"]:  # the upstream chapter ran first
            retrained = sorted(n for n in built if n.startswith(REUSES[name][1]))
            assert not retrained, f"{name} trained again what {REUSES[name][0]} had cached: {retrained}"
