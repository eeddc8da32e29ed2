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
# # Fine-tuning compiled capabilities: wrappers, pruning, probing, reverse fine-tuning
#
# Does fine-tuning change what a model can do, or does it learn a thin *wrapper* around a
# capability the model already has? {cite:t}`jain2024` fine-tune the compiled models of
# the previous chapter on a related task, with a spurious correlation that a wrapper can
# exploit, and then look inside: attention maps, pruning by attribution, linear probes and
# reverse fine-tuning (their Sec. 5, Table 3, Figs. 10, 27, 55).
#
# **Setup.** The Counter compiled to count `a` (O_PT) is fine-tuned to count `b` (O_FT).
# In a *correlated* sample count(b) = count(a) + 1, so "count a, add one" — a wrapper
# on the compiled capability — solves it. C_Tr is the share of correlated fine-tuning
# samples, C_Te that of test samples; at C_Te = 0 the test samples are uncorrelated
# (count(b) ≠ count(a) + 1), so only a real count-b capability scores there. The Max
# identifier compiled to return the 5th-smallest letter is fine-tuned to return the
# 7th-smallest, without correlation (C_Tr = 0), as in the paper's Table 3.

# %% tags=["parameters", "remove-cell"]
preset = "ci"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
import copy

import numpy as np
import pandas as pd
import torch
from IPython.display import display
from matplotlib import pyplot as plt

from ftscope.book.chapter import Chapter
from ftscope.book.claims import at_least, at_most
from ftscope.instruments import plots
from ftscope.instruments.probing import fit_probe, residuals
from ftscope.instruments.pruning import pruning_curve
from ftscope.jain.compiled import (
    TracrConfig,
    accuracy,
    answer_logits,
    attention_on,
    changed_weights,
    counter_batch,
    finetune,
    max_id_batch,
    noisy_copy,
    pattern_similarity,
    reset_most_changed,
    selector_layer,
    table3_row,
)
from ftscope.jain.tracr import ANSWER_POSITION, BOS
from ftscope.train.loop import first_step_reaching, log_steps, move, revival_speedup

ch = Chapter("02_tracr_finetuning", TracrConfig, preset=preset, device=device, seed=seed, overrides=overrides)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
plots.style()

# %% [markdown]
# **Fine-tuning protocol** (the paper's, except where marked): N(0, 10⁻³) noise added to
# every compiled weight first (we read 10⁻³ as the standard deviation); SGD with momentum
# (0.9: the paper gives no value), batch 96, linear warmup over the first 20% of the steps
# then cosine decay to 1/100 of the peak learning rate; cross-entropy on the answer
# position, all weights trained. **Deviations:** we clip the gradient norm at 1.0, because
# without it SGD diverges at η = 10⁻² with C_Tr = 1 in our checks; and this rendering ran
# at the preset shown below, with fewer steps (and, at `ci`, shorter Counter inputs) than
# the paper's 10K iterations on inputs of about 40 tokens.

# %% tags=["remove-input"]
ch.glue("steps", cfg.steps)
pd.Series({"preset": preset, "fine-tuning steps": cfg.steps, "batch": cfg.batch, "Counter input length": cfg.counter_len,
           "learning rates": ", ".join(f"{lr:g}" for lr in cfg.counter_lrs),
           "C_Tr (Counter)": ", ".join(f"{c:g}" for c in cfg.counter_c_trs),
           "gradient clipping": cfg.grad_clip, "device": dev.type}, name="setting").to_frame()

# %%
counter = cfg.compile_counter("a")
max_id = cfg.compile_max_id()
for cp in (counter, max_id):
    move(cp.model, dev)

test_rng = np.random.default_rng(seed + 10_000)  # the same test sets for every model
counter_test = {c: counter_batch(counter, test_rng, cfg.eval_samples, cfg.counter_len, c).to(dev) for c in (1.0, 0.0)}
max_id_test = {c: max_id_batch(max_id, test_rng, cfg.eval_samples, cfg.max_id_len, c, cfg.max_id_k_pt,
                               cfg.max_id_k_ft).to(dev) for c in (1.0, 0.0)}

