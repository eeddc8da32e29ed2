"""Zhang & Wu's training loop for ``ftscope bench`` (``book.bench``): chapter 6's GPT-2 at a preset's sizes,
on random words of its vocabulary (the world is not needed to time it); and for ``ftscope plan``, every
training of chapters 6 and 7 counted (``works``): chapter 6's pretraining, learning-rate grid and other seeds;
chapter 7's LoRA grid and the runs of its four arms (one epoch each; the capacity arm's ``capacity_epochs``). The
grids' extensions past an edge (``setting.next_rate``) are not counted: how many depends on the grids' results.
Chapter 7's fine-tunes of Part III's model on
real abstracts are Part III's model's and are not counted here (this package does not build it)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch

from ftscope.book.bench import Loop, Work, parameters
from ftscope.train.loop import train
from ftscope.zhang.arms import PAIRS, ArmsConfig
from ftscope.zhang.setting import ZhangConfig, build, lm_loss, pretrain_optim
from ftscope.zhang.world import World

#: the world's mean document length in tokens (``<s>`` and the words; about 62 at the spec's parameters), the
#: tokens a padded batch holds per document
MEAN_DOC_TOKENS = 64


def gpt2_flops_per_token(model) -> float:
    """Training FLOPs per token of a ``GPT2LMHeadModel``: 6 x the weights of its matmuls (attention and MLP
    matrices, and the tied unembedding) + 12 x layers x context x width (attention scores and mixing)."""
    c = model.config
    matmul = sum(p.numel() for name, p in model.transformer.h.named_parameters() if p.dim() == 2)
    return 6 * (matmul + c.n_embd * c.vocab_size) + 12 * c.n_layer * c.n_positions * c.n_embd


def gpt2_activation_floats(model, tokens: int) -> float:
    """Floats the backward keeps for ``tokens`` tokens (an estimate, as ``book.bench``'s for TransformerLens):
    per layer and token 11 x width + 2 x the MLP's 4 x width + 2 x heads x context, and 2 x the vocabulary."""
    c = model.config
    return float(tokens * (c.n_layer * (11 * c.n_embd + 8 * c.n_embd + 2 * c.n_head * c.n_positions)
                           + 2 * c.vocab_size))


def _vocab(cfg: ZhangConfig) -> int:
    return len(World(cfg.world_params).vocabulary()) + 3


def loops(preset: str, device) -> Iterator[Loop]:
    cfg = ZhangConfig.from_preset(preset)
    model = build(cfg, _vocab(cfg), 0)
    vocab = model.config.vocab_size
    length = min(cfg.n_ctx + 1, MEAN_DOC_TOKENS)

    def run(steps):
        train(copy.deepcopy(model), lambda r: torch.as_tensor(r.integers(3, vocab, (cfg.pretrain_batch, length))),
              lm_loss, steps, pretrain_optim(cfg), rng=np.random.default_rng(0), device=device, desc="bench")

    yield Loop("Zhang GPT-2 pretraining (random words)", "06", 1, cfg.pretrain_batch * length,
               gpt2_flops_per_token(model), run, "Hugging Face GPT2LMHeadModel")


def works(preset: str) -> Iterator[Work]:
    cfg = ZhangConfig.from_preset(preset)
    model = build(cfg, _vocab(cfg), 0)
    per_token, params = gpt2_flops_per_token(model), parameters(model)

    def work(what, runs, steps, batch):
        tokens = batch * MEAN_DOC_TOKENS
        return Work("06", what, runs, steps, tokens, per_token, params, gpt2_activation_floats(model, tokens))

    yield work("pretraining", 1, cfg.pretrain_steps, cfg.pretrain_batch)
    # the grid, the rates it may add past an edge while its best lies there, and the other seeds
    yield work("fine-tuning: the learning-rate grid and the other seeds",
               len(cfg.lr_grid) + cfg.lr_extend + cfg.seeds - 1, cfg.ft_steps, cfg.ft_batch)
    arms = ArmsConfig.from_preset(preset)  # chapter 07: the same model, chapter 06's base

    def arm(what, runs, docs, epochs=1):
        return Work("07", what, runs, epochs * -(-docs // arms.ft_batch), arms.ft_batch * MEAN_DOC_TOKENS, per_token,
                    params, gpt2_activation_floats(model, arms.ft_batch * MEAN_DOC_TOKENS))

    # the grid and the rates it may add past an edge while its best lies there
    yield arm("LoRA learning-rate grid", len(arms.lora_lr_factors) + arms.grid_extra, arms.ft_docs)
    yield arm("capacity: LoRA ranks, to convergence", len(arms.ranks) * arms.seeds, arms.ft_docs, arms.capacity_epochs)
    yield arm("capacity: all the weights, to convergence", arms.seeds, arms.ft_docs, arms.capacity_epochs)
    for n in arms.sizes:
        if n != arms.ft_docs:
            yield arm(f"data: {n:,} documents", arms.seeds, n)
    yield arm("independence: one factor at a time", (len(PAIRS) - 1) * arms.seeds, arms.ft_docs)
    for f in arms.mixes:
        if f:
            yield arm(f"mixing: {f:.0%} replay", arms.seeds, arms.ft_docs)  # replay in place of bio documents
