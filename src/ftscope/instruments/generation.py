"""Sampling text from a causal language model: the sampler a reader can call.

``sample(model, prompts, ...)`` continues each prompt (a list of token ids) by temperature and
top-k sampling, or greedily with ``temperature=0``, from its own seeded generator, and stops a
continuation at the first ``stop_id`` (the document separator: a model that starts a new document
has finished its story) or after ``max_new_tokens``. Prompts of different lengths are sampled
together: the batch is left-padded and the padding masked (rotary positions count from each row's
first token), and each new token costs one position's forward pass through a key/value cache. A
Mistral-style model (``train.models.mistral``) without hooks runs through ``RotaryDecoder``: plain
torch, its cache preallocated and holding rotated keys (TransformerLens's cache grows by
concatenation and re-rotates every cached key at every step, which made sampling a small model
ten times slower than its arithmetic). Any other ``HookedTransformer``, or one with hooks attached,
runs through TransformerLens's own cache.

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
    count from a row's first real token), then one token a step through a key/value cache."""
    width = max(len(p) for p in prompts)
    steps = min(max_new_tokens, n_ctx - width) if n_ctx else max_new_tokens
    toks = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        toks[i, width - len(p):] = torch.as_tensor(list(p), dtype=torch.long)
        mask[i, width - len(p):] = 1
    toks, mask = toks.to(device), mask.to(device)
    if RotaryDecoder.supports(model):
        decoder = RotaryDecoder(model, mask, steps)
        logits, step_fn = decoder.prefill(toks), decoder.step
    else:
        from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

        cache = TransformerLensKeyValueCache.init_cache(model.cfg, device, len(prompts))
        logits = model(toks, attention_mask=mask, past_kv_cache=cache)[:, -1]
        ones = torch.ones((len(prompts), 1), dtype=torch.long, device=device)

        def step_fn(nxt):
            return model(nxt[:, None], attention_mask=ones, past_kv_cache=cache)[:, -1]
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
        logits = step_fn(nxt.to(device))
    return new


# The configuration a ``RotaryDecoder`` computes: ``train.models.mistral``'s, each field with the value it must have
_ROTARY = dict(positional_embedding_type="rotary", normalization_type="RMS", gated_mlp=True, act_fn="silu",
               attn_only=False, parallel_attn_mlp=False, final_rms=False, use_qk_norm=False, rotary_adjacent_pairs=False,
               use_attn_scale=True, attention_dir="causal", use_local_attn=False, use_logn_attn=False,
               use_dynamic_ntk_rope=False, use_NTK_by_parts_rope=False, use_yarn_rope=False, attn_scores_soft_cap=-1.0,
               output_logits_soft_cap=-1.0, use_attention_sinks=False, num_experts=None, post_embedding_ln=False,
               use_normalization_before_and_after=False, scale_attn_by_inverse_layer_idx=False, rotary_scaling_factor=1.0)


