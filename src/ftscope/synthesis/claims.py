"""Chapter 10's criteria and claims, fixed before its first run: each lens's hypothesis is the direction its
paper predicts for the other paper's models, and is judged by the same claims API (per seed, fragile when the
seeds disagree). A later change is listed in the book's criteria changelog, never to make a claim pass.

Each claim is filed under the paper whose statement it tests: the SAE and merge lenses test Jain et al.'s
wrapper hypothesis (with Horn & Elliott's instruments), the decomposition tests Zhang & Wu's.
"""

from __future__ import annotations

from collections.abc import Mapping

from ftscope.book.claims import at_least, at_most
from ftscope.jain.criteria import STORIES_HAS_TWIST
from ftscope.zhang.claims import FACTUAL_SMALL

#: shares over the ~10-40 Twist features of one SAE have a standard error near 0.1: differences within two (0.2)
#: are ties
TIE = 0.2
#: Horn & Elliott's merges keep both parents' abilities (LuaStories between its parents, Fig. 5): "keeps" read as
#: at least half of the fine-tune's gain at the midpoint
KEPT = 0.5
#: Zhang & Wu's "≫": the topic and style shares together at least three times the factual (content) share
DOMINATE_FACTOR = 3

BASIS = {
    "sae_persist": "Jain et al. Sec. 5.2: deletion leaves the capability in place under a wrapper (reFT revives it, "
                   "probes still read it); through Horn & Elliott's instrument that predicts the base's Twist "
                   f"features kept in the deleted model as often as its features overall (a tie within {TIE:g}: "
                   "two standard errors of a share of a few tens of features)",
    "sae_reuse": "Jain et al. Sec. 5.2: reFT revives Twist within a few steps because it reuses the capability the "
                 "base had; predicted: the revived model's Twist features match a base feature as often as its "
                 f"features overall (a tie within {TIE:g})",
    "merge_revives": "Jain et al.: the deletion is a thin wrapper, a small change on top of an intact capability; "
                     "predicted: removing half of it by SLERP (t = 0.5) brings Twist back to the level at which "
                     f"chapter 05 counts a model as having it ({STORIES_HAS_TWIST:g}, Table 1's revived share)",
    "merge_keeps": "Horn & Elliott Sec. 4 / Fig. 5: a SLERP merge keeps much of each parent's ability (LuaStories "
                   f"lies between its parents); read as at least {KEPT:g} of the deletion's gain on its own task kept "
                   "at the midpoint",
    "content_small": "Zhang & Wu, abstract: the factual (content) part 'only contributes to a small fraction of the "
                     f"total probability change'; at most {FACTUAL_SMALL:g} of the change, chapter 06's reading",
    "priors_dominate": "Zhang & Wu, abstract: topic and style priors shift far more than the facts ('≫'); read as "
                       f"the topic and style shares together at least {DOMINATE_FACTOR} times the content share "
                       "(topic + style − 3 × content ≥ 0; chapter 06's bound of a third, written so that a negative "
                       "prior share cannot pass)",
}


