"""``ftscope run``: jupytext → papermill → executed notebook + ``results/<preset>/<name>.json``.

For each notebook the runner
1. checks the request (names, preset, device, seed) before any compute;
2. hashes everything the result depends on (notebook source, the ``ftscope`` source tree,
   the parameters, the installed package versions, data manifests) and skips the notebook
   when ``results/<preset>/<name>.json`` already carries that hash (``force`` re-runs);
3. executes it with papermill in the project root, parameters injected after the cell
   tagged ``parameters``;
4. on success writes the executed notebook where the book reads it (``book/chapters``),
   archives it per preset, and writes the claims with the run's metadata; on failure prints
   the failing cell's error, keeps the last good notebook and result, and saves the failed
   notebook beside them as ``<name>.failed.ipynb``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ftscope.book.claims import read_record, validate_result
from ftscope.config import ConfigError, check_choice, check_device, check_preset, resolve_device
from ftscope.paths import Project, environ, write_atomic

KERNEL = "python3"
REQUIRED_PARAMETERS = ("preset", "device", "seed")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ------------------------------------------------------------------------- request checks
def notebook_names(project: Project) -> list[str]:
    return sorted(p.stem for p in project.notebooks.glob("*.py"))


def check_names(project: Project, names: list[str] | None) -> list[str]:
    """Every requested notebook exists (all of them when ``names`` is empty)."""
    valid = notebook_names(project)
    if not names:
        return valid
    for name in names:
        if name not in valid:
            if not valid:
                raise ConfigError(f"unknown notebook {name!r}: there are none in {project.notebooks}")
            check_choice("notebook", name, valid)
    return list(names)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    return seed


def parameters(preset: str, device: str, seed: int, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The notebook parameters, checked: a bad preset, device or seed fails here, before any compute."""
    params = {"preset": check_preset(preset), "device": check_device(device), "seed": check_seed(seed),
              "overrides": dict(overrides or {})}
    if device == "cuda":
        resolve_device("cuda")  # no CUDA here: fail now, not in every notebook's first cell
    return params


# ------------------------------------------------------------------------- the cache key
def source_tree(project: Project) -> Path:
    """The ``ftscope`` sources: the checkout's ``src/ftscope`` if present, else the installed package."""
    src = project.root / "src" / "ftscope"
    return src if src.is_dir() else Path(__file__).resolve().parent


def installed_versions() -> dict[str, str]:
    versions = {d.metadata["Name"].lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}
    versions["python"] = sys.version.split()[0]
    return dict(sorted(versions.items()))


def _hash_files(h, root: Path, pattern: str) -> None:
    for path in sorted(root.rglob(pattern)):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")


