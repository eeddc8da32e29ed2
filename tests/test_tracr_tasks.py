"""The tracr chapter's samplers and analyses (the claims rest on the correlation structure)."""

import numpy as np
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.instruments.pruning import reset_most_changed
from ftscope.jain.compiled import TracrConfig, counter_letters, max_id_letters


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
        TracrConfig.from_preset("ci", counter_lrs=(0.1,))
    with pytest.raises(ConfigError, match="include 0 and 1"):
        TracrConfig.from_preset("ci", counter_c_trs=(0.5,))


def test_reset_most_changed_undoes_the_largest_changes():
    ref = torch.nn.Linear(3, 2)
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(ref.weight)
        model.bias.copy_(ref.bias)
        model.weight[1, 2] += 5.0
        model.bias[0] += 1.0
    back = reset_most_changed(model, ref, 1)
    assert torch.equal(back.weight, ref.weight) and not torch.equal(back.bias, ref.bias)
    assert torch.equal(reset_most_changed(model, ref, 2).bias, ref.bias)
    assert model.weight[1, 2] != ref.weight[1, 2]  # the original is untouched
