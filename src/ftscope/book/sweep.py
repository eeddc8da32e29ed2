"""``ftscope sweep``: a chapter's training cells as jobs on a cluster (submitit: Slurm, or local processes),
filling the checkpoint cache the notebook then reads.

Each paper's ``cells`` module declares, per chapter, the jobs that build its cells (``train.cells.Job``: one
cell, or cells trained together as the notebook trains them), with the builders the notebook itself calls;
``ftscope.sweep`` gathers them. A sweep

1. declares the chapters' jobs and keeps those with a cell not in the cache (a job shared by two chapters,
   say chapter 03's pretrainings that chapter 04 starts from, once);
2. orders them in waves by their dependencies (a fine-tune after its base) and submits each wave: with
   ``--executor slurm`` every wave at once as a job array that starts after the previous wave's array
   succeeded (``afterok``), with ``--executor local`` as local processes, ``parallel`` at a time;
3. follows the jobs (a progress bar over jobs), reports a failed job with its log files and does not submit
   what depends on it (the sweep exits non-zero);
4. declares again and repeats while the declarations say more cells become known once these are cached
   (a learning rate chosen from a grid's results, an SAE keyed by its model's weights).

A job re-declares its chapter's cells in its own process and builds the one it was sent (by checkpoint name:
if the code changed since it was submitted, the names differ and the job fails with a clear error). It writes
through the cache's atomic writes and locks (``train.checkpoints``): two jobs never build one cell at once (the
second waits for the lock and reads the first's checkpoint). A sweep that is interrupted and run again
submits only what is still missing: a cell that is cached is skipped, one whose lock is held is being built
and is waited for, one whose Slurm job (recorded under ``<cache>/sweeps/``) is still queued is not submitted
again. Set ``FTSCOPE_CACHE`` to a folder on the cluster's shared file system (one that supports ``flock``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ftscope.config import ConfigError, check_choice
from ftscope.paths import Project, write_atomic
from ftscope.train.checkpoints import is_locked

EXECUTORS = ("local", "slurm")
ALIVE = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "UNKNOWN")
MAX_ROUNDS = 6


# ------------------------------------------------------------------------------------ Slurm options
@dataclass
class SlurmOptions:
    """What every Slurm job of a sweep asks for (``sbatch`` options, through submitit's ``SlurmExecutor``)."""

    partition: str | None = None
    gpus_per_node: int | None = 1
    cpus_per_task: int | None = 8
    mem_gb: float | None = 32
    time_min: int = 24 * 60
    account: str | None = None
    qos: str | None = None
    array_parallelism: int = 64  # jobs of one array running at once
    setup: list[str] = field(default_factory=list)  # shell lines before the job (module load, source venv)
    extra: dict[str, Any] = field(default_factory=dict)  # any other sbatch option, e.g. {"constraint": "h100"}

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_file(cls, path: Path) -> SlurmOptions:
        """Options from a YAML file of this class's fields (an unknown key names the valid ones)."""
        import yaml

        if not path.exists():
            raise ConfigError(f"--slurm-config {path}: no such file")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: give a mapping of Slurm options ({', '.join(cls.names())})")
        return cls().updated(data, str(path))

    def updated(self, values: dict[str, Any], where: str = "the command line") -> SlurmOptions:
        out = SlurmOptions(**{f: getattr(self, f) for f in self.names()})
        for key, value in values.items():
            if value is None:
                continue
            check_choice(f"Slurm option (in {where})", key, self.names())
            setattr(out, key, value)
        if out.time_min <= 0 or out.array_parallelism <= 0:
            raise ConfigError("time_min and array_parallelism must be positive")
        return out

    def executor_parameters(self) -> dict[str, Any]:
        """The parameters of ``SlurmExecutor.update_parameters``."""
        params = {"time": int(self.time_min), "array_parallelism": self.array_parallelism,
                  "partition": self.partition, "gpus_per_node": self.gpus_per_node,
                  "cpus_per_task": self.cpus_per_task, "account": self.account, "qos": self.qos,
                  "mem": None if self.mem_gb is None else f"{int(self.mem_gb)}GB",
                  "setup": list(self.setup) or None,
                  # a job whose wave failed is cancelled, not left pending for ever
                  "additional_parameters": {"kill-on-invalid-dep": "yes", **self.extra}}
        return {k: v for k, v in params.items() if v is not None}


# ------------------------------------------------------------------------------------ what to run
@dataclass
class Planned:
    """One job of a sweep: the chapter that declared it, the checkpoint names of its cells, which of them are
    cached, the checkpoints its cells start from, and its estimated cost (seconds on one H100, or None)."""

    chapter: str
    job: Any  # train.cells.Job
    paths: tuple[Path, ...]  # its cells' checkpoints
    cached: tuple[bool, ...]
    deps: frozenset[str]
    seconds: float | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.paths)

    @property
    def done(self) -> bool:
        return all(self.cached)

    @property
    def label(self) -> str:
        if len(self.names) > 3:  # a grid trained together: its first cell and how many
            return f"{short(self.names[0])} + {len(self.names) - 1} more"
        return " + ".join(short(n) for n in self.names)

    @property
    def todo_seconds(self) -> float | None:
        """The estimated cost of the cells not cached."""
        missing = sum(not c for c in self.cached)
        return None if self.seconds is None else self.seconds * missing / len(self.names)


