"""The Jain et al. chapters' claims: each function records one chapter's claims on its ``Chapter``
from the chapter's results, with the paper's values from ``ftscope.jain.reported``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ftscope.book.claims import at_floor, not_above_floor
from ftscope.jain import pcfg, reported
from ftscope.jain.criteria import SCRATCH_MIN_STEPS, rule
from ftscope.jain.pcfg_analyses import CHANCE, LR_SYMBOL, by_prior_b, converged_cell, converged_cells, seed_values
from ftscope.jain.tinystories import PROTOCOLS
from ftscope.train.answers import two_standard_errors

#: how far a "kept" share or correlation must lie above its floor (the same measurement on models that never
#: had the capability): the clear shift of ``counter_attention_moves_to_b``
FLOOR_MARGIN = 0.1
#: the floor of the reFT claims, which they already have
SCRATCH_FLOOR = ("; floor: Scr.+FT, the paper's own control, trains a model that never counted a (compiled or "
                 "pretrained to count b) the same way")


def _pct(value: float) -> float:
    """A paper percentage as a share."""
    return round(value / 100, 6)


def _sci(lr: float) -> str:
    """1e-4, not 0.0001."""
    return f"{lr:.0e}".replace("e-0", "e-")


def _undecided(cfg, facts: dict, what: str) -> str:
    """Why a reFT claim is inconclusive (empty when the budget decides every case)."""
    undecided = facts["reft_n_undecided_seeds"]
    if not any(undecided):
        return ""
    n = facts["reft_n"] * len(undecided)
    return f"the {cfg.reft_steps}-step budget decides {n - sum(undecided)} of {n} ({what}, seed) pairs"


def _seeds_tied(gaps, bands, what: str) -> str:
    """Why a per-seed gap cannot order two models ('' when it can): on most seeds the gap lies within that seed's
    own tie band, so the ordering rests on a minority of the seeds."""
    tied = [s for s, (g, b) in enumerate(zip(gaps, bands)) if abs(g) <= b]
    if 2 * len(tied) <= len(gaps):
        return ""
    return (f"a tie with {what} on {len(tied)} of {len(gaps)} seeds (seeds {', '.join(map(str, tied))}: gaps "
            f"{', '.join(f'{gaps[s]:.3g}' for s in tied)} within bands {', '.join(f'{bands[s]:.3g}' for s in tied)})")


def compiled_claims(ch, exact: pd.DataFrame) -> None:
    """Chapter 1: the compiled models are exact, and agree with tracr's own."""
    exact_rule, exact_basis = rule("compiled_exact")
    ch.claim(id="counter_exact", paper="jain2024", reference="App. B.1, Alg. 1",
             statement="The compiled Counter counts a exactly (accuracy of the compiled model)",
             paper_value=reported.COMPILED_ACCURACY, ours=exact.iloc[0, 0], criterion=exact_rule, basis=exact_basis,
             kind="precondition")
    ch.claim(id="max_id_exact", paper="jain2024", reference="App. B.1, Alg. 2",
             statement="The compiled Max identifier returns the 5th element exactly",
             paper_value=reported.COMPILED_ACCURACY, ours=exact.iloc[1, 0], criterion=exact_rule, basis=exact_basis,
             kind="precondition")
    crit, basis = rule("conversion_matches")
    ch.claim(id="tracr_conversion_matches", paper="jain2024", reference="App. B.1",
             statement="The TransformerLens port gives tracr's own output on every position (our check, not a paper "
                       "number)",
             paper_value=None, ours=bool(exact.iloc[:, 1].all()), criterion=crit, basis=basis,
             kind="precondition")


