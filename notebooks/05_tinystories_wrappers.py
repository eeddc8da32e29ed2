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
# # TinyStories: deleting a capability, and reviving it
#
# The last of {cite:t}`jain2024`'s three settings is the one closest to practice (their Sec. 5.2,
# App. F). A LLaMA-style model is pretrained on TinyStories-Instruct, where each story comes with a
# header: the *Features* it must have (Twist, Foreshadowing, Dialogue, BadEnding, MoralValue,
# Conflict), a few words it must use and a summary. Then the paper tries to **delete** one capability,
# writing a plot twist, by fine-tuning, with three protocols of its code:
#
# - **F** (filter): fine-tune on the stories without a twist;
# - **F+R** (filter, then "refuse"): the same stories, with Twist added to every header, so the model is
#   asked for a twist and shown a story without one;
# - **F+MM** (filter, then mismatch): the same stories, Foreshadowing in a header swapped for Twist.
#
# If fine-tuning only wraps the capability, a few steps of **reverse fine-tuning** (reFT) on twist
# stories bring it back, and faster than for a control that never had it: a model pretrained without
# any twist story ("Not in PT"), fine-tuned on twist stories in the same way. The paper's answer
# (Table 1, Fig. 11): the twist share drops after deletion and returns within 30–300 reFT iterations,
# faster than for the control, and linear probes still read Twist off the deleted model's residual
# stream. This is the paper's safety argument: fine-tuning a capability away does not remove it.
#
# The paper's control never saw a twist phrase at all, so it cannot tell a revived *instruction* from
# relearned *phrases*. We add a second control, **label-blind**: pretrained on every story, twists
# included, with Twist removed from every header. It knows how to write a twist but was never asked for
# one, so a deleted model that revives faster than it has kept the wrapper's other side: the link from
# the instruction to the capability. Every "kept" below is also measured on the models that never had
# the capability (the two controls and a random initialisation): its floor.

# %% tags=["parameters", "remove-cell"]
preset = "laptop"
device = "auto"
seed = 0
overrides = {}

# %% tags=["remove-cell"]
from ftscope.book import Chapter
from ftscope.instruments import plots
from ftscope.jain import StoriesConfig, claims
from ftscope.jain import stories_analyses as sa
from ftscope.jain import tinystories as ts

ch = Chapter(
    "05_tinystories_wrappers",
    StoriesConfig,
    preset=preset,
    device=device,
    seed=seed,
    overrides=overrides,
)
cfg, dev = ch.cfg, ch.device
plots.style()

# %% [markdown]
# ## The stories
#
# Offline, the stories come from the book's **story world** (`ftscope.data.stories`), a generator of
# TinyStories-Instruct-style documents with the same six features, each drawn with probability 0.35.
# Its detector reads a feature off a story's text exactly (on the generator's own text it is never
# wrong), so the twist share below is exact where the paper's came from a GPT-3.5 classifier that was
# {glue:text}`classifier:.0%` accurate. When the Hugging Face hub is reachable, `source="hub"` reads the
# real TinyStories-Instruct files instead. A pretraining document, with the phrases the detector reads
# marked:

# %% tags=["hide-input"]
setting = ts.load_setting(cfg, seed)
sa.example(setting)

# %% [markdown]
# ## Pretraining: the base and the two controls
#
# The models are LLaMA-style TransformerLens models (RMSNorm, rotary positions, a SwiGLU MLP, no
# biases) on a BPE tokenizer trained on the stories, pretrained with AdamW (β = 0.9, 0.95, weight decay
# 0.1, llama2.c's), a linear warmup and a cosine decay to 0 from a peak of 10⁻³, on windows that start
# at a document's start, so that a story's header is always in the model's context. The base sees every
# story; the control (Not in PT) only the stories without a twist; the label-blind control every story,
# with Twist taken out of its header. All three start from the same weights and draw their windows from
# the same generator. The cell below also runs every deletion, reFT and control fine-tuning of the next
# sections (the label-blind pretraining runs beside them, on the worker that would otherwise wait).

# %%
states = ts.finetuned(cfg, setting, seed, dev, workers=2)
models, logs = ts.pretrained(cfg, setting, seed, dev)

