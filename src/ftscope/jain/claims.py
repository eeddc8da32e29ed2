"""The Jain et al. chapters' claims: each function records one chapter's claims on its ``Chapter``
from the chapter's results, with the paper's values from ``ftscope.jain.reported``."""

from __future__ import annotations

import pandas as pd

from ftscope.book.claims import at_least, at_most, is_true
from ftscope.jain import pcfg, reported
from ftscope.jain.pcfg_analyses import LR_SYMBOL, by_prior_b, seed_values


def _pct(value: float) -> float:
    """A paper percentage as a share."""
    return round(value / 100, 6)


def _sci(lr: float) -> str:
    """1e-4, not 0.0001."""
    return f"{lr:.0e}".replace("e-0", "e-")


def compiled_claims(ch, exact: pd.DataFrame) -> None:
    """Chapter 1: the compiled models are exact, and agree with tracr's own."""
    ch.claim(id="counter_exact", paper="jain2024", reference="App. B.1, Alg. 1",
             statement="The compiled Counter counts a exactly (accuracy of the compiled model)",
             paper_value=reported.COMPILED_ACCURACY, ours=exact.iloc[0, 0], criterion=at_least(1.0))
    ch.claim(id="max_id_exact", paper="jain2024", reference="App. B.1, Alg. 2",
             statement="The compiled Max identifier returns the 5th element exactly",
             paper_value=reported.COMPILED_ACCURACY, ours=exact.iloc[1, 0], criterion=at_least(1.0))
    ch.claim(id="tracr_conversion_matches", paper="jain2024", reference="App. B.1",
             statement="The TransformerLens port gives tracr's own output on every position (our check, not a paper "
                       "number)",
             paper_value=None, ours=bool(exact.iloc[:, 1].all()), criterion=is_true())


def tracr_finetuning_claims(ch, grid: pd.DataFrame, facts: dict) -> None:
    """Chapter 2: Table 3's wrapper, Fig. 10's attention, App. G.1's pruning, Def. 1's probe, Fig. 27's reFT.
    ``facts``: the chapter's glued numbers (``compiled_analyses.*_facts``, ``reft_n_faster``, ``reft_n``)."""
    from ftscope.jain.compiled_analyses import cell as tracr_cell  # here: the tracr stack loads only for tracr

    cfg, preset = ch.cfg, ch.preset
    paper = reported.table3()
    counter_ctr1 = paper[(paper.task == "Counter") & (paper.c_tr == 1.0)]
    note = f"{cfg.steps} steps at {preset}"
    for lr in cfg.counter_lrs:
        row = counter_ctr1[counter_ctr1.lr == lr]
        tag = f"{lr:g}".replace("-", "m").replace(".", "p")
        ch.claim(id=f"wrapper_ft_cte1_lr{tag}", paper="jain2024", reference="Table 3",
                 statement=f"Counter fine-tuned at η={lr:g} with C_Tr=1 answers count(b) on correlated data (C_Te=1)",
                 paper_value=float(row.acc_ft_cte1.iloc[0]) / 100, ours=tracr_cell(grid, lr, 1.0, "acc_ft_cte1"),
                 criterion=at_least(0.9), note=note)
        ch.claim(id=f"wrapper_ft_cte0_lr{tag}", paper="jain2024", reference="Table 3",
                 statement=f"... but not on uncorrelated data (C_Te=0): it learned a wrapper (η={lr:g}, C_Tr=1)",
                 paper_value=float(row.acc_ft_cte0.iloc[0]) / 100, ours=tracr_cell(grid, lr, 1.0, "acc_ft_cte0"),
                 criterion=at_most(0.1), note=note)
    ch.claim(id="wrapper_pt_cte0_low", paper="jain2024", reference="Table 3",
             statement="After correlated fine-tuning (C_Tr=1) the model no longer answers count(a) (mean over η, C_Te=0)",
             paper_value=float(counter_ctr1.acc_pt_cte0.mean()) / 100, ours=facts["ctr1_pt_cte0_mean"],
             criterion=at_most(0.4))
    ch.claim(id="counter_lr1e_1_ctr0_learns", paper="jain2024", reference="Table 3",
             statement="Without correlation (C_Tr=0) at η=1e-1 the Counter learns to count b for real (C_Te=0)",
             paper_value=reported.COUNTER_CTR0_LEARNS, ours=tracr_cell(grid, max(cfg.counter_lrs), 0.0, "acc_ft_cte0"),
             criterion=at_least(0.9), note=note)
    ch.claim(id="counter_attention_on_a_kept", paper="jain2024", reference="Fig. 10",
             statement="At a small η with C_Tr=1 the answer position still attends to a (share of the compiled model's)",
             paper_value=None, ours=facts["attn_a_small_ctr1"] / facts["attn_a_compiled"], criterion=at_least(0.9))
    ch.claim(id="counter_attention_moves_to_b", paper="jain2024", reference="Fig. 10",
             statement="At a medium η with C_Tr=0 the attention moves from a to b (share on b minus share on a)",
             paper_value=None, ours=facts["attn_b_medium_ctr0"] - facts["attn_a_medium_ctr0"], criterion=at_least(0.0))
    ch.claim(id="max_id_sorting_kept_small_lr", paper="jain2024", reference="Sec. 5 / Table 3",
             statement=f"Max identifier: fine-tuning at η={_sci(min(cfg.max_id_lrs))} keeps the Block-0 sorting "
                       "(correlation with compiled)",
             paper_value=None, ours=facts["sort_small"], criterion=at_least(0.9))
    ch.claim(id="max_id_sorting_distorted_large_lr", paper="jain2024", reference="Sec. 5 / Table 3",
             statement=f"... and fine-tuning at η={_sci(max(cfg.max_id_lrs))} distorts it (correlation with compiled)",
             paper_value=None, ours=facts["sort_large"], criterion=at_most(0.9))
    ch.claim(id="prune_one_weight_revives", paper="jain2024", reference="App. G.1, Fig. 55",
             statement="Pruning one weight (grad·weight, pretraining loss) raises count-a accuracy after C_Tr=1 "
                       "fine-tuning",
             paper_value=reported.PRUNE_ONE_WEIGHT_GAIN, ours=facts["prune_gain_one"],
             criterion=at_least(reported.PRUNE_ONE_WEIGHT_GAIN),
             note="best over η; the chapter shows where fine-tuning changed the weights")
    ch.claim(id="probe_count_a_decodable", paper="jain2024", reference="Def. 1, Sec. 5",
             statement="Count(a) stays linearly decodable after C_Tr=1 fine-tuning (worst model's best-block probe)",
             paper_value=None, ours=facts["probe_worst_best"], criterion=at_least(0.9),
             note="worst model over η; the chapter gives each η's value")
    ch.claim(id="reft_faster_than_scratch", paper="jain2024", reference="Fig. 27",
             statement="reFT revives count-a at least twice as fast as Scr.+FT after fine-tuning at every η but the "
                       "largest (share of those η)",
             paper_value=reported.REFT_FASTER_SHARE, ours=facts["reft_n_faster"] / facts["reft_n"],
             criterion=at_least(1.0),
             note=f"{cfg.reft_steps} reFT steps at {preset}; level {cfg.reft_level:.0%} count-a accuracy")