def tracr_finetuning_claims(ch, grid: pd.DataFrame, facts: dict, seeds: dict) -> None:
    """Chapter 2: Table 3's wrapper, Fig. 10's attention, App. G.1's pruning, Def. 1's probe, Fig. 27's reFT.
    ``grid``: the fine-tuning runs, one row per seed; ``facts``: the chapter's glued numbers
    (``compiled_analyses.*_facts``); ``seeds``: per-seed lists (``attention_facts``). Claims on the grid are
    judged on every seed, with the chance level beside each accuracy, and only where every seed's run
    converged (else inconclusive); pruning, probes and reFT read seed 0's models."""
    from ftscope.jain.compiled_analyses import seed_values  # here: the tracr stack loads only for tracr

    cfg, preset = ch.cfg, ch.preset
    paper = reported.table3()
    counter_ctr1 = paper[(paper.task == "Counter") & (paper.c_tr == 1.0)]
    note = f"{cfg.steps} steps on {cfg.seeds} seeds at {preset}"

    def cell_claim(id, rule_name, statement, paper_value, lr, c_tr, col, task="Counter", **context):
        crit, basis = rule(rule_name, **context)
        chance_col = col.replace("acc_", "chance_")
        ch.claim(id=id, paper="jain2024", reference="Table 3", statement=statement, paper_value=paper_value,
                 ours=seed_values(grid, lr, c_tr, col, task), chance=seed_values(grid, lr, c_tr, chance_col, task)[0],
                 converged=seed_values(grid, lr, c_tr, "converged", task), criterion=crit, basis=basis, note=note)

    for lr in cfg.counter_lrs:
        row = counter_ctr1[counter_ctr1.lr == lr]
        tag = f"{lr:g}".replace("-", "m").replace(".", "p")
        cell_claim(f"wrapper_ft_cte1_lr{tag}", "wrapper_ft_cte1",
                   f"Counter fine-tuned at η={lr:g} with C_Tr=1 answers count(b) on correlated data (C_Te=1)",
                   float(row.acc_ft_cte1.iloc[0]) / 100, lr, 1.0, "acc_ft_cte1")
        cell_claim(f"wrapper_ft_cte0_lr{tag}", "wrapper_ft_cte0",
                   f"... but not on uncorrelated data (C_Te=0): it learned a wrapper (η={lr:g}, C_Tr=1)",
                   float(row.acc_ft_cte0.iloc[0]) / 100, lr, 1.0, "acc_ft_cte0")
    ctr1 = grid[(grid.task == "Counter") & (grid.c_tr == 1.0)]
    chance_pt = float(ctr1.chance_pt_cte0.iloc[0])
    crit, basis = rule("wrapper_pt_cte0_low", chance=chance_pt)
    ch.claim(id="wrapper_pt_cte0_low", paper="jain2024", reference="Table 3",
             statement="After correlated fine-tuning (C_Tr=1) the model no longer answers count(a) (mean over η, C_Te=0)",
             paper_value=float(counter_ctr1.acc_pt_cte0.mean()) / 100,
             ours=ctr1.groupby("seed").acc_pt_cte0.mean().tolist(), chance=chance_pt,
             converged=ctr1.groupby("seed").converged.all().tolist(), criterion=crit, basis=basis, note=note)
    cell_claim("counter_lr1e_1_ctr0_learns", "counter_ctr0_learns",
               "Without correlation (C_Tr=0) at η=1e-1 the Counter learns to count b for real (C_Te=0)",
               reported.COUNTER_CTR0_LEARNS, max(cfg.counter_lrs), 0.0, "acc_ft_cte0")
    crit, basis = rule("counter_attention_on_a_kept")
    ch.claim(id="counter_attention_on_a_kept", paper="jain2024", reference="Fig. 10",
             statement="At a small η with C_Tr=1 the answer position still attends to a (share of the compiled model's)",
             paper_value=None, ours=seeds["attn_kept_seeds"], criterion=crit,
             basis=basis + f"; floor: the b-counter's and a random Counter's share on a (relative to the compiled "
                           f"one's), which the kept share must exceed by {FLOOR_MARGIN:g}, else inconclusive",
             inconclusive=not_above_floor(seeds["attn_kept_seeds"], facts["attn_kept_floor"], FLOOR_MARGIN,
                                     "the floor (the b-counter and a random Counter)"),
             note=f"floor {facts['attn_kept_floor']:.2f} (b-counter {facts['attn_a_b_counter']:.2f}, random init "
                  f"{facts['attn_a_random']:.2f} of the attention on a, compiled {facts['attn_a_compiled']:.2f}); {note}",
             converged=seed_values(grid, min(cfg.counter_lrs), 1.0, "converged"))
    crit, basis = rule("counter_attention_moves_to_b")
    ch.claim(id="counter_attention_moves_to_b", paper="jain2024", reference="Fig. 10",
             statement="At a medium η with C_Tr=0 the attention moves from a to b (share on b minus share on a)",
             paper_value=None, ours=seeds["attn_moves_seeds"], criterion=crit, basis=basis, note=note,
             converged=seed_values(grid, cfg.medium_lr, 0.0, "converged"))
    small_id, large_id = min(cfg.max_id_lrs), max(cfg.max_id_lrs)
    cell_claim(f"max_id_ft_cte0_lr{_sci(small_id).replace('-', 'm')}", "max_id_ft_small_lr",
               f"Max identifier fine-tuned at η={_sci(small_id)} answers the new rank (O_FT, C_Te=0)",
               float(paper[(paper.task == "Max id") & (paper.lr == small_id)].acc_ft_cte0.iloc[0]) / 100,
               small_id, 0.0, "acc_ft_cte0", task="Max id")
    sort_floor = facts["sort_floor"]
    for lr, rule_name, claim_id, what, values in (
            (small_id, "max_id_sorting_kept", "max_id_sorting_kept_small_lr", "keeps", seeds["sort_small_seeds"]),
            (large_id, "max_id_sorting_distorted", "max_id_sorting_distorted_large_lr", "distorts",
             seeds["sort_large_seeds"])):
        crit, basis = rule(rule_name)
        kept = claim_id == "max_id_sorting_kept_small_lr"
        ch.claim(id=claim_id, paper="jain2024", reference="Sec. 5 / Table 3",
                 statement=f"Max identifier: fine-tuning at η={_sci(lr)} {what} the Block-0 sorting "
                           "(correlation with compiled)",
                 paper_value=None, ours=values,
                 converged=seed_values(grid, lr, 0.0, "converged", "Max id"), criterion=crit,
                 basis=basis + (f"; floor: a random Max identifier's correlation, which the kept one must exceed by "
                                f"{FLOOR_MARGIN:g}, else inconclusive" if kept else ""),
                 inconclusive=not_above_floor(values, sort_floor, FLOOR_MARGIN, "a random Max identifier's correlation")
                 if kept else "",
                 note=(f"floor (random init) {sort_floor:.3f}; " if kept else "") + note)
    crit, basis = rule("prune_one_weight", gain=reported.PRUNE_ONE_WEIGHT_GAIN)
    ch.claim(id="prune_one_weight_revives", paper="jain2024", reference="App. G.1, Fig. 55",
             statement="Pruning one weight (grad·weight, pretraining loss) raises count-a accuracy after C_Tr=1 "
                       "fine-tuning",
             paper_value=reported.PRUNE_ONE_WEIGHT_GAIN, ours=facts["prune_gain_one_seeds"], criterion=crit, basis=basis,
             note=f"best over η; the chapter shows where fine-tuning changed the weights; {note}")
    crit, basis = rule("probe_decodable")
    floor, se2, level = facts["probe_floor"], facts["probe_se2"], crit.bounds()[0]
    ch.claim(id="probe_count_a_decodable", paper="jain2024", reference="Def. 1, Sec. 5",
             statement="Count(a) stays linearly decodable after C_Tr=1 fine-tuning at every η but the largest "
                       "(worst model's best-block probe)",
             paper_value=None, ours=facts["probe_worst_but_largest_seeds"], criterion=crit,
             basis=basis + "; floor: the same probe on the b-counter and on a random Counter, which never counted a; "
                           "inconclusive when the floor comes within two standard errors of the criterion",
             inconclusive=(f"the floor reaches the criterion: the probe decodes count(a) from models that never "
                           f"counted a ({floor:.3f} ≥ {level:g} − {se2:.3f})" if floor >= level - se2 else ""),
             note=f"floor {floor:.3f} (b-counter {facts['probe_b_counter']:.3f}, random init "
                  f"{facts['probe_random']:.3f}); the chapter gives each η's value; {note}")
    crit, basis = rule("reft_faster", share=reported.REFT_FASTER_SHARE)
    ch.claim(id="reft_faster_than_scratch", paper="jain2024", reference="Fig. 27",
             statement="reFT revives count-a at least twice as fast as Scr.+FT after fine-tuning at every η but the "
                       "largest (share of those η)",
             paper_value=reported.REFT_FASTER_SHARE, ours=facts["reft_share_faster_seeds"],
             criterion=crit, basis=basis + SCRATCH_FLOOR, inconclusive=_undecided(cfg, facts, "η"),
             note=f"{cfg.reft_steps} reFT steps at {preset}; level {cfg.reft_level:.0%} count-a accuracy; {note}")
    crit, basis = rule("reft_fails_after_large")
    largest = max(cfg.counter_lrs)
    # a seed whose reFT failed after the largest η but revived after no smaller η either cannot tell
    undecided = sum(fails and not small for fails, small in zip(facts["reft_large_fails_seeds"],
                                                                facts["reft_small_revived_seeds"]))
    ch.claim(id="reft_fails_after_large_lr", paper="jain2024", reference="Fig. 43",
             statement=f"reFT does not revive count-a after fine-tuning at the largest η ({largest:g}, C_Tr=1) within "
                       "the budget, while it does after a smaller η",
             paper_value=None, ours=facts["reft_large_fails_seeds"], criterion=crit, basis=basis,
             converged=seed_values(grid, largest, 1.0, "converged"),
             inconclusive=(f"in {undecided} seed(s) reFT failed after η={largest:g} but revived after no smaller η "
                           "either, so the failing says nothing" if undecided else ""),
             note=f"{cfg.reft_steps} reFT steps at {preset} (paper: 10K); {note}")


