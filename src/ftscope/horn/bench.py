"""Horn & Elliott's training loop for ``ftscope bench`` (``book.bench``): the 1-layer Mistral-style
base model at a preset's sizes, on random tokens (the corpora are not needed to time it)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch

from ftscope.book.bench import Loop, transformer_flops_per_token
from ftscope.horn.setup import HornConfig
from ftscope.horn.training import build, lm_loss
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