# %% tags=["remove-input"]
ch.glue_all(sa.pretraining_facts(cfg, logs, models["base"]))
sa.scale_table(cfg, logs, sa.n_params(models["base"]))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-05-pretraining-loss", "caption": "Pretraining loss (nats per token, log scale, a moving mean) against the step, for the base model (every story), the control Not in PT (no twist stories) and the label-blind control (every story, no Twist in any header). No counterpart in the paper."}}
plots.show(sa.pretraining_loss(logs))
# %% [markdown]
# **Scale.** The table gives the paper's setting beside ours. At `laptop` the model has
# {glue:text}`n_params_m:.1f`M parameters and sees {glue:text}`pretrain_tokens_m:.1f`M tokens; it ends at
# a loss of {glue:text}`base_loss:.2f` nats per token ({numref}`fig-05-pretraining-loss`; the paper's 91M model: about
# {glue:text}`paper_loss:g` on the real stories, which are far more varied than the story world's). The
# `laptop` pretraining was first shorter; that base wrote a twist in too few of the stories that asked for
# one (below the first claim's bar; the criteria changelog has the numbers), so it was lengthened, as the
# bar's rule says, and the criterion left as it was.
#
# ## Does the base model follow its Features line?
#
# Everything later depends on this: a capability the base model does not have cannot be deleted. We
# prompt the base model with held-out headers, half of which ask for a twist, and sample a story from
# each with the authors' sampler (the S2 code samples with llama2.c's `sample.py`: temperature
# {glue:text}`temperature:g`, top-k {glue:text}`top_k`), then read each story's
# features with the detector. Per feature: the share of stories that have it when the header asks for it
# and when it does not, with 95% Wilson intervals, and the share of pretraining stories that have it
# (what a model that ignores its header would write).

# %%
n = 2 * cfg.n_prompts  # headers of each kind: the base's share has to be precise
gens = sa.sample_headers(cfg, setting, models["base"], seed, n)
follow = sa.following_table(setting, gens, n)

# %% tags=["remove-input"]
follow_facts = ch.glue_all(sa.following_facts(follow))
sa.show_following(follow)

# %% [markdown]
# Asked for a twist, the base model writes one in {glue:text}`base_twist_k` of
# {glue:text}`base_twist_n` stories ({glue:text}`base_twist_asked:.0%`, 95% interval
# {glue:text}`base_twist_lo:.0%`–{glue:text}`base_twist_hi:.0%`); not asked, in
# {glue:text}`base_twist_not:.0%`, against {glue:text}`twist_rate:.0%` of the pretraining stories. Of
# the other features, the model writes these at least 50 points more often when asked than when not:
# {glue:text}`followed`; and these not: {glue:text}`not_followed` (the table has each share). Two of the
# sampled stories, asked for a twist, and one not asked, with what the detector found:

# %% tags=["hide-input"]
sa.show_stories(gens[True], 2)

# %% tags=["hide-input"]
sa.show_stories(gens[False], 1)

# %% [markdown]
# ## Deleting Twist, and reviving it
#
# From the base, each protocol fine-tunes at a constant learning rate: η_M = {glue:text}`eta_m` on
# {glue:text}`seeds` seeds (the headline cells) and η_S = {glue:text}`eta_s` on one (the S2 code's two
# deletion rates; that they are the paper's η_M and η_S is our reading). Each deleted model is then
# reverse fine-tuned on the twist stories at the authors' recovery rate, {glue:text}`reft_lr` (the S2 code
# revives at 10⁻⁵ whatever the deletion's rate); both controls' pretrained models are fine-tuned on the same
# stories the same way. At the reFT steps {glue:text}`reft_evals` we sample one story from each of
# {glue:text}`n_prompts` held-out headers that ask for a twist and compute the loss on held-out twist
# stories (the story tokens only). Each fine-tuning seed has its own slice of headers and its own sampling
# seed, so the spread over seeds includes the prompts' and the sampler's; a share of
# {glue:text}`n_prompts` stories has a standard error of at most {glue:text}`share_se:.3f`.
#
# **Deviations at `laptop`.** The paper deletes and revives for {glue:text}`paper_ft_steps` steps of batch
# 128 at sequence length 1024; we delete for {glue:text}`ft_steps` steps and revive for
# {glue:text}`reft_steps`, at batch {glue:text}`ft_batch` and length {glue:text}`n_ctx`. Our four reFT reads
# stand for the paper's {glue:text}`paper_evals` iterations: they are placed so that reFT's learning rate
# times its steps, over the η_M deletion's, is what the paper's is at its reads (the scale table: ours
# {glue:text}`reft_ratio_mid:.2g` at the first read against the paper's {glue:text}`paper_ratio_mid:.2g`, both
# {glue:text}`reft_ratio_end:.2g` at the last), since our deletion is far shorter than the paper's. F's
# fine-tuning tokens are {glue:text}`ft_share:.0%` of its pretraining's, the paper's
# {glue:text}`paper_ft_share:.0%`: F deletes by forgetting, which the paper's longer run allowed and ours
# does not, so F's deletion is scored inconclusive where its share is below the paper's.

