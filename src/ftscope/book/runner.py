"""``ftscope run``: jupytext → papermill → executed notebook + ``results/<preset>/<name>.json``.

For each notebook the runner
1. checks the request before any compute: names, preset, device, seed, and the overrides, by building every
   named chapter's config with them in a process of its own (the command imports no torch);
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
   notebook beside them as ``<name>.failed.ipynb``. A run with overrides says so on its page, and is never a
   reproduction record;
5. says what it is doing: each checkpoint event of the kernel (built, read, moved aside, rebuilt) in one line
   as it happens and, when the output is not a terminal, the running cell every 30 s; at the end the verdicts
   and how many checkpoints were reused, trained and rebuilt. Ctrl-C ends with one line: every file is
   written whole or not at all, so the next run resumes from what was built.

A results file is validated when it is read; one that is unreadable or not a results file is moved aside
(one line) and the notebook runs again, except by a read-only caller (``status``), which moves nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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
HEARTBEAT_S = 30.0  # when the output is not a terminal: the running cell, this often
#: the kernel logs only errors: not ipykernel's warning, on every start, that it talks to papermill over TCP on
#: this machine's loopback without encryption
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


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


SEED_LIMIT = 2**32  # numpy's seeds


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"seed must be a non-negative int below 2**32, got {seed!r}")
    return seed


def config_source(py_path: Path) -> tuple[str, str]:
    """What builds a notebook's config: its top-level imports and class definitions (as source), and the
    expression its ``Chapter(NAME, ConfigClass, ...)`` call names the class by."""
    source = py_path.read_text()
    tree, lines = ast.parse(source), source.splitlines()
    setup = ["\n".join(lines[min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1:
                              node.end_lineno])
             for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef))]
    for node in ast.walk(tree):
        func = getattr(node, "func", None)
        if (isinstance(node, ast.Call) and len(node.args) >= 2
                and (getattr(func, "id", None) == "Chapter" or getattr(func, "attr", None) == "Chapter")):
            return "\n".join(setup), ast.get_source_segment(source, node.args[1])
    raise ConfigError(f"{py_path.name} has no Chapter(NAME, ConfigClass, ...) call, so its overrides cannot be checked")


def check_overrides(project: Project, names: list[str], preset: str, overrides: dict[str, Any]) -> None:
    """Build every named chapter's config at ``preset`` with ``overrides``, in a process of its own (configs import
    torch), before anything executes: an unknown field, a wrong type or a value out of range is a
    ``ConfigError`` naming each chapter it fails for."""
    if not overrides:
        return
    request = {"preset": preset, "overrides": overrides,
               "chapters": {name: config_source(project.notebooks / f"{name}.py") for name in names}}
    with environ(FTSCOPE_ROOT=str(project.root)):
        proc = subprocess.run([sys.executable, "-m", "ftscope.book.runner", "check-configs"], input=json.dumps(request),
                              cwd=project.root, capture_output=True, text=True)
    if proc.returncode == 2:
        raise ConfigError("the overrides do not fit every chapter asked for:\n" + proc.stdout.strip())
    if proc.returncode != 0:
        raise ConfigError("could not build the chapters' configs to check the overrides:\n"
                          + (proc.stderr or proc.stdout).strip()[-2000:])


def _check_configs(request: dict[str, Any]) -> int:
    """``python -m ftscope.book.runner check-configs``: build each chapter's config (``check_overrides``); print
    one line per chapter that refuses them; exit 2 when any does."""
    bad = []
    for name, (setup, expression) in request["chapters"].items():
        namespace: dict[str, Any] = {}
        exec(compile(setup, f"<{name} imports>", "exec", dont_inherit=True), namespace)  # noqa: S102 - the notebook's own imports
        config_cls = eval(expression, namespace)  # noqa: S307 - the notebook's own class name
        try:
            config_cls.from_preset(request["preset"], **request["overrides"])
        except ConfigError as err:
            bad.append(f"{name}: {err}")
    print("\n".join(bad))
    return 2 if bad else 0


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


def load_result(project: Project, preset: str, name: str, echo=print, move: bool = True) -> dict[str, Any] | None:
    """The results file of ``name`` at ``preset``, validated; None when there is none, or when it is unreadable
    or not a results file: then it is reported in one line and moved aside, so the notebook runs again (with
    ``move=False``, for a read-only command, it is left where it is)."""
    import jsonschema

    path = result_path(project, preset, name)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        validate_result(doc)
        if missing := [k for k in ("preset", "device", "seed", "overrides") if k not in doc["parameters"]]:
            raise jsonschema.ValidationError(f"its parameters lack {', '.join(missing)}")
        return doc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, jsonschema.ValidationError) as err:
        why = "not a results file" if isinstance(err, jsonschema.ValidationError) else "unreadable"
        what = f"{why} ({type(err).__name__}: {str(err).splitlines()[0][:100]})"
        if not move:
            echo(f"[ftscope] {path.relative_to(project.root)} is {what}; left as it is")
            return None
        aside = path.with_name(f"{path.name}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        os.replace(path, aside)
        echo(f"[ftscope] {path.relative_to(project.root)} is {what}; moved to {aside.name}, the notebook will "
             "run again")
        return None


def current_key(project: Project, result: dict[str, Any], params: dict[str, Any],
                versions: dict[str, str]) -> str | None:
    """The cache key the result would have now: its inputs (as listed at its run) hashed again."""
    inputs = result["run"].get("inputs")
    if not inputs:
        return None
    return cache_key(input_digest(hash_inputs(project, list(inputs))), params, versions)


def is_fresh(project: Project, result: dict[str, Any], params: dict[str, Any], versions: dict[str, str]) -> bool:
    """Whether ``result`` (as ``load_result`` read it) is what running its notebook with ``params`` would give now:
    its executed notebook archived and its inputs, parameters and versions unchanged."""
    archived = project.results(result["preset"]) / f"{result['notebook']}.ipynb"
    return archived.exists() and current_key(project, result, params, versions) == result["run"]["cache_key"]


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


def running_cell(nb_path: Path) -> str:
    """``"cell 8 of 20 (first line)"``: the cell papermill marks running in the notebook it saves as it goes
    ('' when it cannot tell)."""
    try:
        cells = [c for c in json.loads(nb_path.read_text())["cells"] if c.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    for i, cell in enumerate(cells, 1):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            first = next((line.strip() for line in source.splitlines() if line.strip()), "")
            return f"cell {i} of {len(cells)} ({first[:60]})"
    return ""


class Watch(threading.Thread):
    """While a notebook runs: each checkpoint event its kernel appends to ``events`` (``train.checkpoints``), one
    line as it happens; with ``heartbeat_s``, the running cell that often."""

    def __init__(self, name: str, events: Path, notebook: Path, echo, heartbeat_s: float | None):
        super().__init__(daemon=True)
        self.name_, self.events, self.notebook, self.echo, self.heartbeat_s = name, events, notebook, echo, heartbeat_s
        self.done = threading.Event()
        self.read_to = 0
        self.started = time.monotonic()
        self.where = ""

    def _drain(self) -> None:
        try:
            with open(self.events, "rb") as f:
                f.seek(self.read_to)
                chunk = f.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.read_to += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            self.echo(f"[ftscope] {self.name_}: checkpoint {line}")

    def run(self) -> None:
        beat = time.monotonic()
        while not self.done.wait(0.5):
            self._drain()
            if self.heartbeat_s is not None and time.monotonic() - beat >= self.heartbeat_s:
                beat = time.monotonic()
                self.where = running_cell(self.notebook) or self.where  # '' while papermill rewrites the file
                where = self.where or "its first cell"
                self.echo(f"[ftscope] {self.name_}: running {where}, {beat - self.started:.0f} s so far")
        self._drain()

    def stop(self) -> None:
        self.done.set()
        self.join()


def overrides_banner(params: dict[str, Any]):
    """The note a page run with overrides carries below its title: it is not the preset's reproduction."""
    import nbformat

    text = ", ".join(f"`{k}={v!r}`" for k, v in sorted(params["overrides"].items()))
    return nbformat.v4.new_markdown_cell(
        f"```{{warning}}\nThis page was run with overrides ({text}) at preset `{params['preset']}`: its numbers are "
        "not the preset's reproduction, and the book's build and verdict gate refuse it unless asked "
        "(`--allow-overrides`).\n```", metadata={"tags": ["ftscope-overrides"]})


