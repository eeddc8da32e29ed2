"""Jain et al. (2024) PCFG setting: pretraining, fine-tuning, evaluation and analyses.

The data layer (grammar, task families, priors, samplers) is ``ftscope.jain.pcfg``; this module
trains minGPT-style models on it with the shared training loop and config system:

- **Pretraining** (``pretrained``): all five task families, the operand drawn from a prior
  over (a, b, c), fresh samples every step, AdamW with cosine decay after a 20% warmup. The
  loss is the cross-entropy of the answer token only (the paper does not say whether it
  also trains on the text tokens; the answer is what every evaluation reads). The state is
  cached by a hash of everything that made it (``ftscope.train.checkpoints``), so both PCFG
  notebooks and every re-run reuse one pretraining per (config, prior, seed).
- **Fine-tuning** (``finetune_counter``; ``finetune_counters`` for runs trained together): task C
  asking for O_FT = ``b``, a share C_Tr of samples correlated (count(b) = count(a) + 1), from the
  pretrained weights, evaluated at C_Te ∈ {0, 1} for both counts.
- **Analysis units**: MLP neurons for pruning (``neuron_units``), the probes' position
  (``probe_positions``); the chapters' analyses themselves are in ``ftscope.jain.pcfg_analyses``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from ftscope.config import ChapterConfig, ConfigError
from ftscope.jain import pcfg
from ftscope.jain.criteria import CONVERGED_LOSS
from ftscope.jain.pcfg import FAMILIES, PRIORS, TERMINALS, Batch, CounterBatch, Vocab
from ftscope.train import loop as training
from ftscope.train import models
from ftscope.train.answers import AnswerLoss, AnswerTests, accuracy, finetune_many
from ftscope.train.cells import Cell, Job, get_together
from ftscope.train.loop import OptimConfig, TrainLog


@dataclass(frozen=True)
class PcfgConfig(ChapterConfig):
    """Both PCFG chapters. Defaults are the paper's values (Sec. 4, App. B.2, C.2) or, where
    the paper gives none, the choice named in the chapter text."""

    # data (Sec. 4, Fig. 15)
    window: int = 250
    count_span: int = 40
    occurrence: int = 6
    # model: minGPT, ~3M parameters
    n_layers: int = 6
    n_heads: int = 6
    d_model: int = 192
    # pretraining
    priors: tuple[str, ...] = ("low", "medium", "high")
    pretrain_steps: int = 200_000  # the paper's main results
    pretrain_batch: int = 128  # not found in the paper
    pretrain_lr: float = 1e-3
    pretrain_warmup: float = 0.2
    weight_decay: float = 0.1  # not found; minGPT's default
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW betas, pretraining and fine-tuning (not found; minGPT's)
    # fine-tuning (App. C.2, Tables 5-8)
    ft_steps: int = 10_000
    ft_batch: int = 96
    ft_lrs: tuple[float, float, float] = (1e-4, 1e-5, 1e-6)  # η_L, η_M, η_S at 10K steps
    ft_c_trs: tuple[float, ...] = (0.0, 0.5, 0.8, 1.0)
    ft_grid: Literal["full", "laptop"] = "full"  # laptop: the cells the claims and figures read (see ``cells``)
    ft_seeds: int = 5  # seeds of every fine-tuning cell (the paper reports none)
    pretrain_seeds: int = 3  # pretraining seeds chapter 3 judges its claims on (chapter 4 starts from the first)
    correlation: Literal["natural", "edit"] = "natural"  # correlated texts: natural windows by rejection, or edited
    converged_loss: float = CONVERGED_LOSS  # scored only if the training loss (last 10% of steps) is <= this
    ft_warmup: float = 0.2
    final_lr_ratio: float = 0.01
    lr_reference_steps: int = 10_000  # η is scaled by lr_reference_steps / ft_steps (same η·steps as the paper) ...
    max_lr_share: float = 0.1  # ... but never past η_L = this × the pretraining η (the paper's η_L is a tenth of it)
    ft_evals: int = 8  # log-spaced evaluations during fine-tuning (Fig. 6)
    compile_grid: bool = True  # torch.compile the grid's runs trained together (train_many): ~2x at laptop, ~20 s to compile
    eval_samples: int = 2000
    # analyses
    prune_ks: tuple[int, ...] = tuple(range(16))  # Fig. 7: K = 0-15 neurons
    prune_batch: int = 512
    probe_samples: int = 4000
    probe_steps: int = 4000  # App. H: 4K iterations of AdamW at 1e-3, x0.1 at 2K, 3K and 3.5K
    probe_lr: float = 1e-3
    probe_batch: int = 256  # not found
    probe_schedule: Literal["cosine", "step"] = "step"  # App. H: x0.1 at 2K, 3K and 3.5K of 4K
    probe_warmup: float = 0.0  # not found
    reft_steps: int = 10_000  # Fig. 9: 10^2-10^4 iterations
    reft_lr: Literal["medium", "small"] = "medium"  # reFT (and Scr.+FT) at η_M, after fine-tuning at η_L (App. H)
    reft_evals: int = 12
    reft_level: float = 0.9  # "revived": count-a accuracy reaches this share of the pretrained model's

    PRESETS: ClassVar = {
        "smoke": dict(window=24, n_layers=1, n_heads=2, d_model=32, pretrain_steps=60, pretrain_batch=32,
                      ft_steps=10, ft_batch=32, ft_c_trs=(0.0, 1.0), ft_grid="laptop", ft_seeds=2, pretrain_seeds=2, ft_evals=3,
                      eval_samples=200, prune_ks=(0, 1, 2), prune_batch=64, probe_samples=300, probe_steps=40,
                      reft_steps=10, reft_evals=3, compile_grid=False),
        "laptop": dict(window=40, n_layers=2, n_heads=4, d_model=64, pretrain_steps=1500, pretrain_batch=64,
                   ft_steps=800, ft_batch=32, ft_c_trs=(0.0, 0.8, 1.0), ft_grid="laptop", ft_seeds=3, ft_evals=8,
                   eval_samples=600, prune_batch=256, probe_samples=2000, probe_steps=200, reft_steps=200,
                   reft_evals=12),
        "paper": {},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        for p in self.priors:
            if p not in PRIORS:
                raise ConfigError(f"unknown prior {p!r}; valid choices: {', '.join(map(repr, PRIORS))}")
        if "low" not in self.priors or len(self.priors) < 2:
            raise ConfigError(f"priors must include 'low' and at least one other, got {self.priors}")
        if 1.0 not in self.ft_c_trs or 0.0 not in self.ft_c_trs:
            raise ConfigError(f"ft_c_trs must include 0 and 1, got {self.ft_c_trs}")
        if not all(a > b for a, b in zip(self.ft_lrs, self.ft_lrs[1:])):
            raise ConfigError(f"ft_lrs are (η_L, η_M, η_S), largest first, got {self.ft_lrs}")
        if self.ft_seeds < 1:
            raise ConfigError(f"ft_seeds must be >= 1, got {self.ft_seeds}")
        if self.pretrain_seeds < 1:
            raise ConfigError(f"pretrain_seeds must be >= 1, got {self.pretrain_seeds}")

    # ---------------------------------------------------------------- derived
    @property
    def vocab(self) -> Vocab:
        return Vocab.for_window(self.window, self.count_span, self.occurrence)

    @property
    def lr_scale(self) -> float:
        """η·steps as the paper's (``lr_reference_steps / ft_steps``), capped so that η_L stays at most
        ``max_lr_share`` of the pretraining η: the paper's order η_S < η_M < η_L < η_PT is kept."""
        return min(self.lr_reference_steps / self.ft_steps, self.max_lr_share * self.pretrain_lr / self.ft_lrs[0])

    @property
    def lrs(self) -> dict[str, float]:
        """{"large": η_L, "medium": η_M, "small": η_S} as used, scaled to this preset's steps."""
        return {name: lr * self.lr_scale for name, lr in zip(("large", "medium", "small"), self.ft_lrs)}

    @property
    def high_c_tr(self) -> float:
        """The C_Tr of the paper's "avoids the shortcut" cell (0.8), or the largest below 1."""
        below = [c for c in self.ft_c_trs if c < 1.0]
        return 0.8 if 0.8 in below else max(below)

    @property
    def cells(self) -> list[tuple[str, str, float]]:
        """(prior, η name, C_Tr) of every fine-tuning run (seed 0).

        ``full``: every prior × η × C_Tr. ``laptop``: every prior at C_Tr = 0 and 1 at η_M (Figs. 5, 6), the
        shortcut cell (``shortcut_prior``, η_M, ``high_c_tr``), C_Tr = 1 at η_L for every prior (the models
        reFT starts from) and at η_S for the low prior (Table 5)."""
        full = [(p, lr, c) for p in self.priors for lr in ("large", "medium", "small") for c in self.ft_c_trs]
        if self.ft_grid == "full":
            return full
        return [(p, lr, c) for p, lr, c in full
                if (lr == "medium" and (c in (0.0, 1.0) or (p, c) == (self.shortcut_prior, self.high_c_tr)))
                or (c == 1.0 and (lr == "large" or p == "low"))]

    @property
    def shortcut_prior(self) -> str:
        """The prior of the paper's "avoids the shortcut" cell: P(a) = 0.9, our ``medium``."""
        return "medium" if "medium" in self.priors else self.priors[-1]


    def optim(self, lr: float) -> OptimConfig:
        return OptimConfig(optimizer="adamw", lr=lr, betas=self.betas, weight_decay=self.weight_decay, warmup=self.ft_warmup,
                           final_lr_ratio=self.final_lr_ratio)

    def pretrain_optim(self) -> OptimConfig:
        return OptimConfig(optimizer="adamw", lr=self.pretrain_lr, betas=self.betas, weight_decay=self.weight_decay,
                           warmup=self.pretrain_warmup, final_lr_ratio=self.final_lr_ratio)

    def model_spec(self) -> dict:
        return dict(n_layers=self.n_layers, n_heads=self.n_heads, d_model=self.d_model,
                    n_ctx=pcfg.sequence_length(self.window) - 1, d_vocab=self.vocab.size)

    def pretraining_batch(self, rng: np.random.Generator, prior: str, n: int | None = None) -> Batch:
        return pcfg.pretraining_batch(rng, self.vocab, n or self.pretrain_batch, self.window, prior,
                                      count_span=self.count_span, occurrence=self.occurrence)

    def counter_batch(self, rng: np.random.Generator, c: float, n: int | None = None, ask: str = "b") -> CounterBatch:
        """Task C (count ``ask``) on fine-tuning data with a share ``c`` correlated (pt = a, ft = b)."""
        return pcfg.counter_batch(rng, self.vocab, n or self.ft_batch, self.window, c, pt="a", ft="b", ask=ask,
                                  count_span=self.count_span, correlation=self.correlation)


