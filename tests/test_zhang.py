"""Part II's world, setting and measurement: the generator's variants are single-factor interventions, the
contract holds, the oracle is the generator's own arithmetic, and the decomposition computes the contrasts."""

import collections
import dataclasses
import math

import numpy as np
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.train.loop import OptimConfig, lr_multiplier
from ftscope.zhang import decompose as D
from ftscope.zhang import setting as S
from ftscope.zhang import world as W

SMALL = W.WorldParams(entities=20, objects=6, lexicon=12)


@pytest.fixture(scope="module")
def world():
    return W.World(SMALL)


def test_probe_set_contract_is_deterministic_and_complete():
    a = W.probe_set(5, seed=3)
    assert a == W.probe_set(5, seed=3) and a != W.probe_set(5, seed=4)
    assert len(a) == 5 and all(set(row) == {"orig", "nontopic", "casual", "rap", "counterfactual"} for row in a)
    c4 = W.probe_set(4, seed=3, analog="c4")
    assert all(set(row) == {"orig", "bio", "academic", "counterfactual"} for row in c4)
    assert all(isinstance(t, str) and t for row in a + c4 for t in row.values())
    with pytest.raises(ValueError, match="valid choices: 'pubmed', 'c4'"):
        W.probe_set(2, seed=0, analog="wiki")
    with pytest.raises(ValueError, match="positive int"):
        W.probe_set(0, seed=0)


@pytest.mark.parametrize("analog", ["pubmed", "c4"])
def test_every_variant_passes_the_validity_checks(world, analog):
    rows = W.probe_variants(world, world.probe_skeletons(60, 1, analog), analog)
    checks = W.validity(world, rows, analog)
    assert set(checks) == set(W.ANALOGS[analog]["variants"])
    for name, c in checks.items():
        assert c["same sentences"] == 1.0
        if name == "counterfactual":
            assert c["only objects differ"] == 1.0 and c["length ratio"] == 1.0
        if name in ("nontopic", "bio"):
            assert c["no source-topic word left"] == 1.0 and c["length ratio"] == 1.0


def test_validity_catches_a_variant_that_changes_more_than_its_factor(world):
    rows = W.probe_variants(world, world.probe_skeletons(10, 1), "pubmed")
    for row in rows:  # a "counterfactual" that also changes the style is not one
        row["counterfactual"] = world.variant(row["counterfactual"], "casual")
    assert W.validity(world, rows, "pubmed")["counterfactual"]["only objects differ"] == 0.0


def test_variants_change_one_factor_of_the_skeleton(world):
    sk = world.probe_skeletons(1, 2)[0]
    non = world.variant(sk, "nontopic")
    assert non.topic in W.GENERAL and non.style == sk.style and non.anchor == sk.anchor
    assert all(s.obj == world.kb[non.topic][s.entity, s.relation] for s in non.slots if s.kind == "fact")
    cf = world.variant(sk, "counterfactual")
    assert all(a.obj != b.obj for a, b in zip(sk.slots, cf.slots) if a.kind == "fact")
    assert world.variant(sk, "rap").slots == sk.slots and world.variant(sk, "rap").style == "rap"
    with pytest.raises(ValueError, match="changes the topic of a bio"):
        world.variant(sk, "bio")
    with pytest.raises(ValueError, match="valid choices"):
        world.variant(sk, "poem")


def test_pretraining_states_known_facts_only_and_finetuning_novel_ones_too(world):
    def novel(sks):
        return [sum(world.novel[s.entity, s.relation] for s in sk.slots if s.kind == "fact") for sk in sks
                if sk.topic == W.BIO]

    pt = world.pretraining_skeletons(3000, 0)
    assert sum(novel(pt)) == 0 and 0.02 < np.mean([sk.topic == W.BIO for sk in pt]) < 0.08
    assert np.mean([sk.style == "academic" for sk in pt]) == pytest.approx(0.1, abs=0.02)
    ft = world.finetuning_skeletons(1000, 0)
    assert all(sk.topic == W.BIO and sk.style == "academic" for sk in ft)
    assert np.mean(novel(ft)) == pytest.approx(SMALL.novel_per_doc, rel=0.15)
    assert all(any(s.kind == "fact" for s in sk.slots) for sk in pt + ft)


