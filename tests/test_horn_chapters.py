"""Part III chapter logic in ``ftscope.horn``: the tables, the sweep read-off, feature matching, the case
studies and the claims, on tiny models and planted activations; and the SAE cache."""

import numpy as np
import pandas as pd
import pytest
import torch

from ftscope import horn as H
from ftscope.book import Chapter
from ftscope.book.claims import not_above_floor
from ftscope.data import tokenizer as bpe
from ftscope.instruments import sae
from ftscope.paths import Project
from ftscope.train.models import mistral

SMOKE = H.HornConfig.from_preset("smoke")


def tiny(vocab=50, n_ctx=16, seed=0):
    return mistral(d_model=32, d_mlp=64, n_heads=2, n_kv_heads=1, d_head=16, n_ctx=n_ctx, d_vocab=vocab, seed=seed)


def chapter():
    return Chapter("test_horn", H.HornConfig, preset="smoke", device="cpu", seed=0)


# ------------------------------------------------------------------------- the SAE cache
def test_cached_sae_reuses_the_cache_and_keys_on_seed_and_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    project, m = Project(tmp_path), tiny()
    rows = np.random.default_rng(0).integers(0, 50, (60, 8))
    kw = dict(d_sae=32, l1=1.0, lr=1e-3, tokens=256, batch_tokens=128, median_rows=8, eval_batches=2)
    s1, met1, cached1 = sae.cached_sae("t", m, rows[:50], rows[50:], project=project, seed=3, **kw)
    saved = sorted((project.cache / "checkpoints").glob("sae-t-*.pt"))
    mtime = saved[0].stat().st_mtime_ns
    s2, met2, cached2 = sae.cached_sae("t", m, rows[:50], rows[50:], project=project, seed=3, **kw)
    assert (cached1, cached2) == (False, True) and met2 == met1 and len(saved) == 1
    assert sorted((project.cache / "checkpoints").glob("sae-t-*.pt")) == saved
    assert saved[0].stat().st_mtime_ns == mtime  # read back, not trained and written again
    assert all(torch.equal(a, b) for a, b in zip(s1.state_dict().values(), s2.state_dict().values()))
    _, _, cached3 = sae.cached_sae("t", m, rows[:50], rows[50:], project=project, seed=4, **kw)
    _, _, cached4 = sae.cached_sae("t", tiny(seed=1), rows[:50], rows[50:], project=project, seed=3, **kw)
    assert not cached3 and not cached4  # another seed, another model: other cache entries
    assert len(list((project.cache / "checkpoints").glob("sae-t-*.pt"))) == 3


# ------------------------------------------------------------------------- chapter 08
def test_corpus_table_reads_manifests_and_falls_back_to_fixtures(monkeypatch):
    import ftscope.data as data
    from ftscope.data import Doc, MissingData

    def manifest(name):
        if name == "lua":
            return {"sources": [{"name": "lua-pkg", "version": "1.0", "licence": "MIT"}], "sha256": "ab" * 32}
        raise MissingData(name)

    monkeypatch.setattr(data, "corpus_manifest", manifest)
    monkeypatch.setattr(data.corpora, "READ", {})  # what other tests' corpora read in this process does not count
    docs = {n: {"train": [Doc("a", n, "x" * 30)], "val": [Doc("b", n, "y" * 10)]} for n in H.CORPORA}
    streams = {n: {"train": np.zeros(8), "val": np.zeros(2)} for n in H.CORPORA}
    table = H.corpus_table(H.Corpora(docs=docs, tokenizer=None, streams=streams, digest=""))
    assert list(table.index) == list(H.CORPORA)
    assert table.loc["lua", "source"] == "lua-pkg 1.0" and table.loc["lua", "sha256"] == "ab" * 6
    assert table.loc["english", "source"].startswith("bundled fixture") and table.loc["english", "licences"] == ""
    assert table.loc["python", "characters"] == 40 and table.loc["python", "chars per token"] == 4.0


