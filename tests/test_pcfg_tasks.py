"""The PCFG chapters' training layer: config, cached pretraining, fine-tuning, evaluation, pruning units."""

import numpy as np
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.instruments.pruning import attribution_scores, top_units, zero_units
from ftscope.jain.pcfg import PRIORS, TEXT_START, span_length
from ftscope.jain.pcfg_training import (
    PcfgConfig,
    build_model,
    counter_tests,
    family_accuracy,
    family_tests,
    finetune_counter,
    neuron_units,
    pretrained,
    pretrained_many,
)
from ftscope.paths import Project
from ftscope.train.answers import accuracy, answer_logits, answer_loss, answer_scores

TINY = dict(window=16, n_layers=1, n_heads=2, d_model=16, pretrain_steps=4, pretrain_batch=8, ft_steps=3,
            ft_batch=8, eval_samples=50)


def tiny(**kw) -> PcfgConfig:
    return PcfgConfig.from_preset("smoke", **{**TINY, **kw})


def test_config_rejects_bad_priors_and_rates_naming_the_choices():
    with pytest.raises(ConfigError, match="'low'.*'medium'"):
        tiny(priors=("low", "huge"))
    with pytest.raises(ConfigError, match="largest first"):
        tiny(ft_lrs=(1e-6, 1e-5, 1e-4))
    with pytest.raises(ConfigError, match="0 and 1"):
        tiny(ft_c_trs=(0.5, 1.0))
    with pytest.raises(ConfigError, match="ft_grid"):
        tiny(ft_grid="most")


def test_learning_rates_keep_lr_times_steps_but_stay_under_the_pretraining_lr():
    # η·steps as the paper's while η_L stays at most a tenth of the pretraining η (the paper's order)
    cfg = tiny(ft_steps=500, pretrain_lr=0.1)
    assert cfg.lrs["large"] == pytest.approx(1e-4 * 10_000 / 500)
    cfg = tiny(ft_steps=500)  # 2e-3 would pass the pretraining η of 1e-3: capped at 1e-4
    assert cfg.lrs == pytest.approx({"large": 1e-4, "medium": 1e-5, "small": 1e-6})
    assert cfg.lrs["large"] <= cfg.max_lr_share * cfg.pretrain_lr
    assert cfg.lrs["large"] > cfg.lrs["medium"] > cfg.lrs["small"]
    assert PcfgConfig.from_preset("paper").lrs == pytest.approx({"large": 1e-4, "medium": 1e-5, "small": 1e-6})


def test_laptop_grid_is_a_subset_of_the_full_grid_with_the_cells_the_claims_read():
    full = set(tiny(ft_grid="full", ft_c_trs=(0.0, 0.8, 1.0)).cells)
    laptop = set(tiny(ft_grid="laptop", ft_c_trs=(0.0, 0.8, 1.0)).cells)
    assert laptop < full and len(full) == 3 * 3 * 3
    for lr in ("large", "medium", "small"):
        assert ("low", lr, 1.0) in laptop
    for prior in ("low", "medium", "high"):  # Fig. 6: every prior at C_Tr = 0 and 1 at η_M; reFT starts at η_L
        assert {(prior, "medium", 0.0), (prior, "medium", 1.0), (prior, "large", 1.0)} <= laptop
    assert ("medium", "medium", 0.8) in laptop  # the avoided shortcut (P(a) = 0.9)
    assert ("high", "small", 1.0) not in laptop and ("low", "large", 0.8) not in laptop and ("high", "medium", 0.8) not in laptop


def test_pretraining_is_cached_by_config_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    project = Project(tmp_path)
    cfg = tiny()
    m1, log1, cached1 = pretrained(cfg, "low", 0, project=project, echo=lambda *a: None)
    m2, log2, cached2 = pretrained(cfg, "low", 0, project=project, echo=lambda *a: None)
    assert (cached1, cached2) == (False, True)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert [r["loss"] for r in log1.rows] == [r["loss"] for r in log2.rows] and len(log1.rows) > 0
    # another pretraining field is another checkpoint, trained afresh, and differs
    m3, _, cached3 = pretrained(tiny(pretrain_lr=3e-3), "low", 0, project=project, echo=lambda *a: None)
    assert not cached3 and not all(torch.equal(a, b) for a, b in zip(m1.parameters(), m3.parameters()))
    # same config in a fresh cache: trained again, bit-identical (seeded on the CPU)
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache2"))
    m4, _, cached4 = pretrained(cfg, "low", 0, project=project, echo=lambda *a: None)
    assert not cached4 and all(torch.equal(a, b) for a, b in zip(m1.parameters(), m4.parameters()))


