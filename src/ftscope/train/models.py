"""Model builders: small TransformerLens models with stable hook names."""

from __future__ import annotations


def mingpt(*, n_layers: int, n_heads: int, d_model: int, n_ctx: int, d_vocab: int, seed: int, device="cpu"):
    """A minGPT-style causal transformer (pre-LayerNorm, GELU MLP of width 4·d_model) as a
    ``HookedTransformer``; weights drawn from ``seed``."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    cfg = HookedTransformerConfig(
        n_layers=n_layers, n_heads=n_heads, d_model=d_model, d_head=d_model // n_heads, d_mlp=4 * d_model,
        n_ctx=n_ctx, d_vocab=d_vocab, act_fn="gelu", normalization_type="LN", attention_dir="causal",
        positional_embedding_type="standard", seed=seed, device=str(device), init_weights=True,
    )
    return HookedTransformer(cfg)


def mistral(*, d_model: int, d_mlp: int, n_heads: int, n_kv_heads: int, d_head: int, n_ctx: int, d_vocab: int,
            n_layers: int = 1, eps: float = 1e-6, rope_base: float = 10_000.0, seed: int, device="cpu"):
    """A Mistral-style causal transformer as a ``HookedTransformer`` (Horn & Elliott's 1-layer model):
    RMSNorm, rotary positions, a gated SiLU MLP (``hook_post`` = silu(x·W_gate)⊙(x·W_in)), grouped-query
    attention with ``n_kv_heads`` key/value heads and untied embedding and unembedding. Mistral has no
    biases; TransformerLens always creates them, so they are frozen at zero here."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    if n_heads % n_kv_heads:
        raise ValueError(f"n_heads={n_heads} is not a multiple of n_kv_heads={n_kv_heads}")
    cfg = HookedTransformerConfig(
        n_layers=n_layers, d_model=d_model, d_head=d_head, n_heads=n_heads, n_key_value_heads=n_kv_heads,
        d_mlp=d_mlp, n_ctx=n_ctx, d_vocab=d_vocab, act_fn="silu", normalization_type="RMS", eps=eps,
        positional_embedding_type="rotary", rotary_base=int(rope_base), gated_mlp=True,
        original_architecture="MistralForCausalLM", default_prepend_bos=False, seed=seed, device=str(device),
        init_weights=True,
    )
    model = HookedTransformer(cfg)
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[-1].lstrip("_").startswith("b_"):
            p.data.zero_()
            p.requires_grad_(False)
    return model


# The configuration fields a ``plain_forward`` handles, with the one value each must have (the
# HookedTransformers ``mingpt`` and the tracr compiler build); any other value and training together
# calls the module itself instead.
_PLAIN_DEFAULTS = dict(positional_embedding_type="standard", attn_only=False, gated_mlp=False, n_key_value_heads=None,
                       parallel_attn_mlp=False, final_rms=False, post_embedding_ln=False, use_qk_norm=False,
                       scale_attn_by_inverse_layer_idx=False, use_normalization_before_and_after=False,
                       use_local_attn=False, attn_scores_soft_cap=-1.0, output_logits_soft_cap=-1.0,
                       use_attention_sinks=False, num_experts=None, use_split_qkv_input=False, use_attn_in=False)


def plain_forward_supported(model) -> bool:
    """Whether ``plain_forward`` computes ``model``'s logits: a ``HookedTransformer`` with learned
    positions, LayerNorm or none, a ReLU or exact-GELU MLP and causal or bidirectional attention."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or type(model).__name__ != "HookedTransformer":
        return False
    return (all(getattr(cfg, k, v) == v for k, v in _PLAIN_DEFAULTS.items())
            and cfg.normalization_type in (None, "LN") and cfg.act_fn in ("relu", "gelu")
            and cfg.attention_dir in ("causal", "bidirectional"))


def plain_forward(cfg, params: dict, tokens, at: int | None = None):
    """The logits ``HookedTransformer(cfg)`` with ``params`` (its ``named_parameters`` names) gives on
    ``tokens`` (N, T), in plain torch, without hook points: the same operations in the same order, so
    the same numbers up to fused additions. ``torch.func.vmap`` over it trains many models as one
    (``train.loop.train_many``).

    ``at``: only the logits at that position, (N, vocab). The last block then computes its query,
    attention output, MLP and unembedding at that one position (its keys and values still read every
    position): what a loss read at one answer position needs, a quarter to a half of a small model's
    arithmetic saved. The other positions' logits are never computed, so they cannot be asked for."""
    import torch

    def norm(x, name):
        if cfg.normalization_type is None:
            return x
        x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + cfg.eps).sqrt()
        return x * params[f"{name}.w"] + params[f"{name}.b"]

    def linear(x, w, b):  # x (..., D) @ w (D, E) + b
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[-1])

    act = torch.relu if cfg.act_fn == "relu" else torch.nn.functional.gelu
    n, t = tokens.shape
    if at is not None and not -t <= at < t:
        raise IndexError(f"plain_forward: position {at} is outside the {t} positions of the input")
    at = None if at is None else at % t
    heads, d_head = cfg.n_heads, cfg.d_head
    x = params["embed.W_E"][tokens] + params["pos_embed.W_pos"][:t]
    causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril() if cfg.attention_dir == "causal" else None
    scale = cfg.attn_scale if cfg.use_attn_scale else 1.0
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}."
        rows = slice(at, at + 1) if at is not None and layer == cfg.n_layers - 1 else slice(None)
        h = norm(x, p + "ln1")
        q, k, v = (linear(x_, params[p + f"attn.W_{m}"].permute(1, 0, 2).reshape(cfg.d_model, heads * d_head),
                          params[p + f"attn.b_{m}"].reshape(-1)).reshape(n, x_.shape[1], heads, d_head).transpose(1, 2)
                   for m, x_ in (("Q", h[:, rows]), ("K", h), ("V", h)))
        scores = q @ k.transpose(-1, -2) / scale
        if causal is not None:
            scores = scores.masked_fill(~causal[rows], float("-inf"))
        z = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, q.shape[2], heads * d_head)
        x = x[:, rows] + linear(z, params[p + "attn.W_O"].reshape(heads * d_head, cfg.d_model), params[p + "attn.b_O"])
        h = norm(x, p + "ln2")
        x = x + linear(act(linear(h, params[p + "mlp.W_in"], params[p + "mlp.b_in"])), params[p + "mlp.W_out"],
                       params[p + "mlp.b_out"])
    if at is not None:
        x = x[:, at] if x.shape[1] == t else x[:, 0]
    x = norm(x, "ln_final")
    return linear(x, params["unembed.W_U"], params["unembed.b_U"])


def has_hooks(model) -> bool:
    """Whether any forward hook is attached to ``model`` or one of its modules (TransformerLens's
    ``add_hook`` and ``hooks`` register them on hook points)."""
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def logits_at(model, tokens, at: int):
    """``model(tokens)[:, at]``, (N, vocab). For a model ``plain_forward`` handles and that has no hook
    attached, ``plain_forward(..., at=at)``, which computes the last block at that position only;
    otherwise the module's own forward (hooks, other architectures)."""
    if plain_forward_supported(model) and not has_hooks(model):
        return plain_forward(model.cfg, dict(model.named_parameters()), tokens, at)
    return model(tokens)[:, at]
