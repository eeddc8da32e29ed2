import shutil
from pathlib import Path

import pytest

from ftscope.paths import Project

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    """Each test's own cell cache: the default one (``~/.cache/ftscope``) is shared by every clone and run on
    the machine, and no test may read a cell another test or a book run left there."""
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


@pytest.fixture
def toy_project(tmp_path) -> Project:
    """A throwaway project: the fixture notebook, a copy of the ftscope sources (hashed by the cache)."""
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "toy_chapter.py", tmp_path / "notebooks" / "toy_chapter.py")
    shutil.copytree(REPO / "src" / "ftscope", tmp_path / "src" / "ftscope",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return Project(tmp_path)
