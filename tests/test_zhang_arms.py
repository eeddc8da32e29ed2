"""Chapter 07's arms and real abstracts: the arms reuse chapter 06's cells, each arm's data is what it says,
the rule-made variant changes only numbers, and the claims read the right levels."""

import re

import numpy as np
import pandas as pd
import pytest

from ftscope.book import Chapter
from ftscope.config import ConfigError
from ftscope.zhang import arms as A
from ftscope.zhang import claims as C
from ftscope.zhang import decompose as D
from ftscope.zhang import realtext as R
from ftscope.zhang import setting as S
from ftscope.zhang import world as W


@pytest.mark.parametrize("preset", ["smoke", "laptop", "paper"])
def test_the_arms_base_config_is_chapter_06s(preset):
    # the same config means the same cache keys: chapter 07 reads chapter 06's base and runs
    assert A.ArmsConfig.from_preset(preset).base_config() == S.ZhangConfig.from_preset(preset)


def test_arms_config_names_what_is_wrong():
    with pytest.raises(ConfigError, match="lora_grid_rank"):
        A.ArmsConfig.from_preset("smoke", lora_grid_rank=3)
    with pytest.raises(ConfigError, match="ft_docs"):
        A.ArmsConfig.from_preset("smoke", sizes=(16, 32))
    with pytest.raises(ConfigError, match="mixes"):
        A.ArmsConfig.from_preset("smoke", mixes=(0.5,))
    with pytest.raises(ConfigError, match="sweep_probes"):
        A.ArmsConfig.from_preset("smoke", sweep_probes=10_000)


def test_independence_sets_change_only_the_topic_or_the_style():
    world = W.World(W.WorldParams(entities=20, objects=6, lexicon=12))
    default = world.finetuning_skeletons(30, seed=0)
    assert default == world.finetuning_skeletons(30, seed=0, topic="bio", style="academic")
    web = world.finetuning_skeletons(30, seed=0, topic="bio", style="web")
    general = world.finetuning_skeletons(30, seed=0, topic="general", style="academic")
    assert {s.topic for s in web} == {"bio"} and {s.style for s in web} == {"web"}
    assert {s.topic for s in general} == set(W.GENERAL) and {s.style for s in general} == {"academic"}
    with pytest.raises(ValueError, match="topic"):
        world.finetuning_skeletons(3, seed=0, topic="cities")


def test_replay_takes_the_place_of_bio_documents_at_the_same_count():
    setting = S.load_setting(S.ZhangConfig.from_preset("smoke"), seed=0)
    n = len(setting.finetune)
    mixed = A.mixed_docs(setting, 0.3, n, seed=0)
    k = round(0.3 * n)
    assert len(mixed) == n  # as many documents, so as many steps, as without replay
    assert [tuple(d) for d in mixed[:n - k]] == [tuple(d) for d in setting.finetune[:n - k]]
    pretrain = {tuple(d) for d in setting.pretrain}
    assert all(tuple(d) in pretrain for d in mixed[n - k:])
    assert [tuple(d) for d in mixed] == [tuple(d) for d in A.mixed_docs(setting, 0.3, n, seed=0)]
    assert len(A.mixed_docs(setting, 0.0, n, seed=0)) == n


def test_the_lora_grid_is_extended_past_an_edge_and_stops_where_the_cache_ends():
    cfg = A.ArmsConfig.from_preset("smoke")
    setting = S.load_setting(cfg.base_config(), seed=0)

    def rate(cell):
        return float(re.match(r"zhang-lora-(.+)-s0-r\d+$", cell.name).group(1))

    falling = lambda c: 2.0 - rate(c)  # noqa: E731  the highest rate always best: extended grid_extra times
    cells, losses, complete = A.lora_grid(cfg, setting, 1e-3, 0, val=falling)
    assert complete and len(losses) == len(cfg.lora_lr_factors) + cfg.grid_extra
    assert max(losses) > max(A.lora_rates(cfg, 1e-3)) and not S.bracketed(losses)
    valley = lambda c: abs(np.log(rate(c) / 1e-2))  # noqa: E731  best at the middle rate: no extension
    cells, losses, complete = A.lora_grid(cfg, setting, 1e-3, 0, val=valley)
    assert complete and sorted(losses) == sorted(A.lora_rates(cfg, 1e-3)) and S.bracketed(losses)
    cells, losses, complete = A.lora_grid(cfg, setting, 1e-3, 0, val=lambda c: None)  # nothing cached yet
    assert not complete and not losses and len(cells) == len(cfg.lora_lr_factors)