# %% [markdown]
# ## Table 3: what fine-tuning learns
#
# We fine-tune one model per learning rate and C_Tr, and measure the accuracy of the
# pretraining answer (count a; 5th smallest) and of the fine-tuning answer (count b; 7th
# smallest) at C_Te = 1 and C_Te = 0. (The `ci` preset runs only the cells of Table 3 and
# the one Fig. 10 needs; `paper` runs the full grid of learning rates × C_Tr.)

# %%
runs, models = [], {}
for lr, c_tr in cfg.counter_cells:
    model = noisy_copy(counter.model, cfg.noise_std, rng)
    finetune(model, lambda r, c=c_tr: counter_batch(counter, r, cfg.batch, cfg.counter_len, c), cfg.steps,
             cfg.optim(lr), rng, device=dev, desc=f"Counter η={lr:g} C_Tr={c_tr:g}")
    runs.append({"task": "Counter", "lr": lr, "c_tr": c_tr, **table3_row(model, counter_test)})
    models["Counter", lr, c_tr] = model
for lr in cfg.max_id_lrs:
    model = noisy_copy(max_id.model, cfg.noise_std, rng)
    finetune(model, lambda r: max_id_batch(max_id, r, cfg.batch, cfg.max_id_len, 0.0, cfg.max_id_k_pt, cfg.max_id_k_ft),
             cfg.steps, cfg.optim(lr), rng, device=dev, desc=f"Max identifier η={lr:g}")
    runs.append({"task": "Max id", "lr": lr, "c_tr": 0.0, **table3_row(model, max_id_test)})
    models["Max id", lr, 0.0] = model
grid = pd.DataFrame(runs)

# %% tags=["hide-input"]
PAPER_TABLE3 = pd.DataFrame(  # Jain et al. 2024, Table 3: Acc O_PT / Acc O_FT (%) at C_Te = 1 and C_Te = 0
    [("Counter", 1e-1, 0.0, 0, 100, 0, 100), ("Counter", 1e-1, 1.0, 0, 100, 35.8, 0.7),
     ("Counter", 1e-2, 1.0, 0.3, 98.3, 4.2, 0.2), ("Counter", 1e-3, 1.0, 4.0, 94.3, 10.3, 2.2),
     ("Counter", 1e-4, 1.0, 1.6, 98.3, 10.6, 0.2), ("Max id", 1e-4, 0.0, 0.5, 82.6, 0.5, 91.1),
     ("Max id", 1e-2, 0.0, 29.7, 0.2, 16.3, 52.6)],
    columns=["task", "lr", "c_tr", "acc_pt_cte1", "acc_ft_cte1", "acc_pt_cte0", "acc_ft_cte0"])
COLS = {"acc_pt_cte1": "O_PT\nC_Te=1", "acc_ft_cte1": "O_FT\nC_Te=1", "acc_pt_cte0": "O_PT\nC_Te=0",
        "acc_ft_cte0": "O_FT\nC_Te=0"}


def as_table(frame, scale):
    out = frame.assign(run=[f"{t} η={lr:g} C_Tr={c:g}" for t, lr, c in zip(frame.task, frame.lr, frame.c_tr)])
    return (out.set_index("run")[list(COLS)] * scale).rename(columns=COLS)


ours = as_table(grid, 100)
paper = as_table(PAPER_TABLE3, 1).reindex(ours.index)
plots.paired_heatmaps(ours, paper, f"ours ({preset}, {cfg.steps} steps)", "paper (Table 3, 10K steps)",
                      suptitle="Accuracy (%) of the pretraining (O_PT) and fine-tuning (O_FT) answers");

# %% tags=["remove-cell"]
def cell(lr, c_tr, col, task="Counter"):
    row = grid[(grid.task == task) & (grid.lr == lr) & (grid.c_tr == c_tr)]
    return float(row[col].iloc[0])


ctr1 = grid[(grid.task == "Counter") & (grid.c_tr == 1.0)]
for lr in cfg.counter_lrs:
    ch.glue(f"ft_cte1_{lr:g}", cell(lr, 1.0, "acc_ft_cte1"))
    ch.glue(f"ft_cte0_{lr:g}", cell(lr, 1.0, "acc_ft_cte0"))
