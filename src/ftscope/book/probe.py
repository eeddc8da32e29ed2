"""What a notebook's kernel reports when the notebook ends: the runner appends one cell that calls
``report()`` and reads its output (then drops the cell from the executed notebook).

It says what the chapter's numbers were made from and where:

- ``modules``: the ``ftscope`` source files the kernel had imported (this module excepted: it only reads);
- ``data``: the corpora it read, through their manifests or as the bundled fixtures (``data.corpora.READ``);
- ``checkpoints``: each checkpoint it read from the cache or built (``train.checkpoints.TOUCHED``);
- ``machine``: the CPU (model, vector flags), threads, and the versions of torch and the libraries that do
  its arithmetic.

It imports nothing heavy that the notebook did not import already.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

MIME = "application/vnd.ftscope.probe+json"
CELL_TAG = "ftscope-probe"
CELL_SOURCE = "from ftscope.book.probe import report as _ftscope_report\n\n_ftscope_report()"
PACKAGE = Path(__file__).resolve().parents[1]  # src/ftscope
SELF = "book/probe.py"
#: the CPU flags that decide which kernels torch and numpy run (the rest do not change a number)
VECTOR_FLAGS = re.compile(r"^(sse\d?(_\d)?|ssse3|avx\w*|fma\w*|f16c|amx\w*|vnni\w*|asimd\w*|sve\w*|neon)$")
LIBRARIES = ("numpy", "transformer-lens", "transformers", "sae-lens", "jax", "scipy", "scikit-learn")


def module_files() -> list[str]:
    """The ``ftscope`` source files imported in this process, relative to the package (``train/loop.py``)."""
    out = set()
    for name, module in list(sys.modules.items()):
        if name != "ftscope" and not name.startswith("ftscope."):
            continue
        path = getattr(module, "__file__", None)
        if not path:
            continue
        try:
            rel = Path(path).resolve().relative_to(PACKAGE).as_posix()
        except ValueError:  # an ftscope module from somewhere else: not this package's source
            continue
        if rel != SELF:
            out.add(rel)
    return sorted(out)


def _ledger(module: str, attr: str) -> dict[str, str]:
    mod = sys.modules.get(module)
    return getattr(mod, attr).as_dict() if mod is not None and hasattr(mod, attr) else {}


def cpu() -> dict[str, Any]:
    """The CPU's model name and its vector flags, from ``/proc/cpuinfo`` (the platform's name elsewhere)."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    if m := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
        model = m.group(1).strip()
    if m := re.search(r"^(flags|Features)\s*:\s*(.+)$", text, re.M):
        flags = sorted({f for f in m.group(2).split() if VECTOR_FLAGS.match(f)})
    return {"model": model, "vector_flags": flags, "logical_cpus": os.cpu_count()}


def machine() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {"cpu": cpu(), "platform": platform.platform(), "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                        "mkl": bool(torch.backends.mkl.is_available()),
                        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    versions = {}
    for dist in LIBRARIES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    out["libraries"] = versions
    return out


def collect() -> dict[str, Any]:
    return {"modules": module_files(), "data": _ledger("ftscope.data.corpora", "READ"),
            "checkpoints": _ledger("ftscope.train.checkpoints", "TOUCHED"), "machine": machine()}


def report() -> None:
    """Display what ``collect`` finds under ``MIME``: the runner reads it from the executed notebook."""
    from IPython.display import display

    display({MIME: collect()}, raw=True)


def read(nb) -> dict[str, Any] | None:
    """The report in an executed notebook (None when the cell did not run), and the notebook without the cell."""
    for i, cell in enumerate(nb.cells):
        if CELL_TAG in cell.get("metadata", {}).get("tags", []):
            found = next((out["data"][MIME] for out in cell.get("outputs", []) if MIME in out.get("data", {})), None)
            del nb.cells[i]
            return found
    return None
