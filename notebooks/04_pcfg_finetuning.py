# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fine-tuning PCFG-trained transformers: wrappers, pruning, probing, reverse fine-tuning
#
# The models of the previous chapter learned to count `a` under every operand prior, and to
# count `b` only as well as the prior made them practise it. {cite:t}`jain2024` fine-tune
# them to count `b` (O_FT) with a spurious correlation in the data — in a correlated sample
# count(b) = count(a) + 1, so "count a, add one" is a shortcut — and ask whether the model
# learns to count `b` or wraps its count-a capability (their Sec. 5, Table 5, Figs. 5–9).
# Then they look for the capability under the wrapper: pruning neurons, linear probes and
# reverse fine-tuning.
#
# **Setup.** C_Tr is the share of correlated fine-tuning samples; the label distribution
# is the same for every C_Tr. We test at C_Te = 1 (every sample correlated: the shortcut
# gives the right answer) and C_Te = 0 (no sample correlated: only a real count-b capability
# scores), and ask the same test texts for count(a) (O_PT) to see what became of the
# pretraining capability.

# %% tags=["parameters", "remove-cell"]
preset = "ci"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib import pyplot as plt

from ftscope.book.chapter import Chapter
from ftscope.book.claims import at_least, at_most, is_true
from ftscope.instruments import plots
from ftscope.instruments.probing import fit_probe, residuals
from ftscope.instruments.pruning import pruning_curve
from ftscope.jain.pcfg_training import (
    CounterTests,
    PcfgConfig,
    accuracy,
    answer_loss,
    copy_model,
    counter_scores,
    finetune,
    neuron_units,
    pretrained,
    probe_positions,
)
from ftscope.train.loop import first_step_reaching, log_steps, revival_speedup
from ftscope.train.progress import progress

ch = Chapter("04_pcfg_finetuning", PcfgConfig, preset=preset, device=device, seed=seed, overrides=overrides)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
plots.style()
LR_SYMBOL = {"large": "η_L", "medium": "η_M", "small": "η_S"}

# %% [markdown]
# **Fine-tuning protocol** (the paper's, except where marked): task C asking for `b`, AdamW,
# batch 96, 20% linear warmup then cosine decay to 1/100, starting from the pretrained
# checkpoint (the previous chapter's, from the cache). The paper's learning rates are η_L =
# 10⁻⁴, η_M = 10⁻⁵ and η_S = 10⁻⁶ for 10K iterations. **Deviations:** at `ci` we run far
# fewer steps and scale every learning rate by 10K / steps, keeping η × steps (how far
# fine-tuning can move the weights) the paper's; weight decay is 0.1 (not given in the
# paper); the loss is the answer token's cross-entropy; the `ci` preset runs the cells
# the figures and claims read (below), the `paper` preset the full grid of priors × η ×
# C_Tr ∈ {0, 0.5, 0.8, 1}. The paper reports no seeds: the headline cells are fine-tuned
# with several seeds (the pretrained model is the same; the data order and samples differ).

# %% tags=["remove-input"]
ch.glue("ft_steps", cfg.ft_steps)
ch.glue("ft_seeds", cfg.ft_seeds)
ch.glue("probe_steps", cfg.probe_steps)
pd.Series({"preset": preset, "fine-tuning steps": cfg.ft_steps, "batch": cfg.ft_batch,
           "η_L, η_M, η_S (used)": ", ".join(f"{v:.2g}" for v in cfg.lrs.values()),
           "η_L, η_M, η_S (paper, 10K steps)": ", ".join(f"{v:g}" for v in cfg.ft_lrs),
           "C_Tr": ", ".join(f"{c:g}" for c in cfg.ft_c_trs), "runs": len(cfg.cells),
           "seeds of the headline cells": cfg.ft_seeds, "device": dev.type}, name="setting").to_frame()

# %%
base = {prior: pretrained(cfg, prior, seed, dev)[0] for prior in (*cfg.priors, "b_only")}
tests = CounterTests.make(cfg, np.random.default_rng(seed + 10_000), cfg.eval_samples, dev)
before = pd.DataFrame({prior: counter_scores(base[prior], tests) for prior in cfg.priors}).T

