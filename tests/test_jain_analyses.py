"""The Jain chapters' package functions: the fine-tuning grid, the reFT table, the table and summary
builders, the claims each chapter records, and every paper number in ``reported``."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ftscope.book.claims import make_claim, not_above_floor
from ftscope.instruments.revival import n_faster, revival_table
from ftscope.jain import claims, pcfg_analyses, reported
from ftscope.jain.grid import Grid, over_seeds, run_grid
from ftscope.jain.pcfg_training import PcfgConfig
from ftscope.train.loop import TrainLog


class FakeChapter:
    """What the claims functions use of a ``Chapter``: its config, preset, ``claim`` and ``glue``."""

    def __init__(self, cfg, preset="smoke"):
        self.cfg, self.preset, self.claims, self.glued, self.skipped = cfg, preset, [], {}, []

    def claim(self, **kw):
        assert kw["id"] not in {c["id"] for c in self.claims}, kw["id"]
        self.claims.append({**kw, "verdict": make_claim(chapter="fake", **kw).verdict})

    def skip(self, **kw):
        self.skipped.append(kw)

    def glue(self, name, value):
        self.glued[name] = value
        return value

    def ids(self):
        return [c["id"] for c in self.claims]


def curve(*points):
    return TrainLog(evals=[{"step": s, "count a": a} for s, a in points])


def test_run_grid_keeps_order_final_scores_curves_and_the_kept_models():
    seen = []

    def fit(jobs):
        (job,) = jobs  # no ``together``: one job at a time
        i = len(seen)
        seen.append(i)
        log = TrainLog(evals=[{"step": 0, "acc": 0.0}, {"step": 5, "acc": job["x"] / 10}])
        return [(f"model{i}", log, log.evals[-1])]

    jobs = [{"x": x, "seed": s} for x in (1, 2) for s in (0, 1)]
    grid = run_grid(jobs, fit, keep=lambda j: (j["x"],) if j["seed"] == 0 else None)
    assert seen == [0, 1, 2, 3]
    assert grid.runs[["x", "seed", "acc"]].values.tolist() == [[1, 0, 0.1], [1, 1, 0.1], [2, 0, 0.2], [2, 1, 0.2]]
    assert len(grid.curves) == 8 and set(grid.curves.step) == {0, 5}
    assert grid.models == {(1,): "model0", (2,): "model2"}


def test_revival_table_reads_the_first_step_at_the_level_and_the_speedup():
    reft = {"fast": curve((0, 0.1), (10, 0.95)), "never": curve((0, 0.1), (100, 0.5))}
    scratch = dict.fromkeys(reft, curve((0, 0.0), (10, 0.2), (100, 0.95)))
    table = revival_table(reft, scratch, "count a", {"fast": 0.9, "never": 0.9}, 100, "run")
    assert list(table.index) == ["fast", "never"]
    assert table.loc["fast", "reFT steps"] == 10 and table.loc["fast", "Scr.+FT steps"] == 100
    assert table.loc["fast", "speed-up"] == 10.0
    assert math.isinf(table.loc["never", "reFT steps"]) and table.loc["never", "speed-up"] == 0.0
    assert n_faster(table) == 1 and n_faster(table, factor=20) == 0


def test_table5_puts_the_papers_cells_on_our_rows():
    cfg = PcfgConfig.from_preset("smoke")
    index = pd.MultiIndex.from_tuples(cfg.cells, names=["prior", "lr", "c_tr"])
    means = pd.DataFrame(0.5, index=index, columns=list(pcfg_analyses.SCORES))
    before = pd.DataFrame(0.25, index=list(cfg.priors), columns=list(pcfg_analyses.SCORES))
    ours, paper = pcfg_analyses.table5(cfg, means, before)
    assert list(ours.index[:len(cfg.priors)]) == [f"{p}, before fine-tuning" for p in cfg.priors]
    assert len(ours) == len(cfg.priors) + len(cfg.cells) and (ours.values[len(cfg.priors):] == 50).all()
    assert paper.loc["low, η_S, C_Tr=1", "acc_pt_cte0"] == reported.TABLE5_WRAPPER["small"]["acc_pt_cte0"]
    assert paper.loc["low, before fine-tuning", "acc_ft_cte0"] == reported.BEFORE_COUNT_B_200K["low"]
    assert paper.loc["low, η_M, C_Tr=0", :].isna().all()  # a cell the paper does not report


def test_collapse_finds_the_fastest_per_seed_and_measures_against_step_zero():
    # seed 0: low/C_Tr=1 collapses fastest (keeps 0.5); seed 1: high/C_Tr=1 does (keeps 0.5 vs low's 0.6)
    curves = {0: [("low", 0.0, (1.0, 0.8)), ("low", 1.0, (1.0, 0.0)), ("high", 0.0, (0.5, 0.5)), ("high", 1.0, (1.0, 1.0))],
              1: [("low", 0.0, (1.0, 0.8)), ("low", 1.0, (1.0, 0.2)), ("high", 0.0, (0.5, 0.5)), ("high", 1.0, (1.0, 0.0))]}
    rows = [dict(prior=p, c_tr=c, seed=seed, step=s, acc_pt_cte0=a)
            for seed, cells in curves.items() for p, c, accs in cells for s, a in zip((0, 10), accs)]
    kept, facts = pcfg_analyses.collapse(pd.DataFrame(rows))
    assert kept["low", 1.0] == pytest.approx(0.55) and kept["high", 0.0] == pytest.approx(1.0)
    assert kept["high", 1.0] == pytest.approx(0.75)
    assert (facts["fastest_prior"], facts["fastest_c_tr"]) == ("low", 1.0)
    # gap to the next-fastest cell, per seed: 0.9 - 0.5 = 0.4 (low C_Tr=0), then 0.5 - 0.6 = -0.1 (high C_Tr=1)
    assert facts["collapse_gap"] == pytest.approx([0.4, -0.1])
    assert facts["kept_other_ctr1"] == pytest.approx(0.75)


def test_probe_drops_leave_out_unconverged_models_and_say_when_nothing_is_left():
    rows = [dict(prior=p, model=m, target="count a", block="B0", accuracy=a)
            for p, m, a in [("low", "pretrained", 0.9), ("low", "η_M", 0.3), ("low", "η_S", 0.9),
                            ("low", "η_L", 0.2), ("high", "pretrained", 1.0), ("high", "η_L", 0.95)]]
    _, facts = pcfg_analyses.probe_drops(pd.DataFrame(rows), skip={("low", "η_L")})
    assert facts["probe_decided"] is True and facts["probe_skipped"] == "low prior, η_L"
    assert facts["probe_other_max_drop"] == pytest.approx(0.05)  # high η_L; low η_L's 0.7 left out
    _, facts = pcfg_analyses.probe_drops(pd.DataFrame(rows), skip={("low", "η_M"), ("low", "η_S")})
    assert facts["probe_decided"] is False  # the low prior at η_M, the paper's cell, did not converge
    assert facts["probe_other_max_drop"] == pytest.approx(0.7)  # the numbers are then over every model


def test_prune_target_is_the_smallest_lr_converged_on_every_seed():
    runs = pd.DataFrame([dict(prior="low", lr=lr, c_tr=1.0, seed=seed, converged=ok)
                         for lr, oks in (("large", (True, True)), ("medium", (True, True)), ("small", (True, False)))
                         for seed, ok in enumerate(oks)])
    grid = Grid(runs, pd.DataFrame(), {})
    assert pcfg_analyses.prune_target(grid) == ("medium", [True, True])  # η_S converged on one seed only
    runs["converged"] = False
    assert pcfg_analyses.prune_target(grid) == ("small", [False, False])


def test_convergence_facts_count_the_converged_seeds_the_prose_names():
    runs = pd.DataFrame([dict(prior="low", lr=lr, c_tr=c, seed=seed, converged=lr != "small" or seed == 0)
                         for lr in ("large", "medium", "small") for c in (0.0, 1.0) for seed in range(3)])
    facts = pcfg_analyses.convergence_facts(Grid(runs, pd.DataFrame(), {}))
    assert facts == {"large_converged": "3/3", "medium_converged": "3/3", "small_converged": "1/3",
                     "medium_ctr0_converged": "3/3"}


def test_converged_cells_needs_every_cell_of_a_seed():
    runs = pd.DataFrame([dict(prior=p, lr="medium", c_tr=c, seed=seed, converged=not (p == "low" and c == 0.0 and seed == 1))
                         for p in ("low", "high") for c in (0.0, 1.0) for seed in (0, 1)])
    grid = Grid(runs, pd.DataFrame(), {})
    assert pcfg_analyses.converged_cells(grid, [("low", "medium", 0.0), ("high", "medium", 1.0)]) == [True, False]
    assert pcfg_analyses.converged_cells(grid, [("high", "medium", c) for c in (0.0, 1.0)]) == [True, True]


def test_seed_helpers_split_models_and_gather_facts_per_seed():
    from ftscope.jain.grid import over_seeds, seed_models, seeds_of

    models = {("low", "medium", 1.0, 0): "a", ("low", "medium", 1.0, 1): "b", ("high", "large", 0.0, 1): "c"}
    assert seeds_of(models) == [0, 1]
    assert seed_models(models, 1) == {("low", "medium", 1.0): "b", ("high", "large", 0.0): "c"}
    facts = over_seeds([{"x": 0.2, "k": 3, "ok": True, "name": "low"}, {"x": 0.4, "k": 5, "ok": False, "name": "high"}])
    assert facts["x"] == pytest.approx(0.3) and facts["k"] == 4  # numbers: the mean over seeds
    assert facts["ok"] is True and facts["name"] == "low"  # anything else: seed 0's
    assert facts["x_seeds"] == [0.2, 0.4] and facts["ok_seeds"] == [True, False]
    assert over_seeds([{"k": 15}, {"k": 15}])["k"] == 15  # equal values stay as they are (an int stays an int)


def test_probe_summary_compares_each_seed_with_the_pretrained_probes_and_skips_its_unconverged_runs():
    rows = [dict(prior="low", model="pretrained", seed=0, target="count a", block="B0", accuracy=0.9)]
    rows += [dict(prior="low", model=m, seed=s, target="count a", block="B0", accuracy=a)
             for s, accs in ((0, (0.3, 0.8)), (1, (0.85, 0.2))) for m, a in zip(("η_M", "η_L"), accs)]
    runs = pd.DataFrame([dict(prior="low", lr=lr, c_tr=1.0, seed=s, converged=not (s == 1 and lr == "large"))
                         for lr in ("medium", "large") for s in (0, 1)])
    table, facts = pcfg_analyses.probe_summary(pd.DataFrame(rows), Grid(runs, pd.DataFrame(), {}))
    assert facts["probe_low_m_drop_seeds"] == pytest.approx([0.6, 0.05])
    # seed 1's η_L run did not converge: left out, so only seed 0 compares η_M with η_L
    assert facts["probe_decided_seeds"] == [True, False]
    assert facts["probe_low_m_drops_most_seeds"] == [True, False]
    assert table.loc["low", "η_M"] == pytest.approx(0.575, abs=0.006)  # (0.3 + 0.85) / 2


def test_correlation_facts_measure_the_drop_from_ctr0_to_ctr1_per_seed():
    from ftscope.jain.pcfg_training import PcfgConfig

    cfg = PcfgConfig.from_preset("smoke", ft_seeds=2)
    acc = {("low", 0.0): (0.8, 0.6), ("low", 1.0): (0.1, 0.5), ("medium", 0.0): (0.9, 0.9),
           ("medium", 1.0): (0.7, 0.8), ("high", 0.0): (1.0, 1.0), ("high", 1.0): (1.0, 0.95)}
    runs = pd.DataFrame([dict(prior=p, lr="medium", c_tr=c, seed=s, acc_ft_cte0=a)
                         for (p, c), accs in acc.items() for s, a in enumerate(accs)])
    facts = pcfg_analyses.correlation_facts(cfg, Grid(runs, pd.DataFrame(), {}))
    assert facts["ctr_drop_low_seeds"] == pytest.approx([0.7, 0.1])
    assert facts["ctr_drop_low_largest_seeds"] == [True, False]  # seed 1: the medium prior drops as much (a tie)
    assert facts["ctr_drop_medium"] == pytest.approx(0.15)


def test_probe_drops_compare_each_model_with_its_pretrained_one():
    rows = [dict(prior=p, model=m, target=t, block=b, accuracy=a)
            for p, m, accs in [("low", "pretrained", (0.2, 0.9)), ("low", "η_M", (0.1, 0.3)), ("low", "η_L", (0.8, 0.7)),
                               ("high", "pretrained", (0.5, 1.0)), ("high", "η_M", (0.95, 0.2))]
            for t in ("count a", "count b") for b, a in zip(("B0", "B1"), accs)]
    table, facts = pcfg_analyses.probe_drops(pd.DataFrame(rows))
    assert table.loc["low", "pretrained"] == 0.9
    assert facts["probe_low_m_drop"] == pytest.approx(0.6)
    assert facts["probe_other_max_drop"] == pytest.approx(0.1) and facts["probe_worst_other"] == "low prior, η_L"
    assert facts["probe_low_m_drops_most"] is True


def test_pruning_facts_read_the_best_k_in_the_papers_range_on_every_seed():
    seed0 = {"k": [0, 1, 2, 20], "acc_pt_cte0": [0.2, 0.5, 0.4, 1.0], "acc_ft_cte1": [1.0, 0.6, 0.5, 0.0]}
    seed1 = {"k": [0, 1, 2, 20], "acc_pt_cte0": [0.2, 0.2, 0.8, 0.2], "acc_ft_cte1": [1.0, 1.0, 0.9, 1.0]}
    pruned = pd.concat([pd.DataFrame(seed0).assign(seed=0), pd.DataFrame(seed1).assign(seed=1)])
    before = pd.DataFrame({"acc_pt_cte0": [0.8]}, index=["low"])
    facts = pcfg_analyses.pruning_facts(pruned, before, 16)
    assert facts["prune_best_k_seeds"] == [1, 2]  # K = 20 lies outside the paper's 1-15
    assert facts["prune_lost"] == pytest.approx(0.6) and facts["prune_restored_seeds"] == pytest.approx([0.5, 1.0])
    assert facts["prune_ft1_drop_seeds"] == pytest.approx([0.4, 0.1]) and facts["n_neurons"] == 16


def test_pcfg_claims_record_each_chapters_ids():
    cfg = PcfgConfig.from_preset("smoke")
    ch = FakeChapter(cfg)
    acc = pd.DataFrame({p: {"C a": 1.0, "C b": b} for p, b in [("low", 0.2), ("medium", 0.6), ("high", 0.9),
                                                               ("b_only", 0.9)]}).assign(chance={"C a": 0.3, "C b": 0.25})
    acc = acc.rename(columns={"chance": pcfg_analyses.CHANCE})
    claims.pcfg_pretraining_claims(ch, [acc, acc.assign(low={"C a": 0.95, "C b": 0.3})])
    assert ch.ids() == ["pcfg_pt_count_a", "pcfg_pt_count_b_rises", "pcfg_pt_count_b_low", "pcfg_pt_count_b_high"]
    # the smallest step up in P(b) on each seed: 0.3 (low → medium), judged against two standard errors
    assert ch.claims[1]["ours"] == pytest.approx([0.3, 0.3]) and ch.claims[2]["paper_value"] == 0.271
    assert ch.claims[0]["ours"] == pytest.approx([1.0, 0.95]) and ch.claims[0]["chance"] == 0.3
    assert ch.claims[2]["ours"] == pytest.approx([0.2, 0.3]) and ch.claims[2]["chance"] == 0.25
    assert ch.claims[1]["verdict"] == "reproduced" and "2 pretraining seeds" in ch.claims[0]["note"]
    ch = FakeChapter(cfg)
    falls = acc.assign(high={"C a": 1.0, "C b": 0.4})  # falls from medium to high on the second seed only
    claims.pcfg_pretraining_claims(ch, [acc, falls])
    rises = ch.claims[1]
    assert rises["ours"] == pytest.approx([0.3, -0.2])
    assert make_claim(chapter="fake", **{k: v for k, v in rises.items() if k != "verdict"}).fragile

    ch = FakeChapter(cfg)
    jobs = [dict(prior=p, lr=lr, c_tr=c, seed=s) for p, lr, c in cfg.cells for s in (0, 1)]
    runs = pd.DataFrame([{**j, **dict.fromkeys(pcfg_analyses.SCORES, 0.5 + 0.1 * j["seed"]),
                          "converged": not (j["lr"] == "small" and j["seed"] == 1)} for j in jobs])
    grid = Grid(runs, pd.DataFrame(), {(p, lr, c): None for p, lr, c in cfg.cells})
    per_seed = [{"prune_restored": 0.3, "prune_best_k": 2, "prune_ft1_drop": 0.4, "probe_other_max_drop": 0.05,
                 "probe_other_min_acc": 0.9,
                 "probe_worst_other": "high prior, η_L", "probe_low_m_drops_most": True, "probe_low_m_drop": 0.2,
                 "probe_decided": True, "probe_skipped": "none", "reft_n_faster": 2, "reft_n": 3,
                 "reft_share_faster": 2 / 3, "reft_n_undecided": 0, "reft_n_unrevived": unrevived,
                 "low_slowest": False, "scratch_steps": 200.0, "scratch_reached": False,
                 "ctr_drop_low": 0.3, "ctr_drop_medium": 0.1, "ctr_drop_high": 0.0, "ctr_drop_low_largest": True,
                 **{f"reft_steps_{p}": 10.0 for p in cfg.priors}} for unrevived in (1, 0)]
    facts = {"shortcut_ft0": 0.9, "fastest_prior": "low", "fastest_c_tr": 1.0, "fastest_kept": 0.1,
             "collapse_gap": [0.2, 0.1], "chance_ft_cte1": 0.5, "chance_ft_cte0": 0.4, "chance_pt_cte0": 0.3,
             "prune_lr": "medium", "prune_converged": [True, True], "start_count_a_min": 0.95,
             "start_count_a_prior": "low", "probe_floor": 0.5, "probe_se2": 0.08, "probe_floor_b_only": 0.5,
             "probe_floor_random": 0.3, **over_seeds(per_seed)}
    claims.pcfg_finetuning_claims(ch, grid, facts)
    assert [s["reference"] for s in ch.skipped] == ["App. E.1", "App. E.2", "App. E.4"]
    wrapper = [f"pcfg_wrapper_{w}_{lr}" for lr in ("large", "medium", "small") for w in ("ft_cte1", "ft_cte0", "pt_cte0")]
    assert ch.ids() == ["pcfg_start_counts_a", *wrapper, "pcfg_shortcut_avoided", "pcfg_count_a_collapse_fastest", "pcfg_prune_revives",
                                  "pcfg_prune_removes_wrapper", "pcfg_probe_count_a_kept",
                                  "pcfg_probe_low_medium_drops", "pcfg_reft_faster_than_scratch",
                                  "pcfg_reft_low_prior_slowest", "pcfg_scratch_slow", "pcfg_correlation_used_low",
                                  "pcfg_correlation_used_most_low"]
    by_id = {c["id"]: c for c in ch.claims}
    assert by_id["pcfg_reft_faster_than_scratch"]["ours"] == pytest.approx([2 / 3, 2 / 3])
    assert by_id["pcfg_wrapper_ft_cte1_large"]["ours"] == [0.5, 0.6]  # every cell on every seed
    assert by_id["pcfg_wrapper_ft_cte1_large"]["chance"] == 0.5
    assert by_id["pcfg_wrapper_pt_cte0_large"]["chance"] == 0.3
    assert by_id["pcfg_wrapper_ft_cte1_large"]["converged"] == [True, True]
    assert by_id["pcfg_wrapper_ft_cte0_small"]["converged"] == [True, False]  # seed 1 at η_S did not converge
    assert by_id["pcfg_count_a_collapse_fastest"]["ours"] == [0.2, 0.1]
    # one prior's reFT never reached the level (seed 0): which prior is slowest is not decided
    assert by_id["pcfg_reft_low_prior_slowest"]["verdict"] == "inconclusive"
    assert by_id["pcfg_prune_revives"]["ours"] == [0.3, 0.3]  # pruning is judged on every seed
    # Scr.+FT never reached the level, and the smoke budget is shorter than 1K steps: no verdict
    assert by_id["pcfg_scratch_slow"]["verdict"] == "inconclusive"
    assert by_id["pcfg_correlation_used_low"]["ours"] == pytest.approx([0.3, 0.3])
    # the starting points' count-a accuracy is a precondition, and gates the claims about a kept capability
    assert by_id["pcfg_start_counts_a"]["kind"] == "precondition" and by_id["pcfg_start_counts_a"]["verdict"] == "reproduced"
    gated = {c["id"] for c in ch.claims if c.get("needs")}
    assert gated == {*wrapper, "pcfg_count_a_collapse_fastest", "pcfg_prune_revives", "pcfg_prune_removes_wrapper",
                     "pcfg_probe_count_a_kept", "pcfg_probe_low_medium_drops", "pcfg_reft_faster_than_scratch",
                     "pcfg_reft_low_prior_slowest"}
    # the kept probe (0.9) lies well above the floor (0.5): judged; at the floor it is inconclusive
    assert by_id["pcfg_probe_count_a_kept"]["verdict"] == "reproduced"
    assert "b_only 0.500" in by_id["pcfg_probe_count_a_kept"]["note"]
    ch = FakeChapter(cfg)
    claims.pcfg_finetuning_claims(ch, grid, {**facts, "probe_floor": 0.88})
    kept = {c["id"]: c for c in ch.claims}["pcfg_probe_count_a_kept"]
    assert kept["verdict"] == "inconclusive" and "a tie at the floor" in kept["inconclusive"]


def test_tracr_claims_record_each_chapters_ids():
    from ftscope.jain.compiled import TracrConfig

    cfg = TracrConfig.from_preset("smoke")
    ch = FakeChapter(cfg)
    claims.compiled_claims(ch, pd.DataFrame({"acc": [1.0, 0.99], "same": [True, True]}))
    assert ch.ids() == ["counter_exact", "max_id_exact", "tracr_conversion_matches"]
    assert {c["kind"] for c in ch.claims} == {"precondition"}
    assert ch.claims[1]["ours"] == 0.99 and ch.claims[2]["ours"] is True

    ch = FakeChapter(cfg)
    cells = [("Counter", lr, c) for lr, c in cfg.counter_cells] + [("Max id", lr, 0.0) for lr in cfg.max_id_lrs]
    grid = pd.DataFrame([{"task": t, "lr": lr, "c_tr": c, "seed": s, "acc_pt_cte1": 0.1, "acc_ft_cte1": 0.9,
                          "acc_pt_cte0": 0.2 + 0.1 * s, "acc_ft_cte0": 0.05, "chance_pt_cte1": 0.3,
                          "chance_ft_cte1": 0.3, "chance_pt_cte0": 0.3, "chance_ft_cte0": 0.3,
                          "converged": not (lr == cfg.counter_lrs[0] and s == 1)}
                         for s in (0, 1) for t, lr, c in cells])
    facts = over_seeds([{"prune_gain_one": 0.0, "probe_worst_but_largest": 0.8, "reft_n_faster": 1, "reft_n": 2,
                         "reft_share_faster": 0.5, "reft_n_undecided": undecided, "reft_large_fails": True,
                         "reft_small_revived": revived} for undecided, revived in ((1, True), (0, False))])
    facts |= {"attn_kept_floor": 0.3, "attn_a_b_counter": 0.0, "attn_a_random": 0.15, "attn_a_compiled": 0.5,
              "sort_floor": 0.0, "probe_floor": 0.5, "probe_se2": 0.05, "probe_b_counter": 0.4, "probe_random": 0.5}
    revived_after_large = {**facts, "reft_large_fails_seeds": [False, False]}
    seeds = {"attn_kept_seeds": [0.95, 0.97], "attn_moves_seeds": [0.3, -0.1], "sort_small_seeds": [0.99, 0.98],
             "sort_large_seeds": [0.5, 0.6]}
    claims.tracr_finetuning_claims(ch, grid, facts, seeds)
    per_lr = [f"wrapper_ft_cte{c}_lr{lr:g}".replace("-", "m").replace(".", "p") for lr in cfg.counter_lrs for c in (1, 0)]
    assert ch.ids() == per_lr + ["wrapper_pt_cte0_low", "counter_lr1e_1_ctr0_learns", "counter_attention_on_a_kept",
                                 "counter_attention_moves_to_b", "max_id_ft_cte0_lr1em4",
                                 "max_id_sorting_kept_small_lr", "max_id_sorting_distorted_large_lr",
                                 "prune_one_weight_revives", "probe_count_a_decodable", "reft_faster_than_scratch",
                                 "reft_fails_after_large_lr"]
    by_id = {c["id"]: c for c in ch.claims}
    assert by_id["wrapper_ft_cte1_lr0p1"]["paper_value"] == 1.0  # Table 3, η = 0.1, C_Tr = 1: 100%
    assert by_id["wrapper_ft_cte1_lr0p1"]["ours"] == [0.9, 0.9] and by_id["wrapper_ft_cte1_lr0p1"]["chance"] == 0.3
    assert by_id["wrapper_ft_cte1_lr0p1"]["verdict"] == "inconclusive"  # seed 1 at η = 0.1 did not converge
    assert by_id["wrapper_ft_cte1_lr0p01"]["verdict"] == "reproduced"
    assert by_id["wrapper_pt_cte0_low"]["ours"] == pytest.approx([0.2, 0.3]) and by_id["wrapper_pt_cte0_low"]["converged"] == [True, False]
    assert by_id["counter_attention_moves_to_b"]["ours"] == [0.3, -0.1]
    assert by_id["max_id_ft_cte0_lr1em4"]["verdict"] == "not reproduced"  # 0.05 < 0.8, converged
    assert by_id["reft_faster_than_scratch"]["verdict"] == "inconclusive"  # one η undecided by the budget
    assert by_id["reft_faster_than_scratch"]["ours"] == [0.5, 0.5]  # judged per seed
    # seed 1's reFT revived after no smaller η: its failing after the largest says nothing
    assert by_id["reft_fails_after_large_lr"]["ours"] == [True, True]
    assert by_id["reft_fails_after_large_lr"]["verdict"] == "inconclusive"
    assert "revived after no smaller η" in by_id["reft_fails_after_large_lr"]["inconclusive"]
    # where reFT revives after the largest η, no other η is needed to decide: the claim is refuted
    ch = FakeChapter(cfg)
    ok = grid.assign(converged=True)
    claims.tracr_finetuning_claims(ch, ok, revived_after_large, seeds)
    assert {c["id"]: c for c in ch.claims}["reft_fails_after_large_lr"]["verdict"] == "not reproduced"
    assert all(c["basis"] for c in ch.claims)  # every criterion is a pre-registered rule with its basis
    # the floors: far below the kept values, nothing changes; the probe's floor is stated
    by_id = {c["id"]: c for c in ch.claims}
    assert by_id["max_id_sorting_kept_small_lr"]["inconclusive"] == ""
    assert by_id["probe_count_a_decodable"]["inconclusive"] == "" and "floor 0.500" in by_id["probe_count_a_decodable"]["note"]
    assert "Scr.+FT" in by_id["reft_faster_than_scratch"]["basis"]
    # floors that reach the kept values make the kept claims inconclusive
    ch = FakeChapter(cfg)
    claims.tracr_finetuning_claims(ch, ok, {**revived_after_large, "attn_kept_floor": 0.9, "sort_floor": 0.95,
                                            "probe_floor": 0.86}, seeds)
    by_id = {c["id"]: c for c in ch.claims}
    assert "a tie at the floor" in by_id["counter_attention_on_a_kept"]["inconclusive"]
    assert "a tie at a random Max identifier" in by_id["max_id_sorting_kept_small_lr"]["inconclusive"]
    assert "never counted a" in by_id["probe_count_a_decodable"]["inconclusive"]
    assert by_id["probe_count_a_decodable"]["verdict"] == "inconclusive"


def test_kept_floor_is_a_tie_or_a_mean_not_above_the_floor():
    assert not_above_floor([0.9, 0.95], 0.5, 0.1, "the floor") == ""
    assert not_above_floor([0.55, 0.58], 0.5, 0.1, "the floor").startswith("a tie at the floor (0.5)")
    # one seed far above, one at the floor: no tie, but the mean is not clear of it
    assert not_above_floor([0.5, 0.65], 0.5, 0.1, "the floor").startswith("not above the floor (0.5)")
    assert not_above_floor(0.8, 0.5, 0.1, "the floor") == ""  # a single value


def test_tracr_grid_runs_every_cell_and_keeps_every_model():
    from ftscope.jain import compiled_analyses as ca
    from ftscope.jain.compiled import TracrConfig

    cfg = TracrConfig.from_preset("smoke", steps=2, eval_samples=20)
    counter, max_id = ca.compiled_models(cfg, "cpu")
    tests = ca.test_sets(cfg, counter, max_id, 0, "cpu")
    grid, models = ca.finetune_grid(cfg, counter, max_id, tests, 0, "cpu")
    cells = [("Counter", lr, c) for lr, c in cfg.counter_cells] + [("Max id", lr, 0.0) for lr in cfg.max_id_lrs]
    keys = [(t, lr, c, s) for t, lr, c in cells for s in range(cfg.seeds)]
    assert sorted(zip(grid.task, grid.lr, grid.c_tr, grid.seed)) == sorted(keys) and sorted(models) == sorted(keys)
    assert list(ca.first_seed(models)) == [k[:3] for k in models if k[3] == 0]
    scores = grid[["acc_pt_cte1", "acc_ft_cte1", "acc_pt_cte0", "acc_ft_cte0"]].values
    assert ((scores >= 0) & (scores <= 1)).all()
    lr = cfg.counter_lrs[0]
    values = ca.seed_values(grid, lr, 1.0, "acc_ft_cte1")
    assert len(values) == cfg.seeds and ca.cell(grid, lr, 1.0, "acc_ft_cte1") == pytest.approx(np.mean(values))
    assert ca.seed_values(grid, lr, 1.0, "converged") == [False] * cfg.seeds  # 2 steps converge nowhere
    chance = grid.chance_ft_cte0.iloc[0]
    labels = tests[0].ask_ft[0.0].label_ft
    assert chance == torch.bincount(labels).max().item() / len(labels) and 0 < chance < 1
    facts = ca.table3_facts(cfg, grid)
    assert facts["n_converged"] == 0 and facts["n_runs"] == len(keys)
    max_id_small = grid[(grid.task == "Max id") & (grid.lr == min(cfg.max_id_lrs))].tail_loss
    assert facts["max_id_small_loss"] == pytest.approx(max_id_small.mean()) and len(max_id_small) == cfg.seeds
    # a run's numbers depend on its seed and cell, not on what else the grid holds
    alone, _ = ca.finetune_grid(cfg.replace(max_id_lrs=cfg.max_id_lrs[::-1]), counter, max_id, tests, 0, "cpu")
    key = ["task", "lr", "c_tr", "seed"]
    assert alone.sort_values(key).reset_index(drop=True).equals(grid.sort_values(key).reset_index(drop=True))


def test_reported_holds_the_papers_numbers():
    table3 = reported.table3()
    assert len(table3) == 7 and set(table3.task) == {"Counter", "Max id"}
    assert table3.set_index(["task", "lr", "c_tr"]).loc[("Counter", 0.1, 1.0), "acc_pt_cte0"] == 35.8
    assert reported.BEFORE_COUNT_B_200K == {"low": 27.1, "medium": 99.9, "high": 99.9}
    assert reported.BEFORE_COUNT_B_50K == {"low": 5.17, "medium": 15.8, "high": 99.7}
    assert (reported.MODEL_LAYERS, reported.MODEL_HEADS, reported.MODEL_WIDTH, reported.WINDOW) == (6, 6, 192, 250)
    assert reported.PRUNE_ONE_WEIGHT_GAIN == 0.6


def test_counter_figure_draws_when_every_seed_agrees():
    """The mean of equal values can sit a rounding error below their minimum; the error bars must not fail."""
    from ftscope.jain import figures

    rows = [{"task": "Counter", "lr": lr, "c_tr": c, "seed": s, "acc_ft_cte0": 0.1, "acc_pt_cte0": 0.7,
             "chance_ft_cte0": 0.3, "chance_pt_cte0": 0.3} for s in range(3) for lr in (0.1, 0.01) for c in (0.0, 1.0)]
    grid = pd.DataFrame(rows)
    grid["acc_ft_cte0"] = [0.1, 0.2 / 2, 0.3 / 3] * 4  # equal, but not bit for bit
    assert figures.counter_by_c_tr(grid) is not None


def test_pcfg_probe_floor_is_read_apart_from_the_pretrained_comparison():
    cfg = PcfgConfig.from_preset("smoke")
    rows = [dict(prior="low", model="pretrained", seed=0, target="count a", block="B0", accuracy=0.9)]
    rows += [dict(prior="low", model=m, seed=0, target="count a", block="B0", accuracy=a)
             for m, a in (("η_M", 0.3), ("η_L", 0.8))]
    rows += [dict(prior=pcfg_analyses.FLOOR_PRIOR, model=m, seed=0, target=t, block=b, accuracy=a)
             for m, accs in (("b_only", (0.4, 0.55)), ("random init", (0.35, 0.3)))
             for t in ("count a", "count b") for b, a in zip(("B0", "B1"), accs)]
    probes = pd.DataFrame(rows)
    floor = pcfg_analyses.probe_floor(cfg, probes)
    assert floor["probe_floor"] == 0.55 and floor["probe_floor_b_only"] == 0.55 and floor["probe_floor_random"] == 0.35
    assert floor["probe_se2"] == pytest.approx(2 * (0.25 / cfg.eval_samples) ** 0.5)
    runs = pd.DataFrame([dict(prior="low", lr=lr, c_tr=1.0, seed=0, converged=True) for lr in ("medium", "large")])
    table, facts = pcfg_analyses.probe_summary(probes, Grid(runs, pd.DataFrame(), {}))
    assert pcfg_analyses.FLOOR_PRIOR not in table.index  # the floor is no prior to compare with its pretrained model
    assert facts["probe_other_max_drop"] == pytest.approx(0.1) and facts["probe_other_min_acc"] == pytest.approx(0.8)