# ------------------------------------------------------------------------------- pretraining
def build_model(cfg: PcfgConfig, seed: int, device="cpu"):
    return models.mingpt(**cfg.model_spec(), seed=seed, device=device)


def _pretrain(cfg: PcfgConfig, prior: str | tuple[float, ...], seed: int, device) -> dict:
    """Train one model from scratch; the state that ``pretrained`` caches (weights on the CPU)."""
    return _pretrain_many(cfg, [prior], seed, device)[0]


def _pretrain_many(cfg: PcfgConfig, priors: list, seed: int, device) -> list[dict]:
    """Train one model from scratch per prior, all together (``train_many``, compiled as the grid is
    when there are several); each has its own generator, as a lone run has."""
    models_ = [build_model(cfg, seed, device) for _ in priors]
    logs = training.train_many(models_, [lambda r, p=p: cfg.pretraining_batch(r, p) for p in priors], AnswerLoss(),
                               cfg.pretrain_steps, [cfg.pretrain_optim()] * len(priors),
                               rngs=[np.random.default_rng([seed, 1]) for _ in priors], device=device,
                               log_every=max(1, cfg.pretrain_steps // 200),
                               desc=f"pretrain prior={','.join(map(str, priors))} seed={seed}",
                               compile=cfg.compile_grid and len(priors) > 1)
    return [training.checkpoint_state(m, log) for m, log in zip(models_, logs)]


PRETRAIN_FIELDS = ("window", "count_span", "occurrence", "n_layers", "n_heads", "d_model", "pretrain_steps",
                   "pretrain_batch", "pretrain_lr", "pretrain_warmup", "weight_decay", "betas", "final_lr_ratio",
                   "compile_grid")


def pretrain_cell(cfg: PcfgConfig, prior: str, seed: int, device="cpu") -> Cell:
    """The training cell of one pretraining (prior, seed)."""
    spec = {"task": "pcfg-pretrain", "prior": prior, "seed": seed,
            **{f: getattr(cfg, f) for f in PRETRAIN_FIELDS}, "model": cfg.model_spec()}
    return Cell(f"pcfg-{prior}-s{seed}", spec, lambda: _pretrain(cfg, prior, seed, device))


def pretrain_job(cfg: PcfgConfig, priors: list[str], seed: int, device="cpu") -> Job:
    """The pretrainings of ``priors`` on ``seed`` as one job: the cells not cached trained together."""
    cells = [pretrain_cell(cfg, prior, seed, device) for prior in priors]
    by_name = dict(zip((c.name for c in cells), priors))
    return Job(tuple(cells), lambda missing: _pretrain_many(cfg, [by_name[c.name] for c in missing], seed, device),
               work=("pretraining (every prior on every seed, b only once)",))


def pretrained_many(cfg: PcfgConfig, priors: list[str], seed: int, device="cpu", *, project=None,
                    echo=print) -> dict[str, tuple]:
    """``pretrained`` for several priors: ``{prior: (model, log, was_cached)}``, the ones not in the
    cache trained together (``_pretrain_many``)."""
    for prior in priors:
        pcfg.operand_prior(prior)  # unknown names fail here, before any compute
    job = pretrain_job(cfg, priors, seed, device)
    got = get_together(list(job.cells), job.build_many, project, echo)
    return {prior: (*_loaded(cfg, seed, device, state), was_cached) for prior, (state, was_cached) in zip(priors, got)}


def _loaded(cfg: PcfgConfig, seed: int, device, state: dict) -> tuple:
    """``(model, log)`` of a cached pretraining state, the model on ``device`` in eval mode."""
    return training.load_trained(build_model(cfg, seed, "cpu"), state["model"], device), TrainLog(**state["log"])


def pretrained(cfg: PcfgConfig, prior: str, seed: int, device="cpu", *, project=None, echo=print):
    """``(model, log, was_cached)``: the model pretrained with ``prior`` and ``seed``, from the
    checkpoint cache when this exact configuration was trained before (on any device)."""
    pcfg.operand_prior(prior)  # unknown names fail here, before any compute
    state, was_cached = pretrain_cell(cfg, prior, seed, device).get(project, echo)
    return (*_loaded(cfg, seed, device, state), was_cached)


@torch.no_grad()
def family_tests(cfg: PcfgConfig, rng: np.random.Generator, n: int, device="cpu") -> dict[str, Batch]:
    """Fresh pretraining-format samples for every (family, operand), ``{"C a": batch, …, "T": batch}``: one
    test set that every model is scored on, and on which the best constant answer is counted."""
    out = {}
    for fam in FAMILIES:
        for op in (TERMINALS if fam != "T" else ("",)):
            text = pcfg.text_windows(rng, n, cfg.window)
            operand = np.full(n, TERMINALS.index(op) if op else -1)
            out[f"{fam} {op}".strip()] = pcfg.make_batch(cfg.vocab, text, np.full(n, FAMILIES.index(fam)), operand,
                                                         cfg.count_span, cfg.occurrence).to(device)
    return out


def family_accuracy(cfg: PcfgConfig, model, rng: np.random.Generator, n: int) -> dict[str, float]:
    """Accuracy on fresh pretraining-format samples for every (family, operand): ``{"C a": …, "T": …}``."""
    device = next(model.parameters()).device
    return {name: accuracy(model, b) for name, b in family_tests(cfg, rng, n, device).items()}


# ------------------------------------------------------------------------------- fine-tuning
def counter_tests(cfg: PcfgConfig, rng: np.random.Generator, n: int, device="cpu") -> AnswerTests:
    """Fixed test sets: count-b prompts at C_Te = 1 and 0 (both labels carried), and the same texts
    asking count-a (``answer_scores`` reads O_FT on the first and O_PT on the second)."""
    ask_b = {c: cfg.counter_batch(rng, c, n).to(device) for c in (1.0, 0.0)}
    return AnswerTests(ask_pt={c: pcfg.reask(cfg.vocab, b, "a") for c, b in ask_b.items()}, ask_ft=ask_b)


def finetune_counter(cfg: PcfgConfig, model, lr: float, c_tr: float, rng: np.random.Generator, *, ask: str = "b",
                     steps: int | None = None, evaluate=None, eval_at=(), device="cpu",
                     desc: str = "fine-tune") -> TrainLog:
    """Task C asking ``ask``, a share ``c_tr`` of samples correlated; trains ``model`` in place."""
    return finetune_counters(cfg, [model], [(lr, c_tr)], [rng], ask=ask, steps=steps, evaluate=evaluate,
                             eval_at=eval_at, device=device, desc=desc)[0]


def finetune_counters(cfg: PcfgConfig, models: list, cells: list[tuple[float, float]], rngs: list[np.random.Generator],
                      *, ask: str = "b", steps: int | None = None, evaluate=None, eval_at=(), device="cpu",
                      desc: str = "fine-tune", compile: bool = False) -> list[TrainLog]:
    """``finetune_counter`` for several models trained together (``train.answers.finetune_many``, which
    says what ``compile`` does): model k at learning rate and C_Tr ``cells[k]``, drawing from ``rngs[k]``."""
    steps = cfg.ft_steps if steps is None else steps
    return finetune_many(models, [lambda r, c=c_tr: cfg.counter_batch(r, c, ask=ask) for _, c_tr in cells], steps,
                         [cfg.optim(lr) for lr, _ in cells], rngs, evaluate=evaluate, eval_at=eval_at, device=device,
                         desc=desc, compile=compile)


# ------------------------------------------------------------------------------- analyses
def neuron_units(model) -> dict[str, int]:
    """Every MLP neuron as a pruning unit: row ``i`` of ``blocks.l.mlp.W_out`` (TransformerLens
    stores it as d_mlp × d_model), i.e. neuron i's whole write into the residual stream."""
    return {f"blocks.{layer}.mlp.W_out": 0 for layer in range(model.cfg.n_layers)}


def probe_positions(batch: Batch) -> int:
    """Where probes read the residual stream: ``<art>``, the answer token's input position."""
    return batch.predict_pos


def copy_model(model):
    return copy.deepcopy(model)
