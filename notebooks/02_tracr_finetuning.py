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
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
from IPython.display import display

from ftscope.book import Chapter
from ftscope.instruments import plots
from ftscope.jain import TracrConfig, claims, figures, reported
from ftscope.jain import compiled_analyses as ca

ch = Chapter(
    "02_tracr_finetuning", TracrConfig, preset=preset, device=device, seed=seed, overrides=overrides
)
cfg, dev = ch.cfg, ch.device
plots.style()

# %% [markdown]
# **Fine-tuning protocol** (the paper's, except where marked): N(0, {glue:text}`noise_std:g`)
# noise added to every compiled weight first (we read it as the standard deviation); SGD with
# momentum ({glue:text}`momentum`: the paper gives no value), batch {glue:text}`batch`, linear
# warmup over the first {glue:text}`warmup:.0%` of the steps then cosine decay to
# {glue:text}`final_lr_ratio:g` times the peak learning rate; cross-entropy on the answer
# position, all weights trained. **Deviations:** we clip the gradient norm at
# {glue:text}`grad_clip`, because without it SGD diverges at η = 10⁻² with C_Tr = 1 in our
# checks; and this rendering ran at the preset shown below, with fewer steps (and, at `laptop`,
# shorter Counter inputs) than the paper's {glue:text}`paper_steps` iterations on inputs of
# about {glue:text}`paper_counter_len` tokens. The runs of one task are trained together in parts of
# at most {glue:text}`together` runs, each part one batched model (`train_many`): each run keeps its
# own data, learning rate, schedule and clipping, and does the arithmetic of a run of its own up to
# the order of floating-point sums — which, as with a different CPU, can move a run at a large η by
# more than rounding, so the seeds decide. On a CPU, {glue:text}`workers` parts train at once, each
# in its own single-threaded process: one thread per part makes a run's numbers the same however
# many parts run at once and on however many cores.

# %% tags=["remove-input"]
facts = ch.glue_all(ca.protocol_facts(cfg))
ch.glue("paper_steps", f"{reported.TRACR_FT_STEPS // 1000}K")
ch.glue("paper_counter_len", reported.COUNTER_INPUT_LEN)
ca.settings(cfg, preset, dev)

# %%
counter, max_id = ca.compiled_models(cfg, dev)
tests = ca.test_sets(
    cfg, counter, max_id, seed, dev
)  # the same test sets for every model: Counter, Max id

# %% [markdown]
# ## Table 3: what fine-tuning learns
#
# We fine-tune models per learning rate and C_Tr, each on {glue:text}`seeds` seeds (the
# noise on the compiled weights and the batches differ), and measure the accuracy of the
# pretraining answer (count a; the {glue:text}`rank_pt`th smallest) and of the fine-tuning
# answer (count b; the {glue:text}`rank_ft`th smallest) at C_Te = 1 and C_Te = 0. (The `laptop`
# preset runs only the cells of Table 3 and the one Fig. 10 needs; `paper` runs the full grid
# of learning rates × C_Tr.) Beside each accuracy stands its **chance level**: the accuracy
# of always giving the commonest answer of that test set.
#
# A run is scored only if it **converged**: its training loss, averaged over the last 10% of
# the steps, reached ln 2 = {glue:text}`converged_loss:.2f` nats, the loss at which the right
# answer holds (in geometric mean over the samples) half the probability, more than all other
# answers together. The level is stated in these terms, not as a small loss, because tracr's
# compiled models have nearly flat output logits: a compiled model that is exact on its own task
# has a loss of about two nats on it, and a fine-tune can answer its new task right without
# sharpening them much (the first level, 0.1 nats, marked runs at 98% accuracy as not converged;
# see the book's criteria page). A claim resting on a run that did not converge is
# *inconclusive*, not a miss. {glue:text}`n_converged` of the {glue:text}`n_runs` runs
# converged:

# %%
grid, models = ca.finetune_grid(cfg, counter, max_id, tests, seed, dev)
ca.convergence_table(grid)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-02-table3", "caption": "Accuracy (%) of the pretraining (O_PT) and fine-tuning (O_FT) answers at C_Te = 1 and C_Te = 0 of each fine-tuned run, ours (mean over seeds, left) beside the paper's on the same rows (right; blank where the paper has no cell). The paper's Table 3."}}
plots.show(figures.table3(grid, preset, cfg.steps))
# %% tags=["remove-cell"]
facts |= ch.glue_all(ca.table3_facts(cfg, grid))

