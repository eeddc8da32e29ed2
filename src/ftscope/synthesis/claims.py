"""Chapter 10's criteria and claims: each lens's hypothesis is the direction a paper's reading predicts for
another paper's models. They are hypotheses of ours (kind ``"hypothesis"``, on the scorecard's "Beyond the
papers" row; ``paper`` names the paper whose statement each extends), judged by the same claims API (per seed,
fragile when the seeds disagree) under two preconditions: the base follows the Twist instruction, and its SAE
has Twist features. A later change is listed in the book's criteria changelog, never to make a claim pass.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ftscope.book.claims import at_least, at_most
from ftscope.jain.criteria import STORIES_HAS_TWIST

#: shares over the ~10-40 Twist features of one SAE have a standard error near 0.1: differences within two (0.2)
#: are ties
TIE = 0.2
#: the flip points agree when they lie within one spacing of the merge grid at t* (the grid cannot place t*
#: more finely)
FLIP_SPACINGS = 1.0

BASIS = {
    "base_follows": "Jain et al. Sec. 5.2: the wrapper claims are about a capability the base has; chapter 05's "
                    f"bar for having it ({STORIES_HAS_TWIST:g}, Table 1's revived share), on the base's twist "
                    "share when asked (the merge path's t = 0: chapter 05's evaluation of the base on each F+R "
                    "run's prompts)",
    "has_features": "Horn & Elliott Sec. 3.4: the SAE lens follows the base's Twist features; without one there "
                    "is nothing to follow",
    "sae_persist": "Jain et al. Sec. 5.2: deletion leaves the capability in place under a wrapper (reFT revives it, "
                   "probes still read it); through Horn & Elliott's instrument that predicts the base's Twist "
                   "features kept in the deleted model more often than in an SAE of a model that never had the "
                   "capability (the floor: the larger share kept by the \"Not in PT\" control's or a random-init "
                   f"model's SAE), by more than a tie ({TIE:g}: two standard errors of a share of a few tens of "
                   "features). Judged only where the lens resolves: the seed control (a second SAE of the base, "
                   f"the ceiling) at least {2 * TIE:g} above the floor, and the deletion moving the dictionary by "
                   f"at least {TIE:g} more than a second SAE seed does (otherwise a kept feature cannot tell a "
                   "wrapper from a model that barely moved)",
    "sae_reuse": "Jain et al. Sec. 5.2: reFT revives Twist within a few steps because it reuses the capability the "
                 "base had; predicted: the revived model's Twist features match a base feature more often than "
                 "those of the control's fine-tune on the same twist stories (it learned Twist anew: the floor), "
                 f"by more than a tie ({TIE:g}); judged only where the seed control's share is at least {2 * TIE:g} "
                 "above that floor and reFT moved the dictionary more than a second SAE seed does",
    "flip": "Jain et al.'s wrapper read through Horn & Elliott's merges: if the deletion is a wrapper laid on "
            "gradually, merging back toward the base is stopping the deletion early, so the merge weight t* at "
            f"which the twist share crosses {STORIES_HAS_TWIST:g} equals the share k*/T of the deletion's steps at "
            "which its own curve crosses it (both interpolated linearly between evaluations); they agree within "
            f"{FLIP_SPACINGS:g} spacing of the merge grid at t*",
}


def sae_undecided(resolution: float, moved: list[float], what: str, tell: str = "present from absent") -> str:
    """Why the SAE lens cannot decide ('' when it can): its ceiling is within two ties of its floor (it cannot
    ``tell`` the two apart), or the fine-tune ``what`` moved the dictionary (its share of all base features
    kept) less than a tie away from where a second SAE seed leaves it, on every seed."""
    why = []
    if not resolution >= 2 * TIE:
        why.append(f"the lens cannot tell {tell}: the seed control (ceiling) is {resolution:.2f} above the floor, "
                   f"less than {2 * TIE:g}")
    if max(abs(m) for m in moved) < TIE:
        why.append(f"{what} moved the dictionary less than a second SAE seed does (all base features kept: "
                   f"{', '.join(f'{m:+.2f}' for m in moved)} against the seed control, each within {TIE:g}): the "
                   "lens cannot tell a wrapper from barely moved")
    return "; ".join(why)


def _finite(values: list[float], what: str) -> tuple[list[float], str]:
    """``values`` with an undefined (NaN) entry as 0, and why the claim cannot be read if there is one."""
    bad = [i for i, v in enumerate(values) if not np.isfinite(v)]
    if not bad:
        return list(values), ""
    return [0.0 if i in bad else v for i, v in enumerate(values)], (
        f"{what} undefined on seed(s) {', '.join(map(str, bad))} (recorded as 0)")


def record_claims(ch, sae: Mapping, merge: Mapping) -> None:
    """The chapter's claims, from ``features.lens_facts`` (``sae``) and ``merging.merge_facts`` (``merge``, which
    holds the base's twist share when asked); one value per F+R seed."""
    seeds = len(sae["persist_over_floor_seeds"])
    seeds_note = f"{seeds} F+R deletion seeds (η_M) of chapter 05's one base"

    def claim(basis, kind="hypothesis", **kw):
        ch.claim(paper_value=None, basis=BASIS[basis], kind=kind, **kw)

    claim("base_follows", kind="precondition", id="lens_base_follows", paper="jain2024", reference="Sec. 5.2",
          statement="The base writes a twist when asked (twist share over each F+R run's prompts)",
          ours=merge["base_twist_seeds"], criterion=at_least(STORIES_HAS_TWIST), note=seeds_note)
    claim("has_features", kind="precondition", id="lens_base_has_twist_features", paper="horn2024",
          reference="Sec. 3.4", statement="The base's SAE has Twist features (their number)",
          ours=sae["n_twist_base"], criterion=at_least(1),
          note=f"{sae['n_twist_base']} Twist features of {sae['n_alive_base']} alive")
    gates = ["lens_base_follows", "lens_base_has_twist_features"]

    persist, nan_why = _finite(sae["persist_over_floor_seeds"], "the floor")
    claim("sae_persist", id="lens_sae_twist_persist", paper="jain2024", needs=gates,
          reference="Sec. 5.2 × Horn & Elliott Sec. 3.4",
          statement="Deletion keeps the base's Twist features: their share with a match (r ≥ 0.8) in the F+R deleted "
                    "model's SAE, minus the same share in the SAE of a model that never had the capability (floor)",
          ours=persist, criterion=at_least(TIE),
          inconclusive="; ".join(w for w in (nan_why, sae_undecided(sae["resolution"], sae["moved_all_seeds"],
                                                                    "deletion")) if w),
          note=f"kept in the deleted models {sae['persist_twist']:.2f}; floor {sae['floor_persist_twist']:.2f} "
               f"(\"Not in PT\" {sae['not_in_pt_persist_twist']:.2f}, random init {sae['random_persist_twist']:.2f}); "
               f"ceiling (seed control) {sae['ceiling_persist_twist']:.2f}; resolution {sae['resolution']:.2f}; all "
               f"base features kept: deleted {sae['persist_all']:.2f}, seed control {sae['control_persist_all']:.2f}; "
               f"{seeds_note}")

    reuse, nan_why = _finite(sae["reuse_over_floor_seeds"], "a revived model's or the control's fine-tune's share "
                                                            "of reused Twist features (no Twist feature)")
    claim("sae_reuse", id="lens_sae_reft_reuses", paper="jain2024", needs=gates,
          reference="Sec. 5.2 × Horn & Elliott Sec. 3.4",
          statement="reFT reuses the base's features: the revived model's Twist features with a match in the base's "
                    "SAE, minus the same share for the control's fine-tune on twist stories (which learned Twist anew)",
          ours=reuse, criterion=at_least(TIE),
          inconclusive="; ".join(w for w in (nan_why, sae_undecided(sae["reuse_resolution"],
                                                                    sae["moved_all_revived_seeds"], "reFT",
                                                                    "reuse from features learned anew")) if w),
          note=f"Twist features per revived SAE: {sae['n_twist_revived_seeds']}, the control's fine-tune's: "
               f"{sae['n_twist_control_ft']}; reused: revived {sae['reused_twist']:.2f}, floor (the control's "
               f"fine-tune) {sae['floor_reuse_twist']:.2f}, ceiling (seed control) {sae['ceiling_reuse_twist']:.2f}; "
               f"{seeds_note}")

    claim("flip", id="lens_merge_flip_tracks_deletion", paper="jain2024", needs=["lens_base_follows"],
          reference="Sec. 5.2 × Horn & Elliott Sec. 4",
          statement="Merging back toward the base is stopping the deletion early: |t* − k*/T| in spacings of the "
                    "merge grid at t* (t*: where the merge path's twist share crosses 0.75; k*/T: where the "
                    "deletion's own curve does, as a share of its steps)",
          ours=merge["flip_seeds"], criterion=at_most(FLIP_SPACINGS), inconclusive=merge["flip_undecided"],
          note=f"t* {', '.join(f'{t:.2f}' for t in merge['t_star_seeds'])}; k*/T "
               f"{', '.join(f'{k:.2f}' for k in merge['k_frac_seeds'])}; {seeds_note}")


