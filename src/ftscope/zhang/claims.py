"""Zhang & Wu's criteria and chapter 06's claims.

The paper states directions, not numbers (no share or curve value was found in any source), so each
criterion turns a sentence of the paper into a test, and every claim has ``paper_value`` None. The
criteria were fixed before the first ``laptop`` run of the chapter, after one pilot run (one seed, three
learning rates) had shown the measurement works; a later change is listed with the old rule and why
in the book's criteria changelog, never to make a claim pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ftscope.book.claims import Criterion, at_least, at_most

PAPER = "zhang2024"

#: "only contributes to a small fraction of the total probability change" (abstract): at most a fifth
FACTUAL_SMALL = 0.2
#: "topic and style ≫ factual": the factual share at most a third of the topic and style shares together
DOMINATE = 1 / 3
#: "their change sits mostly at the beginning of a text": more than half of the component ("mostly") in
#: the first START_TENTHS tenths of the document ("the beginning")
START_TENTHS = 2
START_SHARE = 0.5
#: "learned rapidly" / "stably but slowly": by a quarter of the epoch (``setting.EARLY``) a rapid feature
#: has at least three quarters of its final value, a slow one at most half
FAST = 0.75
SLOW = 0.5
#: fine-tuning lowers the likelihood of general text mostly through the priors: more than half of the loss
MOSTLY = 0.5
#: beyond the paper: "a small fraction" of the facts learned, against the oracle's log-ratio of a novel fact
REALISED_SMALL = 0.25
#: chapter 07, independence: a bias learned alone is within this share of the same bias learned with the other
INDEPENDENT = 0.25
#: the base is scored only if its validation loss on the pretraining mix is within this many nats per token of
#: the generator's entropy bound (``World.pretraining_log_prob``): it models its own world nearly as well as
#: the generator allows, so what fine-tuning changes is not pretraining left undone
CONVERGED_GAP = 0.25

BASIS = {
    "factual_small": "abstract: learning factual knowledge 'only contributes to a small fraction of the total "
                     f"probability change'; a small fraction read as at most {FACTUAL_SMALL:g}",
    "dominate": "abstract: fine-tuning shifts topic and style priors substantially, facts a small fraction; "
                f"'≫' read as the factual share at most {DOMINATE:.2g} of the topic and style shares together",
    "start": "abstract: the topic and style change 'sits mostly at the beginning of a text'; 'mostly' read as more "
             f"than {START_SHARE:g} of the component, 'the beginning' as the first {START_TENTHS} tenths",
    "fast": "abstract: topic and style are learned rapidly, like simple features; read as at least "
            f"{FAST:g} of the final value after a quarter of the epoch",
    "slow": "abstract: factual knowledge is learned 'stably but slowly'; read as at most "
            f"{SLOW:g} of the final value after a quarter of the epoch",
    "forgetting": "Sec. 3 / Fig. 4 (C4): fine-tuning on PubMed lowers the likelihood of general text; the "
                  "upper end of the 95% bootstrap interval below 0",
    "forgetting_priors": "the forgetting on C4 is mostly a shift of the topic and style priors; 'mostly' read as "
                         f"the topic and style components together more than {MOSTLY:g} of the loss",
    "rank1": "abstract; Sec. 3 (Fig. 6): topic and style 'need little capacity', low rank being enough; 'most of' "
             f"read as more than {MOSTLY:g} of full fine-tuning's component at the smallest rank",
    "rank_facts": "abstract; Sec. 3 (Fig. 6): factual knowledge 'needs substantial capacity'; read as the factual "
                  "share of the total higher with all the weights than with the smallest rank",
    "saturate": "data-size experiment: topic and style saturate with little data; read as at least "
                f"{FAST:g} of the value at the largest size already at the next smaller one (the fast reading of "
                "the dynamics claims, on data instead of steps)",
    "rises": "abstract / data-size experiment: factual knowledge is learned slowly and keeps rising with data; "
             f"read as at most {SLOW:g} of the value at the largest size at the next smaller one",
    "independent": "Sec. 3: 'the topic and style biases are learned independently'; read as the bias learned "
                   f"alone (the other factor unchanged) within {INDEPENDENT:g} of the same bias learned together",
    "mixing": "Sec. 3: mixing unbiased data reduces the biases only 'to a certain degree'; read as the topic and "
              f"style components together reduced (below 1 of the unmixed) but by less than half (at least "
              f"{MOSTLY:g}) at the largest replay fraction",
    "real_start": "abstract: the change 'sits mostly at the beginning of a text', on real abstracts: more than "
                  f"{START_SHARE:g} of each abstract's change in its first {START_TENTHS} tenths",
    "real_forgetting": "Sec. 3 / Fig. 4: fine-tuning on PubMed lowers the likelihood of general text; read as the "
                       "English validation loss higher after fine-tuning on every seed",
    "realised": "beyond the paper (the oracle): if facts are slow, one epoch realises little of what the data "
                f"supports; 'little' read as at most {REALISED_SMALL:g} of the oracle's log-ratio of a novel fact",
}


def record_claims(ch, *, converged: bool, gap: float, pub, c4, position: Mapping, dynamics: Mapping,
                  oracle: Mapping, lr: float) -> None:
    """Chapter 06's claims, one value per fine-tuning seed. ``pub``, ``c4``: each seed's
    ``decompose.Decomposition``; ``position``, ``dynamics``, ``oracle``: the facts of ``analyses``."""
    n = len(pub)
    seeds_note = f"{n} fine-tuning seeds (data order) of one base model, at the grid's learning rate {lr:g}"
    not_conv = "" if converged else (f"the base model is {gap:.3f} nats per token above the generator's entropy "
                                     f"bound (level: {CONVERGED_GAP})")

    def claim(**kw):
        ch.claim(paper=PAPER, paper_value=None, inconclusive=kw.pop("inconclusive", "") or not_conv, **kw)

    tok = [d.ratios["token"] for d in pub]
    claim(id="zhang_factual_small", reference="abstract; Sec. 3",
          statement="Factual knowledge is a small fraction of the total change of log-likelihood on the domain "
                    "(PubMed analog, per token)",
          ours=[r["factual"] for r in tok], criterion=at_most(FACTUAL_SMALL), basis=BASIS["factual_small"],
          note=f"per document: {np.mean([d.ratios['doc']['factual'] for d in pub]):.3f}; {seeds_note}")
    claim(id="zhang_topic_style_dominate", reference="abstract; Sec. 3",
          statement="Topic and style shifts dominate the change: the factual share is far below the topic and "
                    "style shares together",
          ours=[r["factual"] / (r["topic"] + r["style"]) for r in tok], criterion=at_most(DOMINATE),
          basis=BASIS["dominate"],
          note=f"topic share {np.mean([r['topic'] for r in tok]):.2f}, style {np.mean([r['style'] for r in tok]):.2f}, "
               f"factual {np.mean([r['factual'] for r in tok]):.3f} (contrasts overlap: the shares need not sum to 1)")
    for name in ("topic", "style"):
        claim(id=f"zhang_position_{name}_start", reference="abstract; position analysis",
              statement=f"The {name} change sits mostly at the beginning of the text",
              ours=position[f"start_{name}_seeds"], criterion=at_least(START_SHARE), basis=BASIS["start"],
              note=f"share of the per-document {name} component in the first {START_TENTHS} tenths; the factual "
                   f"component's: {position['start_factual']:.2f}. Per token the change does peak at the start: the "
                   f"original's first token gains {position['first_token_change']:.2f} nats, the tokens from the "
                   f"eleventh on {position['later_token_change']:.2f} each")
    for name, crit, basis in (("topic", at_least(FAST), "fast"), ("style", at_least(FAST), "fast"),
                              ("factual", at_most(SLOW), "slow")):
        why = ""
        if name == "factual" and any(d.ci["token"]["factual"][0] <= 0 for d in pub):
            why = "the factual component's 95% interval includes 0 on some seed: there is no factual change to time"
        claim(id=f"zhang_dynamics_{name}_{'fast' if basis == 'fast' else 'slow'}", reference="abstract; dynamics",
              statement=f"The {name} component is learned {'rapidly' if basis == 'fast' else 'slowly'} "
                        "(its share of the final value after a quarter of the epoch)",
              ours=dynamics[f"early_{name}_seeds"], criterion=crit, basis=BASIS[basis], inconclusive=why,
              note=f"step {dynamics['early_step']} of {dynamics['ft_steps_total']}; per token, on the dynamics probes")
    claim(id="zhang_forgetting_c4", reference="Sec. 3; Fig. 4",
          statement="Fine-tuning lowers the likelihood of general text (C4 analog)",
          ours=[d.ci["token"]["total"][1] for d in c4], criterion=Criterion("below", (0.0,)),
          basis=BASIS["forgetting"],
          note=f"upper end of the 95% interval of R(C4) per token; the change itself "
               f"{np.mean([d.values['token']['total'] for d in c4]):.3f}")
    claim(id="zhang_forgetting_priors", reference="Sec. 3; Fig. 4",
          statement="The loss on general text is mostly the topic and style priors",
          ours=[d.ratios["token"]["topic"] + d.ratios["token"]["style"] for d in c4], criterion=at_least(MOSTLY),
          basis=BASIS["forgetting_priors"],
          note=f"factual share on C4: {np.mean([d.ratios['token']['factual'] for d in c4]):.3f}")
    realised = oracle["novel_realised_seeds"]
    claim(id="zhang_oracle_facts_unlearned", reference="beyond the paper (oracle)",
          statement="The factual component is small because one epoch learns little of the facts, not because the "
                    "data holds little: the model realises a small part of a novel fact's true log-ratio",
          ours=realised, criterion=at_most(REALISED_SMALL), basis=BASIS["realised"], kind="hypothesis",
          note=f"contrast at the object of a novel fact {oracle['novel_fact_contrast']:.2f} nats against the "
               f"oracle's {oracle['oracle_novel_fact']:.2f}; known facts {oracle['known_fact_contrast']:.2f} (oracle 0)")


def record_arms_claims(ch, *, converged: bool, gap: float, scores, cfg, real: Mapping, plateaued: bool) -> None:
    """Chapter 07's claims, one value per fine-tuning seed: the arms' (``arms.score_arms``'s frame) and the real
    abstracts' (``realtext.facts``). ``plateaued``: whether Part III's base had stopped improving
    (``realtext.PLATEAU``)."""
    from ftscope.zhang.arms import FULL, PAIRS, level_values, ratios

    not_conv = "" if converged else (f"the base model is {gap:.3f} nats per token above the generator's entropy "
                                     f"bound (level: {CONVERGED_GAP})")

    def claim(**kw):
        ch.claim(paper=PAPER, paper_value=None, inconclusive=kw.pop("inconclusive", "") or not_conv, **kw)

    def ratio(arm, num, den, col):
        return ratios(scores, arm, num, den, col)

    def no_facts(arm, level) -> str:
        lo = level_values(scores, arm, level, "factual lo")
        if any(x <= 0 for x in lo):
            return (f"the factual component at {level} is not above 0 on every seed (its 95% interval reaches 0 or "
                    "lies below it): there is no factual gain to compare")
        return ""

    r1 = min(cfg.ranks)
    for c in ("topic", "style"):
        claim(id=f"zhang_capacity_rank{r1}_{c}", reference="Sec. 3; Fig. 6",
              statement=f"A rank-{r1} LoRA adapter learns most of the {c} change that full fine-tuning learns",
              ours=ratio("capacity", r1, FULL, c), criterion=at_least(MOSTLY), basis=BASIS["rank1"],
              note=f"rank {r1}'s {c} component over full fine-tuning's (per token); LoRA at the learning rate "
                   "chosen on the validation split")
    full_share = level_values(scores, "capacity", FULL, "factual share")
    claim(id="zhang_capacity_factual_grows", reference="Sec. 3; Fig. 6",
          statement="Factual knowledge needs capacity: its share of the change is larger with all the weights "
                    f"than with a rank-{r1} adapter",
          ours=[a - b for a, b in zip(full_share, level_values(scores, "capacity", r1, "factual share"))],
          criterion=Criterion("above", (0.0,)), basis=BASIS["rank_facts"], inconclusive=no_facts("capacity", FULL),
          note=f"factual share with all the weights minus at rank {r1}; full: {np.mean(full_share):.3f}")
    big, mid = cfg.sizes[-1], cfg.sizes[-2]
    for c in ("topic", "style"):
        claim(id=f"zhang_data_{c}_saturates", reference="data-size experiment",
              statement=f"The {c} component saturates with little fine-tuning data",
              ours=ratio("data", mid, big, c), criterion=at_least(FAST), basis=BASIS["saturate"],
              note=f"the {c} component with {mid:,} documents over that with {big:,} (one epoch each)")
    claim(id="zhang_data_factual_rises", reference="data-size experiment",
          statement="The factual component keeps rising with the size of the fine-tuning data",
          ours=ratio("data", mid, big, "factual"), criterion=at_most(SLOW), basis=BASIS["rises"],
          inconclusive=no_facts("data", big),
          note=f"the factual component with {mid:,} documents over that with {big:,}")
    alone = {"topic": PAIRS[1], "style": PAIRS[2]}
    for c, pair in alone.items():
        claim(id=f"zhang_independence_{c}", reference="Sec. 3 (independence)",
              statement=f"The {c} bias is learned independently of the {'style' if c == 'topic' else 'topic'}: "
                        f"fine-tuning on {' × '.join(pair)} learns the same {c} bias as on bio × academic",
              ours=ratio("independence", pair, PAIRS[0], c),
              criterion=Criterion("between", (1 - INDEPENDENT, 1 + INDEPENDENT)), basis=BASIS["independent"],
              note=f"the {c} component of the {' × '.join(pair)} run over the bio × academic run's")
    fmax = max(cfg.mixes)
    both = [t + s for t, s in zip(level_values(scores, "mixing", fmax, "topic"),
                                  level_values(scores, "mixing", fmax, "style"))]
    both0 = [t + s for t, s in zip(level_values(scores, "mixing", 0.0, "topic"),
                                   level_values(scores, "mixing", 0.0, "style"))]
    claim(id="zhang_mixing_partial", reference="Sec. 3 (data mixing)",
          statement="Mixing unbiased (pretraining) data into fine-tuning reduces the topic and style biases only "
                    "partly",
          ours=[a / b for a, b in zip(both, both0)], criterion=Criterion("between", (MOSTLY, 1.0)),
          basis=BASIS["mixing"],
          note=f"topic + style with a replay fraction of {fmax:g} over without; the C4 analog's change "
               f"{np.mean(level_values(scores, 'mixing', fmax, 'C4 total')):.3f} against "
               f"{np.mean(level_values(scores, 'mixing', 0.0, 'C4 total')):.3f} without replay")
    why_real = "" if plateaued else (f"Part III's base was still improving: its training loss fell by "
                                     f"{real['base_plateau']:.1%} over its last tenth (plateau level "
                                     f"{real['plateau_level']:.0%})")
    ch.claim(paper=PAPER, paper_value=None, id="zhang_real_start", reference="abstract; position analysis",
             statement="On real PubMed abstracts the change of fine-tuning sits mostly at the beginning of the text",
             ours=real["start_seeds"], criterion=at_least(START_SHARE), basis=BASIS["real_start"],
             inconclusive=why_real,
             note=f"share of each held-out abstract's change in its first {START_TENTHS} tenths (its first "
                  f"{real['n_ctx']} tokens); the first token gains {real['first_token']:.2f} nats, tokens from the "
                  f"eleventh on {real['later_tokens']:.2f} each")
    ch.claim(paper=PAPER, paper_value=None, id="zhang_real_forgetting", reference="Sec. 3; Fig. 4",
             statement="Fine-tuning on real PubMed abstracts raises the loss on general English",
             ours=real["forget_seeds"], criterion=Criterion("above", (0.0,)), basis=BASIS["real_forgetting"],
             inconclusive=why_real,
             note=f"English validation loss after minus before, nats per token; held-out abstracts gain "
                  f"{real['learn']:.3f}")


def converged(val_pt: float, bound: float) -> tuple[bool, float]:
    gap = val_pt - bound
    return bool(math.isfinite(gap) and gap <= CONVERGED_GAP), float(gap)