def test_story_sample_and_tokenization():
    from ftscope.data.stories import FEATURES

    freq, exact = H.story_sample(seed=1, n=200)
    assert list(freq.index) == list(FEATURES)
    assert freq.between(0, 1).all() and freq.max() > 0 and exact > 0.9
    tok = bpe.train_bpe(["x = 1\nlocal y = 2\n" * 20], 280)
    lines = H.tokenization(tok, ["x = 1", "local y"]).splitlines()
    assert len(lines) == 2 and lines[0].startswith("'x = 1' → [") and "'local y'" in lines[1]


def test_model_table_puts_the_papers_numbers_beside_ours():
    m = mistral(**SMOKE.model_fields(), seed=0)
    streams = {c: {"train": np.zeros(100)} for c in H.BASE_CORPORA}
    table = H.model_table(SMOKE, H.Corpora(docs={}, tokenizer=None, streams=streams, digest=""), m)
    assert table.loc["trained parameters", "paper"] == H.PAPER_PARAMS == 35_100_000
    assert table.loc["trained parameters", "ours"] == H.trained_parameters(m) > 0
    assert table.loc["d_model", "paper"] == 512 and table.loc["d_model", "ours"] == SMOKE.d_model
    assert table.loc["base training tokens", "ours"] == SMOKE.base_steps * SMOKE.base_batch * SMOKE.n_ctx
    assert table.loc["base training tokens", "paper"] == "≈0.9 B (3 epochs, estimate)"


class NextToken(torch.nn.Module):
    """Predicts ``next = current + shift`` (mod 10)."""

    def __init__(self, shift):
        super().__init__()
        self.shift, self.w = shift, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.nn.functional.one_hot((x + self.shift) % 10, 10).float() * 10


def test_accuracy_table_gains_and_lies_between():
    counting = torch.arange(8).reshape(2, 4)  # every next token is current + 1
    evalsets = {"lua": counting, "stories": (counting * 2) % 10}  # here next = current + 2
    models = {"base": NextToken(3), "lua": NextToken(1), "stories": NextToken(2)}
    acc = H.accuracy_table(models, evalsets)
    assert acc.loc["lua", "lua"] == 1.0 and acc.loc["stories", "stories"] == 1.0 and acc.loc["base"].sum() == 0
    assert H.gains(acc) == {"lua": 1.0, "stories": 1.0}
    acc.loc["luastories"] = {"lua": 0.5, "stories": 0.5}
    assert H.lies_between(acc, "luastories")
    acc.loc["luastories", "lua"] = 1.0  # equal to the Lua fine-tune: not strictly between
    assert not H.lies_between(acc, "luastories")


def test_instruction_following_is_seeded_and_a_share():
    from ftscope.data import stories as story_world

    prompts = story_world.generate_stories(2, seed=0)
    tok = bpe.train_bpe([story_world.instruct_text(s) for s in story_world.generate_stories(30, seed=1)], 300)
    model = tiny(vocab=tok.get_vocab_size(), n_ctx=32)
    follow, text = H.instruction_following({"m": model}, prompts, tok, n_ctx=32, seed=0)
    again, text_again = H.instruction_following({"m": model}, prompts, tok, n_ctx=32, seed=0)
    assert follow == again and text == text_again and text
    assert set(follow) == {"m"} and (np.isnan(follow["m"]) or 0.0 <= follow["m"] <= 1.0)


def sweep_curves(stories, lua):
    ts = np.linspace(0, 1, len(stories))
    frame = pd.DataFrame([{"t": t, "set": s, "acc": a} for t, st, lu in zip(ts, stories, lua)
                          for s, a in (("stories", st), ("lua", lu))])
    return H.sweep_curves(frame)


