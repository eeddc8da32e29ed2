"""Every glue name a chapter's prose cites is one the chapter glues, checked without running the notebook.

A chapter glues its findings records (every ``Findings`` subclass of its setting's package, by field name),
its claims (the ids of its ``claims.ROWS``, and ``{id}_paper`` where the row has a paper value) and the names
it writes out in its own cells (``ch.glue("name", ...)``, ``ch.glue_all({"name": ...})``). Chapters whose
numbers still travel as untyped dicts cannot be checked this way; ``CHAPTERS`` lists the ones that can.
"""

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from ftscope.book.findings import Findings

REPO = Path(__file__).resolve().parents[1]
#: chapter -> its setting's package
CHAPTERS = {"10_three_lenses": "ftscope.synthesis"}
CITED = re.compile(r"\{glue(?::[a-z]+)?\}`([A-Za-z0-9_]+)")


def cited(text: str) -> set[str]:
    """The glue names cited in the markdown cells of a jupytext notebook."""
    names, markdown = set(), False
    for line in text.splitlines():
        if line.startswith("# %%"):
            markdown = "[markdown]" in line
        elif markdown:
            names |= set(CITED.findall(line))
    return names


def written(text: str) -> set[str]:
    """The glue names a notebook's code writes out: ``ch.glue("x", ...)`` and ``ch.glue_all({"x": ...})``."""
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            first = node.args[0]
            if node.func.attr == "glue" and isinstance(first, ast.Constant):
                names.add(first.value)
            elif node.func.attr == "glue_all" and isinstance(first, ast.Dict):
                names |= {k.value for k in first.keys if isinstance(k, ast.Constant)}
    return names


def findings_classes(package: str) -> list[type[Findings]]:
    """Every ``Findings`` subclass a setting's package defines."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, Findings) and cls is not Findings and cls.__module__ == module.__name__]
    return found


def glued(package: str) -> set[str]:
    """The names a setting's package glues: its findings records' fields and its claim rows."""
    names: set[str] = set().union(*(cls.glue_names() for cls in findings_classes(package)))
    for row in importlib.import_module(f"{package}.claims").ROWS:
        names |= {row.id} | ({f"{row.id}_paper"} if row.paper_value is not None else set())
    return names


def unknown(text: str, package: str) -> set[str]:
    """The glue names ``text`` (a notebook) cites that nothing glues."""
    return cited(text) - written(text) - glued(package)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_cited_glue_name_is_glued(chapter):
    text = (REPO / "notebooks" / f"{chapter}.py").read_text()
    assert cited(text), "the chapter cites no glue name: the check would pass vacuously"
    assert unknown(text, CHAPTERS[chapter]) == set()


def test_a_misspelt_glue_name_is_caught():
    text = (REPO / "notebooks" / "10_three_lenses.py").read_text()
    assert "{glue:text}`resolution:.2f`" in text
    bad = text.replace("{glue:text}`resolution:.2f`", "{glue:text}`resoluton:.2f`")
    assert unknown(bad, CHAPTERS["10_three_lenses"]) == {"resoluton"}
    in_code = text + '\n# %%\nch.glue_all({"resolution_typo": 1})\n# %% [markdown]\n# {glue:text}`resolution_typo`\n'
    assert unknown(in_code, CHAPTERS["10_three_lenses"]) == set()  # a name the notebook glues itself


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_claim_row_reads_fields_its_findings_have(chapter):
    """A row naming a field no findings record has would fail only when the notebook runs; caught here."""
    package = CHAPTERS[chapter]
    have = {f.name for cls in findings_classes(package) for f in dataclasses.fields(cls)}
    rows = importlib.import_module(f"{package}.claims").ROWS
    assert {row.id: row.fields_read() - have for row in rows if row.fields_read() - have} == {}