def test_grid_table_marks_the_edges_and_the_added_rates():
    table = A.grid_table({1e-4: 1.6, 3e-4: 1.5, 1e-3: 1.4, 3e-3: 1.45}, 1e-3, (1e-4, 3e-4, 1e-3))
    assert table.index.tolist() == [1e-4, 3e-4, 1e-3, 3e-3]
    assert table["edge"].tolist() == [True, False, False, True]
    assert table["chosen"].tolist() == [False, False, True, False]
    assert table["grid"].tolist()[-1] == "added past the edge" and table["grid"].tolist()[0] == "declared"


def test_a_capacity_run_is_its_own_cell_and_epoch_fall_reads_its_last_epoch():
    cfg = A.ArmsConfig.from_preset("smoke")
    setting = S.load_setting(cfg.base_config(), seed=0)
    base = S.pretrain_cell(cfg.base_config(), setting, 0)
    full = A.run_cell(cfg, setting, base, setting.finetune, "capacity", 1e-3, 0, 0, epochs=2)
    lora = A.run_cell(cfg, setting, base, setting.finetune, "capacity", 1e-3, 0, 0, rank=1, epochs=2)
    assert full.spec["steps"] == 2 * cfg.ft_steps and full.spec_key() != lora.spec_key()
    assert lora.name.endswith("-e2-r1")
    assert A.epoch_fall({"val_epochs": {4: 2.0, 8: 1.99}}) == pytest.approx(0.005)
    assert A.epoch_fall({"val_epochs": {4: 2.0, 8: 2.1}}) < 0  # it rose: the run has stopped improving
    assert np.isnan(A.epoch_fall({"val_epochs": {4: 2.0}}))
    with pytest.raises(ConfigError, match="capacity_epochs"):
        A.ArmsConfig.from_preset("smoke", capacity_epochs=1)
    with pytest.raises(ConfigError, match="lora_lr_factors"):
        A.ArmsConfig.from_preset("smoke", lora_lr_factors=(1.0, 10.0))


def test_a_run_on_its_own_documents_needs_a_tag():
    cfg = S.ZhangConfig.from_preset("smoke")
    setting = S.load_setting(cfg, seed=0)
    base = S.pretrain_cell(cfg, setting, 0)
    with pytest.raises(ValueError, match="tag"):
        S.finetune_cell(cfg, setting, base, 1e-3, 0, 0, docs=setting.finetune[:4])
    plain = S.finetune_cell(cfg, setting, base, 1e-3, 0, 0)
    lora = S.finetune_cell(cfg, setting, base, 1e-3, 0, 0, docs=setting.finetune, tag="lora", rank=2)
    assert lora.name.endswith("-r2") and lora.spec_key() != plain.spec_key()


def test_swap_numbers_changes_every_number_and_nothing_else():
    text = "Of 120 patients, 7 (5.8%) relapsed within 3 years (p = 0.04); see Fig 2."
    out = R.swap_numbers(text, np.random.default_rng(0))
    a, b = R.NUMBER.findall(text), R.NUMBER.findall(out)
    assert len(a) == len(b) and all(x != y and len(x) == len(y) for x, y in zip(a, b))
    assert R.NUMBER.sub("#", text) == R.NUMBER.sub("#", out)
    assert all(len(y) == 1 or y[0] != "0" for y in b)
    assert out == R.swap_numbers(text, np.random.default_rng(0))


def test_deciles_and_positions_are_the_profiles_pieces():
    base = [np.array([3.0, 2.0, 1.0, 1.0, 1.0]), np.array([2.0, 2.0])]
    ft = [np.array([1.0, 2.0, 1.0, 0.0, 1.0]), np.array([1.0, 2.0])]
    dec = D.deciles(base, ft)
    assert dec.sum() == pytest.approx(np.mean([3.0, 1.0]))  # per-document change, mean over documents
    pos = D.by_position(base, ft, 6)
    assert pos[:2].tolist() == [1.5, 0.0] and pos[3] == 1.0 and np.isnan(pos[5])


def test_plateau_is_the_last_tenths_relative_drop():
    log = {"rows": [{"loss": 3.0}] * 16 + [{"loss": 2.0}] * 2 + [{"loss": 1.0}] * 2}  # tenths of 2 rows
    assert R.plateau(log) == pytest.approx(0.5)


VARIANTS = ("orig", "nontopic", "counterfactual", "casual", "rap")


def _changes(total, topic, style, factual, rng, noise=0.02, n=60):
    """Per-document changes whose per-token components are (total, topic, style, factual), with noise per
    document (10 tokens each)."""
    r = {"orig": total, "nontopic": total - topic, "casual": total - style, "rap": total - style,
         "counterfactual": total - factual}
    count = {v: np.full(n, 10) for v in VARIANTS}
    delta = {}
    for v in VARIANTS:
        e = rng.normal(0, noise * 10, n)
        delta[v] = r[v] * 10 + e - e.mean()  # the noise sums to 0: the components are exact on all the probes
    return A.Changes(delta, count)


