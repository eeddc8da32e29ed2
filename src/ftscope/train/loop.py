"""The one training loop every chapter uses (pretraining, fine-tuning, reverse fine-tuning, probes).

``train`` draws a fresh batch each step from ``sample_batch(rng)`` (online sampling, as the
papers do), takes one optimiser step on ``loss_fn(model, batch)``, follows a linear-warmup +
cosine schedule, and logs loss, learning rate and optional evaluations.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from ftscope.progress import progress
from ftscope.train.models import plain_forward, plain_forward_supported


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule. ``warmup`` is a fraction of ``steps``; the cosine ends at ``lr * final_lr_ratio``."""

    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    betas: tuple[float, float] = (0.9, 0.95)  # adamw only
    weight_decay: float = 0.0
    schedule: Literal["cosine", "linear", "constant", "step"] = "cosine"
    warmup: float = 0.2
    final_lr_ratio: float = 0.01  # the papers' "cosine to max/100"
    grad_clip: float | None = None  # max global grad norm; None = no clipping
    milestones: tuple[float, ...] = (0.5, 0.75, 0.875)  # "step" only: fractions of the steps where
    gamma: float = 0.1  # the LR is multiplied by gamma (Jain et al.'s probes: x0.1 at 2K, 3K, 3.5K of 4K)

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid choices: 'sgd', 'adamw'")
        if self.schedule not in ("cosine", "linear", "constant", "step"):
            raise ValueError(f"unknown schedule {self.schedule!r}; valid choices: 'cosine', 'linear', 'constant', "
                             "'step'")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")


def lr_multiplier(step: int, steps: int, cfg: OptimConfig) -> float:
    """Learning-rate factor at 0-based ``step``: linear warmup, then cosine (or a straight line, for ``linear``)
    down to ``final_lr_ratio`` (or, for ``step``, ``gamma`` per milestone passed)."""
    if cfg.schedule == "constant":
        return 1.0
    warmup_steps = int(round(cfg.warmup * steps))
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if cfg.schedule == "step":
        return cfg.gamma ** sum(step >= round(m * steps) for m in cfg.milestones)
    if cfg.schedule == "linear":  # HF's get_linear_schedule_with_warmup, ending at final_lr_ratio
        return cfg.final_lr_ratio + (1.0 - cfg.final_lr_ratio) * (steps - step) / max(1, steps - warmup_steps)
    progress_frac = (step - warmup_steps) / max(1, steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress_frac)))
    return cfg.final_lr_ratio + (1.0 - cfg.final_lr_ratio) * cosine


