"""Prompts whose answer is read at one position: one loss, one accuracy, one fine-tuning call and
one table of scores for Jain et al.'s two synthetic settings (tracr-compiled models, PCFG minGPTs).

A batch is an ``AnswerBatch``: ``inputs`` (N, T) token ids fed to the model, ``predict_pos`` the
position whose output is the answer, ``answer`` the label of the question the prompt asks (where
it asks one), and, in the fine-tuning tasks, ``label_pt`` and ``label_ft``: the pretraining
(O_PT) and the fine-tuning (O_FT) answers of the same input.

``answer_scores`` gives the four numbers of the papers' Tables 3 and 5: the accuracy of O_PT and
of O_FT at C_Te = 1 (correlated test inputs) and C_Te = 0 (uncorrelated), named
``acc_{pt,ft}_cte{1,0}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ftscope.train.loop import OptimConfig, TrainLog, train_many
from ftscope.train.models import logits_at

Which = Literal["answer", "pt", "ft"]
WHICH = ("answer", "pt", "ft")


@dataclass
class AnswerBatch:
    """Base of every answer-at-one-position batch (a dataclass; subclasses define ``inputs``,
    ``predict_pos`` and the labels as fields or properties)."""

    def to(self, device) -> AnswerBatch:
        """The same batch with every tensor field on ``device`` (arrays and ints stay)."""
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)


def labels_of(batch: AnswerBatch, which: Which | torch.Tensor) -> torch.Tensor:
    """``batch.answer`` / ``batch.label_pt`` / ``batch.label_ft`` by name (a tensor is returned as is)."""
    if isinstance(which, torch.Tensor):
        return which
    if which not in WHICH:
        raise ValueError(f"unknown label {which!r}; valid choices: {', '.join(map(repr, WHICH))}")
    labels = getattr(batch, "answer" if which == "answer" else f"label_{which}", None)
    if labels is None:
        raise ValueError(f"{type(batch).__name__} carries no {which!r} labels")
    return labels


def answer_logits(model, batch: AnswerBatch) -> torch.Tensor:
    """(N, vocab) logits at ``batch.predict_pos``, the position whose output is the answer; the last
    block computes that position only where it can (``train.models.logits_at``)."""
    return logits_at(model, batch.inputs, batch.predict_pos)


def answer_loss(model, batch: AnswerBatch, which: Which = "answer") -> torch.Tensor:
    """Cross-entropy of the answer position against the ``which`` labels."""
    return AnswerLoss(which)(model, batch)


@dataclass(frozen=True)
class AnswerLoss:
    """``answer_loss`` against the ``which`` labels as a loss for ``train.loop.train_many``: called as
    ``loss(model, batch)``, and split into the model's input (``inputs``), the one position it reads
    (``position``) and the loss of the logits there (``from_answer_logits``), so runs trained together
    compute their logits as one (compiled) function that skips the last block's other positions."""

    which: Which = "answer"

    def __post_init__(self) -> None:
        if self.which not in WHICH:
            raise ValueError(f"unknown label {self.which!r}; valid choices: {', '.join(map(repr, WHICH))}")

    def __call__(self, model, batch: AnswerBatch) -> torch.Tensor:
        return self.from_answer_logits(answer_logits(model, batch), batch)

    @staticmethod
    def inputs(batch: AnswerBatch) -> torch.Tensor:
        return batch.inputs

    @staticmethod
    def position(batch: AnswerBatch) -> int:
        return batch.predict_pos

    def from_logits(self, logits: torch.Tensor, batch: AnswerBatch) -> torch.Tensor:
        """The loss from every position's logits (N, T, vocab)."""
        return self.from_answer_logits(logits[:, batch.predict_pos], batch)

    def from_answer_logits(self, logits: torch.Tensor, batch: AnswerBatch) -> torch.Tensor:
        """The loss from the answer position's logits (N, vocab)."""
        return torch.nn.functional.cross_entropy(logits, labels_of(batch, self.which))