def test_summarise_sweep_reads_crossing_retention_and_monotonicity():
    s = H.summarise_sweep(sweep_curves([0.8, 0.6, 0.4], [0.2, 0.3, 0.6]))
    assert s.t_cross == pytest.approx(0.5 + 0.5 * 0.3 / 0.5) and s.t_cross_or_end == s.t_cross
    assert s.keep == pytest.approx({"stories": 0.5, "lua": 0.25}) and s.monotone
    assert 0.4 < s.t_cross_paper < 0.6 and s.keep_paper["stories"] > 0.5
    assert s.ends == {"stories_t0": 0.8, "stories_t1": 0.4, "lua_t0": 0.2, "lua_t1": 0.6}
    assert list(s.table().index)[1:] == ["crossing t*, normalised curves", "stories gain kept at t=0.5",
                                         "Lua gain kept at t=0.5", "both curves monotone (±0.005)"]
    below = H.summarise_sweep(sweep_curves([0.9, 0.8, 0.7], [0.1, 0.3, 0.2]))  # Lua never catches up, dips
    assert np.isnan(below.t_cross) and below.t_cross_or_end == 1.0 and not below.monotone


def test_normalised_curves_put_each_gain_on_one_scale_and_move_the_crossing():
    # stories gains 0.4 (0.8 -> 0.4), Lua only 0.1 (0.2 -> 0.3): the raw curves never cross, the normalised
    # ones are the same line mirrored and cross at the middle
    curves = sweep_curves([0.8, 0.6, 0.4], [0.2, 0.25, 0.3])
    norm = H.normalised(curves)
    assert norm["stories"].tolist() == pytest.approx([1.0, 0.5, 0.0]) and norm["lua"].tolist() == pytest.approx(
        [0.0, 0.5, 1.0])
    s = H.summarise_sweep(curves)
    assert np.isnan(s.t_cross) and s.t_cross_or_end == 1.0
    assert s.t_norm == pytest.approx(0.5) and s.t_norm_or_end == s.t_norm
    assert s.t_norm_paper == pytest.approx(0.514, abs=0.001)  # the paper's Fig. 5 values, normalised
    flat = H.normalised(sweep_curves([0.5, 0.5, 0.5], [0.2, 0.3, 0.4]))  # no stories gain: nothing to normalise
    assert flat["stories"].isna().all() and flat["lua"].notna().all()


def seed_run(seed, stories, lua, acc=None):
    curves = sweep_curves(stories, lua)
    acc = acc if acc is not None else pd.DataFrame(
        {"lua": [0.3, 0.5, 0.2, 0.4], "stories": [0.3, 0.25, 0.6, 0.5], H.BASE_DOMAIN: [0.4] * 4},
        index=["base", "lua", "stories", "luastories"])
    return H.SeedRun(seed, {}, acc, curves, H.summarise_sweep(curves))


def test_seed_runs_tables_and_facts_span_the_seeds():
    runs = [seed_run(0, [0.8, 0.6, 0.4], [0.2, 0.3, 0.6]), seed_run(1, [0.8, 0.6, 0.4], [0.2, 0.25, 0.3])]
    assert H.model_seeds(SMOKE, 5) == [5, 6] and H.model_seeds(H.HornConfig.from_preset("laptop"), 0) == [0, 1, 2]
    table = H.seed_summary_table(runs)
    assert list(table.columns) == ["seed 0", "seed 1", "paper"] and list(table.index) == H.SUMMARY_ROWS
    facts = H.seed_facts(runs)
    assert "model_seeds" not in facts and facts["t_cross_hi"] == 1.0  # seed 1 never crosses: the Lua end
    assert facts["t_cross_lo"] == pytest.approx(runs[0].summary.t_cross)
    assert facts["t_norm_lo"] <= facts["t_norm_hi"] and facts["t_cross_paper"] == runs[0].summary.t_cross_paper
    assert facts["lua_t1"] == pytest.approx(0.45)  # a mean over the seeds
    gains = H.seed_gains([runs[0], seed_run(1, [1, 0], [0, 1], acc=runs[0].acc.assign(lua=[0.3, 0.7, 0.2, 0.4]))])
    assert gains["gain_lua"] == pytest.approx(0.3) and (gains["gain_lua_lo"], gains["gain_lua_hi"]) == pytest.approx(
        (0.2, 0.4))
    mean = H.seed_accuracy([runs[0], seed_run(1, [1, 0], [0, 1], acc=runs[0].acc + 0.1)])
    assert mean.loc["lua", "lua"] == pytest.approx(0.55) and list(mean.index) == list(runs[0].acc.index)
    fig = H.sweep_figure([r.curves for r in runs], runs[0].acc.loc["base"], title="t")
    assert len(fig.axes[0].collections) == 2  # one shaded seed range per domain