# %% tags=["remove-input"]
ca.table3_with_chance(grid)

# %% [markdown]
# The paper reads its Table 3 (ours beside it in {numref}`fig-02-table3`) as a wrapper: fine-tuned on perfectly correlated data
# (C_Tr = 1), the model answers count(b) on correlated test data but not on uncorrelated
# data, and no longer answers count(a) — it keeps counting `a` inside and adds one. Here,
# with C_Tr = 1, O_FT accuracy is at least {glue:text}`ctr1_ft_cte1_min:.1%` at C_Te = 1
# across learning rates, at most {glue:text}`ctr1_ft_cte0_max:.1%` at C_Te = 0, and O_PT
# accuracy at C_Te = 0 averages {glue:text}`ctr1_pt_cte0_mean:.1%`. Without the correlation
# (C_Tr = 0) at the largest learning rate, the paper finds count(b) learned for real; here
# O_FT accuracy at C_Te = 0 is {glue:text}`ctr0_lr1_ft_cte0:.1%`. On these test sets the
# constant guess scores {glue:text}`chance_counter_ft_cte0:.1%` for count(b) and
# {glue:text}`chance_counter_pt_cte0:.1%` for count(a) at C_Te = 0, so "no longer answers
# count(a)" means no better than that guess (the largest η's O_PT is
# {glue:text}`ctr1_pt_cte0_max:.1%`). All numbers are means over seeds; the claims at the end
# of the chapter hold each seed against the paper's number. {numref}`fig-02-counter-c-tr` shows the
# Counter's two accuracies at C_Te = 0 against C_Tr.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-02-counter-c-tr", "caption": "Count-b (O_FT, left) and count-a (O_PT, right) accuracy at C_Te = 0 of the fine-tuned Counters against C_Tr, one line per learning rate η (mean over seeds, error bars their range); dashed: the chance level of a constant answer. Extends the Counter rows of the paper's Table 3 over C_Tr; no figure of the paper."}}
plots.show(figures.counter_by_c_tr(grid))
# %% [markdown]
# ## Attention: is the capability still used? (Fig. 10)
#
# In the compiled Counter the answer position attends to the `a` tokens in the block that
# implements the program's `SelectorWidth` (we find it as the block whose compiled attention
# puts most weight on `a`: Block 1, as in the paper; tracr leaves Block 0's attention empty).
# After fine-tuning we measure how much of that block's attention lands on `a` and on `b`. For the Max identifier we compare Block 0 — the block
# that sorts — with the compiled model's, as the Pearson correlation of all attention
# weights on the test inputs ({numref}`fig-02-maxid-block0` shows it on one input).
#
# A share or a correlation that is *kept* must be told from what a model that never had the
# capability shows. So the same numbers are measured on two floors: the Counter compiled to
# count `b` (the start of Scr.+FT below; it never counted `a`) and a Counter of the same shape
# with random weights (rows "b-counter" and "random init"; for the Max identifier, a random
# Max identifier, row "random init").

