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
# # Three lenses on one fine-tuning
#
# The three papers of this book look at fine-tuning with three instruments, each on its own models:
# {cite:t}`jain2024` prune, probe and reverse fine-tune; {cite:t}`zhang2024` contrast likelihoods on
# documents that differ in one factor; {cite:t}`horn2024` train sparse autoencoders (SAEs) and merge models.
# None of them turns its instrument on the others' models. This chapter does, on one setting: the story
# models of [chapter 5](05_tinystories_wrappers.ipynb), where fine-tuning *deletes* the capability to
# write a plot twist and a few steps of reverse fine-tuning (reFT) bring it back. Two questions:
#
# 1. **SAE lens.** If deletion only wraps the capability, do the SAE features of twists survive it, and does
#    reFT bring back the same features or new ones? And can the lens tell, at this scale?
# 2. **Merge lens.** Is SLERP merging back toward the base the same as stopping the deletion early?
#
# A third lens, Zhang & Wu's decomposition, cannot separate anything on these fine-tunes; the end of the
# chapter says why. Each lens's claims are hypotheses of ours, the direction one paper's reading predicts for
# another paper's models (`ftscope.synthesis.claims`): the scorecard counts them on their own row, beyond the
# papers, judged by the same claims API as every chapter, against a floor where one exists.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
from ftscope.book import Chapter
from ftscope.book.findings import glue, record
from ftscope.instruments import plots
from ftscope.synthesis.analyses import (
    EVENT_SELECTIVITY,
    TWIST_SHARE,
    deletion_curve,
    flip_table,
    lens,
    lens_findings,
    merge_findings,
    merge_path,
    reft_curve,
    shared_set,
)
from ftscope.synthesis.claims import ROWS, TIE
from ftscope.synthesis.figures import (
    highlight,
    merge_figure,
    path_table,
    persistence_figure,
    show_flips,
    twist_feature_table,
)
from ftscope.synthesis.settings import LensesConfig, story_models
from ftscope.synthesis.training import train_saes

# %% tags=["remove-cell"]
ch = Chapter(
    "10_three_lenses",
    LensesConfig,
    preset=preset,
    device=device,
    seed=seed,
    overrides=overrides,
)
plots.style()

# %% [markdown]
# ## The models
#
# Chapter 5's models at the same preset, read from its cache: the base pretrained on every story, the
# models after deletion by F+R (twist-free stories under headers that ask for a twist, η_M, on each of its
# {glue:text}`n_seeds` fine-tuning seeds) and the same models after reFT; for the SAE lens also F's first
# seed, the "Not in PT" control (pretrained without twists), a randomly initialised model of the same shape
# and the control's first fine-tune on twist stories. This chapter trains no language model.

# %%
sm = story_models(preset, seed, ch.device)

