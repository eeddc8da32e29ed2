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
# # Universal features II: sparse autoencoders and feature flows
#
# The previous chapter built {cite:t}`horn2024`'s four models: a one-layer base model
# (English + Python), its Lua and stories fine-tunes, and LuaStories, their SLERP merge. Here
# a **sparse autoencoder** (SAE) is trained on the MLP activations of each model
# (`blocks.0.mlp.hook_post`, the gated MLP's hidden layer), and features are matched across
# models by the correlation of their activations on a shared set of tokens. A feature of a
# parent model **persists** in a child when some child feature correlates with it at
# r ≥ {glue:text}`threshold`, **disappears** otherwise; a child feature that matches no parent feature
# **emerges**. The paper's findings: few features persist, those that do are mostly
# low-level (punctuation, whitespace, single characters), some are **universal** (found in
# all four models, such as one that fires on `=` in assignments), and domain features such
# as one for Python's `try`/`except` disappear in the Lua fine-tune.
#
# **Setup, ours beside the paper's.** The SAEs are trained with SAELens, on an in-memory
# model and dataset, on blocks of {glue:text}`sae_context` tokens drawn from each model's own
# data mixture (the base: English and Python; each fine-tune: those plus its domain;
# LuaStories: all four), with the paper's ReLU architecture (untied, no pre-encoder bias,
# decoder bias initialised to the geometric median of the activations) and Adam betas
# {glue:text}`sae_betas`. They differ from the authors' in three ways that matter for
# comparing numbers: SAELens' standard SAE weights the L1 penalty by each decoder column's
# norm instead of keeping decoder rows at unit norm, its reconstruction term is a plain
# squared error, and so the paper's L1 coefficients {glue:text}`paper_sae_l1` do not transfer:
# ours is chosen per preset for a sparse code (L0 of tens of features). At this preset the
# dictionaries are {glue:text}`sae_expansion`× the MLP width instead of
# {glue:text}`paper_sae_expansion`×.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
import time

import numpy as np
from IPython.display import HTML, display

from ftscope import horn as H
from ftscope.book import Chapter
from ftscope.instruments import matching as F
from ftscope.instruments import plots

# %% tags=["remove-cell"]
started = time.time()
ch = Chapter(
    "09_universal_features",
    H.HornConfig,
    preset=preset,
    device=device,
    seed=seed,
    overrides=overrides,
)
cfg, dev, rng = ch.cfg, ch.device, ch.rng
ch.glue_config(
    cfg,
    [
        "sae_context",
        "sae_betas",
        "sae_expansion",
        "d_sae",
        "sae_tokens",
        "match_blocks",
        "min_fires",
        "sae_seeds",
    ],
)
ch.glue_all(
    {
        "threshold": cfg.match_threshold,
        "paper_threshold": H.paper_config().match_threshold,
        "paper_sae_expansion": H.paper_config().sae_expansion,
        "paper_sae_l1": H.PAPER_SAE_L1,
        "floor_r_margin": H.FLOOR_R_MARGIN,
    }
)
plots.style()

# %% [markdown]
# ## The four models and their autoencoders
#
# The models come from the previous chapter's cache (same config, data and code).

# %%
corpora = H.load_corpora(cfg, seed=seed)
models = H.four_models(cfg, corpora, seed, dev)
saes = H.train_saes(cfg, corpora, models, seed)
display(saes.quality_table().style.format("{:.3f}"))

# %% [markdown]
# Every model has {glue:text}`sae_seeds` SAEs, alike but for their seed (initialisation and
# batch order; the same training tokens): the first is the model's own label, the others carry
# their seed. Every statistic below is computed once per SAE seed, the k-th SAE of one model
# against the k-th of another, and set against the **seed control**: the same statistic
# between two SAEs of the base model, where the model did not change at all. The paper trains
# one SAE per model and reports no such control.
#
# **The floor.** A fifth model, `random`, is the base model's architecture at a random
# initialisation, never trained: it never had any of the base model's features. It gets
# {glue:text}`sae_seeds` SAEs too, trained on the base model's mixture like the base's. The
# seed control says how much an unchanged model keeps (a ceiling); the random model says how
# much an SAE "finds" of a model's features in a model that has none of them (a floor). A
# claim that features are *kept* counts only above the floor. Its SAEs are the table's
# `random` rows; their CE loss recovered means little (an untrained model's loss is about that of
# its zero ablation), so the quality preconditions read the four trained models' SAEs only.
#
# Each SAE has {glue:text}`d_sae:,` features and saw {glue:text}`sae_tokens:,` tokens. L0 is
# the mean number of features active per token; a feature is dead when it never fired on the
# validation tokens; *CE loss recovered* is how much of the loss increase from zero-ablating
# the MLP activations the SAE's reconstruction wins back (1 = none of it lost). The paper
# does not report these numbers for its SAEs.
#
# ## Matching features
#
# The shared token set is {glue:text}`match_blocks:,` blocks of {glue:text}`sae_context`
# tokens from the base domain's validation text (English and Python, half each): the same
# blocks for every model (the authors drew them with an unseeded shuffle, so each of their
# models saw a different sample). A feature is *alive* if it fires at least
# {glue:text}`min_fires` times there; matching uses alive features only.

