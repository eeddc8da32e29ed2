"""``ftscope bench``: how far each chapter's training loop is from what this machine can do.

First the machine's fp32 matmul peak (a large square GEMM, the best of a few), then each loop at the
sizes of a preset, run through the one training loop (``train`` / ``train_many``) for a few seconds
after a warm-up: steps/s, tokens/s, the FLOP/s it achieved and that as a share of the peak. FLOPs are
counted as training FLOPs of a transformer: 6 x (parameters of its matmuls) per token, plus the
attention's 12 x layers x context x (heads x head width) per token (forward and backward of the
scores and of the weighted sum); a linear probe is 6 x its weights per row. Data sampling, the
optimiser and the loss are inside the timed loop, as in the chapters; evaluation is not.

Runs on the device it is given (``--device cuda`` measures the peak and every loop on the GPU) and
writes ``results/bench-<preset>.json`` (one per preset, so a smoke run never replaces the laptop one),
which the status page shows for ``laptop``. The loops themselves are each package's (``jain.bench``,
``zhang.bench``, ``horn.bench``, ``synthesis.training``); ``ftscope.bench`` gathers them, and the
command runs it in a process of its own (the command imports no torch).
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


def bench_path(project, preset: str) -> Path:
    return project.root / "results" / f"bench-{preset}.json"


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


def bench(project, loops: Callable[[str, Any], Iterable[Loop]], preset: str = "laptop", device: str = "auto",
          min_seconds: float = 3.0, echo: Callable[[str], None] = print) -> dict:
    """Measure the peak and every loop ``loops(preset, device)`` yields; write ``results/bench-<preset>.json``;
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
    path = bench_path(project, preset)
    write_atomic(path, json.dumps(out, indent=1))
    echo(f"wrote {path}")
    return out


