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
# | C | how many times O occurs in the last 40 positions |
# | CC | how many times O O occurs there |
# | I | index, counted back from `<eot>`, of the 6th occurrence of O (`<none>` if fewer) |
# | IC | the same for O O |
# | T | the token 40 positions before the end |
#
# The family is drawn uniformly and the operand from a prior over (a, b, c): P^L =
# (0.999, 0.001, 0), P^M = (0.9, 0.1, 0) and P^H = (0.5, 0.3, 0.2). Counting `a` (task C,
# O_PT = a) is the pretraining capability the next chapter's fine-tuning (count `b`) can
# reuse; the prior sets how well counting `b` itself was learned.

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
from ftscope.jain import pcfg
from ftscope.jain.pcfg_training import PcfgConfig, answer_logits, family_accuracy, pretrained

ch = Chapter("03_pcfg_pretraining", PcfgConfig, preset=preset, device=device, seed=seed, overrides=overrides)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
plots.style()

# %% [markdown]
# ## The grammar and its strings
#
# One derivation from the start symbol, and what a few thousand derivations look like:

# %%
print(pcfg.GRAMMAR_TEXT)
print("".join(pcfg.generate(rng)))

# %% tags=["hide-input"]
derivations = [pcfg.generate(rng) for _ in range(2000)]
lengths = np.array([len(d) for d in derivations])
letters = pd.Series([t for d in derivations for t in d]).value_counts(normalize=True).sort_index()
windows = pcfg.text_windows(rng, 4000, cfg.window)
span = pcfg.span_length(cfg.window, cfg.count_span)
tail = windows[:, -span:]
count_a, count_b = (tail == 0).sum(1), (tail == 1).sum(1)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
sns.histplot(lengths, ax=axes[0], bins=30)
axes[0].set(xlabel="derivation length (letters)", title="Derivations")
sns.barplot(x=letters.index, y=letters.values, ax=axes[1])
axes[1].set(ylabel="share", title="Letters")
sns.histplot(pd.DataFrame({"a": count_a, "b": count_b}), ax=axes[2], discrete=True, element="step")
axes[2].set(xlabel=f"count in the last {span} positions", title=f"Counts in a {cfg.window}-letter window")
fig.tight_layout()
ch.glue("len_min", int(lengths.min()))
ch.glue("len_median", float(np.median(lengths)))
ch.glue("natural_corr", float((count_b == count_a + 1).mean()))
ch.glue("span", span)
ch.glue("window", cfg.window)
ch.glue("none_share", float((pcfg.index_of_occurrence(windows, np.zeros(len(windows), int), cfg.occurrence) < 0).mean()))

# %% [markdown]
# Derivations are between {glue:text}`len_min` and a few hundred letters long (median
# {glue:text}`len_median:.0f`); texts are windows of {glue:text}`window` letters cut from a
# string of concatenated derivations. In {glue:text}`natural_corr:.0%` of natural windows
# count(b) already equals count(a) + 1, the relation the next chapter's fine-tuning data
# makes spurious; the fine-tuning sampler removes those windows from its uncorrelated
# share. In the counted span, `a` and `b` occur at similar rates, so the operand prior, not
# the text, decides how much pretraining practises counting each letter.
#
# A sequence of each family, with its answer (the token after `<art>`):

# %% tags=["hide-input"]
vocab = cfg.vocab
examples = []
for fam in pcfg.FAMILIES:
    op = -1 if fam == "T" else 0
    b = pcfg.make_batch(vocab, pcfg.text_windows(rng, 1, cfg.window), [pcfg.FAMILIES.index(fam)], [op],
                        cfg.count_span, cfg.occurrence)
    toks = vocab.decode(b.tokens[0])
    examples.append({"family": fam, "sequence": " ".join(toks), "answer": toks[b.answer_pos]})
pd.DataFrame(examples).set_index("family")