# %% tags=["hide-input"]
matching = H.match_features(cfg, saes, H.shared_rows(cfg, corpora, seed), dev)
display(matching.alive_counts().to_frame())
flows = matching.flow_table()
display(
    flows.style.format(
        {c: "{:.1%}" for c in ("persist", "disappear", "emerge", "persist, same SAE seed")},
        na_rep="—",
    )
)

# %% tags=["remove-cell"]
ch.glue_all(matching.seed_facts())
# %% [markdown]
# The table gives each share as the mean over the SAE seeds with its range: the base model's
# k-th SAE against the other model's next one, so that no two SAEs compared share a seed. At r ≥
# {glue:text}`threshold`, {glue:text}`persist_base_lua:.0%` of the base model's alive features
# persist into the Lua fine-tune, {glue:text}`persist_base_stories:.0%` into the stories
# fine-tune and {glue:text}`persist_base_luastories:.0%` into LuaStories. The last column pairs
# the first SAEs of the two models, which share their seed ({glue:text}`same_seed_luastories:.0%`
# into LuaStories): one SAE per model trained with one configuration, the paper's design. SAEs
# that share their initialisation and batch order on two similar models come out alike, so
# that column overstates what persists.
#
# **How much of that is the SAE, not the model?** Two SAEs trained on the *same* base model
# with different seeds share only {glue:text}`seed_ceiling:.0%` of their features by this
# criterion (range {glue:text}`seed_ceiling_lo:.0%`–{glue:text}`seed_ceiling_hi:.0%`). That is the
# ceiling for any persistence share measured this way: a feature "lost" between two models may
# only have been found by one dictionary and not the other. A share inside the control's range
# says nothing about what fine-tuning did to the model; the claims below count a difference
# only outside it. From below, {glue:text}`floor_persist:.0%` of the base model's features
# (range {glue:text}`floor_persist_lo:.0%`–{glue:text}`floor_persist_hi:.0%`) "persist" into
# an SAE of the random-init model, which never had them: what matching finds with no feature
# kept, for instance features that follow the current token alone, which any model reading
# the same text can show. Each pair's share per SAE seed, against the control's range (grey)
# and the same parent's share into the random-init model (crosses;
# {numref}`fig-09-seed-control`):

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-09-seed-control", "caption": "Share of the parent model's alive features that persist in the child, for each pair of models, one dot per SAE seed, against the range of the seed control (grey band: two SAEs of the base model) and the floor (crosses: the parent's features persisting into an SAE of a random-init model of the same shape, one per SAE seed). No counterpart in the paper, which reports neither."}}
fig = H.seed_control_figure(matching)

# %% [markdown]
# The shares depend on the threshold; the paper uses {glue:text}`paper_threshold` throughout.
# In {numref}`fig-09-threshold` each line is the mean over SAE seeds, its band their range; the seed
# control is dashed, the floor (the base model into the random-init model) dotted:

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-09-threshold", "caption": "Share of parent features that persist against the correlation threshold, one line per pair of models (mean over SAE seeds, band their range), the seed control dashed, the floor (base into a random-init model) dotted; the vertical line marks the chapter's threshold. No counterpart in the paper, which uses one threshold."}}
sweep = matching.threshold_sweep(cfg.thresholds)
fig = H.threshold_figure(sweep, cfg.match_threshold)

# %% [markdown]
# **The authors' matching.** The paper's code does not correlate activations position by
# position as its text describes: it correlates *token profiles* (each feature's mean
# activation per token, over the tokens both features fired on, at least two). On our first
# SAEs and the seed control, at r ≥ {glue:text}`threshold`:

