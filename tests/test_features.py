"""Feature matching and its figures (Horn & Elliott 2024): correlations, flows, proxies, Sankey, highlights."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import pearsonr

from ftscope.instruments.matching import (
    alive,
    autointerp_proxy,
    feature_acts,
    flow_links,
    flows,
    lowlevel_share,
    merge_flows,
    pearson_matrix,
    sankey_figure,
    selectivity,
    threshold_sweep,
    token_highlight_html,
    token_profile_corr,
    top_tokens,
    universal,
    word_positions,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def sparse_acts(n, f, seed=0):
    """SAE-like activations: non-negative, mostly zero."""
    return torch.relu(torch.randn(n, f, generator=gen(seed)) - 1.0)


def test_pearson_matrix_equals_corrcoef_with_chunking():
    a, b = torch.randn(300, 7, generator=gen(1)), torch.randn(300, 5, generator=gen(2))
    b[:, 3] = a[:, 0] * 2.0 + 0.1 * b[:, 3]  # one strong pair
    r = pearson_matrix(a, b, chunk=3)
    ref = np.corrcoef(a.double().numpy().T, b.double().numpy().T)[:7, 7:]
    assert r.shape == (7, 5)
    np.testing.assert_allclose(r.numpy(), ref, atol=1e-5)
    assert r[0, 3] > 0.99


def test_pearson_matrix_constant_columns_give_zero():
    a, b = torch.randn(100, 4, generator=gen(3)), torch.randn(100, 3, generator=gen(4))
    a[:, 1], b[:, 2] = 3.7, 0.0
    r = pearson_matrix(a, b, chunk=2)
    assert torch.all(r[1] == 0) and torch.all(r[:, 2] == 0)
    assert not torch.isnan(r).any()


def test_alive_counts_fires():
    acts = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.5, 0.0], [0.0, 0.1, -1.0]])
    assert alive(acts, 1).tolist() == [True, True, False]
    assert alive(acts, 2).tolist() == [False, True, False]


def test_planted_permutation_is_recovered_with_exact_counts():
    n, f, replaced, extra = 5000, 30, [2, 11, 17, 25, 29], 4
    parent = sparse_acts(n, f, seed=5)
    perm = torch.randperm(f, generator=gen(6))  # child column j copies parent column perm[j]
    child = parent[:, perm] + 0.05 * torch.randn(n, f, generator=gen(7)).abs()
    child[:, replaced] = sparse_acts(n, len(replaced), seed=8)
    child = torch.cat([child, sparse_acts(n, extra, seed=9)], 1)
    corr = pearson_matrix(parent, child, chunk=8)
    fl = flows(corr, 0.8)

    lost = perm[replaced].sort().values  # parent features whose copy was replaced
    assert (fl["n_parent"], fl["n_child"]) == (f, f + extra)
    assert (fl["n_persist"], fl["n_disappear"], fl["n_emerge"]) == (f - 5, 5, 5 + extra)
    assert fl["disappear"].nonzero().flatten().tolist() == lost.tolist()
    assert fl["emerge"].nonzero().flatten().tolist() == sorted(replaced + list(range(f, f + extra)))
    inv = torch.argsort(perm)  # parent i lives in child column inv[i]
    assert torch.equal(fl["parent_best"][fl["persist"]], inv[fl["persist"]])
    assert fl["parent_best_r"][fl["persist"]].min() > 0.95 and fl["parent_best_r"][~fl["persist"]].max() < 0.2
    assert math.isclose(fl["persist_share"], 25 / 30) and math.isclose(fl["emerge_share"], 9 / 34)


def naive_token_profile(acts_a, acts_b, token_ids, min_common=2):
    """The authors' correlation.py, row by row: pivot fired (feature, token, activation) rows, then pearsonr."""
    def pivot(acts):
        rows, feats = (acts > 0).nonzero(as_tuple=True)
        df = pd.DataFrame({"feature": feats.numpy(), "token": token_ids[rows].numpy(),
                           "activation": acts[rows, feats].double().numpy()})
        return df.pivot_table(index="feature", columns="token", values="activation")

    pa, pb = pivot(acts_a), pivot(acts_b)
    out = np.zeros((acts_a.shape[1], acts_b.shape[1]))
    for i in pa.index:
        for j in pb.index:
            x, y = pa.loc[i].dropna(), pb.loc[j].dropna()
            common = x.index.intersection(y.index)
            if len(common) >= min_common:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = pearsonr(x[common], y[common])[0]
                out[i, j] = 0.0 if np.isnan(r) else r
    return out


