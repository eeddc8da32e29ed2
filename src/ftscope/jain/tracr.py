"""Compile RASP programs with tracr and run them as TransformerLens models.

Jain et al. (ICLR 2024) study fine-tuning on *compiled* transformers: a RASP program is
compiled by tracr into exact transformer weights, which then serve as the "pre-trained"
model. This module does the compile-and-convert step:

    validate  ->  compile (tracr)  ->  convert (tracr params -> HookedTransformer)  ->  check

and provides the two programs of the paper's tracr setting, :func:`count_tokens` (Counter)
and :func:`max_identifier` (Max identifier).

Conventions (tracr's, kept unchanged):

* Inputs are lists that start with the BOS token, e.g. ``["BOS", "a", "c", "a"]``.
  Model position 0 holds BOS and has *no* positional embedding; model position ``p >= 1``
  holds RASP index ``p - 1``. A model compiled with ``max_seq_len=N`` therefore has
  ``n_ctx = N + 1`` positions.
* The BOS position's decoded output is the BOS token itself (tracr overwrites it).
* Categorical outputs are decoded by argmax over the output space, whose classes are
  :attr:`CompiledProgram.output_classes` (tracr's sorted order). Numerical outputs are a
  single residual direction, decoded as floats.
* The compiled attention has no padding mask: a PAD token is *not* ignored. Batches must
  therefore consist of inputs of equal length.

Where the answer sits: both paper programs write their answer at RASP index 1, which is
model position 2 (``ANSWER_POSITION``), i.e. the second input token after BOS:

* Counter: ``count_a[q] = #{k : (tokens[k] == operand) == indices[q]}``; at index 1 this
  counts the operand tokens (True == 1), at index 0 it counts the *other* tokens, and at
  indices >= 2 it is 0.
* Max identifier: at index 1 the selector picks the (unique) position whose token has
  exactly ``k`` strictly smaller tokens, i.e. the ``(k+1)``-th *smallest* token in
  alphabetical order (``k=4``: the 5th smallest letter). Index 0 averages over all other
  positions (undefined for a categorical output) and other indices select nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import string
from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tracr.rasp import rasp

if TYPE_CHECKING:  # heavy imports (jax, transformers) are deferred to first use
    from tracr.compiler.assemble import AssembledTransformerModel
    from transformer_lens import HookedTransformer

__all__ = [
    "ANSWER_POSITION",
    "BOS",
    "COUNTER_VOCAB",
    "MAX_ID_VOCAB",
    "PAD",
    "CompiledProgram",
    "compile_program",
    "count_tokens",
    "default_mlp_exactness",
    "max_identifier",
    "outputs_match",
    "tracr_to_hooked_transformer",
]

# ----------------------------------------------------------------------------------------
# Constants of the paper's tracr setting
# ----------------------------------------------------------------------------------------

BOS = "BOS"
PAD = "PAD"
COUNTER_VOCAB: tuple[str, ...] = tuple("abcdefghi")  # a..i, sampled with replacement
MAX_ID_VOCAB: tuple[str, ...] = tuple(string.ascii_lowercase)  # a..z, sampled w/o replacement
ANSWER_POSITION = 2  # model position (BOS = 0) holding the answer of both paper programs


# ----------------------------------------------------------------------------------------
# RASP programs (Jain et al. 2024, Appendix: tracr programs)
# ----------------------------------------------------------------------------------------


def count_tokens(operand: str) -> rasp.SOp:
    """Counter: the number of ``operand`` tokens, written at model position 2.

    The paper's ``countA`` with the operand as a parameter. Compiles to 3 layers with one
    head each: layer 0 attention is empty (all-zero) and its MLP computes ``is_operand``;
    layer 1 is the SelectorWidth (attention + discretising MLP); layer 2 attention is the
    copy-aggregate into the output space, its MLP is empty.
    """
    is_operand = (rasp.tokens == operand).named("is_operand")
    # query index q selects keys k where is_operand[k] == q, so q = 1 counts operands
    bin_idx = rasp.Select(is_operand, rasp.indices, rasp.Comparison.EQ).named("bin_idx")
    count = rasp.SelectorWidth(bin_idx).named("count")
    idx_select = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.EQ).named("idx_select")
    return rasp.categorical(rasp.Aggregate(idx_select, count)).named(f"count_{operand}")


def max_identifier(k: int = 4) -> rasp.SOp:
    """Max identifier: the token with exactly ``k`` smaller tokens, at model position 2.

    With unique tokens this is the ``(k+1)``-th smallest token (alphabetically, for
    letters); the paper's ``sum_small == 4`` gives the 5th smallest. Inputs must contain at
    least ``k + 1`` distinct tokens for the answer to exist. Compiles to 3 layers with one
    head each: layer 0 is the SelectorWidth ``sum_small`` (attention + MLP); layer 1
    attention is empty and its MLP computes ``sum_small == k``; layer 2 attention
    aggregates the tokens into the output space, its MLP is empty.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    var_small = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT).named("var_small")
    sum_small = rasp.SelectorWidth(var_small).named("sum_small")  # rank of each token
    bin_target = (sum_small == k).named("bin_target")
    select_idx = rasp.Select(bin_target, rasp.indices, rasp.Comparison.EQ).named("select_idx")
    return rasp.categorical(rasp.Aggregate(select_idx, rasp.tokens)).named(f"max_identifier_{k}")