def test_oracle_is_the_generators_arithmetic(world):
    p = SMALL
    sks = world.probe_skeletons(40, 5)
    sk = next(s for s in sks if any(x.kind == "fact" and world.novel[x.entity, x.relation] for x in s.slots))
    o = world.oracle(sk)
    facts = [s for s in sk.slots if s.kind == "fact"]
    n_novel = sum(world.novel[s.entity, s.relation] for s in facts)
    true_p = 1 - p.eps + p.eps / p.objects
    assert o["topic"] == pytest.approx(-math.log(p.p_bio)) and o["style"] == pytest.approx(-math.log(0.1))
    assert o["facts"] == pytest.approx(n_novel * math.log(true_p * p.objects))
    assert o["factual_contrast"] == pytest.approx(n_novel * math.log(true_p / (p.eps / p.objects)))
    assert o["relations"] == math.inf  # pretraining never states a novel pair: p(relation) = 0
    w = p.novel_per_doc / (p.fact_share * np.mean(p.sentences))
    known = [s for s in facts if not world.novel[s.entity, s.relation] and world.novel[s.entity].any()]
    assert o["relations_known"] == pytest.approx(len(known) * math.log(1 - w))
    plain = next(s for s in sks if not any(x.kind == "fact" and world.novel[x.entity, x.relation] for x in s.slots))
    assert world.oracle(plain)["relations"] == world.oracle(plain)["relations_known"] < math.inf
    general = world.probe_skeletons(1, 5, "c4")[0]
    assert world.oracle(general)["topic"] == -math.inf and world.oracle(general)["factual_contrast"] == 0.0


def test_relation_log_ratio_is_the_two_samplers_choice(world):
    e = next(i for i in range(SMALL.entities) if 0 < world.novel[i].sum() < len(W.RELATIONS[W.BIO]))
    novel, known = np.flatnonzero(world.novel[e])[0], np.flatnonzero(~world.novel[e])[0]
    assert world.relation_log_ratio(e, novel) == math.inf
    # sampled: the fine-tuning data's share of this entity's facts at one known relation, against pretraining's
    rng = np.random.default_rng(0)
    n_known = int((~world.novel[e]).sum())
    picks = [world._relation(rng, W.BIO, e, "all", 6, 6) for _ in range(20_000)]
    q = np.mean(np.equal(picks, known))
    assert math.log(q * n_known) == pytest.approx(world.relation_log_ratio(e, known), abs=0.05)


def test_domain_skeletons_are_one_slice_of_the_pretraining_mix(world):
    sks = world.domain_skeletons(40, 0, "bio", "web")
    assert all(sk.topic == W.BIO and sk.style == "web" for sk in sks)
    assert not any(world.novel[s.entity, s.relation] for sk in sks for s in sk.slots if s.kind == "fact")
    general = world.domain_skeletons(8, 0, "general", "academic")
    assert [sk.topic for sk in general[:4]] == list(W.GENERAL) and {sk.style for sk in general} == {"academic"}
    assert sks == world.domain_skeletons(40, 0, "bio", "web") != world.domain_skeletons(40, 1, "bio", "web")
    with pytest.raises(ValueError, match="topic is 'bio' or 'general'"):
        world.domain_skeletons(2, 0, "cities", "web")


def test_novel_exposures_count_every_novel_pair_with_the_unseen_ones(world):
    ft = world.finetuning_skeletons(50, 0)
    counts = world.novel_exposures(ft)
    stated = sum(world.novel[s.entity, s.relation] for sk in ft for s in sk.slots if s.kind == "fact")
    assert len(counts) == world.novel.sum() and counts.sum() == stated and counts.min() >= 0
    assert world.novel_exposures(world.pretraining_skeletons(200, 0)).sum() == 0
    assert (world.novel_exposures(ft[:1]) == 0).sum() > 0  # one document leaves most pairs unseen


@pytest.mark.parametrize("preset", ["laptop", "paper"])
def test_one_epoch_states_every_novel_pair_often(preset):
    cfg = S.ZhangConfig.from_preset(preset)
    world = W.World(cfg.world_params)
    counts = world.novel_exposures(world.finetuning_skeletons(cfg.ft_docs, 0))
    assert counts.mean() >= 10 and counts.min() >= 3


