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
# # Topic, style and facts: what fine-tuning learns and forgets
#
# {cite:t}`zhang2024` asked what the probability change from fine-tuning a language model on a
# domain is made of. They fine-tuned GPT-2 XL and LLaMA-2 on PubMed abstracts and compared the base
# and fine-tuned models on texts that differ from an abstract in one factor only, written by ChatGPT:
# the same abstract moved to a **non-biomedical topic**, rewritten in a **casual** or **rap style**,
# or with **counterfactual** facts. The difference between the change of log-likelihood on the
# original and on a variant isolates one factor. Their finding: most of the change is a shift of the
# **topic** and **style** priors, learned in the first steps and sitting at the start of a text;
# **factual knowledge** is a small fraction, learned slowly. Fine-tuning also lowers the likelihood of
# general text (C4), mostly through the same priors.
#
# Here the documents come from a **world** in which topic, style and facts are explicit variables of
# a generator, so every variant is an exact single-factor intervention, checked automatically, and the
# generator's own log-ratios give an **oracle** the paper did not have. The paper reports directions,
# not numbers: every claim below checks a direction.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
from ftscope.book import Chapter
from ftscope.instruments import plots
from ftscope.zhang import ZhangConfig, claims
from ftscope.zhang import analyses as za
from ftscope.zhang import setting as zs

ch = Chapter(
    "06_topic_style_fact", ZhangConfig, preset=preset, device=device, seed=seed, overrides=overrides
)
cfg, dev = ch.cfg, ch.device
plots.style()

# %% [markdown]
# ## The world
#
# Five topics (four general ones, *cities*, *clubs*, *companies* and *recipes*, and the domain, *bio*)
# each have {glue:text}`entities` entities, six relations with {glue:text}`objects` object values each,
# and a lexicon of {glue:text}`lexicon` words, every word made with its topic's morphology (bio
# entities end in *-ase*, *-in*, *-ogen*). Relations and lexicon are index-aligned across topics, so a
# topic swap maps each word to the word of the same index in the other topic. A knowledge base fixes
# each (entity, relation)'s object; a fact sentence states a random object with probability ε =
# {glue:text}`eps`. Half the bio facts are **known** (stated in pretraining), half **novel** (stated only
# in fine-tuning). Four styles, *web*, *academic*, *casual* and *rap*, each have their own opener, closer,
# fact and filler templates and function words ("we observed", "notably"; "lol", "ngl"; "yo", line
# breaks). A document is a **skeleton** (topic, style, anchor entity, 4–8 sentences, about half of
# them facts) rendered into words. One probe skeleton of the PubMed analog (bio × academic) and its
# variants, the words that differ from the original marked in the variants that keep every word's place
# (the topic swap and the counterfactual):

# %% tags=["remove-input"]
setting = zs.load_setting(cfg, seed)
za.show_variants(setting.world)

# %% [markdown]
# **Table 1's analog.** The paper had humans check ChatGPT's rewrites (991 of 1,000 counterfactuals
# survived). Here every check is automatic and exact: each variant has the original's number of
# sentences, a counterfactual differs from its original in object words only, and a topic swap leaves
# no word of the original topic behind. The C4 analog's originals are general-topic web pages, with
# variants moved to bio, rewritten academically, or counterfactual (the paper's C4 row counts were not
# found).

# %%
probes = za.probe_sets(cfg, setting, seed)
validity = za.validity_table(setting.world, probes)
za.show_validity(validity)

# %% tags=["remove-cell"]
ch.glue_config(
    cfg,
    [
        "entities",
        "objects",
        "lexicon",
        "eps",
        "p_bio",
        "p_academic",
        "novel_per_doc",
        "ft_docs",
        "probes",
        "dynamics_probes",
        "ft_steps",
        "ft_batch",
        "bootstrap",
        "seeds",
    ],
)
ch.glue_all(za.validity_facts(validity))
# %% [markdown]
# Every check holds on {glue:text}`valid_min:.0%` of the skeletons. Casual variants are
# {glue:text}`casual_length:.0%` and rap variants {glue:text}`rap_length:.0%` as long as their
# originals (in words), which is why the contrasts are computed both per token and per document.
#
# ## The corpora and the models
#
# The pretraining mix draws topic and style independently: bio with probability {glue:text}`p_bio`,
# academic with {glue:text}`p_academic`; bio documents state known facts only. The fine-tuning data,
# the **PubMed analog**, is {glue:text}`ft_docs:,` bio × academic documents stating every bio fact,
# {glue:text}`novel_per_doc` novel facts per document on average. The model is Hugging Face's
# `GPT2LMHeadModel`, the paper's own stack, small, with a word-level tokenizer (`tokenizers`) over the
# world's closed vocabulary. Both trainings use the book's one training loop rather than HF's `Trainer`,
# with the released configs' settings for fine-tuning: AdamW, a linear decay after 10% warmup, gradient
# clipping at 1.0, one epoch. We use no dropout (HF's GPT-2 has 0.1) and pad each batch to its longest
# document.

