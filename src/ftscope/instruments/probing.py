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
    per_label: tuple[float, ...] | None = None  # multilabel probes: test accuracy of each output


def fit_probe(
    x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, n_classes: int,
    *, steps: int, lr: float, rng: np.random.Generator, batch: int = 256, desc: str = "probe",
    schedule: str = "cosine", warmup: float | None = None, multilabel: bool = False, bias: bool = True,
) -> ProbeResult:
    """Train a linear probe (AdamW, no weight decay) with ``train``; report accuracies. ``schedule``
    is ``"cosine"`` or ``"step"`` (Jain et al.'s App. H: x0.1 at 1/2, 3/4, 7/8 of the steps), after a
    linear warmup over a share ``warmup`` of the steps (default: 5% for cosine, none for step).

    ``multilabel``: ``y`` holds ``n_classes`` binary labels per row (0/1), the loss is binary cross-entropy
    per output and an output's accuracy is that of its sign; the accuracies are the mean over outputs,
    and ``per_label`` holds each output's test accuracy (Jain et al.'s TinyStories probes: six features,
    bias-free with ``bias=False``)."""
    if warmup is None:
        warmup = 0.05 if schedule == "cosine" else 0.0
    x_train, x_test = x_train.float(), x_test.float()
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6  # standardise: compiled residuals have mixed scales
    if not bias:  # only scaled: a bias-free probe reads its offset off the residual's own mean, as the paper's does
        mean = torch.zeros_like(mean)
    probe = torch.nn.Linear(x_train.shape[1], n_classes, bias=bias)

    def sample(r):
        idx = torch.from_numpy(r.integers(0, len(x_train), size=min(batch, len(x_train))))
        return (x_train[idx] - mean) / std, y_train[idx]

    if multilabel:
        def loss(m, b):
            return torch.nn.functional.binary_cross_entropy_with_logits(m(b[0]), b[1].float())
    else:
        def loss(m, b):
            return torch.nn.functional.cross_entropy(m(b[0]), b[1])

    train(probe, sample, loss, steps,
          OptimConfig(optimizer="adamw", lr=lr, weight_decay=0.0, schedule=schedule, warmup=warmup), rng=rng, desc=desc)

    def hits(x, y):
        with torch.no_grad():
            out = probe((x - mean) / std)
            return ((out > 0) == y.bool()).float() if multilabel else (out.argmax(-1) == y).float()

    test = hits(x_test, y_test)
    per_label = tuple(float(v) for v in test.mean(0)) if multilabel else None
    return ProbeResult(float(hits(x_train, y_train).mean()), float(test.mean()), probe, per_label)