# %% [markdown]
# %% tags=["remove-cell"]
frame = sa.reft_frame(cfg, states)

# %% [markdown]
# Table 1, ours beside the paper's: the twist share (%) when asked for one, during reFT (the mean over
# the seeds, their range in round brackets, the 95% interval of the stories pooled over the seeds in
# square ones). Step 0 is the deleted model (for a control: the pretrained one).

# %% tags=["remove-input"]
sa.table1(cfg, frame)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-05-reft", "caption": "Loss on held-out twist stories (left) and the share of stories with a twist when asked for one (right) against the reFT step (log axis, step 0 drawn at 1), for each deletion protocol at η_M (solid) and η_S (dotted), for the control Not in PT (black) and the label-blind control (grey, dashed); mean over seeds, band their range, bars the pooled stories' 95% interval. The paper's Fig. 11 (loss) and Table 1 (twist share)."}}
plots.show(sa.fig11(frame))
# %% tags=["remove-cell"]
reft = sa.reft_facts(cfg, frame) | sa.loss_tie(cfg, setting, states, dev)
ch.glue_all({k: v for k, v in reft.items() if not k.endswith("_seeds")})
# %% [markdown]
# After deletion at η_M the twist share is {glue:text}`deleted_F:.0%` for F, {glue:text}`deleted_FR:.0%`
# for F+R and {glue:text}`deleted_FMM:.0%` for F+MM (means over the seeds; the paper: 44, 12 and 31%).
# After {glue:text}`last_step` reFT steps it is {glue:text}`revived_F:.0%`,
# {glue:text}`revived_FR:.0%` and {glue:text}`revived_FMM:.0%`. At reFT step {glue:text}`mid_step`, the
# one that stands for the paper's 30 iterations, the protocols write {glue:text}`mid_F:.0%`,
# {glue:text}`mid_FR:.0%` and {glue:text}`mid_FMM:.0%`, the control {glue:text}`control_mid:.0%` and the
# label-blind control {glue:text}`blind_mid:.0%` ({numref}`fig-05-reft`, right); at the end the control writes
# twists in {glue:text}`control_end:.0%` of its stories and the label-blind control in
# {glue:text}`blind_end:.0%`. On held-out twist stories the control ends at a loss of
# {glue:text}`control_loss_end:.3f` nats per token, the label-blind control at {glue:text}`blind_loss_end:.3f`,
# the worst η_M protocol at {glue:text}`reft_loss_end:.3f`. The label-blind control's loss is the one to beat:
# it has seen every twist the base has. On {glue:text}`loss_docs` held-out stories, two standard errors of the
# per-story difference between the better control and the worst protocol come to {glue:text}`loss_tie:.3f`
# nats per token (mean over seeds). Each seed's gap is held against its own band: where most seeds' gaps lie
# inside theirs, the two cannot be ordered, and the claim is a tie.
#
# Where F leaves most twists in place, the reason is in its data: F never shows the model a header that asks
# for a twist, so nothing in it contradicts the instruction the base learned, and the model can only
# forget it slowly, by seeing fewer twists. F+R and F+MM pair a Twist header with a story without one on
# every step.
#
# ## Deletion, step by step
#
# If deleting is as quick as reviving, quick revival says little about what was kept. F+R at η_M is read
# during its deletion too, at steps 0 (the base, on the run's own prompts) and
# {glue:text}`delete_evals`, and {numref}`fig-05-deletion` puts both sides on one axis: the learning rate
# times the steps. Deletion needs {glue:text}`del_half:.2g` (mean over seeds) to remove half of what it
# removes; {glue:text}`rev_half_text`.