def test_pretrainings_train_together_and_each_lands_in_its_own_cache_place(tmp_path, monkeypatch):
    """``pretrained_many`` trains the priors not cached together and saves each where ``pretrained``
    looks for it; a model trained with others is its lone run up to the order of float sums."""
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    project, quiet = Project(tmp_path), lambda *a: None
    cfg = tiny()
    alone, _, _ = pretrained(cfg, "low", 0, project=project, echo=quiet)
    got = pretrained_many(cfg, ["low", "medium", "b_only"], 0, project=project, echo=quiet)
    assert [got[p][2] for p in ("low", "medium", "b_only")] == [True, False, False]  # low was cached
    again = pretrained_many(cfg, ["medium", "b_only"], 0, project=project, echo=quiet)
    assert again["medium"][2] and again["b_only"][2]
    assert all(torch.equal(a, b) for a, b in zip(got["medium"][0].parameters(), again["medium"][0].parameters()))
    medium, log, cached = pretrained(cfg, "medium", 0, project=project, echo=quiet)
    assert cached and [r["loss"] for r in log.rows] == [r["loss"] for r in got["medium"][1].rows]
    # a fresh cache: medium trained alone ends where medium trained with b_only ended (to rounding)
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache2"))
    lone, _, cached = pretrained(cfg, "medium", 0, project=project, echo=quiet)
    assert not cached
    for a, b in zip(lone.parameters(), medium.parameters()):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)
    assert not all(torch.equal(a, b) for a, b in zip(alone.parameters(), medium.parameters()))
    with pytest.raises(ConfigError, match="b_only"):
        pretrained_many(cfg, ["low", "uniform"], 0, project=project, echo=quiet)


def test_unknown_prior_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="b_only"):
        pretrained(tiny(), "uniform", 0, project=Project(tmp_path), echo=lambda *a: None)
    assert not (tmp_path / "cache").exists()


