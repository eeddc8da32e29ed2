"""Chapter 10's pieces on small data the tests make: the story-world variants, the Twist-feature rule, the
decomposition's arithmetic, the merge path's reading, the settings' checks and the claims' gates."""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from ftscope.book.claims import make_claim
from ftscope.config import ConfigError
from ftscope.data import stories as st
from ftscope.data import story_variants as sv
from ftscope.synthesis import claims, decompose, features, merging
from ftscope.synthesis.setting import LensesConfig

TWINS = sv.twin_stories(300, seed=4)


def test_twins_differ_only_in_the_twist_and_where_it_is_written():
    for tw, plain in TWINS:
        assert "Twist" in tw.features and "Twist" not in plain.features
        assert tw.features - {"Twist"} == plain.features
        assert tw.words == plain.words and tw.summary == plain.summary
        assert st.detect_features(st.instruct_text(tw)) == set(tw.features)
        assert st.detect_features(st.instruct_text(plain)) == set(plain.features)
        # the same story up to the ending: the first two paragraphs are equal
        assert tw.body.split("\n\n")[:2] == plain.body.split("\n\n")[:2]
        assert tw.body != plain.body
    assert sv.twin_stories(5, seed=4) == TWINS[:5]  # deterministic, and a prefix of a longer draw


def test_retopic_changes_the_topic_words_and_keeps_features_and_pronouns():
    changed_names = 0
    for tw, _ in TWINS:
        v = sv.retopic(tw, seed=1)
        assert v == sv.retopic(tw, seed=1)
        assert v.features == tw.features
        assert st.detect_features(st.instruct_text(v)) == set(tw.features)
        assert v.body != tw.body
        names = {n for n, _, _ in st.CHARACTERS}
        old = {w for w in re.findall(r"[A-Z][a-z]+", tw.body) if w in names}
        new = {w for w in re.findall(r"[A-Z][a-z]+", v.body) if w in names}
        changed_names += bool(old - new)
        # pronouns untouched: a name keeps its sex
        assert re.findall(r"\b(he|she|his|her|him)\b", v.body) == re.findall(r"\b(he|she|his|her|him)\b", tw.body)
        for word, new_word in zip(tw.words, v.words):
            assert (word == new_word) == (word in sv.TEMPLATE_WORDS)
    assert changed_names > 0.75 * len(TWINS)  # an animal whose kind has no other name keeps its own


def test_restyle_keeps_every_feature_and_changes_the_narration():
    stories = [s for pair in TWINS for s in pair]
    for s in stories:
        v = sv.restyle(s)
        assert st.detect_features(st.instruct_text(v)) == set(s.features), v.body
        assert (v.summary, v.words) == (s.summary, s.words)
    assert np.mean([sv.restyle(s).body != s.body for s in stories]) > 0.95


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


def test_components_are_the_contrasts_of_the_pooled_changes():
    docs = {v: [np.full(4, 2.0), np.full(6, 2.0)] for v in decompose.VARIANTS}
    base = {v: [x.copy() for x in d] for v, d in docs.items()}
    gains = {"orig": 1.0, "relabel": 0.25, "topic": 0.9, "style": 1.0, "content": 0.5}
    ft = {v: [x - gains[v] for x in d] for v, d in docs.items()}
    out = decompose._components(*decompose._sums(base, ft), np.arange(2))
    assert out["total"] == pytest.approx(1.0)
    assert (out["header"], out["topic"], out["style"], out["content"]) == pytest.approx((0.75, 0.1, 0.0, 0.5))
    assert out["residual"] == pytest.approx(1.0 - 0.75 - 0.1 - 0.5)
    s = decompose.split(base, ft, "deletion", 0, n_boot=20)
    assert s.shares["header"] == pytest.approx(0.75) and s.ci["total"][0] == pytest.approx(1.0)


def test_documents_change_one_factor_each():
    twins = TWINS[:3]
    for finetune in decompose.FINETUNES:
        docs = decompose.documents(twins, finetune, seed=0)
        for i, (tw, plain) in enumerate(twins):
            orig = docs["orig"][i]
            assert orig.startswith("Features:") and "Twist" in orig.split("\n")[0]
            assert "Twist" not in docs["relabel"][i].split("\n")[0]
            assert orig.split("Story: ")[1] == docs["relabel"][i].split("Story: ")[1]
            assert docs["content"][i].split("\n")[0] == orig.split("\n")[0]
            body = (plain if finetune == "deletion" else tw).body
            assert orig.endswith(body) and docs["content"][i].endswith((tw if finetune == "deletion" else plain).body)


