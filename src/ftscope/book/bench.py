"""``ftscope bench``: how far each chapter's training loop is from what this machine can do.

First the machine's fp32 matmul peak (a large square GEMM, the best of a few), then each loop at the
sizes of a preset, run through the one training loop (``train`` / ``train_many``) for a few seconds
after a warm-up: steps/s, tokens/s, the FLOP/s it achieved and that as a share of the peak. FLOPs are
counted as training FLOPs of a transformer: 6 x (parameters of its matmuls) per token, plus the
attention's 12 x layers x context x (heads x head width) per token (forward and backward of the
scores and of the weighted sum); a linear probe is 6 x its weights per row. Data sampling, the
optimiser and the loss are inside the timed loop, as in the chapters; evaluation is not.

Runs on the device it is given (``--device cuda`` measures the peak and every loop on the GPU) and
writes ``results/bench.json``, which the status page shows. The loops themselves are each paper's
(``jain.bench``, ``horn.bench``); ``ftscope.bench`` gathers them, and the command runs it in a
process of its own (the command imports no torch).
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ftscope.config import PRESETS
from ftscope.paths import write_atomic


def bench_path(project) -> Path:
    return project.root / "results" / "bench.json"


@dataclass
class LoopTiming:
    loop: str
    chapter: str
    runs: int  # models trained together in one step
    steps_per_s: float  # optimiser steps of all runs together, per second
    tokens_per_s: float
    gflop_per_s: float
    share_of_peak: float
    note: str = ""


def matmul_peak(device, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of ``repeats`` fp32 (n x n) @ (n x n) products on ``device``."""
    import torch

    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def _sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def transformer_flops_per_token(model) -> float:
    """Training FLOPs per token of a ``HookedTransformer``: 6 x the parameters of its matmuls (every
    weight matrix but the embeddings) + 12 x layers x context x heads x head width (attention)."""
    cfg = model.cfg
    matmul = sum(p.numel() for name, p in model.named_parameters()
                 if name.rsplit(".", 1)[-1].startswith("W_") and not name.startswith(("embed.", "pos_embed.")))
    return 6 * matmul + 12 * cfg.n_layers * cfg.n_ctx * cfg.n_heads * cfg.d_head


def _timed(run: Callable[[int], None], min_seconds: float, warmup: int = 3) -> float:
    """Steps per second of ``run(steps)`` (one call of the training loop), after ``warmup`` steps."""
    run(warmup)
    steps = warmup
    while True:
        start = time.perf_counter()
        run(steps)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or steps >= 10_000:
            return steps / elapsed
        steps = max(steps + 1, int(steps * min_seconds / max(elapsed, 1e-3) * 1.2))


@dataclass
class Loop:
    """One training loop to time: ``run(steps)`` is one call of the training loop for ``steps`` steps,
    in which ``runs`` models train together on ``tokens`` tokens a step at ``flops_per_token``."""

    name: str
    chapter: str
    runs: int
    tokens: int
    flops_per_token: float
    run: Callable[[int], None]
    note: str = ""


def bench(project, loops: Callable[[str, Any], Iterable[Loop]], preset: str = "ci", device: str = "auto",
          min_seconds: float = 3.0, echo: Callable[[str], None] = print) -> dict:
    """Measure the peak and every loop ``loops(preset, device)`` yields; write ``results/bench.json``;
    return what it wrote."""
    import torch

    from ftscope.config import check_choice, resolve_device

    check_choice("preset", preset, PRESETS)

    dev = resolve_device(device)
    threads = torch.get_num_threads()
    peak = matmul_peak(dev)
    echo(f"fp32 matmul peak on {dev.type} ({threads} threads): {peak:.0f} GFLOP/s")
    rows = []
    with contextlib.redirect_stderr(io.StringIO()):  # the loops' progress lines
        for loop in loops(preset, dev):
            steps_per_s = _timed(loop.run, min_seconds)
            gflops = steps_per_s * loop.tokens * loop.flops_per_token / 1e9
            rows.append(LoopTiming(loop.name, loop.chapter, loop.runs, steps_per_s, steps_per_s * loop.tokens, gflops,
                                   gflops / peak, loop.note))
            echo(f"{loop.name:36s} {steps_per_s:8.2f} steps/s {gflops:8.1f} GFLOP/s  {gflops / peak:6.1%} of peak")
    out = {"preset": preset, "device": dev.type, "threads": threads, "machine": platform.processor() or platform.machine(),
           "peak_gflop_per_s": peak, "loops": [asdict(r) for r in rows], "when": time.strftime("%Y-%m-%d %H:%M")}
    path = bench_path(project)
    write_atomic(path, json.dumps(out, indent=1))
    echo(f"wrote {path}")
    return out


def bench_table(path: Path) -> str:
    """The Markdown table of a ``bench.json`` (the status page's), or a line saying there is none."""
    if not path.exists():
        return "No benchmark on record: run `ftscope bench`."
    data = json.loads(path.read_text())
    lines = [f"fp32 matmul peak: **{data['peak_gflop_per_s']:.0f} GFLOP/s** on {data['device']} "
             f"({data['threads']} threads), preset `{data['preset']}`, measured {data['when']}.", "",
             "| loop | chapter | runs together | steps/s | tokens/s | GFLOP/s | share of peak | note |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in data["loops"]:
        lines.append(f"| {r['loop']} | {r['chapter']} | {r['runs']} | {r['steps_per_s']:.2f} | {r['tokens_per_s']:,.0f} "
                     f"| {r['gflop_per_s']:.1f} | {r['share_of_peak']:.1%} | {r['note']} |")
    return "\n".join(lines)