def execute_one(project: Project, name: str, params: dict[str, Any], versions: dict[str, str],
                timeout: int | None, out_dir: Path | None = None, publish_book: bool = True,
                echo=print) -> Outcome:
    """Execute one notebook; on success write its results (into ``out_dir``, ``results/<preset>`` by default),
    on failure keep the last good ones. ``publish_book`` copies the executed notebook to where the book reads
    it and, for the book's own run, writes the chapter's reproduction record."""
    import nbformat
    import papermill

    out_dir = out_dir or project.results(params["preset"])
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = to_ipynb(project.notebooks / f"{name}.py", probe=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{name}-") as tmp:
        src, dst, events = Path(tmp) / f"{name}.input.ipynb", Path(tmp) / f"{name}.ipynb", Path(tmp) / "events"
        (Path(tmp) / OWNER).write_text(str(os.getpid()))  # so that `ftscope clean-cache` knows it in use
        nbformat.write(nb, src)
        watch = Watch(name, events, dst, echo, None if sys.stderr.isatty() else HEARTBEAT_S)
        watch.start()
        try:
            with environ(FTSCOPE_RUNNER="1", FTSCOPE_ROOT=str(project.root), FTSCOPE_EVENTS=str(events)):
                papermill.execute_notebook(
                    str(src), str(dst), parameters=params, kernel_name=KERNEL, cwd=str(project.root),
                    progress_bar=sys.stderr.isatty(), log_output=False, execution_timeout=timeout,
                    extra_arguments=KERNEL_ARGUMENTS,
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
        finally:
            watch.stop()

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
            "data": probed.get("data", {}),
        },
    }
    if params["overrides"]:
        title = 1 if executed.cells and executed.cells[0].cell_type == "markdown" else 0
        executed.cells.insert(title, overrides_banner(params))
    try:
        validate_result(result)
        write_atomic(out_dir / f"{name}.ipynb", nbformat.writes(executed))
        write_atomic(out_dir / f"{name}.json", json.dumps(result, indent=2, sort_keys=True))
        (out_dir / f"{name}.failed.ipynb").unlink(missing_ok=True)
        if publish_book:
            publish(project, params["preset"], name)
            _keep_record(project, result, executed=True)
    except Exception as err:  # noqa: BLE001 - the run's own results could not be written: say so, as a failure
        return Outcome(name, "failed", duration, f"the run succeeded but its results could not be written: "
                                                 f"{type(err).__name__}: {err}")
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
    check_overrides(project, names, preset, params["overrides"])
    versions = installed_versions()
    outcomes: list[Outcome] = []
    try:
        _run_each(project, names, params, versions, force, timeout, cached_only, outcomes, echo)
    except KeyboardInterrupt:
        echo(f"\n[ftscope] interrupted{f' during {names[len(outcomes)]}' if len(outcomes) < len(names) else ''}: the "
             "cache is intact (every checkpoint and result is written whole or not at all) and the last good results "
             "are kept; the next run resumes from the checkpoints already built")
        raise
    echo(timing_report(outcomes))
    echo(summary(outcomes))
    return outcomes