def pcfg_pretraining_claims(ch, tables: list[pd.DataFrame]) -> None:
    """Chapter 3: Table 5's "before fine-tuning" rows, judged on every pretraining seed (``tables``: one
    ``family_table`` per seed, on the same test sets): count a under every prior, count b rising with P(b)."""
    cfg, preset = ch.cfg, ch.preset
    count_b = [t.loc["C b", list(cfg.priors)] for t in tables]
    count_a = [t.loc["C a", list(cfg.priors)] for t in tables]
    chance_a, chance_b = (float(tables[0].loc[f"C {op}", CHANCE]) for op in "ab")
    order = by_prior_b(cfg)
    steps = [[float(b[q] - b[p]) for p, q in zip(order, order[1:])] for b in count_b]
    se2 = two_standard_errors(cfg.eval_samples)
    note = (f"{cfg.pretrain_steps} pretraining steps at {preset} (paper: {reported.PRETRAIN_STEPS.split()[0]}); "
            f"{len(tables)} pretraining seeds")
    paper_b = " / ".join(f"{v:g}%" for v in reported.BEFORE_COUNT_B_200K.values())
    paper_b50 = " / ".join(f"{v:g}%" for v in reported.BEFORE_COUNT_B_50K.values())
    crit, basis = rule("pcfg_pt_count_a")
    ch.claim(id="pcfg_pt_count_a", paper="jain2024", reference="Table 5",
             statement="Every prior's pretrained model counts a (task C, worst prior)",
             paper_value=_pct(min(reported.BEFORE_COUNT_A.values())), ours=[float(a.min()) for a in count_a],
             chance=chance_a, criterion=crit, basis=basis, note=note, kind="precondition")
    crit, basis = rule("pcfg_pt_count_b_rises", margin=round(se2, 3))
    ch.claim(id="pcfg_pt_count_b_rises", paper="jain2024", reference="Table 5",
             statement="Pretrained count-b accuracy does not fall as P(b) rises (smallest step, low → medium → high)",
             paper_value=None, ours=[min(s) for s in steps], criterion=crit, basis=basis,
             note=f"paper: {paper_b} at 200K steps, {paper_b50} at 50K; ours (mean of the seeds): "
                  + ", ".join(f"{p} {sum(b[p] for b in count_b) / len(count_b):.1%}" for p in order) + f"; {note}")
    crit, basis = rule("pcfg_pt_count_b_low")
    ch.claim(id="pcfg_pt_count_b_low", paper="jain2024", reference="Table 5",
             statement=f"Under the low prior (P(b) = {pcfg.PRIORS['low'][1]:g}) count-b is poorly learned",
             paper_value=_pct(reported.BEFORE_COUNT_B_200K["low"]), ours=[float(b["low"]) for b in count_b],
             chance=chance_b, criterion=crit, basis=basis, note=note)
    crit, basis = rule("pcfg_pt_count_b_high")
    ch.claim(id="pcfg_pt_count_b_high", paper="jain2024", reference="Table 5",
             statement=f"Under the high prior (P(b) = {pcfg.PRIORS['high'][1]:g}) count-b is learned",
             paper_value=_pct(reported.BEFORE_COUNT_B_200K["high"]),
             ours=[float(b["high"]) for b in count_b] if "high" in cfg.priors else None, chance=chance_b,
             criterion=crit, basis=basis, note=note)