def sae_readings(sae: Mapping) -> dict[str, str]:
    """Sentences for the chapter's text: what the SAE lens resolves, from the same tests as its claims."""
    res = sae["resolution"] >= 2 * TIE
    barely = max(abs(m) for m in sae["moved_all_seeds"]) < TIE
    reuse_floor = np.isfinite(sae["floor_reuse_twist"])
    reuse_res = reuse_floor and sae["reuse_resolution"] >= 2 * TIE
    reuse_barely = max(abs(m) for m in sae["moved_all_revived_seeds"]) < TIE
    return {
        "resolution_reading": (
            f"That is at least two ties ({2 * TIE:g}): here a base Twist feature kept by another model's SAE says "
            "more than an SAE of a model without the capability would show." if res else
            f"That is less than two ties ({2 * TIE:g}): an SAE of a model that never had the capability keeps the "
            "base's Twist features nearly as often as a second SAE of the base does, so at this scale the lens "
            "cannot tell a capability present from absent, and the claim that deletion keeps them is "
            "inconclusive."),
        "moved_reading": (
            f"on every seed less than a tie ({TIE:g}) from where a second SAE seed leaves it. The deletion "
            "leaves the dictionary where another SAE seed would, so a kept Twist feature cannot tell "
            "a wrapper from a model that barely moved." if barely else
            f"more than a tie ({TIE:g}) beyond a second SAE seed on at least one seed, so the dictionary did move, "
            "and whether the Twist features moved with it is the deletion's doing."),
        "reuse_reading": (
            "The control's fine-tune has no Twist feature, so reuse has no floor here and its claim is "
            "inconclusive." if not reuse_floor else
            "The ceiling is at least two ties above that floor and reFT moved the dictionary beyond a second SAE "
            "seed: the claim below compares each revived model with the floor." if reuse_res and not reuse_barely
            else "The lens cannot separate reuse from what any model trained on twist stories has: "
            + ("the ceiling is less than two ties above that floor" if not reuse_res else
               "reFT left the dictionary where a second SAE seed would") + ", and the claim is inconclusive."),
    }
