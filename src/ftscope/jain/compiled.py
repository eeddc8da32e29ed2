"""Jain et al. (2024) tracr setting: tasks, samplers, fine-tuning and evaluation.

Two compiled capabilities (``ftscope.jain.tracr``) and their fine-tuning tasks:

- **Counter**: the compiled model counts O_PT = ``a``; fine-tuning teaches it to count
  O_FT = ``b``. A *correlated* sample has count(b) = count(a) + 1, so a wrapper "answer
  count(a) + 1" solves it; C_Tr (C_Te) is the share of correlated train (test) samples.
  Uncorrelated samples are uniform over a–i, conditioned on count(b) ≠ count(a) + 1, so
  at C_Te = 0 the wrapper scores 0 and only a real count-b capability scores.
- **Max identifier**: the compiled model returns the (k_PT + 1)-th smallest letter of 10
  distinct letters; fine-tuning asks for the (k_FT + 1)-th. A correlated sample has the
  two answers ``q = k_FT − k_PT`` letters apart in the alphabet (consecutive letters
  around them), so "shift the compiled answer by q" solves it.

Every sampler returns token ids ready for the compiled model (BOS first) and the labels as
output-class indices, drawn from a NumPy ``Generator`` so runs are seeded.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from ftscope.config import ChapterConfig, ConfigError
from ftscope.jain.criteria import CONVERGED_LOSS
from ftscope.jain.tracr import (
    ANSWER_POSITION,
    BOS,
    COUNTER_VOCAB,
    MAX_ID_VOCAB,
    CompiledProgram,
    compile_program,
    count_tokens,
    max_identifier,
)
from ftscope.train.answers import AnswerBatch
from ftscope.train.loop import OptimConfig


@dataclass(frozen=True)
class TracrConfig(ChapterConfig):
    """Both tracr chapters. Defaults are the paper's values (App. B.1, C.1) or, where the
    paper gives none, the choice named in the chapter text."""

    counter_len: int = 40  # input tokens; not found in the paper (its figures show ~40)
    max_id_len: int = 10  # 10 distinct letters (paper's figures)
    max_id_k_pt: int = 4  # compiled: 5th smallest ("sum_small == 4")
    max_id_k_ft: int = 6  # fine-tuned: 7th smallest (paper's default not found; Fig. 51 uses 5th vs 7th)
    mlp_exactness: int = 100  # tracr's default (the paper does not say); counts >= 10 come out wrong with it
    check_samples: int = 2000  # inputs on which compiled models are verified
    tracr_check_samples: int = 200  # of those, compared with tracr's (slow) JAX model on every position
    steps: int = 10_000
    batch: int = 96
    counter_lrs: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)
    counter_c_trs: tuple[float, ...] = (0.0, 0.2, 0.5, 0.8, 1.0)
    counter_grid: Literal["full", "table3"] = "full"  # table3: only Table 3's cells and Fig. 10's (medium η, C_Tr=0)
    max_id_lrs: tuple[float, ...] = (1e-2, 1e-4)
    momentum: float = 0.9  # not found in the paper
    warmup: float = 0.2  # 2K of 10K iterations
    final_lr_ratio: float = 0.01  # cosine to max/100
    noise_std: float = 1e-3  # N(0, 1e-3) added to the compiled weights
    grad_clip: float | None = 1.0  # our addition: SGD diverges without it
    eval_samples: int = 2000
    prune_ks: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 10, 15, 20)
    prune_batch: int = 512
    probe_samples: int = 4000
    probe_steps: int = 2000
    probe_lr: float = 1e-2
    probe_batch: int = 256  # not found in the paper
    probe_schedule: Literal["cosine", "step"] = "cosine"
    probe_warmup: float = 0.05  # share of the probe's steps
    reft_lr_factor: float = 0.1  # reFT of the model fine-tuned at η runs at η * factor (a smaller LR)
    reft_level: float = 0.9  # "revived": count-a accuracy at C_Te=0 reaches this
    reft_steps: int = 10_000
    reft_evals: int = 16  # log-spaced evaluation points (>= 12, so a verdict does not hang on where they fall)
    seeds: int = 5  # fine-tuning seeds per cell of the grid (noise on the compiled weights, batches)
    converged_loss: float = CONVERGED_LOSS  # scored only if the training loss (last 10% of steps) is <= this
    together: int = 64  # at most this many runs (of the grid, of reFT) trained together, as one part
    workers: int = 2  # parts trained at once, each in its own single-threaded process (on a CPU; 1 on a GPU)

    PRESETS: ClassVar = {
        # smoke runs every learning rate of Table 3 (its cells only), so it records every claim `laptop` does
        "smoke": dict(counter_len=12, max_id_len=10, check_samples=100, tracr_check_samples=5, steps=20,
                      counter_c_trs=(0.0, 1.0), counter_grid="table3", max_id_lrs=(1e-2, 1e-4), eval_samples=200,
                      prune_ks=(0, 1, 2), prune_batch=64, probe_samples=300, probe_steps=50, reft_steps=20, reft_evals=4,
                      seeds=2, together=4),
        "laptop": dict(counter_len=20, check_samples=1000, tracr_check_samples=20, steps=3000, counter_c_trs=(0.0, 1.0),
                       counter_grid="table3", seeds=3, together=6,
                       eval_samples=1000, probe_samples=2000, probe_steps=300, reft_steps=600, reft_evals=12),
        "paper": {},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if 1.0 not in self.counter_c_trs or 0.0 not in self.counter_c_trs:
            raise ConfigError(f"counter_c_trs must include 0 and 1 (Table 3), got {self.counter_c_trs}")
        if self.seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {self.seeds}")
        if self.together < 1 or self.workers < 1:
            raise ConfigError(f"together and workers must be >= 1, got {self.together} and {self.workers}")
        if len(self.counter_lrs) < 2 or len(self.max_id_lrs) < 2:
            raise ConfigError("counter_lrs and max_id_lrs need at least two learning rates (small vs large)")

    @property
    def medium_lr(self) -> float:
        return sorted(self.counter_lrs)[-2]

    @property
    def counter_cells(self) -> list[tuple[float, float]]:
        """(η, C_Tr) of every Counter fine-tuning run."""
        full = [(lr, c) for lr in self.counter_lrs for c in self.counter_c_trs]
        if self.counter_grid == "full":
            return full
        largest = max(self.counter_lrs)
        return [(lr, c) for lr, c in full if c == 1.0 or (c == 0.0 and lr in (largest, self.medium_lr))]

    def compile_counter(self, operand: str = "a") -> CompiledProgram:
        return compile_program(count_tokens(operand), vocab=set(COUNTER_VOCAB), max_seq_len=self.counter_len,
                               compiler_bos=BOS, mlp_exactness=self.mlp_exactness)

    def compile_max_id(self) -> CompiledProgram:
        return compile_program(max_identifier(self.max_id_k_pt), vocab=set(MAX_ID_VOCAB), max_seq_len=self.max_id_len,
                               compiler_bos=BOS, mlp_exactness=self.mlp_exactness)

    def optim(self, lr: float) -> OptimConfig:
        return OptimConfig(optimizer="sgd", lr=lr, momentum=self.momentum, warmup=self.warmup,
                           final_lr_ratio=self.final_lr_ratio, grad_clip=self.grad_clip)


# ------------------------------------------------------------------------------- samplers
def _ids(compiled: CompiledProgram, letters: np.ndarray) -> torch.Tensor:
    """(N, L) array of letters → (N, L + 1) token ids with BOS first."""
    enc = compiled.tracr_model.input_encoder.encoding_map
    table = {t: enc[t] for t in compiled.input_classes}
    body = np.vectorize(table.__getitem__, otypes=[np.int64])(letters)  # (N, L)
    bos = np.full((len(letters), 1), enc[compiled.bos], dtype=np.int64)
    return torch.from_numpy(np.concatenate([bos, body], axis=1))


@dataclass
class TracrBatch(AnswerBatch):
    """Inputs of a compiled model with both answers: O_PT (``label_pt``) and O_FT (``label_ft``)."""

    tokens: torch.Tensor  # (N, L + 1) ids
    letters: np.ndarray  # (N, L) the input as letters
    label_pt: torch.Tensor  # (N,) class index of the pretraining answer
    label_ft: torch.Tensor  # (N,) class index of the fine-tuning answer

    @property
    def inputs(self) -> torch.Tensor:
        return self.tokens

    @property
    def predict_pos(self) -> int:
        return ANSWER_POSITION


def _random_ranks(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """(N, width): each row a uniformly random permutation of 0..width-1."""
    return rng.random((n, width)).argsort(1).argsort(1)


def counter_letters(rng: np.random.Generator, n: int, length: int, c: float, pt: str = "a", ft: str = "b"):
    """(N, L) letters; a share ``c`` correlated (count(ft) = count(pt) + 1), the rest not."""
    vocab = np.array(COUNTER_VOCAB)
    others = np.array([v for v in COUNTER_VOCAB if v not in (pt, ft)])
    out = np.empty((n, length), dtype="<U1")
    correlated = rng.random(n) < c
    # correlated rows: count(ft) drawn like a uniform row's (binomial), count(pt) = count(ft) - 1, at random places
    m = int(correlated.sum())
    n_ft = np.clip(rng.binomial(length, 1 / len(vocab), size=m), 1, (length + 1) // 2)[:, None]  # (m, 1)
    ranks = _random_ranks(rng, m, length)
    rows = rng.choice(others, (m, length))
    rows[ranks < n_ft] = ft
    rows[(ranks >= n_ft) & (ranks < 2 * n_ft - 1)] = pt
    out[correlated] = rows
    # uncorrelated rows: uniform, redrawn while count(ft) == count(pt) + 1
    todo = np.flatnonzero(~correlated)
    while len(todo):
        out[todo] = rng.choice(vocab, (len(todo), length))
        rows = out[todo]
        todo = todo[(rows == ft).sum(1) == (rows == pt).sum(1) + 1]
    return out


def counter_batch(compiled: CompiledProgram, rng: np.random.Generator, n: int, length: int, c: float,
                  pt: str = "a", ft: str = "b") -> TracrBatch:
    letters = counter_letters(rng, n, length, c, pt, ft)
    return TracrBatch(_ids(compiled, letters), letters,
                 compiled.encode_output((letters == pt).sum(1).tolist()),
                 compiled.encode_output((letters == ft).sum(1).tolist()))


def max_id_letters(rng: np.random.Generator, n: int, length: int, c: float, k_pt: int, k_ft: int):
    """(N, L) distinct letters; a share ``c`` has the (k_ft+1)-th and (k_pt+1)-th smallest
    letters ``k_ft − k_pt`` apart in the alphabet (so everything between them is present)."""
    alphabet = np.array(MAX_ID_VOCAB)
    lo, hi = min(k_pt, k_ft), max(k_pt, k_ft)
    span = hi - lo + 1  # consecutive letters from the lo-th to the hi-th smallest
    idx = np.empty((n, length), dtype=np.int64)  # letter indices, in random order
    correlated = rng.random(n) < c
    m = int(correlated.sum())
    start = rng.integers(lo, 26 - (length - lo) + 1, size=m)[:, None]  # index of the lo-th smallest letter
    letters = np.arange(26)[None, :]
    below = np.where(letters < start, rng.random((m, 26)), np.inf).argsort(1)[:, :lo]
    above = np.where(letters >= start + span, rng.random((m, 26)), np.inf).argsort(1)[:, : length - lo - span]
    chosen = np.concatenate([below, start + np.arange(span)[None, :], above], axis=1)  # (m, L)
    idx[correlated] = np.take_along_axis(chosen, _random_ranks(rng, m, length), axis=1)
    todo = np.flatnonzero(~correlated)
    while len(todo):  # uncorrelated: L distinct letters, redrawn while the two answers are k_ft - k_pt apart
        idx[todo] = rng.random((len(todo), 26)).argsort(1)[:, :length]
        ordered = np.sort(idx[todo], axis=1)
        todo = todo[ordered[:, hi] - ordered[:, lo] == hi - lo]
    return alphabet[idx]


def max_id_batch(compiled: CompiledProgram, rng: np.random.Generator, n: int, length: int, c: float,
                 k_pt: int, k_ft: int) -> TracrBatch:
    letters = max_id_letters(rng, n, length, c, k_pt, k_ft)
    ordered = np.sort(letters, axis=1)
    return TracrBatch(_ids(compiled, letters), letters,
                 compiled.encode_output(ordered[:, k_pt].tolist()),
                 compiled.encode_output(ordered[:, k_ft].tolist()))


# ------------------------------------------------------------------------------- model ops
def noisy_copy(model, std: float, rng: np.random.Generator):
    """A copy of the compiled model with N(0, std²) added to every weight (seeded)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    with torch.no_grad():
        for p in out.parameters():
            p.add_((torch.randn(p.shape, generator=gen) * std).to(p.device))  # drawn on the CPU: same noise on any device
    return out


# ------------------------------------------------------------------------------- analyses
def selector_layer(compiled: CompiledProgram, batch: TracrBatch, token: str) -> int:
    """The block whose attention, at the answer position, puts most weight on ``token`` in the compiled model.

    For the Counter this is the ``SelectorWidth`` (Block 1: tracr puts ``tokens == a`` in Block 0's MLP
    and leaves Block 0's attention empty, i.e. uniform)."""
    shares = [attention_on(compiled.model, batch, layer, (token,))[token] for layer in range(compiled.model.cfg.n_layers)]
    return int(np.argmax(shares))


def attention_on(model, batch: TracrBatch, layer: int, tokens: tuple[str, ...]) -> dict[str, float]:
    """Share of the answer position's attention in ``layer`` that lands on each of ``tokens`` (``BOS``: position 0)."""
    _, cache = model.run_with_cache(batch.tokens, names_filter=f"blocks.{layer}.attn.hook_pattern")
    pattern = cache["pattern", layer][:, 0, ANSWER_POSITION].cpu().numpy()  # (N, L + 1) over keys, BOS first
    return {t: float(pattern[:, 0].mean()) if t == BOS else float((pattern[:, 1:] * (batch.letters == t)).sum(1).mean())
            for t in tokens}