def _run_each(project: Project, names: list[str], params: dict[str, Any], versions: dict[str, str], force: bool,
              timeout: int | None, cached_only: bool, outcomes: list[Outcome], echo) -> None:
    preset, device, seed = params["preset"], params["device"], params["seed"]
    for name in names:
        result = None if force or cached_only else load_result(project, preset, name, echo=echo)
        if result is not None and is_fresh(project, result, params, versions):
            publish(project, preset, name)
            _keep_record(project, result, executed=False)
            outcomes.append(Outcome(name, "cached", result["run"]["duration_s"], result=result))
            echo(f"[ftscope] {name}: cached ({preset}, inputs unchanged)")
            continue
        echo(f"[ftscope] {name}: executing at preset={preset} device={device} seed={seed} ...")
        # FTSCOPE_CACHED_ONLY: the kernel trains nothing (train.checkpoints.forbid_training)
        with environ(FTSCOPE_CACHED_ONLY="1") if cached_only else nullcontext():
            outcome = execute_one(project, name, params, versions, timeout, echo=echo)
        outcomes.append(outcome)
        if outcome.status == "failed":
            echo(f"[ftscope] {name}: FAILED after {outcome.seconds:.1f}s\n{outcome.error}")
            echo(f"[ftscope] kept the last good result; the failed notebook is "
                 f"{project.results(preset) / (name + '.failed.ipynb')}")
        else:
            echo(f"[ftscope] {name}: done in {outcome.seconds:.1f}s")