def bench_table(path: Path) -> str:
    """The Markdown table of a ``bench-<preset>.json`` (the status page's), or a line saying there is none."""
    if not path.exists():
        return f"No benchmark on record: run `ftscope bench --preset {path.stem.removeprefix('bench-')}`."
    data = json.loads(path.read_text())
    lines = [f"fp32 matmul peak: **{data['peak_gflop_per_s']:.0f} GFLOP/s** on {data['device']} "
             f"({data['threads']} threads), preset `{data['preset']}`, measured {data['when']}.", "",
             "| loop | chapter | runs together | steps/s | tokens/s | GFLOP/s | share of peak | note |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in data["loops"]:
        lines.append(f"| {r['loop']} | {r['chapter']} | {r['runs']} | {r['steps_per_s']:.2f} | {r['tokens_per_s']:,.0f} "
                     f"| {r['gflop_per_s']:.1f} | {r['share_of_peak']:.1%} | {r['note']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ plan
# ``ftscope plan``: what a preset's training costs, counted (not run) with the benchmark's FLOPs, and
# how long it would take on one H100 under stated assumptions. The assumptions, in one place:
H100_PEAK_TFLOPS = 494.7  # H100 SXM, TF32 tensor cores, dense (the fp32 training of this book with TF32 matmuls)
UTILISATION = 0.3  # the share of that peak a training loop is assumed to reach (a model of d >= 512)
STEP_FLOOR_S = 0.002  # the least a step is assumed to take (a small model is bound by kernel launches)
BYTES_PER_PARAMETER = 16  # fp32 weights, gradients and AdamW's two moments


def check_utilisation(utilisation: float) -> None:
    if not 0.0 < utilisation <= 1.0:
        raise ValueError(f"utilisation is a share of the peak in (0, 1], got {utilisation}")


def plan_path(project, preset: str) -> Path:
    return project.root / "results" / f"plan-{preset}.json"


@dataclass
class Work:
    """One training of a chapter, counted, not run: ``runs`` runs of ``steps`` optimiser steps of
    ``tokens`` tokens each at ``flops_per_token`` (as the benchmark counts them), on a model of
    ``params`` parameters whose backward keeps ``activation_floats`` floats a step."""

    chapter: str
    what: str
    runs: int
    steps: int
    tokens: int
    flops_per_token: float
    params: int
    activation_floats: float

    @property
    def flops(self) -> float:
        return self.runs * self.steps * self.tokens * self.flops_per_token

    def seconds(self, peak_tflops: float = H100_PEAK_TFLOPS, utilisation: float = UTILISATION,
                floor_s: float = STEP_FLOOR_S) -> float:
        """The estimated time of every run, one after another: each step takes its FLOPs at
        ``utilisation`` of the peak, or ``floor_s``, whichever is longer."""
        per_step = max(self.tokens * self.flops_per_token / (peak_tflops * 1e12 * utilisation), floor_s)
        return self.runs * self.steps * per_step

    @property
    def memory_bytes(self) -> float:
        """One run's training memory: weights, gradients and AdamW state, plus the activations of a step (fp32)."""
        return self.params * BYTES_PER_PARAMETER + 4 * self.activation_floats


def transformer_activation_floats(model, tokens: int) -> float:
    """Floats the backward of a ``HookedTransformer`` keeps for a step of ``tokens`` tokens (an estimate):
    per layer and token 11 x d_model (residual, norms, queries, keys, values, attention output) + 2 x d_mlp
    (MLP before and after its activation) + 2 x heads x context (scores and pattern), and 2 x the vocabulary
    for the logits and their softmax."""
    cfg = model.cfg
    per_token = cfg.n_layers * (11 * cfg.d_model + 2 * cfg.d_mlp + 2 * cfg.n_heads * cfg.n_ctx) + 2 * cfg.d_vocab
    return float(tokens * per_token)


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def transformer_work(chapter: str, what: str, model, runs: int, steps: int, tokens: int) -> Work:
    """``Work`` of ``runs`` x ``steps`` steps of ``tokens`` tokens on a ``HookedTransformer``."""
    return Work(chapter, what, runs, steps, tokens, transformer_flops_per_token(model), parameters(model),
                transformer_activation_floats(model, tokens))


def plan(project, works: Callable[[str], Iterable[Work]], preset: str = "paper",
         utilisation: float = UTILISATION, echo: Callable[[str], None] = print) -> dict:
    """Count every training ``works(preset)`` yields; print and write ``results/plan-<preset>.json``;
    return what it wrote."""
    from ftscope.config import check_choice

    check_choice("preset", preset, PRESETS)
    check_utilisation(utilisation)
    rows = [{**asdict(w), "flops": w.flops, "seconds": w.seconds(utilisation=utilisation),
             "memory_bytes": w.memory_bytes} for w in works(preset)]
    for r in rows:
        echo(f"{r['chapter']} {r['what']:44s} {r['flops']:9.2e} FLOPs  {r['memory_bytes'] / 2**30:7.2f} GiB  "
             f"{r['seconds'] / 3600:8.2f} h")
    out = {"preset": preset, "peak_tflops": H100_PEAK_TFLOPS, "utilisation": utilisation, "floor_s": STEP_FLOOR_S,
           "bytes_per_parameter": BYTES_PER_PARAMETER, "works": rows, "when": time.strftime("%Y-%m-%d %H:%M")}
    path = plan_path(project, preset)
    write_atomic(path, json.dumps(out, indent=1))
    echo(f"wrote {path}")
    return out


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 86_400 else f"{seconds / 86_400:.1f} days"


def plan_table(path: Path, measured: dict[str, float] | None = None) -> str:
    """The Markdown table of a ``plan-<preset>.json`` by chapter (FLOPs, the largest model and its memory,
    the estimated H100 time) beside ``measured`` (chapter number -> seconds of notebook time at ``laptop``
    on this machine), or a line saying there is none."""
    if not path.exists():
        return "No plan on record: run `ftscope plan --preset paper`."
    data = json.loads(path.read_text())
    measured = measured or {}
    chapters: dict[str, list[dict]] = {}
    for r in data["works"]:
        chapters.setdefault(r["chapter"], []).append(r)
    lines = [f"Preset `{data['preset']}`, counted {data['when']}. Assumed: one H100 at "
             f"{data['utilisation']:.0%} of its {data['peak_tflops']:.0f} TFLOP/s (TF32, dense), every step at "
             f"least {data['floor_s'] * 1e3:.0f} ms, the runs one after another; memory is "
             f"{data['bytes_per_parameter']} bytes a parameter (fp32 weights, gradients, AdamW) plus one step's "
             "activations.", "",
             "| chapter | trainings | training FLOPs | largest model | its memory | est. time, one H100 "
             "| `laptop` here |", "|---|---|---:|---:|---:|---:|---:|"]
    for chapter, rows in chapters.items():
        largest = max(rows, key=lambda r: r["memory_bytes"])
        what = "; ".join(f"{r['what']} ({r['runs']} × {r['steps']:,} steps)" for r in rows)
        here = _duration(measured[chapter]) if chapter in measured else "–"
        lines.append(f"| {chapter} | {what} | {sum(r['flops'] for r in rows):.2e} | {largest['params']:,} params "
                     f"| {largest['memory_bytes'] / 2**30:.2f} GiB | {_duration(sum(r['seconds'] for r in rows))} "
                     f"| {here} |")
    total = sum(r["seconds"] for r in data["works"])
    lines += ["", f"Estimated in all: **{_duration(total)}** on one H100 (before the seeds and cells are spread "
              "over a cluster)."]
    return "\n".join(lines)
