"""``python -m ftscope.sweep``: every chapter's trainable cells (each paper's ``cells`` module) as submitit jobs
(``book.sweep`` runs them); ``ftscope sweep`` runs this in a process of its own (the command imports no torch).
``build_cells`` is what each job runs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ftscope.book.sweep import EXECUTORS, SlurmOptions, Sweep, describe, per_run_seconds
from ftscope.config import DEVICES, PRESETS, ConfigError, check_choice, check_device, check_preset, parse_assignments
from ftscope.horn.cells import CHAPTERS as HORN
from ftscope.jain.cells import CHAPTERS as JAIN
from ftscope.paths import Project, environ
from ftscope.synthesis.training import CHAPTERS as SYNTHESIS
from ftscope.zhang.cells import CHAPTERS as ZHANG

#: chapter -> its declaration; 01 compiles its models exactly (nothing to train)
CHAPTERS = {"01_tracr_compiled": None, **JAIN, **ZHANG, **HORN, **SYNTHESIS}


def declare(chapter: str, preset: str, seed: int, device, overrides: dict[str, Any]):
    """The chapter's ``train.cells.Declared`` (none for a chapter that trains nothing). A device given by name
    (``auto``) is resolved here: a declaration that reads cached models (the SAEs' keys are their models'
    weights) loads them onto it."""
    from ftscope.config import resolve_device
    from ftscope.train.cells import Declared

    check_choice("chapter", chapter, list(CHAPTERS))
    fn = CHAPTERS[chapter]
    device = resolve_device(device) if isinstance(device, str) else device
    return Declared([]) if fn is None else fn(preset, seed, device, overrides)


def build_cells(chapter: str, preset: str, seed: int, device: str, overrides: dict[str, Any], names: list[str],
                root: str, cache: str) -> dict[str, Any]:
    """One sweep job: declare ``chapter``'s cells again and build the job whose checkpoints are ``names``."""
    from ftscope.config import resolve_device
    from ftscope.train.seeding import seed_everything

    with environ(FTSCOPE_ROOT=root, FTSCOPE_CACHE=cache):
        seed_everything(seed)  # as the notebook's Chapter does
        dev = resolve_device(device)
        project = Project.here()
        jobs = {tuple(p.name for p in job.paths(project)): job for job in declare(chapter, preset, seed, dev,
                                                                                  overrides).jobs}
        job = jobs.get(tuple(names))
        if job is None:
            raise RuntimeError(f"{chapter} no longer declares a job building {', '.join(names)}: the code or the "
                               "settings changed since the sweep submitted it; run the sweep again")
        start = time.time()
        cached = job.run(project)
        return {"chapter": chapter, "names": names, "built": [n for n, c in zip(names, cached) if not c],
                "seconds": time.time() - start, "device": str(dev)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ftscope sweep", description="Train a chapter's cells as jobs (submitit), "
                                "filling the cache its notebook reads.")
    p.add_argument("names", nargs="*", metavar="NAME", help="chapters (default: all)")
    p.add_argument("--preset", default="laptop", choices=PRESETS)
    p.add_argument("--device", default="auto", choices=DEVICES, help="the device each job trains on")
    p.add_argument("--seed", default=0, type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one field of the chapters' configs (repeatable), as `ftscope run --set`")
    p.add_argument("--executor", default="local", choices=EXECUTORS)
    p.add_argument("--parallel", type=int, default=2, help="local jobs at once (--executor local)")
    p.add_argument("--dry-run", action="store_true", help="list the cells, which are cached, the estimated cost")
    p.add_argument("--no-wait", dest="wait", action="store_false",
                   help="Slurm: queue the first round and exit (run the command again to follow and go on)")
    p.add_argument("--slurm-config", default=None, help="a YAML file of Slurm options (the flags below win)")
    p.add_argument("--logs", default=None, help="the jobs' log folder (default <cache>/sweeps/logs)")
    g = p.add_argument_group("Slurm options")
    g.add_argument("--partition")
    g.add_argument("--gpus-per-node", dest="gpus_per_node", type=int)
    g.add_argument("--cpus-per-task", dest="cpus_per_task", type=int)
    g.add_argument("--mem-gb", dest="mem_gb", type=float)
    g.add_argument("--time-min", dest="time_min", type=int)
    g.add_argument("--account")
    g.add_argument("--qos")
    g.add_argument("--array-parallelism", dest="array_parallelism", type=int)
    return p


def make_sweep(args: argparse.Namespace, project: Project, echo=print) -> Sweep:
    """The checked request (every check before any compute)."""
    check_preset(args.preset)
    check_device(args.device)
    names = args.names or [c for c, fn in CHAPTERS.items() if fn is not None]
    for name in names:
        check_choice("chapter", name, list(CHAPTERS))
    slurm = SlurmOptions.from_file(Path(args.slurm_config)) if args.slurm_config else SlurmOptions()
    slurm = slurm.updated({k: getattr(args, k) for k in ("partition", "gpus_per_node", "cpus_per_task", "mem_gb",
                                                         "time_min", "account", "qos", "array_parallelism")})
    from ftscope.bench import works

    return Sweep(project, names, declare, build_cells, preset=args.preset, seed=args.seed, device=args.device,
                 overrides=parse_assignments(args.overrides), executor=args.executor, parallel=args.parallel,
                 slurm=slurm, wait=args.wait, costs=per_run_seconds(works(args.preset)),
                 folder=args.logs, echo=echo)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        sweep = make_sweep(args, Project.here())
        if args.dry_run:
            print(describe(sweep.plan(), args.preset))
            return 0
        return sweep.run()
    except ConfigError as err:
        print(f"ftscope: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
