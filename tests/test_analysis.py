"""Activations, pruning by attribution and linear probes, on small models the test builds itself."""

import copy

import numpy as np
import pytest
import torch

from ftscope.instruments.activations import pattern_similarity, residuals
from ftscope.instruments.probing import fit_probe
from ftscope.instruments.pruning import attribution_scores, pruning_curve, top_units, zero_units
from ftscope.train.models import mingpt


def test_attribution_finds_the_planted_wrapper_weight():
    # y = x0 (the "capability") plus a wrapper weight that adds 5 * x1; the pretraining loss wants y = x0
    lin = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[1.0, 5.0]])
    x = torch.randn(64, 2)

    def loss_fn(m):
        return torch.nn.functional.mse_loss(m(x), x[:, :1])

    scores = attribution_scores(lin, loss_fn(lin), {"weight": None})
    [unit] = top_units(scores, 1)
    assert (unit.param, unit.index) == ("weight", (0, 1))
    rows = pruning_curve(lin, loss_fn, {"weight": None}, [0, 1], lambda m: {"loss": float(loss_fn(m))})
    assert rows[0]["loss"] > 1.0 and rows[1]["loss"] < 1e-10
    assert lin.weight[0, 1].item() == 5.0  # the model itself is untouched


def test_neuron_units_sum_over_the_other_dims_and_zero_whole_slices():
    lin = torch.nn.Linear(3, 4)
    scores = attribution_scores(lin, lin(torch.randn(5, 3)).sum(), {"weight": 0})
    assert scores["weight"].shape == (4,)
    units = top_units(scores, 2)
    zero_units(lin, units, {"weight": 0})
    zeroed = [i for i in range(4) if torch.all(lin.weight[i] == 0)]
    assert sorted(zeroed) == sorted(u.index[0] for u in units)
    assert [u.score for u in units] == sorted((u.score for u in units), reverse=True)


def test_probe_decodes_a_linear_label_and_not_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=g)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(-1)  # 3 classes, linearly separable
    res = fit_probe(x[:400], y[:400], x[400:], y[400:], 3, steps=300, lr=1e-2, rng=np.random.default_rng(0))
    assert res.test_accuracy > 0.9
    noise = torch.randint(0, 3, (600,), generator=g)
    res = fit_probe(x[:400], noise[:400], x[400:], noise[400:], 3, steps=300, lr=1e-2, rng=np.random.default_rng(0))
    assert res.test_accuracy < 0.5


# ------------------------------------------------------------------ activations

def tiny_model(seed=0):
    return mingpt(n_layers=2, n_heads=2, d_model=16, n_ctx=8, d_vocab=11, seed=seed)


def test_residuals_match_the_cache_at_one_position_and_per_row_positions():
    model = tiny_model()
    tokens = torch.randint(0, 11, (5, 8), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens)
    out = residuals(model, tokens, 3)
    assert list(out) == ["B0", "B1", "B2"]
    assert all(v.shape == (5, 16) for v in out.values())
    assert torch.allclose(out["B0"], cache["blocks.0.hook_resid_pre"][:, 3])
    assert torch.allclose(out["B2"], cache["blocks.1.hook_resid_post"][:, 3])
    positions = torch.tensor([0, 7, 2, 2, 5])
    per_row = residuals(model, tokens, positions)
    for i, pos in enumerate(positions.tolist()):
        assert torch.allclose(per_row["B1"][i], cache["blocks.0.hook_resid_post"][i, pos])


def test_pattern_similarity_is_one_with_itself_and_lower_with_other_attention():
    model = tiny_model()
    tokens = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(1))
    assert pattern_similarity(model, model, tokens, 0) == pytest.approx(1.0)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.blocks[0].attn.W_Q.mul_(-3.0)  # sharper attention, on other keys
    assert pattern_similarity(other, model, tokens, 0) < 0.99
    assert pattern_similarity(other, model, tokens, 1) < 1.0  # its input changed too
