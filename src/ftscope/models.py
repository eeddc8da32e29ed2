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
