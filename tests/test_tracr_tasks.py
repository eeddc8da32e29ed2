"""The tracr chapter's samplers and analyses (the claims rest on the correlation structure)."""

import functools

import numpy as np
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.instruments.pruning import changed_weights, reset_most_changed
from ftscope.jain.compiled import (
    TracrConfig,
    attention_on,
    counter_batch,
    counter_letters,
    max_id_batch,
    max_id_letters,
    noisy_copy,
    selector_layer,
)
from ftscope.jain.tracr import ANSWER_POSITION, BOS


@pytest.mark.parametrize("c", [0.0, 0.5, 1.0])
def test_counter_correlation_share(c):
    letters = counter_letters(np.random.default_rng(0), 2000, 20, c)
    n_a, n_b = (letters == "a").sum(1), (letters == "b").sum(1)
    correlated = n_b == n_a + 1
    assert abs(correlated.mean() - c) < 0.03
    assert set(np.unique(letters)) <= set("abcdefghi")
    assert letters.shape == (2000, 20)


def test_counter_label_distribution_matches_across_c():
    rng = np.random.default_rng(1)
    n_b_corr = (counter_letters(rng, 3000, 20, 1.0) == "b").sum(1)
    n_b_unif = (counter_letters(rng, 3000, 20, 0.0) == "b").sum(1)
    assert abs(n_b_corr.mean() - n_b_unif.mean()) < 0.35  # same binomial, up to the correlated rows' floor of 1


@pytest.mark.parametrize("c", [0.0, 1.0])
def test_max_id_letters(c):
    letters = max_id_letters(np.random.default_rng(2), 500, 10, c, k_pt=4, k_ft=6)
    assert all(len(set(row)) == 10 for row in letters)  # distinct letters
    ordered = np.sort(letters, axis=1)
    gap = np.array([ord(x) - ord(y) for x, y in zip(ordered[:, 6], ordered[:, 4])])
    assert np.all(gap == 2) if c == 1.0 else np.all(gap != 2)


def test_config_rejects_inconsistent_choices():
    with pytest.raises(ConfigError, match="at least two"):
        TracrConfig.from_preset("laptop", counter_lrs=(0.1,))
    with pytest.raises(ConfigError, match="include 0 and 1"):
        TracrConfig.from_preset("laptop", counter_c_trs=(0.5,))


def moved_copy(shape: tuple[int, int], moves: dict[tuple[str, tuple[int, ...]], float]):
    """A linear layer and a copy of it with ``moves[(param, index)]`` added to those weights."""
    ref, model = torch.nn.Linear(*shape), torch.nn.Linear(*shape)
    model.load_state_dict(ref.state_dict())
    with torch.no_grad():
        for (name, index), delta in moves.items():
            getattr(model, name)[index] += delta
    return ref, model


def test_reset_most_changed_undoes_the_largest_changes():
    ref, model = moved_copy((3, 2), {("weight", (1, 2)): 5.0, ("bias", (0,)): 1.0})
    back = reset_most_changed(model, ref, 1)
    assert torch.equal(back.weight, ref.weight) and not torch.equal(back.bias, ref.bias)
    assert torch.equal(reset_most_changed(model, ref, 2).bias, ref.bias)
    assert model.weight[1, 2] != ref.weight[1, 2]  # the original is untouched


# ------------------------------------------------------------------ samplers and model ops on compiled models
SMALL = TracrConfig.from_preset("smoke")


@functools.cache
def compiled_counter():
    return SMALL.compile_counter("a")


@functools.cache
def compiled_max_id():
    return SMALL.compile_max_id()


def test_noisy_copy_is_seeded_has_the_asked_spread_and_leaves_the_original():
    model = compiled_counter().model
    before = {n: p.clone() for n, p in model.named_parameters()}
    a = noisy_copy(model, 1e-2, np.random.default_rng(3))
    b = noisy_copy(model, 1e-2, np.random.default_rng(3))
    c = noisy_copy(model, 1e-2, np.random.default_rng(4))
    pa, pb, pc = dict(a.named_parameters()), dict(b.named_parameters()), dict(c.named_parameters())
    assert all(torch.equal(pa[n], pb[n]) for n in pa)  # same rng, same copy
    assert not all(torch.equal(pa[n], pc[n]) for n in pa)
    noise = torch.cat([(pa[n] - before[n]).detach().flatten() for n in pa])
    assert abs(float(noise.std()) - 1e-2) < 1e-3 and abs(float(noise.mean())) < 1e-3
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # original untouched


def test_attention_on_shares_and_the_selector_layer_by_hand():
    cp = compiled_counter()
    batch = counter_batch(cp, np.random.default_rng(0), 50, SMALL.counter_len, 0.0)
    layer = selector_layer(cp, batch, "a")
    for block in range(cp.model.cfg.n_layers):
        shares = attention_on(cp.model, batch, block, ("a", "b", "c", BOS))
        assert all(0.0 <= v for v in shares.values()) and sum(shares.values()) <= 1.0 + 1e-6
    # by hand: the answer position's attention in the selector layer, summed over the key positions holding a
    _, cache = cp.model.run_with_cache(batch.tokens)
    pattern = cache["pattern", layer][:, 0, ANSWER_POSITION]  # (N, L + 1)
    by_hand = float(np.mean([float(pattern[i, 1:][torch.from_numpy(batch.letters[i] == "a")].sum())
                             for i in range(len(batch.letters))]))
    assert attention_on(cp.model, batch, layer, ("a",))["a"] == pytest.approx(by_hand, abs=1e-6)
    assert by_hand > attention_on(cp.model, batch, layer, ("b",))["b"]  # the selector attends to a, not b