# %% [markdown]
# **Scale.** The paper uses a 250-letter window, in which the 40-position spans of C, CC
# and T sit inside the text. The `ci` preset uses a window of {glue:text}`window` letters:
# the counted span is then the whole window ({glue:text}`span` positions), T asks for the
# window's first letter, and the 6th occurrence that I and IC ask for is often missing
# (for `a`, in {glue:text}`none_share:.0%` of windows), so they answer `<none>` (IC almost
# always: pairs are rare). The numbers of the vocabulary still run to 40. Labels never
# point outside the window: they are computed on the window itself. C, the family the
# fine-tuning chapter reads, keeps its meaning; CC, I and IC become easier or trivial.
#
# ## Pretraining
#
# **Protocol** (the paper's, except where marked): a minGPT (pre-LayerNorm, GELU MLP of
# width 4·d, causal attention, learned positions), AdamW at the learning rate below with
# cosine decay to 1/100 after a 20% linear warmup, fresh samples every step. The paper
# gives no batch size or weight decay; we use the values shown (weight decay 0.1 is
# minGPT's default). **Deviations:** the loss is the cross-entropy of the answer token only
# (the paper does not say whether it also trains on the text); and at `ci` the model, the
# window and the number of steps are far smaller than the paper's (6 layers, 6 heads,
# d = 192, 250 letters, 200K steps).

# %% tags=["remove-input"]
pd.DataFrame({
    "ours": {"layers / heads / d": f"{cfg.n_layers} / {cfg.n_heads} / {cfg.d_model}", "window": cfg.window,
             "steps": cfg.pretrain_steps, "batch": cfg.pretrain_batch, "learning rate": cfg.pretrain_lr,
             "weight decay": cfg.weight_decay, "priors": ", ".join(cfg.priors) + ", b_only", "device": dev.type},
    "paper": {"layers / heads / d": "6 / 6 / 192", "window": 250, "steps": "200K (also 10K-100K)",
              "batch": "not found", "learning rate": 1e-3, "weight decay": "not found", "priors": "P^L, P^M, P^H",
              "device": "GPU"}}).astype(str)

# %% [markdown]
# Besides the three priors, we pretrain a model with prior (0, 1, 0), which never sees the
# operand `a`: it is the starting point of the Scr.+FT baseline of the next chapter.
# Checkpoints are cached by a hash of their configuration and the code that trains them,
# so the next chapter (and any re-run) reuses them.

# %%
PRIORS_RUN = (*cfg.priors, "b_only")
models, logs = {}, {}
for prior in PRIORS_RUN:
    models[prior], logs[prior], cached = pretrained(cfg, prior, seed, dev)
    print(f"{prior}: {'from the cache' if cached else 'trained'}; final loss {logs[prior].final_loss:.3f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.4))
for prior in PRIORS_RUN:
    frame = logs[prior].frame()
    ax.plot(frame["step"], frame["loss"].rolling(5, min_periods=1).mean(), label=f"{prior} {pcfg.PRIORS[prior]}")
ax.set(xlabel="step", ylabel="answer loss", yscale="log", title="Pretraining loss")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## What each prior taught
#
# Accuracy of each pretrained model on fresh samples of every family and operand:

# %%
eval_rng = np.random.default_rng(seed + 20_000)
acc = pd.DataFrame({prior: family_accuracy(cfg, models[prior], eval_rng, cfg.eval_samples) for prior in PRIORS_RUN})

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(8, 4.2))
sns.heatmap(100 * acc.T, annot=True, fmt=".0f", cmap="mako", vmin=0, vmax=100, cbar=False, ax=ax)
ax.set(title="Accuracy (%) by family and operand", ylabel="prior")
fig.tight_layout()

# %% [markdown]
# The row the paper reports (Table 5, "before fine-tuning") is task C for `a` and for `b`.
# Ours beside the paper's at 200K and 50K pretraining steps:

# %% tags=["hide-input"]
PAPER_TABLE5_PT = pd.DataFrame(  # Jain et al. 2024, Table 5: count-b accuracy (%) before fine-tuning
    {"count b, 200K steps": {"low": 27.1, "medium": 99.9, "high": 99.9},
     "count b, 50K steps": {"low": 5.17, "medium": 15.8, "high": 99.7},
     "count a": {"low": 100.0, "medium": 100.0, "high": 100.0}})
ours_pt = pd.DataFrame({"count a (ours)": 100 * acc.loc["C a", list(cfg.priors)],
                        "count b (ours)": 100 * acc.loc["C b", list(cfg.priors)]})
ours_pt.join(PAPER_TABLE5_PT).round(1)

# %% tags=["remove-cell"]
count_b = acc.loc["C b", list(cfg.priors)]
count_a = acc.loc["C a", list(cfg.priors)]
# the priors in order of P(b): does count-b accuracy rise with it?
by_pb = sorted(cfg.priors, key=lambda p: pcfg.PRIORS[p][1])
rises = bool(all(count_b[p] < count_b[q] for p, q in zip(by_pb, by_pb[1:])))
ch.glue("count_b_top", float(count_b[by_pb[-1]]))
ch.glue("top_prior", by_pb[-1])
ch.glue("count_a_min", float(count_a.min()))
for p in cfg.priors:
    ch.glue(f"count_b_{p}", float(count_b[p]))