# %%
base, base_state = zs.pretrained(cfg, setting, seed, dev)
bound = za.entropy_bound(setting.world)
za.scale_table(cfg, setting, base)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-06-pretraining", "caption": "Training loss (per batch) of the base model against the pretraining step; dashed: the generator's entropy bound; dotted: the validation loss on the pretraining mix. No counterpart in the paper."}}
plots.show(za.pretraining_figure(base_state, bound))
# %% tags=["remove-cell"]
ok, gap = claims.converged(base_state["val_pt"], bound)
ch.glue_all(
    {"bound": bound, "val_pt": base_state["val_pt"], "gap": gap, "gap_level": claims.CONVERGED_GAP}
)
# %% [markdown]
# The dashed line in {numref}`fig-06-pretraining` is the generator's **entropy bound**: the mean of −log p(x) per word of pretraining
# documents under the generator itself, counted over its choices ({glue:text}`bound:.3f` nats per token;
# no model can do better, up to texts that two skeletons render alike). The base model's validation loss
# on the pretraining mix is {glue:text}`val_pt:.3f`, {glue:text}`gap:.3f` above it; the claims are
# scored only if the gap is at most {glue:text}`gap_level` nats per token.
#
# **The learning rate**, as in the paper, is chosen by a grid search on a validation split of the
# fine-tuning distribution (one epoch on the first seed at each rate); the chosen rate then trains every
# seed, each a different order of the same documents.

# %%
fts = zs.finetuned(cfg, setting, seed, dev)
fts.grid_frame().style.format({"validation loss": "{:.4f}"}).format_index("{:g}")

# %% tags=["remove-cell"]
ch.glue_all({"lr": fts.lr, "base_val": fts.base_val, "ft_val": fts.grid[fts.lr]})
# %% [markdown]
# One epoch at {glue:text}`lr:g` takes the validation loss from {glue:text}`base_val:.3f` to
# {glue:text}`ft_val:.3f` nats per token. The grid spans the paper's order of learning rates: its
# released config fine-tunes LLaMA-2 at 3·10⁻⁶, a hundredth of LLaMA-2's pretraining peak, and ours
# runs from a hundredth to a tenth of the base's peak. After one epoch the validation loss is lowest at
# the largest rate of this grid; a first version of the grid that went on up to the pretraining peak
# chose the peak itself, where fine-tuning no longer resembles the paper's (it unlearns the general
# topics wholesale), so the grid stops at a tenth. How the picture changes with the rate is shown
# after the decomposition.
#
# ## The decomposition
#
# Every model scores every probe document of both analogs ({glue:text}`probes:,` skeletons each). For a
# document x, R(x) = log p_ft(x) − log p_base(x); on the PubMed analog the components are
#
# - **topic** = R(orig) − R(nontopic) (a topic swap also changes the facts, so the table also gives
#   R(counterfactual) − R(nontopic), where both sides state wrong facts for the base);
# - **style** = the mean of R(orig) − R(casual) and R(orig) − R(rap);
# - **factual** = R(orig) − R(counterfactual);
# - **residual** = R(orig) minus the three.
#
# The contrasts overlap, so the shares need not add up to 1 and the residual can be negative. The
# repository computes each split's loss as a mean over tokens, so its components are in nats per token;
# beside them, the same contrasts per document (sums, aligned by skeleton). Bars are the mean over the
# {glue:text}`seeds` fine-tuning seeds, dots each seed, whiskers seed 0's 95% bootstrap interval over
# skeletons ({glue:text}`bootstrap` resamples).

# %%
st = za.study(cfg, setting, probes, base, fts, dev)
za.split_table(st).style.format("{:.3f}")