def test_token_profile_corr_matches_naive_method_b():
    n, v = 400, 8
    tok = torch.randint(0, v, (n,), generator=gen(10))
    w = torch.rand(v, 6, generator=gen(11)) * 2 - 0.5
    noise = lambda s, f: 0.3 * torch.randn(n, f, generator=gen(s))  # noqa: E731
    acts_a = torch.relu(w[tok, :5] + noise(12, 5))
    acts_b = torch.relu(w[tok, 1:] * 1.5 + noise(13, 5))
    acts_a[:, 3] = torch.where(tok == 3, 1.0, 0.0) * (1 + torch.rand(n, generator=gen(14)))  # fires on one token
    acts_b[:, 4] = torch.where(tok < 4, 2.0, 0.0)  # constant when it fires
    acts_b[:, 0] = 0.0  # dead
    r = token_profile_corr(acts_a, acts_b, tok, chunk=2)
    ref = naive_token_profile(acts_a, acts_b, tok)
    assert r.shape == (5, 5)
    np.testing.assert_allclose(r.numpy(), ref, atol=1e-5)
    assert (np.abs(ref) > 0.5).sum() >= 3  # the test is not vacuous
    assert torch.all(r[3] == 0) and torch.all(r[:, 4] == 0) and torch.all(r[:, 0] == 0)


def test_merge_flows_two_parents():
    # child: 0 from p1 only, 1 from p2 only, 2 from both, 3 and 4 emerge
    c1 = torch.tensor([[0.9, 0.1, 0.85, 0.2, 0.79],
                       [0.0, 0.3, 0.1, 0.1, 0.0]])
    c2 = torch.tensor([[0.2, 0.95, 0.0, 0.0, 0.1],
                       [0.1, 0.0, 0.81, 0.5, 0.0],
                       [0.0, 0.0, 0.0, 0.0, 0.0]])
    m = merge_flows(c1, c2, 0.8)
    assert m["emerge"].tolist() == [False, False, False, True, True]
    assert (m["n_from_p1_only"], m["n_from_p2_only"], m["n_from_both"], m["n_emerge"]) == (1, 1, 1, 2)
    assert m["p1"]["persist"].tolist() == [True, False] and m["p2"]["persist"].tolist() == [True, True, False]
    assert m["p1"]["n_emerge"] == 3 and m["emerge_share"] == pytest.approx(0.4)


def test_threshold_sweep_is_monotone():
    corr = pearson_matrix(sparse_acts(2000, 20, seed=15), sparse_acts(2000, 20, seed=15)
                          + torch.rand(2000, 20, generator=gen(16)) * torch.linspace(0, 3, 20))
    ts = [0.5, 0.6, 0.7, 0.8, 0.9]
    df = threshold_sweep({"a->b": corr, "b->a": corr.T}, ts)
    assert list(df.columns) == ["pair", "threshold", "persist_share", "emerge_share", "disappear_share"]
    assert len(df) == 10
    for _, g in df.groupby("pair"):
        assert (np.diff(g["persist_share"]) <= 0).all() and (np.diff(g["emerge_share"]) >= 0).all()
        assert g["persist_share"].iloc[0] > g["persist_share"].iloc[-1]  # the planted gradient spans the sweep
        np.testing.assert_allclose(g["persist_share"] + g["disappear_share"], 1.0)


def test_universal_needs_a_match_in_every_model():
    lua = torch.tensor([[0.9, 0.1], [0.85, 0.0], [0.1, 0.2]])
    stories = torch.tensor([[0.0, 0.95], [0.5, 0.1], [0.9, 0.0]])
    ls = torch.tensor([[0.82, 0.0, 0.0], [0.9, 0.0, 0.0], [0.9, 0.0, 0.0]])
    df = universal({"lua": lua, "stories": stories, "luastories": ls}, 0.8)
    assert df["base"].tolist() == [0]
    assert df.loc[0, "stories_match"] == 1 and df.loc[0, "min_r"] == pytest.approx(0.82)


def test_autointerp_proxy_token_function_and_noise():
    n = 4000
    tok = torch.randint(0, 10, (n,), generator=gen(17))
    acts = torch.stack([tok.float() ** 2 / 10, torch.relu(torch.randn(n, generator=gen(18))), torch.zeros(n)], 1)
    r = autointerp_proxy(acts, tok)
    assert r[0] == pytest.approx(1.0, abs=1e-6)
    assert abs(r[1]) < 0.1
    assert np.isnan(r[2])
    assert autointerp_proxy(acts, tok, features=[1, 0])[1] == pytest.approx(1.0, abs=1e-6)


def test_selectivity_and_top_tokens_find_the_planted_feature():
    n = 3000
    tok = torch.randint(0, 12, (n,), generator=gen(19))
    acts = 0.3 * torch.rand(n, 6, generator=gen(20))
    acts[:, 4] = torch.where(tok == 7, 5.0, 0.05)
    s = selectivity(acts, tok, [7])
    assert int(s.argmax()) == 4 and s[4] > 50
    top = top_tokens(acts, tok, lambda i: f"t{i}", k=3)
    assert len(top) == 6 and top[4][0] == "t7" and all(len(t) == 3 for t in top)
    assert top_tokens(acts, tok, str, k=1, features=[4]) == [["7"]]
    with pytest.raises(ValueError):
        selectivity(acts, tok, [99])