# ----------------------------------------------------------------------------------------
# The compiled program: tracr model + equivalent HookedTransformer + (de)coding helpers
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class CompiledProgram:
    """A RASP program compiled by tracr, with an equivalent PyTorch HookedTransformer.

    Attributes:
        program: the RASP program.
        tracr_model: tracr's ``AssembledTransformerModel`` (JAX).
        model: the ``HookedTransformer`` with tracr's weights (bidirectional, no LayerNorm).
        vocab: the program's input vocabulary (without BOS/PAD).
        max_seq_len: maximum number of input tokens, *excluding* BOS.
        bos, pad: tracr's special input tokens.
    """

    program: rasp.SOp
    tracr_model: AssembledTransformerModel
    model: HookedTransformer
    vocab: frozenset
    max_seq_len: int
    bos: str = BOS
    pad: str = PAD

    # -- spaces ---------------------------------------------------------------------------

    @property
    def is_categorical(self) -> bool:
        """Whether the output is categorical (argmax-decoded) rather than numerical."""
        return rasp.is_categorical(self.program)

    @property
    def input_classes(self) -> list:
        """Input token values in embedding order (row ``i`` of ``W_E`` embeds entry ``i``)."""
        enc = self.tracr_model.input_encoder.encoding_map
        return sorted(enc, key=enc.__getitem__)

    @property
    def output_classes(self) -> list | None:
        """Categorical output values in logit order; ``None`` for numerical programs."""
        if not self.is_categorical:
            return None
        enc = self.tracr_model.output_encoder.encoding_map
        return sorted(enc, key=enc.__getitem__)

    @property
    def n_outputs(self) -> int:
        """Size of the last axis of :meth:`output_logits` (1 for numerical outputs)."""
        return self.model.cfg.d_vocab_out

    @property
    def device(self) -> torch.device:
        return self.model.W_E.device

    # -- encoding -------------------------------------------------------------------------

    def encode(self, tokens: Sequence[Hashable]) -> torch.LongTensor:
        """``["BOS", t1, ...]`` -> token ids ``(T,)``; validates like tracr's ``apply``."""
        return torch.tensor(self.tracr_model.input_encoder.encode(list(tokens)), dtype=torch.long)

    def encode_batch(self, batch: Sequence[Sequence[Hashable]]) -> torch.LongTensor:
        """Equal-length inputs (each starting with BOS) -> token ids ``(B, T)``.

        There is no padding: the compiled attention does not mask PAD tokens.
        """
        lengths = {len(tokens) for tokens in batch}
        if len(lengths) != 1:
            raise ValueError(f"encode_batch needs equal-length inputs, got lengths {sorted(lengths)}")
        return torch.stack([self.encode(tokens) for tokens in batch])

    def encode_output(self, values: Sequence[Hashable]) -> torch.LongTensor:
        """Categorical output values -> class indices into :attr:`output_classes`.

        Use this to build cross-entropy targets for :meth:`output_logits`.
        """
        if not self.is_categorical:
            raise ValueError("encode_output is only defined for categorical programs")
        enc = self.tracr_model.output_encoder.encoding_map
        return torch.tensor([enc[v] for v in values], dtype=torch.long)

    # -- forward & decoding ---------------------------------------------------------------

    def output_logits(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Differentiable forward pass: ``(B, T)`` token ids -> ``(B, T, n_outputs)``.

        For categorical programs these are the residual stream's coordinates along the
        output directions (a one-hot-like vector of magnitude ~1, *not* calibrated logits);
        for numerical programs the single output coordinate.
        """
        if token_ids.ndim == 1:
            raise ValueError("output_logits expects a batch (B, T); use ids.unsqueeze(0)")
        return self.model(token_ids.to(self.device))  # (B, T, n_out)

    def decode_output(self, logits: torch.Tensor) -> list[list]:
        """``(B, T, n_outputs)`` logits -> decoded outputs, one list per batch element.

        Categorical: argmax over the output classes. Numerical: the float value. Position
        0 decodes to the BOS token, as in tracr.
        """
        logits = logits.detach().double().cpu()  # (B, T, n_out)
        if self.is_categorical:
            classes = self.output_classes
            decoded = [[classes[i] for i in row] for row in logits.argmax(dim=-1).tolist()]  # (B, T)
        else:
            decoded = logits[..., 0].tolist()  # (B, T)
        return [[self.bos] + row[1:] for row in decoded]

    @torch.no_grad()
    def run_batch(self, batch: Sequence[Sequence[Hashable]]) -> list[list]:
        """Run the torch model on equal-length inputs and decode (like tracr ``.decoded``)."""
        return self.decode_output(self.output_logits(self.encode_batch(batch)))

    def run(self, tokens: Sequence[Hashable]) -> list:
        """Run the torch model on one input; equals ``tracr_model.apply(tokens).decoded``."""
        return self.run_batch([tokens])[0]

    def run_tracr(self, tokens: Sequence[Hashable]) -> list:
        """tracr's own (JAX) output for one input, for comparison."""
        return list(self.tracr_model.apply(list(tokens)).decoded)

    # -- check ----------------------------------------------------------------------------

    def check(self, inputs: Iterable[Sequence[Hashable]], atol: float = 1e-3) -> None:
        """Raise ``AssertionError`` unless :meth:`run` matches tracr on every input.

        Categorical outputs must be equal; numerical ones equal within ``atol``.
        """
        for tokens in inputs:
            ours, theirs = self.run(tokens), self.run_tracr(tokens)
            if not outputs_match(ours, theirs, atol=atol):
                raise AssertionError(f"torch/tracr mismatch on {list(tokens)}:\n torch={ours}\n tracr={theirs}")

    def residual_diff(self, tokens: Sequence[Hashable]) -> float:
        """Tie-free equivalence measure on one input: the max |tracr - torch| over the final
        residual stream, divided by ``max(1, max |tracr residual|)``."""
        out = self.tracr_model.apply(list(tokens))
        theirs = torch.tensor(np.asarray(out.transformer_output), dtype=torch.float64)  # (1, T, d)
        hook = f"blocks.{self.model.cfg.n_layers - 1}.hook_resid_post"
        with torch.no_grad():
            _, cache = self.model.run_with_cache(self.encode(tokens)[None].to(self.device), names_filter=hook)
        ours = cache[hook].double().cpu()  # (1, T, d)
        return float((ours - theirs).abs().max()) / max(1.0, float(theirs.abs().max()))


def outputs_match(a: Sequence[Any], b: Sequence[Any], atol: float = 1e-3) -> bool:
    """Equality of decoded outputs; floats (numerical outputs) compared within ``atol``."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) or isinstance(y, float):
            if isinstance(x, str) or isinstance(y, str) or abs(x - y) > atol:
                return False
        elif x != y:
            return False
    return True


# ----------------------------------------------------------------------------------------
# Stages: validate -> compile -> convert -> check
# ----------------------------------------------------------------------------------------


def compile_program(
    program: rasp.SOp,
    vocab: Iterable[Hashable],
    max_seq_len: int,
    compiler_bos: str = BOS,
    compiler_pad: str = PAD,
    *,
    mlp_exactness: float | None = None,
    logit_scale: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    check: bool = True,
) -> CompiledProgram:
    """Compile ``program`` with tracr and convert it to a ``HookedTransformer``.

    Args:
        program: any RASP ``SOp`` tracr can compile (categorical or numerical output).
        vocab: input token values (BOS/PAD excluded).
        max_seq_len: maximum input length, excluding BOS (the model has ``max_seq_len + 1``
            positions).
        compiler_bos, compiler_pad: tracr's special tokens; must not be in ``vocab``.
        mlp_exactness: tracr's MLP sharpness ``L``. ``None`` picks
            :func:`default_mlp_exactness` (``max_seq_len``-dependent); tracr's own default,
            100, miscounts every ``SelectorWidth`` of 10 or more (see that function).
        logit_scale: multiplies the unembedding of a categorical program (argmax and hence
            :meth:`CompiledProgram.run` are unchanged); useful to give a compiled model a
            low cross-entropy. Must be 1 for numerical programs.
        device, dtype: where/how the torch model lives.
        check: compare the final residual stream of tracr and torch on one probe input
            (tie-free; raises ``AssertionError`` on a conversion error).
    """
    vocab = _validate(program, vocab, max_seq_len, compiler_bos, compiler_pad)
    if logit_scale != 1.0 and not rasp.is_categorical(program):
        raise ValueError("logit_scale only applies to categorical programs")
    if mlp_exactness is None:
        mlp_exactness = default_mlp_exactness(max_seq_len)
    tracr_model = _compile(program, vocab, max_seq_len, compiler_bos, compiler_pad, mlp_exactness)
    model = tracr_to_hooked_transformer(tracr_model, device=device, dtype=dtype, logit_scale=logit_scale)
    compiled = CompiledProgram(
        program=program,
        tracr_model=tracr_model,
        model=model,
        vocab=frozenset(vocab),
        max_seq_len=max_seq_len,
        bos=compiler_bos,
        pad=compiler_pad,
    )
    if check:
        _check_residuals(compiled)
    return compiled


def default_mlp_exactness(max_seq_len: int) -> float:
    """An MLP sharpness ``L`` that makes tracr's ``SelectorWidth`` exact up to ``max_seq_len``.

    ``SelectorWidth`` turns the attention output ``x = 1/(w+1)`` back into ``w`` with a
    discretising MLP whose steps sit halfway between neighbouring values and have slope
    ``L``; a step only saturates if ``L * gap/2 >= 1``. The smallest gap is
    ``1/((N+1)(N+2))`` at ``w = N = max_seq_len``, so ``L >= 2(N+1)(N+2)``; we take twice that
    (at least tracr's default 100). With tracr's ``L = 100`` a width of 10 already decodes
    as 9 (and at ``max_seq_len=40``, e.g. 20 as 17).
    """
    return float(max(100, 4 * (max_seq_len + 1) * (max_seq_len + 2)))


def _validate(program, vocab, max_seq_len, bos, pad) -> set:
    """Fail fast with readable errors before the (slow) compilation."""
    from tracr.compiler import validating

    if not isinstance(program, rasp.SOp):
        raise TypeError(f"program must be a rasp.SOp, got {type(program).__name__}")
    vocab = set(vocab)
    if not vocab:
        raise ValueError("vocab is empty")
    if not isinstance(max_seq_len, int) or max_seq_len < 1:
        raise ValueError(f"max_seq_len must be a positive int, got {max_seq_len!r}")
    if bos == pad:
        raise ValueError(f"compiler_bos and compiler_pad must differ, both are {bos!r}")
    if clash := {bos, pad} & vocab:
        raise ValueError(f"BOS/PAD tokens {clash} must not be in the vocab")
    unsupported = validating.static_validate(program)
    if unsupported:
        reasons = "\n".join(f"  {u.expr.label}: {u.reason}" for u in unsupported)
        raise NotImplementedError(f"tracr cannot compile this program:\n{reasons}")
    return vocab


def _compile(program, vocab, max_seq_len, bos, pad, mlp_exactness) -> AssembledTransformerModel:
    """tracr: RASP -> graph -> craft -> assembled JAX model (non-causal)."""
    from tracr.compiler import compiling

    with _skip_random_init():
        return compiling.compile_rasp_to_model(
            program,
            vocab=vocab,
            max_seq_len=max_seq_len,
            causal=False,
            compiler_bos=bos,
            compiler_pad=pad,
            mlp_exactness=mlp_exactness,
        )


@contextlib.contextmanager
def _skip_random_init():
    """Make haiku's ``VarianceScaling`` initialiser return zeros while tracr assembles.

    tracr's assemble step runs ``forward.init`` with random weights and then overwrites
    every transformer parameter (embeddings are given explicitly), so the random draws are
    discarded; skipping them saves JAX compiling them for every new shape (about half of the
    compile time). The assembled parameters are identical.
    """
    import haiku as hk
    import jax.numpy as jnp

    cls = hk.initializers.VarianceScaling
    original = cls.__call__
    cls.__call__ = lambda self, shape, dtype=jnp.float32: jnp.zeros(shape, dtype)
    try:
        yield
    finally:
        cls.__call__ = original


def tracr_to_hooked_transformer(
    tracr_model: AssembledTransformerModel,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    logit_scale: float = 1.0,
) -> HookedTransformer:
    """Convert tracr's assembled params into an equivalent ``HookedTransformer``.

    tracr already zero-pads per-layer differences (heads to ``key_size``, MLP hidden units to
    ``mlp_hidden_size``, unused heads, and missing attention/MLP sublayers get all-zero
    weights), so every layer has the same shapes; we zero-pad MLP widths defensively and
    check every shape against the HookedTransformer's. Both libraries scale attention by ``1/sqrt(d_head)``
    with ``d_head = key_size``, and tracr's biases (always zero) are copied too. The
    unembedding is tracr's projection onto the output space, times ``logit_scale``.
    """
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    tc = tracr_model.model_config
    params = {
        name: {k: np.asarray(v, dtype=np.float64) for k, v in p.items()} for name, p in tracr_model.params.items()
    }
    if tc.layer_norm or tc.causal:
        raise NotImplementedError("only non-causal tracr models without LayerNorm are supported")

    w_e = params["token_embed"]["embeddings"]  # (d_vocab, d)
    w_pos = params["pos_embed"]["embeddings"]  # (n_ctx, d); row 0 (BOS) is zero
    w_u = logit_scale * _unembedding_matrix(tracr_model, d_model=w_e.shape[1])  # (d, n_out)
    d_vocab, d_model = w_e.shape
    n_heads, d_head, d_mlp = tc.num_heads, tc.key_size, tc.mlp_hidden_size

    cfg = HookedTransformerConfig(
        n_layers=tc.num_layers,
        d_model=d_model,
        d_head=d_head,
        n_heads=n_heads,
        d_mlp=d_mlp,
        n_ctx=w_pos.shape[0],
        d_vocab=d_vocab,
        d_vocab_out=w_u.shape[1],
        act_fn="relu",  # tracr MLPs use ReLU
        normalization_type=None,
        attention_dir="bidirectional",
        positional_embedding_type="standard",
        use_attn_scale=True,  # softmax(QK^T / sqrt(key_size)), as tracr
        init_weights=False,
        device=str(device),
        dtype=dtype,
    )
    model = HookedTransformer(cfg)

    sd = {k: torch.zeros_like(v) for k, v in model.state_dict().items() if not k.endswith(("mask", "IGNORE"))}
    sd["embed.W_E"] = w_e
    sd["pos_embed.W_pos"] = w_pos
    sd["unembed.W_U"] = w_u
    for layer in range(tc.num_layers):
        attn, mlp = f"transformer/layer_{layer}/attn", f"transformer/layer_{layer}/mlp"
        # haiku packs heads as (d, H*dh); TransformerLens wants (H, d, dh) / (H, dh, d)
        for tl_name, hk_name in (("Q", "query"), ("K", "key"), ("V", "value")):
            w, b = params[f"{attn}/{hk_name}"]["w"], params[f"{attn}/{hk_name}"]["b"]  # (d, H*dh), (H*dh,)
            sd[f"blocks.{layer}.attn.W_{tl_name}"] = w.reshape(d_model, n_heads, d_head).transpose(1, 0, 2)
            sd[f"blocks.{layer}.attn.b_{tl_name}"] = b.reshape(n_heads, d_head)
        w_o, b_o = params[f"{attn}/linear"]["w"], params[f"{attn}/linear"]["b"]  # (H*dh, d), (d,)
        sd[f"blocks.{layer}.attn.W_O"] = w_o.reshape(n_heads, d_head, d_model)
        sd[f"blocks.{layer}.attn.b_O"] = b_o
        sd[f"blocks.{layer}.mlp.W_in"] = _pad_to(params[f"{mlp}/linear_1"]["w"], (d_model, d_mlp))
        sd[f"blocks.{layer}.mlp.b_in"] = _pad_to(params[f"{mlp}/linear_1"]["b"], (d_mlp,))
        sd[f"blocks.{layer}.mlp.W_out"] = _pad_to(params[f"{mlp}/linear_2"]["w"], (d_mlp, d_model))
        sd[f"blocks.{layer}.mlp.b_out"] = params[f"{mlp}/linear_2"]["b"]

    target = model.state_dict()
    for k, v in sd.items():
        v = torch.as_tensor(v)
        if v.shape != target[k].shape:
            raise ValueError(
                f"{k}: tracr gives shape {tuple(v.shape)}, HookedTransformer expects {tuple(target[k].shape)}"
            )
        sd[k] = v.to(dtype=target[k].dtype, device=target[k].device)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    leftover = [k for k in missing if not k.endswith(("mask", "IGNORE"))]
    if leftover or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={leftover}, unexpected={unexpected}")
    return model.eval()


def _pad_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-pad ``a`` at the end of each axis up to ``shape``."""
    return np.pad(a, [(0, s - n) for n, s in zip(a.shape, shape, strict=True)])


def _unembedding_matrix(tracr_model: AssembledTransformerModel, d_model: int) -> np.ndarray:
    """``(d_model, n_out)`` projection of the residual stream onto the output space.

    Read off tracr's own (parameter-free) unembed module by feeding it the identity, so it
    covers categorical and numerical outputs alike.
    """
    import haiku as hk
    import jax
    import jax.numpy as jnp

    @hk.without_apply_rng
    @hk.transform
    def unembed(x):
        return tracr_model.get_compiled_model().unembed(x, use_unembed_argmax=False)

    eye = jnp.eye(d_model)  # (d, d)
    w_u = np.asarray(unembed.apply(unembed.init(jax.random.PRNGKey(0), eye), eye), dtype=np.float64)
    return w_u.reshape(d_model, -1)  # tracr squeezes a single output dim


def _check_residuals(compiled: CompiledProgram, rtol: float = 1e-4) -> None:
    """Compare the final residual streams of tracr and torch on one deterministic probe."""
    inputs = [v for v in compiled.input_classes if v not in (compiled.bos, compiled.pad)]
    probe = [compiled.bos] + [inputs[i % len(inputs)] for i in range(compiled.max_seq_len)]
    diff = compiled.residual_diff(probe)
    if diff > rtol:
        raise AssertionError(f"converted model deviates from tracr: relative residual diff {diff:.3g} on {probe}")