def test_entropy_bound_counts_every_choice_of_a_two_slot_world():
    w = W.World(W.WorldParams(entities=2, objects=2, lexicon=3, sentences=(2, 2), fact_share=0.5, p_bio=0.5,
                              style_mix=(1.0, 0.0, 0.0, 0.0)))
    sk = next(s for s in w.pretraining_skeletons(50, 0)
              if s.topic != W.BIO and [x.kind for x in s.slots] == ["fill", "fact"] and s.slots[1].entity == s.anchor
              and s.slots[1].obj == w.kb[s.topic][s.anchor, s.slots[1].relation])
    # a general topic (0.5 / 4), web (1), two sentences (1), the anchor (1/2), opener and closer (334 or 333 of
    # 1,000 draws for three openers, 1/2); the kinds (fill, fact): 1/4 drawn plus 1/4 × 1/2 from a draw without a
    # fact; the filler: template (167 or 166 of 1,000 for six) and the lexicon words it shows (1/3 each); the
    # fact: template (1/4), the anchor again (0.7 + 0.3/2), a relation (1/6), the true object (0.95 + 0.05/2)
    shown = W.filler_words("web", sk.slots[0].template)
    opener = (334 if sk.opener % 3 == 0 else 333) / 1000
    filler = (167 if sk.slots[0].template % 6 < 4 else 166) / 1000
    expected = (math.log(0.5 / 4) - math.log(2) + math.log(opener) - math.log(2) + math.log(0.25 + 0.125)
                + math.log(filler) - shown * math.log(3) - math.log(4) + math.log(0.85) - math.log(6)
                + math.log(0.975))
    assert w.pretraining_log_prob(sk) == pytest.approx(expected)


def test_a_fillers_unshown_lexicon_draws_cost_nothing():
    """Two skeletons that differ only in a lexicon word their filler does not show render the same text, and the
    bound gives them its one probability: the filler is charged for the words it shows."""
    w = W.World(W.WorldParams(entities=2, objects=2, lexicon=3, sentences=(2, 2), fact_share=0.5, p_bio=0.5,
                              style_mix=(1.0, 0.0, 0.0, 0.0)))
    one_word = W.FILLERS["web"].index("many people ask about {L0} .")
    sk = next(s for s in w.pretraining_skeletons(400, 0) if s.topic != W.BIO and s.slots[0].kind == "fill"
              and s.slots[0].template % len(W.FILLERS["web"]) == one_word)
    other = dataclasses.replace(sk, slots=(dataclasses.replace(sk.slots[0], lexicon=(sk.slots[0].lexicon[0],
                                                                                    *(2 - x for x in sk.slots[0].lexicon[1:]))),
                                           *sk.slots[1:]))
    assert W.filler_words("web", sk.slots[0].template) == 1 and w.render(sk) == w.render(other)
    assert w.pretraining_log_prob(sk) == w.pretraining_log_prob(other)
    three = W.FILLERS["web"].index("see also {L0} , {L1} and {L2} .")
    shifted = dataclasses.replace(sk, slots=(dataclasses.replace(sk.slots[0], template=sk.slots[0].template - one_word
                                                                + three), *sk.slots[1:]))
    assert w.pretraining_log_prob(sk) - w.pretraining_log_prob(shifted) == pytest.approx(2 * math.log(3))


def test_a_templates_probability_is_its_share_of_the_draws():
    """A template is an integer below TEMPLATE_DRAWS taken modulo its table's length: its probability is its share
    of those integers, which is not 1/len when the length does not divide the draws."""
    for table in (W.OPENERS, W.CLOSERS, W.FACTS, W.FILLERS):
        for templates in table.values():
            draws = collections.Counter(i % len(templates) for i in range(W.TEMPLATE_DRAWS))
            probs = [math.exp(W._template_log_prob(templates, k)) for k in range(len(templates))]
            assert probs == pytest.approx([draws[k] / W.TEMPLATE_DRAWS for k in range(len(templates))], rel=1e-12)
    assert math.exp(W._template_log_prob(W.FILLERS["web"], 0)) != pytest.approx(1 / len(W.FILLERS["web"]), rel=1e-4)