# %% [markdown]
# ## Table 5: what fine-tuning learns
#
# Each run fine-tunes a copy of a pretrained model; we evaluate all four accuracies at
# log-spaced steps (for Fig. 6) and keep the final ones for the table.

# %%
eval_at = log_steps(cfg.ft_steps, cfg.ft_evals)
jobs = [(cell, s) for cell in cfg.cells for s in range(cfg.ft_seeds if cell in cfg.seed_cells else 1)]
runs, curves, tuned = [], [], {}
for i, ((prior, lr_name, c_tr), s) in enumerate(progress(jobs, desc="fine-tuning grid")):
    model = copy_model(base[prior])
    log = finetune(cfg, model, cfg.lrs[lr_name], c_tr, np.random.default_rng([seed, s, i]),
                   evaluate=lambda m: counter_scores(m, tests), eval_at=eval_at, device=dev,
                   desc=f"{prior} {lr_name} C_Tr={c_tr:g} seed {s}")
    key = dict(prior=prior, lr=lr_name, c_tr=c_tr, seed=s)
    runs.append({**key, **log.evals[-1]})
    curves += [{**key, **e} for e in log.evals]
    if s == 0:
        tuned[prior, lr_name, c_tr] = model
runs, curves = pd.DataFrame(runs), pd.DataFrame(curves)
grid = runs.groupby(["prior", "lr", "c_tr"], sort=False)[[c for c in runs if c.startswith("acc")]].mean()

# %% tags=["hide-input"]
COLS = {"acc_pt_cte1": "count a\nC_Te=1", "acc_ft_cte1": "count b\nC_Te=1", "acc_pt_cte0": "count a\nC_Te=0",
        "acc_ft_cte0": "count b\nC_Te=0"}
PAPER_TABLE5 = {  # Jain et al. 2024, Table 5 (%): the cells the paper reports
    ("low", "large", 1.0): {"acc_ft_cte1": 100, "acc_ft_cte0": 1.6, "acc_pt_cte0": 15.2},
    ("low", "medium", 1.0): {"acc_ft_cte1": 100, "acc_ft_cte0": 0.0, "acc_pt_cte0": 17.5},
    ("low", "small", 1.0): {"acc_ft_cte1": 99.9, "acc_ft_cte0": 0.0, "acc_pt_cte0": 2.3},
    (cfg.shortcut_prior, "medium", 0.8): {"acc_ft_cte0": 99.4},
}
PAPER_BEFORE = {"low": 27.1, "medium": 99.9, "high": 99.9}  # count b before fine-tuning (200K steps)


def row_label(prior, lr, c_tr):
    return f"{prior}, {LR_SYMBOL[lr]}, C_Tr={c_tr:g}"


ours = 100 * grid
ours.index = [row_label(*k) for k in grid.index]
before_rows = (100 * before).rename(index=lambda p: f"{p}, before fine-tuning")
ours = pd.concat([before_rows, ours])[list(COLS)]
paper = pd.DataFrame(np.nan, index=ours.index, columns=list(COLS))
for k, cells in PAPER_TABLE5.items():
    for col, v in cells.items():
        paper.loc[row_label(*k), col] = v
for p, v in PAPER_BEFORE.items():
    if f"{p}, before fine-tuning" in paper.index:
        paper.loc[f"{p}, before fine-tuning", "acc_ft_cte0"] = v
fig = plots.paired_heatmaps(ours.rename(columns=COLS), paper.rename(columns=COLS), f"Ours ({preset}), %",
                            "Jain et al. (2024), Table 5, %", suptitle="Accuracy after fine-tuning to count b")

# %% tags=["remove-cell"]
def cell(prior, lr, c_tr, col):
    return float(grid.loc[(prior, lr, c_tr), col])


