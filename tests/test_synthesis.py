"""Chapter 10's pieces on small data the tests make: the Twist-feature rule, the SAE lens's floor and
resolution, the merge path's reading and flip points, the settings' checks and the claims' kinds and gates."""

import numpy as np
import pandas as pd
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.synthesis import claims, features, merging
from ftscope.synthesis.setting import LensesConfig


def _shared(n_stories: int, length: int, body_from: int) -> features.Shared:
    rows = torch.ones(n_stories, length, dtype=torch.long)
    pos = torch.arange(length)[None].expand(n_stories, -1)
    twist = np.arange(n_stories) % 2 == 0
    in_twist = ((pos == length - 1) & torch.as_tensor(twist)[:, None]).flatten()
    return features.Shared(rows, torch.ones(n_stories * length, dtype=torch.bool), (pos >= body_from).flatten(),
                           torch.arange(n_stories)[:, None].expand(-1, length).flatten(), twist, in_twist)


def test_twist_sentences_are_where_the_detector_finds_the_twist():
    text = "Features: Twist\nWords: a, b, c\nSummary: x.\nStory: Tom ran. To everyone's surprise, it was a cat. The end."
    [(lo, hi)] = features.twist_sentences(text)
    assert text[lo:hi] == " To everyone's surprise, it was a cat."  # the space begins its first token
    assert features.twist_sentences(text.replace("To everyone's surprise, it", "It")) == []


def test_twist_features_are_read_off_the_top_stories_bodies():
    shared = _shared(20, 6, body_from=3)
    n = 20 * 6
    acts = torch.zeros(n, 4)
    story = shared.story
    is_twist = torch.as_tensor(shared.twist)[story]
    acts[:, 0] = torch.where(is_twist & shared.body, 2.0, 0.0)  # twist stories' bodies only: a Twist feature
    acts[:, 1] = 1.0 + 0.01 * story.float()  # everywhere: its top stories are half twist
    acts[:, 2] = torch.where(is_twist & ~shared.body, 5.0, 0.0)  # twist stories' headers only: not read
    acts[:, 3] = torch.where(is_twist & shared.body & (story < 4), 1.0, 0.0)  # fires in too few stories
    share = features.top_story_share(acts, shared, k=5)
    assert share[0] == 1.0 and share[1] < features.TWIST_SHARE and np.isnan(share[2]) and np.isnan(share[3])
    alive = torch.tensor([True, True, True, True])
    assert features.twist_features(acts, alive, shared, k=5).tolist() == [0]
    assert features.twist_features(acts, torch.tensor([False, True, True, True]), shared, k=5).tolist() == []
    acts[:, 0] = torch.where(shared.in_twist, 3.0, 0.0)  # only in the twist sentence: an event feature
    acts[:, 1] = torch.where(is_twist & shared.body & ~shared.in_twist, 1.0, 0.0)  # before the twist only
    sel = features.twist_selectivity(acts, shared, torch.tensor([0, 1]))
    assert sel[0] >= features.EVENT_SELECTIVITY and sel[1] < 1


def test_lens_rows_follow_the_base_twist_features():
    shared = _shared(4, 3, body_from=0)
    alive = {features.BASE: torch.tensor([True, False, True]), "child": torch.tensor([True, True])}
    twist = {features.BASE: torch.tensor([2]), "child": torch.tensor([1])}
    corr = {"child": torch.tensor([[0.9, 0.1], [0.2, 0.85]])}  # base alive rows: features 0 and 2
    selectivity = {features.BASE: torch.tensor([30.0]), "child": torch.tensor([0.5])}
    lens = features.Lens(shared, {}, alive, twist, corr, threshold=0.8, selectivity=selectivity)
    assert lens.kinds()["event"].tolist() == [2] and lens.kinds("child")["instruction"].tolist() == [1]
    row = lens.row("child")
    assert row["persist (all base features)"] == 1.0
    assert row["persist (base Twist features)"] == 1.0 and row["mean best r (base Twist features)"] == pytest.approx(0.85)
    assert row["reused (own Twist features)"] == 1.0 and row["from a base Twist feature (own Twist features)"] == 1.0
    assert row["persist (base event features)"] == 1.0 and np.isnan(row["persist (base instruction features)"])
    lens.corr["child"] = torch.tensor([[0.9, 0.1], [0.2, 0.5]])
    row = lens.row("child")
    assert row["persist (base Twist features)"] == 0.0 and row["persist (all base features)"] == 0.5
    assert row["reused (own Twist features)"] == 0.0


