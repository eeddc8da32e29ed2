"""Sampling text from a causal language model: the sampler a reader can call.

``sample(model, prompts, ...)`` continues each prompt (a list of token ids) by temperature and
top-k sampling, or greedily with ``temperature=0``, from its own seeded generator, and stops a
continuation at the first ``stop_id`` (the document separator: a model that starts a new document
has finished its story) or after ``max_new_tokens``. Prompts of different lengths are sampled
together: the batch is left-padded and the padding masked (rotary positions count from each row's
first token), and each new token costs one position's forward pass through TransformerLens's
key/value cache. Works with any ``HookedTransformer``.

The same seed, prompts and batch size on the same machine give the same text. A finished row keeps
stepping with its batch (its tokens are dropped), so the generator's draws do not depend on when
rows finish.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ftscope.progress import progress


@torch.inference_mode()
def sample(model, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, temperature: float = 0.8,
           top_k: int | None = 40, seed: int = 0, stop_id: int | None = None, n_ctx: int | None = None,
           batch: int = 32, pad_id: int = 0, desc: str = "sampling") -> list[list[int]]:
    """The continuation (token ids, without the prompt and without ``stop_id``) of every prompt.

    ``temperature=0`` decodes greedily (``top_k`` and ``seed`` then play no part). ``n_ctx`` (default:
    the model's ``cfg.n_ctx`` when it has one) caps prompt plus continuation; a prompt longer than
    ``n_ctx - 1`` tokens is an error, not silently cut."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    n_ctx = n_ctx or getattr(getattr(model, "cfg", None), "n_ctx", None)
    too_long = [i for i, p in enumerate(prompts) if len(p) == 0 or (n_ctx and len(p) >= n_ctx)]
    if too_long:
        raise ValueError(f"prompts {too_long[:5]} are empty or do not leave room in the context of {n_ctx} tokens")
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    was_training = model.training
    model.eval()
    out: list[list[int]] = []
    try:
        for start in progress(range(0, len(prompts), batch), desc=desc, total=-(-len(prompts) // batch)):
            out += _sample_batch(model, prompts[start:start + batch], max_new_tokens, temperature, top_k, gen,
                                 stop_id, n_ctx, pad_id, device)
    finally:
        model.train(was_training)
    return out


def _sample_batch(model, prompts, max_new_tokens, temperature, top_k, gen, stop_id, n_ctx, pad_id, device):
    """One batch: left-padded prompts (their mask tells the model where each starts: rotary positions
    count from a row's first real token), then one token a step through TransformerLens's key/value cache."""
    from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

    width = max(len(p) for p in prompts)
    steps = min(max_new_tokens, n_ctx - width) if n_ctx else max_new_tokens
    toks = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        toks[i, width - len(p):] = torch.as_tensor(list(p), dtype=torch.long)
        mask[i, width - len(p):] = 1
    cache = TransformerLensKeyValueCache.init_cache(model.cfg, device, len(prompts))
    logits = model(toks.to(device), attention_mask=mask.to(device), past_kv_cache=cache)[:, -1]
    done = torch.zeros(len(prompts), dtype=torch.bool)
    new = [[] for _ in prompts]
    for step in range(steps):
        nxt = _choose(logits.float().cpu(), temperature, top_k, gen)
        if stop_id is not None:
            done |= nxt == stop_id
        for i in (~done).nonzero().flatten().tolist():
            new[i].append(int(nxt[i]))
        if done.all() or step == steps - 1:
            break
        logits = model(nxt[:, None].to(device), attention_mask=torch.ones((len(prompts), 1), dtype=torch.long,
                                                                              device=device), past_kv_cache=cache)[:, -1]
    return new


def _choose(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else a draw from the top-k softmax at ``temperature``."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=gen).squeeze(-1)