def short(name: str) -> str:
    """``horn-base@3f2a1c`` for the checkpoint ``horn-base-3f2a1c....pt``: the cell's name and its key's start."""
    stem, key = name.removesuffix(".pt").rsplit("-", 1)
    return f"{stem}@{key[:6]}"


@dataclass
class Round:
    jobs: list[Planned]
    later: list[tuple[str, str]]  # (chapter, what is declared later)
    inline: list[tuple[str, str]]  # (chapter, what the notebook trains itself)


def per_run_seconds(works: Iterable[Any]) -> dict[tuple[str, str], float]:
    """``{(chapter number, Work.what): estimated seconds of one run}`` from the performance plan."""
    return {(w.chapter, w.what): w.seconds() / max(1, w.runs) for w in works}


def estimate(chapter: str, job, costs: dict[tuple[str, str], float]) -> float | None:
    """A job's estimated cost: for each cell, the plan's per-run time of each of its ``work`` rows."""
    number = chapter.split("_", 1)[0]
    rows = [costs.get((number, what)) for what in job.work]
    if not rows or None in rows:
        return None
    return len(job.cells) * sum(rows)


def plan_round(project: Project, chapters: list[str], declare: Callable, preset: str, seed: int, device: str,
               overrides: dict[str, Any], costs: dict) -> Round:
    """Every chapter's jobs as declared now (a job two chapters share, once)."""
    jobs: dict[tuple[Path, ...], Planned] = {}
    later, inline = [], []
    for chapter in chapters:
        declared = declare(chapter, preset, seed, device, overrides)
        later += [(chapter, w) for w in declared.later]
        inline += [(chapter, w) for w in declared.inline]
        for job in declared.jobs:
            paths = tuple(job.paths(project))
            if paths not in jobs:
                jobs[paths] = Planned(chapter, job, paths, tuple(p.exists() for p in paths), frozenset(job.deps(project)),
                                      estimate(chapter, job, costs))
    return Round(list(jobs.values()), later, inline)


