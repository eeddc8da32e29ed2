"""ftscope.jain.tracr: RASP -> tracr -> HookedTransformer must reproduce tracr exactly.

Compilation dominates the runtime (JAX compiles every op shape once), so each program is
compiled once per session and inputs use one length per program (= max_seq_len, the
length compile_program's own probe uses).
"""

import functools
import os
import random
import subprocess
import sys

import pytest
import torch
from tracr.compiler import lib
from tracr.rasp import rasp

from ftscope.jain.tracr import (
    ANSWER_POSITION,
    COUNTER_VOCAB,
    MAX_ID_VOCAB,
    CompiledProgram,
    compile_program,
    count_tokens,
    default_mlp_exactness,
    max_identifier,
    outputs_match,
)

N_INPUTS = 20
COUNTER_LEN = 10
MAX_ID_LEN, MAX_ID_K = 8, 4


@functools.cache
def counter() -> CompiledProgram:
    return compile_program(count_tokens("a"), COUNTER_VOCAB, COUNTER_LEN)


@functools.cache
def max_id() -> CompiledProgram:
    return compile_program(max_identifier(MAX_ID_K), MAX_ID_VOCAB, MAX_ID_LEN)


def _assert_matches_tracr(cp: CompiledProgram, inputs: list[list]) -> None:
    for tokens in inputs:
        ours, theirs = cp.run(tokens), cp.tracr_model.apply(tokens).decoded
        assert outputs_match(ours, theirs, atol=1e-3), (tokens, ours, theirs)
    # the batched path decodes the same way
    assert cp.run_batch(inputs) == [cp.run(tokens) for tokens in inputs]


# --- the paper's programs -----------------------------------------------------------------


def test_counter_matches_tracr():
    rng = random.Random(0)
    inputs = []
    for _ in range(N_INPUTS):
        p_a = rng.random()  # vary how many 'a's there are
        inputs.append(
            ["BOS"] + [("a" if rng.random() < p_a else rng.choice(COUNTER_VOCAB)) for _ in range(COUNTER_LEN)]
        )
    short = [["BOS"] + [rng.choice("ab") for _ in range(6)] for _ in range(4)]  # one more shape
    _assert_matches_tracr(counter(), inputs)
    _assert_matches_tracr(counter(), short)
    for tokens in inputs + short:
        assert counter().run(tokens)[ANSWER_POSITION] == tokens[1:].count("a")


def test_counter_answer_position_exact_for_every_count():
    """Position 2 holds #operand, position 1 #others, even at full width (needs mlp_exactness)."""
    cp, rng = counter(), random.Random(1)
    batch = []
    for count in range(COUNTER_LEN + 1):
        tokens = ["a"] * count + [rng.choice("bcdefghi") for _ in range(COUNTER_LEN - count)]
        rng.shuffle(tokens)
        batch.append(["BOS"] + tokens)
    for count, out in enumerate(cp.run_batch(batch)):
        assert out[:3] == ["BOS", COUNTER_LEN - count, count]
        assert out[3:] == [0] * (COUNTER_LEN - 2)
    assert cp.output_classes == list(range(COUNTER_LEN + 1))


def test_counter_with_tracr_default_exactness_miscounts_full_width():
    """Documents the tracr quirk that default_mlp_exactness works around."""
    assert default_mlp_exactness(COUNTER_LEN) > 100
    cp = compile_program(count_tokens("a"), COUNTER_VOCAB, COUNTER_LEN, mlp_exactness=100)
    tokens = ["BOS"] + ["a"] * COUNTER_LEN
    assert cp.run(tokens) == cp.tracr_model.apply(tokens).decoded  # still a faithful copy ...
    assert cp.run(tokens)[ANSWER_POSITION] == COUNTER_LEN - 1  # ... of a wrong count


def test_max_identifier_matches_tracr():
    rng = random.Random(0)
    inputs = [["BOS"] + rng.sample(MAX_ID_VOCAB, MAX_ID_LEN) for _ in range(N_INPUTS)]
    _assert_matches_tracr(max_id(), inputs)
    for tokens in inputs:  # the (k+1)-th smallest letter, i.e. the 5th smallest for k=4
        assert max_id().run(tokens)[ANSWER_POSITION] == sorted(tokens[1:])[MAX_ID_K]


@pytest.mark.parametrize("make", [counter, max_id], ids=["counter", "max_identifier"])
def test_paper_programs_architecture(make):
    cfg = make().model.cfg
    assert (cfg.n_layers, cfg.n_heads) == (3, 1)
    assert cfg.attention_dir == "bidirectional"
    assert cfg.normalization_type is None
    assert cfg.act_fn == "relu"
    assert cfg.n_ctx == make().max_seq_len + 1


def test_paper_programs_layer_layout():
    """Which sublayers tracr leaves empty (all-zero): documented in the program docstrings."""

    def empty(cp):
        blocks = cp.model.blocks
        return {f"attn{i}" for i, b in enumerate(blocks) if b.attn.W_O.abs().sum() == 0} | {
            f"mlp{i}" for i, b in enumerate(blocks) if b.mlp.W_out.abs().sum() == 0
        }

    assert empty(counter()) == {"attn0", "mlp2"}
    assert empty(max_id()) == {"attn1", "mlp2"}


# --- tracr's own example programs ----------------------------------------------------------

LIB_LEN = 5