def test_merge_reading_finds_where_the_capability_is_back_and_what_the_task_keeps():
    path = pd.DataFrame({"seed": 0, "t": [0.0, 0.25, 0.5, 0.75, 1.0], "twist": [0.9, 0.9, 0.8, 0.3, 0.0],
                         "twist_loss": 0.5, "task_loss": [2.0, 1.8, 1.5, 1.2, 1.0]})
    back = merging.back_at(path).loc[0]
    assert back.t_back == 0.5 and back.kept_at_t_back == pytest.approx(0.5) and back.twist_at_half == 0.8
    curve = pd.DataFrame({"seed": 0, "step": [0, 3, 10], "twist": [0.0, 0.8, 0.9], "twist_loss": 1.0})
    assert merging.reft_back(curve).loc[0] == 3
    deletion = pd.DataFrame({"seed": 0, "step": [0, 1, 3, 10], "twist": [0.9, 0.9, 0.6, 0.0]})
    facts = merging.merge_facts(path, curve, merging.flip_table(path, deletion, 10))
    assert facts["task_gain_min"] == pytest.approx(1.0) and facts["kept_half"] == pytest.approx(0.5)
    assert facts["base_twist_seeds"] == [0.9] and facts["flip_undecided"] == ""


def test_crossing_interpolates_the_first_fall_to_the_level():
    t_star, spacing, crosses = merging.crossing([0.0, 0.5, 1.0], [0.9, 0.8, 0.2], 0.75)
    assert crosses and spacing == 0.5 and t_star == pytest.approx(0.5 + 0.5 * 0.05 / 0.6)
    assert merging.crossing([0, 1, 3], [0.9, 0.75, 0.0], 0.75) == (1.0, 1.0, True)  # at the level is at it
    assert merging.crossing([0, 1, 3], [0.7, 0.9, 0.0], 0.75) == (0.0, 1.0, True)  # below from the start
    assert merging.crossing([0, 1, 3], [0.9, 0.9, 0.8], 0.75) == (3.0, 2.0, False)  # never


def test_flip_points_compare_the_merge_weight_with_the_deletion_share():
    path = pd.DataFrame({"seed": [0] * 4 + [1] * 4, "t": [0.0, 0.1, 0.5, 1.0] * 2,
                         "twist": [0.9, 0.6, 0.1, 0.0, 0.9, 0.9, 0.8, 0.8]})
    deletion = pd.DataFrame({"seed": [0] * 4 + [1] * 2, "step": [0, 1, 3, 10, 0, 10],
                             "twist": [0.9, 0.9, 0.6, 0.0, 0.9, 0.8]})
    flips = merging.flip_table(path, deletion, ft_steps=10)
    s0 = flips.loc[0]
    assert s0.t_star == pytest.approx(0.05) and s0.t_spacing == pytest.approx(0.1)
    assert s0.k_star == pytest.approx(2.0) and s0.k_frac == pytest.approx(0.2) and s0.curve_points == 2
    assert s0.gap_in_spacings == pytest.approx(1.5)
    assert not flips.loc[1].t_crosses and not flips.loc[1].k_crosses and flips.loc[1].curve_points == 0
    why = merging.flip_undecided(flips)
    assert "no evaluation between" in why and "merge path of seed(s) 1" in why and "deletion curve of seed(s) 1" in why
    assert merging.flip_undecided(flips.loc[[0]]) == ""


def _lens_table(floor_twist=(0.3, 0.5), ceiling=0.9, deleted=(0.8, 0.85), moved=(-0.3, -0.25),
                reuse=(0.9, 0.8), ctl_ft_reuse=0.4):
    rows = {features.CONTROL: (ceiling, 0.9, 1.0, 4), features.NOT_IN_PT: (floor_twist[0], 0.5, 0.5, 2),
            features.RANDOM: (floor_twist[1], 0.2, 0.1, 0), "ctl-ft": (0.5, 0.6, ctl_ft_reuse, 3)}
    for i, (d, m) in enumerate(zip(deleted, moved)):
        rows[f"del{i}"] = (d, 0.9 + m, 0.9, 3)
    for i, r in enumerate(reuse):
        rows[f"rev{i}"] = (0.8, 0.6, r, 5)
    return pd.DataFrame(rows, index=[features.TWIST_P, features.ALL_P, features.OWN_R, "Twist features"]).T


def test_floor_is_the_larger_share_kept_by_models_without_the_capability():
    f = features.floor_facts(_lens_table(), ["del0", "del1"], ["rev0", "rev1"], "ctl-ft")
    assert f["floor_persist_twist"] == 0.5 and f["floor_model"] == features.RANDOM
    assert f["ceiling_persist_twist"] == 0.9 and f["resolution"] == pytest.approx(0.4)
    assert f["persist_over_floor_seeds"] == [pytest.approx(0.3), pytest.approx(0.35)]
    assert f["moved_all_seeds"] == [pytest.approx(-0.3), pytest.approx(-0.25)]
    assert f["floor_reuse_twist"] == 0.4 and f["reuse_resolution"] == pytest.approx(0.6)
    assert f["reuse_over_floor_seeds"] == [pytest.approx(0.5), pytest.approx(0.4)]
    assert f["moved_all_revived_seeds"] == [pytest.approx(-0.3)] * 2 and f["n_twist_control_ft"] == 3


