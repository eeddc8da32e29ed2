"""Linear probes on the residual stream (Jain et al. 2024, Def. 1 and Fig. 8).

A capability counts as present at block l when a linear readout, trained on
pretraining-distribution data, decodes the capability's answer from the residual stream
there. ``ftscope.instruments.activations.residuals`` caches the activations once; ``fit_probe`` trains a probe on them with
the shared training loop and reports held-out accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ftscope.train.loop import OptimConfig, train


@dataclass
class ProbeResult:
    train_accuracy: float
    test_accuracy: float
    probe: torch.nn.Linear


def fit_probe(
    x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, n_classes: int,
    *, steps: int, lr: float, rng: np.random.Generator, batch: int = 256, desc: str = "probe",
    schedule: str = "cosine", warmup: float | None = None,
) -> ProbeResult:
    """Train a linear probe (AdamW, no weight decay) with ``train``; report accuracies. ``schedule``
    is ``"cosine"`` or ``"step"`` (Jain et al.'s App. H: x0.1 at 1/2, 3/4, 7/8 of the steps), after a
    linear warmup over a share ``warmup`` of the steps (default: 5% for cosine, none for step)."""
    if warmup is None:
        warmup = 0.05 if schedule == "cosine" else 0.0
    x_train, x_test = x_train.float(), x_test.float()
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6  # standardise: compiled residuals have mixed scales
    probe = torch.nn.Linear(x_train.shape[1], n_classes)

    def sample(r):
        idx = torch.from_numpy(r.integers(0, len(x_train), size=min(batch, len(x_train))))
        return (x_train[idx] - mean) / std, y_train[idx]

    train(probe, sample, lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), steps,
          OptimConfig(optimizer="adamw", lr=lr, weight_decay=0.0, schedule=schedule, warmup=warmup), rng=rng, desc=desc)

    def accuracy(x, y):
        with torch.no_grad():
            return float((probe((x - mean) / std).argmax(-1) == y).float().mean())

    return ProbeResult(accuracy(x_train, y_train), accuracy(x_test, y_test), probe)
