"""The package's shape: layers import downwards only, the command loads no torch, every public name
resolves, and notebooks stay narrative (short code cells)."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "ftscope"
# lower number = lower layer; a module may import its own layer or lower ones, never higher ones
LAYER = {"config": 0, "paths": 0, "progress": 0, "_exports": 0, "data": 1, "train": 2, "instruments": 3, "book": 4,
         "jain": 5, "horn": 5, "zhang": 5, "bench": 6, "__main__": 9}  # bench gathers every paper's loops
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


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.py")), ids=lambda p: p.stem)
def test_notebook_code_cells_are_short(path):
    long = []
    for start, lines in code_cells(path):
        code = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if len(code) > MAX_CELL_LINES:
            long.append(f"line {start}: {len(code)} lines")
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} lines (move the logic into src): {long}"