def test_record_model_claims_records_the_chapters_ids_per_model_seed():
    ch = chapter()
    runs = [seed_run(0, [0.6, 0.5, 0.25], [0.2, 0.4, 0.5]), seed_run(1, [0.6, 0.5, 0.4], [0.2, 0.25, 0.3])]
    H.record_model_claims(ch, SMOKE, runs, n_params=1234, base_steps=30)
    got = {c.id: c for c in ch.claims}
    assert list(got) == ["horn_base_acc", "horn_ft_lua_gain", "horn_ft_stories_gain", "horn_sweep_monotone",
                         "horn_sweep_crossing", "horn_sweep_retention", "horn_luastories_between"]
    assert got["horn_base_acc"].seeds == [0.4, 0.4] and got["horn_ft_lua_gain"].ours == pytest.approx(0.2)
    assert got["horn_ft_stories_gain"].ours == pytest.approx(0.3)
    assert got["horn_luastories_between"].ours is True and got["horn_sweep_monotone"].ours is True
    # judged on the normalised curves; seed 1's raw curves never cross, its normalised ones do
    assert got["horn_sweep_crossing"].seeds == [round(r.summary.t_norm_or_end, 3) for r in runs]
    assert got["horn_sweep_crossing"].paper_value == pytest.approx(0.514, abs=0.001)
    assert "per seed here: 0.64, none (none: never inside the sweep)" in got["horn_sweep_crossing"].note
    assert got["horn_base_acc"].note.startswith("1,234 parameters and 30 steps at smoke (paper: 35M, 3 epochs); 2 model")
    # the fine-tunes' gains are preconditions of the sweep's crossing and retention and of LuaStories between
    assert [c.id for c in ch.claims if c.kind == "precondition"] == ["horn_ft_lua_gain", "horn_ft_stories_gain"]
    assert [c.id for c in ch.claims if c.needs] == ["horn_sweep_crossing", "horn_sweep_retention",
                                                    "horn_luastories_between"]
    assert "t = 0.42: TinyStories ≈ 0.436, Lua ≈ 0.319" in got["horn_luastories_between"].note


# ------------------------------------------------------------------------- chapter 09
STRINGS = ["<s>", " =", ",", " the", " cat", " dog", " ran", "."]  # decoded, as Corpora.token_strings


def planted_matching(n=4000, seed=0, floor=True):
    """Two SAE seeds. Base features 0 (fires on "="), 1 (on "the"), 2 (on ","), 3 (never); every child SAE
    copies 0 and 2 and replaces 1 by noise; the base's second SAE (the seed control) copies all three; with
    ``floor``, the random-init model's SAEs copy only 2 (a token any model reading the text shows) and noise."""
    g = torch.Generator().manual_seed(seed)
    token_ids = torch.randint(1, len(STRINGS), (n,), generator=g)
    noise = lambda: 0.05 * torch.rand(n, generator=g)  # noqa: E731
    base = torch.stack([(token_ids == 1) * (1 + noise()), (token_ids == 3) * (1 + noise()),
                        (token_ids == 2) * (1 + noise()), torch.zeros(n)], 1).float()
    def child():
        other = torch.relu(torch.randn(n, generator=g))
        return torch.stack([base[:, 0] + noise(), other, base[:, 2] + noise()], 1)

    acts = {H.sae_label(name, k): child() for k in range(2) for name in ("lua", "stories", "luastories")}
    acts["base"], acts[H.SEED_CONTROL] = base, base[:, :3] * 1.01
    if floor:
        acts |= {H.sae_label(H.FLOOR, k): torch.stack([torch.relu(torch.randn(n, generator=g)), base[:, 2] + noise()], 1)
                 for k in range(2)}
    rows = token_ids.reshape(-1, 8)
    pairs = H.all_pairs(2) + (H.floor_pairs(2) if floor else [])
    return H.match_acts(acts, rows, pairs, threshold=0.8, min_fires=5, seeds=2)