# %% [markdown]
# Above, each split's loss under the base and the first seed's fine-tuned model: as the repository's
# `Trainer.evaluate` prints it (the mean over batches of 8 documents of each batch's token mean), pooled
# over the split's tokens (what the components per token use; the two differ only in how batches are
# weighed), and per document. The components, and the total change R(orig) ({numref}`fig-06-decomposition`):

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-06-decomposition", "caption": "The total change of log-likelihood per token, R(orig), and its topic, style, factual and residual components on the PubMed analog (left, learning) and the C4 analog (right, forgetting): bars the mean over seeds, dots each seed, whiskers seed 0's 95% bootstrap interval. The analog of the paper's decomposition (Sec. 3); the C4 side corresponds to its Fig. 4."}}
pub, c4 = st.decompositions("pubmed"), st.decompositions("c4")
plots.show(za.decomposition_figure(pub, c4))
# %% tags=["remove-cell"]
ch.glue_all(za.decomposition_facts(pub, c4))
# %% [markdown]
# On the PubMed analog the topic component is {glue:text}`pm_token_topic_share:.2f` of the total change
# per token, style {glue:text}`pm_token_style_share:.2f`, and the factual component
# {glue:text}`pm_token_factual_share:.3f`. Per document the shares are
# {glue:text}`pm_doc_topic_share:.2f`, {glue:text}`pm_doc_style_share:.2f` and
# {glue:text}`pm_doc_factual_share:.3f`. A component larger than the total says that the fine-tuned
# model lost more on the variant than it gained on the original: it moved probability away from the
# other topics and styles, which the contrast counts on top of the gain. The factual component is close
# to zero, and slightly negative where fine-tuning raised wrong objects more than true ones: the data
# states every object of a relation in the same bio and academic context, which flattens the model's
# guess over a relation's objects and costs the true object of a known fact a little (see the oracle
# below). Each component per token, mean over seeds:

# %%
za.decomposition_table(pub).style.format(precision=3, na_rep="—")

# %% [markdown]
# **Forgetting.** On the C4 analog (general topics, web style) fine-tuning *lowers* the log-likelihood by
# {glue:text}`c4_token_total:.3f` nats per token. The topic component carries
# {glue:text}`c4_token_topic_share:.2f` of that loss and style {glue:text}`c4_token_style_share:.2f`;
# the factual one {glue:text}`c4_token_factual_share:.3f`: general facts, never in the fine-tuning
# data, are barely forgotten in one epoch.

# %%
za.decomposition_table(c4).style.format(precision=3, na_rep="—")

# %% [markdown]
# **The learning rate.** The first seed at each rate of the grid, per token. The larger the rate, the
# larger the change on the domain and the loss on general text; the factual share stays near zero at
# every rate.

# %%
za.show_lr_table(za.lr_table(cfg, setting, st, fts, dev))

# %% [markdown]
# ## Position: where in the text the change sits
#
# The paper reports that the topic and style change concentrates at the beginning of a text. In
# {numref}`fig-06-position`, left, the
# mean change of each split's log-likelihood at each token position (the words are tokens, so the
# position is the word's); right, each component split into tenths of its document (per-document nats,
# so the ten values sum to the component).

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-06-position", "caption": "Left: the mean change of each split's log-likelihood at each token position (mean over seeds). Right: each component split into tenths of its document (per-document nats; one line per seed). The analog of the paper's position analysis (Sec. 3)."}}
profiles = st.profiles()
plots.show(za.position_figure(profiles))
# %% tags=["remove-cell"]
position = za.position_facts(profiles)
ch.glue_all(
    {k: v for k, v in position.items() if not k.endswith("_seeds")}
    | {"start_tenths": claims.START_TENTHS}
)
# %% [markdown]
# The first token of an original gains {glue:text}`first_token_change:.2f` nats, the tokens from the
# eleventh on {glue:text}`later_token_change:.2f` each on average: the opener word announces the style
# and the anchor entity the topic, and both are what the prior shift changes. Per token, the change is
# concentrated at the start, as the paper says. Summed over the document, though, the first
# {glue:text}`start_tenths` tenths hold {glue:text}`start_topic:.0%` of the topic component and
# {glue:text}`start_style:.0%` of the style component: a large change on a few tokens at the start, and
# a small one on each of the many tokens after. The variants lose probability throughout: the
# fine-tuned model predicts the bio lexicon and the academic phrasing everywhere, not only at the start.
# The claims read the paper's "mostly at the beginning" as more than half of the component, so they
# score the sum, not the per-token peak.
#
# ## Dynamics: what is learned first
#
# The chosen rate's runs keep their weights at log-spaced steps of the epoch; each snapshot scores the
# first {glue:text}`dynamics_probes` probe skeletons. In {numref}`fig-06-dynamics`, left, the components per
# token against the step;
# right, each as a share of its value at the end of the epoch. The dotted line is a quarter of the epoch,
# where the claims read them.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-06-dynamics", "caption": "Left: the total change and each component per token against the fine-tuning step (log axis, one line per seed). Right: each component as a share of its value at the end of the epoch; dotted: a quarter of the epoch, where the claims read them. The analog of the paper's training-dynamics analysis (Sec. 3)."}}
dyn = za.dynamics_frame(st)
plots.show(za.dynamics_figure(dyn, zs.early_step(cfg)))
# %% tags=["remove-cell"]
dynamics = za.dynamics_facts(dyn, zs.early_step(cfg))
ch.glue_all({k: v for k, v in dynamics.items() if not k.endswith("_seeds")})
# %% [markdown]
# After {glue:text}`early_step` of {glue:text}`ft_steps_total` steps the topic component has reached
# {glue:text}`early_topic:.0%` of its final value and style {glue:text}`early_style:.0%`; the factual
# component {glue:text}`early_factual:.0%` of a final value that is itself near zero, so its share is
# noise more than a rate. With a 10% warmup and a linear decay, a quarter of the steps is already more
# than a third of the epoch's summed learning rate: a component that grew in proportion to it would be
# at that share, and one learned "rapidly" above it. The paper's runs are far longer than one epoch of
# a thousand documents; so is its claim's "first steps".
#
# ## The oracle
#
# The generator knows what the fine-tuning data changes. For an original probe document, under the
# fine-tuning data q against the pretraining data p:
#
# - the **topic prior** gains log q(bio)/p(bio) = −log {glue:text}`p_bio`;
# - the **style prior** gains −log {glue:text}`p_academic`;
# - each **novel fact**'s object gains log((1 − ε + ε/|O|)·|O|): the pretraining data never states it,
#   so the base's best guess is uniform over the |O| = {glue:text}`objects` values; a known fact gains
#   nothing (both corpora state it with the same noise);
# - the **factual contrast** against the counterfactual is, per novel fact, log((1 − ε + ε/|O|) / (ε/|O|)).
#
# Topic and style contrasts have no finite oracle: the fine-tuning data holds no other topic or style,
# so a model that learned it exactly would give the variants probability 0. The model's estimates are
# finite because it learned the shift only in part.