ch.glue("ctr1_ft_cte1_min", float(ctr1.acc_ft_cte1.min()))
ch.glue("ctr1_ft_cte0_max", float(ctr1.acc_ft_cte0.max()))
ch.glue("ctr1_pt_cte0_mean", float(ctr1.acc_pt_cte0.mean()))
ch.glue("ctr0_lr1_ft_cte0", cell(cfg.counter_lrs[0], 0.0, "acc_ft_cte0"))

# %% [markdown]
# The paper reads its Table 3 as a wrapper: fine-tuned on perfectly correlated data
# (C_Tr = 1), the model answers count(b) on correlated test data but not on uncorrelated
# data, and no longer answers count(a) — it keeps counting `a` inside and adds one. Here,
# with C_Tr = 1, O_FT accuracy is at least {glue:text}`ctr1_ft_cte1_min:.1%` at C_Te = 1
# across learning rates, at most {glue:text}`ctr1_ft_cte0_max:.1%` at C_Te = 0, and O_PT
# accuracy at C_Te = 0 averages {glue:text}`ctr1_pt_cte0_mean:.1%`. Without the correlation
# (C_Tr = 0) at the largest learning rate, the paper finds count(b) learned for real; here
# O_FT accuracy at C_Te = 0 is {glue:text}`ctr0_lr1_ft_cte0:.1%`. The claims at the end of
# the chapter hold each number against the paper's.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
counter_grid = grid[grid.task == "Counter"]
for ax, col in zip(axes, ["acc_ft_cte0", "acc_pt_cte0"]):
    for lr, sub in counter_grid.groupby("lr"):
        ax.plot(sub.c_tr, sub[col], marker="o", label=f"η={lr:g}")
    ax.set(title=f"{COLS[col].replace(chr(10), ', ')} after fine-tuning", xlabel="C_Tr", ylabel="accuracy", ylim=(-0.03, 1.03))
axes[0].legend()
fig.tight_layout()

# %% [markdown]
# ## Attention: is the capability still used? (Fig. 10)
#
# In the compiled Counter the answer position attends to the `a` tokens in the block that
# implements the program's `SelectorWidth` (we find it as the block whose compiled attention
# puts most weight on `a`: Block 1, as in the paper; tracr leaves Block 0's attention empty).
# After fine-tuning we measure how much of that block's attention lands on `a` and on `b`. For the Max identifier we compare Block 0 — the block
# that sorts — with the compiled model's, as the Pearson correlation of all attention
# weights on the test inputs.

# %%
attn_layer = selector_layer(counter, counter_test[0.0], "a")
ch.glue("attn_layer", attn_layer)
attn_rows = []
for (task, lr, c_tr), model in [(("compiled", 0.0, 0.0), counter.model), *[(k, m) for k, m in models.items()
                                                                           if k[0] == "Counter"]]:
    attn_rows.append({"model": task if task == "compiled" else f"η={lr:g} C_Tr={c_tr:g}", "lr": lr, "c_tr": c_tr,
                      **attention_on(model, counter_test[0.0], attn_layer, ("a", "b", BOS))})
attention = pd.DataFrame(attn_rows).set_index("model")
sorting = pd.Series({f"η={lr:g}": pattern_similarity(models["Max id", lr, 0.0], max_id.model,
                                                      max_id_test[0.0].tokens, 0) for lr in cfg.max_id_lrs},
                    name="Block-0 similarity to the compiled model")
display(attention[["a", "b", BOS]].rename(columns={"a": "on a", "b": "on b", BOS: "on BOS"}).round(3))
sorting.round(3).to_frame()

# %% tags=["hide-input"]
example = max_id_batch(max_id, np.random.default_rng(seed + 3), 1, cfg.max_id_len, 0.0, cfg.max_id_k_pt,
                       cfg.max_id_k_ft).to(dev)
labels = [BOS, *example.letters[0]]
maps = [m.run_with_cache(example.tokens)[1]["pattern", 0][0, 0].cpu().numpy()
        for m in [max_id.model] + [models["Max id", lr, 0.0] for lr in cfg.max_id_lrs]]