def test_match_acts_flows_tables_and_sankey():
    m = planted_matching()
    assert m.alive_counts()[["lua", "stories", "luastories", "base", H.SEED_CONTROL]].tolist() == [3, 3, 3, 3, 3]
    assert m.persist_share("base", "lua") == pytest.approx(2 / 3) and m.persist_share("base", "nowhere") != 0.5
    assert m.seed_values("base", "lua") == pytest.approx([2 / 3, 2 / 3])  # the k-th base SAE into the next Lua SAE
    assert H.seed_pairs(2, [("base", "lua")]) == [("base", "lua, SAE seed 1"), ("base, SAE seed 1", "lua")]
    assert m.control_values() == [1.0, 1.0] and m.control_values("emerge_share") == [0.0, 0.0]
    assert H.control_pairs(3) == [("base", "base, SAE seed 1"), ("base, SAE seed 1", "base, SAE seed 2"),
                                  ("base, SAE seed 2", "base")]
    assert m.has_floor and not planted_matching(floor=False).has_floor
    assert H.floor_pairs(2)[:2] == [("base", "random, SAE seed 1"), ("lua", "random, SAE seed 1")]
    assert m.floor_values() == pytest.approx([1 / 3] * 2) and m.both_parents(H.FLOOR) == pytest.approx([1 / 3] * 2)
    assert m.both_parents() == pytest.approx([2 / 3] * 2)
    table = m.flow_table()
    assert table.loc[H.FLOOR_ROW, "persist"] == pytest.approx(1 / 3)
    assert table.loc["base → luastories", "disappear"] == pytest.approx(1 / 3)
    assert table.loc["base → luastories", "disappear range"] == "33.3%–33.3%"
    assert np.isnan(table.loc["lua + stories → luastories", "persist"])
    assert table.loc["lua + stories → luastories", "emerge"] == pytest.approx(1 / 3)  # the noise feature
    facts = m.seed_facts()
    assert facts["persist_base_luastories"] == pytest.approx(2 / 3) and facts["seed_ceiling_lo"] == 1.0
    assert facts["emerge_lua"] == pytest.approx(1 / 3) and facts["emerge_control_hi"] == 0.0
    assert facts["floor_persist"] == pytest.approx(1 / 3) and facts["floor_both_parents_hi"] == pytest.approx(1 / 3)
    assert table.loc[H.CONTROL, "persist"] == 1.0 and np.isnan(table.loc[H.CONTROL, "persist, same SAE seed"])
    assert table.loc["base → lua", "persist, same SAE seed"] == pytest.approx(2 / 3)  # the first SAEs, one seed
    sweep = m.threshold_sweep((0.5, 0.8))
    assert set(sweep["pair"]) == {f"{p} → {c}" for p, c in H.PAIRS} | {H.CONTROL, H.FLOOR_ROW}
    assert set(sweep["seed"]) == {0, 1} and len(sweep) == (len(H.PAIRS) + 2) * 2 * 2
    fig = H.seed_control_figure(m)
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [2, 2] * len(H.PAIRS)  # seeds, then floor
    fig = H.sankey(m)
    assert fig.data[0].node.label[:4] == ("base", "lua", "stories", "luastories")
    assert fig.layout.title.text.endswith("(Pearson r ≥ 0.8)")
    profiles = H.token_profile_table(m)
    assert list(profiles.index) == ["base → lua", "base → stories", "base → luastories", H.CONTROL]
    assert profiles.iloc[:, 0].tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1.0])


def test_lowlevel_enrichment_counts_planted_features():
    low = H.lowlevel_enrichment(planted_matching(), STRINGS)
    assert (low.low_persist, low.low_all) == (1.0, pytest.approx(2 / 3)) and low.enrichment == pytest.approx(1.5)
    assert low.examples["feature"].tolist() == [0, 2] and low.examples["top tokens"].tolist() == ["' ='", "','"]