ch.glue("count_b_se", float(2 * np.sqrt(0.25 / cfg.eval_samples)))
ch.glue("eval_samples", cfg.eval_samples)
ch.glue("b_only_count_a", float(acc.loc["C a", "b_only"]))
ch.glue("b_only_count_b", float(acc.loc["C b", "b_only"]))
ch.glue("pretrain_steps", cfg.pretrain_steps)
ask_b = cfg.counter_batch(eval_rng, 0.0, cfg.eval_samples).to(dev)
with torch.no_grad():
    said = answer_logits(models["low"], ask_b).argmax(-1)
ch.glue("low_b_says_a", float((said == ask_b.label_pt).float().mean()))
ch.glue("low_b_says_b", float((said == ask_b.label_ft).float().mean()))
ch.glue("a_equals_b", float((ask_b.label_pt == ask_b.label_ft).float().mean()))
ch.glue("pretrain_batch", cfg.pretrain_batch)

# %% [markdown]
# Counting `a` is learned under every prior (worst {glue:text}`count_a_min:.0%`). Counting
# `b` follows the prior: {glue:text}`count_b_low:.0%` under the low prior, where pretraining
# almost never asks about `b`, against {glue:text}`count_b_top:.0%` under the
# {glue:text}`top_prior` prior. Asked to count `b` on texts where count(b) ≠ count(a) + 1,
# the low-prior model answers count(a) {glue:text}`low_b_says_a:.0%` of the time and
# count(b) {glue:text}`low_b_says_b:.0%` (the two counts coincide in
# {glue:text}`a_equals_b:.0%` of these texts). The
# b-only model counts `b` ({glue:text}`b_only_count_b:.0%`) but not `a`
# ({glue:text}`b_only_count_a:.0%`), as the baseline needs. The paper's 50K-step row shows
# that how well count-b is learned also depends on the length of pretraining; ours ran
# {glue:text}`pretrain_steps` steps of batch {glue:text}`pretrain_batch`.
#
# The paper's claim is that count-b accuracy rises with the prior on `b`; its own
# 200K-step row ties the medium and high priors (99.9% each). Ours:
# {glue:text}`count_b_low:.1%` (low), {glue:text}`count_b_medium:.1%` (medium),
# {glue:text}`count_b_high:.1%` (high), each from {glue:text}`eval_samples` samples
# (two standard errors at most ±{glue:text}`count_b_se:.1%`). The claim below asks for a
# strict rise across all three priors; where the medium and high priors come out within
# sampling error of each other, as in the paper, its verdict says more about the noise
# than about the prior.
#
# ## Claims

# %% tags=["remove-output"]
ch.claim(id="pcfg_pt_count_a", paper="jain2024", reference="Table 5",
         statement="Every prior's pretrained model counts a (task C, worst prior)",
         paper_value=1.0, ours=float(count_a.min()), criterion=at_least(0.9),
         note=f"{cfg.pretrain_steps} pretraining steps at {preset} (paper: 200K)")
ch.claim(id="pcfg_pt_count_b_rises", paper="jain2024", reference="Table 5",
         statement="Pretrained count-b accuracy rises with the prior on b (low < medium < high)",
         paper_value=None, ours=rises, criterion=is_true(),
         note="paper: 27.1% / 99.9% / 99.9% at 200K steps, 5.17% / 15.8% / 99.7% at 50K; ours: "
              + ", ".join(f"{p} {count_b[p]:.1%}" for p in by_pb))
ch.claim(id="pcfg_pt_count_b_low", paper="jain2024", reference="Table 5",
         statement="Under the low prior (P(b) = 0.001) count-b is poorly learned",
         paper_value=0.271, ours=float(count_b["low"]), criterion=at_most(0.5))
ch.claim(id="pcfg_pt_count_b_high", paper="jain2024", reference="Table 5",
         statement="Under the high prior (P(b) = 0.3) count-b is learned",
         paper_value=0.999, ours=float(count_b["high"]) if "high" in cfg.priors else None, criterion=at_least(0.9),
         note=f"{cfg.pretrain_steps} pretraining steps at {preset} (paper: 200K)")

# %% tags=["remove-input"]
ch.finish()