LEVELS = {  # (total, topic, style, factual) per (arm, level)
    ("capacity", 1): (0.6, 0.4, 0.12, 0.002), ("capacity", A.FULL): (1.0, 0.5, 0.4, 0.02),
    ("data", 100): (0.5, 0.3, 0.2, 0.002), ("data", 300): (0.9, 0.45, 0.35, 0.005),
    ("data", 1000): (1.0, 0.5, 0.4, 0.02),
    ("independence", A.PAIRS[0]): (1.0, 0.5, 0.4, 0.02), ("independence", A.PAIRS[1]): (0.7, 0.5, 0.05, 0.02),
    ("independence", A.PAIRS[2]): (0.3, -0.1, 0.2, 0.0),
    ("mixing", 0.0): (1.0, 0.5, 0.4, 0.02), ("mixing", 0.1): (0.9, 0.45, 0.38, 0.015),
    ("mixing", 0.3): (0.7, 0.4, 0.3, 0.01),
}


def _scores(levels=None, noise=0.01, fall=0.005, before=(0.48, 0.2)):
    rng = np.random.default_rng(0)
    rows = []
    for (arm, lv), comp in (levels or LEVELS).items():
        for s in range(3):
            ch = _changes(*comp, rng, noise)
            c = ch.components()
            big = arm == "data" and lv == 1000
            rows.append({"arm": arm, "level": lv, "seed": s, "steps": 10, **{k: c[k] for k in A.COMPONENTS},
                         **{f"{k} share": c[f"{k} share"] for k in ("topic", "style", "factual")},
                         "factual lo": c["factual"] / 2, "factual hi": c["factual"] * 1.5,
                         "novel fact at the object": 0.3, "C4 total": -0.1, "validation loss": 1.5,
                         "last epoch's fall": fall if arm == "capacity" else np.nan, "changes": ch,
                         "topic before": before[0] if big else np.nan, "style before": before[1] if big else np.nan,
                         "step before": 22 if big else np.nan})
    return pd.DataFrame(rows)


def _gate(mix=0.1, domain=0.01):
    from ftscope.zhang.analyses import MIX

    rows = {"bio × academic": domain, "bio × web": domain / 2, "general × academic": domain / 3, MIX: mix}
    return pd.DataFrame({"bound": 1.4, "loss": [1.4 + g for g in rows.values()], "gap": list(rows.values())},
                        index=pd.Index(list(rows), name="slice"))


def _arms(full=None, lora=None):
    full = full or {1e-4: 1.6, 3e-4: 1.5, 1e-3: 1.55}
    lora = lora or {3e-3: 1.6, 1e-2: 1.5, 3e-2: 1.7}
    return A.Arms([], lora, S.choose_lr(lora), (3e-3, 1e-2, 3e-2), full, S.choose_lr(full), (1e-4, 3e-4, 1e-3), {})


REAL = {"forget_seeds": [0.1, 0.2, 0.15], "learn": 0.5, "base_plateau": 0.01, "plateau_level": R.PLATEAU}


def _record(scores, gate=None, arms=None, plateaued=True):
    cfg = A.ArmsConfig.from_preset("laptop", bootstrap=200)
    ch = Chapter("07_capacity_and_data", A.ArmsConfig, preset="laptop", device="cpu", seed=0, overrides={})
    C.record_arms_claims(ch, gate=_gate() if gate is None else gate, arms=arms or _arms(), scores=scores, cfg=cfg,
                         real=REAL, plateaued=plateaued)
    return ch, {c.id: c.verdict for c in ch.claims}


def test_the_arms_claims_read_their_levels():
    ch, got = _record(_scores())
    assert {c.id for c in ch.claims if c.kind == "precondition"} == {
        "zhang_arms_base_converged", "zhang_arms_base_knows_domain", "zhang_arms_lr_bracketed",
        "zhang_arms_lora_lr_bracketed"}
    assert all(got[c.id] == "reproduced" for c in ch.claims if c.kind == "precondition")
    assert got["zhang_capacity_rank1_topic"] == "reproduced"  # 0.4 / 0.5
    assert got["zhang_capacity_rank1_style"] == "not reproduced"  # 0.12 / 0.4
    assert got["zhang_capacity_factual_grows"] == "reproduced"  # 0.02 against 0.002 / 0.6
    assert got["zhang_capacity_shares_reduce"] == "not reproduced"  # the topic share is higher at rank 1
    assert got["zhang_data_topic_saturates"] == "reproduced"  # 0.9, and it grew 4% over the last interval
    assert got["zhang_data_style_saturates"] == "inconclusive"  # 0.875, but still rising by 50%
    assert got["zhang_data_factual_rises"] == "reproduced"  # 0.005 / 0.02
    assert got["zhang_independence_topic"] == "reproduced"  # 1.0
    assert got["zhang_independence_style"] == "not reproduced"  # 0.5
    assert got["zhang_mixing_reduces"] == got["zhang_mixing_partial"] == "reproduced"  # 0.7 / 0.9
    assert got["zhang_mixing_facts_with_biases"] == "reproduced"  # 0.5 - 0.78
    assert got["zhang_real_forgetting"] == "reproduced"
    assert "zhang_real_start" not in got
    assert any("real abstracts" in s["reference"] for s in ch.not_attempted)
    world = [c for c in ch.claims if c.kind == "paper" and c.id != "zhang_real_forgetting"]
    assert all({"zhang_arms_base_converged", "zhang_arms_lr_bracketed"} <= set(c.needs) for c in world)


