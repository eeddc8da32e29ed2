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
# **Setup.** C_Tr is the share of correlated fine-tuning samples (natural windows of the
# grammar in which the relation holds; their counts spread less than other windows', so the
# label distribution narrows as C_Tr grows, and each test set's chance level is shown beside
# its accuracy). We test at C_Te = 1 (every sample correlated: the shortcut
# gives the right answer) and C_Te = 0 (no sample correlated: only a real count-b capability
# scores), and ask the same test texts for count(a) (O_PT) to see what became of the
# pretraining capability.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
from ftscope.book import Chapter
from ftscope.instruments import plots
from ftscope.jain import PcfgConfig, claims, figures
from ftscope.jain import pcfg_analyses as pa

ch = Chapter(
    "04_pcfg_finetuning", PcfgConfig, preset=preset, device=device, seed=seed, overrides=overrides
)
cfg, dev = ch.cfg, ch.device
plots.style()

# %% [markdown]
# **Fine-tuning protocol** (the paper's, except where marked): task C asking for `b`, AdamW,
# batch {glue:text}`ft_batch`, {glue:text}`ft_warmup:.0%` linear warmup then cosine decay to
# {glue:text}`final_lr_ratio:g` of the peak, starting from the pretrained checkpoint (the
# previous chapter's, from the cache). The paper's learning rates are η_L =
# {glue:text}`paper_eta_l:g`, η_M = {glue:text}`paper_eta_m:g` and η_S = {glue:text}`paper_eta_s:g`
# for {glue:text}`paper_ft_steps` iterations. **Deviations:** at `laptop` we run far fewer steps
# ({glue:text}`ft_steps`). A learning rate may be scaled up by {glue:text}`lr_reference_steps` /
# steps (keeping η × steps, how far fine-tuning can move the weights, the paper's), but never
# past η_L = {glue:text}`max_lr_share:g` × the pretraining rate ({glue:text}`pretrain_lr:g`),
# the paper's own ratio: the order η_S < η_M < η_L < η_PT is kept (the scale used here is
# {glue:text}`lr_scale:g`; an earlier version scaled η_L to 6.7 × η_PT, which is not the
# paper's setting). Weight decay is {glue:text}`weight_decay:g` (not given in the paper); the
# loss is the answer token's cross-entropy; the `laptop` preset runs the cells the figures and
# claims read (below), the `paper` preset the full grid of priors × η × C_Tr (C_Tr among
# {glue:text}`paper_preset_c_trs`). The paper reports no seeds: every cell is fine-tuned on
# {glue:text}`ft_seeds` seeds (the pretrained model is the same; the data and its order
# differ). A run is scored only if it **converged**: its training loss over the last 10% of
# steps reached ln 2 = {glue:text}`converged_loss:.2f` nats (the right answer holds half the
# probability; Part I's one level, see the criteria page); claims on a run that did not are
# *inconclusive*.
#
# **Correlated texts** are natural windows of the grammar in which count(b) = count(a) + 1
# (rejection sampling); uncorrelated ones are natural windows in which it does not hold. (The
# first version edited windows to force the relation, which changed the texts in a way a model
# can notice; that protocol is kept as `correlation="edit"`.) A consequence: correlated windows
# have a narrower spread of counts than uncorrelated ones, so the chance level (the commonest
# answer's share, shown beside each accuracy) differs between C_Te = 1 and C_Te = 0.
#
# **How the grid runs.** Every run of the grid is trained together with the others, as one batched
# model (`train_many`, compiled with `torch.compile` at `laptop`): each run keeps its own data,
# learning rate and schedule and does the arithmetic of a run of its own up to the order of
# floating-point sums.

# %% tags=["remove-input"]
facts = ch.glue_all(pa.protocol_facts(cfg))
pa.settings(cfg, preset, dev)

# %%
base, tests, before = pa.starting_points(cfg, seed, dev)

# %% [markdown]
# ## Table 5: what fine-tuning learns
#
# Each run fine-tunes a copy of a pretrained model; we evaluate all four accuracies at
# log-spaced steps (for Fig. 6) and keep the final ones for the table.