# %%
floors = ca.floor_models(cfg, counter, max_id, seed, dev)
attn_layer, attention, sorting = ca.attention_tables(cfg, counter, max_id, models, tests, floors)
display(ca.attention_display(attention))
sorting.pivot(index="η", columns="seed", values="similarity").round(3)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-02-maxid-block0", "caption": "Block 0 (sorting) attention pattern of the Max identifier on one fresh input: the compiled model beside its fine-tunes (C_Tr = 0) at each learning rate η, seed 0. Goes with the attention analysis of the paper's Fig. 10, which shows the Counter."}}
seed0 = ca.first_seed(models)  # this figure and the moved-weights table read seed 0's models
plots.show(figures.max_id_block0(cfg, max_id, seed0, seed, dev))
# %% tags=["remove-cell"]
attn_facts, attn_seeds = ca.attention_facts(cfg, attn_layer, attention, sorting)
facts |= ch.glue_all(attn_facts)

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
# The floors: the b-counter puts {glue:text}`attn_a_b_counter:.2f` of its attention on `a`
# and the random Counter {glue:text}`attn_a_random:.2f` — the share of `a` among the tokens
# it attends to, more or less, since a random block attends almost uniformly. Relative to the
# compiled model's share that is a floor of {glue:text}`attn_kept_floor:.2f`; a random Max
# identifier's Block 0 correlates {glue:text}`sort_floor:.3f` with the compiled one. The two
# "kept" claims below hold only if they lie more than 0.1 above their floor; nearer, the
# measurement cannot tell a kept block from one that never learned anything, and the claim
# is inconclusive.
#
# ## Pruning removes the wrapper (App. D, Fig. 55)
#
# If fine-tuning added a wrapper, removing a few weights should bring the pretraining
# answer back. Following the paper's Alg. 3 we compute the loss on the *pretraining* task
# (count a on uncorrelated inputs), score every weight by gradient × weight, zero the K
# weights with the largest score, and measure both answers on uncorrelated test data, on
# every seed's models ({numref}`fig-02-pruning`: mean over seeds, the band their range).

# %%
pruning = ca.pruning_sweep(cfg, counter, models, tests[0], seed, dev)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-02-pruning", "caption": "Accuracy on the test data against K: count a (O_PT, left) and count b at C_Te = 1 (O_FT, middle) after zeroing the top-K weights by grad·weight, and count a after resetting the K most-changed weights to their compiled values (right); one line per fine-tuned model, mean over seeds, band their range. The paper's Fig. 55 (App. G.1)."}}
plots.show(figures.tracr_pruning(pruning))
# %% tags=["remove-cell"]
prune_table, prune_facts = ca.pruning_summary(cfg, pruning)
facts |= ch.glue_all(prune_facts)
ch.glue("paper_prune_gain", reported.PRUNE_ONE_WEIGHT_GAIN)
# %% tags=["remove-input"]
prune_table

# %% [markdown]
# Zeroing the single highest-scoring weight raises count-a accuracy by at most
# {glue:text}`prune_gain_one:.1%` (best learning rate; mean over seeds), and zeroing up to
# {glue:text}`prune_kmax` weights by at most {glue:text}`prune_gain_any:.1%`; the paper
# reports more than {glue:text}`paper_prune_gain:.0%` from one weight. Where accuracy stays flat over several K, the
# pruned model gives one answer for everything, and the accuracy is the share of that
# answer in the test set — not a revived count.
#
# Why does one weight not do it here? Because here the wrapper is not in one weight.
# Setting the K weights that fine-tuning changed most back to their compiled values
# (table above, right) revives nothing either. Counting the weights that moved by more
# than five times the initial noise shows where the change is:

# %% tags=["remove-input"]
moved, moved_facts = ca.moved_weights(cfg, counter, seed0)
facts |= ch.glue_all(moved_facts)
moved

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
# on the compiled model and on each model fine-tuned with C_Tr = 1, on every seed (table:
# mean over seeds; {numref}`fig-02-probes`: the band is their range).

# %%
probes = ca.probe_sweep(cfg, counter, models, seed, dev, floors)
ca.probe_table(probes)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-02-probes", "caption": "Held-out accuracy of a linear probe for count(a) at the answer position, before the first block (B0) and after each block, for the compiled Counter (dashed) and each model fine-tuned with C_Tr = 1 (mean over seeds, band their range); grey dotted: the floors, the b-counter and a random Counter, which never counted a. Tests the paper's Def. 1; the paper probes only its PCFG models (Fig. 8)."}}
plots.show(figures.tracr_probes(probes, ca.FLOORS))
# %% tags=["remove-cell"]
facts |= ch.glue_all(ca.probe_facts(cfg, probes))