def record_claims(ch, sae: Mapping, merge: Mapping, split: Mapping) -> None:
    """The chapter's claims, from ``features.lens_facts`` (``sae``), ``merging.merge_facts`` (``merge``, which
    also holds the base's twist share when asked: the capability every Jain claim needs) and
    ``decompose.split_facts`` (``split``); one value per F+R seed."""
    base_twist, seeds = merge["base_twist"], len(sae["persist_gap_seeds"])
    no_cap = ("" if base_twist >= STORIES_HAS_TWIST else
              f"the base writes a twist in {base_twist:.0%} of its stories when asked (below {STORIES_HAS_TWIST:g}): "
              "there is no capability to follow")
    seeds_note = f"{seeds} F+R deletion seeds (η_M) of chapter 05's one base"

    def claim(basis, **kw):
        ch.claim(paper_value=None, basis=BASIS[basis], **kw)

    no_twist = "" if sae["n_twist_base"] else "the base's SAE has no Twist feature to follow"
    claim("sae_persist", id="lens_sae_twist_persist", paper="jain2024",
          reference="Sec. 5.2 × Horn & Elliott Sec. 3.4",
          statement="Deletion keeps the base's Twist features: their share with a match (r ≥ 0.8) in the F+R deleted "
                    "model's SAE minus that of all base features",
          ours=sae["persist_gap_seeds"], criterion=at_least(-TIE), inconclusive=no_cap or no_twist,
          note=f"{sae['n_twist_base']} Twist features of {sae['n_alive_base']} alive; Twist features kept "
               f"{sae['persist_twist']:.2f}, all {sae['persist_all']:.2f}; seed control (two SAEs of the base): "
               f"{sae['control_persist_twist']:.2f} and {sae['control_persist_all']:.2f}; {seeds_note}")
    no_rev = "" if all(sae["n_twist_revived_seeds"]) else "a revived model's SAE has no Twist feature"
    claim("sae_reuse", id="lens_sae_reft_reuses", paper="jain2024", reference="Sec. 5.2 × Horn & Elliott Sec. 3.4",
          statement="reFT reuses the base's features: the revived model's Twist features with a match in the base's "
                    "SAE, minus all its features'",
          ours=sae["reuse_gap_seeds"], criterion=at_least(-TIE), inconclusive=no_cap or no_twist or no_rev,
          note=f"Twist features per revived SAE: {sae['n_twist_revived_seeds']}; reused: Twist "
               f"{sae['reused_twist']:.2f}, all {sae['reused_all']:.2f}; seed control's gap "
               f"{sae['control_reuse_gap']:.2f}; {seeds_note}")
    claim("merge_revives", id="lens_merge_midpoint_revives", paper="jain2024",
          reference="Sec. 5.2 × Horn & Elliott Sec. 4",
          statement="Merging halfway back to the base (SLERP, t = 0.5) brings Twist back: the twist share when asked",
          ours=merge["twist_half_seeds"], criterion=at_least(STORIES_HAS_TWIST), inconclusive=no_cap,
          note=f"base {merge['base_twist']:.2f}, deleted {merge['deleted_twist']:.2f}; {seeds_note}")
    claim("merge_keeps", id="lens_merge_keeps_task", paper="horn2024", reference="Sec. 4, Fig. 5",
          statement="The midpoint merge keeps the deletion's gain on its own task (share of the F+R documents' loss "
                    "gain kept at t = 0.5)",
          ours=merge["kept_half_seeds"], criterion=at_least(KEPT),
          inconclusive=no_cap or ("" if merge["task_gain_min"] > 0 else
                                  "the deletion did not lower the loss on its own documents on every seed"),
          note=f"the deletion's gain on its task: {merge['task_gain']:.3f} nats/token; {seeds_note}")
    for key, name in (("deletion", "the F+R deletion"), ("new_content", "the control's twist fine-tune")):
        lo = split[f"{key}_total_lo"]
        none = "" if lo > 0 else f"the change on {name}'s documents is not above 0 on every seed (95% interval)"
        claim("content_small", id=f"lens_{key}_content_small", paper="zhang2024", reference="abstract; Sec. 3",
              statement=f"The content of the story (its ending) is a small part of {name}'s change of likelihood on "
                        "its own documents (per token)",
              ours=split[f"{key}_content_seeds"], criterion=at_most(FACTUAL_SMALL), inconclusive=none,
              note=f"header share {split[f'{key}_header']:.2f}, topic {split[f'{key}_topic']:.2f}, style "
                   f"{split[f'{key}_style']:.2f}, content {split[f'{key}_content']:.2f}, residual "
                   f"{split[f'{key}_residual']:.2f} (contrasts overlap: the shares need not sum to 1)")
        claim("priors_dominate", id=f"lens_{key}_priors_dominate", paper="zhang2024", reference="abstract; Sec. 3",
              statement=f"Topic and style priors dominate {name}'s change: topic + style shares minus three times the "
                        "content share",
              ours=split[f"{key}_priors_minus_content_seeds"], criterion=at_least(0.0), inconclusive=none,
              note=f"total change {split[f'{key}_total']:.3f} nats/token")