def cache_key(project: Project, name: str, params: dict[str, Any], versions: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(b"notebook\0" + (project.notebooks / f"{name}.py").read_bytes())
    h.update(b"ftscope\0")
    _hash_files(h, source_tree(project), "*")
    h.update(b"params\0" + json.dumps(params, sort_keys=True).encode())
    h.update(b"versions\0" + json.dumps(versions, sort_keys=True).encode())
    if (project.data).is_dir():  # data manifests written by `make data`
        h.update(b"data\0")
        _hash_files(h, project.data, "manifest*.json")
    return h.hexdigest()


def git_commit(root: Path) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# ------------------------------------------------------------------------- results on disk
def result_path(project: Project, preset: str, name: str) -> Path:
    return project.results(preset) / f"{name}.json"


def load_result(project: Project, preset: str, name: str, echo=print) -> dict[str, Any] | None:
    """The results file of ``name`` at ``preset``; None when there is none, or when it is unreadable
    (then it is reported in one line and moved aside, so the notebook runs again)."""
    path = result_path(project, preset, name)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        aside = path.with_name(f"{path.name}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        os.replace(path, aside)
        echo(f"[ftscope] {path.relative_to(project.root)} is unreadable ({type(err).__name__}); moved to "
             f"{aside.name}, the notebook will run again")
        return None


def is_cached(project: Project, preset: str, name: str, key: str) -> bool:
    result = load_result(project, preset, name)
    archived = project.results(preset) / f"{name}.ipynb"
    return bool(result) and result["run"]["cache_key"] == key and archived.exists()


def publish(project: Project, preset: str, name: str) -> None:
    """Copy the archived executed notebook to where the book reads it."""
    project.chapters.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(project.results(preset) / f"{name}.ipynb", project.chapters / f"{name}.ipynb")


# ------------------------------------------------------------------------- execution
@dataclass
class Outcome:
    name: str
    status: str  # "executed" | "cached" | "failed"
    seconds: float = 0.0
    error: str = ""
    claims: list[dict[str, Any]] = field(default_factory=list)


def to_ipynb(py_path: Path):
    """Read a jupytext py:percent notebook, check its parameters cell, pin the kernel."""
    import jupytext

    nb = jupytext.read(py_path)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ConfigError(f"{py_path.name} needs exactly one cell tagged 'parameters', found {len(tagged)}")
    missing = [p for p in REQUIRED_PARAMETERS if not re.search(rf"^{p}\s*=", tagged[0].source, re.M)]
    if missing:
        raise ConfigError(f"{py_path.name}: the parameters cell must define {', '.join(missing)}")
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    return nb


def _format_error(err: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        tb = ANSI.sub("", "\n".join(err.traceback))
        return f"cell {err.exec_count}: {err.ename}: {err.evalue}\n{tb}"
    return f"{type(err).__name__}: {err}"


def execute_one(project: Project, name: str, params: dict[str, Any], key: str, versions: dict[str, str],
                timeout: int | None) -> Outcome:
    """Execute one notebook; on success write its results, on failure keep the last good ones."""
    import nbformat
    import papermill

    out_dir = project.results(params["preset"])
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = to_ipynb(project.notebooks / f"{name}.py")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"ftscope-{name}-") as tmp:
        src, dst = Path(tmp) / f"{name}.input.ipynb", Path(tmp) / f"{name}.ipynb"
        nbformat.write(nb, src)
        try:
            with environ(FTSCOPE_RUNNER="1", FTSCOPE_ROOT=str(project.root)):
                papermill.execute_notebook(
                    str(src), str(dst), parameters=params, kernel_name=KERNEL, cwd=str(project.root),
                    progress_bar=sys.stderr.isatty(), log_output=False, execution_timeout=timeout,
                )
            executed = nbformat.read(dst, as_version=4)
            record = read_record(executed)
            if record is None:
                raise RuntimeError(f"{name} ran but recorded no claims: its last cell must call Chapter.finish()")
            if (record["preset"], record["seed"]) != (params["preset"], params["seed"]):
                raise RuntimeError(f"{name} recorded preset/seed {record['preset']}/{record['seed']}, "
                                   f"expected {params['preset']}/{params['seed']}: is its Chapter given them?")
        except Exception as err:  # keep the last good result; save the failed notebook beside it
            if dst.exists():
                shutil.copyfile(dst, out_dir / f"{name}.failed.ipynb")
            return Outcome(name, "failed", time.perf_counter() - started, _format_error(err))

    duration = float(executed.metadata.get("papermill", {}).get("duration") or time.perf_counter() - started)
    result = {
        "schema": 1,
        "notebook": name,
        "preset": params["preset"],
        "device": record["device"],
        "seed": params["seed"],
        "parameters": params,
        "status": "ok",
        "claims": record["claims"],
        "not_attempted": record.get("not_attempted", []),
        "run": {
            "commit": git_commit(project.root),
            "versions": versions,
            "duration_s": duration,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "cache_key": key,
            "config": record.get("config", {}),
        },
    }
    validate_result(result)
    nbformat.write(executed, out_dir / f"{name}.ipynb")
    write_atomic(result_path(project, params["preset"], name), json.dumps(result, indent=2, sort_keys=True))
    (out_dir / f"{name}.failed.ipynb").unlink(missing_ok=True)
    publish(project, params["preset"], name)
    return Outcome(name, "executed", duration, claims=record["claims"])


def run(project: Project, names: list[str] | None = None, *, preset: str = "ci", device: str = "auto",
        seed: int = 0, overrides: dict[str, Any] | None = None, force: bool = False,
        timeout: int | None = None, cached_only: bool = False, echo=print) -> list[Outcome]:
    """Run the named notebooks (all when none are named). Every check happens before any compute. With
    ``cached_only`` a notebook may train nothing: a checkpoint missing from the cache fails it
    (``FTSCOPE_CACHED_ONLY``, for a run after ``ftscope sweep``); a cached-only run is never skipped as fresh."""
    params = parameters(preset, device, seed, overrides)
    names = check_names(project, names)
    for name in names:  # fail on a malformed notebook before executing any of them
        to_ipynb(project.notebooks / f"{name}.py")
    versions = installed_versions()
    outcomes = []
    for name in names:
        key = cache_key(project, name, params, versions)
        if not (force or cached_only) and is_cached(project, preset, name, key):
            publish(project, preset, name)
            outcomes.append(Outcome(name, "cached", load_result(project, preset, name)["run"]["duration_s"]))
            echo(f"[ftscope] {name}: cached ({preset}, inputs unchanged)")
            continue
        echo(f"[ftscope] {name}: executing at preset={preset} device={device} seed={seed} ...")
        # FTSCOPE_CACHED_ONLY: the kernel trains nothing (train.checkpoints.forbid_training)
        with environ(FTSCOPE_CACHED_ONLY="1") if cached_only else nullcontext():
            outcome = execute_one(project, name, params, key, versions, timeout)
        outcomes.append(outcome)
        if outcome.status == "failed":
            echo(f"[ftscope] {name}: FAILED after {outcome.seconds:.1f}s\n{outcome.error}")
            echo(f"[ftscope] kept the last good result; the failed notebook is "
                 f"{project.results(preset) / (name + '.failed.ipynb')}")
        else:
            echo(f"[ftscope] {name}: done in {outcome.seconds:.1f}s")
    echo(timing_report(outcomes))
    return outcomes


def timing_report(outcomes: list[Outcome]) -> str:
    lines = ["", f"{'notebook':<32} {'outcome':<9} {'seconds':>8}"]
    lines += [f"{o.name:<32} {o.status:<9} {o.seconds:>8.1f}" for o in outcomes]
    ran = sum(o.seconds for o in outcomes if o.status != "cached")
    lines.append(f"{'executed now (total)':<42} {ran:>8.1f}")
    return "\n".join(lines)


def state(project: Project, preset: str, name: str, versions: dict[str, str] | None = None,
          params: dict[str, Any] | None = None) -> str:
    """``fresh`` (cache hit), ``stale`` (inputs changed), ``failed`` (last try failed), ``missing``."""
    result = load_result(project, preset, name)
    failed = (project.results(preset) / f"{name}.failed.ipynb").exists()
    if result is None:
        return "failed" if failed else "missing"
    params = params or result["parameters"]
    key = cache_key(project, name, params, versions or installed_versions())
    fresh = is_cached(project, preset, name, key)
    return ("fresh" if fresh else "stale") + (" (last try failed)" if failed else "")
