"""Chapter 10's training for ``ftscope plan``: the SAEs on the story models (chapter 05's models, which chapter
05's plan counts, are not trained here; the merges train nothing)."""

from __future__ import annotations

from collections.abc import Iterator

from ftscope.book.bench import Work, transformer_flops_per_token
from ftscope.jain import tinystories as ts
from ftscope.synthesis.setting import LensesConfig, stories_config


def sae_count(cfg: ts.StoriesConfig) -> int:
    """The SAEs of ``features.sae_plan``: the base twice, each F+R seed's deleted and revived model, F's first,
    the "Not in PT" control, a random-init model and the control's first fine-tune."""
    return 2 + 2 * cfg.seeds + 1 + 3


def works(preset: str) -> Iterator[Work]:
    lcfg, cfg = LensesConfig.from_preset(preset), stories_config(preset)
    model = ts.build(cfg, 0, "cpu")
    d_sae = lcfg.sae_expansion * cfg.d_mlp
    # the SAE (encoder and decoder, forward and backward) plus the forward pass that gives its activations
    per_token = 12 * cfg.d_mlp * d_sae + transformer_flops_per_token(model) / 3
    yield Work("10", "sparse autoencoders", sae_count(cfg), lcfg.sae_tokens // lcfg.sae_batch_tokens,
               lcfg.sae_batch_tokens, per_token, 2 * cfg.d_mlp * d_sae + d_sae + cfg.d_mlp,
               lcfg.sae_batch_tokens * (3 * d_sae + cfg.d_mlp))
