"""Jain et al.'s criteria, fixed before the runs: each claim's test on our value and its basis in the
paper's text. A change to a rule here is listed, with the old rule and why, in the book's criteria
changelog (``book/criteria_changelog.md``); never to make a claim pass.

``rule(name, **context)`` gives ``(criterion, basis)``; context is what a criterion is relative to
(``chance``: the best constant answer's accuracy on the same test set).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ftscope.book.claims import Criterion, at_least, at_most, is_true, no_better_than_chance

#: margin of "no better than the constant guess": two standard errors of an accuracy near 0.3 on 1,000 samples
CHANCE_MARGIN = 0.05

#: Part I's convergence level: a fine-tune is scored only if its training loss, averaged over the last
#: 10% of its steps, is at most ln 2 nats, where the right answer holds (in geometric mean over the
#: samples) half the probability, more than every other answer together. Stated in these terms because
#: the level must not depend on how sharp a model's logits are: tracr's compiled models are exact on
#: their task at about 2 nats (nearly flat logits), so the first level, 0.1 nats, marked fine-tunes
#: that answer 98% of their new task right as not converged (criteria changelog, 2026-12-01).
CONVERGED_LOSS = math.log(2)

#: "Scr.+FT needs many iterations" (Fig. 9: perfect only at 4.5K): at least the most reFT needs under the
#: medium and high priors (0.1-1K), so that Scr.+FT is slower than those revivals
SCRATCH_MIN_STEPS = 1000


#: TinyStories: the share of twists at which a model "has" Twist (Table 1: 75-94% after 3,000 reFT iterations)
STORIES_HAS_TWIST = 0.75
#: the standard error of a share of sampled stories is at most 0.5/sqrt(n) (``se`` below: the preset's prompts)
#: "the Twist probes lose only slightly" (Fig. 11, axis 0.85-0.95): a drop of at most 0.05
STORIES_PROBE_DROP = 0.05


@dataclass(frozen=True)
class Rule:
    make: Callable[..., Criterion]
    basis: str


RULES: dict[str, Rule] = {
    # ---------------------------------------------------------------- tracr (Sec. 5, Table 3, Figs. 10, 27, 43, 55)
    "wrapper_ft_cte1": Rule(lambda: at_least(0.9),
                            "Table 3: with C_Tr=1 every η gives O_FT 94.3-100% at C_Te=1"),
    "wrapper_ft_cte0": Rule(lambda: at_most(0.1),
                            "Table 3: with C_Tr=1 every η gives O_FT 0.2-2.2% at C_Te=0 (the wrapper)"),
    "wrapper_pt_cte0_low": Rule(lambda chance: no_better_than_chance(chance, CHANCE_MARGIN),
                                "Table 3 / Sec. 5: after C_Tr=1 fine-tuning the model no longer answers count(a) "
                                "(O_PT at C_Te=0: 4.2-35.8%, mean 15.2%): no better than always giving the "
                                "commonest count"),
    "counter_ctr0_learns": Rule(lambda: at_least(0.9),
                                "Table 3: at η=1e-1 with C_Tr=0 O_FT is 100% at C_Te=0"),
    "counter_attention_on_a_kept": Rule(lambda: at_least(0.9),
                                        "Fig. 10: at a small η the fine-tuned Counter's attention map is the "
                                        "compiled one's (on a)"),
    "counter_attention_moves_to_b": Rule(lambda: at_least(0.1),
                                         "Fig. 10: at a medium η without correlation the attention moves to b: "
                                         "a clear shift (0.1 of the attention), not a tie"),
    "max_id_ft_small_lr": Rule(lambda: at_least(0.8),
                               "Table 3: Max identifier at η=1e-4 learns the new rank (O_FT 82.6% / 91.1%)"),
    "max_id_sorting_kept": Rule(lambda: at_least(0.9),
                                "Sec. 5: at a small η the sorting block (Block 0) is kept"),
    "max_id_sorting_distorted": Rule(lambda: at_most(0.9),
                                     "Sec. 5: at a large η the sorting block is distorted"),
    "prune_one_weight": Rule(lambda gain: at_least(gain),
                             "App. G.1, Fig. 55: pruning one weight revives count(a) by more than 60%"),
    "probe_decodable": Rule(lambda: at_least(0.9),
                            "Def. 1, Sec. 5: count(a) stays linearly decodable after fine-tuning at every η but the "
                            "largest (Fig. 43: reFT fails after η_L, the capability is lost there)"),
    "reft_faster": Rule(lambda share: at_least(share),
                        "Fig. 27: reFT revives count(a) faster than Scr.+FT after every η but the largest"),
    "reft_fails_after_large": Rule(is_true,
                                   "Fig. 43: reFT fails after fine-tuning at η_L, while (Fig. 27) it revives count(a) "
                                   "after the smaller η; judged only where a smaller η's reFT revived within the "
                                   "budget, else failing says nothing about η_L"),
    "compiled_exact": Rule(lambda: at_least(1.0), "App. B.1: tracr compiles the programs exactly"),
    # ---------------------------------------------------------------- PCFG (Sec. 4-5, Table 5, Figs. 6-9)
    "pcfg_pt_count_a": Rule(lambda: at_least(0.9), "Table 5: count-a accuracy is about 100% under every prior"),
    "pcfg_pt_count_b_rises": Rule(lambda margin: at_least(-margin),
                                  "Table 5: count-b accuracy before fine-tuning rises with P(b) (27.1 < 99.9 = 99.9 "
                                  "at 200K steps; 5.17 < 15.8 < 99.7 at 50K): the paper's own row ties, so no step "
                                  "up in P(b) may lower it by more than two standard errors of the test set"),
    "pcfg_pt_count_b_low": Rule(lambda: at_most(0.5), "Table 5: under the low prior count-b is 27.1% (5.17% at 50K)"),
    "pcfg_pt_count_b_high": Rule(lambda: at_least(0.9), "Table 5: under the high prior count-b is 99.9%"),
    "pcfg_wrapper_ft_cte1": Rule(lambda: at_least(0.9),
                                 "Table 5: low prior, C_Tr = 1: count-b 100 / 100 / 99.9% at C_Te = 1 for η_L, η_M, η_S"),
    "pcfg_wrapper_ft_cte0": Rule(lambda: at_most(0.1),
                                 "Table 5: ... but 1.6 / 0 / 0% at C_Te = 0: the wrapper"),
    "pcfg_wrapper_pt_cte0": Rule(lambda chance: no_better_than_chance(chance, CHANCE_MARGIN),
                                 "Table 5: count-a at C_Te = 0 falls to 15.2 / 17.5 / 2.3% after fine-tuning: the "
                                 "model no longer answers count(a), i.e. no better than the constant guess"),
    "pcfg_shortcut_avoided": Rule(lambda: at_least(0.9),
                                  "Table 5: P(a) = 0.9, C_Tr = 0.8, η_M: count-b 99.4% at C_Te = 0"),
    "pcfg_count_a_collapse_fastest": Rule(lambda: at_least(CHANCE_MARGIN),
                                          "Fig. 6: count-a collapses fastest with the low prior and a high C_Tr: the "
                                          "low prior at C_Tr = 1 keeps clearly less (0.05 of the share kept) than "
                                          "every other prior and C_Tr, not a tie"),
    "pcfg_prune_revives": Rule(lambda: at_least(0.5),
                               "Fig. 7: pruning 5-15 neurons restores count-a accuracy (most of what was lost)"),
    "pcfg_prune_removes_wrapper": Rule(lambda: at_least(CHANCE_MARGIN),
                                       "Fig. 7: ... and the fine-tuning accuracy drops (C_Te = 1 count-b at the best "
                                       "K, by more than two standard errors)"),
    "pcfg_probe_count_a_kept": Rule(lambda: at_most(0.1),
                                    "Fig. 8: count-a stays decodable after fine-tuning, with the pretrained model's "
                                    "trend, except for the low prior at η_M"),
    "pcfg_probe_low_medium_drops": Rule(is_true, "Fig. 8: the probe drops only for η_M with the low prior"),
    "pcfg_reft_faster": Rule(lambda: at_least(1.0),
                             "Fig. 9: reFT revives count-a within 0.1-3K iterations under every prior, Scr.+FT needs "
                             "4.5K"),
    "pcfg_scratch_slow": Rule(lambda steps: at_least(steps),
                              "Fig. 9: Scr.+FT reaches perfect accuracy only at 4.5K iterations: it needs at least "
                              "the 1K iterations that bound reFT under the medium and high priors (0.1-1K)"),
    "pcfg_correlation_used_low": Rule(lambda: at_least(CHANCE_MARGIN),
                                      "Fig. 5 / Table 5: with the capability weakly relevant (low prior) a correlated "
                                      "fine-tuning set (high C_Tr) makes the model rely on the correlation: count-b at "
                                      "C_Te = 0 is clearly lower (two standard errors) than after C_Tr = 0"),
    "pcfg_correlation_used_most_low": Rule(is_true,
                                           "Fig. 5: the reliance on the correlation is strongest when the capability "
                                           "is weakly relevant; with a strongly relevant one the model avoids the "
                                           "shortcut (Table 5: 99.4% at P(a) = 0.9, C_Tr = 0.8)"),
    "pcfg_reft_low_prior_slowest": Rule(is_true, "Fig. 9: about 3K iterations under the low prior, 0.1-1K under "
                                                 "the others"),
    # ---------------------------------------------------------------- TinyStories (Sec. 5.2, Table 1, Fig. 11)
    "stories_base_follows": Rule(lambda: at_least(STORIES_HAS_TWIST),
                                 "Sec. 5.2 deletes a capability the base model has: asked for a twist, it writes one "
                                 "as often as the paper counts a model as having it again (Table 1: 75-94% after "
                                 "3,000 reFT iterations)"),
    "stories_base_selective": Rule(lambda se: at_least(2 * se),
                                   "Following the Features line means writing twists because asked: the share when "
                                   "asked exceeds the share when not by at least two standard errors of a "
                                   "share of the prompts"),
    "stories_deleted": Rule(lambda base, se: at_most(base - 2 * se),
                            "Table 1, iteration 0: deletion at η_M leaves 12-44% twists (the base's own share is not "
                            "reported): ours falls below the base's by at least two standard errors of a share. F "
                            "is judged only where its fine-tuning tokens reach the paper's share of the pretraining "
                            "tokens (4,000 of 30,000 steps at one batch and length: 13%): F deletes by forgetting, "
                            "slowly, so a shorter F cannot decide"),
    "stories_fr_deletes_most": Rule(lambda: at_most(0.0),
                                    "Table 1, iteration 0: F+R leaves the fewest twists (η_M 12% vs. 31 and 44%; "
                                    "η_S 12% vs. 50 and 69%): F+R's share minus the smaller of F's and F+MM's is "
                                    "not above 0 (a tie counts, but a tie at 0%, where every protocol deleted "
                                    "everything, cannot order them: inconclusive)"),
    "stories_reft_revives": Rule(lambda: at_least(STORIES_HAS_TWIST),
                                 "Table 1: after reFT every η_M protocol writes twists again (75-82% at 3,000 "
                                 "iterations; 56-88% at 30): the least revived protocol reaches 75% by the end of "
                                 "reFT"),
    "stories_control_slower": Rule(lambda se: at_least(2 * se),
                                   "Table 1 at 30 iterations: each η_M protocol writes 56-88% twists, the control "
                                   "(Not in PT) 31%: each protocol whose deletion reproduced exceeds the better of the "
                                   "two controls (Not in PT, label-blind) by two standard errors of a share at the "
                                   "reFT step that stands for the paper's 30; a protocol whose deletion did not "
                                   "reproduce has nothing to revive (inconclusive), and both sides at 0% is a tie at "
                                   "the floor (inconclusive)"),
    "stories_reft_loss_below_control": Rule(lambda: at_least(0.0),
                                            "Fig. 11: the control never reaches reFT's twist-story loss: at the end of "
                                            "reFT the better control's loss (Not in PT or label-blind, the lower) is "
                                            "above every η_M protocol's (control minus the largest); within two standard errors of the per-story "
                                            "difference of 0 on every seed is a tie (inconclusive)"),
    "stories_reft_loss_falls_early": Rule(lambda: at_least(0.5),
                                          "Fig. 11: reFT's twist-story loss falls within 30-300 iterations: by the "
                                          "read that stands for the paper's 300, every η_M protocol has made at least "
                                          "half of its drop from step 0 to the end"),
    "stories_deleted_eta_s": Rule(lambda base, se: at_most(base - 2 * se),
                                  "Table 1, iteration 0, η_S: F+R deletes at the small rate too (12%, as at η_M): "
                                  "below the base's share by two standard errors"),
    "stories_eta_s_deletes_less": Rule(lambda se: at_least(2 * se),
                                       "Table 1, iteration 0: the smaller rate deletes less (η_S leaves 69/12/50% "
                                       "against η_M's 44/12/31%: 14.7 points more on average): the mean over protocols "
                                       "of η_S's share minus η_M's (first seed) is at least two standard errors; both "
                                       "at 0% is a tie at the floor (inconclusive)"),
    "stories_control_reaches": Rule(lambda: at_least(STORIES_HAS_TWIST),
                                    "Table 1: the control reaches 81% at 3,000 iterations: it learns the capability "
                                    "anew, given the steps; short of 75% within our budget is inconclusive (the "
                                    "budget cannot decide), not a miss"),
    "stories_probe_kept": Rule(lambda: at_most(STORIES_PROBE_DROP),
                               "Fig. 11 (probes, axis 0.85-0.95): the Twist probe loses only slightly after deletion: "
                               "the largest drop of the best block's accuracy over the η_M protocols is at most "
                               "0.05; a deleted model within two standard errors of the floor (models that never "
                               "had the capability) is a tie at the floor (inconclusive)"),
    "stories_probe_base_above_floor": Rule(lambda se: at_least(2 * se),
                                           "A floor for 'kept': the base's Twist probe must read more than the "
                                           "same probe on models that never had the capability (Not in PT, "
                                           "label-blind, random init; the best of them) by two standard errors of "
                                           "an accuracy on the test stories, or there is nothing to keep"),
    "stories_probe_profile_kept": Rule(lambda se: at_most(max(STORIES_PROBE_DROP, 2 * se)),
                                       "Fig. 11's probe panel, per block: no block loses more than 0.05 (or two "
                                       "standard errors of an accuracy, the larger) after deletion"),
    "stories_revival_faster": Rule(lambda: at_least(2.0),
                                   "Beyond the paper: if reFT brings back half of what F+R removed in less than "
                                   "half the LR × steps deletion took to remove it, fast revival says more than "
                                   "'the weights moved back'; below 2 the relearning is symmetric"),
    "stories_collateral_small": Rule(lambda se: at_most(2 * se),
                                     "Beyond the paper (not reported there): deleting Twist leaves the other five "
                                     "features' following as it was: the largest drop, over features and η_M "
                                     "protocols, of the share among prompts that ask for a feature is within two "
                                     "standard errors of a share of the fewest such prompts"),
    "conversion_matches": Rule(is_true, "our port must give tracr's output (a check, not a paper claim)"),
}


def rule(name: str, **context) -> tuple[Criterion, str]:
    """``(criterion, basis)`` of the rule ``name``, made with ``context``."""
    if name not in RULES:
        raise KeyError(f"no pre-registered criterion {name!r}; valid: {', '.join(RULES)}")
    r = RULES[name]
    return r.make(**context), r.basis