spread = (runs.groupby(["prior", "lr", "c_tr"], sort=False)
          .agg(seeds=("seed", "size"), **{f"{c} mean": (c, "mean") for c in ("acc_ft_cte1", "acc_ft_cte0", "acc_pt_cte0")},
               **{f"{c} min–max": (c, lambda x: f"{x.min():.2f}–{x.max():.2f}") for c in ("acc_ft_cte0", "acc_pt_cte0")}))
spread = spread[spread.seeds > 1].round(3)
low_ft0 = [cell("low", lr, 1.0, "acc_ft_cte0") for lr in ("large", "medium", "small")]
low_ft1 = [cell("low", lr, 1.0, "acc_ft_cte1") for lr in ("large", "medium", "small")]
shortcut = cell(cfg.shortcut_prior, "medium", cfg.high_c_tr, "acc_ft_cte0")
ch.glue("low_ft1_min", min(low_ft1))
ch.glue("low_ft0_ms", max(low_ft0[1:]))
ch.glue("shortcut_ft0", shortcut)
ch.glue("shortcut_prior", cfg.shortcut_prior)
ch.glue("high_c_tr", cfg.high_c_tr)
ch.glue("low_before_ft0", float(before.loc["low", "acc_ft_cte0"]))
ch.glue("low_large_pt0", cell("low", "large", 1.0, "acc_pt_cte0"))
ch.glue("eta_large", cfg.lrs["large"])
ch.glue("low_ctr0_ft0", cell("low", "medium", 0.0, "acc_ft_cte0"))
ch.glue("low_ctr0_pt0", cell("low", "medium", 0.0, "acc_pt_cte0"))

# %% [markdown]
# Under the low prior, fine-tuning with C_Tr = 1 gives a model that answers count(b) on
# correlated data (at least {glue:text}`low_ft1_min:.0%` at C_Te = 1 at every η). On
# uncorrelated data (C_Te = 0) the models fine-tuned at η_M and η_S count b at most
# {glue:text}`low_ft0_ms:.0%` of the time (the pretrained model: {glue:text}`low_before_ft0:.0%`):
# the signature of the wrapper "count a, add one" the paper reports. The model fine-tuned
# at η_L scores {glue:text}`pcfg_wrapper_ft_cte0_large:.0%` there; see the mismatches
# below. With a prior that practised `b`
# ({glue:text}`shortcut_prior`, P(a) = 0.9, the row the paper reports) and C_Tr =
# {glue:text}`high_c_tr`, the model counts b on uncorrelated data
# ({glue:text}`shortcut_ft0:.0%`; paper 99.4%): it avoids the shortcut. Both counts of
# the same test texts are shown, so a row whose count-a accuracy fell while count-b at
# C_Te = 0 did not rise lost its pretraining answer without learning the new one.
#
# Seeds of the headline cells (same pretrained model, different fine-tuning data and
# order), mean and range:

# %% tags=["remove-input"]
spread

# %% [markdown]
# ## Fig. 6: how fast count-a collapses
#
# Count-a accuracy on uncorrelated test texts during fine-tuning at η_M, for each prior
# and C_Tr:

# %% tags=["hide-input"]
mid = curves[(curves.lr == "medium") & (curves.seed == 0)]
g = sns.relplot(data=mid, x="step", y="acc_pt_cte0", hue="c_tr", col="prior", kind="line", marker="o",
                height=3.0, aspect=1.1, palette="viridis")
g.set(xscale="symlog", ylim=(-0.02, 1.02), ylabel="count-a accuracy (C_Te=0)")
g.figure.suptitle(f"Count a while fine-tuning to count b at η_M ({preset})", y=1.04)

# %% tags=["remove-cell"]
# collapse speed: the count-a accuracy kept, averaged over the log-spaced evaluation points
# (relative to the pretrained model's), so an early collapse weighs more than a late one
kept = (mid.groupby(["prior", "c_tr"])["acc_pt_cte0"].mean()
        / mid[mid.step == 0].groupby(["prior", "c_tr"])["acc_pt_cte0"].mean().clip(lower=1e-3))
