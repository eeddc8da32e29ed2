"""Capacity (Fig. 6's analog): LoRA adapters of a given rank on chapter 6's GPT-2, with Hugging Face
``peft``, the paper's library. The released LoRA config adapts q, k, v, o and the MLP of LLaMA-2 (r = 8, α = 16,
no dropout); on GPT-2 those are the ``Conv1D`` layers ``c_attn`` (q, k, v together), ``c_proj`` (attention
output and MLP output) and ``c_fc``, whose weights are stored transposed (``fan_in_fan_out``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

TARGETS = ("c_attn", "c_proj", "c_fc")


def lora(model, rank: int, *, seed: int | Sequence[int], alpha: float | None = None):
    """``model`` (a ``GPT2LMHeadModel``) wrapped with LoRA adapters of ``rank`` on ``TARGETS``; α = 2 × rank as in
    the released config (16 at r = 8). Only the adapters train. The adapters' initial weights are drawn from
    ``seed`` (an int or a sequence of ints), not from torch's global generator, so a run's numbers do not depend
    on what the process ran before it."""
    from peft import LoraConfig, get_peft_model

    if rank < 1:
        raise ValueError(f"a LoRA rank is a positive int, got {rank}")
    config = LoraConfig(r=rank, lora_alpha=2 * rank if alpha is None else alpha, lora_dropout=0.0,
                        target_modules=list(TARGETS), fan_in_fan_out=True, bias="none")
    init_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        return get_peft_model(model, config)


def adapter_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merged(model, copy: bool = False):
    """The adapted model as a plain ``GPT2LMHeadModel`` (the adapters folded into the weights); with ``copy`` a
    merged copy, the adapted model left as it is (a snapshot during training)."""
    import copy as _copy

    return (_copy.deepcopy(model) if copy else model).merge_and_unload()