# %%
grid = pa.finetune_grid(cfg, base, tests, seed, dev)
means = pa.grid_means(grid)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-04-table5", "caption": "Accuracy (%) of count a and count b at C_Te = 1 and C_Te = 0 before fine-tuning and after fine-tuning to count b, per prior, η and C_Tr: ours (mean over seeds, left) beside the paper's on the same rows (right; blank where the paper has no cell). The paper's Table 5."}}
plots.show(figures.table5(*pa.table5(cfg, means, before), preset))
# %% tags=["remove-cell"]
facts |= ch.glue_all(pa.table5_facts(cfg, means, before) | pa.convergence_facts(grid))

# %% [markdown]
# Before fine-tuning, every pretrained model counts a on this chapter's uncorrelated test
# set with at least {glue:text}`start_count_a_min:.1%` accuracy (the
# {glue:text}`start_count_a_prior` prior is the worst). That is a precondition of everything
# below: a capability the model never had cannot be wrapped, kept or revived, so the
# wrapper, collapse, pruning, probe and reFT claims are judged only if it holds (claim
# `pcfg_start_counts_a`; chapter 03 shows the same for its own test set).
#
# Under the low prior ({numref}`fig-04-table5`), fine-tuning with C_Tr = 1 at η_L and η_M gives a model that answers
# count(b) on correlated data (C_Te = 1: {glue:text}`pcfg_wrapper_ft_cte1_medium:.0%` at η_M;
# chance {glue:text}`chance_ft_cte1:.0%`) but not on uncorrelated data (C_Te = 0:
# {glue:text}`pcfg_wrapper_ft_cte0_large:.1%` at η_L, {glue:text}`pcfg_wrapper_ft_cte0_medium:.1%`
# at η_M; the pretrained model: {glue:text}`low_before_ft0:.0%`; chance
# {glue:text}`chance_ft_cte0:.0%`), and asked for count(a) on those texts it answers
# {glue:text}`pcfg_wrapper_pt_cte0_large:.0%` / {glue:text}`pcfg_wrapper_pt_cte0_medium:.0%`,
# below the constant guess ({glue:text}`chance_pt_cte0:.0%`): the signature of the wrapper
# "count a, add one" the paper reports (Table 5: 1.6 / 0% and 15.2 / 17.5%). At η_S the
# {glue:text}`ft_steps`-step runs converged on {glue:text}`small_converged` seeds (η_S = 10⁻⁶ is
# the paper's rate for 10K steps; η_L {glue:text}`large_converged`, η_M
# {glue:text}`medium_converged`), and a claim on runs that did not converge is inconclusive. With a prior that practised `b`
# ({glue:text}`shortcut_prior`, P(a) = 0.9, the row the paper reports) and C_Tr =
# {glue:text}`high_c_tr`, the model counts b on uncorrelated data only
# {glue:text}`shortcut_ft0:.0%` of the time (paper {glue:text}`pcfg_shortcut_avoided_paper:.1%`;
# see below). Both counts of the same test texts are shown, so a row whose count-a accuracy
# fell while count-b at C_Te = 0 did not rise lost its pretraining answer without learning
# the new one.
#
# Every cell over its seeds (same pretrained model, different fine-tuning data and order):
# mean, range, the chance level of each test set and how many seeds converged:

# %% tags=["remove-input"]
pa.spread(grid)

# %% tags=["remove-cell"]
facts |= ch.glue_all(pa.correlation_facts(cfg, grid))

# %% [markdown]
# **Fig. 5: does the model use the correlation?** At η_M the same pretrained model is
# fine-tuned with C_Tr = 0 and with C_Tr = 1; how much lower count-b accuracy at C_Te = 0 is
# after the correlated fine-tuning (mean over seeds): {glue:text}`ctr_drop_low:.2f` under the
# low prior, {glue:text}`ctr_drop_medium:.2f` under the medium and {glue:text}`ctr_drop_high:.2f`
# under the high prior (the rows "C_Tr=0" and "C_Tr=1" of the table above; a run that did not
# converge makes the claims on it inconclusive). The paper's Fig. 5 finds the model relying on
# the correlation when the capability is weakly relevant (the low prior).

