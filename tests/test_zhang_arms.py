"""Chapter 07's arms and real abstracts: the arms reuse chapter 06's cells, each arm's data is what it says,
the rule-made variant changes only numbers, and the claims read the right levels."""

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


def test_replay_is_the_stated_fraction_of_the_mixed_set_and_keeps_every_fine_tuning_document():
    setting = S.load_setting(S.ZhangConfig.from_preset("smoke"), seed=0)
    mixed = A.mixed_docs(setting, 0.3, len(setting.finetune), seed=0)
    n = len(setting.finetune)
    assert mixed[:n] == setting.finetune
    assert (len(mixed) - n) / len(mixed) == pytest.approx(0.3, abs=0.01)
    pretrain = {tuple(d) for d in setting.pretrain}
    assert all(tuple(d) in pretrain for d in mixed[n:])
    assert [tuple(d) for d in mixed] == [tuple(d) for d in A.mixed_docs(setting, 0.3, n, seed=0)]


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


def _frame(topic_r1=0.8, style_r1=0.9):
    rows = []
    levels = {"capacity": [1, 8, A.FULL], "data": [100, 300, 1000], "independence": list(A.PAIRS),
              "mixing": [0.0, 0.1, 0.3]}
    for arm, lvls in levels.items():
        for lv in lvls:
            for s in range(3):
                row = {"arm": arm, "level": lv, "seed": s, "steps": 10, "total": 1.0, "topic": 0.5, "style": 0.4,
                       "factual": 0.02, "topic share": 0.5, "style share": 0.4, "factual share": 0.02,
                       "factual lo": 0.01, "factual hi": 0.03, "novel fact at the object": 0.3, "C4 total": -0.1}
                if arm == "capacity" and lv == 1:
                    row.update(topic=0.5 * topic_r1, style=0.4 * style_r1, **{"factual share": 0.01})
                if arm == "data" and lv == 300:
                    row.update(factual=0.005)
                if arm == "mixing" and lv == 0.3:
                    row.update(topic=0.4, style=0.3)
                rows.append(row)
    return pd.DataFrame(rows)


def test_the_arms_claims_read_their_levels(tmp_path):
    cfg = A.ArmsConfig.from_preset("laptop")
    ch = Chapter("07_capacity_and_data", A.ArmsConfig, preset="laptop", device="cpu", seed=0, overrides={})
    real = {"start_seeds": [0.3, 0.35, 0.32], "forget_seeds": [0.1, 0.2, 0.15], "n_ctx": 128, "first_token": 1.0,
            "later_tokens": 0.2, "learn": 0.5, "base_plateau": 0.01, "plateau_level": R.PLATEAU}
    C.record_arms_claims(ch, converged=True, gap=0.1, scores=_frame(topic_r1=0.8, style_r1=0.3), cfg=cfg, real=real,
                         plateaued=True)
    got = {c.id: c.verdict for c in ch.claims}
    assert got["zhang_capacity_rank1_topic"] == "reproduced"
    assert got["zhang_capacity_rank1_style"] == "not reproduced"
    assert got["zhang_capacity_factual_grows"] == "reproduced"
    assert got["zhang_data_topic_saturates"] == "reproduced"
    assert got["zhang_data_factual_rises"] == "reproduced"  # 0.005 / 0.02 = 0.25
    assert got["zhang_independence_topic"] == got["zhang_independence_style"] == "reproduced"
    assert got["zhang_mixing_partial"] == "reproduced"  # 0.7 / 0.9
    assert got["zhang_real_start"] == "not reproduced"
    assert got["zhang_real_forgetting"] == "reproduced"


def test_the_arms_claims_are_inconclusive_without_a_converged_base_or_a_factual_change():
    cfg = A.ArmsConfig.from_preset("laptop")
    ch = Chapter("07_capacity_and_data", A.ArmsConfig, preset="laptop", device="cpu", seed=0, overrides={})
    frame = _frame()
    frame.loc[(frame.arm == "capacity") & (frame.level.astype(str) == A.FULL) & (frame.seed == 1), "factual lo"] = -0.01
    real = {"start_seeds": [0.6] * 3, "forget_seeds": [0.1] * 3, "n_ctx": 128, "first_token": 1.0,
            "later_tokens": 0.2, "learn": 0.5, "base_plateau": 0.05, "plateau_level": R.PLATEAU}
    C.record_arms_claims(ch, converged=True, gap=0.1, scores=frame, cfg=cfg, real=real, plateaued=False)
    got = {c.id: c.verdict for c in ch.claims}
    assert got["zhang_capacity_factual_grows"] == "inconclusive"
    assert got["zhang_capacity_rank1_topic"] == "reproduced"
    assert got["zhang_real_start"] == got["zhang_real_forgetting"] == "inconclusive"
    ch2 = Chapter("07_capacity_and_data", A.ArmsConfig, preset="laptop", device="cpu", seed=0, overrides={})
    C.record_arms_claims(ch2, converged=False, gap=0.4, scores=frame, cfg=cfg, real=real, plateaued=True)
    assert {c.verdict for c in ch2.claims if not c.id.startswith("zhang_real")} == {"inconclusive"}