def test_the_generators_log_probability_matches_the_texts_frequencies():
    """In a world small enough to see nearly every text (one slot, two entities, two objects), the frequency of
    each text over 40,000 draws matches exp(pretraining_log_prob) (a chi-square per text near 1), and the texts
    drawn carry nearly all the probability: the bound is the text's probability, not a derivation's."""
    w = W.World(W.WorldParams(entities=2, objects=2, lexicon=3, sentences=(1, 1), fact_share=0.5, p_bio=0.5,
                              style_mix=(1.0, 0.0, 0.0, 0.0)))
    n, seen, lp = 40_000, collections.Counter(), {}
    for sk in w.pretraining_skeletons(n, 0):
        text = w.render(sk)
        seen[text] += 1
        lp.setdefault(text, w.pretraining_log_prob(sk))
    assert 0.97 < sum(math.exp(v) for v in lp.values()) <= 1 + 1e-9
    expected = {x: n * math.exp(v) for x, v in lp.items() if n * math.exp(v) >= 20}
    chi2 = sum((seen[x] - e) ** 2 / e for x, e in expected.items()) / len(expected)
    assert len(expected) > 100 and chi2 < 1.5


def test_object_positions_point_at_the_objects(world):
    sk = world.probe_skeletons(1, 7)[0]
    words = world.render(sk).split(" ")
    objects = {w for objs in world.objects[W.BIO] for w in objs}
    positions = world.object_positions(sk)
    assert len(positions) == sum(s.kind == "fact" for s in sk.slots)
    assert all(words[i] in objects for i, _ in positions)


# ----------------------------------------------------------------------------- setting
def test_word_tokenizer_is_exact_on_the_world_and_refuses_other_words(world):
    tok = S.word_tokenizer(world.vocabulary())
    text = world.render(world.probe_skeletons(1, 0)[0])
    ids = S.encode(tok, [text], n_ctx=400)[0]
    assert ids[0] == S.BOS and len(ids) == len(text.split(" ")) + 1
    assert tok.decode(ids[1:].tolist()) == text
    with pytest.raises(ValueError, match="outside the world's vocabulary"):
        S.encode(tok, ["abstract : zzzq"], n_ctx=10)


def test_one_epoch_shows_every_document_once():
    docs = [np.array([0, i + 2]) for i in range(10)]
    sample = S.epoch_batches(docs, 4, np.random.default_rng(0))
    seen = torch.cat([sample(None)[:, 1] for _ in range(3)]).tolist()
    assert sorted(seen) == list(range(2, 12))
    assert sample(None).shape[0] == 4  # a new order after the epoch


def test_length_grouped_batches_draw_the_same_documents_and_pad_less():
    """Grouped by length, a group of batches serves exactly the documents drawn for it (uniformly, as without
    grouping), each once, and its batches pad to less than ungrouped batches do."""
    lengths = np.random.default_rng(1).integers(3, 40, size=200)
    docs = [np.full(n, 2 + i) for i, n in enumerate(lengths)]  # a document's id in its every token
    grouped, rng = S.random_batches(docs, 8, group=4), np.random.default_rng(0)
    batches = [grouped(rng) for _ in range(4)]
    drawn = np.random.default_rng(0).integers(0, len(docs), 32)
    assert sorted(b[i, 0].item() - 2 for b in batches for i in range(8)) == sorted(drawn.tolist())
    assert all(len({int(x) for x in row if x != S.PAD}) == 1 for b in batches for row in b)
    plain, rng2 = S.random_batches(docs, 8), np.random.default_rng(0)
    width = np.mean([grouped(rng).shape[1] for _ in range(200)])
    assert width < 0.8 * np.mean([plain(rng2).shape[1] for _ in range(200)])
    again, rng3 = S.random_batches(docs, 8, group=4), np.random.default_rng(0)
    assert all(torch.equal(b, again(rng3)) for b in batches)  # the same seed, the same batches


def test_padded_batches_mask_the_pads_in_the_loss():
    cfg = S.ZhangConfig.from_preset("smoke")
    model = S.build(cfg, 20, seed=0)
    short, long = np.array([0, 5, 6]), np.array([0, 5, 6, 7, 8, 9])
    both = S.lm_loss(model, S.pad([short, long]))
    with torch.no_grad():
        alone = sum(torch.nn.functional.cross_entropy(model(input_ids=torch.from_numpy(d[None, :-1])).logits[0],
                                                      torch.from_numpy(d[1:]), reduction="sum") for d in (short, long))
    assert both.item() == pytest.approx(alone.item() / 7, rel=1e-5)


