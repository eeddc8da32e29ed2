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
