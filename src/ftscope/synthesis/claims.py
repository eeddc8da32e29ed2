"""Chapter 10's claims, one row each: each lens's hypothesis is the direction a paper's reading predicts for
another paper's models. They are hypotheses of ours (kind ``"hypothesis"``, on the scorecard's "Beyond the
papers" row; ``paper`` names the paper whose statement each extends), judged per seed (fragile when the seeds
disagree) under two preconditions: the base follows the Twist instruction, and its SAE has Twist features.
The rows read ``analyses.LensFindings`` and ``analyses.MergeFindings``.
"""

from __future__ import annotations

from ftscope.book.claims import at_least, at_most
from ftscope.book.findings import Row
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

SEEDS_NOTE = "{deletion_seeds} F+R deletion seeds (η_M) of chapter 05's one base"
GATES = ("lens_base_follows", "lens_base_has_twist_features")

ROWS = (
    Row(id="lens_base_follows", paper="jain2024", reference="Sec. 5.2", kind="precondition",
        statement="The base writes a twist when asked (twist share over each F+R run's prompts)",
        ours="base_twist", criterion=at_least(STORIES_HAS_TWIST), basis=BASIS["base_follows"], note=SEEDS_NOTE),
    Row(id="lens_base_has_twist_features", paper="horn2024", reference="Sec. 3.4", kind="precondition",
        statement="The base's SAE has Twist features (their number)",
        ours="n_twist_base", criterion=at_least(1), basis=BASIS["has_features"],
        note="{n_twist_base} Twist features of {n_alive_base} alive"),
    Row(id="lens_sae_twist_persist", paper="jain2024", reference="Sec. 5.2 × Horn & Elliott Sec. 3.4",
        kind="hypothesis", needs=GATES,
        statement="Deletion keeps the base's Twist features: their share with a match (r ≥ 0.8) in the F+R deleted "
                  "model's SAE, minus the same share in the SAE of a model that never had the capability (floor)",
        ours="persist_over_floor", criterion=at_least(TIE), basis=BASIS["sae_persist"],
        inconclusive="persist_undecided",
        note="kept in the deleted models {persist_twist.mean:.2f}; floor {floor_persist_twist:.2f} "
             "(\"Not in PT\" {not_in_pt_persist_twist:.2f}, random init {random_persist_twist:.2f}); "
             "ceiling (seed control) {ceiling_persist_twist:.2f}; resolution {resolution:.2f}; all "
             "base features kept: deleted {persist_all.mean:.2f}, seed control {control_persist_all:.2f}; "
             + SEEDS_NOTE),
    Row(id="lens_sae_reft_reuses", paper="jain2024", reference="Sec. 5.2 × Horn & Elliott Sec. 3.4",
        kind="hypothesis", needs=GATES,
        statement="reFT reuses the base's features: the revived model's Twist features with a match in the base's "
                  "SAE, minus the same share for the control's fine-tune on twist stories (which learned Twist anew)",
        ours="reuse_over_floor", criterion=at_least(TIE), basis=BASIS["sae_reuse"], inconclusive="reuse_undecided",
        note="Twist features per revived SAE: [{n_twist_revived}], the control's fine-tune's: "
             "{n_twist_control_ft}; reused: revived {reused_twist.mean:.2f}, floor (the control's "
             "fine-tune) {floor_reuse_twist:.2f}, ceiling (seed control) {ceiling_reuse_twist:.2f}; " + SEEDS_NOTE),
    Row(id="lens_merge_flip_tracks_deletion", paper="jain2024", reference="Sec. 5.2 × Horn & Elliott Sec. 4",
        kind="hypothesis", needs=("lens_base_follows",),
        statement="Merging back toward the base is stopping the deletion early: |t* − k*/T| in spacings of the "
                  "merge grid at t* (t*: where the merge path's twist share crosses 0.75; k*/T: where the "
                  "deletion's own curve does, as a share of its steps)",
        ours="flip", criterion=at_most(FLIP_SPACINGS), basis=BASIS["flip"], inconclusive="flip_undecided",
        note="t* {t_star:.2f}; k*/T {k_frac:.2f}; " + SEEDS_NOTE),
)