@torch.no_grad()
def accuracy(model, batch: AnswerBatch, labels: Which | torch.Tensor = "answer", chunk: int = 1000) -> float:
    """Share of rows whose argmax answer equals ``labels`` (a name for ``labels_of``, or a tensor),
    computed ``chunk`` rows at a time; an exact ratio of counts."""
    labels = labels_of(batch, labels)
    hits = 0
    for i in range(0, len(labels), chunk):
        logits = logits_at(model, batch.inputs[i:i + chunk], batch.predict_pos)
        hits += int((logits.argmax(-1) == labels[i:i + chunk]).sum())
    return hits / len(labels)


@dataclass
class AnswerTests:
    """Fixed test sets per C_Te: the prompts on which O_PT is asked and those on which O_FT is asked
    (the same batch when one input carries both answers, as in the compiled models)."""

    ask_pt: dict[float, AnswerBatch]
    ask_ft: dict[float, AnswerBatch]

    @classmethod
    def same_prompts(cls, tests: dict[float, AnswerBatch]) -> AnswerTests:
        return cls(dict(tests), dict(tests))


def constant_chance(labels: torch.Tensor) -> float:
    """The accuracy of the best constant answer on ``labels``: the share of its commonest label."""
    if len(labels) == 0:
        raise ValueError("no labels: chance is undefined on an empty test set")
    return int(torch.bincount(labels.flatten().cpu()).max()) / labels.numel()


def two_standard_errors(n: int) -> float:
    """Two standard errors of an accuracy measured on ``n`` samples, at its widest (p = 0.5)."""
    return float(2 * np.sqrt(0.25 / n))


def chance_scores(tests: AnswerTests) -> dict[str, float]:
    """``chance_{ft,pt}_cte{c}``: the best constant answer's accuracy on each test set of ``answer_scores``."""
    row = {}
    for c_te in tests.ask_ft:
        row[f"chance_ft_cte{c_te:g}"] = constant_chance(labels_of(tests.ask_ft[c_te], "ft"))
        row[f"chance_pt_cte{c_te:g}"] = constant_chance(labels_of(tests.ask_pt[c_te], "pt"))
    return row


def answer_scores(model, tests: AnswerTests) -> dict[str, float]:
    """``acc_ft_cte{c}`` and ``acc_pt_cte{c}`` for each C_Te of ``tests`` (Tables 3 and 5's cells)."""
    row = {}
    for c_te in tests.ask_ft:
        row[f"acc_ft_cte{c_te:g}"] = accuracy(model, tests.ask_ft[c_te], "ft")
        row[f"acc_pt_cte{c_te:g}"] = accuracy(model, tests.ask_pt[c_te], "pt")
    return row


def finetune(model, sample: Callable[[np.random.Generator], Any], steps: int, optim: OptimConfig,
             rng: np.random.Generator, *, which: Which = "answer", evaluate=None, eval_at=(), device="cpu",
             log_every: int = 1, desc: str = "fine-tune") -> TrainLog:
    """Train ``model`` in place on ``sample(rng)`` batches: cross-entropy of the answer position
    against the ``which`` labels (the asked answer, O_PT or O_FT), with the one training loop."""
    return finetune_many([model], [sample], steps, [optim], [rng], which=which, evaluate=evaluate, eval_at=eval_at,
                         device=device, log_every=log_every, desc=desc)[0]


def finetune_many(models: list, samples: list[Callable[[np.random.Generator], Any]], steps: int,
                  optims: list[OptimConfig], rngs: list[np.random.Generator], *, which: Which = "answer",
                  evaluate=None, eval_at=(), device="cpu", log_every: int = 1, desc: str = "fine-tune",
                  compile: bool = False) -> list[TrainLog]:
    """``finetune`` for runs of one architecture trained together (``train.loop.train_many``, which
    says what ``compile`` does): run k fine-tunes ``models[k]`` on ``samples[k](rngs[k])`` with
    ``optims[k]``, one log each."""
    return train_many(models, samples, AnswerLoss(which), steps, optims, rngs=rngs, device=device, evaluate=evaluate,
                      eval_at=eval_at, log_every=log_every, desc=desc, compile=compile)
