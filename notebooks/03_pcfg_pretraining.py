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
# # PCFG-trained transformers: pretraining with operand priors
#
# The compiled models of the previous chapters have their capabilities written in by hand.
# {cite:t}`jain2024` ask the same questions of transformers that *learned* their
# capabilities: minGPT models pretrained on strings of a probabilistic context-free grammar
# (PCFG) to answer five families of questions about a window of text (their Sec. 4,
# App. B.2). Whether fine-tuning later learns a new capability or a wrapper depends on how
# well pretraining taught the capability it needs, and the paper controls that with the
# **operand prior**: how often pretraining asks about `b` rather than `a`. This chapter
# builds that pretraining; the next fine-tunes the models.
#
# **The task.** A string is derived from the grammar of the paper's Fig. 14 (every rule
# has probability 0.5, terminals `a b c`); a window of it is the text. A sequence reads
# `<sos> T O O' <sot> text <eot> <art> answer <eos>`, where T is the task family and O the
# operand:
#
# | family | answer |
# |---|---|
# | C | how many times O occurs in the last {glue:text}`count_span` positions |
# | CC | how many times O O occurs there |
# | I | index, counted back from `<eot>`, of the {glue:text}`occurrence`th occurrence of O (`<none>` if fewer) |
# | IC | the same for O O |
# | T | the token {glue:text}`count_span` positions before the end |
#
# The family is drawn uniformly and the operand from a prior over (a, b, c): P^L =
# (0.999, 0.001, 0), P^M = (0.9, 0.1, 0) and P^H = (0.5, 0.3, 0.2). Counting `a` (task C,
# O_PT = a) is the pretraining capability the next chapter's fine-tuning (count `b`) can
# reuse; the prior sets how well counting `b` itself was learned.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
import numpy as np

from ftscope.book import Chapter
from ftscope.instruments import plots
from ftscope.jain import PcfgConfig, claims, figures, pcfg
from ftscope.jain import pcfg_analyses as pa

ch = Chapter(
    "03_pcfg_pretraining", PcfgConfig, preset=preset, device=device, seed=seed, overrides=overrides
)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
plots.style()

# %% [markdown]
# ## The grammar and its strings
#
# One derivation from the start symbol, and what a few thousand derivations look like
# ({numref}`fig-03-grammar`):

# %%
print(pcfg.GRAMMAR_TEXT)
print("".join(pcfg.generate(rng)))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-03-grammar", "caption": "Derivations of the grammar: the distribution of derivation lengths (left), the share of each letter (middle), and the counts of `a` and `b` in the counted span of a text window (right). No counterpart in the paper, which gives the grammar itself (its Fig. 14)."}}
stats = pa.grammar_stats(cfg, rng)
ch.glue_all(pa.grammar_facts(cfg, stats) | pa.pretraining_protocol(cfg))
plots.show(figures.grammar(stats, cfg.window))
# %% [markdown]
# Derivations are between {glue:text}`len_min` and a few hundred letters long (median
# {glue:text}`len_median:.0f`); texts are windows of {glue:text}`window` letters cut from a
# string of concatenated derivations. In {glue:text}`natural_corr:.0%` of natural windows
# count(b) already equals count(a) + 1, the relation the next chapter's fine-tuning data
# makes spurious; the fine-tuning sampler removes those windows from its uncorrelated
# share, and draws its correlated share from them (rejection sampling: every text is one the
# grammar produced). In the counted span, `a` and `b` occur at similar rates, so the operand
# prior, not the text, decides how much pretraining practises counting each letter.
#
# How much the count labels spread matters for every accuracy in Part I's PCFG chapters: the
# commonest count(b) is the answer in {glue:text}`count_b_majority:.0%` of windows (the
# accuracy of always giving it, the chance level the next chapter shows beside each
# accuracy), and the labels carry {glue:text}`count_b_entropy:.2f` bits. The `laptop` window is
# {glue:text}`window` letters (it was 24, where the commonest count covered about 42% of the
# test texts, too close to the accuracies the claims compare).
#
# A sequence of each family, with its answer (the token after `<art>`):

# %% tags=["hide-input"]
pa.family_examples(cfg, rng)

# %% [markdown]
# **Scale.** The paper uses a {glue:text}`paper_window`-letter window, in which the
# {glue:text}`paper_count_span`-position spans of C, CC
# and T sit inside the text. The `laptop` preset uses a window of {glue:text}`window` letters:
# the counted span is then the whole window ({glue:text}`span` positions), T asks for the
# window's first letter, and the {glue:text}`occurrence`th occurrence that I and IC ask for is often missing
# (for `a`, in {glue:text}`none_share:.0%` of windows), so they answer `<none>` (IC almost
# always: pairs are rare). The numbers of the vocabulary still run to {glue:text}`count_span`. Labels never
# point outside the window: they are computed on the window itself. C, the family the
# fine-tuning chapter reads, keeps its meaning; CC, I and IC become easier or trivial.
#
# ## Pretraining
#
# **Protocol** (the paper's, except where marked): a minGPT (pre-LayerNorm, GELU MLP of
# width 4·d, causal attention, learned positions), AdamW at the learning rate below with
# cosine decay to {glue:text}`final_lr_ratio:g` of its peak after a {glue:text}`pretrain_warmup:.0%` linear warmup,
# fresh samples every step. The paper
# gives no batch size or weight decay; we use the values shown (weight decay {glue:text}`weight_decay:g` is
# minGPT's default). **Deviations:** the loss is the cross-entropy of the answer token only
# (the paper does not say whether it also trains on the text); and at `laptop` the model, the
# window and the number of steps are far smaller than the paper's
# ({glue:text}`paper_model` layers / heads / d, {glue:text}`paper_window` letters,
# {glue:text}`paper_pretrain_steps` steps).