def waves(jobs: list[Planned], cached: set[str]) -> list[list[Planned]]:
    """The jobs with a cell not in ``cached`` (checkpoint names) in dependency order: a wave's jobs start from
    cached cells or earlier waves' cells."""
    todo = [j for j in jobs if not set(j.names) <= cached]
    made = {n: j for j in todo for n in j.names}
    for j in todo:
        unknown = sorted(d for d in j.deps if d not in cached and d not in made)
        if unknown:
            raise ConfigError(f"{j.label} ({j.chapter}) starts from {', '.join(unknown)}, which no declared job "
                              "builds: the chapter's declaration is incomplete")
    out, ready = [], set(cached)
    while todo:
        wave = [j for j in todo if all(d in ready for d in j.deps)]
        if not wave:
            raise ConfigError("the declared jobs depend on each other in a cycle: "
                              + ", ".join(j.label for j in todo))
        out.append(wave)
        ready |= {n for j in wave for n in j.names}
        todo = [j for j in todo if j not in wave]
    return out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def describe(rnd: Round, preset: str) -> str:
    """The dry run's listing: every job, whether it is cached, what it starts from, its estimated cost."""
    lines = [f"{'chapter':<24} {'cells':<44} {'state':<8} {'est. H100':>9}  starts from"]
    for j in rnd.jobs:
        state = "cached" if j.done else ("partly" if any(j.cached) else "missing")
        deps = ", ".join(sorted(short(d) for d in j.deps)) or "–"
        lines.append(f"{j.chapter:<24} {j.label:<44} {state:<8} {_duration(j.seconds):>9}  {deps}")
    missing = [j for j in rnd.jobs if not j.done]
    known = [j.todo_seconds for j in missing if j.todo_seconds is not None]
    lines.append(f"{len(rnd.jobs)} jobs ({sum(len(j.names) for j in rnd.jobs)} cells): {len(rnd.jobs) - len(missing)} "
                 f"cached, {len(missing)} to run, estimated {_duration(sum(known))} on one H100 at the plan's "
                 f"assumptions for preset {preset!r}" + (f" ({len(missing) - len(known)} without an estimate)"
                                                           if len(known) < len(missing) else ""))
    lines += [f"later ({c}): {w}" for c, w in rnd.later]
    lines += [f"in the notebook ({c}): {w}" for c, w in rnd.inline]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ in flight
class Ledger:
    """``<cache>/sweeps/jobs.json``: the Slurm job that was sent to build each checkpoint, so a sweep run again
    does not queue a cell a second time while its job is still queued or running."""

    def __init__(self, project: Project):
        self.path = project.cache / "sweeps" / "jobs.json"

    def read(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):  # none yet, or a corrupt file: start afresh
            return {}

    def record(self, entries: dict[str, dict]) -> None:
        """Add ``{checkpoint name: its job}`` (one read and one write for a whole wave)."""
        write_atomic(self.path, json.dumps(self.read() | entries, indent=1, sort_keys=True))

    def queued(self, names: Iterable[str]) -> dict | None:
        """The recorded Slurm job of any of ``names`` that is still alive, or None."""
        data = self.read()
        for name in names:
            entry = data.get(name)
            if entry and entry.get("executor") == "slurm" and slurm_state(entry) in ALIVE:
                return entry
        return None


def slurm_state(entry: dict) -> str:
    import submitit

    try:
        return submitit.SlurmJob(folder=entry["folder"], job_id=entry["job_id"]).state
    except Exception:  # noqa: BLE001 - sacct missing or the job forgotten: treat it as gone
        return "GONE"


# ------------------------------------------------------------------------------------ running
@dataclass
class Failure:
    job: Planned
    job_id: str
    log: str
    error: str


def make_executor(kind: str, folder: Path, slurm: SlurmOptions | None = None, python: str | None = None):
    """submitit's executor for ``kind``: Slurm (``sbatch`` with ``slurm``'s options), or local processes."""
    import submitit

    check_choice("executor", kind, EXECUTORS)
    if kind == "slurm":
        executor = submitit.SlurmExecutor(folder=str(folder), python=python)
        executor.update_parameters(**(slurm or SlurmOptions()).executor_parameters())
    else:
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=7 * 24 * 60)
    return executor


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _failure(planned: Planned, job) -> Failure:
    try:
        err = job.stderr() or ""
    except Exception:  # noqa: BLE001 - the log may be missing
        err = ""
    try:
        job.result()
        why = "the job ended without building its cells"
    except Exception as exc:  # noqa: BLE001 - a failed job's exception, reported
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    return Failure(planned, str(job.job_id), str(job.paths.stderr), why + ("\n" + _tail(err) if err else ""))


