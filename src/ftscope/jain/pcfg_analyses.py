"""The PCFG chapters' analyses (Jain et al. 2024, Sec. 4-5, Table 5, Figs. 6-9): the grammar's
statistics, what each operand prior taught, the fine-tuning grid, the collapse of count-a, neuron
pruning, probes and reverse fine-tuning.

As in ``compiled_analyses``, each analysis returns its table and a dict of the numbers the prose and
the claims read (``facts``); functions that draw from the chapter's ``rng`` make the chapter's calls
in the chapter's order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ftscope.instruments.activations import residuals
from ftscope.instruments.probing import fit_probe
from ftscope.instruments.pruning import pruning_curve
from ftscope.instruments.revival import n_faster, n_undecided, revival_table
from ftscope.jain import pcfg, reported
from ftscope.jain.grid import Grid, over_seeds, seeds_of
from ftscope.jain.pcfg_training import (
    PcfgConfig,
    build_model,
    copy_model,
    counter_tests,
    family_tests,
    finetune_counter,
    finetune_counters,
    neuron_units,
    pretrain_cell,
    pretrained_many,
    probe_positions,
)
from ftscope.progress import progress
from ftscope.train.answers import (
    AnswerTests,
    accuracy,
    answer_loss,
    answer_scores,
    chance_scores,
    constant_chance,
    two_standard_errors,
)
from ftscope.train.cells import Cell, Job, get_together
from ftscope.train.loop import TrainLog, load_trained, log_steps
from ftscope.train.parts import split_parts

CHANCE = "best constant answer"  # the chance column of family_table
LR_SYMBOL = {"large": "η_L", "medium": "η_M", "small": "η_S"}
SCORES = ("acc_pt_cte1", "acc_ft_cte1", "acc_pt_cte0", "acc_ft_cte0")


# ------------------------------------------------------------------ chapter 3: pretraining
def grammar_stats(cfg: PcfgConfig, rng: np.random.Generator, n_derivations: int = 2000, n_windows: int = 4000) -> dict:
    """Derivation lengths, letter shares, and the counts of a and b in the counted span of text windows."""
    derivations = [pcfg.generate(rng) for _ in range(n_derivations)]
    windows = pcfg.text_windows(rng, n_windows, cfg.window)
    span = pcfg.span_length(cfg.window, cfg.count_span)
    tail = windows[:, -span:]
    return {"lengths": np.array([len(d) for d in derivations]), "windows": windows, "span": span,
            "letters": pd.Series([t for d in derivations for t in d]).value_counts(normalize=True).sort_index(),
            "count_a": (tail == 0).sum(1), "count_b": (tail == 1).sum(1)}


def grammar_facts(cfg: PcfgConfig, stats: dict) -> dict:
    windows = stats["windows"]
    missing = pcfg.index_of_occurrence(windows, np.zeros(len(windows), int), cfg.occurrence) < 0
    share = np.bincount(stats["count_b"]) / len(stats["count_b"])
    nonzero = share[share > 0]
    return {"count_b_entropy": float(-(nonzero * np.log2(nonzero)).sum()), "count_b_majority": float(share.max()),
            "len_min": int(stats["lengths"].min()), "len_median": float(np.median(stats["lengths"])),
            "natural_corr": float((stats["count_b"] == stats["count_a"] + 1).mean()), "span": stats["span"],
            "window": cfg.window, "none_share": float(missing.mean())}


def family_examples(cfg: PcfgConfig, rng: np.random.Generator) -> pd.DataFrame:
    """One sequence of each task family (operand a where there is one), with its answer."""
    vocab, rows = cfg.vocab, []
    for fam in pcfg.FAMILIES:
        op = -1 if fam == "T" else 0
        b = pcfg.make_batch(vocab, pcfg.text_windows(rng, 1, cfg.window), [pcfg.FAMILIES.index(fam)], [op],
                            cfg.count_span, cfg.occurrence)
        toks = vocab.decode(b.tokens[0])
        rows.append({"family": fam, "sequence": " ".join(toks), "answer": toks[b.answer_pos]})
    return pd.DataFrame(rows).set_index("family")


def scale_table(cfg: PcfgConfig, device) -> pd.DataFrame:
    """Our pretraining setting beside the paper's."""
    r = reported
    return pd.DataFrame({
        "ours": {"layers / heads / d": f"{cfg.n_layers} / {cfg.n_heads} / {cfg.d_model}", "window": cfg.window,
                 "steps": cfg.pretrain_steps, "batch": cfg.pretrain_batch, "learning rate": cfg.pretrain_lr,
                 "weight decay": cfg.weight_decay, "priors": ", ".join(cfg.priors) + ", b_only",
                 "seeds": f"{cfg.pretrain_seeds} (b_only: the first)",
                 "runs trained together (batched)": f"{len(cfg.priors) + 1}, then {len(cfg.priors)} a seed"
                                                    + (", compiled" if cfg.compile_grid else ""),
                 "device": device.type},
        "paper": {"layers / heads / d": paper_model(), "window": r.WINDOW, "steps": r.PRETRAIN_STEPS,
                  "batch": "not found", "learning rate": r.PRETRAIN_LR, "weight decay": "not found",
                  "priors": "P^L, P^M, P^H", "seeds": "1 (none reported)", "runs trained together (batched)": "not stated", "device": "GPU"}}).astype(str)