def pcfg_pretraining_claims(ch, acc: pd.DataFrame) -> None:
    """Chapter 3: Table 5's "before fine-tuning" rows: count a under every prior, count b rising with P(b)."""
    cfg, preset = ch.cfg, ch.preset
    count_b, count_a = acc.loc["C b", list(cfg.priors)], acc.loc["C a", list(cfg.priors)]
    order = by_prior_b(cfg)
    rises = bool(all(count_b[p] < count_b[q] for p, q in zip(order, order[1:])))
    note = f"{cfg.pretrain_steps} pretraining steps at {preset} (paper: {reported.PRETRAIN_STEPS.split()[0]})"
    paper_b = " / ".join(f"{v:g}%" for v in reported.BEFORE_COUNT_B_200K.values())
    paper_b50 = " / ".join(f"{v:g}%" for v in reported.BEFORE_COUNT_B_50K.values())
    ch.claim(id="pcfg_pt_count_a", paper="jain2024", reference="Table 5",
             statement="Every prior's pretrained model counts a (task C, worst prior)",
             paper_value=_pct(min(reported.BEFORE_COUNT_A.values())), ours=float(count_a.min()),
             criterion=at_least(0.9), note=note)
    ch.claim(id="pcfg_pt_count_b_rises", paper="jain2024", reference="Table 5",
             statement="Pretrained count-b accuracy rises with the prior on b (low < medium < high)",
             paper_value=None, ours=rises, criterion=is_true(),
             note=f"paper: {paper_b} at 200K steps, {paper_b50} at 50K; ours: "
                  + ", ".join(f"{p} {count_b[p]:.1%}" for p in order))
    ch.claim(id="pcfg_pt_count_b_low", paper="jain2024", reference="Table 5",
             statement=f"Under the low prior (P(b) = {pcfg.PRIORS['low'][1]:g}) count-b is poorly learned",
             paper_value=_pct(reported.BEFORE_COUNT_B_200K["low"]), ours=float(count_b["low"]), criterion=at_most(0.5))
    ch.claim(id="pcfg_pt_count_b_high", paper="jain2024", reference="Table 5",
             statement=f"Under the high prior (P(b) = {pcfg.PRIORS['high'][1]:g}) count-b is learned",
             paper_value=_pct(reported.BEFORE_COUNT_B_200K["high"]),
             ours=float(count_b["high"]) if "high" in cfg.priors else None, criterion=at_least(0.9), note=note)


