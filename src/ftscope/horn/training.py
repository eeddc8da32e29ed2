"""Horn & Elliott (2024): the 1-layer Mistral-style base model and its Lua and stories fine-tunes.

- **Base**: English and Python 1:1 by tokens (each batch row is drawn from one corpus with equal
  probability), AdamW, cosine to zero, no warmup (the paper's Trainer settings).
- **Fine-tunes**: from the base, on Lua alone and on stories alone, cosine with warmup.
- **Evaluation**: top-1 next-token accuracy over every position of fixed validation blocks
  (the paper's ``argmax(logits)[:, :-1] == labels[:, 1:]``), and the mean cross-entropy.

Everything trained is cached by what made it (``ftscope.train.checkpoints``): the config fields it
reads, the token streams' hash and the code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ftscope.config import ConfigError
from ftscope.horn.setup import BASE_CORPORA, DOMAINS, Corpora, HornConfig, block_sampler
from ftscope.train import loop as training
from ftscope.train import models
from ftscope.train.cells import Cell
from ftscope.train.loop import OptimConfig, TrainLog, train


def lm_loss(model, batch: torch.Tensor) -> torch.Tensor:
    return model(batch, return_type="loss")


@torch.no_grad()
def evaluate(model, blocks: torch.Tensor, batch: int = 32) -> dict[str, float]:
    """Top-1 next-token accuracy and mean cross-entropy over every position of ``blocks``."""
    device = next(model.parameters()).device
    model.eval()
    hits = total = 0
    loss_sum = 0.0
    for i in range(0, len(blocks), batch):
        x = blocks[i: i + batch].to(device)
        logits = model(x)[:, :-1]
        target = x[:, 1:]
        hits += (logits.argmax(-1) == target).sum().item()
        loss_sum += torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), target.flatten(),
                                                      reduction="sum").item()
        total += target.numel()
    return {"acc": hits / total, "loss": loss_sum / total}


# ------------------------------------------------------------------------- models
def build(cfg: HornConfig, seed: int, device="cpu"):
    return models.mistral(**cfg.model_fields(), seed=seed, device=device)


def _steps(explicit: int, tokens: int, batch: int, n_ctx: int, epochs: float) -> int:
    return explicit or max(1, int(epochs * tokens / (batch * n_ctx)))


def base_steps(cfg: HornConfig, corpora: Corpora) -> int:
    tokens = sum(len(corpora.streams[c]["train"]) for c in BASE_CORPORA)
    return _steps(cfg.base_steps, tokens, cfg.base_batch, cfg.n_ctx, 3.0)


def ft_steps(cfg: HornConfig, corpora: Corpora, domain: str) -> int:
    return _steps(cfg.ft_steps, len(corpora.streams[domain]["train"]), cfg.ft_batch, cfg.n_ctx, 1.0)


def _spec(cfg: HornConfig, corpora: Corpora, **extra) -> dict[str, Any]:
    return {"model": cfg.model_fields(), "tokens": corpora.digest, **extra}


def base_cell(cfg: HornConfig, corpora: Corpora, seed: int, device="cpu") -> Cell:
    """The base model's training cell (English + Python)."""
    steps = base_steps(cfg, corpora)
    optim = OptimConfig(lr=cfg.base_lr, betas=cfg.betas, weight_decay=cfg.base_wd, warmup=cfg.base_warmup,
                        final_lr_ratio=0.0)
    spec = _spec(cfg, corpora, stage="base", seed=seed, steps=steps, batch=cfg.base_batch, optim=optim.__dict__)

    def run():
        torch.manual_seed(seed)
        model = build(cfg, seed, device)
        sample = block_sampler([corpora.streams[c]["train"] for c in BASE_CORPORA], cfg.n_ctx, cfg.base_batch)
        log = train(model, sample, lm_loss, steps, optim, rng=np.random.default_rng(seed), device=device,
                    log_every=max(1, steps // 100), desc="base")
        return training.checkpoint_state(model, log)

    return Cell("horn-base", spec, run)


def finetune_cell(cfg: HornConfig, corpora: Corpora, domain: str, seed: int, device="cpu", project=None) -> Cell:
    """A fine-tune's training cell: it starts from the base cell's weights and depends on it."""
    if domain not in DOMAINS:
        raise ConfigError(f"unknown domain {domain!r}; valid choices: {', '.join(map(repr, DOMAINS))}")
    base = base_cell(cfg, corpora, seed, device)
    steps = ft_steps(cfg, corpora, domain)
    optim = OptimConfig(lr=cfg.ft_lr, betas=cfg.betas, weight_decay=cfg.ft_wd,
                        warmup=min(cfg.ft_warmup_steps / steps, cfg.ft_warmup_cap), final_lr_ratio=0.0)
    spec = _spec(cfg, corpora, stage=f"ft-{domain}", seed=seed, steps=steps, batch=cfg.ft_batch, optim=optim.__dict__)

    def run():
        model = _loaded(cfg, base.get(project)[0], device)
        sample = block_sampler([corpora.streams[domain]["train"]], cfg.n_ctx, cfg.ft_batch)
        log = train(model, sample, lm_loss, steps, optim, rng=np.random.default_rng(seed + 1), device=device,
                    log_every=max(1, steps // 100), desc=f"fine-tune {domain}")
        return training.checkpoint_state(model, log)

    return Cell(f"horn-ft-{domain}", spec, run, deps=(base,))


def _loaded(cfg: HornConfig, state: dict, device):
    return training.load_trained(build(cfg, 0), state["model"], device)


def pretrained_base(cfg: HornConfig, corpora: Corpora, seed: int, device="cpu", project=None):
    """The base model (English + Python); ``(model, log, was_cached)``."""
    state, cached = base_cell(cfg, corpora, seed, device).get(project)
    return _loaded(cfg, state, device), TrainLog(**state["log"]), cached


def finetuned(cfg: HornConfig, corpora: Corpora, domain: str, seed: int, device="cpu", project=None):
    """The base model fine-tuned on one domain (``lua`` or ``stories``); ``(model, log, was_cached)``."""
    state, cached = finetune_cell(cfg, corpora, domain, seed, device, project).get(project)
    return _loaded(cfg, state, device), TrainLog(**state["log"]), cached


def finetunes(cfg: HornConfig, corpora: Corpora, seed: int, device="cpu"):
    """Both fine-tunes, in ``DOMAINS`` order: ``({domain: model}, {domain: TrainLog})``."""
    models_, logs = {}, {}
    for domain in DOMAINS:
        models_[domain], logs[domain], _ = finetuned(cfg, corpora, domain, seed, device)
    return models_, logs


# ------------------------------------------------------------------------- what chapter 08 shows
def trained_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_table(cfg: HornConfig, corpora: Corpora, base_model):
    """The model's sizes, the trained parameters and the base training tokens: the paper's beside ours."""
    import pandas as pd

    from ftscope.horn.reported import PAPER_BASE_EPOCHS, PAPER_BASE_TOKENS, PAPER_PARAMS, paper_config

    table = pd.DataFrame({"paper": paper_config().model_fields(), "ours": cfg.model_fields()})
    table.loc["trained parameters"] = [PAPER_PARAMS, trained_parameters(base_model)]
    table.loc["base training tokens"] = [f"≈{PAPER_BASE_TOKENS / 1e9:.1f} B ({PAPER_BASE_EPOCHS} epochs, estimate)",
                                         base_steps(cfg, corpora) * cfg.base_batch * cfg.n_ctx]
    return table


def loss_curves(logs: dict[str, TrainLog]):
    """One panel of training loss against step per ``{title: log}``; the figure."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(4 * len(logs), 3.2), squeeze=False)
    for ax, (name, log) in zip(axes[0], logs.items()):
        frame = log.frame()
        ax.plot(frame["step"], frame["loss"])
        ax.set(title=name, xlabel="step", ylabel="training loss")
    fig.tight_layout()
    return fig
