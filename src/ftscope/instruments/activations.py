"""Reading a model's activations: the residual stream at chosen positions, any hook in batches, and
attention patterns compared between two models (TransformerLens hook names throughout)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ftscope.progress import progress

HOOK = "blocks.0.mlp.hook_post"  # the MLP activations Horn & Elliott's SAEs read


@torch.no_grad()
def residuals(model, tokens: torch.Tensor, position: int | torch.Tensor) -> dict[str, torch.Tensor]:
    """Residual stream at ``position`` before block 0 and after every block: ``{"B0": (N, d), ...}``.

    ``position`` is one index for all rows, or a (N,) tensor of per-row indices.
    """
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    rows = torch.arange(tokens.shape[0])
    out = {}
    for b, name in enumerate(names):
        acts = cache[name]  # (N, T, d)
        out[f"B{b}"] = acts[rows, position] if isinstance(position, torch.Tensor) else acts[:, position]
    return out


@torch.no_grad()
def hook_batches(model, rows, hook: str = HOOK, batch: int = 64, desc: str | None = None) -> Iterator[torch.Tensor]:
    """The hook's activations for token ``rows`` [n, T], ``batch`` rows at a time, each flattened to
    [batch*T, d] on the model's device (the forward pass stops after the hook's block)."""
    device, rows = next(model.parameters()).device, torch.as_tensor(rows)
    stop = int(hook.split(".")[1]) + 1 if hook.startswith("blocks.") else None
    starts = range(0, len(rows), batch)
    for i in progress(starts, desc=desc, total=len(starts)) if desc else starts:
        _, cache = model.run_with_cache(rows[i: i + batch].to(device), names_filter=hook, stop_at_layer=stop)
        yield cache[hook].flatten(0, 1)


def hook_acts(model, rows: torch.Tensor, hook: str = HOOK, batch: int = 64) -> torch.Tensor:
    """The hook's activations for token ``rows`` [n, T], flattened to [n*T, d], float32 on the CPU."""
    return torch.cat([x.float().cpu() for x in hook_batches(model, rows, hook, batch)])


def pattern_similarity(model, reference, tokens: torch.Tensor, layer: int) -> float:
    """Pearson correlation of ``layer``'s attention patterns (all queries and keys) between two models."""
    name = f"blocks.{layer}.attn.hook_pattern"
    a = model.run_with_cache(tokens, names_filter=name)[1][name].flatten()
    b = reference.run_with_cache(tokens, names_filter=name)[1][name].flatten()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