def test_sae_lens_is_undecided_without_resolution_or_movement():
    assert claims.sae_undecided(0.4, [-0.3, 0.0], "deletion") == ""
    assert "cannot tell present from absent" in claims.sae_undecided(0.39, [-0.3], "deletion")
    why = claims.sae_undecided(0.5, [-0.01, 0.19], "deletion")
    assert "barely moved" in why and "present from absent" not in why


@pytest.mark.parametrize("bad", [dict(merge_ts=(0.0, 0.4, 1.0)), dict(merge_ts=(0.5, 1.0)),
                                 dict(shared_stories=10, top_stories=8), dict(sae_tokens=10, sae_batch_tokens=64)])
def test_settings_are_checked(bad):
    with pytest.raises(ConfigError):
        LensesConfig.from_preset("smoke", **bad)


def _facts(base_twist: float, resolution: float = 0.5, moved: float = -0.3, flips=(0.5, 2.0, 0.2),
           flip_undecided: str = "", n_twist_base: int = 5):
    sae = {"n_twist_base": n_twist_base, "n_alive_base": 100, "persist_over_floor_seeds": [0.3, 0.25, 0.1],
           "persist_twist": 0.8, "persist_all": 0.6, "control_persist_all": 0.9, "floor_persist_twist": 0.4,
           "not_in_pt_persist_twist": 0.4, "random_persist_twist": 0.1, "ceiling_persist_twist": 0.4 + resolution,
           "resolution": resolution, "moved_all_seeds": [moved, moved, 0.0],
           "reuse_over_floor_seeds": [0.3, 0.5, float("nan")], "n_twist_revived_seeds": [3, 4, 0],
           "n_twist_control_ft": 2, "reused_twist": 0.8, "floor_reuse_twist": 0.4, "ceiling_reuse_twist": 0.9,
           "reuse_resolution": 0.5, "moved_all_revived_seeds": [moved] * 3}
    merge = {"base_twist_seeds": [base_twist] * 3, "flip_seeds": list(flips), "t_star_seeds": [0.1, 0.2, 0.3],
             "k_frac_seeds": [0.2, 0.5, 0.3], "flip_undecided": flip_undecided}
    return dict(sae=sae, merge=merge)


def _record(**kw):
    from ftscope.book.chapter import Chapter

    ch = Chapter.__new__(Chapter)
    ch.name, ch.claims = "10_three_lenses", []
    ch.glue = lambda name, value, display=False: value
    claims.record_claims(ch, **_facts(**kw))
    return {c.id: c for c in ch.claims}


def test_claims_are_hypotheses_under_two_preconditions():
    got = _record(base_twist=0.9)
    assert [c.kind for c in got.values()].count("precondition") == 2
    assert list(got)[:2] == ["lens_base_follows", "lens_base_has_twist_features"]
    assert {got[k].kind for k in got if k not in ("lens_base_follows", "lens_base_has_twist_features")} == {
        "hypothesis"}
    assert set(got) == {"lens_base_follows", "lens_base_has_twist_features", "lens_sae_twist_persist",
                        "lens_sae_reft_reuses", "lens_merge_flip_tracks_deletion"}
    assert got["lens_sae_twist_persist"].verdict == "reproduced" and got["lens_sae_twist_persist"].fragile
    assert got["lens_sae_reft_reuses"].verdict == "inconclusive"  # a revived model without Twist features
    assert got["lens_merge_flip_tracks_deletion"].seeds_meeting == 2
    assert got["lens_merge_flip_tracks_deletion"].needs == ["lens_base_follows"]
    assert all(c.basis for c in got.values())


def test_claims_are_inconclusive_where_the_lens_cannot_decide():
    got = _record(base_twist=0.5)  # the base lacks the capability
    assert got["lens_base_follows"].verdict == "not reproduced"
    assert {got[k].verdict for k in got if k.startswith(("lens_sae", "lens_merge"))} == {"inconclusive"}
    got = _record(base_twist=0.9, resolution=0.3)
    assert got["lens_sae_twist_persist"].verdict == "inconclusive"
    assert "present from absent" in got["lens_sae_twist_persist"].note
    got = _record(base_twist=0.9, moved=-0.1)
    assert got["lens_sae_twist_persist"].verdict == "inconclusive" and "barely moved" in got[
        "lens_sae_twist_persist"].note
    got = _record(base_twist=0.9, flip_undecided="the merge path of seed(s) 1 never falls to 0.75")
    assert got["lens_merge_flip_tracks_deletion"].verdict == "inconclusive"
    got = _record(base_twist=0.9, n_twist_base=0)
    assert got["lens_base_has_twist_features"].verdict == "not reproduced"
    assert got["lens_sae_twist_persist"].verdict == "inconclusive"
    assert got["lens_merge_flip_tracks_deletion"].verdict != "inconclusive"  # it does not need SAE features