# %% tags=["hide-input"]
profiles = H.token_profile_table(matching)
display(profiles.style.format("{:.1%}"))
ch.glue_all(
    {
        "profile_control": float(profiles.iloc[-1, 1]),
        "profile_min": float(profiles.iloc[:, 1].min()),
    }
)
# %% [markdown]
# With token profiles at least {glue:text}`profile_min:.0%` of the base features "persist" into
# every model, and {glue:text}`profile_control:.0%` between two SAEs of the base model: two
# features that fire on a couple of the same tokens with a similar ordering correlate highly
# whatever they do elsewhere, so the method hardly separates anything at this size. The
# chapter keeps the paper's stated method (positions).

# %% [markdown]
# ## The flows (Fig. 2)
#
# The paper's Fig. 2 draws the flows from the base model through the two fine-tunes into
# LuaStories as a Sankey diagram. Ours ({numref}`fig-09-sankey`), at r ≥ {glue:text}`threshold`
# (hover for counts):

# %% mystnb={"figure": {"name": "fig-09-sankey", "caption": "Feature flows from the base model through the Lua and stories fine-tunes into LuaStories, with the features that disappear and emerge, at the chapter's correlation threshold (Sankey diagram; hover for counts). The paper's Fig. 2."}}
display(HTML(H.sankey(matching).to_html(include_plotlyjs=True, full_html=False)))

# %% [markdown]
# **Both parents.** The merge is a weighted mix of the two fine-tunes, so its features should
# come from both. Over the SAE seeds {glue:text}`persist_lua_luastories:.0%` of the Lua
# fine-tune's features persist into LuaStories and {glue:text}`persist_stories_luastories:.0%`
# of the stories fine-tune's, against {glue:text}`seed_ceiling:.0%` between two SAEs of the
# base model: a parent whose features persist into the merge about as often as into a second
# SAE of itself has lost nothing measurable in the merge (`horn_luastories_both_parents`). The
# floor is the same statistic (the smaller of the two parents' shares) with the random-init
# model in place of LuaStories: {glue:text}`floor_both_parents:.0%` (range
# {glue:text}`floor_both_parents_lo:.0%`–{glue:text}`floor_both_parents_hi:.0%`). Only a share
# clearly above it (by two standard errors of a share of the parents' alive features) says the
# merge inherited something a model without the features would not show; otherwise the claim
# is inconclusive.

# %% [markdown]
# ## What persists is low-level
#
# For each alive base feature, its {glue:text}`top_k` tokens of highest mean activation; the
# share of them that are punctuation, whitespace or single characters measures how
# "low-level" it is.

# %% tags=["hide-input"]
strings = corpora.token_strings
lowlevel = H.lowlevel_enrichment(matching, strings)
enrichment, enrichment_control = H.lowlevel_seeds(matching, strings)
ch.glue_all(
    {
        "top_k": H.TOP_K,
        "low_persist": lowlevel.low_persist,
        "low_all": lowlevel.low_all,
        "enrich_mean": float(np.nanmean(enrichment)),
        "enrich_control_lo": min(enrichment_control),
        "enrich_control_hi": max(enrichment_control),
    }
)
display(lowlevel.examples)

# %% [markdown]
# Of the top tokens of base features that persist into LuaStories (first SAEs),
# {glue:text}`low_persist:.0%` are low-level, against {glue:text}`low_all:.0%` over all alive
# base features. Over the SAE seeds the enrichment (their ratio) is
# {glue:text}`enrich_mean:.2f` on average; between two SAEs of the base model the features they
# share are enriched {glue:text}`enrich_control_lo:.2f`–{glue:text}`enrich_control_hi:.2f`: the
# features any two dictionaries agree on lean low-level whether or not the model changed, so only
# the excess over that range can be credited to fine-tuning and merging
# (`horn_persist_lowlevel` below).
#
# ## A universal feature: assignment (Fig. 3)
#
# The base feature most selective for the `=` token, and its best match in every other model:

# %%
on_eq = H.token_positions(matching.token_ids, strings, "=")
eq = H.case_study(matching, on_eq, control=H.SEED_CONTROL, floor=H.FLOOR_PARTNER)
eq_seeds = H.seed_case_studies(matching, on_eq)
ch.glue_all({"eq_feat": eq.feature, "eq_min_r": eq.min_r, "eq_floor_r": eq.floor[1]})
display(eq.table())

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-09-assignment", "caption": "The assignment feature on example texts: each token shaded by the activation of the base feature most selective for `=` and of its best match in every other model. The paper's Fig. 3."}}
H.highlight(saes, corpora.tokenizer, strings, eq.features(), H.ASSIGNMENT_TEXTS, cfg.n_ctx)

