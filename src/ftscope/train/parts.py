"""Parts of a grid trained side by side: each part in its own single-threaded process on a CPU.

A grid's runs are trained in parts (runs of one architecture together, ``train.loop.train_many``).
The tracr runs are small matmuls, where a second thread buys little: on this project's 2-core
machine, two single-threaded processes each training a share of chapter 2's grid finished it 10-15%
sooner than one two-threaded process training all of it (a same-day A/B; the 1.45x an earlier
measurement suggested did not hold). ``run_parts`` runs the parts that way:

    results = run_parts(fit, parts, workers=2)   # fit(part) for every part, in order

With ``workers > 1`` every part runs with one thread, whether in a child or, without ``fork``
(or with one part), in this process, so a part's numbers do not depend on how many ran at once nor
on the machine's core count; ``workers=1`` runs the parts here, one after another, with torch's
threads as they are. A child is forked (it inherits the caller's models and closures, so nothing is
pickled on the way in), writes its result to a temporary file with ``torch.save`` and
its output to a log; a part that fails stops the others and is reported with its log's tail.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, TypeVar

import torch

from ftscope.progress import progress

P = TypeVar("P")
LOG_TAIL = 3000  # characters of a failed part's log shown in the error


class PartFailed(RuntimeError):
    """A part of a grid failed in its process; the message holds its log's tail."""


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def usable_workers(workers: int, device: Any = "cpu") -> int:
    """How many processes ``run_parts`` may use: ``workers`` on a CPU with ``fork``, else 1 (CUDA does
    not survive a fork; a GPU trains the parts one after another)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return workers if torch.device(device).type == "cpu" and can_fork() else 1


def split_parts(items: Sequence[P], max_size: int) -> list[list[P]]:
    """``items`` cut, in order, into as few near-equal parts of at most ``max_size`` as that allows
    (5 items at most 4 a part: 3 + 2, not 4 + 1)."""
    if max_size < 1:
        raise ValueError(f"a part holds at least one item, got max_size={max_size}")
    n = -(-len(items) // max_size)
    size, extra = divmod(len(items), n) if n else (0, 0)
    bounds = [0]
    for k in range(n):  # the first ``extra`` parts one longer
        bounds.append(bounds[-1] + size + (k < extra))
    return [list(items[a:b]) for a, b in zip(bounds, bounds[1:])]


def run_parts(fn: Callable[[P], Any], parts: Sequence[P], workers: int = 1, desc: str = "") -> list[Any]:
    """``[fn(part) for part in parts]``; with ``workers > 1`` each call single-threaded and, with
    ``fork``, up to ``workers`` calls at once, each in a forked child. Progress is shown over parts."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(parts) == 1 or not can_fork():
        out = []
        for part in (progress(parts, desc=desc) if desc else parts):
            with one_thread() if workers > 1 else contextlib.nullcontext():
                out.append(fn(part))
        return out
    results: dict[int, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ftscope-parts-") as tmp:
        done = _forked(fn, parts, workers, Path(tmp))
        for i, result in (progress(done, desc=desc, total=len(parts)) if desc else done):
            results[i] = result
    return [results[i] for i in range(len(parts))]


def _forked(fn, parts, workers: int, tmp: Path) -> Iterator[tuple[int, Any]]:
    """Run the parts in forked children, ``workers`` at a time; yield ``(index, result)`` of each part as
    it finishes."""
    ctx = multiprocessing.get_context("fork")
    pending = list(range(len(parts)))
    running: dict[Any, tuple[int, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                i = pending.pop(0)
                child = ctx.Process(target=_child, args=(fn, parts[i], tmp / f"{i}.pt", tmp / f"{i}.log"), daemon=True)
                with warnings.catch_warnings():
                    # Python warns at every fork of a process in which JAX (tracr's compiler) started threads;
                    # a child here runs only torch code and never calls into JAX, whose locks it does not touch.
                    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
                    child.start()
                running[child.sentinel] = (i, child)
            for sentinel in wait(list(running)):
                i, child = running.pop(sentinel)
                child.join()
                out, log = tmp / f"{i}.pt", tmp / f"{i}.log"
                if child.exitcode != 0 or not out.exists():
                    tail = log.read_text(errors="replace")[-LOG_TAIL:] if log.exists() else "(no log)"
                    raise PartFailed(f"part {i + 1} of {len(parts)} failed in its process "
                                     f"(exit code {child.exitcode}); the end of its log:\n{tail}")
                result = torch.load(out, weights_only=False)
                out.unlink()
                yield i, result
    finally:
        for _, child in running.values():
            child.terminate()
            child.join()


def _child(fn, part, out: Path, log: Path) -> None:
    """In the forked child: one thread, output to ``log``, the result to ``out``; never returns into the
    parent's code (``os._exit``), so the parent's kernel, atexit hooks and buffers are left alone."""
    code = 1
    try:
        torch.set_num_threads(1)
        os.environ["FTSCOPE_RUNNER"] = "1"  # progress as plain lines in the log, never a widget of the parent's kernel
        with open(log, "w", buffering=1) as stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            try:
                result = fn(part)
                tmp = out.with_suffix(".partial")
                torch.save(result, tmp)
                os.replace(tmp, out)
                code = 0
            except BaseException:  # noqa: BLE001 - reported to the parent through the log
                traceback.print_exc(file=stream)
    finally:
        os._exit(code)
