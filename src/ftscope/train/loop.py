"""The one training loop every chapter uses (pretraining, fine-tuning, reverse fine-tuning, probes).

``train`` draws a fresh batch each step from ``sample_batch(rng)`` (online sampling, as the
papers do), takes one optimiser step on ``loss_fn(model, batch)``, follows a linear-warmup +
cosine schedule, and logs loss, learning rate and optional evaluations.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from ftscope.progress import progress


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule. ``warmup`` is a fraction of ``steps``; the cosine ends at ``lr * final_lr_ratio``."""

    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    betas: tuple[float, float] = (0.9, 0.95)  # adamw only
    weight_decay: float = 0.0
    schedule: Literal["cosine", "constant", "step"] = "cosine"
    warmup: float = 0.2
    final_lr_ratio: float = 0.01  # the papers' "cosine to max/100"
    grad_clip: float | None = None  # max global grad norm; None = no clipping
    milestones: tuple[float, ...] = (0.5, 0.75, 0.875)  # "step" only: fractions of the steps where
    gamma: float = 0.1  # the LR is multiplied by gamma (Jain et al.'s probes: x0.1 at 2K, 3K, 3.5K of 4K)

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid choices: 'sgd', 'adamw'")
        if self.schedule not in ("cosine", "constant", "step"):
            raise ValueError(f"unknown schedule {self.schedule!r}; valid choices: 'cosine', 'constant', 'step'")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")


def lr_multiplier(step: int, steps: int, cfg: OptimConfig) -> float:
    """Learning-rate factor at 0-based ``step``: linear warmup, then cosine down to ``final_lr_ratio``
    (or, for ``step``, ``gamma`` per milestone passed)."""
    if cfg.schedule == "constant":
        return 1.0
    warmup_steps = int(round(cfg.warmup * steps))
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if cfg.schedule == "step":
        return cfg.gamma ** sum(step >= round(m * steps) for m in cfg.milestones)
    progress_frac = (step - warmup_steps) / max(1, steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress_frac)))
    return cfg.final_lr_ratio + (1.0 - cfg.final_lr_ratio) * cosine


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def move(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """``model.to(device)``, quietly (TransformerLens models print on every move otherwise)."""
    if "print_details" in inspect.signature(model.to).parameters:
        return model.to(device, print_details=False)
    return model.to(device)


def checkpoint_state(model: torch.nn.Module, log: TrainLog) -> dict[str, Any]:
    """What a cached training run keeps: the weights on the CPU and the log (``checkpoints.cached_state``)."""
    return {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "log": log.to_dict()}


def load_trained(model: torch.nn.Module, weights: dict[str, torch.Tensor], device: torch.device | str) -> torch.nn.Module:
    """``model`` with ``weights`` loaded, in eval mode, on ``device``."""
    model.load_state_dict(weights)
    model.eval()
    return move(model, device)


def to_device(batch: Any, device: torch.device | str) -> Any:
    """Move tensors (possibly nested in tuples, lists and dicts, or any object with ``.to``) to ``device``."""
    if isinstance(batch, torch.Tensor) or callable(getattr(batch, "to", None)):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


@dataclass
class TrainLog:
    """What ``train`` saw: one row per logged step, evaluations at their steps."""

    rows: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.rows[-1]["loss"]

    def tail_loss(self, share: float = 0.1) -> float:
        """Mean training loss over the last ``share`` of the logged steps (at least one): the level a
        convergence gate compares with its stated threshold (one batch's loss is too noisy)."""
        if not self.rows:
            return float("nan")
        n = max(1, round(len(self.rows) * share))
        return float(np.mean([r["loss"] for r in self.rows[-n:]]))

    def converged(self, level: float, share: float = 0.1) -> bool:
        """Whether ``tail_loss(share)`` reached ``level`` (a NaN loss never does)."""
        return bool(self.tail_loss(share) <= level)

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def eval_frame(self):
        import pandas as pd

        return pd.DataFrame(self.evals)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite: the run diverged."""


def train(
    model: torch.nn.Module,
    sample_batch: Callable[[np.random.Generator], Any],
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    steps: int,
    optim: OptimConfig,
    *,
    rng: np.random.Generator,
    device: torch.device | str = "cpu",
    params=None,
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    eval_at: tuple[int, ...] | list[int] = (),
    log_every: int = 1,
    desc: str = "train",
) -> TrainLog:
    """Train ``model`` for ``steps`` optimiser steps; return the log.

    ``sample_batch(rng)`` makes one batch (tensors on any device); ``loss_fn(model, batch)``
    returns a scalar. ``params`` restricts what is trained (default: all of ``model``).
    ``evaluate(model)`` runs, in eval mode and without gradients, after each step count in
    ``eval_at`` (0 = before training). A NaN/inf loss stops the run with ``NonFiniteLoss``.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    move(model, device)
    opt = make_optimizer(model.parameters() if params is None else params, optim)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_multiplier(s, steps, optim))
    trained = [p for group in opt.param_groups for p in group["params"]]
    log = TrainLog()
    eval_at = sorted(set(eval_at))

    def run_eval(step: int) -> None:
        if evaluate is not None and step in eval_at:
            was_training = model.training
            model.eval()
            with torch.no_grad():
                log.evals.append({"step": step, **evaluate(model)})
            model.train(was_training)

    run_eval(0)
    model.train()
    for step in progress(range(steps), desc=desc, total=steps):
        batch = to_device(sample_batch(rng), device)
        loss = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"{desc}: loss is {loss.item()} at step {step} (lr {sched.get_last_lr()[0]:.3g})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(trained, optim.grad_clip).item() if optim.grad_clip is not None else math.nan
        )
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            log.rows.append({"step": step + 1, "loss": loss.item(), "lr": lr, "grad_norm": grad_norm})
        run_eval(step + 1)
    model.eval()
    return log


def log_steps(total: int, n: int) -> list[int]:
    """``n`` roughly log-spaced step counts from 0 to ``total`` (0 and ``total`` included)."""
    return sorted({0, total, *np.unique(np.geomspace(1, max(total, 1), max(n - 1, 1)).astype(int)).tolist()})