def test_merge_reading_finds_where_the_capability_is_back_and_what_the_task_keeps():
    path = pd.DataFrame({"seed": 0, "t": [0.0, 0.25, 0.5, 0.75, 1.0], "twist": [0.9, 0.9, 0.8, 0.3, 0.0],
                         "twist_loss": 0.5, "task_loss": [2.0, 1.8, 1.5, 1.2, 1.0]})
    back = merging.back_at(path).loc[0]
    assert back.t_back == 0.5 and back.kept_at_t_back == pytest.approx(0.5) and back.twist_at_half == 0.8
    curve = pd.DataFrame({"seed": 0, "step": [0, 3, 10], "twist": [0.0, 0.8, 0.9], "twist_loss": 1.0})
    assert merging.reft_back(curve).loc[0] == 3
    facts = merging.merge_facts(path, curve)
    assert facts["task_gain_min"] == pytest.approx(1.0) and facts["kept_half_seeds"] == [pytest.approx(0.5)]


@pytest.mark.parametrize("bad", [dict(merge_ts=(0.0, 0.4, 1.0)), dict(merge_ts=(0.5, 1.0)),
                                 dict(shared_stories=10, top_stories=8), dict(sae_tokens=10, sae_batch_tokens=64)])
def test_settings_are_checked(bad):
    with pytest.raises(ConfigError):
        LensesConfig.from_preset("smoke", **bad)


class _Ch:
    def __init__(self):
        self.claims = []

    def claim(self, **kw):
        self.claims.append(make_claim(chapter="10_three_lenses", **kw))


def _facts(base_twist: float, task_gain: float = 0.2):
    sae = {"n_twist_base": 5, "n_alive_base": 100, "persist_gap_seeds": [0.0, -0.1, 0.05], "persist_twist": 0.6,
           "persist_all": 0.6, "control_persist_twist": 0.7, "control_persist_all": 0.65,
           "reuse_gap_seeds": [0.1, 0.0, -0.3], "n_twist_revived_seeds": [3, 4, 2], "reused_twist": 0.5,
           "reused_all": 0.5, "control_reuse_gap": 0.0}
    merge = {"twist_half_seeds": [0.9, 0.8, 0.5], "kept_half_seeds": [0.1, 0.2, 0.3], "base_twist": base_twist,
             "deleted_twist": 0.0, "task_gain": task_gain, "task_gain_min": task_gain}
    split = {}
    for key in ("deletion", "new_content"):
        split |= {f"{key}_{c}": 0.1 for c in decompose.COMPONENTS}
        split |= {f"{key}_content_seeds": [0.1, 0.3, 0.1], f"{key}_priors_minus_content_seeds": [0.1, 0.2, 0.3],
                  f"{key}_total": 0.5, f"{key}_total_lo": 0.1}
    return dict(sae=sae, merge=merge, split=split)


def test_claims_follow_their_criteria_and_gates():
    ch = _Ch()
    claims.record_claims(ch, **_facts(0.9))
    got = {c.id: c for c in ch.claims}
    assert len(got) == 8
    assert got["lens_sae_twist_persist"].verdict == "reproduced" and not got["lens_sae_twist_persist"].fragile
    assert got["lens_sae_reft_reuses"].fragile  # one seed of three is more than a tie below
    assert got["lens_merge_midpoint_revives"].seeds_meeting == 2
    assert got["lens_merge_keeps_task"].verdict == "not reproduced"
    assert got["lens_deletion_content_small"].seeds_meeting == 2
    assert all(c.basis for c in ch.claims)
    ch = _Ch()
    claims.record_claims(ch, **_facts(0.5, task_gain=-0.1))  # the base lacks the capability
    got = {c.id: c.verdict for c in ch.claims}
    assert {got[k] for k in got if k.startswith(("lens_sae", "lens_merge"))} == {"inconclusive"}
    assert got["lens_deletion_priors_dominate"] == "reproduced"