def _lib_cases():
    nums, letters, parens = [1, 2, 3, 4, 5], ["x", "y", "z"], ["(", ")", "a"]
    with_repl = lambda vocab: lambda rng: [rng.choice(vocab) for _ in range(LIB_LEN)]  # noqa: E731
    unique = lambda vocab: lambda rng: rng.sample(vocab, LIB_LEN)  # noqa: E731
    return {
        "length": (lambda: lib.make_length(), nums, with_repl(nums)),
        "reverse": (lambda: lib.make_reverse(rasp.tokens), nums, with_repl(nums)),
        "sort_unique": (lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens), nums, unique(nums)),
        "frac_prevs": (lambda: lib.make_frac_prevs(rasp.tokens == "x"), letters, with_repl(letters)),
        "pair_balance": (lambda: lib.make_pair_balance(rasp.tokens, "(", ")"), parens, with_repl(parens)),
    }


LIB_CASES = _lib_cases()
NUMERICAL = {"frac_prevs", "pair_balance"}


@functools.cache
def lib_program(name: str) -> CompiledProgram:
    make, vocab, _ = LIB_CASES[name]
    return compile_program(make(), set(vocab), LIB_LEN)


@pytest.mark.parametrize("name", list(LIB_CASES))
def test_tracr_lib_program_matches_tracr(name):
    cp, (_, _, sample), rng = lib_program(name), LIB_CASES[name], random.Random(0)
    inputs = [["BOS"] + sample(rng) for _ in range(N_INPUTS)]
    _assert_matches_tracr(cp, inputs)
    assert cp.is_categorical == (name not in NUMERICAL)
    if name in NUMERICAL:
        assert cp.n_outputs == 1 and cp.output_classes is None
        assert all(isinstance(v, float) for v in cp.run(inputs[0])[1:])
    # and tracr agrees with the RASP interpreter, so the whole chain computes the program
    for tokens in inputs[:5]:
        expected = ["BOS"] + rasp.evaluate(cp.program, tokens[1:])
        assert outputs_match(cp.run(tokens), expected, atol=1e-3), (tokens, expected)


def test_frac_prevs_values():
    cp = lib_program("frac_prevs")
    tokens = ["BOS", "x", "y", "x", "x", "y"]
    assert cp.run(tokens) == pytest.approx(["BOS", 1.0, 0.5, 2 / 3, 0.75, 0.6], abs=1e-3)


# --- the torch side: training helpers ------------------------------------------------------


def test_encode_decode_and_gradients():
    cp = counter()
    batch = [["BOS"] + list("abacabaaai"), ["BOS"] + list("bbbbbbbbbb")]
    ids = cp.encode_batch(batch)  # (B, T)
    assert ids.dtype == torch.long and ids.shape == (2, COUNTER_LEN + 1)
    assert torch.equal(ids[0], cp.encode(batch[0]))
    assert cp.input_classes[ids[0, 1]] == "a"

    logits = cp.output_logits(ids)  # (B, T, n_out)
    assert logits.shape == (2, COUNTER_LEN + 1, len(cp.output_classes))
    assert cp.decode_output(logits) == [cp.run(tokens) for tokens in batch]

    targets = cp.encode_output([6, 0])  # answers at position 2
    loss = torch.nn.functional.cross_entropy(logits[:, ANSWER_POSITION], targets)
    loss.backward()
    grads = {name: p.grad for name, p in cp.model.named_parameters()}
    assert all(g is not None for g in grads.values())
    # layer 0's attention is empty (all-zero weights, so no gradient); the rest is live
    for name in ("embed.W_E", "blocks.0.mlp.W_out", "blocks.1.attn.W_O", "blocks.1.mlp.W_in", "blocks.2.attn.W_V"):
        assert grads[name].abs().sum() > 0, name
    assert cp.model.blocks[0].attn.W_O.abs().sum() == 0
    cp.model.zero_grad(set_to_none=True)


def test_encode_rejects_bad_inputs():
    cp = counter()
    with pytest.raises(ValueError):
        cp.encode_batch([["BOS", "a"], ["BOS", "a", "b"]])  # no padding: lengths must match
    with pytest.raises(ValueError):
        cp.encode(["a", "b"])  # must start with BOS
    with pytest.raises(ValueError):
        cp.encode(["BOS", "z"])  # not in vocab


def test_logit_scale_keeps_decoding():
    scaled = compile_program(count_tokens("a"), COUNTER_VOCAB, COUNTER_LEN, logit_scale=10.0, check=False)
    torch.testing.assert_close(scaled.model.W_U, 10.0 * counter().model.W_U)
    tokens = ["BOS"] + list("aabbccaaaa")
    assert scaled.run(tokens) == counter().run(tokens)


def test_validation_errors():
    with pytest.raises(ValueError, match="must not be in the vocab"):
        compile_program(count_tokens("a"), {"a", "BOS"}, 4)
    with pytest.raises(TypeError):
        compile_program("not a program", COUNTER_VOCAB, 4)
    with pytest.raises(ValueError):
        compile_program(count_tokens("a"), COUNTER_VOCAB, 0)
    with pytest.raises(ValueError, match="logit_scale"):
        compile_program(lib.make_frac_prevs(rasp.tokens == "x"), {"x", "y"}, 4, logit_scale=2.0)


def test_skip_random_init_is_scoped():
    import haiku as hk

    from ftscope.jain.tracr import _skip_random_init

    init = hk.initializers.VarianceScaling(1.0)
    original = hk.initializers.VarianceScaling.__call__
    with _skip_random_init():
        assert float(abs(init((3, 2))).sum()) == 0.0
    assert hk.initializers.VarianceScaling.__call__ is original


def test_import_is_light():
    """Importing the module must not pull in JAX or TransformerLens (they load on first use)."""
    code = "import sys, ftscope.jain.tracr; print(sorted(m for m in ('jax', 'transformer_lens') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
