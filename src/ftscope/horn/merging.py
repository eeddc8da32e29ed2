"""Horn & Elliott (2024): SLERP merges of the two fine-tunes (``ftscope.instruments.merging`` per
tensor, mergekit's semantics), the Fig. 5 sweep and what is read off its curves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ftscope.horn.setup import HornConfig
from ftscope.horn.training import build, evaluate
from ftscope.instruments import merging as merge
from ftscope.train import loop as training
from ftscope.progress import progress


def merged(cfg: HornConfig, base_model, other_model, t: float, device="cpu"):
    """SLERP of two models' parameters (mergekit: v0 = ``base_model``); ``(model, MergeReport)``."""
    params = {n for n, p in base_model.named_parameters() if p.requires_grad}  # trained tensors; biases stay 0
    sd, report = merge.slerp_state_dict(t, base_model.state_dict(), other_model.state_dict(), params=params)
    return training.load_trained(build(cfg, 0), sd, device), report


def sweep(cfg: HornConfig, model_a, model_b, evalsets: dict[str, torch.Tensor], ts: Sequence[float] | None = None,
          device="cpu"):
    """Accuracy and loss of SLERP(t; a, b) on each evaluation set for t in ``ts`` (t = 0 is ``model_a``).
    Returns a long DataFrame ``t, set, acc, loss`` plus the fraction of tensors that fell back to LERP."""
    import pandas as pd

    rows = []
    for t in progress(list(cfg.sweep_ts if ts is None else ts), desc="SLERP sweep"):
        model, report = merged(cfg, model_a, model_b, float(t), device)
        for name, blocks in evalsets.items():
            rows.append({"t": float(t), "set": name, **evaluate(model, blocks),
                         "lerp_fallback": report.fallback_share})
    return pd.DataFrame(rows)


def crossing(ts: np.ndarray, y_a: np.ndarray, y_b: np.ndarray) -> float:
    """The first t where curve ``y_b`` rises to ``y_a`` (linear interpolation); nan when they never cross."""
    d = np.asarray(y_b) - np.asarray(y_a)
    for i in range(len(d) - 1):
        if d[i] < 0 <= d[i + 1]:
            return float(ts[i] + (ts[i + 1] - ts[i]) * (-d[i]) / (d[i + 1] - d[i]))
    return float("nan")


def is_monotone(y: np.ndarray, increasing: bool, tol: float = 0.0) -> bool:
    d = np.diff(np.asarray(y, dtype=float))
    return bool(np.all(d >= -tol) if increasing else np.all(d <= tol))


def retention(y: np.ndarray, at: int, own_end: int) -> float:
    """How much of a domain's accuracy gain over the other end survives at index ``at``:
    (y[at] − y[other end]) / (y[own end] − y[other end])."""
    y = np.asarray(y, dtype=float)
    own_end %= len(y)
    other = len(y) - 1 if own_end == 0 else 0
    span = y[own_end] - y[other]
    return float((y[at] - y[other]) / span) if span else float("nan")