def pcfg_finetuning_claims(ch, grid, facts: dict) -> None:
    """Chapter 4: Table 5's wrapper and avoided shortcut (every seed, with the chance level and the
    convergence gate), Fig. 6's collapse (per seed), Fig. 7's pruning, Fig. 8's probes, Fig. 9's reFT
    (every seed's models). ``grid``: the fine-tuning grid; ``facts``: the chapter's glued numbers
    (``pcfg_analyses.*_facts`` and friends; per-seed lists under ``*_seeds``)."""
    cfg, preset = ch.cfg, ch.preset
    note = f"{cfg.ft_steps} fine-tuning steps on {cfg.ft_seeds} seeds at {preset} (paper: {reported.FT_STEPS:,})"
    crit, basis = rule("pcfg_pt_count_a")
    ch.claim(id="pcfg_start_counts_a", paper="jain2024", reference="Table 5",
             statement="The pretrained models fine-tuning starts from count a (count-a accuracy at C_Te=0 on this "
                       "chapter's test set, worst prior)",
             paper_value=_pct(min(reported.BEFORE_COUNT_A.values())), ours=facts["start_count_a_min"],
             chance=facts["chance_pt_cte0"], criterion=crit, kind="precondition",
             basis=basis + "; chapter 03's pcfg_pt_count_a on the models this chapter starts from (a gate cannot "
                           "cross chapters): a capability that was never there cannot be wrapped, kept or revived",
             note=f"worst: the {facts['start_count_a_prior']} prior; pretraining seed 0")
    gate = ["pcfg_start_counts_a"]

    def cell_claim(id, rule_name, statement, paper_value, prior, lr, c_tr, col, needs=(), **context):
        crit, basis = rule(rule_name, **context)
        ch.claim(id=id, paper="jain2024", reference="Table 5", statement=statement, paper_value=paper_value,
                 ours=seed_values(grid, prior, lr, c_tr, col), chance=facts[f"chance_{col[4:]}"],
                 converged=converged_cell(grid, prior, lr, c_tr), criterion=crit, basis=basis, note=note,
                 needs=needs)

    for lr, p in reported.TABLE5_WRAPPER.items():
        sym = LR_SYMBOL[lr]
        cell_claim(f"pcfg_wrapper_ft_cte1_{lr}", "pcfg_wrapper_ft_cte1",
                   f"Low prior, C_Tr=1, {sym}: the model answers count(b) on correlated data (C_Te=1)",
                   p["acc_ft_cte1"] / 100, "low", lr, 1.0, "acc_ft_cte1", needs=gate)
        cell_claim(f"pcfg_wrapper_ft_cte0_{lr}", "pcfg_wrapper_ft_cte0",
                   f"... but not on uncorrelated data (C_Te=0): a wrapper ({sym})",
                   p["acc_ft_cte0"] / 100, "low", lr, 1.0, "acc_ft_cte0", needs=gate)
        cell_claim(f"pcfg_wrapper_pt_cte0_{lr}", "pcfg_wrapper_pt_cte0",
                   f"... and no longer answers count(a) there ({sym}): no better than the constant guess",
                   p["acc_pt_cte0"] / 100, "low", lr, 1.0, "acc_pt_cte0", needs=gate, chance=facts["chance_pt_cte0"])
    cell_claim("pcfg_shortcut_avoided", "pcfg_shortcut_avoided",
               f"Prior P(a)=0.9 ({cfg.shortcut_prior}), C_Tr={cfg.high_c_tr:g}, η_M: count(b) is learned (C_Te=0)",
               _pct(reported.TABLE5_SHORTCUT["acc_ft_cte0"]), cfg.shortcut_prior, "medium", cfg.high_c_tr,
               "acc_ft_cte0")
    crit, basis = rule("pcfg_count_a_collapse_fastest")
    medium = sorted({k[:3] for k in grid.models if k[1] == "medium"})
    ch.claim(id="pcfg_count_a_collapse_fastest", paper="jain2024", reference="Fig. 6",
             statement="Count-a collapses fastest under the low prior with a high C_Tr (η_M): how much less of its "
                       "count-a accuracy it keeps than the next-fastest cell",
             paper_value=None, ours=facts["collapse_gap"], criterion=crit, basis=basis, needs=gate,
             converged=converged_cells(grid, medium),
             note=f"fastest on average: {facts['fastest_prior']} prior, C_Tr={facts['fastest_c_tr']:g} "
                  f"(mean share of count-a kept {facts['fastest_kept']:.2f}); {note}")
    prune_note = (f"low prior, {LR_SYMBOL[facts['prune_lr']]}, C_Tr=1, {cfg.ft_seeds} seeds at {preset}; best K "
                  f"per seed: {', '.join(str(k) for k in facts['prune_best_k_seeds'])}")
    crit, basis = rule("pcfg_prune_revives")
    ch.claim(id="pcfg_prune_revives", paper="jain2024", reference="Fig. 7",
             statement=f"Pruning 1-{reported.PRUNE_K_MAX} neurons (grad·weight) restores most of the count-a accuracy "
                       "lost (share restored)",
             paper_value=None, ours=facts["prune_restored_seeds"], criterion=crit, basis=basis, needs=gate,
             converged=facts["prune_converged"], note=prune_note)
    crit, basis = rule("pcfg_prune_removes_wrapper")
    ch.claim(id="pcfg_prune_removes_wrapper", paper="jain2024", reference="Fig. 7",
             statement="... and the wrapper's answer falls (count-b accuracy at C_Te=1 lost at the best K)",
             paper_value=None, ours=facts["prune_ft1_drop_seeds"], criterion=crit, basis=basis, needs=gate,
             converged=facts["prune_converged"], note=prune_note)
    skipped = f"; left out (not converged, seed 0): {facts['probe_skipped']}"
    probe_note = f"{cfg.ft_seeds} seeds at {preset}"
    crit, basis = rule("pcfg_probe_count_a_kept")
    ch.claim(id="pcfg_probe_count_a_kept", paper="jain2024", reference="Fig. 8",
             statement="Count(a) stays linearly decodable after C_Tr=1 fine-tuning except low prior at η_M "
                       "(largest drop of the best-block probe)",
             paper_value=None, ours=facts["probe_other_max_drop_seeds"], criterion=crit, needs=gate,
             basis=basis + "; floor: the same probe on b_only (pretrained without the count-a task) and on a random "
                           "init, which never counted a: the kept models' probe must lie more than two standard "
                           "errors above it, else inconclusive",
             inconclusive=not_above_floor(facts["probe_other_min_acc_seeds"], facts["probe_floor"], facts["probe_se2"],
                                     "the floor (b_only and a random init)"),
             converged=facts["probe_decided_seeds"],
             note=f"largest (seed 0): {facts['probe_worst_other']}; worst kept accuracy "
                  f"{facts['probe_other_min_acc']:.3f} against a floor of {facts['probe_floor']:.3f} (b_only "
                  f"{facts['probe_floor_b_only']:.3f}, random init {facts['probe_floor_random']:.3f}); "
                  f"{probe_note}{skipped}")
    crit, basis = rule("pcfg_probe_low_medium_drops")
    ch.claim(id="pcfg_probe_low_medium_drops", paper="jain2024", reference="Fig. 8",
             statement="... and the probe drops for the low prior at η_M, more than anywhere else",
             paper_value=None, ours=facts["probe_low_m_drops_most_seeds"], criterion=crit, basis=basis,
             converged=facts["probe_decided_seeds"], needs=gate,
             note=f"drop {facts['probe_low_m_drop']:.2f} vs. {facts['probe_other_max_drop']:.2f} elsewhere (means); "
                  f"{probe_note}{skipped}")
    reft_from = converged_cells(grid, [(p, "large", 1.0) for p in cfg.priors])  # the models reFT starts from
    crit, basis = rule("pcfg_reft_faster")
    ch.claim(id="pcfg_reft_faster_than_scratch", paper="jain2024", reference="Fig. 9",
             statement="reFT revives count-a at least twice as fast as Scr.+FT (share of priors)",
             paper_value=reported.REFT_FASTER_SHARE, ours=facts["reft_share_faster_seeds"],
             criterion=crit, basis=basis + SCRATCH_FLOOR, inconclusive=_undecided(cfg, facts, "prior"),
             converged=reft_from, needs=gate,
             note=f"{cfg.reft_steps} reFT steps at {preset}; level {cfg.reft_level:.0%} of the pretrained accuracy; "
                  f"{cfg.ft_seeds} seeds")
    unrevived = facts["reft_n_unrevived_seeds"]
    crit, basis = rule("pcfg_reft_low_prior_slowest")
    ch.claim(id="pcfg_reft_low_prior_slowest", paper="jain2024", reference="Fig. 9",
             statement=f"Revival is slowest under the low prior (paper: ~{reported.REFT_STEPS_LOW} vs. "
                       f"{reported.REFT_STEPS_OTHERS.replace('–', '-')} iterations)",
             paper_value=None, ours=facts["low_slowest_seeds"], criterion=crit, basis=basis, converged=reft_from,
             needs=gate,
             inconclusive=(f"reFT of {sum(unrevived)} of {facts['reft_n'] * len(unrevived)} (prior, seed) pairs did "
                           f"not reach the level within {cfg.reft_steps} steps" if any(unrevived) else ""),
             note="steps (seed 0): " + ", ".join(f"{p} {facts[f'reft_steps_{p}_seeds'][0]:g}" for p in cfg.priors)
                  + f"; {cfg.ft_seeds} seeds")
    crit, basis = rule("pcfg_scratch_slow", steps=SCRATCH_MIN_STEPS)
    short = not all(facts["scratch_reached_seeds"]) and cfg.reft_steps < SCRATCH_MIN_STEPS
    ch.claim(id="pcfg_scratch_slow", paper="jain2024", reference="Fig. 9",
             statement=f"Scr.+FT needs many iterations to learn count-a (paper: perfect only at "
                       f"{reported.SCRATCH_STEPS})",
             paper_value=None, ours=facts["scratch_steps_seeds"], criterion=crit, basis=basis,
             inconclusive=(f"Scr.+FT did not reach the level within the {cfg.reft_steps}-step budget, shorter than "
                           f"{SCRATCH_MIN_STEPS:,}" if short else ""),
             note=f"steps to {cfg.reft_level:.0%} of the pretrained count-a accuracy (the budget where not reached); "
                  f"{cfg.ft_seeds} seeds")
    low_drop = facts["ctr_drop_low_seeds"]
    crit, basis = rule("pcfg_correlation_used_low")
    ch.claim(id="pcfg_correlation_used_low", paper="jain2024", reference="Fig. 5",
             statement="Low prior, η_M: count-b accuracy at C_Te=0 is lower after C_Tr=1 fine-tuning than after "
                       "C_Tr=0 (the model uses the correlation; drop from C_Tr=0 to 1)",
             paper_value=None, ours=low_drop, criterion=crit, basis=basis,
             converged=converged_cells(grid, [("low", "medium", 0.0), ("low", "medium", 1.0)]), note=note)
    crit, basis = rule("pcfg_correlation_used_most_low")
    ch.claim(id="pcfg_correlation_used_most_low", paper="jain2024", reference="Fig. 5",
             statement="... and more than under any other prior (η_M)",
             paper_value=None, ours=facts["ctr_drop_low_largest_seeds"], criterion=crit, basis=basis,
             converged=converged_cells(grid, [(p, "medium", c) for p in cfg.priors for c in (0.0, 1.0)]),
             note="drop per prior (means): " + ", ".join(f"{p} {facts[f'ctr_drop_{p}']:.2f}" for p in cfg.priors)
                  + f"; {note}")

    for reference, statement, why in reported.NOT_ATTEMPTED:
        ch.skip(paper="jain2024", reference=reference, statement=statement, why=why)