fastest = kept.idxmin()
fastest_ok = bool(fastest[0] == "low" and fastest[1] >= cfg.high_c_tr)
ch.glue("fastest_prior", fastest[0])
ch.glue("fastest_c_tr", fastest[1])
ch.glue("fastest_kept", float(kept.min()))
kept_table = kept.unstack("c_tr").round(2)
ch.glue("kept_low_ctr0", float(kept["low", 0.0]))
ch.glue("kept_low_ctr1", float(kept["low", 1.0]))
ch.glue("kept_other_ctr1", float(kept.drop(index="low", level="prior").xs(1.0, level="c_tr").min()))

# %% tags=["remove-input"]
kept_table

# %% [markdown]
# The table gives the mean share of count-a accuracy kept over the evaluation points (lower
# is a faster collapse). The fastest collapse is under the {glue:text}`fastest_prior` prior
# with C_Tr = {glue:text}`fastest_c_tr` ({glue:text}`fastest_kept:.2f`); the paper finds it
# under the low prior with a high C_Tr. Note that fine-tuning without correlation
# (C_Tr = 0) can also erase count-a: a model that learns to count `b` may stop reading
# the operand token at all, which is forgetting, not a wrapper.
#
# ## Fig. 7: pruning neurons revives count-a
#
# We take the low-prior model fine-tuned at η_S with C_Tr = 1, score every MLP neuron (row
# of `W_out`, its whole write into the residual stream) by the sum of grad·weight of the
# count-a loss on uncorrelated texts, and zero the top K for K = 0–15 (App. D, Alg. 3).
# Zeroing a unit changes the loss by about −grad·w, so the top-scored neurons are those
# whose removal helps count-a most: the wrapper, if it sits in a few neurons.

# %%
prune_model = tuned["low", "small", 1.0]
prune_batch = cfg.counter_batch(np.random.default_rng(seed + 30_000), 0.0, cfg.prune_batch, ask="a").to(dev)
prune_rows = pruning_curve(prune_model, lambda m: answer_loss(m, prune_batch), neuron_units(prune_model),
                           list(cfg.prune_ks), lambda m: counter_scores(m, tests))
pruned = pd.DataFrame(prune_rows)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.4))
for col, label in COLS.items():
    ax.plot(pruned["k"], pruned[col], marker="o", label=label.replace("\n", ", "))
ax.axhline(before.loc["low", "acc_pt_cte0"], color="grey", ls=":", lw=0.8, label="count a before fine-tuning")
ax.set(xlabel="neurons pruned (K)", ylabel="accuracy", ylim=(-0.02, 1.02),
       title="Pruning the low-prior model fine-tuned at η_S, C_Tr = 1")
ax.legend(fontsize=8)
fig.tight_layout()

# %% tags=["remove-cell"]
lost = float(before.loc["low", "acc_pt_cte0"] - pruned.loc[pruned.k == 0, "acc_pt_cte0"].iloc[0])
window_k = pruned[(pruned.k >= 1) & (pruned.k <= 15)]
best = window_k.loc[window_k["acc_pt_cte0"].idxmax()]
restored = float((best["acc_pt_cte0"] - pruned.loc[pruned.k == 0, "acc_pt_cte0"].iloc[0]) / lost) if lost > 0 else 0.0
ch.glue("prune_lost", lost)
ch.glue("prune_best_k", int(best["k"]))
ch.glue("prune_restored", restored)
ch.glue("prune_best_acc", float(best["acc_pt_cte0"]))
ch.glue("prune_best_ft1", float(best["acc_ft_cte1"]))
ch.glue("n_neurons", sum(int(prune_model.cfg.d_mlp) for _ in range(prune_model.cfg.n_layers)))