# %% [markdown]
# The best block's probe decodes count(a) with {glue:text}`probe_compiled_best:.1%`
# accuracy in the compiled model (from Block 2 on: the count is made in Block 1). In the
# models fine-tuned with C_Tr = 1 it decodes {glue:text}`probe_small:.1%` and
# {glue:text}`probe_small2:.1%` at the two smallest learning rates (means over seeds) — models that no
# longer *answer* count(a) — and {glue:text}`probe_large2:.1%` and
# {glue:text}`probe_large:.1%` at the two largest. The claim below takes the worst model
# but the one fine-tuned at the largest learning rate, where the paper itself expects the
# capability lost (reFT fails there, its Fig. 43; and its Fig. 8 finds the PCFG count lost
# at a larger learning rate).
#
# **The floor.** The same probe decodes count(a) with {glue:text}`probe_b_counter:.1%` from
# the b-counter and {glue:text}`probe_random:.1%` from the random Counter, models that never
# counted `a` (floor {glue:text}`probe_floor:.1%`). Where attention is near uniform, the
# answer position's residual holds the mean of the token embeddings, and the share of `a`
# among the tokens is linear in it, so count(a) can be decodable from any model that embeds
# `a` apart from the other letters. Decodability then says nothing about a kept capability:
# when the floor comes within two standard errors ({glue:text}`probe_se2:.3f`) of the
# criterion, the claim is inconclusive.
#
# ## Reverse fine-tuning revives the capability (Fig. 27)
#
# Reverse fine-tuning (reFT) trains a fine-tuned model on the pretraining task again, at a
# smaller learning rate. If the capability survived under the wrapper, reFT should bring
# it back much faster than learning it afresh. The baseline (Scr.+FT) is a model compiled
# to count `b` — it never could count `a` — fine-tuned to count `a` with the same steps
# and learning rate. As in the paper's Fig. 27 we do this for the model fine-tuned (with
# C_Tr = 1) at each learning rate η, with reFT at η × {glue:text}`reft_lr_factor:g`, on every seed; the paper finds
# that reFT revives the capability after every η except the largest (its Fig. 43), so there we run
# reFT alone, and ask whether it fails.

# %%
reft, scratch = ca.reverse_finetune(cfg, counter, models, tests[0], seed, dev)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-02-reft", "caption": "Count-a accuracy (C_Te = 0) during reverse fine-tuning (reFT) and Scr.+FT, one panel per fine-tuning learning rate η, one line per seed, log step axis (step 0 drawn at 1); dotted: the revival level. The largest η has no Scr.+FT. The paper's Fig. 27 (and Fig. 43 for the largest η)."}}
plots.show(figures.tracr_reft(reft, scratch, cfg.reft_level, cfg.reft_lr_factor))
# %% tags=["remove-cell"]
reft_table, reft_facts = ca.reft_summary(cfg, reft, scratch)
facts |= ch.glue_all(reft_facts)

# %% tags=["remove-input"]
reft_table