def test_lowlevel_share_on_hand_made_lists():
    top = [["Ġ=", "Ġ(", "Ġthe", "Ċ"], ["hello", " world"], [], ["x", "ĠĠ", "...", "return"], [" ,", "▁;"]]
    share = lowlevel_share(top)
    np.testing.assert_allclose(share[[0, 1, 3, 4]], [0.75, 0.0, 0.75, 1.0])
    assert np.isnan(share[2])


def test_sankey_nodes_and_links():
    f_lua = flows(torch.tensor([[0.9, 0.0], [0.1, 0.2], [0.0, 0.85]]), 0.8)  # 2 persist, 1 gone, 0 emerge
    f_st = flows(torch.tensor([[0.9, 0.0, 0.1], [0.1, 0.2, 0.0], [0.0, 0.1, 0.0]]), 0.8)  # 1, 2, 2
    m = merge_flows(torch.tensor([[0.9, 0.0], [0.0, 0.1]]), torch.tensor([[0.0, 0.1], [0.2, 0.0], [0.3, 0.1]]), 0.8)
    tables = {("Base", "Lua"): f_lua, ("Base", "Stories"): f_st, (("Lua", "Stories"), "LuaStories"): m}
    links = flow_links(tables)
    assert ("emerged", "Lua", 0.0) not in links and ("Base", "Stories", 1.0) in links
    assert ("Stories", "LuaStories", 0.0) not in links and ("emerged", "LuaStories", 1.0) in links
    assert len(links) == 9
    nodes = ["Base", "Lua", "Stories", "LuaStories", "disappeared", "emerged"]
    fig = sankey_figure(nodes, links, "flows", labels={"Base": "Base (50% persist)"})
    s = fig.data[0]
    assert len(s.node.label) == 6 and s.node.label[0] == "Base (50% persist)"
    assert len(s.link.source) == len(s.link.value) == 9 and sum(s.link.value) == sum(v for *_, v in links)
    assert len(flow_links(tables, persist_only=True)) == 3
    with pytest.raises(ValueError):
        sankey_figure(nodes[:-1], links)


def test_highlight_html_escapes_and_colours():
    out = token_highlight_html(["a<b", " &", "Ġx", "\n"], [0.0, 1.0, 2.0, 0.5], title="r = 0.9 <ok>")
    assert "a&lt;b" in out and " &amp;" in out and "&lt;ok&gt;" in out
    assert "a<b" not in out and "<ok>" not in out
    assert out.count("<span") == 4 and 'title="2"' in out and "↵<br>" in out
    assert "transparent" in out.split("<span")[1]  # zero activation: no background


def test_feature_acts_matches_run_with_cache():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=1, d_model=16, d_head=8, n_heads=2, d_mlp=32, n_ctx=8, d_vocab=20,
                                  act_fn="relu", device="cpu")
    model = HookedTransformer(cfg).eval()
    blocks = torch.randint(0, 20, (5, 8), generator=gen(21))
    w = torch.randn(32, 48, generator=gen(22))
    encode = lambda x: torch.relu(x @ w)  # noqa: E731

    acts = feature_acts(model, encode, blocks, batch=2)
    _, cache = model.run_with_cache(blocks)
    ref = torch.relu(cache["blocks.0.mlp.hook_post"].reshape(-1, 32) @ w)
    assert acts.shape == (40, 48) and acts.dtype == torch.float32 and not acts.requires_grad
    assert (ref > 0).any()
    torch.testing.assert_close(acts, ref, atol=1e-5, rtol=1e-5)


def test_word_positions_finds_whole_words_across_token_splits():
    vocab = ["try", ":", " ex", "cept", " x", "=", "1", "\n", "tr", "y", "entry", " trying"]
    decode = vocab.__getitem__
    blocks = torch.tensor([[0, 1, 7, 2, 3, 1, 7, 4, 5, 6],      # try : \n ex|cept : \n x = 1
                           [10, 8, 9, 11, 4, 5, 6, 7, 8, 9]])   # entry tr|y trying x = 1 \n tr|y
    mask = word_positions(blocks, decode, ["try", "except"]).reshape(2, 10)
    assert mask[0].nonzero().flatten().tolist() == [0, 4]  # "try", and "except" ending at "cept"
    assert mask[1].nonzero().flatten().tolist() == [9]  # "entry"+"tr"+"y" is no word "try"; "\n"+"tr"+"y" is
    sel = selectivity(torch.rand(20, 3), blocks.flatten(), on=mask.flatten())
    assert sel.shape == (3,)