def test_the_arms_claims_are_inconclusive_without_their_preconditions():
    _, got = _record(_scores(), gate=_gate(mix=0.4))
    assert got["zhang_arms_base_converged"] == "not reproduced"
    assert {v for k, v in got.items() if not k.startswith(("zhang_arms", "zhang_real"))} == {"inconclusive"}
    assert got["zhang_real_forgetting"] == "reproduced"  # Part III's base: the world's gate does not apply
    _, got = _record(_scores(), arms=_arms(lora={3e-3: 1.6, 1e-2: 1.5, 3e-2: 1.4}))  # the best LoRA rate at the top
    assert got["zhang_arms_lora_lr_bracketed"] == "not reproduced"
    assert got["zhang_capacity_rank1_topic"] == "inconclusive" and got["zhang_independence_topic"] == "reproduced"
    _, got = _record(_scores(fall=0.03))  # the capacity runs had not converged
    assert {got[k] for k in got if k.startswith("zhang_capacity")} == {"inconclusive"}


def test_an_interval_that_holds_the_bound_or_no_factual_gain_makes_a_claim_inconclusive():
    levels = dict(LEVELS)
    levels[("mixing", 0.3)] = (1.0, 0.5, 0.4, 0.02)  # no reduction: the biases' ratio is 1
    levels[("capacity", 1)] = (0.6, 0.25, 0.2, 0.005)  # rank 1's topic ratio exactly 0.5
    levels[("capacity", A.FULL)] = (1.0, 0.5, 0.4, 0.0)  # no factual gain with all the weights
    ch, got = _record(_scores(levels, noise=0.05))
    assert got["zhang_mixing_reduces"] == "inconclusive"
    assert got["zhang_mixing_partial"] == "inconclusive"  # nothing reduced to call partial
    assert got["zhang_capacity_rank1_topic"] == "inconclusive"
    assert got["zhang_capacity_factual_grows"] == got["zhang_capacity_shares_reduce"] == "inconclusive"
    notes = {c.id: c.note for c in ch.claims}
    assert "95% interval" in notes["zhang_capacity_rank1_topic"]


def test_the_paired_interval_holds_the_value_and_narrows_with_less_noise():
    wide = _scores(noise=0.2)
    narrow = _scores(noise=0.01)
    for frame in (wide, narrow):
        values, cis = A.interval(frame, [("capacity", 1), ("capacity", A.FULL)], lambda a, b: a["topic"] / b["topic"],
                                 200)
        assert len(values) == len(cis) == 3
        assert all(lo <= v <= hi for v, (lo, hi) in zip(values, cis))
    width = [hi - lo for lo, hi in A.interval(wide, [("capacity", 1), ("capacity", A.FULL)],
                                              lambda a, b: a["topic"] / b["topic"], 200)[1]]
    thin = [hi - lo for lo, hi in A.interval(narrow, [("capacity", 1), ("capacity", A.FULL)],
                                             lambda a, b: a["topic"] / b["topic"], 200)[1]]
    assert max(thin) < min(width)
    with pytest.raises(ValueError, match="seeds"):
        A.interval(wide[~((wide.arm == "capacity") & (wide.seed == 2) & (wide.level == 1))],
                   [("capacity", 1), ("capacity", A.FULL)], lambda a, b: 0.0, 10)


def test_changes_give_the_decomposition_per_token():
    ch = _changes(1.0, 0.5, 0.4, 0.02, np.random.default_rng(0))
    c = ch.components()
    assert c["total"] == pytest.approx(1.0) and c["topic"] == pytest.approx(0.5)
    assert c["style"] == pytest.approx(0.4) and c["factual"] == pytest.approx(0.02)
    assert c["topic share"] == pytest.approx(0.5)
    base = D.Scores({"orig": [np.array([2.0, 1.0]), np.array([1.0])]})
    ft = D.Scores({"orig": [np.array([1.0, 1.0]), np.array([0.5])]})
    got = A.Changes.of(base, ft)
    assert got.delta["orig"].tolist() == [1.0, 0.5] and got.count["orig"].tolist() == [2, 1]