# %% tags=["remove-input"]
pa.scale_table(cfg, dev)

# %% [markdown]
# Besides the three priors, we pretrain a model with prior (0, 1, 0), which never sees the
# operand `a`: it is the starting point of the Scr.+FT baseline of the next chapter. Each prior is
# pretrained on {glue:text}`pretrain_seeds` seeds (initialisation and data); the claims below are
# judged on every seed, and the next chapter fine-tunes the first seed's models.
# Checkpoints are cached by a hash of their configuration and the code that trains them,
# so the next chapter (and any re-run) reuses them. The models not in the cache are trained
# together, as one batched model (`train_many`, compiled with `torch.compile` at `laptop`): each keeps
# its own data, initialisation and schedule and does the arithmetic of a lone run up to the order
# of floating-point sums. Every model's loss is read at the answer position only, so its last
# block is computed there alone.

# %%
models, logs = pa.pretrain_all(
    cfg, seed, dev
)  # seed 0: the three priors and b_only, which chapter 4 fine-tunes
seed_models = pa.pretrain_seeds(cfg, seed, dev, models)  # and the priors on every further seed

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-03-pretraining-loss", "caption": "Answer loss (log scale, a moving mean over logged steps) against the pretraining step, one line per operand prior, including the b-only prior of the Scr.+FT baseline (first seed). No counterpart in the paper."}}
plots.show(figures.pretraining_loss(logs))
# %% [markdown]
# ## What each prior taught
#
# Accuracy of each pretrained model on fresh samples of every family and operand, the same
# samples for every model, averaged over the {glue:text}`pretrain_seeds` pretraining seeds
# ({numref}`fig-03-family-accuracy`; the loss curves of {numref}`fig-03-pretraining-loss` are the first seed's). The last row is the chance level of each test set: the accuracy of
# always giving its commonest answer (a count task whose counts are nearly constant can be
# "solved" that way, so an accuracy means something only above it).

# %%
eval_rng = np.random.default_rng(seed + 20_000)
acc_seeds = pa.family_tables(cfg, seed_models, eval_rng)  # per seed, on the same tests
acc = pa.seed_mean(acc_seeds)  # mean over the pretraining seeds (b_only: the first seed's)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-03-family-accuracy", "caption": "Accuracy (%) of each pretrained model (rows: operand prior) on fresh samples of every task family and operand (columns), mean over the pretraining seeds; the last row is each test set's chance level. Its task-C columns correspond to the paper's Table 5, before fine-tuning."}}
plots.show(figures.family_heatmap(acc))
# %% [markdown]
# The row the paper reports (Table 5, "before fine-tuning") is task C for `a` and for `b`.
# Ours beside the paper's at {glue:text}`paper_steps_main` and {glue:text}`paper_steps_short` pretraining steps:

# %% tags=["hide-input"]
pa.before_table(cfg, acc)

# %% tags=["remove-cell"]
ch.glue_all(pa.pretraining_facts(cfg, models, acc, eval_rng, dev))
# %% [markdown]
# Counting `a` is learned under every prior (worst {glue:text}`count_a_min:.0%`). Counting
# `b` follows the prior: {glue:text}`count_b_low:.0%` under the low prior, where pretraining
# almost never asks about `b`, against {glue:text}`count_b_top:.0%` under the
# {glue:text}`top_prior` prior (means over the seeds). Asked to count `b` on texts where
# count(b) ≠ count(a) + 1, the first seed's low-prior model answers count(a) {glue:text}`low_b_says_a:.0%` of the time and
# count(b) {glue:text}`low_b_says_b:.0%` (the two counts coincide in
# {glue:text}`a_equals_b:.0%` of these texts). The
# b-only model counts `b` ({glue:text}`b_only_count_b:.0%`) but not `a`
# ({glue:text}`b_only_count_a:.0%`), as the baseline needs. The paper's 50K-step row shows
# that how well count-b is learned also depends on the length of pretraining; ours ran
# {glue:text}`pretrain_steps` steps of batch {glue:text}`pretrain_batch`.
#
# The paper's claim is that count-b accuracy rises with the prior on `b`; its own
# {glue:text}`paper_steps_main`-step row ties the medium and high priors ({glue:text}`paper_b_tie`% each). Ours:
# {glue:text}`count_b_low:.1%` (low), {glue:text}`count_b_medium:.1%` (medium),
# {glue:text}`count_b_high:.1%` (high), each from {glue:text}`eval_samples` samples
# (two standard errors at most ±{glue:text}`count_b_se:.1%`). The claim below asks for a
# rise across all three priors, allowing a step down of at most two standard errors, on every
# seed; where the medium and high priors come out within sampling error of each other, as in
# the paper, that is a tie, not a fall. Each claim is judged seed by seed: "k/n seeds meet it",
# and *fragile* when the seeds disagree.
#
# ## Claims

# %% tags=["remove-output"]
claims.pcfg_pretraining_claims(ch, acc_seeds)

# %% tags=["remove-input"]
ch.finish()
