"""The package's shape: layers import downwards only, the command loads no torch, every public name
resolves, and notebooks stay narrative (short code cells)."""

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "ftscope"
# lower number = lower layer; a module may import its own layer or lower ones, never higher ones
LAYER = {"config": 0, "paths": 0, "progress": 0, "_exports": 0, "data": 1, "train": 2, "instruments": 3, "book": 4,
         "jain": 5, "horn": 5, "zhang": 5, "bench": 6, "sweep": 6, "synthesis": 6,
         "__main__": 9}  # bench gathers every paper's loops, sweep every paper's cells, synthesis
# turns each paper's instrument on the others' models
PAPERS = {"jain", "horn", "zhang"}
MAX_CELL_LINES = 8


def top_level(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path) -> set[str]:
    """Every ``ftscope`` module a file imports, at any depth of its code (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path.relative_to(REPO)}: use absolute ftscope imports")
            if node.module and node.module.split(".")[0] == "ftscope":
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if node.module == "ftscope")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "ftscope")
    return found


SOURCES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_run_from_higher_layers_to_lower_ones(path):
    rel = path.relative_to(SRC)
    here = rel.parts[0].removesuffix(".py")
    if here == "__init__":
        assert not imported_modules(path)
        return
    assert here in LAYER, f"{rel}: a module outside the known layers {sorted(LAYER)}"
    for target in imported_modules(path):
        there = top_level(target)
        assert there in LAYER, f"{rel} imports {target}, outside the known layers"
        assert LAYER[there] <= LAYER[here], f"{rel} ({here}) imports {target} ({there}): a higher layer"
        if here in PAPERS and there in PAPERS:
            assert here == there, f"{rel}: one paper's package imports another's ({target})"


#: the rooms of a setting's folder: the same file names in each, so a reader knows where to look
ROOMS = {"__init__", "settings", "training", "analyses", "figures", "claims"}
OPTIONAL_ROOMS = {"reported"}  # where the paper gives numbers to compare with
#: the folders in this shape (the papers' packages move into setting folders one by one)
SETTING_FOLDERS = ["synthesis"]


@pytest.mark.parametrize("folder", SETTING_FOLDERS)
def test_every_setting_folder_has_the_same_rooms(folder):
    rooms = {p.stem for p in (SRC / folder).glob("*.py")}
    assert ROOMS <= rooms, f"{folder}/ lacks {sorted(ROOMS - rooms)}"
    assert rooms <= ROOMS | OPTIONAL_ROOMS, f"{folder}/ has rooms no other setting has: {sorted(rooms - ROOMS - OPTIONAL_ROOMS)}"


def test_the_command_imports_no_torch():
    code = ("import sys, ftscope.book.cli, ftscope.book.runner, ftscope.book.report, ftscope.book.claims, "
            "ftscope.book.chapter, ftscope.book, ftscope.jain, ftscope.horn, ftscope.train, ftscope.instruments; "
            "print(sorted(m for m in ('torch', 'transformer_lens', 'jax', 'sae_lens') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["book", "train", "instruments", "jain", "horn", "zhang"])
def test_every_public_name_resolves(package):
    mod = importlib.import_module(f"ftscope.{package}")
    names = mod.__all__
    assert names and names == sorted(dir(mod))
    for name in names:
        assert getattr(mod, name) is not None, f"ftscope.{package}.{name}"
    with pytest.raises(AttributeError, match="no attribute"):
        mod.not_a_name  # noqa: B018


def code_cells(path: Path):
    """(first line, source lines) of each code cell of a jupytext py:percent notebook."""
    cells, current, start, is_code = [], [], 0, False
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("# %%"):
            if is_code:
                cells.append((start, current))
            current, start, is_code = [], i, "[markdown]" not in line
        elif is_code:
            current.append(line)
    if is_code:
        cells.append((start, current))
    return cells


NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_code_cells_are_short(path):
    """At most MAX_CELL_LINES statements a cell: a call the formatter folds over several lines counts once."""
    long = []
    for start, lines in code_cells(path):
        n = len(ast.parse("\n".join(ln for ln in lines if not ln.lstrip().startswith(("%", "!")))).body)
        if n > MAX_CELL_LINES:
            long.append(f"line {start}: {n} statements")
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} statements (move the logic into src): {long}"


MAX_SHOWN_LINES = 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_long_code_folds_so_it_does_not_crowd_the_narrative(path):
    """A code cell the reader sees unfolded is short (a call that explains the method); a longer one is
    folded (``hide-input``: its output shows, its code opens on click) or removed."""
    shown = []
    header = re.compile(r"^# %%(?: tags=(\[[^\]]*\]))?")
    lines = path.read_text().splitlines()
    for start, body in code_cells(path):
        tags = json.loads(m.group(1)) if (m := header.match(lines[start - 1])) and m.group(1) else []
        if {"hide-input", "remove-input", "remove-cell"} & set(tags):
            continue
        n = sum(1 for ln in body if ln.strip() and not ln.lstrip().startswith("#"))
        if n > MAX_SHOWN_LINES:
            shown.append(f"line {start}: {n} lines shown")
    assert not shown, f"{path.name}: long code cells shown unfolded (tag them hide-input): {shown}"


def test_notebooks_are_formatted_to_the_books_width():
    """ruff format at notebooks/.ruff.toml's line length (what a code cell holds at 1280 px)."""
    assert "line-length = 100" in (REPO / "notebooks" / ".ruff.toml").read_text()
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), "format", "--check", "--diff", *map(str, NOTEBOOKS)], capture_output=True,
                         text=True, cwd=REPO)
    assert out.returncode == 0, f"notebooks not formatted (run `ruff format notebooks`):\n{out.stdout[-3000:]}"
