"""``ftscope run``: jupytext → papermill → executed notebook + ``results/<preset>/<name>.json``.

For each notebook the runner
1. checks the request (names, preset, device, seed) before any compute;
2. skips the notebook when ``results/<preset>/<name>.json`` is fresh: its key hashes the chapter's
   *inputs* (the notebook, the ``ftscope`` source files its kernel had imported, the lock file, the data
   manifests it read; the list is the last run's), the parameters and the installed versions (``force``
   re-runs);
3. executes it with papermill in the project root, parameters injected after the cell tagged
   ``parameters``, and one cell appended that reports the inputs, the checkpoints and the machine
   (``ftscope.book.probe``; the cell is dropped from the saved notebook);
4. on success writes the executed notebook where the book reads it (``book/chapters``), archives it per
   preset, and writes the claims with the run's metadata; at ``laptop`` with the book's parameters (seed 0,
   no overrides) it also writes the chapter's committed reproduction record (``ftscope.book.records``). On
   failure it prints the failing cell's error, keeps the last good notebook and result, and saves the failed
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

from ftscope.book import probe as probe_mod
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


# ------------------------------------------------------------------------- inputs and the cache key
def source_tree(project: Project) -> Path:
    """The ``ftscope`` sources: the checkout's ``src/ftscope`` if present, else the installed package."""
    src = project.root / "src" / "ftscope"
    return src if src.is_dir() else Path(__file__).resolve().parents[1]


def installed_versions() -> dict[str, str]:
    versions = {d.metadata["Name"].lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}
    versions["python"] = sys.version.split()[0]
    return dict(sorted(versions.items()))


SOURCE = "src/ftscope/"
LOCK = "requirements.lock"
MISSING = "missing"