plots.attention_maps(maps, labels, ["compiled"] + [f"fine-tuned, η={lr:g}" for lr in cfg.max_id_lrs],
                     "Max identifier, Block 0 (sorting)");

# %% tags=["remove-cell"]
small, medium = min(cfg.counter_lrs), cfg.medium_lr
a_compiled = attention.loc["compiled", "a"]
a_small_ctr1 = attention.loc[f"η={small:g} C_Tr=1", "a"]
med_ctr0 = attention.loc[f"η={medium:g} C_Tr=0"]
ch.glue("attn_a_compiled", a_compiled)
ch.glue("attn_a_small_ctr1", a_small_ctr1)
ch.glue("attn_b_medium_ctr0", med_ctr0["b"])
ch.glue("attn_a_medium_ctr0", med_ctr0["a"])
large_ctr0 = attention.loc[f"η={max(cfg.counter_lrs):g} C_Tr=0"]
ch.glue("attn_a_large_ctr0", large_ctr0["a"])
ch.glue("attn_b_large_ctr0", large_ctr0["b"])
sort_small, sort_large = sorting[f"η={min(cfg.max_id_lrs):g}"], sorting[f"η={max(cfg.max_id_lrs):g}"]
ch.glue("sort_small", sort_small)
ch.glue("sort_large", sort_large)

# %% [markdown]
# In Block {glue:text}`attn_layer`, the compiled Counter puts {glue:text}`attn_a_compiled:.2f` of the answer
# position's attention on `a` tokens; after fine-tuning at the smallest learning rate with C_Tr = 1
# it still puts {glue:text}`attn_a_small_ctr1:.2f` there. At the medium learning rate
# without correlation the shares are {glue:text}`attn_a_medium_ctr0:.2f` on `a` and
# {glue:text}`attn_b_medium_ctr0:.2f` on `b` (the paper: the attention moves to `b`); at
# the largest learning rate without correlation, where the model does learn to count `b`,
# they are {glue:text}`attn_a_large_ctr0:.2f` and {glue:text}`attn_b_large_ctr0:.2f` — so
# wherever count(b) comes from in that model, it is not from this block attending to `b`. The Max identifier's sorting block keeps a
# correlation of {glue:text}`sort_small:.3f` with the compiled one at the smallest
# learning rate and {glue:text}`sort_large:.3f` at the largest.
#
# ## Pruning removes the wrapper (App. D, Fig. 55)
#
# If fine-tuning added a wrapper, removing a few weights should bring the pretraining
# answer back. Following the paper's Alg. 3 we compute the loss on the *pretraining* task
# (count a on uncorrelated inputs), score every weight by gradient × weight, zero the K
# weights with the largest score, and measure both answers on uncorrelated test data.

# %%
prune_data = counter_batch(counter, np.random.default_rng(seed + 20_000), cfg.prune_batch, cfg.counter_len, 0.0).to(dev)
eligible = {name: None for name, _ in counter.model.named_parameters()}  # every weight is a unit


def pretraining_loss(m):
    return torch.nn.functional.cross_entropy(answer_logits(m, prune_data.tokens), prune_data.label_pt)


def both_answers(m):
    return {"count a (O_PT)": accuracy(m, counter_test[0.0].tokens, counter_test[0.0].label_pt),
            "count b (O_FT), C_Te=1": accuracy(m, counter_test[1.0].tokens, counter_test[1.0].label_ft)}


prune_rows = []
for (task, lr, c_tr), model in models.items():
    if task == "Counter" and (c_tr == 1.0 or (lr == max(cfg.counter_lrs) and c_tr == 0.0)):
        for row in pruning_curve(model, pretraining_loss, eligible, list(cfg.prune_ks), both_answers):
            prune_rows.append({"model": f"η={lr:g} C_Tr={c_tr:g}", "lr": lr, "c_tr": c_tr, "method": "prune", **row})
        for k in cfg.prune_ks:  # a diagnostic the paper does not run: set the K most-changed weights back
            prune_rows.append({"model": f"η={lr:g} C_Tr={c_tr:g}", "lr": lr, "c_tr": c_tr, "method": "reset", "k": k,
                               **both_answers(reset_most_changed(model, counter.model, k))})