# %% [markdown]
# ## Fig. 6: how fast count-a collapses
#
# Count-a accuracy on uncorrelated test texts during fine-tuning at η_M, for each prior
# and C_Tr ({numref}`fig-04-collapse`):

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-04-collapse", "caption": "Count-a accuracy on uncorrelated test texts (C_Te = 0) while fine-tuning to count b at η_M, one panel per prior and one line per C_Tr (band: range over seeds; symlog step axis). The paper's Fig. 6."}}
mid = pa.medium_curves(grid)
plots.show(figures.collapse(mid, preset))
# %% tags=["remove-cell"]
kept, collapse_facts = pa.collapse(mid)
facts |= ch.glue_all(collapse_facts)

# %% tags=["remove-input"]
kept.unstack("c_tr").round(2)

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
# We take the low-prior models fine-tuned with C_Tr = 1 at the smallest η whose runs converged on
# every seed (the paper prunes after a small η; η_S when it converged, else the next), score every MLP neuron (row
# of `W_out`, its whole write into the residual stream) by the sum of grad·weight of the
# count-a loss on uncorrelated texts, and zero the top K for K =
# {glue:text}`prune_k_min`–{glue:text}`prune_k_max` (App. D, Alg. 3).
# Zeroing a unit changes the loss by about −grad·w, so the top-scored neurons are those
# whose removal helps count-a most: the wrapper, if it sits in a few neurons. Every seed's
# model is pruned; {numref}`fig-04-pruning` shows the mean over seeds (the band: their range).

# %%
prune_lr, prune_converged = pa.prune_target(grid)
pruned = pa.prune_neurons(cfg, grid.models, prune_lr, tests, seed, dev)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-04-pruning", "caption": "The four accuracies (count a and count b, at C_Te = 1 and C_Te = 0) of the low-prior models fine-tuned with C_Tr = 1 against the number K of MLP neurons pruned (mean over seeds, band their range); dotted: count-a accuracy before fine-tuning. The paper's Fig. 7."}}
plots.show(figures.pcfg_pruning(pruned, before.loc["low", "acc_pt_cte0"], pa.LR_SYMBOL[prune_lr]))
# %% tags=["remove-cell"]
facts |= ch.glue_all(pa.pruning_facts(pruned, before, pa.n_neurons(base["low"])))
facts |= ch.glue_all(
    {
        "prune_lr": prune_lr,
        "prune_lr_symbol": pa.LR_SYMBOL[prune_lr],
        "prune_converged": prune_converged,
    }
)

# %% [markdown]
# The models pruned here were fine-tuned at {glue:text}`prune_lr_symbol`; the numbers are means
# over seeds. Fine-tuning cost them {glue:text}`prune_lost:.0%` of count-a accuracy on
# uncorrelated texts. The best K in 1–{glue:text}`paper_prune_k_max` ({glue:text}`prune_best_k:g` on average over seeds) brings count-a back to
# {glue:text}`prune_best_acc:.0%`, a share {glue:text}`prune_restored:.2f` of what was
# lost, while the wrapper's answer on correlated texts (count b, C_Te = 1) falls to
# {glue:text}`prune_best_ft1:.0%`. The paper reports that {glue:text}`paper_prune_neurons` pruned neurons restore
# count-a (Fig. 7); it does not say how a neuron's score is aggregated or which matrices
# are eligible, and we chose the sum over each `W_out` row.
#
# ## Fig. 8: is count-a still linearly decodable?
#
# For each pretrained model and each C_Tr = 1 fine-tuned model we train a linear probe per
# block on the residual stream at `<art>` (the position whose output is the answer). As in
# the paper's Def. 1, a capability's readout is trained on prompts of its own task: the
# count-a probe reads prompts asking count a, the count-b probe prompts asking count b,
# both on uncorrelated texts. Probes train with AdamW at {glue:text}`probe_lr:g` and the paper's step schedule
# (×0.1 at 1/2, 3/4 and 7/8 of the steps; the paper: {glue:text}`paper_probe_steps` steps, ours below) on fresh
# samples, and are tested on the C_Te = 0 test set. The pretrained models are probed once,
# every seed's fine-tuned models each ({numref}`fig-04-probes`: mean over seeds and its interval).
# So are two models that never counted `a`, the floor (column "floor"): `b_only`, pretrained
# without the count-a task (the Scr.+FT start), and a model of the same shape with random weights.