# %% [markdown]
# Fine-tuning cost this model {glue:text}`prune_lost:.0%` of count-a accuracy on
# uncorrelated texts. The best K in 1–15 ({glue:text}`prune_best_k`) brings count-a back to
# {glue:text}`prune_best_acc:.0%`, a share {glue:text}`prune_restored:.2f` of what was
# lost, while the wrapper's answer on correlated texts (count b, C_Te = 1) falls to
# {glue:text}`prune_best_ft1:.0%`. The paper reports that 5–15 pruned neurons restore
# count-a (Fig. 7); it does not say how a neuron's score is aggregated or which matrices
# are eligible, and we chose the sum over each `W_out` row.
#
# ## Fig. 8: is count-a still linearly decodable?
#
# For each pretrained model and each C_Tr = 1 fine-tuned model we train a linear probe per
# block on the residual stream at `<art>` (the position whose output is the answer). As in
# the paper's Def. 1, a capability's readout is trained on prompts of its own task: the
# count-a probe reads prompts asking count a, the count-b probe prompts asking count b,
# both on uncorrelated texts. Probes train with AdamW at 10⁻³ and the paper's step schedule
# (×0.1 at 1/2, 3/4 and 7/8 of the steps; the paper: 4K steps, ours below) on fresh
# samples, and are tested on the C_Te = 0 test set.

# %%
probe_rng = np.random.default_rng(seed + 40_000)
probe_sets = {  # target: (train prompts, test prompts, labels)
    "count a": (cfg.counter_batch(probe_rng, 0.0, cfg.probe_samples, ask="a").to(dev), tests.ask_a[0.0],
                lambda b: torch.from_numpy(b.count_pt)),
    "count b": (cfg.counter_batch(probe_rng, 0.0, cfg.probe_samples, ask="b").to(dev), tests.ask_b[0.0],
                lambda b: torch.from_numpy(b.count_ft)),
}
probe_models = {(p, "pretrained"): base[p] for p in cfg.priors}
probe_models.update({(p, LR_SYMBOL[lr]): m for (p, lr, c), m in tuned.items() if c == 1.0})
probe_rows = []
for (prior, which), model in progress(probe_models.items(), desc="probes"):
    for target, (train_b, test_b, label) in probe_sets.items():
        x_tr = residuals(model, train_b.inputs, probe_positions(train_b))
        x_te = residuals(model, test_b.inputs, probe_positions(test_b))
        for block in x_tr:
            res = fit_probe(x_tr[block].cpu(), label(train_b), x_te[block].cpu(), label(test_b),
                            cfg.vocab.max_number + 1, steps=cfg.probe_steps, lr=cfg.probe_lr, rng=probe_rng,
                            schedule="step", desc=f"probe {prior} {which} {target} {block}")
            probe_rows.append({"prior": prior, "model": which, "target": target, "block": block,
                               "accuracy": res.test_accuracy})
probes = pd.DataFrame(probe_rows)

# %% tags=["hide-input"]
g = sns.catplot(data=probes, x="block", y="accuracy", hue="model", col="prior", row="target", kind="point",
                height=2.8, aspect=1.2, palette="deep")
g.set(ylim=(-0.02, 1.02))
g.figure.suptitle("Linear probes at <art> (C_Te = 0 test texts)", y=1.02)

# %% tags=["remove-cell"]
best_block = probes[probes.target == "count a"].groupby(["prior", "model"])["accuracy"].max()
drops = {k: float(best_block[k[0], "pretrained"] - v) for k, v in best_block.items() if k[1] != "pretrained"}
low_m = drops.get(("low", "η_M"), float("nan"))
others = {k: v for k, v in drops.items() if k != ("low", "η_M")}
worst_other = max(others, key=others.get)
ch.glue("probe_low_m_drop", low_m)
ch.glue("probe_other_max_drop", others[worst_other])
ch.glue("probe_worst_other", f"{worst_other[0]} prior, {worst_other[1]}")
probe_table = best_block.unstack("model").round(2)
ch.glue("probe_drop_large", max((v for k, v in drops.items() if k[1] == "η_L"), default=float("nan")))
ch.glue("probe_drop_small_lrs", max((v for k, v in others.items() if k[1] != "η_L"), default=float("nan")))

# %% tags=["remove-input"]
probe_table