def _reap(running: list[tuple[Planned, Any]], bar) -> list[Failure]:
    """Take the ended jobs off ``running`` (a tick of ``bar`` each); the failures among them. A job succeeded
    when it ended FINISHED (local) or COMPLETED (Slurm) without an exception."""
    failures = []
    for planned, job in [r for r in running if r[1].done()]:
        running.remove((planned, job))
        bar.update(1)
        if job.state not in ("COMPLETED", "FINISHED") or job.exception() is not None:
            failures.append(_failure(planned, job))
    return failures


@dataclass
class Sweep:
    """One ``ftscope sweep``'s request; ``run()`` does it."""

    project: Project
    chapters: list[str]
    declare: Callable  # (chapter, preset, seed, device, overrides) -> train.cells.Declared
    target: Callable  # the job function: target(chapter, preset, seed, device, overrides, names, root, cache)
    preset: str = "laptop"
    seed: int = 0
    device: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"
    parallel: int = 2
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    wait: bool = True
    costs: dict = field(default_factory=dict)
    folder: Path | None = None  # the jobs' logs (default <cache>/sweeps/logs)
    poll_s: float = 1.0
    echo: Callable[[str], None] = print

    def __post_init__(self):
        check_choice("executor", self.executor, EXECUTORS)
        if self.parallel < 1:
            raise ConfigError(f"--parallel {self.parallel}: run at least one job at a time")
        if self.executor == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
            raise ConfigError("--executor slurm: no sbatch and srun on PATH; run the sweep on a Slurm login node, "
                              "or use --executor local")
        if self.executor == "local" and not self.wait:
            raise ConfigError("--no-wait is for --executor slurm (local jobs end with the sweep)")
        self.folder = Path(self.folder or self.project.cache / "sweeps" / "logs")
        self.ledger = Ledger(self.project)
        self.submitted: list[Planned] = []  # every job this sweep submitted, in order

    # -- one round's bookkeeping
    def plan(self) -> Round:
        return plan_round(self.project, self.chapters, self.declare, self.preset, self.seed, self.device,
                          self.overrides, self.costs)

    def _args(self, planned: Planned) -> tuple:
        return (planned.chapter, self.preset, self.seed, self.device, self.overrides, list(planned.names),
                str(self.project.root), str(self.project.cache))

    def run(self) -> int:
        """Sweep until every declared cell is cached (0), a job failed (1), or, with ``wait=False``, the
        first round is queued (0)."""
        for number in range(1, MAX_ROUNDS + 1):
            rnd = self.plan()
            cached = {n for j in rnd.jobs for n, c in zip(j.names, j.cached) if c}
            todo = waves(rnd.jobs, cached)
            n_todo = sum(len(w) for w in todo)
            self.echo(f"[sweep] round {number}: {len(rnd.jobs)} jobs declared, {len(rnd.jobs) - n_todo} cached, "
                      f"{n_todo} to run in {len(todo)} waves ({self.executor})")
            if not todo:
                if rnd.later:
                    raise ConfigError("nothing to run, yet cells are declared later: "
                                      + "; ".join(f"{c}: {w}" for c, w in rnd.later))
                for c, w in rnd.inline:
                    self.echo(f"[sweep] left to the notebook ({c}): {w}")
                self.echo("[sweep] every declared cell is cached: `ftscope run` finds them there")
                return 0
            failures = self._run_waves(todo)
            if failures:
                for f in failures:
                    self.echo(f"[sweep] FAILED job {f.job_id} ({f.job.chapter}: {f.job.label})\n"
                              f"  log: {f.log}\n  {f.error.replace(chr(10), chr(10) + '  ')}")
                self.echo(f"[sweep] {len(failures)} job(s) failed; what depends on them was not submitted. "
                          "Run the sweep again once fixed: only missing cells are submitted.")
                return 1
            if not self.wait:
                self.echo(f"[sweep] queued; logs in {self.folder}. Run the same command again to follow the jobs, "
                          "resubmit failed ones and declare the next round.")
                return 0
        raise RuntimeError(f"the sweep did not settle in {MAX_ROUNDS} rounds")

    def _run_waves(self, todo: list[list[Planned]]) -> list[Failure]:
        from tqdm.auto import tqdm

        if self.executor == "slurm":
            return self._slurm(todo, tqdm)
        failures: list[Failure] = []
        blocked: set[str] = set()
        with tqdm(total=sum(len(w) for w in todo), desc="sweep jobs", unit="job", file=sys.stderr) as bar:
            for wave in todo:
                wave = [j for j in wave if not (j.deps & blocked)]
                failures += self._local_wave(wave, bar)
                blocked |= {n for f in failures for n in f.job.names}
        return failures

    def _elsewhere(self, planned: Planned) -> bool:
        """Whether another process is building ``planned``'s cells now (their lock is held)."""
        return any(is_locked(p) for p in planned.paths)

    def _wait_elsewhere(self, planned: Planned) -> None:
        self.echo(f"[sweep] {planned.label}: being built by another process; waiting for it")
        while self._elsewhere(planned):
            time.sleep(self.poll_s)

    def _local_wave(self, wave: list[Planned], bar) -> list[Failure]:
        executor = make_executor("local", self.folder)
        pending, running, failures = list(wave), [], []
        while pending or running:
            while pending and len(running) < self.parallel:
                planned = pending.pop(0)
                if self._elsewhere(planned):
                    self._wait_elsewhere(planned)
                    if all(p.exists() for p in planned.paths):
                        bar.update(1)
                        continue
                job = executor.submit(self.target, *self._args(planned))
                self.submitted.append(planned)
                self.echo(f"[sweep] submitted {planned.label} ({planned.chapter}) as local job {job.job_id}")
                running.append((planned, job))
            time.sleep(self.poll_s)
            failures += _reap(running, bar)
        return failures

    def _slurm(self, todo: list[list[Planned]], tqdm) -> list[Failure]:
        """Every wave as one array (``executor.batch()``), each after the previous wave's (``afterok``)."""
        executor = make_executor("slurm", self.folder, self.slurm)
        executor.update_parameters(job_name=f"ftscope-{self.preset}")
        submitted: list[tuple[Planned, Any]] = []
        previous: list[str] = []
        for wave in todo:
            fresh = []
            for planned in wave:
                entry = self.ledger.queued(planned.names)
                if entry is not None:
                    self.echo(f"[sweep] {planned.label}: Slurm job {entry['job_id']} is still queued or running")
                    previous.append(str(entry["job_id"]).split("_")[0])
                else:
                    fresh.append(planned)
            if not fresh:
                continue
            deps = sorted(set(previous))
            executor.update_parameters(dependency=f"afterok:{':'.join(deps)}" if deps else None)
            with executor.batch():
                jobs = [executor.submit(self.target, *self._args(p)) for p in fresh]
            self.ledger.record({n: {"executor": "slurm", "job_id": job.job_id, "folder": str(self.folder),
                                    "submitted": time.time()} for planned, job in zip(fresh, jobs) for n in planned.names})
            submitted += zip(fresh, jobs)
            self.submitted += fresh
            previous = [jobs[0].job_id.split("_")[0]]
            self.echo(f"[sweep] wave of {len(fresh)} jobs: Slurm array {previous[0]}"
                      + (f", after {', '.join(deps)}" if deps else ""))
        if not self.wait:
            return []
        failures = []
        with tqdm(total=len(submitted), desc="sweep jobs", unit="job", file=sys.stderr) as bar:
            running = list(submitted)
            while running:
                time.sleep(self.poll_s)
                failures += _reap(running, bar)
        return failures