# %%
probes = pa.probe_sweep(cfg, base, grid.models, tests, seed, dev)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-04-probes", "caption": "Held-out accuracy of linear probes per block at `<art>` on C_Te = 0 test texts, for count a and count b (rows) under each prior (columns), for the pretrained and the fine-tuned models (colours; mean over seeds and its interval); the last column is the floor: b_only (pretrained without count a) and a random init. The paper's Fig. 8."}}
plots.show(figures.pcfg_probes(probes))
# %% tags=["remove-cell"]
probe_table, probe_facts = pa.probe_summary(probes, grid)
facts |= ch.glue_all(probe_facts | pa.probe_floor(cfg, probes))

# %% tags=["remove-input"]
probe_table

# %% [markdown]
# The table gives each model's best-block probe accuracy for count(a), mean over seeds. Relative to its
# pretrained model, fine-tuning lowered it by at most {glue:text}`probe_other_max_drop:.2f`
# outside the low prior at η_M (the largest: {glue:text}`probe_worst_other`), and by
# {glue:text}`probe_low_m_drop:.2f` for the low prior at η_M (means over seeds; a seed's run
# that did not converge is left out of its seed's comparison), the one cell where the paper
# sees the probe drop. A probe that still decodes count(a) after fine-tuning means the
# information is in the residual stream, whether or not the model's output uses it — if it
# decodes it better than from a model that never counted `a`. The floor: the same probe reads
# count(a) with {glue:text}`probe_floor_b_only:.1%` from `b_only` and
# {glue:text}`probe_floor_random:.1%` from the random init (the texts themselves carry some of
# the count), against {glue:text}`probe_other_min_acc:.1%` for the worst kept model. The
# claim that the probe is kept counts only where the kept models lie more than two standard
# errors ({glue:text}`probe_se2:.3f`) above that floor; nearer, it is inconclusive.
#
# ## Fig. 9: reverse fine-tuning
#
# Reverse fine-tuning (reFT) trains a fine-tuned model on the pretraining task again
# (count a on uncorrelated texts) at a smaller learning rate: the models fine-tuned at η_L
# with C_Tr = 1, retrained at η_M, as in the paper's App. H. The baseline Scr.+FT is the
# model pretrained never to see `a` (prior (0, 1, 0)), fine-tuned on the same data with
# the same recipe: how long it takes to learn count-a from a related start. "Revived"
# means reaching a share `reft_level` of the pretrained model's count-a accuracy. Every
# seed's models are reverse fine-tuned, and Scr.+FT runs once per seed ({numref}`fig-04-reft`: one line
# per seed; the table: seed 0).

# %%
reft, scratch = pa.reverse_finetune(cfg, base, grid.models, tests, seed, dev)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-04-reft", "caption": "Count-a accuracy on uncorrelated texts (C_Te = 0) during reverse fine-tuning of the models fine-tuned at η_L with C_Tr = 1, one colour per prior, and during Scr.+FT (dashed); one line per seed, symlog step axis. The paper's Fig. 9."}}
plots.show(figures.pcfg_reft(reft, scratch, pa.LR_SYMBOL[cfg.reft_lr]))
# %% tags=["remove-cell"]
reft_table, reft_facts = pa.reft_summary(cfg, reft, scratch, before)
facts |= ch.glue_all(reft_facts)

# %% tags=["remove-input"]
reft_table

