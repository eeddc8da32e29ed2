"""Horn & Elliott's training loop for ``ftscope bench`` (``book.bench``): the 1-layer Mistral-style
base model at a preset's sizes, on random tokens (the corpora are not needed to time it); and for
``ftscope plan``, every training of chapters 8-9 counted (``works``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch

from ftscope.book.bench import Loop, Work, transformer_flops_per_token, transformer_work
from ftscope.horn import reported
from ftscope.horn.features import sae_runs
from ftscope.horn.setup import DOMAINS, HornConfig
from ftscope.horn.training import build, lm_loss
from ftscope.instruments.sae import train_sae
from ftscope.train.loop import OptimConfig, train


def loops(preset: str, device) -> Iterator[Loop]:
    cfg = HornConfig.from_preset(preset)
    model = build(cfg, 0, device)
    vocab = model.cfg.d_vocab

    def base(steps):
        train(copy.deepcopy(model), lambda r: torch.as_tensor(r.integers(0, vocab, (cfg.base_batch, cfg.n_ctx))),
              lm_loss, steps, OptimConfig(lr=cfg.base_lr), rng=np.random.default_rng(0), device=device, desc="bench")

    yield Loop("Horn base model (random tokens)", "08", 1, cfg.base_batch * cfg.n_ctx,
               transformer_flops_per_token(model), base)

    d_sae = cfg.sae_expansion * cfg.d_mlp
    rows = np.random.default_rng(0).integers(0, vocab, (max(64, 4 * cfg.sae_batch_tokens // cfg.sae_context),
                                                         cfg.sae_context))

    def sae(steps):
        train_sae(model, rows, rows[:16], d_sae=d_sae, l1=cfg.sae_l1, lr=cfg.sae_lr, betas=cfg.sae_betas,
                  tokens=steps * cfg.sae_batch_tokens, batch_tokens=cfg.sae_batch_tokens, seed=0, eval_batches=1)

    yield Loop("Horn SAE (SAELens, random tokens)", "09", 1, cfg.sae_batch_tokens, sae_flops_per_token(cfg, model), sae,
               "with SAELens's set-up and activation buffer")


def sae_flops_per_token(cfg: HornConfig, model) -> float:
    """Training FLOPs per token of an SAE on the MLP of ``model`` (12 x d_mlp x d_sae: encoder and decoder,
    forward and backward) plus the model's forward that gives its activations."""
    return 12 * cfg.d_mlp * cfg.sae_expansion * cfg.d_mlp + transformer_flops_per_token(model) / 3


# One epoch of each fine-tuning set at ``paper``, where the step count is the data's (``ft_steps = 0``).
# The paper states no token counts; these are our estimates: TinyStories' train split, about 2.1M stories
# of about 220 tokens; 80% of small-lua-stack's 559K files at about 600 tokens.
PAPER_FT_TOKENS_ESTIMATE = {"stories": 0.47e9, "lua": 0.27e9}


def works(preset: str) -> Iterator[Work]:
    """Every training of chapters 8-9 at ``preset``: the base model, the two fine-tunes and the SAEs (``sae_runs``:
    the four models' and the random-init model's, the floor; their cost includes the model's forward that gives
    their activations)."""
    cfg = HornConfig.from_preset(preset)
    model = build(cfg, 0, "cpu")
    block = cfg.base_batch * cfg.n_ctx
    base_steps = cfg.base_steps or round(reported.PAPER_BASE_TOKENS / block)
    yield transformer_work("08", "base model", model, 1, base_steps, block)
    for domain in DOMAINS:
        steps = cfg.ft_steps or round(PAPER_FT_TOKENS_ESTIMATE[domain] / (cfg.ft_batch * cfg.n_ctx))
        yield transformer_work("08", f"fine-tune on {domain}", model, 1, steps, cfg.ft_batch * cfg.n_ctx)
    d_sae = cfg.sae_expansion * cfg.d_mlp
    per_token = sae_flops_per_token(cfg, model)
    sae_params = 2 * cfg.d_mlp * d_sae + d_sae + cfg.d_mlp
    yield Work("09", "sparse autoencoders", len(sae_runs(cfg)), cfg.sae_tokens // cfg.sae_batch_tokens,
               cfg.sae_batch_tokens, per_token, sae_params, cfg.sae_batch_tokens * (3 * d_sae + cfg.d_mlp))