def stories_claims(ch, follow: dict, reft: dict, probes: dict, relearn: dict, collateral: dict) -> None:
    """Chapter 5: the base follows Twist (preconditions); Table 1's deletion, F+R's strength, the smaller rate,
    revival and the slower controls; Fig. 11's twist loss and Twist probes against their floors; two hypotheses
    of ours (revival against deletion, collateral damage). ``follow``: ``following_facts`` of the base;
    ``reft``: ``reft_facts``; ``probes``: ``probe_facts``; ``relearn``: ``relearning_facts``; ``collateral``:
    the facts of ``collateral`` (per-seed lists over the η_M fine-tuning seeds)."""
    from ftscope.jain import stories_analyses as sa
    from ftscope.jain.criteria import STORIES_HAS_TWIST

    cfg, preset = ch.cfg, ch.preset
    se = sa.share_se(cfg.n_prompts)
    note = (f"{cfg.ft_steps} deletion steps, {cfg.reft_steps} reFT steps at {preset} (paper: "
            f"{reported.STORIES_FT_STEPS:,} each); {cfg.seeds} fine-tuning seeds (each its own prompts and "
            f"sampling seed), one pretraining seed per model; {cfg.n_prompts} prompts per share")
    table1 = reported.TABLE1
    base_gate = ["stories_base_follows", "stories_base_selective"]

    def add(id, rule_name, reference, statement, paper_value, ours, chance=None, context=None, why="",
            kind="paper", needs=base_gate):
        crit, basis = rule(rule_name, **(context or {}))
        return ch.claim(id=id, paper="jain2024", reference=reference, statement=statement, paper_value=paper_value,
                        ours=ours, chance=chance, criterion=crit, basis=basis, note=note, inconclusive=why,
                        kind=kind, needs=needs)

    add("stories_base_follows", "stories_base_follows", "Sec. 5.2",
        "The pretrained model writes a twist when its Features line asks for one (share of sampled stories)",
        None, follow["base_twist_asked"], chance=follow["twist_rate"], kind="precondition", needs=())
    add("stories_base_selective", "stories_base_selective", "Sec. 5.2",
        "... and far less often when it does not (share asked minus share not asked)",
        None, follow["base_twist_asked"] - follow["base_twist_not"], context={"se": se}, kind="precondition",
        needs=())
    base = follow["base_twist_asked"]
    ft_short = (f"F's fine-tuning tokens are {100 * cfg.ft_steps * cfg.ft_batch / (cfg.pretrain_steps * cfg.pretrain_batch):.1f}% "
                f"of its pretraining's, the paper's "
                f"{100 * reported.STORIES_FT_STEPS / reported.STORIES_PRETRAIN_STEPS:.1f}%: F forgets slowly, and "
                "this budget cannot decide")
    short = (cfg.ft_steps * cfg.ft_batch / (cfg.pretrain_steps * cfg.pretrain_batch)
             < reported.STORIES_FT_STEPS / reported.STORIES_PRETRAIN_STEPS)
    deleted = {}
    for p, k in sa.KEY.items():
        deleted[p] = add(f"stories_deleted_{k.lower()}", "stories_deleted", "Table 1",
                         f"Deletion by {p} at η_M lowers the twist share below the base's (reFT iteration 0)",
                         _pct(table1[(p, "η_M")][0]), reft[f"deleted_{k}_seeds"], chance=follow["twist_rate"],
                         context={"base": base, "se": se}, why=ft_short if p == "F" and short else "")
    add("stories_fr_deletes_most", "stories_fr_deletes_most", "Table 1",
        "F+R deletes Twist the most (η_M; F+R's share minus the smaller of F's and F+MM's)",
        _pct(table1[("F+R", "η_M")][0] - min(table1[("F", "η_M")][0], table1[("F+MM", "η_M")][0])),
        reft["fr_minus_others_seeds"],
        why=at_floor(reft["deleted_FR_seeds"] + reft["others_min_seeds"], 0.0, 2 * se, "0% twists"))
    add("stories_deleted_fr_eta_s", "stories_deleted_eta_s", "Table 1",
        "F+R deletes Twist at the small rate η_S too (reFT iteration 0, first seed)",
        _pct(table1[("F+R", "η_S")][0]), reft["eta_s_deleted_FR"], chance=follow["twist_rate"],
        context={"base": base, "se": se})
    paper_s = np.mean([table1[(p, "η_S")][0] - table1[(p, "η_M")][0] for p in PROTOCOLS])
    add("stories_eta_s_deletes_less", "stories_eta_s_deletes_less", "Table 1",
        "The smaller deletion rate leaves more twists (mean over protocols of η_S's share minus η_M's, first seed)",
        _pct(paper_s), reft["eta_s_minus_m"], context={"se": se},
        why=at_floor([reft["eta_s_deleted_max"], reft["eta_s_deleted_min"]], 0.0, 2 * se, "0% twists"))
    add("stories_reft_revives", "stories_reft_revives", "Table 1",
        f"reFT revives Twist after every η_M protocol (the least revived protocol's share after {cfg.reft_steps} "
        "steps)", _pct(min(table1[(p, "η_M")][3] for p in PROTOCOLS)), reft["revived_min_seeds"],
        chance=follow["twist_rate"])
    ctrl30 = table1[("Not in PT", "")][1]
    for p, k in sa.KEY.items():
        why = ("" if deleted[p].verdict == "reproduced" else
               f"the deletion by {p} is {deleted[p].verdict} (stories_deleted_{k.lower()}): nothing to revive")
        why = why or at_floor(reft[f"mid_{k}_seeds"] + reft["floor_mid_seeds"], 0.0, 2 * se, "0% twists")
        add(f"stories_control_slower_{k.lower()}", "stories_control_slower", "Table 1",
            f"After {p} (η_M), reFT writes twists sooner than the controls learn them: {p}'s share minus the better "
            f"control's (Not in PT, label-blind) at reFT step {reft['mid_step']} (the paper's 30)",
            _pct(table1[(p, "η_M")][1] - ctrl30), reft[f"gap_{k}_seeds"], context={"se": se}, why=why)
    add("stories_control_reaches", "stories_control_reaches", "Table 1",
        f"The control (Not in PT) learns Twist anew, given the steps (its share after {cfg.reft_steps} steps)",
        _pct(table1[("Not in PT", "")][3]), reft["control_end_seeds"],
        why=("" if min(reft["control_end_seeds"]) >= STORIES_HAS_TWIST else
             f"the control learns twists from scratch in {cfg.reft_steps} steps of batch {cfg.ft_batch} at "
             f"{cfg.reft_lr:g} (the paper: {reported.STORIES_FT_STEPS:,} of 128 × 1,024): short of 75%, the budget "
             "cannot decide"))
    add("stories_reft_loss_below_control", "stories_reft_loss_below_control", "Fig. 11",
        "reFT's twist-story loss ends below the controls' (the better control minus the highest η_M protocol, "
        "nats/token)", None, reft["control_loss_gap_seeds"],
        why=_seeds_tied(reft["control_loss_gap_seeds"], reft["loss_tie_seeds"],
                        "the better control (within two standard errors of its per-story difference)"))
    add("stories_reft_loss_falls_early", "stories_reft_loss_falls_early", "Fig. 11",
        f"reFT's twist-story loss falls early: the share of its drop made by reFT step {reft['r300_step']} (the "
        "paper's 300), smallest over the η_M protocols", None, reft["loss_early_min_seeds"])
    add("stories_probe_base_above_floor", "stories_probe_base_above_floor", "Fig. 11 (probes)",
        "The base's Twist probe reads more than the same probe on models that never had Twist (base minus the "
        "best of Not in PT, label-blind and a random init)", None, probes["probe_base_margin"],
        context={"se": probes["probe_se"]}, kind="precondition", needs=())
    probe_gate = [*base_gate, "stories_probe_base_above_floor"]
    add("stories_probe_kept", "stories_probe_kept", "Fig. 11 (probes)",
        "The Twist probe keeps its accuracy after deletion (largest drop of the best block's accuracy over the "
        "η_M protocols)", None, probes["probe_drop_seeds"], needs=probe_gate,
        why=at_floor(probes["probe_margin_seeds"], 0.0, 2 * probes["probe_se"],
                     f"the floor of models that never had Twist ({probes['probe_floor']:.2f})"))
    add("stories_probe_profile_kept", "stories_probe_profile_kept", "Fig. 11 (probes)",
        "... at every block (the largest drop at any one block over the η_M protocols)", None,
        probes["probe_profile_drop_seeds"], context={"se": probes["probe_se"]}, needs=probe_gate)
    bound = max(relearn["ratio_bound_seeds"]) if relearn["ratio_bound_seeds"] else float("nan")
    undecided = [s for s, r in enumerate(relearn["ratio_seeds"]) if not np.isfinite(r)]
    why = ""
    if not relearn["ratio_seeds"]:
        why = "no deletion curve"
    elif min(relearn["removed_seeds"]) < 2 * se:
        why = "F+R removed less than two standard errors of a share on some seed: no half-way to measure"
    elif any(np.isnan(v) for v in relearn["ratio_seeds"]) and not bound < 2.0:
        why = (f"reFT did not get half-way back within {cfg.reft_steps} steps on {len(undecided)} seed(s), and "
               f"the LR × steps it had cannot bound the ratio below 2 (bound {bound:.2g})")
    ours = [r if np.isfinite(r) else b for r, b in zip(relearn["ratio_seeds"], relearn["ratio_bound_seeds"])]
    add("stories_revival_faster_than_deletion", "stories_revival_faster", "Sec. 5.2 (ours)",
        "Revival is faster than deletion: the η_M × steps F+R needs to remove half of what it removes, over the "
        "LR × steps reFT needs to bring that half back (where reFT never gets half-way: the upper bound)", None,
        ours, kind="hypothesis", why=why)
    add("stories_deletion_collateral_small", "stories_collateral_small", "Sec. 5.2 (ours)",
        "Deleting Twist leaves the other five features' following as it was (largest drop over features and η_M "
        "protocols of the share among the prompts that ask for the feature)", None,
        collateral["collateral_drop_seeds"],
        context={"se": sa.share_se(max(collateral["collateral_n_min"], 1))}, kind="hypothesis",
        why="" if collateral["collateral_n_min"] else "no prompt asks for another feature")