def pretraining_protocol(cfg: PcfgConfig) -> dict:
    """The pretraining setting's numbers, as chapter 3's prose cites them (ours and the paper's)."""
    return {"count_span": cfg.count_span, "occurrence": cfg.occurrence, "pretrain_warmup": cfg.pretrain_warmup,
            "final_lr_ratio": cfg.final_lr_ratio, "weight_decay": cfg.weight_decay, "paper_model": paper_model(),
            "paper_window": reported.WINDOW, "paper_count_span": reported.COUNT_SPAN,
            "paper_pretrain_steps": reported.PRETRAIN_STEPS.split()[0],
            "paper_b_tie": reported.BEFORE_COUNT_B_200K["high"], "paper_steps_main": reported.BEFORE_STEPS[0],
            "paper_steps_short": reported.BEFORE_STEPS[1]}


def paper_model() -> str:
    return f"{reported.MODEL_LAYERS} / {reported.MODEL_HEADS} / {reported.MODEL_WIDTH}"


def pretrain_all(cfg: PcfgConfig, seed: int, device, echo=print) -> tuple[dict, dict]:
    """The pretrained model and log of every prior and of ``b_only`` (the Scr.+FT start), cached."""
    models, logs = {}, {}
    for prior, (models[prior], logs[prior], cached) in pretrained_many(cfg, [*cfg.priors, "b_only"], seed,
                                                                         device).items():
        echo(f"{prior}: {'from the cache' if cached else 'trained'}; final loss {logs[prior].final_loss:.3f}")
    return models, logs


def pretrain_seeds(cfg: PcfgConfig, seed: int, device, first: dict, echo=print) -> list[dict]:
    """The pretrained models of every prior on each of ``cfg.pretrain_seeds`` seeds, ``[{prior: model}]``:
    ``first`` (``pretrain_all``'s models of seed ``seed``, ``b_only`` among them, which chapter 4 fine-tunes)
    and then the priors on seeds ``seed + 1``, …, each seed's trained together and cached as the first are."""
    out = [dict(first)]
    for k in range(1, cfg.pretrain_seeds):
        got = pretrained_many(cfg, list(cfg.priors), seed + k, device)
        echo(f"seed {seed + k}: " + ", ".join(f"{p} {'cached' if c else 'trained'}, final loss {log.final_loss:.3f}"
                                             for p, (_, log, c) in got.items()))
        out.append({p: model for p, (model, _, _) in got.items()})
    return out


def family_tables(cfg: PcfgConfig, seed_models: list[dict], rng: np.random.Generator) -> list[pd.DataFrame]:
    """``family_table`` of each seed's models, all on the same test sets (drawn once from ``rng``)."""
    device = next(next(iter(seed_models[0].values())).parameters()).device
    tests = family_tests(cfg, rng, cfg.eval_samples, device)
    return [_family_table(models, tests) for models in seed_models]