# %%
oracle, objs = za.oracle_frame(setting.world, st)
oracle.style.format({"oracle": "{:.2f}", "model (per document)": "{:.2f}"}, na_rep="—")

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-06-oracle", "caption": "The factual contrast at each object token of known and of novel facts (all seeds pooled; boxes), against the oracle's value (red). No counterpart in the paper, which had no oracle."}}
plots.show(za.oracle_figure(objs))
# %% tags=["remove-cell"]
oracle_facts = za.oracle_facts(oracle, objs)
ch.glue_all({k: v for k, v in oracle_facts.items() if not k.endswith("_seeds")})
# %% [markdown]
# At the object of a novel fact ({numref}`fig-06-oracle`) the model gained {glue:text}`novel_fact_contrast:.2f` nats over its
# counterfactual, of the {glue:text}`oracle_novel_fact:.2f` the data supports
# ({glue:text}`novel_realised:.1%`); at a known fact {glue:text}`known_fact_contrast:.2f` (oracle: 0),
# the flattening described above. At this world's parameters the oracle's factual contrast per
# document, {glue:text}`oracle_factual_contrast:.1f` nats, exceeds the topic prior's
# {glue:text}`oracle_topic:.2f` and the style prior's {glue:text}`oracle_style:.2f` together: the data
# holds *more* factual information than topic and style information, and still the factual component
# is the smallest. The paper's "small fraction" describes what a model learns from an epoch of
# fine-tuning, not how much of the text is facts.
#
# The model's total change on an original, {glue:text}`model_total:.1f` nats, is *above* the oracle's
# {glue:text}`oracle_total:.1f`: a base model that were the pretraining generator could, on average over
# such documents, gain no more (Gibbs' inequality).
# Ours is not: its pretraining saw few bio documents and fewer academic ones, so fine-tuning also
# finishes learning how bio and academic text goes, a gain the decomposition books under topic and
# style. The paper's base models were not their pretraining distributions either; the oracle shows
# that part of what the contrasts call a prior shift is this.
#
# ## Claims
#
# The paper gives directions, not numbers, so every claim checks a direction with a criterion fixed from
# the paper's sentence before the run; judged per fine-tuning seed ("k/n seeds meet it", *fragile* when
# they disagree), and scored only if the base model reached its loss level.

# %% tags=["remove-output", "hide-input"]
claims.record_claims(
    ch,
    converged=ok,
    gap=gap,
    pub=pub,
    c4=c4,
    position=position,
    dynamics=dynamics,
    oracle=oracle_facts,
    lr=fts.lr,
)

# %% tags=["remove-input"]
ch.finish()