# %% [markdown]
# The table gives each model's best-block probe accuracy for count(a). Relative to its
# pretrained model, fine-tuning lowered it by at most {glue:text}`probe_other_max_drop:.2f`
# outside the low prior at η_M (the largest: {glue:text}`probe_worst_other`), and by
# {glue:text}`probe_low_m_drop:.2f` for the low prior at η_M, the one cell where the paper
# sees the probe drop. A probe that still decodes count(a) after fine-tuning means the
# information is in the residual stream, whether or not the model's output uses it.
#
# ## Fig. 9: reverse fine-tuning
#
# Reverse fine-tuning (reFT) trains a fine-tuned model on the pretraining task again
# (count a on uncorrelated texts) at a smaller learning rate: the models fine-tuned at η_L
# with C_Tr = 1, retrained at η_M, as in the paper's App. H. The baseline Scr.+FT is the
# model pretrained never to see `a` (prior (0, 1, 0)), fine-tuned on the same data with
# the same recipe: how long it takes to learn count-a from a related start. "Revived"
# means reaching a share `reft_level` of the pretrained model's count-a accuracy.

# %%
reft_eval_at = log_steps(cfg.reft_steps, cfg.reft_evals)
reft_lr = cfg.lrs[cfg.reft_lr]
count_a_acc = lambda m: {"count a": accuracy(m, tests.ask_a[0.0])}  # noqa: E731
reft_logs = {}
for prior in cfg.priors:
    reft_logs[prior] = finetune(cfg, copy_model(tuned[prior, "large", 1.0]), reft_lr, 0.0, rng, ask="a",
                                steps=cfg.reft_steps, evaluate=count_a_acc, eval_at=reft_eval_at, device=dev,
                                desc=f"reFT {prior}")
reft_logs["Scr.+FT"] = finetune(cfg, copy_model(base["b_only"]), reft_lr, 0.0, rng, ask="a", steps=cfg.reft_steps,
                                evaluate=count_a_acc, eval_at=reft_eval_at, device=dev, desc="Scr.+FT")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.4))
for name, log in reft_logs.items():
    frame = log.eval_frame()
    ax.plot(frame["step"], frame["count a"], marker="o", ls="--" if name == "Scr.+FT" else "-",
            label=name if name == "Scr.+FT" else f"reFT, {name} prior")
ax.set(xscale="symlog", xlabel="reFT step", ylabel="count-a accuracy (C_Te=0)", ylim=(-0.02, 1.02),
       title=f"Reverse fine-tuning at {LR_SYMBOL[cfg.reft_lr]} after η_L, C_Tr = 1")
ax.legend(fontsize=8)
fig.tight_layout()

# %% tags=["remove-cell"]
reft_rows = []
for prior in cfg.priors:
    level = cfg.reft_level * float(before.loc[prior, "acc_pt_cte0"])
    r = first_step_reaching(reft_logs[prior].evals, "count a", level)
    s_ = first_step_reaching(reft_logs["Scr.+FT"].evals, "count a", level)
    speedup = revival_speedup(r, s_, cfg.reft_steps)
    reft_rows.append({"prior": prior, "level": round(level, 3), "reFT steps": r, "Scr.+FT steps": s_,
                      "speed-up": speedup})
reft_table = pd.DataFrame(reft_rows).set_index("prior")
n_faster = int((reft_table["speed-up"] >= 2).sum())
others_steps = reft_table.drop(index="low")["reFT steps"]
low_slowest = bool(reft_table.loc["low", "reFT steps"] >= others_steps.max())
ch.glue("reft_n_faster", n_faster)
ch.glue("reft_n", len(reft_table))
ch.glue("reft_budget", cfg.reft_steps)
ch.glue("reft_level", cfg.reft_level)
for prior in cfg.priors:
    ch.glue(f"reft_steps_{prior}", float(reft_table.loc[prior, "reFT steps"]))

# %% tags=["remove-input"]
reft_table