class RotaryDecoder:
    """A Mistral-style ``HookedTransformer`` (RMSNorm, rotary positions, gated SiLU MLP) decoding a
    left-padded batch in plain torch: the same operations as its forward with an attention mask, with a
    preallocated cache of rotated keys and of values. Rotary positions count from each row's first real
    token; a padding position attends to itself only, so no padding reaches a real token."""

    @staticmethod
    def supports(model) -> bool:
        from ftscope.train.models import has_hooks

        cfg = getattr(model, "cfg", None)
        return (type(model).__name__ == "HookedTransformer" and cfg is not None and not has_hooks(model)
                and all(getattr(cfg, k, v) == v for k, v in _ROTARY.items()))

    def __init__(self, model, mask: torch.Tensor, steps: int):
        cfg = self.cfg = model.cfg
        rows, width = mask.shape
        self.heads, self.d_head, self.rot = cfg.n_heads, cfg.d_head, cfg.rotary_dim
        self.layers = []
        for block in model.blocks:
            a, m = block.attn, block.mlp
            qkv = [w.permute(1, 0, 2).reshape(cfg.d_model, -1) for w in (a.W_Q, a.W_K, a.W_V)]
            self.layers.append(dict(
                ln1=block.ln1.w, ln2=block.ln2.w, w_qkv=torch.cat(qkv, 1),
                b_qkv=torch.cat([a.b_Q.reshape(-1), a.b_K.reshape(-1), a.b_V.reshape(-1)]),
                w_o=a.W_O.reshape(-1, cfg.d_model), b_o=a.b_O, sin=a.rotary_sin, cos=a.rotary_cos,
                w_gate=m.W_gate, w_in=m.W_in, b_in=m.b_in, w_out=m.W_out, b_out=m.b_out))
        self.embed, self.ln_final, self.w_u, self.b_u = model.W_E, model.ln_final.w, model.W_U, model.b_U
        size = (rows, self.heads, width + steps, self.d_head)
        self.keys = [torch.empty(size, dtype=cfg.dtype, device=mask.device) for _ in model.blocks]
        self.values = [torch.empty(size, dtype=cfg.dtype, device=mask.device) for _ in model.blocks]
        self.real = torch.cat([mask.bool(), torch.ones((rows, steps), dtype=torch.bool, device=mask.device)], 1)
        self.pos = (mask.cumsum(1) - 1).clamp(min=0)  # (rows, width): each position's rotary index
        self.t = 0  # positions in the cache

    def _norm(self, x, w):
        return x / (x.pow(2).mean(-1, keepdim=True) + self.cfg.eps).sqrt() * w

    def _rotate(self, x, pos, layer):  # x (rows, heads, n, d_head), pos (rows, n)
        r, half = self.rot, self.rot // 2
        sin, cos = layer["sin"][pos][:, None], layer["cos"][pos][:, None]
        x_rot = x[..., :r]
        flipped = torch.cat([-x_rot[..., half:], x_rot[..., :half]], -1)
        return torch.cat([x_rot * cos + flipped * sin, x[..., r:]], -1)

    def _forward(self, toks, pos, allowed):
        """Logits at the last of ``toks``'s positions (rows, n), cached at ``self.t`` onwards."""
        rows, n = toks.shape
        end = self.t + n
        x = self.embed[toks]
        for i, layer in enumerate(self.layers):
            h = self._norm(x, layer["ln1"])
            q, k, v = (h @ layer["w_qkv"] + layer["b_qkv"]).reshape(rows, n, 3, self.heads, self.d_head).permute(
                2, 0, 3, 1, 4)
            self.keys[i][:, :, self.t:end] = self._rotate(k, pos, layer)
            self.values[i][:, :, self.t:end] = v
            scores = self._rotate(q, pos, layer) @ self.keys[i][:, :, :end].transpose(-1, -2) / self.cfg.attn_scale
            pattern = scores.masked_fill(~allowed[:, None], float("-inf")).softmax(-1)
            z = (pattern @ self.values[i][:, :, :end]).transpose(1, 2).reshape(rows, n, -1)
            x = x + z @ layer["w_o"] + layer["b_o"]
            h = self._norm(x, layer["ln2"])
            gated = torch.nn.functional.silu(h @ layer["w_gate"]) * (h @ layer["w_in"]) + layer["b_in"]
            x = x + gated @ layer["w_out"] + layer["b_out"]
        self.t = end
        return self._norm(x[:, -1], self.ln_final) @ self.w_u + self.b_u

    def prefill(self, toks: torch.Tensor) -> torch.Tensor:
        """The logits after the prompts (rows, vocab)."""
        width = toks.shape[1]
        causal = torch.ones(width, width, dtype=torch.bool, device=toks.device).tril()
        allowed = (causal & self.real[:, None, :width]) | torch.eye(width, dtype=torch.bool, device=toks.device)
        return self._forward(toks, self.pos, allowed)

    def step(self, nxt: torch.Tensor) -> torch.Tensor:
        """The logits after one more token per row (rows,)."""
        self.pos = self.pos[:, -1:] + 1
        return self._forward(nxt[:, None], self.pos, self.real[:, None, :self.t + 1])


def _choose(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else a draw from the top-k softmax at ``temperature``."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=gen).squeeze(-1)
