"""Jain et al.'s criteria, fixed before the runs: each claim's test on our value and its basis in the
paper's text. A change to a rule here is listed, with the old rule and why, in the book's criteria
changelog (``book/criteria_changelog.md``); never to make a claim pass.

``rule(name, **context)`` gives ``(criterion, basis)``; context is what a criterion is relative to
(``chance``: the best constant answer's accuracy on the same test set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ftscope.book.claims import Criterion, at_least, at_most, is_true, no_better_than_chance

#: margin of "no better than the constant guess": two standard errors of an accuracy near 0.3 on 1,000 samples
CHANCE_MARGIN = 0.05


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
    "compiled_exact": Rule(lambda: at_least(1.0), "App. B.1: tracr compiles the programs exactly"),
    "conversion_matches": Rule(is_true, "our port must give tracr's output (a check, not a paper claim)"),
}


def rule(name: str, **context) -> tuple[Criterion, str]:
    """``(criterion, basis)`` of the rule ``name``, made with ``context``."""
    if name not in RULES:
        raise KeyError(f"no pre-registered criterion {name!r}; valid: {', '.join(RULES)}")
    r = RULES[name]
    return r.make(**context), r.basis