def summary(outcomes: list[Outcome]) -> str:
    """The run in two lines: the verdicts of the claims of the notebooks it executed or found fresh, and what the
    executed ones did with their checkpoints (reused from the cache, trained, damaged and rebuilt)."""
    claims = [c for o in outcomes if o.result for c in o.result["claims"]]
    verdicts: dict[str, int] = {}
    for c in claims:
        verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
    touched: dict[str, int] = {}
    for o in outcomes:
        if o.status == "executed" and o.result:
            for how in o.result["run"].get("checkpoints", {}).values():
                touched[how] = touched.get(how, 0) + 1
    failed = sum(o.status == "failed" for o in outcomes)
    return (f"[ftscope] {len(claims)} claims: " + (", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "none")
            + (f"; {failed} notebook(s) failed" if failed else "") + "\n"
            + f"[ftscope] checkpoints: {touched.get('read', 0)} reused, {touched.get('built', 0)} trained, "
            + f"{touched.get('rebuilt', 0)} rebuilt after damage")


TEMP_PREFIX = "ftscope-"  # the runner's temporary folders (and the spot check's: ftscope-spot-check-...)
OWNER = "pid"  # in each: the process using it
STALE_TEMP_S = 3600.0  # a half-written temporary file older than this belongs to a process that was killed


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def leftovers(project: Project) -> dict[str, list[Path]]:
    """What killed or damaged runs leave behind: ``aside`` (checkpoints and results moved aside as damaged,
    ``*.corrupt-*``), ``temporary`` (half-written ``*.tmp`` files older than an hour, and the runner's temporary
    folders whose process is gone). Nothing a live run is using."""
    now = time.time()
    roots = [project.cache, project.root / "results", project.root / "book" / "records"]
    aside, temporary = [], []
    for root in (r for r in roots if r.is_dir()):
        for path in root.rglob("*"):
            if ".corrupt-" in path.name and path.is_file():
                aside.append(path)
            elif path.name.endswith(".tmp") and path.is_file() and now - path.stat().st_mtime > STALE_TEMP_S:
                temporary.append(path)
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        owner = folder / OWNER
        if folder.is_dir() and (not _alive(owner) if owner.exists() else now - folder.stat().st_mtime > STALE_TEMP_S):
            temporary.append(folder)
    return {"aside": sorted(aside), "temporary": sorted(temporary)}


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def leftovers_line(project: Project) -> str:
    """One line on ``leftovers``, or '' when there are none."""
    found = leftovers(project)
    n = sum(map(len, found.values()))
    if not n:
        return ""
    size = sum(_size(p) for paths in found.values() for p in paths)
    return (f"{len(found['aside'])} damaged file(s) set aside and {len(found['temporary'])} leftover(s) of interrupted "
            f"runs ({size / 1e6:.1f} MB): `ftscope clean-cache` removes them")


def clean_cache(project: Project, echo=print) -> int:
    """``ftscope clean-cache``: remove ``leftovers``; say what went."""
    found = leftovers(project)
    total = 0
    for kind, paths in found.items():
        for path in paths:
            total += _size(path)
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            echo(f"[clean-cache] removed {kind}: {path}")
    echo(f"[clean-cache] {sum(map(len, found.values()))} removed ({total / 1e6:.1f} MB); every checkpoint and "
         "result in use is kept")
    return 0


def timing_report(outcomes: list[Outcome]) -> str:
    lines = ["", f"{'notebook':<32} {'outcome':<9} {'seconds':>8}"]
    lines += [f"{o.name:<32} {o.status:<9} {o.seconds:>8.1f}" for o in outcomes]
    ran = sum(o.seconds for o in outcomes if o.status != "cached")
    lines.append(f"{'executed now (total)':<42} {ran:>8.1f}")
    return "\n".join(lines)


def overrides_text(result: dict[str, Any]) -> str:
    """``"lr=0.1, steps=5"``: the overrides a result was run with ('' for none)."""
    return ", ".join(f"{k}={v!r}" for k, v in sorted(result["parameters"].get("overrides", {}).items()))


def state(project: Project, preset: str, name: str, versions: dict[str, str] | None = None,
          params: dict[str, Any] | None = None) -> str:
    """``fresh`` (cache hit), ``stale`` (inputs changed), ``failed`` (last try failed), ``missing``, ``invalid``
    (not a results file); ``with overrides: ...`` when the result was not made with the preset's values. Reads
    only: a damaged file is left where it is."""
    path = result_path(project, preset, name)
    result = load_result(project, preset, name, echo=lambda _: None, move=False)
    failed = (project.results(preset) / f"{name}.failed.ipynb").exists()
    if result is None:
        return "invalid" if path.exists() else "failed" if failed else "missing"
    fresh = is_fresh(project, result, params or result["parameters"], versions or installed_versions())
    extra = f" (with overrides: {text})" if (text := overrides_text(result)) else ""
    return ("fresh" if fresh else "stale") + extra + (" (last try failed)" if failed else "")


if __name__ == "__main__":  # ``check_overrides``' own process
    if sys.argv[1:] != ["check-configs"]:
        raise SystemExit("usage: python -m ftscope.book.runner check-configs < request.json")
    sys.exit(_check_configs(json.loads(sys.stdin.read())))