# %% tags=["remove-cell"]
ch.glue_all({"n_seeds": len(sm.runs()), "n_layers": sm.cfg.n_layers, "block": sm.cfg.n_layers // 2})
# %% [markdown]
# ## Lens 1: SAE features through deletion and revival
#
# Horn & Elliott's instrument, as [chapter 9](09_universal_features.ipynb) uses it: a standard ReLU SAE
# (SAELens) on the MLP activations of block {glue:text}`block` of {glue:text}`n_layers`, one per model, each
# trained on the same pretraining windows (Horn & Elliott train each SAE on its own model's data; these
# models share one story world, and the same windows leave the model as the only difference), plus a
# second SAE of the base with another seed: the **seed
# control**, what two SAEs of one unchanged model share. Every SAE reads one shared set of held-out stories
# (half with a twist), and a base feature is matched to another SAE's features by Pearson r over the shared
# positions; it is *kept* when its best match has r ≥ {glue:text}`threshold`.
#
# A feature "kept" says something only against models that never had it. The **floor** is the share of the
# base's Twist features that the SAE of such a model keeps: the "Not in PT" control (pretrained on the same
# stories without twists) and a randomly initialised model of the same shape (the base's initial weights);
# the larger of the two. The seed control is the **ceiling**, and the lens **resolves** a kept capability
# only where the ceiling lies well above the floor (at least two ties, {glue:text}`tie2:g`). For reFT's reuse
# the floor is the control's fine-tune on the same twist stories: it learned Twist anew, so its Twist
# features match the base's only as far as any model trained on twist stories would.
#
# A **Twist feature** is found by its top stories and the exact detector: of the
# {glue:text}`top_stories` stories where it fires hardest in the story's body, at least
# {glue:text}`twist_share:.0%` have a twist (the shared set holds half). The detector also says where the
# twist is written, and Twist features are of two kinds: **event** features fire in the sentence that
# holds the twist, at least {glue:text}`event_selectivity:g` times as strongly as elsewhere in the story;
# **instruction** features fire in twist stories before any twist is written, so they read the header's
# request. (The two were far apart in the first `laptop` run, and the bar that splits them was set from it;
# it sorts features for the text and decides no claim.) Horn & Elliott's SAEs read a
# 1-layer model's only MLP; ours reads the middle block of a deeper model. Every SAE but the base's first
# has the same seed, so each comparison with the base's first SAE is between two SAE seeds, as the
# control's is.

# %%
saes = train_saes(ch.cfg, sm, seed)
shared = shared_set(ch.cfg, sm)
saes_lens = lens(ch.cfg, sm, saes, shared)

# %% tags=["remove-input"]
ch.glue_all(
    {
        "threshold": ch.cfg.match_threshold,
        "top_stories": ch.cfg.top_stories,
        "twist_share": TWIST_SHARE,
        "event_selectivity": EVENT_SELECTIVITY,
        "tie": TIE,
        "tie2": 2 * TIE,
    }
)
saes.quality.style.format("{:.3f}")

# %% [markdown]
# The table above gives each SAE's quality on held-out stories: L0 (features active per token), the share of
# the activations' variance it explains, the share of the cross-entropy it recovers when it replaces the MLP
# (zero ablation as the floor) and the share of dead features. The next table compares each SAE with the
# base's first: its alive and Twist features, the share of all base features and of the base's Twist
# features it keeps (and the mean best r of the latter), and where its own features come from (*reused*:
# a match in the base's SAE; for its Twist features, also a match among the base's Twist features).

# %% tags=["remove-input"]
sae_findings = lens_findings(saes_lens, sm)
glue(ch, sae_findings)
table = saes_lens.table()
table.style.format("{:.2f}", subset=list(table.columns[2:]))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-10-persistence", "caption": "Share of the base SAE's features that another SAE keeps (best match r ≥ 0.8 on the shared stories): all alive base features (grey), the base's Twist event features (red) and its Twist instruction features (orange). First the seed control (a second SAE of the unchanged base: the ceiling), then, shaded, the SAEs of models that never had the capability (the \"Not in PT\" control and a random-init model: the floor). Dashed: the ceiling for all the base's Twist features; dotted: the floor."}}
plots.show(persistence_figure(table))

# %% [markdown]
# The base's SAE has {glue:text}`n_twist_base` Twist features among {glue:text}`n_alive_base` alive ones:
# {glue:text}`n_event` event and {glue:text}`n_instruction` instruction features. Their kind, their
# activation in twist sentences over elsewhere, the tokens where each fires most, and its best match in
# every other SAE:

# %% tags=["remove-input"]
twist_feature_table(saes_lens, sm.setting.tok).style.format(
    "{:.2f}", subset=[*saes_lens.corr, "in twist sentences / elsewhere"]
)

# %% tags=["hide-input"]
highlight(saes_lens, sm.setting.tok)

# %% [markdown]
# **The floor and the resolution.** The SAE of the "Not in PT" control keeps
# {glue:text}`not_in_pt_persist_twist:.0%` of the base's Twist features, that of the random-init model
# {glue:text}`random_persist_twist:.0%`: the floor is {glue:text}`floor_persist_twist:.0%`. The seed control
# keeps {glue:text}`ceiling_persist_twist:.0%`, so the lens's resolution, ceiling minus floor, is
# {glue:text}`resolution:.2f`. {glue:text}`resolution_reading`
#
# **What deletion does to them.** Over the F+R seeds the deleted models' SAEs keep
# {glue:text}`persist_twist:.0%` of the base's Twist features and {glue:text}`persist_all:.0%` of all its
# features; two SAEs of the unchanged base share {glue:text}`control_persist_twist:.0%` and
# {glue:text}`control_persist_all:.0%`. The deletion moved the dictionary by {glue:text}`moved_all:+.2f`
# (all base features kept, against the seed control): {glue:text}`moved_reading` By kind: the event features
# are kept at {glue:text}`persist_event:.0%` (seed control {glue:text}`control_persist_event:.0%`), the
# instruction features at {glue:text}`persist_instruction:.0%` (seed control
# {glue:text}`control_persist_instruction:.0%`). F's deleted model keeps {glue:text}`persist_twist_f:.0%` of
# the Twist features (F deletes little at this scale, chapter 5).
#
# **What reFT brings back.** Of the revived models' own Twist features, {glue:text}`reused_twist:.0%` match a
# feature of the base's SAE (of all their features: {glue:text}`reused_all:.0%`), and
# {glue:text}`from_base_twist:.0%` match one of the base's Twist features in particular. The control's
# fine-tune, which learned Twist from nothing, has {glue:text}`n_twist_control_ft` Twist features, and
# {glue:text}`floor_reuse_twist:.0%` of them match a base feature: that is the floor of reuse, against a
# ceiling of {glue:text}`ceiling_reuse_twist:.0%` (the seed control's Twist features).
# {glue:text}`reuse_reading`
#
# ## Lens 2: merging back as stopping the deletion early
#
# Horn & Elliott merge with SLERP; here the merge runs from the base (t = 0) to each F+R deleted model
# (t = 1), tensor by tensor with mergekit's rule (`instruments.merging.slerp_state_dict`). Along the path we
# measure the capability (the twist share of stories sampled from {glue:text}`n_prompts` held-out headers
# that ask for a twist, and the loss on twist stories) and the deletion's task (the loss on held-out F+R
# documents, the story tokens). Each run's merges are sampled as chapter 5 samples that run (its prompts and
# sampling seed), so the ends of the path are chapter 5's own evaluations: the base at the deletion's step 0
# and the deleted model at reFT's step 0.
#
# If the deletion lays a wrapper on gradually, merging back toward the base undoes it as stopping the
# deletion early would: the merge weight t* at which the twist share falls to 0.75 (chapter 5's bar for
# having the capability) should match k*/T, the share of the deletion's T = {glue:text}`ft_steps` steps at
# which its own twist share falls to 0.75 (chapter 5 evaluates the deletion at steps
# {glue:text}`delete_evals`). Both are interpolated linearly between their evaluations, and they agree when
# they lie within one spacing of the merge grid at t*. Beside it, chapter 5's reFT curve from the same deleted
# models: the data-driven way back.

# %%
path = merge_path(ch.cfg, sm, seed)
curve = reft_curve(sm)
deletion = deletion_curve(sm, path)
flips = flip_table(path, deletion, sm.cfg.ft_steps)
merge = merge_findings(path, curve, flips)
glue(ch, merge)

# %% tags=["remove-input"]
ch.glue_all(
    {
        "n_prompts": sm.cfg.n_prompts,
        "ft_steps": sm.cfg.ft_steps,
        "delete_evals": ", ".join(map(str, sm.cfg.delete_evals)),
    }
)
path_table(path)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-10-merge", "caption": "Left: the twist share when asked (red, left axis) along the SLERP path from the base (t = 0) to the F+R deleted model (t = 1), the deletion's own twist share at step k drawn at t = k / T (purple), and the loss on the deletion's own documents (blue) and on twist stories (green, right axis) along the path; mean over the deletion seeds, band their range. Right: reFT from the same deleted models (chapter 5), the twist share against the step. Dashed: 0.75, chapter 5's bar for having the capability."}}
plots.show(merge_figure(path, curve, deletion, sm.cfg.ft_steps))

# %% tags=["remove-input"]
show_flips(flips)

# %% [markdown]
# The base writes a twist in {glue:text}`base_twist:.0%` of its stories when asked, the deleted models in
# {glue:text}`deleted_twist:.0%`. The merge path's twist share crosses 0.75 at t* =
# {glue:text}`t_star_min:.2f` to {glue:text}`t_star_max:.2f` over the seeds; the deletion's own curve at
# k*/T = {glue:text}`k_frac_min:.2f` to {glue:text}`k_frac_max:.2f` (the table above gives each seed, the
# claim below whether they agree within the grid). reFT, with data, is back at 0.75 within
# {glue:text}`reft_back_min:g` to {glue:text}`reft_back_max:g` steps.
#
# Along the path the deletion's task trades against the capability: for F+R they are two answers to the same
# prompt (write a twist, or do not), and the table shows the loss on twist stories rising as the task's
# falls. At t = 0.5 the merges keep {glue:text}`kept_half:.0%` of the deletion's gain on its own documents
# ({glue:text}`kept_half_min:.0%` to {glue:text}`kept_half_max:.0%` over the seeds). That share is no test
# of Horn & Elliott's "a merge keeps its parents' abilities": the loss is close to convex along so short a
# path, and a convex function of t that falls from the base to the deleted model keeps at least half of
# its fall at the midpoint whatever the deletion did, so a claim "the midpoint keeps at least half" could not
# fail. (Horn & Elliott's Fig. 5 also merges two siblings fine-tuned from one base, not a base and its own
# fine-tune.) The book reports the share and claims nothing of it.
#
# ## Why not Zhang & Wu's decomposition
#
# Zhang & Wu split fine-tuning's change of log-likelihood on a document into shifts of the topic and style
# priors and the part left to the content ([chapter 6](06_topic_style_fact.ipynb)), with variants that
# change one factor. The story world can write such variants exactly, but on these fine-tunes the split has
# nothing to separate. The story fine-tunes shift no topic or style prior by construction: their documents
# are stories of the pretraining's own world, with its characters, places and narration. And the "content"
# (the story's ending, with a twist or without) is the trained behaviour itself: the F+R deletion learns to
# end a story that asks for a twist without one, and the contrasts that toggle the header's label or the
# ending each take away more than the whole change, so the residual is large and negative. A decomposition
# whose content part is the behaviour being measured restates that behaviour; it needs a fine-tune that does
# shift a prior (a sub-genre rare in pretraining, fine-tuned to), which these chapters do not train. The
# book's criteria page keeps the numbers of the `laptop` run that showed it.
#
# ## Claims
#
# The SAE and merge lenses test Jain et al.'s wrapper hypothesis with Horn & Elliott's instruments. They are
# our hypotheses, counted on the scorecard's "Beyond the papers" row, and judged under two preconditions
# recorded first: the base writes twists when asked (chapter 5's bar, 0.75, on each F+R run's prompts) and its
# SAE has Twist features. The SAE claims are judged against their floor and only where the lens resolves; the
# merge claim only where both curves cross 0.75. Values are per fine-tuning seed.

# %% tags=["remove-output"]
record(ch, ROWS, sae_findings, merge)

# %% tags=["remove-input"]
ch.finish()