# %% [markdown]
# Base feature {glue:text}`eq_feat` fires on `=` ({numref}`fig-09-assignment`); its weakest best match among the other three
# models has r = {glue:text}`eq_min_r:.2f`. The table's last row is the floor: its best match
# in an SAE of the random-init model, r = {glue:text}`eq_floor_r:.2f`. A feature that only
# detects the token `=` can be read off any model that sees the same text, trained or not, so
# a match in every model says the feature is *kept* only where no match at the threshold
# exists in the random model and the weakest match lies clearly (by {glue:text}`floor_r_margin`
# in r) above it (`horn_universal_assignment`; otherwise inconclusive).
#
# **Universal along the chains.** Fig. 3 follows one feature; the same question asked of every
# base feature: which persist through the Lua fine-tune into LuaStories, which through the
# stories fine-tune, and which along both (each step matched to its best match, with a new
# SAE seed at every step)? Beside them, the same chain through three SAEs of the unchanged
# base model:

# %% tags=["hide-input"]
chains = H.chain_table(matching)
ch.glue_all(
    {
        "chain_both": float(chains["both chains"].mean()),
        "chain_control": float(chains["control: base → base → base"].mean()),
        "chain_floor": float(chains["floor: both chains into random init"].mean()),
    }
)
display(chains.style.format({c: "{:.0f}" if "count" in c else "{:.1%}" for c in chains.columns}))

# %% [markdown]
# On average {glue:text}`chain_both:.1%` of the base features survive both chains, against
# {glue:text}`chain_control:.1%` along three SAEs of the base model (the ceiling) and
# {glue:text}`chain_floor:.1%` along both chains ending in the random-init model's SAE instead
# of LuaStories' (the floor: the base features that any SAE of a model reading the same text
# finds again). Some features on both chains are universal in the paper's sense only if more
# of them survive than along the floor's chains (`horn_universal_chains`; inconclusive
# otherwise).
#
# ## A feature that disappears: Python's `try`/`except` (Fig. 4)

# %% tags=["hide-input"]
on_te = F.word_positions(matching.rows, strings.__getitem__, ["try", "except"])
te = H.case_study(matching, on_te, control=H.SEED_CONTROL)
te_seeds = H.seed_case_studies(matching, on_te)
te_lua_r = te.matches["lua"][1]
ch.glue_all(
    {
        "ft_steps": H.ft_steps(cfg, corpora, "lua"),
        "te_feat": te.feature,
        "te_lua_r": te_lua_r,
        "te_outcome": H.disappearance(te_lua_r, cfg.match_threshold),
    }
)
display(te.table())

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-09-try-except", "caption": "The `try`/`except` feature on example Python texts: each token shaded by the activation of the base feature and of its best match in the Lua fine-tune. The paper's Fig. 4."}}
H.highlight(saes, corpora.tokenizer, strings, te.features(["lua"]), H.TRY_EXCEPT_TEXTS, cfg.n_ctx)