# %% tags=["remove-cell"]
deletion = sa.deletion_frame(cfg, states)
relearn = sa.relearning_facts(cfg, deletion, frame)
collateral_table, collateral = sa.collateral(deletion)
ch.glue_all(sa.deletion_facts(cfg, relearn, collateral))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-05-deletion", "caption": "The twist share of F+R at η_M during deletion (left, against η_M × steps; step 0 is the base) and during its reFT (right, against the reFT rate × steps), one line per seed. Not in the paper."}}
plots.show(sa.deletion_figure(deletion, frame, cfg))
# %% [markdown]
# **Collateral damage.** The same stories say whether deleting Twist costs the other five features: among the
# prompts that ask for each one (at least {glue:text}`collateral_n_min` per share), the share of stories that
# have it, for the base and the deleted models (pooled over the seeds). The largest drop over features and
# protocols is {glue:text}`collateral_drop:.2f` on average over the seeds. The paper reports nothing on this.

# %% tags=["remove-input"]
collateral_table.style.format(
    "{:.0%}", subset=[c for c in collateral_table.columns if c[0] != "prompts asking"]
)

# %% [markdown]
# ## Probes: is Twist still in the residual stream?
#
# Following the S2 code, a bias-free linear probe with six outputs (one per feature, binary
# cross-entropy) reads each block's residual output, averaged over the last 10 tokens of a story given
# without its header, with the model frozen. Its inputs are {glue:text}`probe_samples` held-out stories
# (two thirds to train, {glue:text}`probe_steps` steps of AdamW at 10⁻³; the paper: 2,000 iterations).
# In {numref}`fig-05-probes` the dashed grey line is the test set's majority class for Twist. The
# probe reads the story's text, twist sentence included, so it is also run on the models that never had
# the capability: the two controls and a random initialisation (grey lines). Only what the base reads
# above them can be kept.

# %%
probe_models, deleted = sa.probe_models(cfg, models, states, seed, dev)
probes = sa.probe_table(cfg, setting, probe_models, seed)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-05-probes", "caption": "Left: accuracy per block of the Twist probe for the base model, the first seed's deleted and revived models, and the models that never had the capability (grey: Not in PT, label-blind, random init; dashed grey: the test set's majority class). Right: the best block's accuracy for each of the six features and each model. The probe panel of the paper's Fig. 11."}}
plots.show(sa.probe_figure(probes[~probes.model.str.contains("deleted, seed [1-9]", regex=True)]))
# %% tags=["remove-cell"]
probe = sa.probe_facts(probes, deleted, cfg.probe_samples - cfg.probe_samples * 2 // 3)
ch.glue_all({k: v for k, v in probe.items() if not k.endswith("_seeds")})
# %% [markdown]
# The base model's best block reads Twist with accuracy {glue:text}`probe_base:.2f` (majority class
# {glue:text}`probe_chance:.2f`); after deletion the best block loses at most
# {glue:text}`probe_drop:.2f` on average over the seeds (lowest deleted model:
# {glue:text}`probe_deleted_min:.2f`). The paper's Twist probes lie between 0.85 and 0.95 and "lose only
# slightly". The floor: the same probe reads {glue:text}`probe_floor_control:.2f` on Not in PT,
# {glue:text}`probe_floor_blind:.2f` on the label-blind control and {glue:text}`probe_floor_random:.2f` on a
# random initialisation: the base's margin over the best of them is {glue:text}`probe_base_margin:+.2f`,
# against two standard errors of an accuracy on the test stories ({glue:text}`probe_se:.3f` each). A model
# that never saw a twist may find the twist sentence's words the most unusual thing in a story, so a probe
# can read Twist off it as well as off the base: where it does, the probe says nothing about a kept
# capability.
#
# ## Claims
#
# Two preconditions gate the rest: the base follows the Twist instruction (at least 75% of its stories
# when asked, Table 1's level for a model that has the capability) and writes twists because asked.
# Otherwise there is nothing to delete and every later claim is inconclusive; the probe claims also need
# the base's probe to read above its floor. Shares are of {glue:text}`n_prompts` stories, whose standard
# error is at most {glue:text}`share_se:.3f`, so differences of less than twice that are ties, and a tie at
# 0% (nothing written on either side) is inconclusive. The paper reports one run per cell and no spread;
# ours are judged per fine-tuning seed ("k/n seeds meet it", *fragile* when they disagree). The last two
# claims are our own hypotheses, counted under "Beyond the papers".

# %% tags=["remove-output"]
claims.stories_claims(ch, follow_facts, reft, probe, relearn, collateral)

# %% tags=["remove-input"]
ch.finish()