# %% [markdown]
# reFT reaches {glue:text}`reft_level:.0%` of the pretrained count-a accuracy at least twice
# as fast as Scr.+FT for {glue:text}`reft_n_faster` of the {glue:text}`reft_n` priors
# ("inf": not within the budget of {glue:text}`reft_budget` steps; a speed-up against an
# Scr.+FT run that never got there is a lower bound). The paper finds revival within
# 0.1–1K iterations under the medium and high priors, about 3K under the low prior, and
# Scr.+FT reaching perfect accuracy only at 4.5K. Step counts here are not comparable to
# the paper's (a smaller model, far fewer steps, larger learning rates); the ratio is.
#
# ## Where we differ from the paper, and what we found out
#
# The scorecard below gives each claim's verdict; these are the mismatches we looked into
# (numbers from this rendering's preset; the `paper` preset may differ).
#
# - **The wrapper at η_L** (Table 5). At C_Te = 0 the low-prior model fine-tuned at η_L
#   still counts b {glue:text}`pcfg_wrapper_ft_cte0_large:.0%` of the time (paper 1.6%),
#   about what it did before fine-tuning ({glue:text}`low_before_ft0:.0%`), and keeps
#   count-a at {glue:text}`low_large_pt0:.0%`: it learned the wrapper on correlated data
#   without erasing the rest. Our η_L is {glue:text}`eta_large:.2g` for
#   {glue:text}`ft_steps` steps where the paper's is 10⁻⁴ for 10K; keeping η × steps fixed
#   does not make a few large AdamW steps equivalent to many small ones, and η_M and η_S,
#   whose scaled rates are closer to the pretraining rate, give the paper's pattern. We did
#   not establish more than that.
# - **Which collapse is fastest** (Fig. 6). Under the low prior count-a collapses at every
#   C_Tr: the share kept is {glue:text}`kept_low_ctr0:.2f` at C_Tr = 0 and
#   {glue:text}`kept_low_ctr1:.2f` at C_Tr = 1, against at least
#   {glue:text}`kept_other_ctr1:.2f` under the other priors at C_Tr = 1. The prior matters
#   as the paper says; C_Tr barely does under the low prior. At C_Tr = 0 (η_M) the low-prior
#   model learns to count b ({glue:text}`low_ctr0_ft0:.0%` at C_Te = 0) and, asked to count
#   a on the same texts, is right only {glue:text}`low_ctr0_pt0:.0%` of the time: it stopped
#   telling the operands apart, which costs count-a as much as the wrapper does.
# - **Pruning** (Fig. 7). Zeroing up to 15 of the model's {glue:text}`n_neurons` MLP
#   neurons gives back a share {glue:text}`prune_restored:.2f` of the lost count-a accuracy,
#   not most of it. The paper leaves open how a neuron's score is aggregated and which
#   matrices are eligible (we sum grad·weight over rows of `W_out`); with a 2-layer model
#   the wrapper may also be spread over more of the few neurons there are.
# - **Probes** (Fig. 8). The count-a probe survives fine-tuning at η_M and η_S (largest
#   drop outside the low prior at η_M: {glue:text}`probe_drop_small_lrs:.2f`; the low
#   prior at η_M: {glue:text}`probe_low_m_drop:.2f`) but falls after η_L (largest drop
#   {glue:text}`probe_drop_large:.2f`). The paper sees a drop only for the low prior at
#   η_M; in our runs the learning rate, not the prior, decides it, consistent with η_L
#   being the setting where our scaled learning rate departs most from the paper's (first
#   bullet). Our probes train for {glue:text}`probe_steps` steps, not 4K.
# - **reFT per prior** (Fig. 9). Steps to revive: low {glue:text}`reft_steps_low:.0f`,
#   medium {glue:text}`reft_steps_medium:.0f`, high {glue:text}`reft_steps_high:.0f` (paper: about
#   3K under the low prior, 0.1–1K under the others). With a budget of
#   {glue:text}`reft_budget` steps evaluated at log-spaced points, revivals that differ
#   by less than the spacing between evaluations look the same, and a speed-up of 1 means
#   reFT and Scr.+FT reached the level at the same evaluation point (see the table above):
#   at this budget, what the comparison can show is bounded by the evaluation grid.
#
# ## Claims

