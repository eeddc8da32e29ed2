"""Chapter 10's pieces on small data the tests make: the Twist-feature rule, the SAE lens's floor and
resolution, the merge path's reading and flip points, the settings' checks and the claims' kinds and gates."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from ftscope.book import findings
from ftscope.config import ConfigError
from ftscope.synthesis import analyses, claims
from ftscope.synthesis.settings import BASE, CONTROL, NOT_IN_PT, RANDOM, LensesConfig


def _shared(n_stories: int, length: int, body_from: int) -> analyses.Shared:
    rows = torch.ones(n_stories, length, dtype=torch.long)
    pos = torch.arange(length)[None].expand(n_stories, -1)
    twist = np.arange(n_stories) % 2 == 0
    in_twist = ((pos == length - 1) & torch.as_tensor(twist)[:, None]).flatten()
    return analyses.Shared(rows, torch.ones(n_stories * length, dtype=torch.bool), (pos >= body_from).flatten(),
                           torch.arange(n_stories)[:, None].expand(-1, length).flatten(), twist, in_twist)


def test_twist_sentences_are_where_the_detector_finds_the_twist():
    text = "Features: Twist\nWords: a, b, c\nSummary: x.\nStory: Tom ran. To everyone's surprise, it was a cat. The end."
    [(lo, hi)] = analyses.twist_sentences(text)
    assert text[lo:hi] == " To everyone's surprise, it was a cat."  # the space begins its first token
    assert analyses.twist_sentences(text.replace("To everyone's surprise, it", "It")) == []


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
    share = analyses.top_story_share(acts, shared, k=5)
    assert share[0] == 1.0 and share[1] < analyses.TWIST_SHARE and np.isnan(share[2]) and np.isnan(share[3])
    alive = torch.tensor([True, True, True, True])
    assert analyses.twist_features(acts, alive, shared, k=5).tolist() == [0]
    assert analyses.twist_features(acts, torch.tensor([False, True, True, True]), shared, k=5).tolist() == []
    acts[:, 0] = torch.where(shared.in_twist, 3.0, 0.0)  # only in the twist sentence: an event feature
    acts[:, 1] = torch.where(is_twist & shared.body & ~shared.in_twist, 1.0, 0.0)  # before the twist only
    sel = analyses.twist_selectivity(acts, shared, torch.tensor([0, 1]))
    assert sel[0] >= analyses.EVENT_SELECTIVITY and sel[1] < 1


def test_lens_rows_follow_the_base_twist_features():
    shared = _shared(4, 3, body_from=0)
    alive = {BASE: torch.tensor([True, False, True]), "child": torch.tensor([True, True])}
    twist = {BASE: torch.tensor([2]), "child": torch.tensor([1])}
    corr = {"child": torch.tensor([[0.9, 0.1], [0.2, 0.85]])}  # base alive rows: features 0 and 2
    selectivity = {BASE: torch.tensor([30.0]), "child": torch.tensor([0.5])}
    lens = analyses.Lens(shared, {}, alive, twist, corr, threshold=0.8, selectivity=selectivity)
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
    back = analyses.back_at(path).loc[0]
    assert back.t_back == 0.5 and back.kept_at_t_back == pytest.approx(0.5) and back.twist_at_half == 0.8
    curve = pd.DataFrame({"seed": 0, "step": [0, 3, 10], "twist": [0.0, 0.8, 0.9], "twist_loss": 1.0})
    assert analyses.reft_back(curve).loc[0] == 3
    deletion = pd.DataFrame({"seed": 0, "step": [0, 1, 3, 10], "twist": [0.9, 0.9, 0.6, 0.0]})
    got = analyses.merge_findings(path, curve, analyses.flip_table(path, deletion, 10))
    assert got.task_gain.lo == pytest.approx(1.0) and got.kept_half.mean == pytest.approx(0.5)
    assert list(got.base_twist) == [0.9] and got.flip_undecided == ""
    glued = got.glued()
    assert set(glued) == analyses.MergeFindings.glue_names()
    assert glued["task_gain_min"] == pytest.approx(1.0) and glued["reft_back_max"] == 3


def test_crossing_interpolates_the_first_fall_to_the_level():
    t_star, spacing, crosses = analyses.crossing([0.0, 0.5, 1.0], [0.9, 0.8, 0.2], 0.75)
    assert crosses and spacing == 0.5 and t_star == pytest.approx(0.5 + 0.5 * 0.05 / 0.6)
    assert analyses.crossing([0, 1, 3], [0.9, 0.75, 0.0], 0.75) == (1.0, 1.0, True)  # at the level is at it
    assert analyses.crossing([0, 1, 3], [0.7, 0.9, 0.0], 0.75) == (0.0, 1.0, True)  # below from the start
    assert analyses.crossing([0, 1, 3], [0.9, 0.9, 0.8], 0.75) == (3.0, 2.0, False)  # never


def test_flip_points_compare_the_merge_weight_with_the_deletion_share():
    path = pd.DataFrame({"seed": [0] * 4 + [1] * 4, "t": [0.0, 0.1, 0.5, 1.0] * 2,
                         "twist": [0.9, 0.6, 0.1, 0.0, 0.9, 0.9, 0.8, 0.8]})
    deletion = pd.DataFrame({"seed": [0] * 4 + [1] * 2, "step": [0, 1, 3, 10, 0, 10],
                             "twist": [0.9, 0.9, 0.6, 0.0, 0.9, 0.8]})
    flips = analyses.flip_table(path, deletion, ft_steps=10)
    s0 = flips.loc[0]
    assert s0.t_star == pytest.approx(0.05) and s0.t_spacing == pytest.approx(0.1)
    assert s0.k_star == pytest.approx(2.0) and s0.k_frac == pytest.approx(0.2) and s0.curve_points == 2
    assert s0.gap_in_spacings == pytest.approx(1.5)
    assert not flips.loc[1].t_crosses and not flips.loc[1].k_crosses and flips.loc[1].curve_points == 0
    why = analyses.flip_undecided(flips)
    assert "no evaluation between" in why and "merge path of seed(s) 1" in why and "deletion curve of seed(s) 1" in why
    assert analyses.flip_undecided(flips.loc[[0]]) == ""


def _lens_table(floor_twist=(0.3, 0.5), ceiling=0.9, deleted=(0.8, 0.85), moved=(-0.3, -0.25),
                reuse=(0.9, 0.8), ctl_ft_reuse=0.4):
    cols = [analyses.TWIST_P, analyses.ALL_P, analyses.OWN_R, "Twist features", analyses.EVENT_P,
            analyses.INSTRUCTION_P, analyses.ALL_R, analyses.FROM_BASE]
    rows = {CONTROL: (ceiling, 0.9, 1.0, 4, 1.0, 0.5, 0.7, 0.6), NOT_IN_PT: (floor_twist[0], 0.5, 0.5, 2, 0, 0, 0, 0),
            RANDOM: (floor_twist[1], 0.2, 0.1, 0, 0, 0, 0, 0), "ctl-ft": (0.5, 0.6, ctl_ft_reuse, 3, 0, 0, 0, 0),
            "also": (0.7, 0.8, 0.9, 2, 0, 0, 0, 0)}
    for i, (d, m) in enumerate(zip(deleted, moved)):
        rows[f"del{i}"] = (d, 0.9 + m, 0.9, 3, 0.9, np.nan, 0.5, 0.4)
    for i, r in enumerate(reuse):
        rows[f"rev{i}"] = (0.8, 0.6, r, 5, 0.8, 0.7, 0.5, 0.4)
    return pd.DataFrame(rows, index=cols).T


def _table_findings(**kw) -> analyses.LensFindings:
    return analyses.table_findings(_lens_table(**kw), ["del0", "del1"], ["rev0", "rev1"], "ctl-ft", "also",
                                   n_twist_base=5, n_alive_base=40, n_event=3, n_instruction=2)


def test_floor_is_the_larger_share_kept_by_models_without_the_capability():
    f = _table_findings()
    assert f.floor_persist_twist == 0.5 and f.floor_model == RANDOM
    assert f.ceiling_persist_twist == 0.9 and f.resolution == pytest.approx(0.4)
    assert list(f.persist_over_floor) == [pytest.approx(0.3), pytest.approx(0.35)]
    assert list(f.moved_all) == [pytest.approx(-0.3), pytest.approx(-0.25)]
    assert f.floor_reuse_twist == 0.4 and f.reuse_resolution == pytest.approx(0.6)
    assert list(f.reuse_over_floor) == [pytest.approx(0.5), pytest.approx(0.4)]
    assert list(f.moved_all_revived) == [pytest.approx(-0.3)] * 2 and f.n_twist_control_ft == 3
    assert f.persist_undecided == "" and f.persist_twist_f == 0.7 and np.isnan(f.persist_instruction.mean)
    assert "the claim below compares" in f.reuse_reading


def test_an_undefined_share_is_zero_and_the_claim_says_why():
    f = analyses.table_findings(_lens_table().assign(**{analyses.OWN_R: lambda t: t[analyses.OWN_R].where(
        t.index != "rev1")}), ["del0", "del1"], ["rev0", "rev1"], "ctl-ft", "also", n_twist_base=5,
        n_alive_base=40, n_event=3, n_instruction=2)
    assert list(f.reuse_over_floor) == [pytest.approx(0.5), 0.0]
    assert "undefined on seed(s) 1 (recorded as 0)" in f.reuse_undecided


def test_sae_lens_is_undecided_without_resolution_or_movement():
    assert analyses.sae_undecided(0.4, [-0.3, 0.0], "deletion") == ""
    assert "cannot tell present from absent" in analyses.sae_undecided(0.39, [-0.3], "deletion")
    why = analyses.sae_undecided(0.5, [-0.01, 0.19], "deletion")
    assert "barely moved" in why and "present from absent" not in why


@pytest.mark.parametrize("bad", [dict(merge_ts=(0.0, 0.4, 1.0)), dict(merge_ts=(0.5, 1.0)),
                                 dict(shared_stories=10, top_stories=8), dict(sae_tokens=10, sae_batch_tokens=64)])
def test_settings_are_checked(bad):
    with pytest.raises(ConfigError):
        LensesConfig.from_preset("smoke", **bad)


def _findings(base_twist: float, resolution: float = 0.5, moved: float = -0.3, flips=(0.5, 2.0, 0.2),
              flip_undecided: str = "", n_twist_base: int = 5):
    lens = _table_findings()
    persist_why = analyses.sae_undecided(resolution, [moved, moved, 0.0], "deletion")
    reuse_why = "a revived model's share of reused Twist features undefined on seed(s) 2 (recorded as 0)"
    lens = dataclasses.replace(lens, n_twist_base=n_twist_base, persist_over_floor=findings.seeds([0.3, 0.25, 0.1]),
                               resolution=resolution, persist_undecided=persist_why,
                               reuse_over_floor=findings.seeds([0.3, 0.5, 0.0]), reuse_undecided=reuse_why,
                               n_twist_revived=findings.seeds([3, 4, 0]), deletion_seeds=3)
    s = findings.seeds
    merge = analyses.MergeFindings(base_twist=s([base_twist] * 3), deleted_twist=s([0.1] * 3), twist_half=s([0.5] * 3),
                                   kept_half=s([0.6] * 3), t_back=s([0.2] * 3), kept_back=s([0.3] * 3),
                                   reft_back=s([3, 5, 4]), task_gain=s([1.0] * 3), t_star=s([0.1, 0.2, 0.3]),
                                   k_frac=s([0.2, 0.5, 0.3]), flip=s(flips), flip_undecided=flip_undecided)
    return lens, merge


def _record(**kw):
    from ftscope.book.chapter import Chapter

    ch = Chapter.__new__(Chapter)
    ch.name, ch.claims = "10_three_lenses", []
    ch.glue = lambda name, value, display=False: value
    findings.record(ch, claims.ROWS, *_findings(**kw))
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