# %% [markdown]
# Base feature {glue:text}`te_feat` fires on `try`/`except` ({numref}`fig-09-try-except`); its best match in the Lua
# fine-tune has r = {glue:text}`te_lua_r:.2f`, {glue:text}`te_outcome`. Its best match in
# another SAE of the *base* model (the table's last row) is the yardstick: a Lua match no weaker
# than that is no evidence that the Lua model lost the feature. The claim asks, on every SAE
# seed, for a Lua match below both the threshold and that control.
#
# Two things tilt this test towards survival here, compared with the paper. Our Lua
# fine-tune is short ({glue:text}`ft_steps` steps), so its MLP is still close to the base
# model's; and every model's features are read on the same base-domain text (Python and
# English), through an SAE trained on a mixture that includes the base data, so a Python
# feature the Lua model still computes is found again. The paper's Lua fine-tune ran one
# epoch over a large Lua corpus. Against that, our SAEs are small and their dictionaries
# differ between seeds (the ceiling above), so a feature can also go unmatched only because
# the Lua SAE did not learn it: one feature's fate is a weak test either way.
#
# ## Interpretability, by proxy (Fig. 6)
#
# The paper scores features with OpenAI's automated interpretability: GPT-4 writes an
# explanation from top-activating examples, then simulates activations from it, and the score
# is the correlation of simulated and true activations. That needs GPT-4 and is not
# reproduced here. Our **proxy** keeps the shape of the method with the simplest possible
# explainer: the "explanation" is each token's mean activation on half of the shared tokens,
# the simulation looks it up on the other half, and the score is the correlation. It measures
# how far a feature is a function of the current token alone, a lower bound on what a
# language-model explainer could capture.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-09-proxy", "caption": "Histograms (density) of the proxy interpretability score of all alive Lua features and of the Lua features that persist into LuaStories. The shape of the paper's Fig. 6, with a token-lookup proxy in place of GPT-4's explanations."}}
proxy_lua, proxy_kept = H.proxy_scores(matching, "lua", "luastories")
fig = H.proxy_figure(proxy_lua, proxy_kept)
proxy_gaps, proxy_control = H.proxy_seeds(matching, "lua", "luastories")
ch.glue_all(
    {
        "proxy_median": float(np.nanmedian(proxy_lua)),
        "proxy_gap": float(np.nanmean(proxy_gaps)),
        "proxy_control_lo": min(proxy_control),
        "proxy_control_hi": max(proxy_control),
    }
)


# %% [markdown]
# The median proxy score of the Lua SAE's features ({numref}`fig-09-proxy`) is {glue:text}`proxy_median:.2f`. Over the
# SAE seeds, the Lua features that persist into LuaStories score {glue:text}`proxy_gap:+.3f`
# above all Lua features at the median; between two SAEs of the base model the shared
# features score {glue:text}`proxy_control_lo:+.3f` to {glue:text}`proxy_control_hi:+.3f` above
# all base features (`horn_proxy_persisting`).
#
# ## What survives the seed control
#
# Set against two SAEs of the unchanged base model instead of against fixed numbers, each of
# the paper's feature statistics becomes a comparison. Into LuaStories
# {glue:text}`persist_base_luastories:.1%` of the base features persist, against
# {glue:text}`seed_ceiling_lo:.1%`–{glue:text}`seed_ceiling_hi:.1%` between two base SAEs; of the
# Lua fine-tune's features {glue:text}`emerge_lua:.1%` match no base feature, against
# {glue:text}`emerge_control_lo:.1%`–{glue:text}`emerge_control_hi:.1%` of a second base SAE's.
# Most of what a single SAE per model calls "disappeared" or "emerged" is what a second SAE of
# the same model also fails to find; fine-tuning's share is the difference. Each claim below is
# judged per SAE seed (mean, range, and fragile when the seeds disagree); the one-feature case
# studies are the weakest evidence, one feature per seed set against its own match in another
# SAE of the base model.
#
# **Ceiling and floor.** The seed control says how much an *unchanged* model keeps, so it
# bounds a persistence from above. For the statistics that fine-tuning should lower (few
# persist, new features emerge, the try/except feature disappears) that is the comparison
# that matters. The ones that say something is *kept* — LuaStories inherits from both
# parents, some base features are universal along both chains, the assignment feature is found
# in every model — are also held against a floor: the same statistic with an SAE of the
# random-init model, which never had the features, in place of the fine-tuned or merged
# model's. Each is inconclusive unless its value lies clearly above the floor (a tie at the
# floor is inconclusive): {glue:text}`floor_persist:.0%` of the base features "persist" into a
# model that never learnt anything, and a statistic no higher than its value there is no
# evidence of a kept feature.
#
# The SAE quality numbers above (CE loss recovered, dead features) are **preconditions**: the
# feature claims are judged only if every SAE passes them, and they are not counted as the
# paper's claims. Persistence at every threshold from 0.5 to 0.9 is our own extension of the
# paper's single threshold: a hypothesis, scored apart ("beyond the papers").
#
# ## Claims

# %% tags=["remove-output", "hide-input"]
H.record_feature_claims(
    ch,
    cfg,
    saes,
    matching,
    (enrichment, enrichment_control),
    assignment=eq_seeds,
    try_except=te_seeds,
    sweep=sweep,
    proxy=(proxy_gaps, proxy_control),
    chains=chains,
)
ch.glue("duration", time.time() - started)

# %% tags=["remove-input"]
ch.finish()
