"""Pruning by attribution (Jain et al. 2024, App. D, Alg. 3).

One step: compute the loss on the *pretraining* task, score each unit by grad·weight, and
zero the top-K units. A unit is a single weight (tracr) or a neuron (PCFG): the slice of a
weight tensor along ``unit_dim``, its score the sum of grad·weight over that slice (the paper
does not say how a row is aggregated; we sum, so the score stays the first-order estimate of
the loss change from zeroing the whole unit).

Zeroing weight w changes the loss by about −grad·w, so the units with the largest grad·w
are the ones whose removal lowers the pretraining loss most: the wrapper, if there is one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Unit:
    param: str  # parameter name
    index: tuple[int, ...]  # the weight's index, or (i,) for a slice along unit_dim
    score: float


def attribution_scores(
    model: torch.nn.Module, loss: torch.Tensor, params: dict[str, int | None]
) -> dict[str, torch.Tensor]:
    """grad·weight for each named parameter; ``params[name]`` is the unit dim (None: every weight is a unit)."""
    named = dict(model.named_parameters())
    for name in params:
        if name not in named:
            raise KeyError(f"no parameter {name!r}; the model has: {', '.join(named)}")
    grads = torch.autograd.grad(loss, [named[n] for n in params])
    scores = {}
    for (name, unit_dim), grad in zip(params.items(), grads):
        s = (grad * named[name]).detach()
        if unit_dim is not None:
            dims = [d for d in range(s.ndim) if d != unit_dim % s.ndim]
            s = s.sum(dim=dims)
        scores[name] = s
    return scores


def top_units(scores: dict[str, torch.Tensor], k: int) -> list[Unit]:
    """The ``k`` units with the largest score, across all tensors (ties broken by order)."""
    if k <= 0:
        return []
    names = list(scores)
    flat = torch.cat([scores[n].flatten().float() for n in names])  # (total_units,)
    offsets = torch.tensor([0] + [scores[n].numel() for n in names]).cumsum(0)
    values, positions = flat.topk(min(k, flat.numel()))
    units = []
    for value, pos in zip(values.tolist(), positions.tolist()):
        i = int(torch.searchsorted(offsets, pos, right=True)) - 1
        index = torch.unravel_index(torch.tensor(pos - int(offsets[i])), scores[names[i]].shape)
        units.append(Unit(names[i], tuple(int(x) for x in index), value))
    return units


@torch.no_grad()
def zero_units(model: torch.nn.Module, units: list[Unit], params: dict[str, int | None]) -> None:
    """Zero the given units in place."""
    named = dict(model.named_parameters())
    for u in units:
        p = named[u.param]
        unit_dim = params[u.param]
        if unit_dim is None:
            p[u.index] = 0.0
        else:
            p.select(unit_dim % p.ndim, u.index[0]).zero_()


def pruning_curve(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module], torch.Tensor],
    params: dict[str, int | None],
    ks: list[int],
    evaluate: Callable[[torch.nn.Module], dict[str, float]],
) -> list[dict[str, float]]:
    """Evaluate ``model`` with its top-K units zeroed, for each K (scores from one gradient step).

    ``loss_fn(model)`` is the pretraining-task loss; the model itself is left unchanged.
    """
    import copy

    model.eval()
    scores = attribution_scores(model, loss_fn(model), params)
    ranked = top_units(scores, max(ks))
    rows = []
    for k in sorted(ks):
        pruned = copy.deepcopy(model)
        zero_units(pruned, ranked[:k], params)
        with torch.no_grad():
            rows.append({"k": k, **evaluate(pruned)})
    return rows


# ------------------------------------------------------------------ diagnostics of where fine-tuning moved
@torch.no_grad()
def reset_most_changed(model, reference, k: int):
    """A copy of ``model`` whose ``k`` most-changed weights (vs ``reference``) are set back: undoing, not zeroing."""
    out = copy.deepcopy(model)
    params, ref = dict(out.named_parameters()), dict(reference.named_parameters())
    deltas = torch.cat([(params[n] - ref[n]).abs().flatten() for n in params])
    if k:
        threshold = deltas.topk(k).values[-1]
        for n, p in params.items():
            mask = (p - ref[n]).abs() >= threshold
            p[mask] = ref[n][mask]
    return out


@torch.no_grad()
def changed_weights(model, reference, threshold: float) -> dict[str, int]:
    """Per parameter tensor, how many weights moved by more than ``threshold`` from ``reference``."""
    ref = dict(reference.named_parameters())
    return {n: int(((p - ref[n]).abs() > threshold).sum()) for n, p in model.named_parameters()}