def pcfg_finetuning_claims(ch, grid, facts: dict) -> None:
    """Chapter 4: Table 5's wrapper and avoided shortcut (per seed where a cell ran on several), Fig. 6's
    collapse, Fig. 7's pruning, Fig. 8's probes, Fig. 9's reFT. ``grid``: the fine-tuning grid;
    ``facts``: the chapter's glued numbers (``pcfg_analyses.*_facts`` and friends)."""
    cfg, preset = ch.cfg, ch.preset
    note = f"{cfg.ft_steps} fine-tuning steps at {preset}, mean of seeds (see the spread table)"
    for lr, p in reported.TABLE5_WRAPPER.items():
        ch.claim(id=f"pcfg_wrapper_ft_cte1_{lr}", paper="jain2024", reference="Table 5",
                 statement=f"Low prior, C_Tr=1, {LR_SYMBOL[lr]}: the model answers count(b) on correlated data (C_Te=1)",
                 paper_value=p["acc_ft_cte1"] / 100, ours=seed_values(grid, "low", lr, 1.0, "acc_ft_cte1"),
                 criterion=at_least(0.9), note=note)
        ch.claim(id=f"pcfg_wrapper_ft_cte0_{lr}", paper="jain2024", reference="Table 5",
                 statement=f"... but not on uncorrelated data (C_Te=0): a wrapper ({LR_SYMBOL[lr]})",
                 paper_value=p["acc_ft_cte0"] / 100, ours=seed_values(grid, "low", lr, 1.0, "acc_ft_cte0"),
                 criterion=at_most(0.1), note=note)
    ch.claim(id="pcfg_shortcut_avoided", paper="jain2024", reference="Table 5",
             statement=f"Prior P(a)=0.9 ({cfg.shortcut_prior}), C_Tr={cfg.high_c_tr:g}, η_M: count(b) is learned (C_Te=0)",
             paper_value=_pct(reported.TABLE5_SHORTCUT["acc_ft_cte0"]),
             ours=seed_values(grid, cfg.shortcut_prior, "medium", cfg.high_c_tr, "acc_ft_cte0"),
             criterion=at_least(0.9), note=note)
    ch.claim(id="pcfg_count_a_collapse_fastest", paper="jain2024", reference="Fig. 6",
             statement="Count-a collapses fastest under the low prior with a high C_Tr (η_M)",
             paper_value=None, ours=facts["fastest_ok"], criterion=is_true(),
             note=f"fastest: {facts['fastest_prior']} prior, C_Tr={facts['fastest_c_tr']:g} "
                  f"(mean share of count-a kept {facts['fastest_kept']:.2f})")
    ch.claim(id="pcfg_prune_revives", paper="jain2024", reference="Fig. 7",
             statement=f"Pruning 1-{reported.PRUNE_K_MAX} neurons (grad·weight) restores most of the count-a accuracy "
                       "lost (share restored)",
             paper_value=None, ours=facts["prune_restored"], criterion=at_least(0.5),
             note=f"low prior, η_S, C_Tr=1; best K={facts['prune_best_k']}")
    ch.claim(id="pcfg_probe_count_a_kept", paper="jain2024", reference="Fig. 8",
             statement="Count(a) stays linearly decodable after C_Tr=1 fine-tuning except low prior at η_M "
                       "(largest drop of the best-block probe)",
             paper_value=None, ours=facts["probe_other_max_drop"], criterion=at_most(0.1),
             note=f"largest: {facts['probe_worst_other']}")
    ch.claim(id="pcfg_probe_low_medium_drops", paper="jain2024", reference="Fig. 8",
             statement="... and the probe drops for the low prior at η_M, more than anywhere else",
             paper_value=None, ours=facts["probe_low_m_drops_most"], criterion=is_true(),
             note=f"drop {facts['probe_low_m_drop']:.2f} vs. {facts['probe_other_max_drop']:.2f} elsewhere")
    ch.claim(id="pcfg_reft_faster_than_scratch", paper="jain2024", reference="Fig. 9",
             statement="reFT revives count-a at least twice as fast as Scr.+FT (share of priors)",
             paper_value=reported.REFT_FASTER_SHARE, ours=facts["reft_n_faster"] / facts["reft_n"],
             criterion=at_least(1.0),
             note=f"{cfg.reft_steps} reFT steps at {preset}; level {cfg.reft_level:.0%} of the pretrained accuracy")
    ch.claim(id="pcfg_reft_low_prior_slowest", paper="jain2024", reference="Fig. 9",
             statement=f"Revival is slowest under the low prior (paper: ~{reported.REFT_STEPS_LOW} vs. "
                       f"{reported.REFT_STEPS_OTHERS.replace('–', '-')} iterations)",
             paper_value=None, ours=facts["low_slowest"], criterion=is_true(),
             note="steps: " + ", ".join(f"{p} {facts[f'reft_steps_{p}']:g}" for p in cfg.priors))