def test_case_study_finds_the_assignment_feature_and_its_matches():
    m = planted_matching()
    eq = H.case_study(m, H.token_positions(m.token_ids, STRINGS, "="))
    assert eq.feature == 0 and eq.selectivity > 100
    assert {k: v[0] for k, v in eq.matches.items()} == {"lua": 0, "stories": 0, "luastories": 0}
    assert eq.min_r > 0.95 and list(eq.table().index) == ["lua", "stories", "luastories"]
    assert eq.features(["lua"]) == {"base": (0, 1.0), "lua": eq.matches["lua"]}
    the = H.case_study(m, H.token_positions(m.token_ids, STRINGS, "the"))
    assert the.feature == 1 and the.min_r < 0.8
    assert "disappears" in H.disappearance(0.5, 0.8) and "persists" in H.disappearance(0.9, 0.8)


def test_proxy_scores_and_record_feature_claims():
    m = planted_matching()
    scores, kept = H.proxy_scores(m, "lua", "luastories")
    assert scores.shape == (3,) and scores[0] > 0.9 and scores[1] < 0.2  # token functions vs noise
    np.testing.assert_array_equal(kept, scores[[0, 2]])  # the two copies persist; the noise features differ
    # the random-init model's SAE recovers no loss and has dead features: the preconditions leave it out
    quality = pd.DataFrame({"ce_loss_recovered": [0.9, 0.8, 0.95, 0.85, -3.0],
                            "dead_fraction": [0.1, 0.0, 0.15, 0.05, 0.9], "l0": [10.0, 12.0, 9.0, 11.0, 1.0]},
                           index=[*H.MODELS, H.FLOOR])
    saes = H.SAEs(models={}, saes={}, quality=quality, runs=[])
    eq = H.seed_case_studies(m, H.token_positions(m.token_ids, STRINGS, "="))
    te = H.seed_case_studies(m, H.token_positions(m.token_ids, STRINGS, "the"))
    assert [cs.control[0] for cs in te] == [1, 1] and all(cs.control[1] > 0.95 for cs in te)
    assert all(cs.floor[1] < 0.2 for cs in eq) and list(eq[0].table().index)[-1] == "random init (floor)"
    enrichment = H.lowlevel_seeds(m, STRINGS)
    assert enrichment == ([pytest.approx(1.5)] * 2, [pytest.approx(1.0)] * 2)  # the control shares every feature
    ch = chapter()
    proxy = H.proxy_seeds(m, "lua", "luastories")
    assert proxy[1] == [0.0, 0.0]  # two base SAEs share every feature: persisting ones are all of them
    assert all(0.0 <= v < 0.05 for v in proxy[0])  # the noise feature is the one left out, the median barely moves
    chains = H.chain_table(m)
    H.record_feature_claims(ch, SMOKE, saes, m, enrichment, assignment=eq, try_except=te,
                            sweep=m.threshold_sweep((0.5, 0.8)), proxy=proxy, chains=chains)
    got = {c.id: c for c in ch.claims}
    assert list(got) == ["horn_sae_loss_recovered", "horn_sae_dead", "horn_few_persist", "horn_emerge_lua",
                         "horn_emerge_stories", "horn_persist_lowlevel", "horn_universal_assignment",
                         "horn_try_except_disappears", "horn_luastories_both_parents", "horn_proxy_persisting",
                         "horn_universal_chains", "horn_few_persist_thresholds"]
    # each parent keeps 2 of 3 features where two base SAEs keep all, and 1 of 3 persists into the random model:
    # 2/3 is not two standard errors of a share of 3 features above 1/3, so the floor makes it inconclusive
    both = got["horn_luastories_both_parents"]
    assert both.seeds == [round(2 / 3, 3)] * 2 and both.verdict == "inconclusive"
    assert "a tie at the floor (each parent into a random-init model's SAE) (0.333)" in both.note
    assert both.criterion == ">= the lowest of the seed control (1–1)" and "only stories per seed: 0 / 0, 0 / 0" in both.note
    assert "floor (the smaller share of each parent's features persisting into a random-init model's SAE): 33.3%, " \
           "33.3%" in both.note and "random-init model of the base's shape" in both.basis
    assert got["horn_proxy_persisting"].seeds == [round(v, 3) for v in proxy[0]]
    chains_claim = got["horn_universal_chains"]  # 2 features along both chains, 1 (",") along the floor's
    assert chains_claim.seeds == [2, 2] and chains_claim.verdict == "inconclusive"
    assert "ending in a random-init model's SAE instead of LuaStories'): 1, 1" in chains_claim.note
    assert "100.0%, 100.0%" in chains_claim.note  # the control chain keeps every feature
    assert (got["horn_sae_loss_recovered"].ours, got["horn_sae_dead"].ours) == (0.8, 0.15)
    assert {c.kind for c in ch.claims[:2]} == {"precondition"} and got["horn_sae_dead"].verdict == "reproduced"
    assert all(c.needs == list(H.claims.SAE_OK) for c in ch.claims[2:])  # the SAE quality gates every feature claim
    assert got["horn_few_persist_thresholds"].kind == "hypothesis"
    assignment = got["horn_universal_assignment"]  # "=" has no match in the random model: above its floor
    assert assignment.verdict == "reproduced" and "in a random-init model's SAE (floor): " in assignment.note
    few = got["horn_few_persist"]
    assert few.seeds == [round(2 / 3, 3)] * 2 and few.criterion == "< the seed control (1–1)"
    assert few.verdict == "reproduced" and "100.0%, 100.0%" in few.note
    assert got["horn_emerge_lua"].seeds == [round(1 / 3, 3)] * 2 and got["horn_emerge_lua"].verdict == "reproduced"
    assert got["horn_persist_lowlevel"].seeds == [1.5, 1.5] and got["horn_persist_lowlevel"].verdict == "reproduced"
    assert got["horn_universal_assignment"].ours is True and got["horn_try_except_disappears"].ours is True
    assert got["horn_few_persist_thresholds"].ours is True
    # an SAE with too many dead features: every feature claim is inconclusive, naming the precondition
    ch = chapter()
    H.record_feature_claims(ch, SMOKE, H.SAEs(models={}, saes={}, quality=quality.assign(dead_fraction=0.3), runs=[]),
                            m, enrichment, assignment=eq, try_except=te)
    assert ch.claims[1].verdict == "not reproduced"
    assert all(c.verdict == "inconclusive" and "precondition horn_sae_dead is not reproduced" in c.note
               for c in ch.claims[2:])
    # no floor matched: the three "kept" claims are inconclusive, saying so
    ch, m = chapter(), planted_matching(floor=False)
    H.record_feature_claims(ch, SMOKE, saes, m, enrichment, assignment=H.seed_case_studies(m, H.token_positions(
        m.token_ids, STRINGS, "=")), try_except=te, chains=H.chain_table(m))
    got = {c.id: c for c in ch.claims}
    for cid in ("horn_universal_assignment", "horn_luastories_both_parents", "horn_universal_chains"):
        assert got[cid].verdict == "inconclusive" and "no floor" in got[cid].note, cid
    assert got["horn_few_persist"].verdict == "reproduced"