def input_names(project: Project, name: str, probe: dict[str, Any]) -> list[str]:
    """What can change a chapter's numbers, as paths from the project root: its notebook, the source files
    of the ``ftscope`` modules its kernel imported, the lock file, and the data manifests (or bundled
    fixtures) it read. Nothing else: an edit to a module the chapter never imports leaves it fresh."""
    names = [f"notebooks/{name}.py", *(SOURCE + m for m in probe["modules"])]
    if (project.root / LOCK).exists():
        names.append(LOCK)
    for corpus, how in probe.get("data", {}).items():
        if how == "manifest":
            names.append(f"data/{corpus}/manifest.json")
        elif (folder := source_tree(project) / "fixtures" / corpus).is_dir():
            names += [f"{SOURCE}fixtures/{corpus}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file()]
    return sorted(set(names))


def input_path(project: Project, key: str) -> Path:
    return source_tree(project) / key[len(SOURCE):] if key.startswith(SOURCE) else project.root / key


def hash_inputs(project: Project, names: list[str]) -> dict[str, str]:
    """``{path: sha256}`` of each input as it is now (``missing`` where the file is gone)."""
    out = {}
    for key in names:
        path = input_path(project, key)
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else MISSING
    return out


def input_digest(inputs: dict[str, str]) -> str:
    h = hashlib.sha256()
    for key, sha in sorted(inputs.items()):
        h.update(f"{key}\0{sha}\0".encode())
    return h.hexdigest()


def changed_inputs(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """The inputs whose hash differs between two readings (``missing`` included)."""
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def cache_key(digest: str, params: dict[str, Any], versions: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(b"inputs\0" + digest.encode())
    h.update(b"params\0" + json.dumps(params, sort_keys=True).encode())
    h.update(b"versions\0" + json.dumps(versions, sort_keys=True).encode())
    return h.hexdigest()


def git_commit(root: Path, paths: list[Path] | None = None) -> str:
    """HEAD's hash, with ``+dirty`` when files differ from it: only ``paths`` (a chapter's inputs) when given,
    so an edit elsewhere in the checkout does not mark a chapter's run as made from uncommitted code."""
    status = ["git", "status", "--porcelain", "--untracked-files=no"]
    if paths is not None:
        inside = [str(p.relative_to(root)) for p in paths if p.is_relative_to(root)]
        status = ["git", "status", "--porcelain", "--untracked-files=all", "--", *inside]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(status, cwd=root, capture_output=True, text=True, check=True)
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


def current_key(project: Project, result: dict[str, Any], params: dict[str, Any],
                versions: dict[str, str]) -> str | None:
    """The cache key the result would have now: its inputs (as listed at its run) hashed again."""
    inputs = result["run"].get("inputs")
    if not inputs:
        return None
    return cache_key(input_digest(hash_inputs(project, list(inputs))), params, versions)


def is_cached(project: Project, preset: str, name: str, params: dict[str, Any], versions: dict[str, str]) -> bool:
    result = load_result(project, preset, name)
    archived = project.results(preset) / f"{name}.ipynb"
    return (bool(result) and archived.exists()
            and current_key(project, result, params, versions) == result["run"]["cache_key"])


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
    result: dict[str, Any] | None = None  # the results file written (executed) or read (cached)


def to_ipynb(py_path: Path, probe: bool = False):
    """Read a jupytext py:percent notebook, check its parameters cell, pin the kernel; with ``probe``, append
    the cell that reports the run's inputs and machine (``ftscope.book.probe``)."""
    import jupytext
    import nbformat

    nb = jupytext.read(py_path)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ConfigError(f"{py_path.name} needs exactly one cell tagged 'parameters', found {len(tagged)}")
    missing = [p for p in REQUIRED_PARAMETERS if not re.search(rf"^{p}\s*=", tagged[0].source, re.M)]
    if missing:
        raise ConfigError(f"{py_path.name}: the parameters cell must define {', '.join(missing)}")
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(probe_mod.CELL_SOURCE,
                                                  metadata={"tags": [probe_mod.CELL_TAG, "remove-cell"]}))
    return nb


def _format_error(err: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        tb = ANSI.sub("", "\n".join(err.traceback))
        return f"cell {err.exec_count}: {err.ename}: {err.evalue}\n{tb}"
    return f"{type(err).__name__}: {err}"


def cell_times(nb) -> list[dict[str, Any]]:
    """Each code cell's execution time (papermill's), with its first line to tell which cell it is."""
    out = []
    for i, cell in enumerate(nb.cells):
        seconds = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.cell_type == "code" and seconds is not None:
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            out.append({"cell": i, "seconds": round(float(seconds), 3), "first_line": first[:80]})
    return out


def execute_one(project: Project, name: str, params: dict[str, Any], versions: dict[str, str],
                timeout: int | None, out_dir: Path | None = None, publish_book: bool = True) -> Outcome:
    """Execute one notebook; on success write its results (into ``out_dir``, ``results/<preset>`` by default),
    on failure keep the last good ones. ``publish_book`` copies the executed notebook to where the book reads
    it and, for the book's own run, writes the chapter's reproduction record."""
    import nbformat
    import papermill

    out_dir = out_dir or project.results(params["preset"])
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = to_ipynb(project.notebooks / f"{name}.py", probe=True)
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
            probed = probe_mod.read(executed)
            if probed is None:
                raise RuntimeError(f"{name} ran but its kernel did not report its inputs (the runner's last cell)")
        except Exception as err:  # keep the last good result; save the failed notebook beside it
            if dst.exists():
                shutil.copyfile(dst, out_dir / f"{name}.failed.ipynb")
            return Outcome(name, "failed", time.perf_counter() - started, _format_error(err))

    duration = float(executed.metadata.get("papermill", {}).get("duration") or time.perf_counter() - started)
    inputs = hash_inputs(project, input_names(project, name, probed))
    digest = input_digest(inputs)
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
            "commit": git_commit(project.root, [input_path(project, k) for k in inputs]),
            "versions": versions,
            "duration_s": duration,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "cache_key": cache_key(digest, params, versions),
            "input_digest": digest,
            "inputs": inputs,
            "machine": probed["machine"],
            "cells": cell_times(executed),
            "checkpoints": probed["checkpoints"],
            "cache": str(project.cache),
            "config": record.get("config", {}),
        },
    }
    validate_result(result)
    nbformat.write(executed, out_dir / f"{name}.ipynb")
    write_atomic(out_dir / f"{name}.json", json.dumps(result, indent=2, sort_keys=True))
    (out_dir / f"{name}.failed.ipynb").unlink(missing_ok=True)
    if publish_book:
        publish(project, params["preset"], name)
        _keep_record(project, result, executed=True)
    return Outcome(name, "executed", duration, claims=record["claims"], result=result)


def _keep_record(project: Project, result: dict[str, Any], executed: bool) -> None:
    """Write the chapter's reproduction record (``ftscope.book.records``) from the book's own run of it: from
    one just executed, always; from a cached result, only where the record is missing or says otherwise (other
    inputs, other claims), so that re-running a fresh book leaves the committed records as they are."""
    from ftscope.book import records

    if records.is_book_run(result):
        old = None if executed else records.load(project, result["notebook"])
        if old is None or old["input_digest"] != result["run"]["input_digest"] or old["claims"] != result["claims"]:
            records.write(project, result)


def run(project: Project, names: list[str] | None = None, *, preset: str = "laptop", device: str = "auto",
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
        if not (force or cached_only) and is_cached(project, preset, name, params, versions):
            publish(project, preset, name)
            result = load_result(project, preset, name)
            _keep_record(project, result, executed=False)
            outcomes.append(Outcome(name, "cached", result["run"]["duration_s"], result=result))
            echo(f"[ftscope] {name}: cached ({preset}, inputs unchanged)")
            continue
        echo(f"[ftscope] {name}: executing at preset={preset} device={device} seed={seed} ...")
        # FTSCOPE_CACHED_ONLY: the kernel trains nothing (train.checkpoints.forbid_training)
        with environ(FTSCOPE_CACHED_ONLY="1") if cached_only else nullcontext():
            outcome = execute_one(project, name, params, versions, timeout)
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
    fresh = is_cached(project, preset, name, params or result["parameters"], versions or installed_versions())
    return ("fresh" if fresh else "stale") + (" (last try failed)" if failed else "")