pruning = pd.DataFrame(prune_rows)

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), sharey=True)
for ax, (method, metric) in zip(axes, [("prune", "count a (O_PT)"), ("prune", "count b (O_FT), C_Te=1"),
                                       ("reset", "count a (O_PT)")]):
    for name, sub in pruning[pruning.method == method].groupby("model", sort=False):
        ax.plot(sub.k, sub[metric], marker="o", label=name)
    title = ("zero the top-K by grad·weight" if method == "prune" else "reset the K most-changed weights")
    ax.set(title=f"{metric}\n{title}", xlabel="K", ylabel="accuracy (uncorrelated test)" if ax is axes[0] else "",
           ylim=(-0.03, 1.03))
axes[0].legend(fontsize=7)
fig.tight_layout()

# %% tags=["remove-cell"]
pr = pruning[(pruning.method == "prune") & (pruning.c_tr == 1.0)].pivot(index="k", columns="lr", values="count a (O_PT)")
gain_one = float((pr.loc[1] - pr.loc[0]).max()) if 1 in pr.index else float("nan")
gain_any = float((pr.max() - pr.loc[0]).max())
rs = pruning[(pruning.method == "reset") & (pruning.c_tr == 1.0)].pivot(index="k", columns="lr", values="count a (O_PT)")
reset_gain = float((rs.max() - rs.loc[0]).max())
ch.glue("prune_gain_one", gain_one)
ch.glue("prune_gain_any", gain_any)
ch.glue("reset_gain", reset_gain)
ch.glue("prune_kmax", max(cfg.prune_ks))

# %% tags=["remove-input"]
pd.concat({"zero top-K by grad·weight": pr, "reset K most-changed": rs}, axis=1).round(3).rename_axis(
    "K (count-a accuracy, C_Te=0; columns: fine-tuning η, C_Tr=1)")

# %% [markdown]
# Zeroing the single highest-scoring weight raises count-a accuracy by at most
# {glue:text}`prune_gain_one:.1%` (best learning rate), and zeroing up to
# {glue:text}`prune_kmax` weights by at most {glue:text}`prune_gain_any:.1%`; the paper
# reports more than 60% from one weight. Where accuracy stays flat over several K, the
# pruned model gives one answer for everything, and the accuracy is the share of that
# answer in the test set — not a revived count.
#
# Why does one weight not do it here? Because here the wrapper is not in one weight.
# Setting the K weights that fine-tuning changed most back to their compiled values
# (table above, right) revives nothing either. Counting the weights that moved by more
# than five times the initial noise shows where the change is:

# %% tags=["remove-input"]
moved = pd.DataFrame({f"η={lr:g}": changed_weights(models["Counter", lr, 1.0], counter.model, 5 * cfg.noise_std)
                      for lr in cfg.counter_lrs}).astype(int)
moved = moved[moved.sum(axis=1) > 0].sort_values(f"η={small:g}", ascending=False)
top_tensor = moved.index[0]
ch.glue("moved_small", int(moved[f"η={small:g}"].sum()))
ch.glue("moved_top_tensor", top_tensor)
ch.glue("moved_top_small", int(moved.loc[top_tensor, f"η={small:g}"]))
moved.head(8).rename_axis("weights moved > 5σ of the noise (C_Tr=1)")

# %% [markdown]
# At the smallest learning rate, fine-tuning moved {glue:text}`moved_small` weights, of
# which {glue:text}`moved_top_small` are in {glue:text}`moved_top_tensor`. In the
# compiled Counter, Block 1's MLP turns the share of attention on `a` into the count, one
# output row per count value; the wrapper is a re-mapping of those rows (count k → k+1),
# spread over many weights, so no single weight's removal undoes it. We could not find which
# detail of the paper's setup made its wrapper local enough for one weight to matter; the
# paper does not say which weights were eligible, on which batch the gradient was taken,
# from which learning rate the pruned model came, nor its input length and MLP exactness,
# all of which shape the compiled MLP.
#
# ## Probing: count-a stays linearly decodable
#
# A capability is still *there* if a linear readout trained on pretraining data decodes
# it (the paper's Def. 1). We train a linear probe on the residual stream at the answer
# position, before each block (B0) and after each (B1–B3), to predict the number of `a`s,
# on the compiled model and on each model fine-tuned with C_Tr = 1.