# %% tags=["remove-output"]
note = f"{cfg.ft_steps} fine-tuning steps at {preset}, mean of seeds (see the spread table)"
for lr in ("large", "medium", "small"):
    p = PAPER_TABLE5["low", lr, 1.0]
    ch.claim(id=f"pcfg_wrapper_ft_cte1_{lr}", paper="jain2024", reference="Table 5",
             statement=f"Low prior, C_Tr=1, {LR_SYMBOL[lr]}: the model answers count(b) on correlated data (C_Te=1)",
             paper_value=p["acc_ft_cte1"] / 100, ours=cell("low", lr, 1.0, "acc_ft_cte1"), criterion=at_least(0.9),
             note=note)
    ch.claim(id=f"pcfg_wrapper_ft_cte0_{lr}", paper="jain2024", reference="Table 5",
             statement=f"... but not on uncorrelated data (C_Te=0): a wrapper ({LR_SYMBOL[lr]})",
             paper_value=p["acc_ft_cte0"] / 100, ours=cell("low", lr, 1.0, "acc_ft_cte0"), criterion=at_most(0.1),
             note=note)
ch.claim(id="pcfg_shortcut_avoided", paper="jain2024", reference="Table 5",
         statement=f"Prior P(a)=0.9 ({cfg.shortcut_prior}), C_Tr={cfg.high_c_tr:g}, η_M: count(b) is learned (C_Te=0)",
         paper_value=0.994, ours=shortcut, criterion=at_least(0.9), note=note)
ch.claim(id="pcfg_count_a_collapse_fastest", paper="jain2024", reference="Fig. 6",
         statement="Count-a collapses fastest under the low prior with a high C_Tr (η_M)",
         paper_value=None, ours=fastest_ok, criterion=is_true(),
         note=f"fastest: {fastest[0]} prior, C_Tr={fastest[1]:g} (mean share of count-a kept {kept.min():.2f})")
ch.claim(id="pcfg_prune_revives", paper="jain2024", reference="Fig. 7",
         statement="Pruning 1-15 neurons (grad·weight) restores most of the count-a accuracy lost (share restored)",
         paper_value=None, ours=restored, criterion=at_least(0.5),
         note=f"low prior, η_S, C_Tr=1; best K={int(best['k'])}")
ch.claim(id="pcfg_probe_count_a_kept", paper="jain2024", reference="Fig. 8",
         statement="Count(a) stays linearly decodable after C_Tr=1 fine-tuning except low prior at η_M "
                   "(largest drop of the best-block probe)",
         paper_value=None, ours=others[worst_other], criterion=at_most(0.1),
         note=f"largest: {worst_other[0]} prior, {worst_other[1]}")
ch.claim(id="pcfg_probe_low_medium_drops", paper="jain2024", reference="Fig. 8",
         statement="... and the probe drops for the low prior at η_M, more than anywhere else",
         paper_value=None, ours=bool(low_m > max(others.values())), criterion=is_true(),
         note=f"drop {low_m:.2f} vs. {max(others.values()):.2f} elsewhere")
ch.claim(id="pcfg_reft_faster_than_scratch", paper="jain2024", reference="Fig. 9",
         statement="reFT revives count-a at least twice as fast as Scr.+FT (share of priors)",
         paper_value=1.0, ours=n_faster / len(reft_table), criterion=at_least(1.0),
         note=f"{cfg.reft_steps} reFT steps at {preset}; level {cfg.reft_level:.0%} of the pretrained accuracy")
ch.claim(id="pcfg_reft_low_prior_slowest", paper="jain2024", reference="Fig. 9",
         statement="Revival is slowest under the low prior (paper: ~3K vs. 0.1-1K iterations)",
         paper_value=None, ours=low_slowest, criterion=is_true(),
         note="steps: " + ", ".join(f"{p} {v:g}" for p, v in reft_table["reFT steps"].items()))

# %% tags=["remove-input"]
ch.finish()
