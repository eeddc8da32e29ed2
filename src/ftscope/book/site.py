"""What the built book carries beyond the notebooks: its configuration (the repository and launch buttons,
shown only when a repository is named) and each chapter's re-run box.

The repository is a setting read at build time, never a placeholder in ``_config.yml``:

- ``FTSCOPE_REPOSITORY_URL`` (``https://github.com/<owner>/<name>``): with it, the repository button;
  without it, no repository or launch button at all.
- ``FTSCOPE_REPOSITORY_BRANCH``: the branch the buttons point at (``main`` if unset).
- ``FTSCOPE_COLAB=1``: also a Colab launch button. It opens ``book/chapters/<chapter>.ipynb`` on that branch,
  so set it only where the executed notebooks are published there (they are build outputs, not sources).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ftscope.book.bench import _duration, plan_path
from ftscope.config import ConfigError
from ftscope.paths import Project, write_atomic

REPOSITORY_ENV, BRANCH_ENV, COLAB_ENV = "FTSCOPE_REPOSITORY_URL", "FTSCOPE_REPOSITORY_BRANCH", "FTSCOPE_COLAB"
COLAB_URL = "https://colab.research.google.com"
GITHUB = re.compile(r"^https://github\.com/[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
RERUN_TAG = "ftscope-rerun"


def book_config(base: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``_config.yml`` with the repository settings of ``environ``: buttons only for a named repository."""
    cfg = copy.deepcopy(base)
    url = environ.get(REPOSITORY_ENV, "").strip().removesuffix("/")
    html = cfg.setdefault("html", {})
    theme = cfg.setdefault("sphinx", {}).setdefault("config", {}).setdefault("html_theme_options", {})
    for key in ("repository_url", "repository_branch", "use_repository_button", "launch_buttons"):
        theme.pop(key, None)
    cfg.pop("repository", None)
    cfg["launch_buttons"] = {"notebook_interface": "classic", "binderhub_url": "", "colab_url": "",
                             "thebe": False}
    html.update(use_repository_button=False, use_issues_button=False, use_edit_page_button=False)
    if not url:
        return cfg
    if not GITHUB.match(url):
        raise ConfigError(f"{REPOSITORY_ENV}={url!r} is not a GitHub repository URL "
                          "(https://github.com/<owner>/<name>); unset it to build without repository buttons")
    branch = environ.get(BRANCH_ENV, "").strip() or "main"
    cfg["repository"] = {"url": url, "branch": branch, "path_to_book": ""}
    html["use_repository_button"] = True
    theme.update(repository_url=url, repository_branch=branch, use_repository_button=True)
    if environ.get(COLAB_ENV, "").strip() == "1":
        cfg["launch_buttons"]["colab_url"] = COLAB_URL
    return cfg


def write_book_config(project: Project, environ: Mapping[str, str]) -> Path:
    """Write the build's configuration (``_build/_config.yml``) and return its path."""
    cfg = book_config(yaml.safe_load((project.root / "_config.yml").read_text()), environ)
    out = project.root / "_build" / "_config.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return out


def planned_seconds(project: Project, name: str) -> float | None:
    """The performance plan's estimate for a chapter at ``paper`` on one H100 (None where it has none)."""
    path = plan_path(project, "paper")
    if not path.exists():
        return None
    try:
        works = [w for w in json.loads(path.read_text())["works"] if w["chapter"] == name[:2]]
    except (ValueError, KeyError, TypeError):
        return None
    return sum(w["seconds"] for w in works) if works else None


def measured(project: Project, name: str) -> dict[str, Any] | None:
    """The chapter's committed ``laptop`` record (``ftscope.book.records``), if any: the run the book shows."""
    from ftscope.book import records

    return records.load(project, name)


def rerun_box(name: str, record: dict[str, Any] | None, paper_s: float | None) -> str:
    """The Markdown of a chapter's re-run box: the commands at each preset, the time of the ``laptop`` run in its
    record (and which run that was), the planned time at ``paper`` and the executed notebook to download."""
    from ftscope.book import records

    laptop = (f"**{_duration(record['duration_s'])}** in the run this book's numbers come from "
              f"({records.provenance(record)})" if record else "not recorded yet")
    paper = (f"**{_duration(paper_s)}** on one H100 (the performance plan's estimate)" if paper_s is not None
             else "not in the performance plan yet")
    return "\n".join([
        ":::{admonition} Re-run this chapter",
        f":class: tip {RERUN_TAG}",
        "```bash",
        "# a minute: does every code path run?",
        f"ftscope run {name} --preset smoke",
        "# the numbers on this page, on a laptop's CPU",
        f"ftscope run {name} --preset laptop",
        "# the paper's scale, on a GPU",
        f"ftscope run {name} --preset paper --device cuda",
        "```",
        f"At `laptop`: {laptop}. At `paper`: {paper}.",
        f"The executed notebook: {{download}}`{name}.ipynb <{name}.ipynb>`.",
        ":::",
    ])


def add_rerun_box(path: Path, box: str) -> None:
    """Put ``box`` right under the chapter's title (once: a notebook that has one keeps it)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if cell is None or RERUN_TAG in cell.source:
        return
    m = re.match(r"\s*# [^\n]*\n?", cell.source)
    head = m.group(0) if m else ""
    cell.source = (head.rstrip("\n") + "\n\n" if head else "") + box + "\n\n" + cell.source[len(head):].lstrip("\n")
    nbformat.write(nb, path)
