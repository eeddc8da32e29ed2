"""Where things live in a checkout: notebooks, results, the book's copies, caches.

Everything is relative to the project root, found by walking up from the current
directory to the folder holding ``_toc.yml`` (so a notebook executed by plain
papermill from ``notebooks/`` still finds it). ``FTSCOPE_ROOT`` overrides it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT_MARKER = "_toc.yml"
_UMASK = os.umask(0)
os.umask(_UMASK)


def make_plain(path: str | Path) -> None:
    """Give a file made by ``tempfile`` (0600) the mode a plain ``open()`` would have made it with."""
    os.chmod(path, 0o666 & ~_UMASK)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file of its own in the same folder, then rename it into
    place: an interrupted write leaves no half file, and two writers never rename each other's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        make_plain(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Environment variables set for a block (``FTSCOPE_ROOT``, ``FTSCOPE_CACHE``, ...), restored after it."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def find_root(start: Path | None = None) -> Path:
    """The project root: ``$FTSCOPE_ROOT``, else the nearest parent holding ``_toc.yml``."""
    if env := os.environ.get("FTSCOPE_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ROOT_MARKER).exists():
            return folder
    return here


class Ledger:
    """What this process did, by name (``"corpus" -> "manifest"``, ``"file.pt" -> "built"``), for the runner
    to read from a notebook's kernel when the notebook ends (``ftscope.book.probe``). Not a ``Mapping`` on
    purpose: cell keys hash the plain constants a builder's code reads, and what a process has done so far
    must not enter a key."""

    def __init__(self) -> None:
        self._notes: dict[str, str] = {}

    def note(self, name: str, what: str) -> None:
        self._notes[name] = what

    def get(self, name: str) -> str | None:
        return self._notes.get(name)

    def as_dict(self) -> dict[str, str]:
        return dict(sorted(self._notes.items()))

    def clear(self) -> None:
        self._notes.clear()


def default_cache() -> Path:
    """The cell cache: ``$FTSCOPE_CACHE``, else ``$XDG_CACHE_HOME/ftscope``, else ``~/.cache/ftscope``.

    It lies outside the checkout, so every clone and run on one machine shares its cells; a cell's key is
    its content (spec, the code its builder reaches, library versions), so a shared cache never serves a
    cell built by other code."""
    if env := os.environ.get("FTSCOPE_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ftscope"


@dataclass(frozen=True)
class Project:
    """The folders of one checkout. Tests build one in a temporary folder."""

    root: Path

    @classmethod
    def here(cls) -> Project:
        return cls(find_root())

    @property
    def notebooks(self) -> Path:  # jupytext py:percent sources
        return self.root / "notebooks"

    @property
    def chapters(self) -> Path:  # executed notebooks the book renders (git-ignored)
        return self.root / "book" / "chapters"

    @property
    def generated(self) -> Path:  # tables the book pages include (git-ignored)
        return self.root / "book" / "_generated"

    def results(self, preset: str) -> Path:  # claims + run metadata, per preset
        return self.root / "results" / preset

    @property
    def cache(self) -> Path:  # checkpoints and data caches shared across notebooks, clones and runs
        return default_cache()

    @property
    def data(self) -> Path:  # corpora fetched by `make data`
        return self.root / "data"