def test_floor_reason_ties_and_margins():
    assert H.share_margin(0.0, 100) > 0 and H.share_margin(0.5, 100) == pytest.approx(2 * np.sqrt(0.25 / 100))
    assert H.share_margin(0.3, 1000) < H.share_margin(0.3, 100)
    assert not_above_floor([0.1, 0.12], [0.1, 0.1], 0.05, "the floor").startswith("a tie at the floor (0.1)")
    assert not_above_floor([0.5, 0.4], [0.1, 0.2], 0.05, "the floor") == ""  # clearly above, per-seed floors
    assert not_above_floor([0.05, 0.2], [0.1, 0.1], 0.05, "the floor") == (
        "not above the floor (0.1) by more than 0.05: mean 0.125")  # the mean does not clear it
    assert not_above_floor([0.0], [0.3], 0.05, "x").startswith("not above x")  # below the floor: inconclusive too


def test_random_model_is_the_bases_shape_untrained_and_seeded():
    torch.manual_seed(0)
    a = H.random_model(SMOKE, 0)
    assert torch.rand(1).item() == pytest.approx(torch.manual_seed(0) and torch.rand(1).item())  # global RNG kept
    b, base_init = H.random_model(SMOKE, 0), H.build(SMOKE, 0)
    assert not a.training and sae.model_digest(a) == sae.model_digest(b) != sae.model_digest(base_init)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in base_init.state_dict().items()}
    models = H.with_floor(SMOKE, {"base": base_init}, 0)
    assert sae.model_digest(models[H.FLOOR]) == sae.model_digest(a) and H.with_floor(SMOKE, models, 1) is models
    runs = H.sae_runs(SMOKE)
    assert [r for r in runs if r[1] == H.FLOOR] == [("random", "random", 1337), ("random, SAE seed 1", "random", 1338)]
    from ftscope.horn.bench import works

    assert [w.runs for w in works("smoke") if w.what == "sparse autoencoders"] == [(len(H.MODELS) + 1) * 2]