def test_max_id_batch_labels_are_the_ranked_letters_and_correlated_rows_are_spaced():
    cp = compiled_max_id()
    k_pt, k_ft = SMALL.max_id_k_pt, SMALL.max_id_k_ft
    for c in (0.0, 1.0):
        batch = max_id_batch(cp, np.random.default_rng(5), 300, SMALL.max_id_len, c, k_pt, k_ft)
        ordered = np.sort(batch.letters, axis=1)
        assert torch.equal(batch.label_pt, cp.encode_output(ordered[:, k_pt].tolist()))
        assert torch.equal(batch.label_ft, cp.encode_output(ordered[:, k_ft].tolist()))
        assert all(len(set(row)) == SMALL.max_id_len for row in batch.letters)  # distinct letters
        gap = np.array([ord(a) - ord(b) for a, b in zip(ordered[:, k_ft], ordered[:, k_pt])])
        if c == 1.0:  # every row correlated: the two answers k_ft - k_pt letters apart, consecutive letters between
            assert (gap == k_ft - k_pt).all()
        else:
            assert (gap != k_ft - k_pt).all()
    assert batch.tokens.shape == (300, SMALL.max_id_len + 1)


def test_changed_weights_counts_exactly_the_weights_moved_past_the_threshold():
    ref, model = moved_copy((4, 3), {("weight", (0, 0)): 0.5, ("weight", (2, 3)): -0.2,
                                     ("weight", (1, 1)): 0.05,  # below the threshold
                                     ("bias", (1,)): 0.11})
    assert changed_weights(model, ref, 0.1) == {"weight": 2, "bias": 1}
    assert changed_weights(model, ref, 0.3) == {"weight": 1, "bias": 0}
    assert changed_weights(ref, ref, 0.0) == {"weight": 0, "bias": 0}


def test_random_init_keeps_the_shape_redraws_the_weights_and_is_seeded():
    from ftscope.jain.compiled_analyses import random_init

    model = compiled_counter().model
    before = {n: p.clone() for n, p in model.named_parameters()}
    a, b = (random_init(model, np.random.default_rng(5)) for _ in range(2))
    c = random_init(model, np.random.default_rng(6))
    pa, pb, pc = dict(a.named_parameters()), dict(b.named_parameters()), dict(c.named_parameters())
    assert {n: p.shape for n, p in pa.items()} == {n: p.shape for n, p in before.items()}
    assert all(torch.equal(pa[n], pb[n]) for n in pa) and not all(torch.equal(pa[n], pc[n]) for n in pa)
    weights = [n for n in pa if n.rsplit(".", 1)[-1].startswith("W_")]
    biases = [n for n in pa if n.rsplit(".", 1)[-1].startswith("b_")]
    assert weights and all(not torch.equal(pa[n], before[n]) for n in weights)
    assert all(not pa[n].any() for n in biases)
    drawn = torch.cat([pa[n].detach().flatten() for n in weights])
    assert float(drawn.std()) == pytest.approx(0.8 / model.cfg.d_model ** 0.5, rel=0.1)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # original untouched


def test_probe_and_attention_floors_are_read_apart_from_the_fine_tunes():
    import pandas as pd

    from ftscope.jain import compiled_analyses as ca

    cfg = TracrConfig.from_preset("smoke")
    lrs = sorted(cfg.counter_lrs)
    rows = [dict(seed=0, model="compiled", block=b, accuracy=a) for b, a in (("B0", 0.2), ("B1", 1.0))]
    rows += [dict(seed=s, model=f"η={lr:g} C_Tr=1", block="B1", accuracy=0.9 - 0.1 * i + 0.01 * s)
             for s in (0, 1) for i, lr in enumerate(lrs)]
    rows += [dict(seed=0, model=m, block=b, accuracy=a)
             for m, accs in (("b-counter", (0.3, 0.6)), ("random init", (0.5, 0.4))) for b, a in zip(("B0", "B1"), accs)]
    facts = ca.probe_facts(cfg, pd.DataFrame(rows))
    assert facts["probe_floor"] == 0.6 and facts["probe_b_counter"] == 0.6 and facts["probe_random"] == 0.5
    assert facts["probe_compiled_best"] == 1.0
    # the floors, probed under seed 0, do not enter seed 0's worst fine-tune
    assert facts["probe_worst_but_largest_seeds"] == pytest.approx([0.9 - 0.1 * (len(lrs) - 2) + 0.01 * s
                                                                     for s in (0, 1)])
    n_test = cfg.probe_samples - int(0.75 * cfg.probe_samples)
    assert facts["probe_se2"] == pytest.approx(2 * (0.25 / n_test) ** 0.5)

    small, medium, large = lrs[0], cfg.medium_lr, lrs[-1]
    attention = pd.DataFrame(
        [dict(model="compiled", seed=0, a=0.5, b=0.0), dict(model="b-counter", seed=0, a=0.05, b=0.5),
         dict(model="random init", seed=0, a=0.1, b=0.1)]
        + [dict(model=ca.label(lr, c), seed=s, a=0.45, b=0.05) for s in (0, 1)
           for lr, c in ((small, 1.0), (medium, 0.0), (large, 0.0))])
    sorting = pd.DataFrame([{"η": f"η={lr:g}", "seed": s, "similarity": 0.9} for lr in cfg.max_id_lrs for s in (0, 1)]
                           + [{"η": "random init", "seed": 0, "similarity": 0.02}])
    facts, seeds = ca.attention_facts(cfg, 1, attention, sorting)
    assert facts["attn_kept_floor"] == pytest.approx(0.2)  # the random Counter's 0.1 over the compiled 0.5
    assert facts["attn_a_b_counter"] == 0.05 and facts["sort_floor"] == 0.02
    assert seeds["attn_kept_seeds"] == pytest.approx([0.9, 0.9]) and seeds["sort_small_seeds"] == [0.9, 0.9]