def seed_mean(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The mean over seeds of ``family_tables``, cell by cell (a model only one seed has keeps its value)."""
    mean = pd.concat(tables).groupby(level=0, sort=False).mean()
    return mean[list(dict.fromkeys(c for t in tables for c in t.columns))]


def _family_table(models: dict, tests: dict) -> pd.DataFrame:
    table = pd.DataFrame({prior: {name: accuracy(m, b) for name, b in tests.items()} for prior, m in models.items()})
    return table.assign(**{CHANCE: [constant_chance(b.answer) for b in tests.values()]})


def family_table(cfg: PcfgConfig, models: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Accuracy of each pretrained model (columns) on every family and operand (rows), all on the same
    test sets, and beside them the chance level on each: the best constant answer's accuracy (``CHANCE``)."""
    return family_tables(cfg, [models], rng)[0]


def before_table(cfg: PcfgConfig, acc: pd.DataFrame) -> pd.DataFrame:
    """Table 5's "before fine-tuning" rows: ours (task C, a and b) beside the paper's, in %."""
    paper = pd.DataFrame({"count b, 200K steps": reported.BEFORE_COUNT_B_200K,
                          "count b, 50K steps": reported.BEFORE_COUNT_B_50K, "count a": reported.BEFORE_COUNT_A})
    ours = pd.DataFrame({"count a (ours)": 100 * acc.loc["C a", list(cfg.priors)],
                         "count b (ours)": 100 * acc.loc["C b", list(cfg.priors)]})
    return ours.join(paper).round(1)


def by_prior_b(cfg: PcfgConfig) -> list[str]:
    """The priors in order of P(b)."""
    return sorted(cfg.priors, key=lambda p: pcfg.PRIORS[p][1])


def pretraining_facts(cfg: PcfgConfig, models: dict, acc: pd.DataFrame, rng: np.random.Generator, device) -> dict:
    """The numbers chapter 3's prose cites; asks the low-prior model count b on ``eval_samples`` fresh texts."""
    count_b, count_a = acc.loc["C b", list(cfg.priors)], acc.loc["C a", list(cfg.priors)]
    top = by_prior_b(cfg)[-1]
    ask_b = cfg.counter_batch(rng, 0.0, cfg.eval_samples).to(device)
    return {"count_b_top": float(count_b[top]), "top_prior": top, "count_a_min": float(count_a.min()),
            "pretrain_seeds": cfg.pretrain_seeds,
            **{f"count_b_{p}": float(count_b[p]) for p in cfg.priors},
            "count_b_se": two_standard_errors(cfg.eval_samples), "eval_samples": cfg.eval_samples,
            "b_only_count_a": float(acc.loc["C a", "b_only"]), "b_only_count_b": float(acc.loc["C b", "b_only"]),
            "pretrain_steps": cfg.pretrain_steps, "pretrain_batch": cfg.pretrain_batch,
            "low_b_says_a": accuracy(models["low"], ask_b, "pt"), "low_b_says_b": accuracy(models["low"], ask_b, "ft"),
            "a_equals_b": float((ask_b.label_pt == ask_b.label_ft).float().mean())}


# ------------------------------------------------------------------ chapter 4: fine-tuning
def settings(cfg: PcfgConfig, preset: str, device) -> pd.DataFrame:
    return pd.Series({"preset": preset, "fine-tuning steps": cfg.ft_steps, "batch": cfg.ft_batch,
                      "η_L, η_M, η_S (used)": ", ".join(f"{v:.2g}" for v in cfg.lrs.values()),
                      "η_L, η_M, η_S (paper, 10K steps)": ", ".join(f"{v:g}" for v in cfg.ft_lrs),
                      "C_Tr": ", ".join(f"{c:g}" for c in cfg.ft_c_trs), "cells": len(cfg.cells),
                      "seeds of every cell": cfg.ft_seeds, "window": cfg.window, "correlated texts": cfg.correlation,
                      "converged if the training loss ≤": f"{cfg.converged_loss:.2f}",
                      "runs trained together (batched)": f"{len(cfg.cells) * cfg.ft_seeds}"
                                                          + (", compiled" if cfg.compile_grid else ""),
                      "device": device.type}, name="setting").to_frame()


def protocol_facts(cfg: PcfgConfig) -> dict:
    """The fine-tuning protocol's numbers, as chapter 4's prose cites them."""
    return {"ft_steps": cfg.ft_steps, "ft_seeds": cfg.ft_seeds, "converged_loss": cfg.converged_loss,
            "pretrain_steps": cfg.pretrain_steps, "max_lr_share": cfg.max_lr_share, "pretrain_lr": cfg.pretrain_lr,
            "lr_scale": cfg.lr_scale, "probe_steps": cfg.probe_steps, "ft_batch": cfg.ft_batch,
            "ft_warmup": cfg.ft_warmup, "final_lr_ratio": cfg.final_lr_ratio, "weight_decay": cfg.weight_decay,
            "eta_l": cfg.ft_lrs[0], "eta_m": cfg.ft_lrs[1], "eta_s": cfg.ft_lrs[2], "lr_reference_steps":
            cfg.lr_reference_steps, "probe_lr": cfg.probe_lr, "prune_k_min": min(cfg.prune_ks),
            "prune_k_max": max(cfg.prune_ks), "paper_ft_steps": f"{reported.FT_STEPS // 1000}K",
            "paper_probe_steps": f"{reported.PROBE_STEPS // 1000}K", "paper_eta_l": reported.FT_LRS[0],
            "paper_eta_m": reported.FT_LRS[1], "paper_eta_s": reported.FT_LRS[2], "n_layers": cfg.n_layers,
            "paper_preset_c_trs": ", ".join(f"{c:g}" for c in PcfgConfig.from_preset("paper").ft_c_trs),
            "paper_prune_neurons": reported.PRUNE_NEURONS, "paper_prune_k_max": reported.PRUNE_K_MAX,
            "paper_shortcut_ft0": reported.TABLE5_SHORTCUT["acc_ft_cte0"],
            "paper_reft_others": reported.REFT_STEPS_OTHERS, "paper_reft_low": reported.REFT_STEPS_LOW,
            "paper_scratch_steps": reported.SCRATCH_STEPS}


def starting_points(cfg: PcfgConfig, seed: int, device) -> tuple[dict, AnswerTests, pd.DataFrame]:
    """The pretrained models (every prior and ``b_only``), the fixed test sets, and the pretrained scores."""
    base = {prior: got[0] for prior, got in pretrained_many(cfg, [*cfg.priors, "b_only"], seed, device).items()}
    tests = counter_tests(cfg, np.random.default_rng(seed + 10_000), cfg.eval_samples, device)
    before = pd.DataFrame({prior: answer_scores(base[prior], tests) for prior in cfg.priors}).T
    return base, tests, before


def job_rng(seed: int, job: dict) -> np.random.Generator:
    """A fine-tuning run's own generator, from the chapter's seed, the run's seed and its cell: the same
    run gets the same numbers whatever else the grid holds."""
    return np.random.default_rng([seed, job["seed"], list(pcfg.PRIORS).index(job["prior"]),
                                  ("large", "medium", "small").index(job["lr"]), round(job["c_tr"] * 100)])


def grid_runs(cfg: PcfgConfig) -> list[dict]:
    """Every run of the fine-tuning grid: each cell of ``cfg.cells`` on ``ft_seeds`` seeds."""
    return [dict(prior=p, lr=lr, c_tr=c, seed=s) for p, lr, c in cfg.cells for s in range(cfg.ft_seeds)]


GRID_TOGETHER = 64  # runs of the grid trained together at most (``run_grid``'s ``max_together``)


def _grid_states(cfg: PcfgConfig, runs: list[dict], seed: int, device, starts: tuple | None = None) -> list[dict]:
    """``runs`` fine-tuned from their priors' pretrained models, all together (in parts of at most
    ``GRID_TOGETHER``), each seeded by its cell and seed (``job_rng``) and scored at ``ft_evals`` log-spaced
    steps; each run's state: its weights, its log and its final row (the test sets' scores and chance levels,
    the training loss over the last 10% of steps and whether that reached ``converged_loss``). ``starts`` is
    ``(base, tests)`` of ``starting_points`` when the caller has them."""
    base, tests = starts if starts is not None else starting_points(cfg, seed, device)[:2]
    eval_at = log_steps(cfg.ft_steps, cfg.ft_evals)
    chance = chance_scores(tests)
    out = []
    for part in split_parts(list(range(len(runs))), GRID_TOGETHER):
        jobs = [runs[i] for i in part]
        models = [copy_model(base[job["prior"]]) for job in jobs]
        logs = finetune_counters(cfg, models, [(cfg.lrs[job["lr"]], job["c_tr"]) for job in jobs],
                                 [job_rng(seed, job) for job in jobs], evaluate=lambda m: answer_scores(m, tests),
                                 eval_at=eval_at, device=device, desc=f"fine-tuning grid: {len(jobs)} runs together",
                                 compile=cfg.compile_grid)
        out += [{"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "log": log.to_dict(),
                 "final": {**log.evals[-1], **chance, "tail_loss": log.tail_loss(),
                           "converged": log.converged(cfg.converged_loss)}} for model, log in zip(models, logs)]
    return out


def grid_job(cfg: PcfgConfig, seed: int, device, starts: tuple | None = None) -> Job:
    """The fine-tuning grid as one job of cells, one per run (``grid_runs``), each starting from its prior's
    pretraining cell; the runs not cached are trained together (``_grid_states``), as they always were."""
    pre = {prior: pretrain_cell(cfg, prior, seed, device) for prior in cfg.priors}
    runs = grid_runs(cfg)
    cells = [Cell(f"pcfg-ft-{r['prior']}-{r['lr']}-c{r['c_tr']:g}-s{r['seed']}",
                  {"task": "pcfg-finetune", "run": r, "seed": seed, "config": cfg.to_dict()},
                  lambda r=r: _grid_states(cfg, [r], seed, device)[0], deps=(pre[r["prior"]],)) for r in runs]
    by_name = {c.name: r for c, r in zip(cells, runs)}
    return Job(tuple(cells), lambda missing: _grid_states(cfg, [by_name[c.name] for c in missing], seed, device,
                                                          starts), work=("fine-tuning grid",))


def finetune_grid(cfg: PcfgConfig, base: dict, tests: AnswerTests, seed: int, device) -> Grid:
    """Every run of the grid (``grid_job``: cached cells, those missing trained together), as a ``Grid``: one
    row per run with its final scores and chance levels, the evaluations along the way, and the models
    kept by (prior, η name, C_Tr, seed)."""
    job = grid_job(cfg, seed, device, (base, tests))
    runs, curves, kept = [], [], {}
    for r, (state, _) in zip(grid_runs(cfg), get_together(list(job.cells), job.build_many)):
        log = TrainLog(**state["log"])
        runs.append({**r, **state["final"]})
        curves += [{**r, **e} for e in log.evals]
        kept[(r["prior"], r["lr"], r["c_tr"], r["seed"])] = load_trained(copy_model(base[r["prior"]]), state["model"],
                                                                       device)
    return Grid(pd.DataFrame(runs), pd.DataFrame(curves), kept)


def grid_means(grid: Grid) -> pd.DataFrame:
    """Each cell's accuracies, the mean over its seeds, indexed by (prior, lr, c_tr)."""
    runs = grid.runs
    return runs.groupby(["prior", "lr", "c_tr"], sort=False)[
        [c for c in runs if c.startswith(("acc", "chance"))]].mean()


def row_label(prior: str, lr: str, c_tr: float) -> str:
    return f"{prior}, {LR_SYMBOL[lr]}, C_Tr={c_tr:g}"


def table5(cfg: PcfgConfig, means: pd.DataFrame, before: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our Table 5 (%; the pretrained rows first) and the paper's cells on the same rows (NaN elsewhere)."""
    ours = 100 * means
    ours.index = [row_label(*k) for k in means.index]
    ours = pd.concat([(100 * before).rename(index=lambda p: f"{p}, before fine-tuning"), ours])[list(SCORES)]
    paper = pd.DataFrame(np.nan, index=ours.index, columns=list(SCORES))
    cells = {**{("low", lr, 1.0): v for lr, v in reported.TABLE5_WRAPPER.items()},
             (cfg.shortcut_prior, "medium", 0.8): reported.TABLE5_SHORTCUT}
    for key, values in cells.items():
        for col, v in values.items():
            paper.loc[row_label(*key), col] = v
    for p, v in reported.BEFORE_COUNT_B_200K.items():
        if f"{p}, before fine-tuning" in paper.index:
            paper.loc[f"{p}, before fine-tuning", "acc_ft_cte0"] = v
    return ours, paper


def cell(means: pd.DataFrame, prior: str, lr: str, c_tr: float, col: str) -> float:
    return float(means.loc[(prior, lr, c_tr), col])


def _seed_column(grid: Grid, prior: str, lr: str, c_tr: float, col: str) -> list:
    """A cell's ``col``, one value per fine-tuning seed, in seed order."""
    runs = grid.runs
    return list(runs[(runs.prior == prior) & (runs.lr == lr) & (runs.c_tr == c_tr)].sort_values("seed")[col])


def seed_values(grid: Grid, prior: str, lr: str, c_tr: float, col: str) -> float | list[float]:
    """A cell's value per fine-tuning seed (a list, for a claim on seeds) when it ran on several, else
    its one value."""
    values = [float(v) for v in _seed_column(grid, prior, lr, c_tr, col)]
    return values if len(values) > 1 else values[0]


def spread(grid: Grid) -> pd.DataFrame:
    """Every cell over its seeds: the mean and min–max of count b (C_Te = 1 and 0) and count a
    (C_Te = 0), the chance level of each (the best constant answer on the same test set) and how many
    seeds converged."""
    runs = grid.runs
    cols = ("acc_ft_cte1", "acc_ft_cte0", "acc_pt_cte0")
    agg = runs.groupby(["prior", "lr", "c_tr"], sort=False).agg(
        seeds=("seed", "size"), converged=("converged", "sum"),
        **{f"{c} mean": (c, "mean") for c in cols},
        **{f"{c} min–max": (c, lambda x: f"{x.min():.2f}–{x.max():.2f}") for c in cols},
        **{f"chance {c[4:]}": (f"chance{c[3:]}", "first") for c in cols})
    agg["converged"] = [f"{int(n)}/{k}" for n, k in zip(agg.converged, agg.seeds)]
    return agg.round(3)


def converged_cell(grid: Grid, prior: str, lr: str, c_tr: float) -> list[bool]:
    """Whether each seed's run of a cell converged (its training loss reached ``converged_loss``)."""
    return [bool(v) for v in _seed_column(grid, prior, lr, c_tr, "converged")]


def converged_cells(grid: Grid, cells) -> list[bool]:
    """Per seed, whether every run of ``cells`` ((prior, lr, c_tr) each) converged: the gate of a claim
    that reads several cells of one seed."""
    return [all(v) for v in zip(*(converged_cell(grid, *c) for c in cells))]


def table5_facts(cfg: PcfgConfig, means: pd.DataFrame, before: pd.DataFrame) -> dict:
    chance = {f"chance_{c}": cell(means, "low", "large", 1.0, f"chance_{c}") for c in ("ft_cte1", "ft_cte0", "pt_cte0")}
    return {**chance, "shortcut_ft0": cell(means, cfg.shortcut_prior, "medium", cfg.high_c_tr, "acc_ft_cte0"),
            "shortcut_prior": cfg.shortcut_prior, "high_c_tr": cfg.high_c_tr,
            "low_before_ft0": float(before.loc["low", "acc_ft_cte0"]),
            "shortcut_before_ft0": float(before.loc[cfg.shortcut_prior, "acc_ft_cte0"]),
            "shortcut_ctr0_ft0": cell(means, cfg.shortcut_prior, "medium", 0.0, "acc_ft_cte0"),
            "start_count_a_min": float(before.acc_pt_cte0.min()), "start_count_a_prior": str(before.acc_pt_cte0.idxmin())}


def convergence_facts(grid: Grid) -> dict:
    """How many seeds of the low prior's cells the prose names converged, as "k/n": every η at C_Tr = 1
    (``{η}_converged``) and η_M at C_Tr = 0 (``medium_ctr0_converged``)."""
    def count(lr, c_tr):
        runs = converged_cell(grid, "low", lr, c_tr)
        return f"{sum(runs)}/{len(runs)}"

    return {**{f"{lr}_converged": count(lr, 1.0) for lr in ("large", "medium", "small")},
            "medium_ctr0_converged": count("medium", 0.0)}


def correlation_facts(cfg: PcfgConfig, grid: Grid) -> dict:
    """Fig. 5: per prior, how much lower count-b accuracy at C_Te = 0 is after C_Tr = 1 fine-tuning than
    after C_Tr = 0 (η_M), and whether that drop is largest under the low prior; means, per seed under
    ``*_seeds``."""
    drops = {p: [float(a - b) for a, b in zip(_seed_column(grid, p, "medium", 0.0, "acc_ft_cte0"),
                                                _seed_column(grid, p, "medium", 1.0, "acc_ft_cte0"))]
             for p in cfg.priors}

    def one_seed(s):
        drops_s = {p: v[s] for p, v in drops.items()}
        others = [v for p, v in drops_s.items() if p != "low"]
        return {**{f"ctr_drop_{p}": v for p, v in drops_s.items()},
                "ctr_drop_low_largest": bool(drops_s["low"] > max(others)) if others else True}

    return over_seeds([one_seed(s) for s in range(cfg.ft_seeds)])


def medium_curves(grid: Grid) -> pd.DataFrame:
    """Fig. 6's curves: every seed's evaluations during fine-tuning at η_M."""
    curves = grid.curves
    return curves[curves.lr == "medium"]


def collapse(mid: pd.DataFrame) -> tuple[pd.Series, dict]:
    """Collapse speed: the count-a accuracy kept, averaged over the log-spaced evaluation points
    (relative to the pretrained model's), so an early collapse weighs more than a late one; per seed,
    then averaged. ``collapse_gap`` (per seed): how much less the low prior at C_Tr = 1 keeps than the
    next-fastest cell (positive: it collapses fastest, the paper's Fig. 6)."""
    keys = ["prior", "c_tr", "seed"]
    start = mid[mid.step == 0].groupby(keys)["acc_pt_cte0"].mean().clip(lower=1e-3)
    per_seed = mid.groupby(keys)["acc_pt_cte0"].mean() / start
    kept = per_seed.groupby(["prior", "c_tr"]).mean()
    fastest = kept.idxmin()
    target = ("low", 1.0)
    gaps = [float(g.drop(index=target).min() - g[target])
            for g in (per_seed.xs(s, level="seed") for s in sorted(mid.seed.unique()))]
    return kept, {"fastest_prior": fastest[0], "fastest_c_tr": fastest[1], "fastest_kept": float(kept.min()),
                  "collapse_gap": gaps, "kept_low_ctr1": float(kept["low", 1.0]),
                  "kept_other_ctr1": float(kept.drop(index="low", level="prior").xs(1.0, level="c_tr").min())}


def prune_target(grid: Grid) -> tuple[str, list[bool]]:
    """The η of the models Fig. 7 prunes: the paper prunes after fine-tuning at a small η; we take the
    smallest η whose low-prior C_Tr = 1 runs converged on every seed, η_S when they did. Returns (η name,
    whether each seed's run converged: not all only when no η's did, and the claims on it are
    inconclusive)."""
    for lr in ("small", "medium", "large"):
        converged = converged_cell(grid, "low", lr, 1.0)
        if converged and all(converged):
            return lr, converged
    return "small", converged_cell(grid, "low", "small", 1.0)


def prune_neurons(cfg: PcfgConfig, models: dict, lr: str, tests: AnswerTests, seed: int, device) -> pd.DataFrame:
    """Fig. 7 on every seed's low-prior C_Tr = 1 model fine-tuned at ``lr``: zero the top-K MLP neurons
    by grad·weight of the count-a loss on uncorrelated texts, for each K of ``prune_ks``; all four
    accuracies per (seed, K)."""
    batch = cfg.counter_batch(np.random.default_rng(seed + 30_000), 0.0, cfg.prune_batch, ask="a").to(device)
    frames = []
    for s in seeds_of(models):
        model = models["low", lr, 1.0, s]
        curve = pruning_curve(model, lambda m: answer_loss(m, batch), neuron_units(model), list(cfg.prune_ks),
                              lambda m: answer_scores(m, tests))
        frames.append(pd.DataFrame(curve).assign(seed=s))
    return pd.concat(frames, ignore_index=True)


def n_neurons(model) -> int:
    """The MLP neurons Fig. 7 can prune: every layer's."""
    return model.cfg.d_mlp * model.cfg.n_layers


def pruning_facts(pruned: pd.DataFrame, before: pd.DataFrame, n_neurons: int) -> dict:
    """What fine-tuning cost count-a, and the best K in 1-15 (Fig. 7's range): how much of it comes back;
    means over seeds, per seed under ``*_seeds``."""
    def one_seed(frame):
        at_zero = frame.loc[frame.k == 0, "acc_pt_cte0"].iloc[0]
        lost = float(before.loc["low", "acc_pt_cte0"] - at_zero)
        window = frame[(frame.k >= 1) & (frame.k <= reported.PRUNE_K_MAX)]
        best = window.loc[window["acc_pt_cte0"].idxmax()]
        return {"prune_lost": lost, "prune_best_k": int(best["k"]),
                "prune_restored": float((best["acc_pt_cte0"] - at_zero) / lost) if lost > 0 else 0.0,
                "prune_best_acc": float(best["acc_pt_cte0"]), "prune_best_ft1": float(best["acc_ft_cte1"]),
                "prune_ft1_drop": float(frame.loc[frame.k == 0, "acc_ft_cte1"].iloc[0] - best["acc_ft_cte1"]),
                "n_neurons": n_neurons}

    return over_seeds([one_seed(frame) for _, frame in pruned.groupby("seed", sort=True)])


#: the probes' floor, under the prior "floor": models that never counted a (``b_only``, pretrained without the
#: count-a task, and a random init of the same shape)
FLOOR_PRIOR = "floor"
FLOORS = ("b_only", "random init")


def probe_sweep(cfg: PcfgConfig, base: dict, tuned: dict, tests: AnswerTests, seed: int, device) -> pd.DataFrame:
    """Fig. 8: per block, a linear probe at ``<art>`` for count a (trained on prompts asking count a) and
    for count b (prompts asking count b), on each pretrained model (once, as seed 0), each C_Tr = 1
    model of every fine-tuning seed (``tuned`` by (prior, η name, C_Tr, seed)), and the floor (prior
    ``FLOOR_PRIOR``, once, as seed 0): ``b_only`` and a random init; tested at C_Te = 0."""
    rng = np.random.default_rng(seed + 40_000)
    sets = {  # target: (train prompts, test prompts, labels)
        "count a": (cfg.counter_batch(rng, 0.0, cfg.probe_samples, ask="a").to(device), tests.ask_pt[0.0],
                    lambda b: torch.from_numpy(b.count_pt)),
        "count b": (cfg.counter_batch(rng, 0.0, cfg.probe_samples, ask="b").to(device), tests.ask_ft[0.0],
                    lambda b: torch.from_numpy(b.count_ft)),
    }
    probed = {(p, "pretrained", 0): base[p] for p in cfg.priors}
    probed.update({(p, LR_SYMBOL[lr], s): m for (p, lr, c, s), m in tuned.items() if c == 1.0})
    with torch.random.fork_rng():  # building a model seeds torch's generator; the probes' initial weights draw from it
        random_init = build_model(cfg, seed + 40_000, device)
    probed.update({(FLOOR_PRIOR, "b_only", 0): base["b_only"], (FLOOR_PRIOR, "random init", 0): random_init})
    rows = []
    for (prior, which, s), model in progress(probed.items(), desc="probes"):
        for target, (train_b, test_b, label) in sets.items():
            x_tr = residuals(model, train_b.inputs, probe_positions(train_b))
            x_te = residuals(model, test_b.inputs, probe_positions(test_b))
            for block in x_tr:
                res = fit_probe(x_tr[block].cpu(), label(train_b), x_te[block].cpu(), label(test_b),
                                cfg.vocab.max_number + 1, steps=cfg.probe_steps, lr=cfg.probe_lr, rng=rng,
                                batch=cfg.probe_batch, schedule=cfg.probe_schedule, warmup=cfg.probe_warmup,
                                desc=f"probe {prior} {which} {target} {block} seed {s}")
                rows.append({"prior": prior, "model": which, "seed": s, "target": target, "block": block,
                             "accuracy": res.test_accuracy})
    return pd.DataFrame(rows)


def unconverged_models(grid: Grid, seed: int) -> set[tuple[str, str]]:
    """(prior, η symbol) of one seed's C_Tr = 1 models whose run did not converge."""
    runs = grid.runs
    rows = runs[(runs.c_tr == 1.0) & (runs.seed == seed) & ~runs.converged.astype(bool)]
    return {(p, LR_SYMBOL[lr]) for p, lr in zip(rows.prior, rows.lr)}


def probe_drops(probes: pd.DataFrame, skip: set = frozenset()) -> tuple[pd.DataFrame, dict]:
    """Each model's best-block count-a probe, and how far fine-tuning lowered it from its pretrained
    model's. Models in ``skip`` ((prior, η symbol): runs that did not converge, which barely moved from
    their pretrained model) are shown but left out of the comparison; ``probe_decided`` is False when
    that leaves nothing to compare (the numbers are then over every model, and the claims inconclusive)."""
    best = probes[probes.target == "count a"].groupby(["prior", "model"])["accuracy"].max()
    every = {k: float(best[k[0], "pretrained"] - v) for k, v in best.items() if k[1] != "pretrained"}
    kept = {k: v for k, v in every.items() if k not in skip}
    decided = ("low", "η_M") in kept and len(kept) > 1
    drops = kept if decided else every
    low_m = drops.get(("low", "η_M"), float("nan"))
    others = {k: v for k, v in drops.items() if k != ("low", "η_M")}
    worst = max(others, key=others.get)
    return best.unstack("model").round(2), {
        "probe_low_m_drop": low_m, "probe_other_max_drop": others[worst],
        "probe_other_min_acc": float(min(best[k] for k in others)),
        "probe_worst_other": f"{worst[0]} prior, {worst[1]}",
        "probe_low_m_drops_most": bool(low_m > max(others.values())), "probe_decided": decided,
        "probe_skipped": ", ".join(f"{p} prior, {m}" for p, m in sorted(skip)) or "none"}


def probe_summary(probes: pd.DataFrame, grid: Grid) -> tuple[pd.DataFrame, dict]:
    """``probe_drops`` per fine-tuning seed (each seed's models against the pretrained ones, leaving out
    that seed's unconverged runs): the best-block table averaged over seeds, and the facts (means; per
    seed under ``*_seeds``)."""
    probes = probes[probes.prior != FLOOR_PRIOR]
    pretrained = probes[probes.model == "pretrained"]
    tuned = probes[probes.model != "pretrained"]
    results = [probe_drops(pd.concat([pretrained, frame]), unconverged_models(grid, s))
               for s, frame in tuned.groupby("seed", sort=True)]
    table = sum(t for t, _ in results) / len(results)
    return table.round(2), over_seeds([f for _, f in results])


def probe_floor(cfg: PcfgConfig, probes: pd.DataFrame) -> dict:
    """The count-a probe's floor: the best-block accuracy of each model of ``FLOORS`` and the larger;
    ``probe_se2``: two standard errors of an accuracy on the test set."""
    best = probes[(probes.prior == FLOOR_PRIOR) & (probes.target == "count a")].groupby("model").accuracy.max()
    return {"probe_floor_b_only": float(best["b_only"]), "probe_floor_random": float(best["random init"]),
            "probe_floor": float(best.max()), "probe_se2": two_standard_errors(cfg.eval_samples)}


def reft_rng(seed: int, run_seed: int, prior: str) -> np.random.Generator:
    """A reFT (or, for ``prior`` "b_only", Scr.+FT) run's own generator."""
    return np.random.default_rng([seed, run_seed, 60_000, [*pcfg.PRIORS, "b_only"].index(prior)])


def reverse_finetune(cfg: PcfgConfig, base: dict, tuned: dict, tests: AnswerTests, seed: int,
                     device) -> tuple[dict, dict]:
    """Fig. 9, for every fine-tuning seed: reFT of each prior's model fine-tuned at η_L with C_Tr = 1, on
    count a at ``reft_lr``, then Scr.+FT from the b-only model, the same way (a run per seed). Returns
    (reFT logs by (prior, seed), Scr.+FT logs by seed)."""
    eval_at = log_steps(cfg.reft_steps, cfg.reft_evals)
    count_a = lambda m: {"count a": accuracy(m, tests.ask_pt[0.0])}  # noqa: E731

    def run(model, s, prior, desc):
        return finetune_counter(cfg, copy_model(model), cfg.lrs[cfg.reft_lr], 0.0, reft_rng(seed, s, prior), ask="a",
                                steps=cfg.reft_steps, evaluate=count_a, eval_at=eval_at, device=device, desc=desc)

    seeds = seeds_of(tuned)
    reft = {(p, s): run(tuned[p, "large", 1.0, s], s, p, f"reFT {p} seed {s}") for s in seeds for p in cfg.priors}
    return reft, {s: run(base["b_only"], s, "b_only", f"Scr.+FT seed {s}") for s in seeds}


def reft_summary(cfg: PcfgConfig, reft: dict, scratch: dict, before: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Steps to ``reft_level`` of each prior's pretrained count-a accuracy, for reFT and Scr.+FT (seed 0's
    table), and the facts the claims read (means; per seed under ``*_seeds``): how many priors revive
    at least twice as fast, whether the low prior is slowest, and Scr.+FT's steps at the easiest level
    (the budget, a lower bound, when it never got there)."""
    level = {p: cfg.reft_level * float(before.loc[p, "acc_pt_cte0"]) for p in cfg.priors}

    def one_seed(s):
        table = revival_table({p: reft[p, s] for p in cfg.priors}, dict.fromkeys(cfg.priors, scratch[s]), "count a",
                              level, cfg.reft_steps, "prior")
        others = table.drop(index="low")["reFT steps"]
        scratch_steps = float(table["Scr.+FT steps"].min())
        return table, {"reft_n_faster": n_faster(table), "reft_n": len(table), "reft_n_undecided": n_undecided(table),
                       "reft_share_faster": n_faster(table) / len(table),
                       "reft_n_unrevived": int(np.isinf(table["reFT steps"]).sum()),
                       "reft_budget": cfg.reft_steps, "reft_level": cfg.reft_level,
                       "low_slowest": bool(table.loc["low", "reFT steps"] >= others.max()),
                       "scratch_steps": scratch_steps if np.isfinite(scratch_steps) else float(cfg.reft_steps),
                       "scratch_reached": bool(np.isfinite(scratch_steps)),
                       **{f"reft_steps_{p}": float(table.loc[p, "reFT steps"]) for p in cfg.priors}}

    results = [one_seed(s) for s in sorted(scratch)]
    return results[0][0], over_seeds([f for _, f in results])