def test_finetuning_is_seeded_and_changes_the_model():
    cfg = tiny()
    base = build_model(cfg, 0)
    runs = []
    for _ in range(2):
        model = build_model(cfg, 0)
        finetune_counter(cfg, model, 1e-2, 1.0, np.random.default_rng(3))
        runs.append(model)
    assert all(torch.equal(a, b) for a, b in zip(runs[0].parameters(), runs[1].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(base.parameters(), runs[0].parameters()))


def test_scores_read_both_counts_on_the_same_texts():
    cfg = tiny()
    tests = counter_tests(cfg, np.random.default_rng(0), 40)
    for c in (0.0, 1.0):
        b, a = tests.ask_ft[c], tests.ask_pt[c]
        assert torch.equal(b.answer, b.label_ft) and torch.equal(a.answer, a.label_pt)
        assert np.array_equal(b.text, a.text) and (b.operand == 1).all() and (a.operand == 0).all()
    assert (tests.ask_ft[1.0].count_ft == tests.ask_ft[1.0].count_pt + 1).all()
    assert not (tests.ask_ft[0.0].count_ft == tests.ask_ft[0.0].count_pt + 1).any()
    span = span_length(cfg.window, cfg.count_span)

    class Wrapper(torch.nn.Module):
        """Reads the text and answers count(a) + 1 whatever is asked: the wrapper, exactly."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, inputs):
            text = inputs[:, TEXT_START:TEXT_START + cfg.window][:, -span:]
            count_a = (text == cfg.vocab.id("a")).sum(1).numpy()
            out = torch.zeros(inputs.shape[0], inputs.shape[1], cfg.vocab.size)
            out[torch.arange(len(out)), :, torch.from_numpy(cfg.vocab.number(count_a + 1))] = 1.0
            return out

    scores = answer_scores(Wrapper(), tests)
    assert scores["acc_ft_cte1"] == 1.0 and scores["acc_ft_cte0"] == 0.0  # the wrapper pattern of Table 5
    assert scores["acc_pt_cte1"] == 0.0


class NextInput(torch.nn.Module):
    """Predicts, at every position, the next input token: at ``<art>`` that is the answer itself."""

    def __init__(self, vocab_size: int, shift: int = 1):
        super().__init__()
        self.vocab_size, self.shift = vocab_size, shift
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs):
        nxt = torch.roll(inputs, -self.shift, dims=1)
        return torch.nn.functional.one_hot(nxt, self.vocab_size).float()


def test_family_accuracy_covers_every_family_and_operand():
    cfg = tiny()
    keys = {"C a", "C b", "C c", "CC a", "CC b", "CC c", "I a", "I b", "I c", "IC a", "IC b", "IC c", "T"}
    oracle = family_accuracy(cfg, NextInput(cfg.vocab.size), np.random.default_rng(0), 20)
    assert set(oracle) == keys and all(v == 1.0 for v in oracle.values())
    wrong = family_accuracy(cfg, NextInput(cfg.vocab.size, shift=0), np.random.default_rng(0), 20)
    assert all(v == 0.0 for v in wrong.values())  # repeats <art>, never an answer


def test_neuron_pruning_zeroes_whole_rows_of_w_out():
    cfg = tiny(n_layers=2)
    model = build_model(cfg, 0)
    units = neuron_units(model)
    assert set(units) == {"blocks.0.mlp.W_out", "blocks.1.mlp.W_out"}
    batch = cfg.pretraining_batch(np.random.default_rng(0), "low", 16)
    scores = attribution_scores(model, answer_loss(model, batch), units)
    assert scores["blocks.0.mlp.W_out"].shape == (model.cfg.d_mlp,)
    top = top_units(scores, 3)
    zero_units(model, top, units)
    for u in top:
        assert torch.count_nonzero(dict(model.named_parameters())[u.param][u.index[0]]) == 0
    with torch.no_grad():
        expected = (answer_logits(model, batch).argmax(-1) == batch.answer).sum().item() / len(batch.answer)
    assert accuracy(model, batch) == expected and accuracy(model, batch, chunk=5) == expected


def test_every_named_prior_is_a_distribution():
    for name, p in PRIORS.items():
        assert sum(p) == pytest.approx(1.0), name


def test_family_table_scores_every_model_on_the_same_texts_beside_the_best_constant_answer():
    from ftscope.jain.pcfg_analyses import CHANCE, family_table, family_tables, seed_mean

    cfg = tiny()
    model = build_model(cfg, 0)
    table = family_table(cfg, {"one": model, "same": model}, np.random.default_rng(0))
    assert list(table.columns) == ["one", "same", CHANCE]
    assert table["one"].equals(table["same"])  # drawn once: two copies of a model score alike
    other = build_model(cfg, 1)  # another seed's models, on the same tests; the mean is taken cell by cell
    tables = family_tables(cfg, [{"one": model, "only_first": model}, {"one": other}], np.random.default_rng(0))
    assert tables[0]["one"].equals(table["one"]) and tables[1][CHANCE].equals(table[CHANCE])
    mean = seed_mean(tables)
    assert list(mean.columns) == ["one", "only_first", CHANCE]
    assert mean["one"].tolist() == pytest.approx(((tables[0]["one"] + tables[1]["one"]) / 2).tolist())
    assert mean["only_first"].equals(tables[0]["only_first"]) and mean[CHANCE].equals(table[CHANCE])
    tests = family_tests(cfg, np.random.default_rng(0), cfg.eval_samples)
    for name, batch in tests.items():  # the chance column: the commonest answer's share of each test set
        share = torch.bincount(batch.answer).max().item() / len(batch.answer)
        assert table.loc[name, CHANCE] == pytest.approx(share)
        assert 1 / cfg.vocab.size < share <= 1.0