def test_config_checks_names_and_shapes():
    with pytest.raises(ConfigError, match="valid choices"):
        S.ZhangConfig.from_preset("laptop", dropout=0.1)
    with pytest.raises(ConfigError, match="multiple of n_head"):
        S.ZhangConfig.from_preset("smoke", n_embd=30, n_head=4)
    with pytest.raises(ConfigError, match="style_mix|p_academic"):
        S.ZhangConfig.from_preset("smoke", p_academic=1.0)
    cfg = S.ZhangConfig.from_preset("laptop", p_academic=0.2)
    assert cfg.world_params.p_style["academic"] == 0.2 and sum(cfg.world_params.style_mix) == pytest.approx(1)
    assert cfg.ft_steps == -(-cfg.ft_docs // cfg.ft_batch) and S.early_step(cfg) in S.snapshot_steps(cfg)


def test_linear_schedule_is_hfs():
    cfg = OptimConfig(schedule="linear", warmup=0.1, final_lr_ratio=0.0)
    lrs = [lr_multiplier(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.5) and lrs[99] == pytest.approx(1 / 90) and np.all(np.diff(lrs[10:]) < 0)


def test_the_grid_goes_past_an_edge_until_it_brackets_the_best():
    assert S.next_rate({1e-4: 3.0, 3e-4: 2.0, 1e-3: 1.0}, (1e-4, 3e-4, 1e-3), 2) == 3e-3
    assert S.next_rate({1e-4: 3.0, 3e-4: 2.0, 1e-3: 1.0, 3e-3: 0.9}, (1e-4, 3e-4, 1e-3), 2) == 1e-2
    assert S.next_rate({1e-4: 3.0, 3e-4: 2.0, 1e-3: 1.0, 3e-3: 0.9, 1e-2: 0.8}, (1e-4, 3e-4, 1e-3), 2) is None
    assert S.next_rate({1e-4: 1.0, 3e-4: 2.0, 1e-3: 3.0}, (1e-4, 3e-4, 1e-3), 2) == 3e-5
    assert S.next_rate({3e-5: 1.5, 1e-4: 1.0, 3e-4: 2.0}, (1e-4, 3e-4), 2) is None  # bracketed
    assert S.next_rate({2e-4: 1.0, 4e-4: 2.0}, (2e-4, 4e-4), 1) == 1e-4  # off the series: the grid's ratio
    assert S.bracketed({1e-4: 2.0, 3e-4: 1.0, 1e-3: float("nan")})  # a diverged rate is worse
    assert not S.bracketed({1e-4: 2.0, 3e-4: 1.0}) and not S.bracketed({1e-4: 2.0, 3e-4: 1.5, 1e-3: 1.0})


def test_choose_lr_takes_the_lowest_finite_validation_loss():
    assert S.choose_lr({1e-4: 2.0, 1e-3: 1.5, 3e-3: float("nan")}) == 1e-3
    with pytest.raises(ValueError, match="diverged"):
        S.choose_lr({1e-3: float("nan")})


# ----------------------------------------------------------------------------- decomposition
def _scores(changes: dict, n_docs=40, length=20, seed=0):
    """Base and fine-tuned scores whose per-token change is ``changes[variant]`` on every token."""
    rng = np.random.default_rng(seed)
    base = {v: [rng.random(length) + 1 for _ in range(n_docs)] for v in changes}
    ft = {v: [b - changes[v] for b in base[v]] for v in changes}
    return D.Scores(base), D.Scores(ft)


def test_components_are_the_contrasts_per_token_and_per_document():
    changes = {"orig": 1.0, "nontopic": -0.5, "casual": 0.2, "rap": 0.4, "counterfactual": 0.9}
    base, ft = _scores(changes)
    dec = D.components(base, ft, "pubmed", n_boot=20)
    tok = dec.values["token"]
    assert tok["total"] == pytest.approx(1.0) and tok["topic"] == pytest.approx(1.5)
    assert tok["style"] == pytest.approx(0.7) and tok["factual"] == pytest.approx(0.1)
    assert tok["topic (facts kept)"] == pytest.approx(1.4)
    assert tok["residual"] == pytest.approx(1.0 - 1.5 - 0.7 - 0.1)
    assert dec.values["doc"]["topic"] == pytest.approx(30.0) and dec.ratios["doc"]["factual"] == pytest.approx(0.1)
    lo, hi = dec.ci["token"]["topic"]
    assert lo == pytest.approx(1.5) and hi == pytest.approx(1.5)  # every skeleton the same: no spread


def test_c4_components_and_forgetting_signs():
    base, ft = _scores({"orig": -0.3, "bio": 0.1, "academic": -0.1, "counterfactual": -0.29})
    tok = D.components(base, ft, "c4", n_boot=5).values["token"]
    assert tok["total"] == pytest.approx(-0.3) and tok["topic"] == pytest.approx(-0.4)
    assert tok["style"] == pytest.approx(-0.2) and tok["factual"] == pytest.approx(-0.01)


def test_position_tenths_sum_to_the_per_document_component():
    rng = np.random.default_rng(1)
    variants = ("orig", "nontopic", "casual", "rap", "counterfactual")
    base = D.Scores({v: [rng.random(int(rng.integers(15, 40))) + 2 for _ in range(30)] for v in variants})
    ft = D.Scores({v: [b - rng.random(len(b)) for b in base.nll[v]] for v in variants})
    prof = D.position_profile(base, ft, "pubmed")
    dec = D.components(base, ft, "pubmed", n_boot=0)
    for name in ("topic", "style", "factual"):
        assert prof["by_decile"][name].sum() == pytest.approx(dec.values["doc"][name], rel=1e-6)
    front = np.zeros(20)
    front[:4] = 1.0
    base = D.Scores({v: [np.full(20, 2.0)] for v in variants})
    ft = D.Scores({v: [np.full(20, 2.0) - (front if v == "orig" else 0)] for v in variants})
    assert D.start_share(D.position_profile(base, ft, "pubmed"), "topic", 2) == pytest.approx(1.0)


def test_object_contrasts_read_the_objects_and_the_oracle(world):
    from ftscope.zhang.setting import word_tokenizer

    tok = word_tokenizer(world.vocabulary())
    probe = D.probes(world, tok, 12, 0, "pubmed", n_ctx=400)
    base = D.Scores({v: [np.full(len(ids) - 1, 3.0) for ids in probe.ids[v]] for v in probe.variants})
    ft_nll = {v: [x.copy() for x in base.nll[v]] for v in probe.variants}
    for i, row in enumerate(probe.rows):  # the fine-tuned model learned every novel object: 2 nats better
        for pos, novel in world.object_positions(row["orig"]):
            ft_nll["orig"][i][pos] -= 2.0 if novel else 0.0
    out = D.object_contrasts(world, probe, base, D.Scores(ft_nll))
    assert out["novel"]["mean"] == pytest.approx(2.0) and out["known"]["mean"] == pytest.approx(0.0)
    p = world.params
    assert out["novel"]["oracle"] == pytest.approx(math.log((1 - p.eps + p.eps / p.objects) / (p.eps / p.objects)))


def test_gpt2_flops_count_the_matmuls_the_unembedding_and_the_attention():
    from ftscope.zhang.bench import gpt2_flops_per_token

    cfg = S.ZhangConfig.from_preset("smoke", n_layer=2)
    model = S.build(cfg, 50, seed=0)
    d = cfg.n_embd
    assert gpt2_flops_per_token(model) == 6 * (2 * 12 * d * d + d * 50) + 12 * 2 * cfg.n_ctx * d


def test_the_repositorys_loss_is_a_mean_of_batch_means():
    nll = [np.array([1.0, 1.0]), np.array([3.0]), np.array([5.0, 5.0, 5.0])]
    assert D.repo_loss(nll, batch=2) == pytest.approx(((1 + 1 + 3) / 3 + 5) / 2)
    base, ft = D.Scores({"orig": nll}), D.Scores({"orig": [x - 1 for x in nll]})
    table = D.split_losses(base, ft)["orig"]
    assert table["base, pooled (nats/token)"] == pytest.approx(20 / 6)
    assert table["fine-tuned, per document (nats)"] == pytest.approx((0 + 2 + 12) / 3)


def test_the_pubmed_analog_comes_in_every_size_as_a_prefix_of_the_largest(world):
    big = world.finetuning_skeletons(max(S.FT_SIZES), seed=0)
    for n in S.FT_SIZES:
        assert world.finetuning_skeletons(n, seed=0) == big[:n]


def test_the_validation_splits_are_held_out():
    cfg = S.ZhangConfig.from_preset("smoke")
    setting = S.load_setting(cfg, seed=0)
    seen = {tuple(d) for d in setting.pretrain + setting.finetune}
    assert len(setting.val_pt) == len(setting.val) == cfg.val_docs
    assert not any(tuple(d) in seen for d in setting.val_pt + setting.val)


def test_start_readings_tell_a_front_loaded_change_from_a_uniform_one():
    variants = ("orig", "nontopic", "casual", "rap", "counterfactual")
    front = np.zeros(20)
    front[:4] = 1.0
    base = D.Scores({v: [np.full(20, 2.0) for _ in range(6)] for v in variants})
    for gain, share, excess in ((front, 1.0, 1.0), (np.full(20, 0.1), 0.2, 0.0)):
        ft = D.Scores({v: [x - (gain if v == "orig" else 0) for x in base.nll[v]] for v in variants})
        r = D.start_readings(base, ft, "pubmed", 2, n_boot=20)
        assert r["topic"]["share"] == pytest.approx(share) and r["topic"]["excess"] == pytest.approx(excess, abs=1e-9)
        assert r["style"]["share"] == pytest.approx(share) and r["topic"]["share_ci"][0] == pytest.approx(share)


def test_domain_gate_scores_each_slice_against_its_bound():
    from ftscope.zhang import analyses as za

    cfg = S.ZhangConfig.from_preset("smoke")
    setting = S.load_setting(cfg, seed=0)
    gate = za.domain_gate(cfg, setting, S.build(cfg, setting.vocab_size, seed=0))
    assert list(gate.index) == [*za.GATE_SLICES, za.MIX]
    assert np.allclose(gate["gap"], gate["loss"] - gate["bound"]) and (gate["documents"] > 0).all()
    assert (gate["gap"] > 1).all()  # an untrained model is far from the generator everywhere
    # the objects are a part of the gap: an untrained model misses there and at every other word too
    assert (gate["gap at objects"] > 0).all() and (gate["gap at objects"] < gate["gap"]).all()
    assert np.isfinite(gate["bound"]).all() and (gate["bound"] > 0).all()


def test_base_claims_gate_on_the_mix_and_on_the_worst_slice(monkeypatch):
    import pandas as pd

    from ftscope.book import Chapter
    from ftscope.zhang import claims as zc

    monkeypatch.setattr(Chapter, "glue", lambda self, name, value, display=False: value)
    gate = pd.DataFrame({"bound": [1.0] * 4, "loss": [1.01, 1.2, 1.02, 1.1], "gap": [0.01, 0.2, 0.02, 0.1]},
                        index=["bio × academic", "bio × web", "general × academic", "pretraining mix"])
    ch = Chapter("06_x", S.ZhangConfig, preset="smoke", device="cpu", seed=0)
    ids = zc.base_claims(ch, gate, prefix="zz")
    assert ids == ["zz_base_converged", "zz_base_knows_domain"]
    conv, dom = ch.claims
    assert conv.kind == dom.kind == "precondition" and conv.ours == pytest.approx(0.1) and conv.verdict == "reproduced"
    assert dom.ours == pytest.approx(0.2) and dom.verdict == "not reproduced" and "bio × web" in dom.note


def test_a_straddled_bound_is_named():
    from ftscope.zhang.claims import straddles

    assert straddles([(0.6, 0.7), (0.55, 0.9)], 0.5, "the share") == ""
    assert "seed(s) 1" in straddles([(0.6, 0.7), (0.4, 0.9)], 0.5, "the share")


def test_pair_contrasts_read_the_fact_sentences_but_their_objects(world):
    from ftscope.zhang.setting import word_tokenizer

    tok = word_tokenizer(world.vocabulary())
    probe = D.probes(world, tok, 12, 0, "pubmed", n_ctx=400)
    base = D.Scores({v: [np.full(len(ids) - 1, 3.0) for ids in probe.ids[v]] for v in probe.variants})
    ft_nll = {v: [x.copy() for x in base.nll[v]] for v in probe.variants}
    for i, row in enumerate(probe.rows):  # every word of a novel pair's sentence 1 nat better, its object 5
        for start, stop, obj, novel in world.fact_spans(row["orig"]):
            assert row["orig"] is not None and start <= obj < stop
            if novel:
                ft_nll["orig"][i][start:stop] -= 1.0
                ft_nll["orig"][i][obj] -= 4.0
    out = D.pair_contrasts(world, probe, base, D.Scores(ft_nll))
    spans = [s for row in probe.rows for s in world.fact_spans(row["orig"])]
    lengths = [stop - start - 1 for start, stop, _, novel in spans if novel]
    assert out["novel"]["mean"] == pytest.approx(np.mean(lengths)) and out["known"]["mean"] == 0.0
    assert [o for _, _, o, _ in spans] == [i for row in probe.rows for i, _ in world.object_positions(row["orig"])]
