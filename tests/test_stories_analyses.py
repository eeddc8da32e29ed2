"""Chapter 05's analyses: feature highlighting, the following table, Table 1 and its facts, probes, claims."""

from types import SimpleNamespace

import numpy as np
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


def _state(evals):
    return {"log": TrainLog(rows=[{"step": 0, "loss": 1.0}], evals=evals).to_dict(), "model": None, "deleted": None}


def _states(cfg, curve):
    """Synthetic runs: ``curve(run, step) -> (twist, twist_loss)``."""
    runs = ts.deletion_runs(cfg) + [ts.Run("control", cfg.reft_lr, s) for s in range(cfg.seeds)]
    return {r: _state([dict(zip(("step", "twist", "twist_loss"), (s, *curve(r, s)))) for s in cfg.reft_evals])
            for r in runs}


def test_table1_and_reft_facts_read_the_runs():
    cfg = ts.StoriesConfig.from_preset("laptop")
    eta_m = cfg.delete_lrs[0]
    deleted = {"F": 0.5, "F+R": 0.0625, "F+MM": 0.25}

    def curve(run, step):
        if run.protocol == "control":
            return (0.0 if step < cfg.reft_evals[-1] else 0.5), 1.0
        start = deleted[run.protocol] if run.lr == eta_m else 0.9
        return (start if step == 0 else 1.0), 0.5 + 0.01 * run.seed

    frame = sa.reft_frame(cfg, _states(cfg, curve))
    assert len(frame) == (len(ts.deletion_runs(cfg)) + cfg.seeds) * len(cfg.reft_evals)
    table = sa.table1(cfg, frame)
    assert list(table.index) == sa.ORDER
    assert table.loc["F+R (η_M)", "ours @0"] == "6 (6–6)" and table.loc["F+R (η_M)", "paper @0"] == 12
    assert table.loc["F (η_S)", "seeds"] == 1 and table.loc["F (η_S)", "ours @0"] == "90"
    facts = sa.reft_facts(cfg, frame)
    assert facts["deleted_FR_seeds"] == [0.0625] * cfg.seeds and facts["deleted_F"] == 0.5
    assert facts["fr_minus_others_seeds"] == [0.0625 - 0.25] * cfg.seeds
    assert facts["revived_min_seeds"] == [1.0] * cfg.seeds
    assert facts["mid_step"] == cfg.reft_evals[1] and facts["control_gap_seeds"] == [1.0] * cfg.seeds
    assert facts["control_loss_gap_seeds"] == pytest.approx([0.5 - 0.01 * s for s in range(cfg.seeds)])
    assert facts["eta_s_deleted_max"] == 0.9


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
    facts = sa.probe_facts(probes, ["F deleted, seed 0", "F deleted, seed 1"])
    assert facts["probe_drop_seeds"] == [0.0, 0.0]  # the same model: nothing lost


def test_stories_claims_follow_the_gate():
    from ftscope.book import Chapter
    from ftscope.jain import claims

    cfg = ts.StoriesConfig.from_preset("laptop")
    frame = sa.reft_frame(cfg, _states(cfg, lambda r, s: (0.0 if s == 0 and r.protocol != "control" else 1.0,
                                                          0.5 if r.protocol != "control" else 0.6)))
    reft = sa.reft_facts(cfg, frame)
    probe = {"probe_base": 0.9, "probe_chance": 0.6, "probe_drop_seeds": [0.01] * cfg.seeds}
    for asked, verdicts in ((1.0, "reproduced"), (0.5, "inconclusive")):
        ch = Chapter("05_tinystories_wrappers", ts.StoriesConfig, preset="laptop", device="cpu", seed=0, overrides={})
        follow = {"base_twist_asked": asked, "base_twist_not": 0.0, "twist_rate": 0.35}
        claims.stories_claims(ch, follow, reft, probe)
        got = {c.id: c.verdict for c in ch.claims}
        assert got["stories_base_selective"] == "reproduced"
        assert got["stories_fr_deletes_most"] == verdicts and got["stories_probe_kept"] == verdicts
        # the control revives as fast as reFT here (share 1.0 at every step after 0): not slower
        assert got["stories_control_slower"] == ("not reproduced" if asked == 1.0 else "inconclusive")
        assert len(got) == 10
    assert np.isfinite(reft["control_loss_end"])
