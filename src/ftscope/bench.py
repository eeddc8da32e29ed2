"""``python -m ftscope.bench``: every paper's training loops timed against the machine's matmul
peak (``book.bench`` measures; ``jain.bench``, ``zhang.bench``, ``horn.bench`` and ``synthesis.training``
say what to run); with ``--plan``, every chapter's training counted and its time on one H100 estimated
(``book.bench.plan``).
``ftscope bench`` and ``ftscope plan`` run this in a process of their own, so the command itself
imports no torch."""

from __future__ import annotations

import argparse
import sys

from ftscope.book.bench import UTILISATION, bench, plan
from ftscope.config import DEVICES, PRESETS
from ftscope.horn import bench as horn_bench
from ftscope.jain import bench as jain_bench
from ftscope.paths import Project
from ftscope.synthesis import training as synthesis_training
from ftscope.zhang import bench as zhang_bench


def loops(preset: str, device):
    yield from jain_bench.loops(preset, device)
    yield from zhang_bench.loops(preset, device)
    yield from horn_bench.loops(preset, device)


def works(preset: str):
    yield from jain_bench.works(preset)
    yield from zhang_bench.works(preset)
    yield from horn_bench.works(preset)
    yield from synthesis_training.works(preset)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ftscope bench")
    p.add_argument("--preset", default="laptop", choices=PRESETS)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--plan", action="store_true", help="count the trainings instead of timing the loops")
    p.add_argument("--utilisation", type=float, default=UTILISATION)
    args = p.parse_args(argv)
    if args.plan:
        plan(Project.here(), works, args.preset, args.utilisation)
    else:
        bench(Project.here(), loops, args.preset, args.device, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