def make_optimizer(params, cfg: OptimConfig, foreach: bool | None = None) -> torch.optim.Optimizer:
    """The optimiser ``cfg`` names over ``params`` (those that require gradients). ``foreach``: torch's
    multi-tensor implementation (None: torch's default, which on a CPU is one tensor at a time)."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=foreach)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, foreach=foreach)


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


class _Together:
    """``models`` (same architecture) called as one: each step stacks their parameters along a new
    first axis and ``torch.func.vmap`` runs the first model's forward with each slice, so K small
    models cost a few large batched matmuls instead of K times as many small ones. The stack is made
    with ``torch.stack`` on every step, so gradients land in each model's own parameters and each run
    keeps its own optimiser, schedule and clipping.

    Where the model has a ``models.plain_forward`` and the loss says how it reads the logits
    (``loss_fn.inputs(batch)`` and ``loss_fn.from_logits(logits, batch)``, as ``answers.AnswerLoss``
    does), the K forwards are one function of tensors only, which ``compile`` hands to
    ``torch.compile`` (it fuses the element-wise work that dominates small models on a CPU). A loss
    that reads one position (``loss_fn.position(batch)`` and ``loss_fn.from_answer_logits``) gets the
    logits of that position only, the last block computed there alone (``plain_forward``'s ``at``)."""

    def __init__(self, models: list[torch.nn.Module], compile: bool = False) -> None:
        self.base = models[0]
        self.names = [name for name, _ in self.base.named_parameters()]
        shapes = [tuple(p.shape) for _, p in self.base.named_parameters()]
        self.params = []
        for i, m in enumerate(models):
            named = dict(m.named_parameters())
            if list(named) != self.names or [tuple(p.shape) for p in named.values()] != shapes:
                raise ValueError(f"train_many: model {i} does not have model 0's parameters (names and shapes); "
                                 "only models of one architecture train together")
            self.params.append(list(named.values()))
        self.forward = None
        if plain_forward_supported(self.base):
            from torch.func import vmap

            cfg = self.base.cfg

            def forward(stacked, inputs, at=None):
                return vmap(lambda p, x: plain_forward(cfg, p, x, at))(stacked, inputs)

            self.forward = torch.compile(forward, dynamic=False) if compile else forward
            self._eager_forward = forward

    def losses(self, batches: list[Any], loss_fn: Callable[[Any, Any], torch.Tensor]) -> torch.Tensor:
        """(K,) each model's ``loss_fn`` on its own batch."""
        from torch.func import vmap

        stacked = {name: torch.stack([ps[j] for ps in self.params]) for j, name in enumerate(self.names)}
        tensors, rebuild = _stack_batches(batches)
        if self.forward is not None and hasattr(loss_fn, "from_logits"):
            inputs = torch.stack([loss_fn.inputs(b) for b in batches])
            if hasattr(loss_fn, "position"):  # the loss reads one position: the last block computes only it
                at = {loss_fn.position(b) for b in batches}
                if len(at) > 1:
                    raise ValueError(f"train_many: the runs' losses read different positions {sorted(at)}; runs "
                                     "that train together need one answer position")
                logits = self._logits(stacked, inputs, at.pop())
                return vmap(lambda lg, ts: loss_fn.from_answer_logits(lg, rebuild(ts)))(logits, tensors)
            logits = self._logits(stacked, inputs)
            return vmap(lambda lg, ts: loss_fn.from_logits(lg, rebuild(ts)))(logits, tensors)
        base = self.base

        def one(params, batch_tensors):
            return loss_fn(_Functional(base, params), rebuild(batch_tensors))

        return vmap(one)(stacked, tensors)

    def _logits(self, stacked, inputs, at=None):
        try:
            return self.forward(stacked, inputs, at)
        except Exception as error:  # torch.compile needs a working compiler; training goes on without it
            if self.forward is self._eager_forward:
                raise
            print(f"train_many: torch.compile failed ({type(error).__name__}: {str(error)[:200]}); "
                  "training on without it")
            self.forward = self._eager_forward
            return self.forward(stacked, inputs, at)


class _Functional:
    """``module`` called with other parameters (``torch.func.functional_call``); every other attribute
    (``cfg``, ...) is the module's."""

    def __init__(self, module: torch.nn.Module, params: dict[str, torch.Tensor]) -> None:
        self._module, self._params = module, params

    def __call__(self, *args, **kwargs):
        from torch.func import functional_call

        return functional_call(self._module, self._params, args, kwargs)

    def __getattr__(self, name: str):
        return getattr(self._module, name)


def _stack_batches(batches: list[Any]) -> tuple[Any, Callable[[Any], Any]]:
    """The K batches' tensors stacked along a new first axis (a tensor, or a tuple, list or dict of
    them, or a dataclass whose tensor fields are stacked), and the function that rebuilds one batch
    from one slice. A dataclass's other fields must be equal in every batch (they are taken from the
    first): a loss that read a field differing between runs would otherwise read the wrong one."""
    first = batches[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(batches), lambda t: t
    if isinstance(first, (tuple, list)):
        parts = [_stack_batches([b[i] for b in batches]) for i in range(len(first))]
        return (tuple(p[0] for p in parts),
                lambda ts: type(first)(rebuild(t) for (_, rebuild), t in zip(parts, ts)))
    if isinstance(first, dict):
        parts = {k: _stack_batches([b[k] for b in batches]) for k in first}
        return ({k: p[0] for k, p in parts.items()},
                lambda ts: {k: parts[k][1](ts[k]) for k in parts})
    if dataclasses.is_dataclass(first):
        names = [f.name for f in dataclasses.fields(first) if isinstance(getattr(first, f.name), torch.Tensor)]
        for f in dataclasses.fields(first):
            value = getattr(first, f.name)
            if f.name not in names and isinstance(value, (int, float, str, bool, type(None))):
                if any(getattr(b, f.name) != value for b in batches):
                    raise ValueError(f"train_many: the batches differ in {f.name!r}; runs that train together "
                                     "need batches of one shape")
        tensors = {n: torch.stack([getattr(b, n) for b in batches]) for n in names}
        return tensors, lambda ts: dataclasses.replace(first, **ts)
    raise TypeError(f"train_many cannot stack batches of type {type(first).__name__}")


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
    return train_many([model], [sample_batch], loss_fn, steps, [optim], rngs=[rng], device=device,
                      params=None if params is None else [params], evaluate=evaluate, eval_at=eval_at,
                      log_every=log_every, desc=desc)[0]


def train_many(
    models: list[torch.nn.Module],
    sample_batches: list[Callable[[np.random.Generator], Any]],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    steps: int,
    optims: list[OptimConfig],
    *,
    rngs: list[np.random.Generator],
    device: torch.device | str = "cpu",
    params: list | None = None,
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | list | None = None,
    eval_at: tuple[int, ...] | list[int] = (),
    log_every: int = 1,
    desc: str = "train",
    compile: bool = False,
) -> list[TrainLog]:
    """``train`` for K runs at once, one log each: run k trains ``models[k]`` on
    ``sample_batches[k](rngs[k])`` with ``optims[k]`` (its own learning rate, schedule and clipping),
    drawing its batches in the order a run of its own would. Runs of more than one model need models
    of one architecture, all of whose parameters train (``params`` is for a single run); they are
    called as one batched model (``_Together``), which does the same arithmetic as K separate runs up
    to the order of floating-point sums. ``evaluate`` is one function for every run or one per run.
    ``compile`` lets ``torch.compile`` fuse the runs' forward (``_Together``; ~2x for the PCFG minGPTs
    at ``laptop`` sizes on a CPU after ~20 s of compiling, nothing for tracr's matmul-bound models).
    The loss is checked after every step; a NaN/inf loss in any run stops them all (``NonFiniteLoss``)."""
    k = len(models)
    if not (k == len(sample_batches) == len(optims) == len(rngs)) or k == 0:
        raise ValueError(f"train_many needs as many samplers, optimisers and generators as models (≥ 1); got "
                         f"{k} models, {len(sample_batches)} samplers, {len(optims)} optimisers, {len(rngs)} generators")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if params is not None and k > 1:
        raise ValueError("train_many: params (train part of a model) is for a single run")
    evaluates = evaluate if isinstance(evaluate, list) else [evaluate] * k
    for m in models:
        move(m, device)
    together = _Together(models, compile=compile) if k > 1 else None
    # runs trained together step with the multi-tensor optimisers (a third of a PCFG grid's step otherwise)
    opts = [make_optimizer(m.parameters() if params is None else params[0], o, foreach=True if k > 1 else None)
            for m, o in zip(models, optims)]
    scheds = [torch.optim.lr_scheduler.LambdaLR(opt, lambda s, o=o: lr_multiplier(s, steps, o))
              for opt, o in zip(opts, optims)]
    trained = [[p for group in opt.param_groups for p in group["params"]] for opt in opts]
    logs = [TrainLog() for _ in models]
    eval_at = sorted(set(eval_at))

    def run_eval(step: int) -> None:
        if step not in eval_at:
            return
        for m, ev, log in zip(models, evaluates, logs):
            if ev is None:
                continue
            was_training = m.training
            m.eval()
            with torch.no_grad():
                log.evals.append({"step": step, **ev(m)})
            m.train(was_training)

    run_eval(0)
    for m in models:
        m.train()
    for step in progress(range(steps), desc=desc, total=steps):
        batches = [to_device(sample(r), device) for sample, r in zip(sample_batches, rngs)]
        if together is None:
            losses = loss_fn(models[0], batches[0]).reshape(1)
        else:
            losses = together.losses(batches, loss_fn)
        values = losses.detach().cpu().tolist()
        if not all(math.isfinite(v) for v in values):
            bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
            run = f" (run {bad[0]} of {k})" if k > 1 else ""
            raise NonFiniteLoss(f"{desc}{run}: loss is {values[bad[0]]} at step {step} "
                                f"(lr {scheds[bad[0]].get_last_lr()[0]:.3g})")
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        for i, (opt, sched, o) in enumerate(zip(opts, scheds, optims)):
            grad_norm = (torch.nn.utils.clip_grad_norm_(trained[i], o.grad_clip).item()
                         if o.grad_clip is not None else math.nan)
            lr = sched.get_last_lr()[0]
            opt.step()
            sched.step()
            if step % log_every == 0 or step == steps - 1:
                logs[i].rows.append({"step": step + 1, "loss": values[i], "lr": lr, "grad_norm": grad_norm})
        run_eval(step + 1)
    for m in models:
        m.eval()
    return logs


def log_steps(total: int, n: int) -> list[int]:
    """``n`` roughly log-spaced step counts from 0 to ``total`` (0 and ``total`` included)."""
    return sorted({0, total, *np.unique(np.geomspace(1, max(total, 1), max(n - 1, 1)).astype(int)).tolist()})