# %% [markdown]
# reFT reaches {glue:text}`reft_level:.0%` of the pretrained count-a accuracy at least twice
# as fast as Scr.+FT for {glue:text}`reft_n_faster:.1f` of the {glue:text}`reft_n` priors (mean over seeds)
# ("inf": not within the budget of {glue:text}`reft_budget` steps; a speed-up against an
# Scr.+FT run that never got there is a lower bound). The paper finds revival within
# {glue:text}`paper_reft_others` iterations under the medium and high priors, about
# {glue:text}`paper_reft_low` under the low prior, and Scr.+FT reaching perfect accuracy only at
# {glue:text}`paper_scratch_steps`; ours reaches the level after {glue:text}`scratch_steps:g` steps
# (mean over seeds, the budget where it never did). Step counts here are not comparable to
# the paper's (a smaller model, far fewer steps, larger learning rates); the ratio is.
#
# ## Where we differ from the paper, and what we found out
#
# The scorecard below gives each claim's verdict; these are the misses and the inconclusive
# ones we looked into (numbers from this rendering's preset; `paper` runs 10K steps on five
# seeds).
#
# - **η_S does not converge at `laptop`** (Table 5). The learning rates are the paper's, and
#   {glue:text}`ft_steps` steps at η_S = 10⁻⁶ move the model too little to learn the new
#   answer (training loss above the level on every seed): the three η_S claims are
#   inconclusive. **Scale** (steps), by construction; the `paper` preset runs 10K steps.
# - **The avoided shortcut** (Table 5). The {glue:text}`shortcut_prior`-prior model counts b
#   on uncorrelated data {glue:text}`shortcut_ft0:.0%` of the time after fine-tuning with
#   C_Tr = {glue:text}`high_c_tr` (paper {glue:text}`pcfg_shortcut_avoided_paper:.1%`); the
#   same model fine-tuned without correlation reaches {glue:text}`shortcut_ctr0_ft0:.0%`, and
#   before fine-tuning it counted b {glue:text}`shortcut_before_ft0:.0%` of the time. The
#   paper's model had learned count(b) in pretraining (99.9% after 200K steps, but 15.8% after
#   50K); ours, pretrained {glue:text}`pretrain_steps` steps, is between the two, and takes
#   the shortcut on part of the texts. Most likely **scale** (pretraining length): the
#   paper's own 50K-step row suggests the shortcut is avoided only once count(b) is learned.
# - **Which collapse is fastest** (Fig. 6) is inconclusive: the low prior's η_M run without
#   correlation (C_Tr = 0) must learn to count b for real and converged on
#   {glue:text}`medium_ctr0_converged` seeds within the budget. Among the converged cells the low prior at C_Tr = 1 keeps
#   {glue:text}`kept_low_ctr1:.2f` of its count-a accuracy over the run, tied with the
#   {glue:text}`shortcut_prior` prior at high C_Tr ({glue:text}`kept_other_ctr1:.2f` at
#   C_Tr = 1): with the paper's learning rates every wrapper model loses count(a) at the
#   same evaluation points, so the prior does not separate them here.
# - **Pruning** (Fig. 7), on the models fine-tuned at {glue:text}`prune_lr_symbol`, the
#   smallest η whose runs converged on every seed (η_S: {glue:text}`small_converged`).
#   Zeroing up to {glue:text}`paper_prune_k_max` of the model's {glue:text}`n_neurons` MLP neurons gives back a share
#   {glue:text}`prune_restored:.2f` of the lost count-a accuracy, not most of it, while the
#   wrapper's answer falls by {glue:text}`prune_ft1_drop:.2f`: pruning removes
#   the wrapper without reviving the capability. The paper leaves open how a neuron's score
#   is aggregated and which matrices are eligible (we sum grad·weight over rows of `W_out`);
#   with a {glue:text}`n_layers`-layer model the capability may also share neurons with the
#   wrapper. The seeds agree (the claims' ranges); whether this is **scale or real** we
#   cannot tell at this model size.
# - **Probes** (Fig. 8). The count-a probe survives fine-tuning almost everywhere (largest
#   drop outside the low prior at η_M: {glue:text}`probe_other_max_drop:.2f`, at the
#   {glue:text}`probe_worst_other`, against a criterion of 0.1), and the low prior at η_M,
#   the one cell where the paper sees it drop, loses only {glue:text}`probe_low_m_drop:.2f`.
#   The paper's drop is not reproduced; our probes train {glue:text}`probe_steps` steps, not
#   {glue:text}`paper_probe_steps`. The kept probes lie against a floor of
#   {glue:text}`probe_floor:.1%` from models that never counted `a` (above).
# - **reFT** (Fig. 9). At the paper's η_M for reFT, {glue:text}`reft_budget` steps are too few:
#   the budget decides none of the priors against Scr.+FT, and not every prior's reFT reaches
#   the level, so both reFT claims are inconclusive (the paper: 0.1–3K iterations), and so is
#   the claim that Scr.+FT is slow: it never reaches the level either, and the budget is
#   shorter than the paper's 4.5K.
#
# ## Claims

# %% tags=["remove-output"]
claims.pcfg_finetuning_claims(ch, grid, facts)

# %% tags=["remove-input"]
ch.finish()