# %%
probe_rng = np.random.default_rng(seed + 30_000)
probe_data = counter_batch(counter, probe_rng, cfg.probe_samples, cfg.counter_len, 0.0).to(dev)
split = int(0.75 * cfg.probe_samples)
probe_rows = []
probed = {"compiled": counter.model, **{f"η={lr:g} C_Tr=1": models["Counter", lr, 1.0] for lr in cfg.counter_lrs}}
for name, model in probed.items():
    feats = residuals(model, probe_data.tokens, ANSWER_POSITION)
    for block, x in feats.items():
        res = fit_probe(x[:split].cpu(), probe_data.label_pt[:split].cpu(), x[split:].cpu(),
                        probe_data.label_pt[split:].cpu(), counter.n_outputs, steps=cfg.probe_steps, lr=cfg.probe_lr,
                        rng=probe_rng, desc=f"probe {name} {block}")
        probe_rows.append({"model": name, "block": block, "accuracy": res.test_accuracy})
probes = pd.DataFrame(probe_rows)
probes.pivot(index="model", columns="block", values="accuracy").loc[list(probed)].round(3)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.6))
for name, sub in probes.groupby("model", sort=False):
    ax.plot(sub.block, sub.accuracy, marker="o", label=name, linestyle="--" if name == "compiled" else "-")
ax.set(title="Linear probe for count(a) at the answer position", ylabel="held-out accuracy", ylim=(-0.03, 1.03))
ax.legend(fontsize=8)
fig.tight_layout()

# %% tags=["remove-cell"]
best_block = probes[probes.model != "compiled"].groupby("model").accuracy.max()
by_lr = sorted(cfg.counter_lrs)
ch.glue("probe_small", float(best_block[f"η={by_lr[0]:g} C_Tr=1"]))
ch.glue("probe_small2", float(best_block[f"η={by_lr[1]:g} C_Tr=1"]))
ch.glue("probe_large2", float(best_block[f"η={by_lr[-2]:g} C_Tr=1"]))
ch.glue("probe_large", float(best_block[f"η={by_lr[-1]:g} C_Tr=1"]))
ch.glue("probe_worst_best", float(best_block.min()))
ch.glue("probe_compiled_best", float(probes[probes.model == "compiled"].accuracy.max()))

# %% [markdown]
# The best block's probe decodes count(a) with {glue:text}`probe_compiled_best:.1%`
# accuracy in the compiled model (from Block 2 on: the count is made in Block 1). In the
# models fine-tuned with C_Tr = 1 it decodes {glue:text}`probe_small:.1%` and
# {glue:text}`probe_small2:.1%` at the two smallest learning rates — models that no
# longer *answer* count(a) — and {glue:text}`probe_large2:.1%` and
# {glue:text}`probe_large:.1%` at the two largest. The claim below takes the worst
# model, so it only holds if the count survives at every learning rate; the paper's own
# probing result (Fig. 8, PCFG) also finds the count lost at a larger learning rate.
#
# ## Reverse fine-tuning revives the capability (Fig. 27)
#
# Reverse fine-tuning (reFT) trains a fine-tuned model on the pretraining task again, at a
# smaller learning rate. If the capability survived under the wrapper, reFT should bring
# it back much faster than learning it afresh. The baseline (Scr.+FT) is a model compiled
# to count `b` — it never could count `a` — fine-tuned to count `a` with the same steps
# and learning rate. As in the paper's Fig. 27 we do this for the model fine-tuned (with
# C_Tr = 1) at each learning rate η, with reFT at η/10; the paper finds that reFT revives
# the capability after every η except the largest (its Fig. 43), so we skip that one.