# %% [markdown]
# The table is seed 0's. Across the learning rates but the largest, reFT reaches
# {glue:text}`reft_level:.0%` count-a accuracy at least twice as fast as Scr.+FT for
# {glue:text}`reft_n_faster:.1f` of the {glue:text}`reft_n` fine-tuned models (mean over seeds).
# After the largest learning rate (η = {glue:text}`reft_large_lr:g`), reFT reaches it at step
# {glue:text}`reft_large_steps:g` (mean over seeds; inf: on no seed within the budget).
# Steps are counted at the evaluation points of
# {numref}`fig-02-reft`, and "inf" means the level was not reached within the budget of
# {glue:text}`reft_budget` steps. When Scr.+FT never reaches it, the speed-up is a lower
# bound (the budget over reFT's steps); when neither reaches it, or the lower bound falls
# short of twice, the budget does not decide ("decided" is false:
# {glue:text}`reft_n_undecided` here), and the claim is *inconclusive* rather than a miss:
# a short budget (the `laptop` preset's) cannot tell.
#
# ## Where we differ from the paper, and what we found out
#
# The claims below give each verdict; these are the misses and the inconclusive ones, with
# what we could establish (numbers from this rendering's preset; `paper` runs 10K steps on
# five seeds).
#
# - **The wrapper at η = 10⁻²** (Table 3) sits on its criterion. Every seed answers count(b) on
#   correlated data, and on uncorrelated data it still does so {glue:text}`wrapper_ft_cte0_lr0p01:.1%`
#   of the time (mean over seeds; paper {glue:text}`wrapper_ft_cte0_lr0p01_paper:.1%`; the
#   criterion asks for at most 10%), so near the line that the order of floating-point sums
#   (another CPU, the runs batched or alone) moves the verdict across it: the claim is marked
#   fragile. The runs converged by the stated level, but at a higher loss than the smaller
#   learning rates' (the convergence table). **Scale** (the paper's 10K steps against our
#   {glue:text}`steps`) is the likely reason for the leftover; we have not tested it at `laptop`.
# - **The attention does not move to `b`** (Fig. 10). At the medium learning rate without
#   correlation the share on `b` minus the share on `a` is
#   {glue:text}`counter_attention_moves_to_b:.2f` (mean over seeds; the criterion asks for at
#   least 0.1), and even the largest learning rate, whose model does count `b`, leaves the
#   attention on `a`. Whether every seed's run at this rate ends below the ln 2 convergence
#   level hangs on the order of floating-point sums (one seed's ends next to it: below it in
#   one rendering, above it in another), so the verdict moves between *not reproduced* and
#   *inconclusive* and the claim is marked fragile; the sign does not move: on every seed the
#   attention moves away from `b`. This looks like a **real disagreement** for our compiled
#   Counter, which can learn to count `b` elsewhere than in this block's attention.
# - **One weight does not revive count(a)** (App. G.1). Zeroing one weight gains
#   {glue:text}`prune_one_weight_revives:.1%` where the paper reports more than 60%; resetting
#   the most-changed weights to their compiled values does not revive it either, and the
#   change is spread over many weights (the table above). We read this as a **real
#   difference** of our port: the paper's wrapper sat in one weight of its model, ours does
#   not. The seeds agree (claims below).
# - **The count-a probe** (Def. 1). The worst model but the largest η decodes count(a) at
#   {glue:text}`probe_count_a_decodable:.1%` (criterion 90%; the per-η numbers are in the
#   probe section above; mean over seeds), against a floor of {glue:text}`probe_floor:.1%`
#   from models that never counted `a`. Whether this is **scale or real** we cannot tell from
#   {glue:text}`probe_steps` probe steps (the paper trains probes 4K steps).
# - **Max identifier** (Table 3, Sec. 5). At η = 10⁻⁴ the models answer the new rank on
#   uncorrelated data {glue:text}`max_id_ft_cte0_lr1em4:.1%` of the time (paper
#   {glue:text}`max_id_ft_cte0_lr1em4_paper:.1%`), yet their training loss stays at
#   {glue:text}`max_id_small_loss:.2f` nats (mean over seeds), above the ln 2 level: the
#   compiled Max identifier's logits are flatter still than the Counter's (nearly uniform
#   over the positions it can point to), so a fixed loss level cannot tell its converged runs
#   from unfinished ones, and the three
#   Max-identifier claims are **inconclusive** rather than judged. A level relative to each
#   compiled model's own loss would decide them; that change is open (criteria page).
# - **reFT against Scr.+FT** (Fig. 27) is inconclusive: within {glue:text}`reft_budget`
#   steps the budget decides too few of the learning rates (above). Scr.+FT is the paper's own
#   floor here: the same training of a model that never counted `a`.
# - **reFT after the largest learning rate** (Fig. 43). The paper finds that reFT fails after
#   η_L; ours reaches {glue:text}`reft_level:.0%` count-a accuracy after fine-tuning at
#   η = {glue:text}`reft_large_lr:g` by step {glue:text}`reft_large_steps:g` (mean over seeds;
#   "inf" if a seed never did within {glue:text}`reft_budget` steps; the claim gives each seed).
#   That reFT runs at η = {glue:text}`reft_large_lr:g` × {glue:text}`reft_lr_factor:g`, a
#   learning rate at which a model may learn count(a) afresh rather than revive it, and we ran
#   no Scr.+FT at that rate, so we cannot yet tell revival from relearning: whether this is a
#   **real disagreement** is open (a Scr.+FT baseline at the same rate would decide it).
#
# ## Claims

# %% tags=["remove-output"]
claims.tracr_finetuning_claims(ch, grid, facts, attn_seeds)

# %% tags=["remove-input"]
ch.finish()
