"""Zhang & Wu's criteria and chapter 06's claims.

The paper states directions, not numbers (no share or curve value was found in any source), so each
criterion turns a sentence of the paper into a test, and every claim has ``paper_value`` None. The
criteria were fixed before the first ``laptop`` run of the chapter, after one pilot run (one seed, three
learning rates) had shown the measurement works; a later change is listed with the old rule and why
in the book's criteria changelog, never to make a claim pass.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ftscope.book.claims import Criterion, at_least, at_most, is_true

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
#: "most of" (chapter 07's capacity and mixing readings): more than half
MOSTLY = 0.5
#: a component still rising at the end of the epoch: it grew by more than a tenth of its final value over the
#: last interval between snapshots. The dynamics criteria read shares of the final value a quarter apart (FAST
#: 0.75, SLOW 0.5); a final value still moving by more than a tenth is no reference at that resolution
RISING = 0.1
#: beyond the paper: "a small fraction" of the facts learned, against the oracle's log-ratio of a novel fact
REALISED_SMALL = 0.25
#: chapter 07, independence: a bias learned alone is within this share of the same bias learned with the other
INDEPENDENT = 0.25
#: chapter 07, capacity: a run trained for several epochs is converged when its validation loss fell by less than
#: this share over its last epoch (one more epoch would change its components by little)
CONVERGED_EPOCH = 0.01
#: the base is scored only if its validation loss on the pretraining mix is within this many nats per token of
#: the generator's entropy bound (``World.pretraining_log_prob``): it models its own world nearly as well as
#: the generator allows, so what fine-tuning changes is not pretraining left undone
CONVERGED_GAP = 0.25
#: the base knows the domain if, on held-out pretraining documents of each slice of ``analyses.GATE_SLICES``,
#: its loss is within this many nats per token of the generator's bound. A fine-tuning document's factual
#: information is its novel facts' gain over a uniform guess: ``novel_per_doc`` (2) × log((1 - ε + ε/|O|)|O|)
#: (3.64 nats at ε 0.05, |O| 40) = 7.3 nats over a bio × academic document's 74 tokens, 0.098 per token. The
#: domain left unlearned by pretraining (which fine-tuning would finish, booked under topic and style) is then
#: less per document than all of the document's factual information
DOMAIN_GAP = 0.098

BASIS = {
    "factual_small": "abstract: learning factual knowledge 'only contributes to a small fraction of the total "
                     f"probability change'; a small fraction read as at most {FACTUAL_SMALL:g}",
    "dominate": "abstract: fine-tuning shifts topic and style priors substantially, facts a small fraction; "
                f"'≫' read as the factual share at most {DOMINATE:.2g} of the topic and style shares together",
    "start": "abstract: the topic and style change 'sits mostly at the beginning of a text'; 'mostly' read as more "
             f"than {START_SHARE:g} of the per-document component, 'the beginning' as the first {START_TENTHS} "
             "tenths; inconclusive where a seed's 95% interval holds the bound",
    "fast": "abstract: topic and style are learned rapidly, like simple features; read as at least "
            f"{FAST:g} of the final value after a quarter of the epoch",
    "slow": "abstract: factual knowledge is learned 'stably but slowly'; read as at most "
            f"{SLOW:g} of the final value after a quarter of the epoch",
    "forgetting": "Sec. 3 / Fig. 4 (C4): fine-tuning on PubMed lowers the likelihood of general text; the "
                  "upper end of the 95% bootstrap interval below 0",
    "forgetting_factual": "Sec. 3 / Fig. 4 (the C4-factuals and C4-counterfactual curves) and the abstract's 'small "
                          "fraction': the factual component of the loss on general text read as the domain's, at "
                          f"most {FACTUAL_SMALL:g} of it",
    "dominate_rewrite": "Sec. 3: the style component is measured with the casual and with the rap rewrite; the "
                        f"dominance reading ({DOMINATE:.2g}) holds with each rewrite alone, not only with their mean",
    "start_token": "abstract: the change 'sits mostly at the beginning of a text', read per token (the paper's "
                   "losses are per token): the component per token in the first "
                   f"{START_TENTHS} tenths above the component per token in the rest, the 95% interval above 0",
    "factual_learned": "abstract: factual knowledge is learned 'stably but slowly': a factual share is read only "
                       "where facts were learned at all, the factual component's 95% interval above 0 on every seed",
    "bracketed": "Sec. 3: 'learning rates are selected ... using a grid search on a validation set': a grid whose "
                 "best rate is at its edge has not found the optimum; the grid is extended past that edge (two "
                 "rates at most) and the best must have a rate on each side",
    "rank1": "abstract; Sec. 3 (Fig. 6): topic and style 'need little capacity', low rank being enough; 'most of' "
             f"read as more than {MOSTLY:g} of full fine-tuning's component at the smallest rank, both trained to "
             f"convergence (the validation loss fell by less than {CONVERGED_EPOCH:.0%} over the last epoch) at "
             "their own grid's rate, so that the ratio measures capacity, not speed",
    "rank_facts": "abstract; Sec. 3 (Fig. 6): factual knowledge 'needs substantial capacity'; read as the factual "
                  "share of the total higher with all the weights than with the smallest rank, both converged",
    "shares_reduce": "Sec. 3, side note on Fig. 6: 'when capacity is limited, the topic ratio and factual ratio "
                     "simultaneously reduce on Pubmed'; read as the topic share and the factual share of the total "
                     "both lower at the smallest rank than with all the weights (the smaller difference above 0), both "
                     "converged",
    "saturate": "data-size experiment: topic and style saturate with little data; read as at least "
                f"{FAST:g} of the value at the largest size already at the next smaller one (the fast reading of "
                "the dynamics claims, on data instead of steps); inconclusive while the component at the largest "
                f"size still grew by more than {RISING:.0%} of its final value over that run's last interval between "
                "log-spaced snapshots (the dynamics' rule): in a one-epoch protocol a larger set is also more steps, "
                "and a run still learning the bias is no saturated reference",
    "rises": "abstract / data-size experiment: factual knowledge is learned slowly and keeps rising with data; "
             f"read as at most {SLOW:g} of the value at the largest size at the next smaller one",
    "independent": "Sec. 3: 'the topic and style biases are learned independently'; read as the bias learned "
                   f"alone (the other factor unchanged) within {INDEPENDENT:g} of the same bias learned together",
    "mixing_reduces": "Sec. 3: mixing unbiased data into fine-tuning reduces the biases ('to a certain degree'); "
                      "read as the topic and style components together lower at the largest replay fraction than "
                      "without (their ratio below 1), replay in place of bio documents at the same step count",
    "mixing": "Sec. 3: mixing unbiased data reduces the biases only 'to a certain degree'; read as at least "
              f"{MOSTLY:g} of the topic and style components together left at the largest replay fraction, "
              "judged only where the reduction holds (zhang_mixing_reduces)",
    "facts_with_biases": "end of Sec. 3: attempts to learn facts without learning the biases did not succeed; read "
                         "on the mixing arm (the paper's attempt) as replay keeping no more of the factual component "
                         "than of the topic and style components (the factual ratio, replay over none, minus the "
                         "biases' ratio at most 0)",
    "real_forgetting": "Sec. 3 / Fig. 4: fine-tuning on PubMed lowers the likelihood of general text; read as the "
                       "English validation loss higher after fine-tuning on every seed",
    "converged": "the paper's bases are pretrained models; a base that had not learned its own pretraining "
                 f"distribution would be learning it during fine-tuning: within {CONVERGED_GAP:g} nats per token "
                 "of the generator's bound on held-out pretraining documents",
    "knows_domain": "the paper's bases (GPT-2 XL, LLaMA-2) had seen biomedical and academic text; fine-tuning a "
                    "base that had not learned the domain's slices books the rest of that learning under topic "
                    f"and style: within {DOMAIN_GAP:g} nats per token of the generator's bound on every slice, "
                    "less per document than the document's novel facts' gain over a uniform guess (DOMAIN_GAP)",
    "realised": "beyond the paper (the oracle): if facts are slow, one epoch realises little of what the data "
                f"supports; 'little' read as at most {REALISED_SMALL:g} of the oracle's log-ratio of a novel fact",
}


def straddles(cis, bound: float, what: str) -> str:
    """Why a claim read on per-seed 95% intervals cannot decide ('' when it can): some seed's interval holds
    ``bound``."""
    hit = [i for i, (lo, hi) in enumerate(cis) if lo <= bound <= hi]
    return (f"the 95% interval of {what} holds {bound:g} on seed(s) {', '.join(map(str, hit))}: "
            + ", ".join("[{:.3g}, {:.3g}]".format(*ci) for ci in cis)) if hit else ""


def record_claims(ch, *, gate, fts, pub, c4, position: Mapping, dynamics: Mapping, oracle: Mapping) -> None:
    """Chapter 06's preconditions and claims, one value per fine-tuning seed. ``gate``: ``analyses.domain_gate``'s
    table; ``fts``: ``setting.FineTunes``; ``pub``, ``c4``: each seed's ``decompose.Decomposition``;
    ``position``, ``dynamics``, ``oracle``: the facts of ``analyses``."""
    n, lr = len(pub), fts.lr
    seeds_note = f"{n} fine-tuning seeds (data order) of one base model, at the grid's learning rate {lr:g}"

    def claim(**kw):
        ch.claim(paper=PAPER, paper_value=None, **kw)

    # preconditions: the base, the learning rate, the factual change
    gates = base_claims(ch, gate)
    rates = sorted(fts.grid)
    claim(id="zhang_lr_bracketed", kind="precondition", reference="Sec. 3 (learning rates by grid search)",
          statement="The learning-rate grid brackets the best rate: the lowest validation loss is not at an edge",
          ours=fts.bracketed, criterion=is_true(), basis=BASIS["bracketed"],
          note="validation loss: " + ", ".join(f"{r:g} {fts.grid[r]:.4f}" for r in rates)
               + f"; declared grid {', '.join(f'{r:g}' for r in fts.declared)}")
    gates = [*gates, "zhang_lr_bracketed"]
    lows = [d.ci["token"]["factual"][0] for d in pub]
    claim(id="zhang_factual_learned", kind="precondition", reference="abstract ('stably but slowly')",
          statement="Fine-tuning learns facts: the factual component's 95% interval lies above 0 on every seed",
          ours=[lo > 0 for lo in lows], criterion=is_true(), basis=BASIS["factual_learned"],
          note="lower ends of the 95% intervals (nats per token): " + ", ".join(f"{x:.4f}" for x in lows))
    facts_gate = [*gates, "zhang_factual_learned"]

    tok = [d.ratios["token"] for d in pub]
    claim(id="zhang_factual_small", reference="abstract; Sec. 3", needs=facts_gate,
          statement="Factual knowledge is a small fraction of the total change of log-likelihood on the domain "
                    "(PubMed analog, per token)",
          ours=[r["factual"] for r in tok], criterion=at_most(FACTUAL_SMALL), basis=BASIS["factual_small"],
          note=f"per document: {np.mean([d.ratios['doc']['factual'] for d in pub]):.3f}; {seeds_note}")
    claim(id="zhang_topic_style_dominate", reference="abstract; Sec. 3", needs=facts_gate,
          statement="Topic and style shifts dominate the change: the factual share is far below the topic and "
                    "style shares together",
          ours=[r["factual"] / (r["topic"] + r["style"]) for r in tok], criterion=at_most(DOMINATE),
          basis=BASIS["dominate"],
          note=f"topic share {np.mean([r['topic'] for r in tok]):.2f}, style {np.mean([r['style'] for r in tok]):.2f}, "
               f"factual {np.mean([r['factual'] for r in tok]):.3f} (contrasts overlap: the shares need not sum to 1)")
    for rewrite in ("casual", "rap"):
        style = f"style ({rewrite})"
        claim(id=f"zhang_dominate_{rewrite}", reference="Sec. 3 (the casual and rap rewrites)", needs=facts_gate,
              statement=f"With the {rewrite} rewrite alone as the style contrast, topic and style still dominate: "
                        "the factual share is far below the topic and style shares together",
              ours=[r["factual"] / (r["topic"] + r[style]) for r in tok], criterion=at_most(DOMINATE),
              basis=BASIS["dominate_rewrite"],
              note=f"{rewrite} style share {np.mean([r[style] for r in tok]):.2f}")
    for name in ("topic", "style"):
        share_ci, excess_ci = position[f"share_{name}_ci_seeds"], position[f"excess_{name}_ci_seeds"]
        claim(id=f"zhang_position_{name}_start", reference="abstract; position analysis", needs=gates,
              statement=f"The {name} change sits mostly at the beginning of the text (the share of the per-document "
                        f"component in the first {START_TENTHS} tenths)",
              ours=position[f"share_{name}_seeds"], criterion=at_least(START_SHARE), basis=BASIS["start"],
              inconclusive=straddles(share_ci, START_SHARE, "the share"),
              note="95% intervals per seed: " + ", ".join("[{:.2f}, {:.2f}]".format(*c) for c in share_ci))
        claim(id=f"zhang_position_{name}_start_token", reference="abstract; position analysis", needs=gates,
              statement=f"Per token, the {name} change is larger at the beginning of the text (the component per "
                        f"token in the first {START_TENTHS} tenths minus per token in the rest, nats)",
              ours=position[f"excess_{name}_seeds"], criterion=Criterion("above", (0.0,)),
              basis=BASIS["start_token"], inconclusive=straddles(excess_ci, 0.0, "the excess"),
              note="95% intervals per seed: " + ", ".join("[{:.3f}, {:.3f}]".format(*c) for c in excess_ci)
                   + f"; the original's first token gains {position['first_token_change']:.2f} nats, the tokens "
                     f"from the eleventh on {position['later_token_change']:.2f} each")
    for name, crit, basis in (("topic", at_least(FAST), "fast"), ("style", at_least(FAST), "fast"),
                              ("factual", at_most(SLOW), "slow")):
        rising = dynamics[f"rising_{name}_seeds"]
        why = ""
        if basis == "fast" and any(not r <= RISING for r in rising):
            why = (f"still rising: it grew by {max(rising):.0%} of its final value between steps "
                   f"{dynamics['last_interval_from']} and {dynamics['ft_steps_total']} (level {RISING:.0%})")
        claim(id=f"zhang_dynamics_{name}_{'fast' if basis == 'fast' else 'slow'}", reference="abstract; dynamics",
              statement=f"The {name} component is learned {'rapidly' if basis == 'fast' else 'slowly'} "
                        "(its share of the final value after a quarter of the epoch)",
              ours=dynamics[f"early_{name}_seeds"], criterion=crit, basis=BASIS[basis], inconclusive=why,
              needs=gates if basis == "fast" else facts_gate,
              note=f"step {dynamics['early_step']} of {dynamics['ft_steps_total']}; per token, on the dynamics probes; "
                   f"growth over the last interval {', '.join(f'{r:.0%}' for r in rising)} of the final value")
    c4_hi = [d.ci["token"]["total"][1] for d in c4]
    claim(id="zhang_forgetting_c4", reference="Sec. 3; Fig. 4", needs=gates,
          statement="Fine-tuning lowers the likelihood of general text (C4 analog)",
          ours=c4_hi, criterion=Criterion("below", (0.0,)), basis=BASIS["forgetting"],
          note=f"upper end of the 95% interval of R(C4) per token; the change itself "
               f"{np.mean([d.values['token']['total'] for d in c4]):.3f}")
    claim(id="zhang_forgetting_factual_c4", reference="Sec. 3; Fig. 4 (C4-factuals, C4-counterfactual)",
          needs=gates,
          statement="Fine-tuning forgets little general factual knowledge: the factual component is a small "
                    "fraction of the loss on general text (C4 analog, per token)",
          ours=[d.ratios["token"]["factual"] for d in c4], criterion=at_most(FACTUAL_SMALL),
          basis=BASIS["forgetting_factual"],
          inconclusive="" if max(c4_hi) < 0 else "the C4 analog's change is not below 0 on every seed: no loss to share",
          note=f"factual component on C4 {np.mean([d.values['token']['factual'] for d in c4]):.4f} nats per token; "
               f"topic share {np.mean([d.ratios['token']['topic'] for d in c4]):.2f}, style "
               f"{np.mean([d.ratios['token']['style'] for d in c4]):.2f} (described, not claimed: with the topic "
               "contrast a move to bio, which fine-tuning raises, the shares exceed 1 whenever bio is learned)")
    ch.skip(paper=PAPER, reference="Sec. 3 (GPT-2 XL, LLaMA-2 7B and 13B)",
            statement="The decomposition's findings hold across model sizes",
            why="a second model size needs a second base model pretrained on the world (about 8 minutes at laptop, "
                "more than the rest of the chapter together) and its own grid and seeds; the chapter has one size "
                "per preset")
    realised = oracle["novel_realised_seeds"]
    claim(id="zhang_oracle_facts_unlearned", reference="beyond the paper (oracle)", needs=facts_gate,
          statement="The factual component is small because one epoch learns little of the facts, not because the "
                    "data holds little: the model realises a small part of a novel fact's true log-ratio",
          ours=realised, criterion=at_most(REALISED_SMALL), basis=BASIS["realised"], kind="hypothesis",
          note=f"contrast at the object of a novel fact {oracle['novel_fact_contrast']:.2f} nats against the "
               f"oracle's {oracle['oracle_novel_fact']:.2f}; known facts {oracle['known_fact_contrast']:.2f} (oracle 0)")


def record_arms_claims(ch, *, gate, arms, scores, cfg, real: Mapping, plateaued: bool) -> None:
    """Chapter 07's preconditions and claims, one value per fine-tuning seed: the base's gate (``base_claims`` of
    ``gate``, ``analyses.domain_gate``'s table), the two learning-rate grids of ``arms`` (``arms.Arms``), the arms'
    claims (``arms.score_arms``'s frame), each with per-seed 95% intervals from a paired bootstrap over the probe
    skeletons (``arms.interval``; inconclusive where one holds the criterion's bound), and the real abstracts'
    (``realtext.facts``). ``plateaued``: whether Part III's base had stopped improving (``realtext.PLATEAU``)."""
    from ftscope.zhang.arms import FULL, PAIRS, column, interval, level_values
    from ftscope.zhang.setting import bracketed

    def claim(**kw):
        return ch.claim(paper=PAPER, paper_value=None, **kw)

    def judged(levels, stat, crit):
        """Per-seed values, the intervals' note and why they cannot decide ('' when they can)."""
        values, cis = interval(scores, levels, stat, cfg.bootstrap)
        none = [str(s) for s, (lo, hi) in enumerate(cis) if not (np.isfinite(lo) and np.isfinite(hi))]
        why = "; ".join(w for w in (straddles(cis, b, "the seed's value") for b in crit.bounds()) if w) or (
            f"no interval on seed(s) {', '.join(none)} (a resample's value is not finite)" if none else "")
        return values, why, "95% intervals per seed: " + ", ".join("[{:.3g}, {:.3g}]".format(*c) for c in cis)

    def no_facts(arm, level) -> str:
        if any(x <= 0 for x in level_values(scores, arm, level, "factual lo")):
            return (f"the factual component at {level} is not above 0 on every seed (its 95% interval reaches 0 or "
                    "lies below it): there is no factual gain to compare")
        return ""

    def why(*reasons) -> str:
        return "; ".join(r for r in reasons if r)

    # preconditions: the base, the two learning-rate grids
    gates = base_claims(ch, gate, prefix="zhang_arms")
    for name, grid, lr, what in (("zhang_arms_lr_bracketed", arms.full_grid, arms.full_lr,
                                  "Full fine-tuning's learning-rate grid (chapter 6's)"),
                                 ("zhang_arms_lora_lr_bracketed", arms.lora_grid, arms.lora_lr,
                                  f"The LoRA learning-rate grid (rank {cfg.lora_grid_rank})")):
        claim(id=name, kind="precondition", reference="Sec. 3 (learning rates by grid search)",
              statement=f"{what} brackets the best rate: the lowest validation loss is not at an edge",
              ours=bracketed(grid), criterion=is_true(), basis=BASIS["bracketed"],
              note=f"chosen {lr:g}; validation loss: " + ", ".join(f"{r:g} {grid[r]:.4f}" for r in sorted(grid)))
    gates = [*gates, "zhang_arms_lr_bracketed"]
    cap_gates = [*gates, "zhang_arms_lora_lr_bracketed"]

    r1 = min(cfg.ranks)
    cap = [("capacity", r1), ("capacity", FULL)]
    runs_converged = [bool(f < CONVERGED_EPOCH) for lv in (r1, FULL)
                      for f in level_values(scores, "capacity", lv, "last epoch's fall")]
    falls = ", ".join(f"{f:.2%}" for lv in (r1, FULL) for f in level_values(scores, "capacity", lv, "last epoch's fall"))
    cap_note = (f"{cfg.capacity_epochs} epochs each, rank {r1} at {arms.lora_lr:g}, all the weights at "
                f"{arms.full_lr:g}; the validation loss fell by {falls} over the last epoch (rank {r1}'s seeds, then "
                f"full fine-tuning's; level {CONVERGED_EPOCH:.0%})")
    for c in ("topic", "style"):
        crit = at_least(MOSTLY)
        values, ci_why, ci_note = judged(cap, lambda a, b, c=c: a[c] / b[c], crit)
        claim(id=f"zhang_capacity_rank{r1}_{c}", reference="Sec. 3; Fig. 6", needs=cap_gates,
              statement=f"A rank-{r1} LoRA adapter learns most of the {c} change that full fine-tuning learns, both "
                        "trained to convergence",
              ours=values, criterion=crit, basis=BASIS["rank1"], converged=runs_converged, inconclusive=ci_why,
              note=f"rank {r1}'s {c} component over full fine-tuning's (per token); {ci_note}; {cap_note}")
    crit = Criterion("above", (0.0,))
    values, ci_why, ci_note = judged(cap, lambda a, b: b["factual share"] - a["factual share"], crit)
    claim(id="zhang_capacity_factual_grows", reference="Sec. 3; Fig. 6", needs=cap_gates,
          statement="Factual knowledge needs capacity: its share of the change is larger with all the weights "
                    f"than with a rank-{r1} adapter, both trained to convergence",
          ours=values, criterion=crit, basis=BASIS["rank_facts"], converged=runs_converged,
          inconclusive=why(no_facts("capacity", FULL), ci_why),
          note=f"factual share with all the weights minus at rank {r1}; {ci_note}; {cap_note}")
    values, ci_why, ci_note = judged(cap, lambda a, b: min(b["topic share"] - a["topic share"],
                                                           b["factual share"] - a["factual share"]), crit)
    claim(id="zhang_capacity_shares_reduce", reference="Sec. 3; Fig. 6 (its side note)", needs=cap_gates,
          statement=f"When capacity is limited, the topic share and the factual share both fall: each is lower at "
                    f"rank {r1} than with all the weights (the smaller of the two differences)",
          ours=values, criterion=crit, basis=BASIS["shares_reduce"], converged=runs_converged,
          inconclusive=why(no_facts("capacity", FULL), ci_why),
          note=f"min over topic and factual of the share with all the weights minus at rank {r1}; {ci_note}; "
               f"{cap_note}")

    big, mid = cfg.sizes[-1], cfg.sizes[-2]
    data = [("data", mid), ("data", big)]
    for c in ("topic", "style"):
        final, before = level_values(scores, "data", big, c), level_values(scores, "data", big, f"{c} before")
        grew = [(f - b) / f for f, b in zip(final, before)]
        step = column(scores, "data", big, "step before")[0]
        rising = "" if all(g <= RISING for g in grew) else (
            f"still rising at the largest size: the {c} component at {big:,} documents grew by {max(grew):.0%} of "
            f"its final value between step {step:g} and the run's last (level {RISING:.0%})")
        crit = at_least(FAST)
        values, ci_why, ci_note = judged(data, lambda a, b, c=c: a[c] / b[c], crit)
        claim(id=f"zhang_data_{c}_saturates", reference="data-size experiment", needs=gates,
              statement=f"The {c} component saturates with little fine-tuning data",
              ours=values, criterion=crit, basis=BASIS["saturate"], inconclusive=why(rising, ci_why),
              note=f"the {c} component with {mid:,} documents over that with {big:,} (one epoch each); {ci_note}; "
                   f"growth over the largest run's last interval {', '.join(f'{g:.0%}' for g in grew)}")
    crit = at_most(SLOW)
    values, ci_why, ci_note = judged(data, lambda a, b: a["factual"] / b["factual"], crit)
    claim(id="zhang_data_factual_rises", reference="data-size experiment", needs=gates,
          statement="The factual component keeps rising with the size of the fine-tuning data",
          ours=values, criterion=crit, basis=BASIS["rises"], inconclusive=why(no_facts("data", big), ci_why),
          note=f"the factual component with {mid:,} documents over that with {big:,}; {ci_note}")

    for c, pair in {"topic": PAIRS[1], "style": PAIRS[2]}.items():
        crit = Criterion("between", (1 - INDEPENDENT, 1 + INDEPENDENT))
        values, ci_why, ci_note = judged([("independence", pair), ("independence", PAIRS[0])],
                                         lambda a, b, c=c: a[c] / b[c], crit)
        claim(id=f"zhang_independence_{c}", reference="Sec. 3 (independence)", needs=gates,
              statement=f"The {c} bias is learned independently of the {'style' if c == 'topic' else 'topic'}: "
                        f"fine-tuning on {' × '.join(pair)} learns the same {c} bias as on bio × academic",
              ours=values, criterion=crit, basis=BASIS["independent"], inconclusive=ci_why,
              note=f"the {c} component of the {' × '.join(pair)} run over the bio × academic run's; {ci_note}")

    fmax = max(cfg.mixes)
    mix = [("mixing", fmax), ("mixing", 0.0)]

    def biases(a, b):
        return (a["topic"] + a["style"]) / (b["topic"] + b["style"])

    c4 = (f"the C4 analog's change {np.mean(level_values(scores, 'mixing', fmax, 'C4 total')):.3f} against "
          f"{np.mean(level_values(scores, 'mixing', 0.0, 'C4 total')):.3f} without replay")
    crit = Criterion("below", (1.0,))
    values, ci_why, ci_note = judged(mix, biases, crit)
    reduces = claim(id="zhang_mixing_reduces", reference="Sec. 3 (data mixing)", needs=gates,
                    statement="Mixing unbiased (pretraining) data into fine-tuning reduces the topic and style biases",
                    ours=values, criterion=crit, basis=BASIS["mixing_reduces"], inconclusive=ci_why,
                    note=f"topic + style with replay in place of {fmax:.0%} of the documents over without (the same "
                         f"steps); {ci_note}; {c4}")
    crit = at_least(MOSTLY)
    values, ci_why, ci_note = judged(mix, biases, crit)
    claim(id="zhang_mixing_partial", reference="Sec. 3 (data mixing)", needs=gates,
          statement="... only partly: most of the biases remain at the largest replay fraction",
          ours=values, criterion=crit, basis=BASIS["mixing"],
          inconclusive=why("" if reduces.verdict == "reproduced" else
                           f"zhang_mixing_reduces is {reduces.verdict}: no reduction to call partial", ci_why),
          note=f"topic + style with replay in place of {fmax:.0%} of the documents over without; {ci_note}")
    crit = at_most(0.0)
    values, ci_why, ci_note = judged(mix, lambda a, b: a["factual"] / b["factual"] - biases(a, b), crit)
    claim(id="zhang_mixing_facts_with_biases", reference="Sec. 3 (end)", needs=gates,
          statement="Mixing does not learn the facts without the biases: replay keeps no more of the factual "
                    "component than of the topic and style components",
          ours=values, criterion=crit, basis=BASIS["facts_with_biases"],
          inconclusive=why(no_facts("mixing", 0.0), no_facts("mixing", fmax), ci_why),
          note=f"the factual component's ratio (replay {fmax:.0%} over none) minus the biases' ratio; {ci_note}")

    ch.skip(paper=PAPER, reference="abstract; position analysis (real abstracts)",
            statement="On real PubMed abstracts the topic and style change sits mostly at the beginning of the text",
            why="the paper's position result is on the topic and style components, and on real abstracts there is "
                "no topic or style variant aligned token for token (the paper's rewrites are ChatGPT's and differ "
                "in length; the rule-made number swap changes facts, not topic or style), so only the total change "
                "could be placed; on Part III's base, whose BPE never saw biomedical text, the total is mostly new "
                "vocabulary learned wherever it occurs. The position figure is shown, not claimed")
    why_real = "" if plateaued else (f"Part III's base was still improving: its training loss fell by "
                                     f"{real['base_plateau']:.1%} over its last tenth (plateau level "
                                     f"{real['plateau_level']:.0%})")
    claim(id="zhang_real_forgetting", reference="Sec. 3; Fig. 4",
          statement="Fine-tuning on real PubMed abstracts raises the loss on general English",
          ours=real["forget_seeds"], criterion=Criterion("above", (0.0,)), basis=BASIS["real_forgetting"],
          inconclusive=why_real,
          note=f"English validation loss after minus before, nats per token; held-out abstracts gain "
               f"{real['learn']:.3f}; Part III's base, not the world's: the world's gate does not apply")


def base_claims(ch, gate, prefix: str = "zhang") -> list[str]:
    """Record the base model's two preconditions from ``analyses.domain_gate``'s table and return their ids (for
    ``needs=``): ``{prefix}_base_converged``, the gap on the pretraining mix at most ``CONVERGED_GAP``, and
    ``{prefix}_base_knows_domain``, the largest gap over the domain's slices at most ``DOMAIN_GAP``."""
    from ftscope.zhang.analyses import MIX

    mix, slices = gate.loc[MIX], gate.drop(index=MIX)
    worst = str(slices["gap"].idxmax())
    each = "; ".join(f"{name}: loss {r.loss:.3f}, bound {r.bound:.3f}" for name, r in gate.iterrows())
    ids = [f"{prefix}_base_converged", f"{prefix}_base_knows_domain"]
    ch.claim(id=ids[0], paper=PAPER, paper_value=None, kind="precondition", reference="the base model (ours)",
             statement="The base model is close to the generator on held-out pretraining documents (loss minus "
                       "the generator's bound, nats per token)",
             ours=float(mix["gap"]), criterion=at_most(CONVERGED_GAP), basis=BASIS["converged"], note=each)
    ch.claim(id=ids[1], paper=PAPER, paper_value=None, kind="precondition", reference="the base model (ours)",
             statement="The base model knows the domain: on held-out pretraining documents of bio × academic, "
                       "bio × web and general × academic its loss is close to the generator's bound (the largest "
                       "gap, nats per token)",
             ours=float(slices["gap"].max()), criterion=at_most(DOMAIN_GAP), basis=BASIS["knows_domain"],
             note=f"largest gap on {worst}; " + ", ".join(f"{n} {g:.3f}" for n, g in slices["gap"].items()))
    return ids