# %%
eval_at = log_steps(cfg.reft_steps, cfg.reft_evals)
count_a_data = lambda r: counter_batch(counter, r, cfg.batch, cfg.counter_len, 0.0)  # noqa: E731
count_a_acc = lambda m: {"count a": accuracy(m, counter_test[0.0].tokens, counter_test[0.0].label_pt)}  # noqa: E731
counts_b = cfg.compile_counter("b")
reft_logs = {}
reft_lrs = sorted(cfg.counter_lrs)[:-1]  # every fine-tuning η but the largest
for lr in reft_lrs:
    reft_lr = lr * cfg.reft_lr_factor
    reft_logs["reFT", lr] = finetune(copy.deepcopy(models["Counter", lr, 1.0]), count_a_data, cfg.reft_steps,
                                     cfg.optim(reft_lr), rng, which="pt", evaluate=count_a_acc, eval_at=eval_at,
                                     device=dev, desc=f"reFT η={reft_lr:g}")
    reft_logs["Scr.+FT", lr] = finetune(noisy_copy(counts_b.model, cfg.noise_std, rng), count_a_data, cfg.reft_steps,
                                        cfg.optim(reft_lr), rng, which="pt", evaluate=count_a_acc, eval_at=eval_at,
                                        device=dev, desc=f"Scr.+FT η={reft_lr:g}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(reft_lrs), figsize=(4 * len(reft_lrs), 3.4), sharey=True, squeeze=False)
axes = axes[0]
for ax, lr in zip(axes, reft_lrs):
    for kind in ("reFT", "Scr.+FT"):
        frame = reft_logs[kind, lr].eval_frame()
        ax.plot(frame.step.clip(lower=1), frame["count a"], marker="o", label=kind)
    ax.axhline(cfg.reft_level, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", xlabel="steps (step 0 drawn at 1)", ylim=(-0.03, 1.03),
           title=f"FT η={lr:g} → reFT η={lr * cfg.reft_lr_factor:g}")
axes[0].set_ylabel("count-a accuracy (C_Te=0)")
axes[0].legend()
fig.tight_layout()

# %% tags=["remove-cell"]
reft_rows = []
for lr in reft_lrs:
    r = first_step_reaching(reft_logs["reFT", lr].evals, "count a", cfg.reft_level)
    s_ = first_step_reaching(reft_logs["Scr.+FT", lr].evals, "count a", cfg.reft_level)
    speedup = revival_speedup(r, s_, cfg.reft_steps)
    reft_rows.append({"fine-tuning η": lr, "reFT η": lr * cfg.reft_lr_factor, "reFT steps to level": r,
                      "Scr.+FT steps to level": s_, "speed-up": speedup})
reft_table = pd.DataFrame(reft_rows)
revived = reft_table
n_faster = int((revived["speed-up"] >= 2).sum())
ch.glue("reft_n_faster", n_faster)
ch.glue("reft_n", len(revived))
ch.glue("reft_level", cfg.reft_level)
ch.glue("reft_budget", cfg.reft_steps)

# %% tags=["remove-input"]
reft_table

# %% [markdown]
# Across these learning rates, reFT reaches {glue:text}`reft_level:.0%` count-a
# accuracy at least twice as fast as Scr.+FT for {glue:text}`reft_n_faster` of the
# {glue:text}`reft_n` fine-tuned models. Steps are counted at the evaluation points of the
# plot, and "inf" means the level was not reached within the budget of
# {glue:text}`reft_budget` steps. When Scr.+FT never reaches it, the speed-up is a lower
# bound (the budget over reFT's steps), so a revival that only completes near the end of
# the budget cannot count as twice as fast however far Scr.+FT lags: a short budget
# (the `ci` preset's) understates reFT.
#
# ## Claims

# %% tags=["remove-output"]
for lr in cfg.counter_lrs:
    paper_row = PAPER_TABLE3[(PAPER_TABLE3.task == "Counter") & (PAPER_TABLE3.lr == lr) & (PAPER_TABLE3.c_tr == 1.0)]
    ch.claim(id=f"wrapper_ft_cte1_lr{lr:g}".replace("-", "m").replace(".", "p"), paper="jain2024",
             reference="Table 3",
             statement=f"Counter fine-tuned at η={lr:g} with C_Tr=1 answers count(b) on correlated data (C_Te=1)",
             paper_value=float(paper_row.acc_ft_cte1.iloc[0]) / 100, ours=cell(lr, 1.0, "acc_ft_cte1"),
             criterion=at_least(0.9), note=f"{cfg.steps} steps at {preset}")
    ch.claim(id=f"wrapper_ft_cte0_lr{lr:g}".replace("-", "m").replace(".", "p"), paper="jain2024",
             reference="Table 3",
             statement=f"... but not on uncorrelated data (C_Te=0): it learned a wrapper (η={lr:g}, C_Tr=1)",
             paper_value=float(paper_row.acc_ft_cte0.iloc[0]) / 100, ours=cell(lr, 1.0, "acc_ft_cte0"),
             criterion=at_most(0.1), note=f"{cfg.steps} steps at {preset}")
ch.claim(id="wrapper_pt_cte0_low", paper="jain2024", reference="Table 3",
         statement="After correlated fine-tuning (C_Tr=1) the model no longer answers count(a) (mean over η, C_Te=0)",
         paper_value=float(PAPER_TABLE3[(PAPER_TABLE3.task == "Counter") & (PAPER_TABLE3.c_tr == 1.0)].acc_pt_cte0.mean())
         / 100, ours=float(ctr1.acc_pt_cte0.mean()), criterion=at_most(0.4))
ch.claim(id="counter_lr1e_1_ctr0_learns", paper="jain2024", reference="Table 3",
         statement="Without correlation (C_Tr=0) at η=1e-1 the Counter learns to count b for real (C_Te=0)",
         paper_value=1.0, ours=cell(max(cfg.counter_lrs), 0.0, "acc_ft_cte0"), criterion=at_least(0.9),
         note=f"{cfg.steps} steps at {preset}")
ch.claim(id="counter_attention_on_a_kept", paper="jain2024", reference="Fig. 10",
         statement="At a small η with C_Tr=1 the answer position still attends to a (share of the compiled model's)",
         paper_value=None, ours=float(a_small_ctr1 / a_compiled), criterion=at_least(0.9))
ch.claim(id="counter_attention_moves_to_b", paper="jain2024", reference="Fig. 10",
         statement="At a medium η with C_Tr=0 the attention moves from a to b (share on b minus share on a)",
         paper_value=None, ours=float(med_ctr0["b"] - med_ctr0["a"]), criterion=at_least(0.0))
ch.claim(id="max_id_sorting_kept_small_lr", paper="jain2024", reference="Sec. 5 / Table 3",
         statement="Max identifier: fine-tuning at η=1e-4 keeps the Block-0 sorting (correlation with compiled)",
         paper_value=None, ours=float(sort_small), criterion=at_least(0.9))
ch.claim(id="max_id_sorting_distorted_large_lr", paper="jain2024", reference="Sec. 5 / Table 3",
         statement="... and fine-tuning at η=1e-2 distorts it (correlation with compiled)",
         paper_value=None, ours=float(sort_large), criterion=at_most(0.9))
ch.claim(id="prune_one_weight_revives", paper="jain2024", reference="App. G.1, Fig. 55",
         statement="Pruning one weight (grad·weight, pretraining loss) raises count-a accuracy after C_Tr=1 fine-tuning",
         paper_value=0.6, ours=gain_one, criterion=at_least(0.6),
         note="best over η; the chapter shows where fine-tuning changed the weights")
ch.claim(id="probe_count_a_decodable", paper="jain2024", reference="Def. 1, Sec. 5",
         statement="Count(a) stays linearly decodable after C_Tr=1 fine-tuning (worst model's best-block probe)",
         paper_value=None, ours=float(best_block.min()), criterion=at_least(0.9),
         note="worst model over η; the chapter gives each η's value")
ch.claim(id="reft_faster_than_scratch", paper="jain2024", reference="Fig. 27",
         statement="reFT revives count-a at least twice as fast as Scr.+FT after fine-tuning at every η but the largest "
                   "(share of those η)",
         paper_value=1.0, ours=n_faster / len(revived), criterion=at_least(1.0),
         note=f"{cfg.reft_steps} reFT steps at {preset}; level {cfg.reft_level:.0%} count-a accuracy")

# %% tags=["remove-input"]
ch.finish()