def test_seed_control_judges_a_share_inside_its_range_as_a_miss():
    from ftscope.book.claims import above_control, below_control, make_claim, not_below_control

    def claim(ours, criterion):
        return make_claim(id="x", chapter="c", paper="horn2024", reference="r", statement="s", paper_value=None,
                          ours=ours, criterion=criterion)

    control = [0.279, 0.30, 0.26]
    assert claim([0.281, 0.27, 0.29], below_control(control)).verdict == "not reproduced"  # at the seed floor
    inside = claim([0.20, 0.27, 0.21], below_control(control))
    assert inside.verdict == "reproduced" and inside.fragile and inside.seeds_meeting == 2
    assert claim([0.31, 0.4], above_control(control)).verdict == "reproduced"
    assert claim([0.30], above_control(control)).verdict == "not reproduced"  # equal to the control's top: a tie
    with pytest.raises(ValueError, match="missing"):
        below_control([0.2, float("nan")])
    assert claim([0.26, 0.27], not_below_control(control)).verdict == "reproduced"  # inside the range counts
    assert claim([0.25], not_below_control(control)).verdict == "not reproduced"


def test_chain_persist_follows_best_matches_step_by_step():
    m = planted_matching()
    assert H.chain_persist(m, H.CHAINS["via Lua"], 0).tolist() == [True, False, True]  # "the" is lost in Lua
    assert H.chain_persist(m, H.CONTROL_CHAIN, 1).all()
    table = H.chain_table(m)
    assert list(table.index) == ["SAE seed 0", "SAE seed 1"]
    assert table["both chains (count)"].tolist() == [2, 2] and table["in all three models"].tolist() == [
        pytest.approx(2 / 3)] * 2
    assert table["control: base → base → base"].tolist() == [1.0, 1.0]


def test_compare_rules_sweeps_by_rows_beside_the_tensor_sweep_with_equal_ends():
    cfg = SMOKE
    a, b = H.build(cfg, 0), H.build(cfg, 1)
    blocks = torch.randint(0, cfg.vocab_size, (2, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    evalsets = {d: blocks for d in H.DOMAINS}
    tensor = H.sweep_curves(H.sweep(cfg, a, b, evalsets))
    curves, facts = H.compare_rules(cfg, a, b, evalsets, tensor)
    assert curves["tensor"] is tensor and list(curves["row"].index) == list(tensor.index)
    ends = [tensor.index[0], tensor.index[-1]]  # t = 0 and 1 are the two models under either rule
    pd.testing.assert_frame_equal(curves["row"].loc[ends], tensor.loc[ends])
    assert facts["rules_max_diff"] == H.rules_difference(curves) >= 0.0
    assert np.array_equal(facts["row_t_cross"], H.summarise_sweep(curves["row"]).t_cross, equal_nan=True)
    assert np.array_equal(facts["tensor_t_cross"], H.summarise_sweep(tensor).t_cross, equal_nan=True)
