"""Chapter 05's analyses: feature highlighting, the following table, Table 1 and its facts, probes, claims."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ftscope.data import stories as world
from ftscope.data import tokenizer as bpe
from ftscope.jain import stories_analyses as sa
from ftscope.jain import tinystories as ts
from ftscope.train import models
from ftscope.train.loop import TrainLog


def test_feature_spans_find_what_the_detector_finds():
    for s in world.generate_stories(300, seed=5):
        spans = world.feature_spans(s.body)
        assert {f for _, _, f in spans} == world.detect_features("Story: " + s.body) == set(s.features)
        assert all(a < b <= c for (a, b, _), (c, _, _) in zip(spans, spans[1:]))  # ordered, no overlaps
    html = sa.highlight('He was "surprised" <b>')
    assert "<mark" in html and "&lt;b&gt;" in html and 'title="Twist"' in html and 'title="Dialogue"' in html


def _setting(n=400):
    stories = world.generate_stories(n, seed=1)
    held = world.generate_stories(200, seed=2)
    tok = bpe.train_bpe(ts.protocol_texts(stories, "pretrain"), 384)
    return SimpleNamespace(stories=stories, held=held, tok=tok, bos=bpe.bos_id(tok))


def test_following_table_counts_asked_and_not_asked():
    setting = _setting()
    n = 8
    # a model that copies the held-out story of its header follows every feature exactly
    gens = {ask: ts.Generations(ts.twist_prompts(setting.held, n, ask),
                                [" " + s.body for s in ts.asking_stories(setting.held, n, ask)]) for ask in (True, False)}
    table = sa.following_table(setting, gens, n)
    assert list(table.index) == list(world.FEATURES)
    assert table.loc["Twist", ("asked", "k/n")] == f"{n}/{n}" and table.loc["Twist", ("not asked", "k/n")] == f"0/{n}"
    assert (table[("asked", "share")] == 1.0).all() and (table[("not asked", "share")] == 0.0).all()
    facts = sa.following_facts(table)
    assert facts["base_twist_asked"] == 1.0 and facts["base_twist_not"] == 0.0 and facts["base_twist_lo"] < 1.0
    assert 0.2 < facts["twist_rate"] < 0.5  # the world's p_feature is 0.35
    assert facts["followed"] == "Foreshadowing, Dialogue, BadEnding, MoralValue, Conflict" and facts["not_followed"] == "none"
    # a model that never writes a twist: asked share 0
    gens[True] = ts.Generations(gens[True].prompts, ["They played all day."] * n)
    assert sa.following_table(setting, gens, n).loc["Twist", ("asked", "share")] == 0.0
    assert "%" in sa.show_following(table).to_html()


def _ev(step, twist, loss, n=64):
    return {"step": step, "twist": round(twist * n) / n, "twist_k": round(twist * n), "twist_n": n,
            "twist_loss": loss}


def _state(evals, delete_evals=()):
    return {"log": TrainLog(rows=[{"step": 0, "loss": 1.0}], evals=evals).to_dict(), "model": None, "deleted": None,
            "delete_log": TrainLog(rows=[{"step": 0, "loss": 1.0}], evals=list(delete_evals)).to_dict()}


def _states(cfg, curve):
    """Synthetic runs: ``curve(run, step) -> (twist, twist_loss)``."""
    return {r: _state([_ev(s, *curve(r, s)) for s in cfg.reft_evals]) for r in ts.all_runs(cfg)}


def test_table1_and_reft_facts_read_the_runs():
    cfg = ts.StoriesConfig.from_preset("laptop")
    eta_m = cfg.delete_lrs[0]
    deleted = {"F": 0.5, "F+R": 0.0625, "F+MM": 0.25}

    def curve(run, step):
        if run.is_control:
            return (0.0 if step < cfg.reft_evals[-1] else 0.5), 1.0 if run.protocol == "control" else 0.8
        start = deleted[run.protocol] if run.lr == eta_m else 0.9
        return (start if step == 0 else 1.0), 0.5 + 0.01 * run.seed

    frame = sa.reft_frame(cfg, _states(cfg, curve))
    assert len(frame) == len(ts.all_runs(cfg)) * len(cfg.reft_evals)
    table = sa.table1(cfg, frame)
    assert list(table.index) == sa.ORDER
    # 4 of 64 on each of 3 seeds: 12 of 192 pooled, Wilson 3.6-10.6%
    assert table.loc["F+R (η_M)", "ours @0"] == "6 (6–6) [4–11]" and table.loc["F+R (η_M)", "paper @0"] == 12
    assert table.loc["F (η_S)", "seeds"] == 1 and table.loc["F (η_S)", "ours @0"].startswith("91 [")
    facts = sa.reft_facts(cfg, frame)
    assert facts["deleted_FR_seeds"] == [0.0625] * cfg.seeds and facts["deleted_F"] == 0.5
    assert facts["fr_minus_others_seeds"] == [0.0625 - 0.25] * cfg.seeds
    assert facts["revived_min_seeds"] == [1.0] * cfg.seeds
    assert facts["mid_step"] == cfg.reft_evals[1] and facts["gap_FR_seeds"] == [1.0] * cfg.seeds
    # against the better control: the label-blind one's loss (0.8) is below Not in PT's (1.0)
    assert facts["control_loss_gap_seeds"] == pytest.approx([0.3 - 0.01 * s for s in range(cfg.seeds)])
    assert facts["eta_s_deleted_max"] == pytest.approx(58 / 64)
    assert facts["eta_s_minus_m"] == pytest.approx(np.mean([58 / 64 - v for v in (0.5, 4 / 64, 0.25)]))
    assert facts["loss_early_min_seeds"] == [0.0] * cfg.seeds  # the loss never falls here: no early fall


def test_deletion_curve_halves_and_collateral_damage():
    cfg = ts.StoriesConfig.from_preset("laptop")
    curve = {0: 1.0, 1: 1.0, 3: 0.75, 10: 0.25, 30: 0.0}  # base 1.0, half-way (0.5) at step 6.5

    def reft(step):
        return {0: 0.0, 1: 0.25, 5: 0.75, 45: 1.0}[step]  # back half-way at step 3

    others = {f"{f}_{x}": 10.0 for f in world.FEATURES if f != ts.TWIST for x in "kn"}
    states = {}
    for run in ts.all_runs(cfg):
        dev = [{**_ev(k, v, 1.0), **others} for k, v in curve.items()] if run.protocol == "F+R" else []
        lost = {**others, "Dialogue_k": 7.0}  # the deleted model writes Dialogue in 7 of 10 prompts asking for it
        evals = [{**_ev(k, reft(k), 1.0), **(lost if k == 0 else others)} for k in cfg.reft_evals]
        if run.protocol != "F+R" and not run.is_control and run.lr == cfg.delete_lrs[0]:
            dev = [{**_ev(0, 1.0, 1.0), **others}]
        states[run] = _state(evals, dev if run.lr == cfg.delete_lrs[0] and not run.is_control else ())
    frame = sa.reft_frame(cfg, states)
    deletion = sa.deletion_frame(cfg, states)
    assert sorted(deletion[deletion.protocol == "F+R"].step.unique()) == [0, 1, 3, 10, 30, cfg.ft_steps]
    facts = sa.relearning_facts(cfg, deletion, frame)
    assert facts["del_half_seeds"] == pytest.approx([cfg.delete_lrs[0] * 6.5] * cfg.seeds)
    assert facts["rev_half_seeds"] == pytest.approx([cfg.reft_lr * 3.0] * cfg.seeds)
    assert facts["ratio_seeds"] == pytest.approx([6.5e-4 / 3e-5] * cfg.seeds)
    table, col = sa.collateral(deletion)
    assert col["collateral_drop_seeds"] == pytest.approx([0.3] * cfg.seeds) and col["collateral_n_min"] == 10
    assert table.loc["Dialogue", ("deleted", "F+R")] == pytest.approx(0.7)
    assert sa.crossing([0, 1, 2], [1.0, 0.9, 0.8], 0.5, falling=True) != sa.crossing([0, 1], [1.0, 0.0], 0.5, True)


def test_probes_read_block_means_of_the_story_tokens():
    setting = _setting(300)
    cfg = ts.StoriesConfig.from_preset("smoke", probe_samples=60, probe_steps=30)
    setting.held = setting.held[:150]
    rows, ends, labels = sa.probe_data(cfg, setting, 60)
    assert rows.shape == (60, cfg.n_ctx) and labels.shape == (60, len(world.FEATURES))
    assert (rows[:, 0] == setting.bos).all() and (ends < cfg.n_ctx).all()
    model = models.mistral(n_layers=2, d_model=32, n_heads=4, n_kv_heads=4, d_head=8, d_mlp=48, n_ctx=cfg.n_ctx,
                           d_vocab=384, seed=0)
    means = sa.block_means(model, rows, ends, k=3)
    assert means.shape == (2, 60, 32)
    # row 0's mean at the last block, by hand: the last 3 tokens up to its end
    _, cache = model.run_with_cache(rows[:1, : int(ends[0]) + 1])
    assert torch.allclose(means[1, 0], cache["blocks.1.hook_resid_post"][0, -3:].mean(0), atol=1e-5)
    probes = sa.probe_table(cfg, setting, {"base": model, "F deleted, seed 0": model, "F deleted, seed 1": model}, 0)
    assert set(probes.block) == {"B0", "B1"} and set(probes.feature) == set(world.FEATURES)
    assert probes.accuracy.between(0, 1).all() and (probes.chance >= 0.5).all()
    facts = sa.probe_facts(probes, ["F deleted, seed 0", "F deleted, seed 1"], n_test=20)
    assert facts["probe_drop_seeds"] == [0.0, 0.0]  # the same model: nothing lost
    assert np.isnan(facts["probe_floor"])  # no floor model was probed


def test_the_probe_floor_is_the_best_model_that_never_had_the_capability():
    rows = []
    for model, acc in {"base": 0.8, "F deleted, seed 0": 0.75, "F deleted, seed 1": 0.62, "Not in PT": 0.6,
                       "Label-blind": 0.7, "random init": 0.55}.items():
        for block, a in (("B0", acc - 0.1), ("B1", acc)):
            rows.append({"model": model, "block": block, "feature": ts.TWIST, "accuracy": a, "chance": 0.6})
    facts = sa.probe_facts(pd.DataFrame(rows), ["F deleted, seed 0", "F deleted, seed 1"], n_test=100)
    assert facts["probe_floor"] == 0.7 and facts["probe_base_margin"] == pytest.approx(0.1)
    assert facts["probe_margin_seeds"] == pytest.approx([0.05, -0.08])
    assert facts["probe_se"] == pytest.approx(0.04)
    assert facts["probe_profile_drop_seeds"] == pytest.approx([0.05, 0.18])


def test_stories_claims_follow_the_gate():
    from ftscope.book import Chapter
    from ftscope.jain import claims

    cfg = ts.StoriesConfig.from_preset("laptop")
    deleted = {"F": 0.5, "F+R": 0.0, "F+MM": 0.25}
    frame = sa.reft_frame(cfg, _states(cfg, lambda r, s: (
        (deleted[r.protocol] if r.lr == cfg.delete_lrs[0] else 0.5) if s == 0 and not r.is_control
        else (0.0 if r.is_control else 1.0), 0.5 if not r.is_control else 0.6)))
    reft = sa.reft_facts(cfg, frame) | {"loss_tie_seeds": [0.02] * cfg.seeds}
    probe = {"probe_base": 0.9, "probe_chance": 0.6, "probe_drop_seeds": [0.01] * cfg.seeds, "probe_se": 0.03,
             "probe_base_margin": 0.2, "probe_floor": 0.7, "probe_margin_seeds": [0.19] * cfg.seeds,
             "probe_profile_drop_seeds": [0.02] * cfg.seeds}
    relearn = {"ratio_seeds": [3.0] * cfg.seeds, "ratio_bound_seeds": [0.5] * cfg.seeds,
               "removed_seeds": [1.0] * cfg.seeds}
    collateral = {"collateral_drop_seeds": [0.05] * cfg.seeds, "collateral_n_min": 20}
    for asked, verdict in ((1.0, "reproduced"), (0.5, "inconclusive")):
        ch = Chapter("05_tinystories_wrappers", ts.StoriesConfig, preset="laptop", device="cpu", seed=0, overrides={})
        follow = {"base_twist_asked": asked, "base_twist_not": 0.0, "twist_rate": 0.35}
        claims.stories_claims(ch, follow, reft, probe, relearn, collateral)
        got = {c.id: c for c in ch.claims}
        assert got["stories_base_selective"].verdict == "reproduced"
        assert got["stories_base_follows"].kind == "precondition"
        assert got["stories_probe_kept"].verdict == verdict
        assert got["stories_control_slower_fmm"].verdict == verdict  # 1.0 against the controls' 0.0
        assert got["stories_revival_faster_than_deletion"].kind == "hypothesis"
        # F+R at 0% against F's 50% and F+MM's 25%: F+R deletes the most, and it is no tie at the floor
        assert got["stories_fr_deletes_most"].verdict == verdict
        # F's 5% of pretraining tokens cannot decide (the paper's 13%), so its revival claim has nothing to judge
        assert got["stories_deleted_f"].verdict == "inconclusive"
        assert got["stories_control_slower_f"].verdict == "inconclusive"
        assert len(got) == 20
    both_zero = sa.reft_facts(cfg, sa.reft_frame(cfg, _states(cfg, lambda r, s: (0.0, 0.5)))) | {
        "loss_tie_seeds": [0.02] * cfg.seeds}
    ch = Chapter("05_tinystories_wrappers", ts.StoriesConfig, preset="laptop", device="cpu", seed=0, overrides={})
    claims.stories_claims(ch, {"base_twist_asked": 1.0, "base_twist_not": 0.0, "twist_rate": 0.35}, both_zero,
                          probe, relearn, collateral)
    got = {c.id: c for c in ch.claims}
    tie = got["stories_fr_deletes_most"]
    assert tie.verdict == "inconclusive" and "a tie at 0% twists" in tie.note
    # every loss 0.5: the controls' gap of 0 lies inside the per-story band
    assert got["stories_reft_loss_below_control"].verdict == "inconclusive"


def test_a_loss_gap_inside_its_own_seeds_band_on_most_seeds_is_a_tie():
    from ftscope.jain.claims import _seeds_tied

    # 2 of 3 seeds inside their own band: the ordering rests on one seed
    why = _seeds_tied([0.012, 0.004, 0.006], [0.008, 0.008, 0.009], "the better control")
    assert why.startswith("a tie with the better control on 2 of 3 seeds (seeds 1, 2")
    assert _seeds_tied([0.012, 0.004, 0.016], [0.008, 0.008, 0.009], "x") == ""  # 1 of 3: the seeds decide
    assert _seeds_tied([0.012, 0.004], [0.008, 0.008], "x") == ""  # half is not most
    assert _seeds_tied([-0.01, -0.02, 0.0], [0.05, 0.05, 0.05], "x").startswith("a tie with x on 3 of 3")
