"""The SAE lens (Horn & Elliott's instrument on Jain et al.'s story models): an SAE on a middle block's MLP of
the base, the deleted models and the revived ones, every SAE read on one shared set of held-out stories, and
the base's **Twist features** followed through deletion and revival.

- ``sae_cells``: the chapter's SAEs as cached cells (``instruments.sae.sae_cell``), each model's SAE trained
  on the same pretraining windows; the base has a second SAE (another seed): the seed control, the lens's
  ceiling; the "Not in PT" control and a random-init model of the same shape, which never had the capability,
  give its floor, and the control's fine-tune on twist stories, which learned Twist anew, the floor of reuse.
- ``shared_set``: held-out stories, half with a twist, each a block from its ``<s>``, with which positions
  are real tokens and which belong to the story's body.
- ``twist_features``: the features whose top stories (by their largest activation in the body) are twist
  stories, by the exact detector, at least ``TWIST_SHARE`` of them.
- ``lens``: activations, matches (Pearson r over the shared positions, chapter 09's method A) from the base's
  SAE to every other SAE, and per model what became of the base's Twist features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ftscope.data import stories as world
from ftscope.instruments import matching as F
from ftscope.instruments.sae import load_sae, sae_cell
from ftscope.jain import tinystories as ts
from ftscope.synthesis.setting import ALSO, PROTOCOL, LensesConfig, StoryModels

#: a Twist feature: at least this share of its top stories have a twist (the shared set holds half; 18 of 20
#: twist stories happen by chance for a feature blind to twists with probability 2e-4)
TWIST_SHARE = 0.9
#: a Twist feature is an *event* feature when it fires inside the detector's twist sentences at least this many
#: times as strongly as elsewhere in the story's body; the others fire in twist stories before any twist is
#: written (they read the header's request). Set after the first `laptop` run, where the two groups were far apart
#: (above 29 and below 1); it splits the features for the text and claims nothing
EVENT_SELECTIVITY = 10.0
BASE, CONTROL = "base", "base, SAE seed 2"
#: the floor's models (never had the capability) and the control's fine-tune (learned Twist anew)
NOT_IN_PT, RANDOM = "Not in PT", "random init"
FLOORS = (NOT_IN_PT, RANDOM)
SHARED_START = 1000  # the shared set's stories start here in the held-out list (prompts use its start, probes its end)


def hook(cfg: ts.StoriesConfig) -> str:
    """The middle block's MLP activations (block n_layers // 2)."""
    return f"blocks.{cfg.n_layers // 2}.mlp.hook_post"


def deleted_label(protocol: str, seed: int) -> str:
    return f"{protocol} deleted, seed {seed}"


def revived_label(protocol: str, seed: int) -> str:
    return f"{protocol} revived, seed {seed}"


def control_ft_label(seed: int) -> str:
    return f"Not in PT fine-tuned, seed {seed}"


def sae_plan(sm: StoryModels) -> list[tuple[str, str, object, int]]:
    """``(label, kind, run or None, SAE seed offset)`` per SAE: the base twice (offsets 0 and 1, the seed
    control), each F+R deletion seed's deleted and revived model, F's first seed deleted, the "Not in PT"
    control's pretraining, a random-init model (kind ``"random"``) and the control's first fine-tune on twist
    stories; every SAE but the base's first has offset 1, so each comparison with the base's first SAE is
    between two SAE seeds, as the seed control's is."""
    plan = [(BASE, "base", None, 0), (CONTROL, "base", None, 1)]
    for run in sm.runs(PROTOCOL):
        plan += [(deleted_label(PROTOCOL, run.seed), "deleted", run, 1),
                 (revived_label(PROTOCOL, run.seed), "model", run, 1)]
    first = sm.runs(ALSO)[0]
    plan.append((deleted_label(ALSO, first.seed), "deleted", first, 1))
    ctl = sm.runs("control")[0]
    plan += [(NOT_IN_PT, "control", None, 1), (RANDOM, "random", None, 1),
             (control_ft_label(ctl.seed), "model", ctl, 1)]
    return plan


def plan_models(sm: StoryModels, seed: int) -> dict:
    """Each planned SAE's model (one model object per distinct model); the random-init model is ``ts.build``
    with the chapter's ``seed`` (the base's initial weights)."""
    out = {}
    for label, kind, run, _ in sae_plan(sm):
        if run is not None:
            out[label] = sm.model(run, kind)
        elif kind == "random":
            out[label] = sm.random_init(seed)
        else:
            out[label] = sm.pretrained[kind]
    return out


def cell_name(label: str) -> str:
    """An SAE cell's name: ``stories-base``, ``stories-base-s2``, ``stories-FR-del-0``, ``stories-FR-rev-0``,
    ``stories-control``, ``stories-random``, ``stories-ctlft-0``."""
    if label == NOT_IN_PT:
        return "stories-control"
    if label == RANDOM:
        return "stories-random"
    if label.startswith("Not in PT fine-tuned, seed "):
        return "stories-ctlft-" + label.rsplit(" ", 1)[1]
    return "stories-" + label.replace(", SAE seed ", "-s").replace(" deleted, seed ", "-del-").replace(
        " revived, seed ", "-rev-").replace("+", "")


def sae_rows(lcfg: LensesConfig, sm: StoryModels, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The SAEs' data: ``sae_tokens // sae_context`` windows of the pretraining stream (every model's SAE reads
    the same windows), and 128 held-out stories as validation blocks of ``sae_context`` tokens."""
    stream = sm.setting.streams["pretrain"]
    n = lcfg.sae_tokens // lcfg.sae_context
    starts = np.random.default_rng([seed, 21]).integers(0, len(stream) - lcfg.sae_context, n)
    train = np.stack([stream[s:s + lcfg.sae_context] for s in starts]).astype(np.int64)
    texts = [world.instruct_text(s) for s in sm.setting.held[SHARED_START // 2:SHARED_START // 2 + 128]]
    val = ts.doc_blocks(sm.setting.tok, texts, lcfg.sae_context - 1).numpy()
    return train, val


def sae_cells(lcfg: LensesConfig, sm: StoryModels, seed: int, models: dict | None = None) -> dict:
    """``{label: Cell}``: each planned SAE's training cell (keyed by its model's weights, the data, every
    setting)."""
    models = plan_models(sm, seed) if models is None else models
    train, val = sae_rows(lcfg, sm, seed)
    d_sae = lcfg.sae_expansion * sm.cfg.d_mlp
    cells = {}
    for label, _, _, offset in sae_plan(sm):
        cells[label] = sae_cell(cell_name(label), models[label], train, val, d_sae=d_sae, l1=lcfg.sae_l1, lr=lcfg.sae_lr,
                                betas=lcfg.sae_betas, tokens=lcfg.sae_tokens, batch_tokens=lcfg.sae_batch_tokens,
                                seed=lcfg.sae_seed + offset, hook=hook(sm.cfg))
    return cells


@dataclass
class SAEs:
    models: dict
    saes: dict
    quality: pd.DataFrame


def train_saes(lcfg: LensesConfig, sm: StoryModels, seed: int) -> SAEs:
    """Every planned SAE (cached cells) and its quality (L0, explained variance, CE recovered, dead share)."""
    models = plan_models(sm, seed)
    saes, quality = {}, {}
    for label, cell in sae_cells(lcfg, sm, seed, models).items():
        state, _ = cell.get()
        saes[label] = load_sae(state["sae"], sm.device)
        quality[label] = state["metrics"]
    cols = ["l0", "explained_variance", "ce_loss_recovered", "dead_fraction"]
    return SAEs(models, saes, pd.DataFrame(quality).T[cols])


# ------------------------------------------------------------------------------- the shared set
@dataclass
class Shared:
    """Held-out stories as blocks from their ``<s>``: ``rows`` [n, n_ctx]; per flattened position, whether it
    is a real token (``valid``), in the story's body (``body``), in a sentence where the exact detector finds a
    twist (``in_twist``) and which story it is (``story``); ``twist[i]``: story i has a twist."""

    rows: torch.Tensor
    valid: torch.Tensor
    body: torch.Tensor
    story: torch.Tensor
    twist: np.ndarray
    in_twist: torch.Tensor


def shared_set(lcfg: LensesConfig, sm: StoryModels) -> Shared:
    """``shared_stories`` held-out stories, half with a twist, half without, in alternation; only stories that
    fit the model's context where enough do (the smallest presets' short contexts cut them)."""
    tok, n_ctx = sm.setting.tok, sm.cfg.n_ctx
    pool = sm.setting.held[SHARED_START:]
    half = lcfg.shared_stories // 2
    sizes = [len(e.ids) for e in tok.encode_batch([world.instruct_text(s) for s in pool], add_special_tokens=False)]
    fitting = [s for s, k in zip(pool, sizes) if k + 1 <= n_ctx]  # a story cut short could lose its twist
    if sum(ts.TWIST in s.features for s in fitting) >= half and sum(ts.TWIST not in s.features for s in fitting) >= half:
        pool = fitting
    stories = [s for pair in zip(ts.asking_stories(pool, half, True), ts.asking_stories(pool, half, False))
               for s in pair]
    texts = [world.instruct_text(s) for s in stories]
    rows = ts.doc_blocks(tok, texts, n_ctx)[:, :-1]
    b = sm.setting.bos
    starts = [len(tok.encode(t[: t.index("Story: ") + len("Story: ")], add_special_tokens=False).ids) + 1
              for t in texts]
    pos = torch.arange(n_ctx)[None]
    ended = torch.cumsum((rows == b) & (pos > 0), 1) > 0  # from the first <s> after the document's own
    valid = ~ended
    body = valid & (pos >= torch.tensor(starts)[:, None])
    story = torch.arange(len(texts))[:, None].expand(-1, n_ctx)
    return Shared(rows, valid.flatten(), body.flatten(), story.flatten(),
                  np.array([ts.TWIST in s.features for s in stories]),
                  (twist_positions(tok, texts, n_ctx) & valid).flatten())


def twist_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``'s story (after ``"Story: "``) in which the exact detector
    finds a twist: from the start of the sentence that holds a Twist signature phrase (the space before it,
    which begins its first token) to its end."""
    at = text.index("Story: ") + len("Story: ")
    body = text[at:]
    out = []
    for start, end, feature in world.feature_spans(body):
        if feature != ts.TWIST:
            continue
        lo = max(body.rfind(". ", 0, start), body.rfind("\n", 0, start)) + 1
        hi = body.find(".", end)
        out.append((at + lo, at + (len(body) if hi < 0 else hi + 1)))
    return out


def twist_positions(tok, texts: list, n_ctx: int) -> torch.Tensor:
    """[n, n_ctx] bool: the positions of ``ts.doc_blocks``' rows (``<s>`` first) inside a twist sentence."""
    out = torch.zeros(len(texts), n_ctx, dtype=torch.bool)
    for i, (text, enc) in enumerate(zip(texts, tok.encode_batch(list(texts), add_special_tokens=False))):
        spans = twist_sentences(text)
        for j, (a, _) in enumerate(enc.offsets[: n_ctx - 1]):
            out[i, j + 1] = any(lo <= a < hi for lo, hi in spans)
    return out


def top_story_share(acts: torch.Tensor, shared: Shared, k: int) -> np.ndarray:
    """Per feature: the share of twist stories among its ``k`` top stories (ranked by the feature's largest
    activation in a story's body; only stories where it fires); NaN for a feature that fires in fewer than
    ``k`` stories. ``acts``: [valid positions, F], in the order of ``shared.valid``'s positions."""
    body = shared.body[shared.valid]
    story = shared.story[shared.valid][body]
    n = len(shared.twist)
    peak = torch.zeros(n, acts.shape[1]).scatter_reduce_(0, story[:, None].expand(-1, acts.shape[1]),
                                                         acts[body].float(), "amax", include_self=True)
    vals, idx = peak.topk(k, dim=0)  # (k, F)
    twist = torch.as_tensor(shared.twist)[idx].float()
    share = twist.mean(0).numpy()
    share[(vals > 0).sum(0).numpy() < k] = np.nan
    return share


def twist_features(acts: torch.Tensor, alive: torch.Tensor, shared: Shared, k: int) -> torch.Tensor:
    """Indices (among all features) of the alive features whose top-``k`` stories are at least ``TWIST_SHARE``
    twist stories."""
    share = torch.as_tensor(top_story_share(acts, shared, k))
    return torch.nonzero(alive & (torch.nan_to_num(share, nan=0.0) >= TWIST_SHARE)).flatten()


def twist_selectivity(acts: torch.Tensor, shared: Shared, features: torch.Tensor) -> torch.Tensor:
    """Per feature of ``features``: its mean activation inside the detector's twist sentences over its mean
    elsewhere in the stories' bodies."""
    valid_body, in_twist = shared.body[shared.valid], shared.in_twist[shared.valid]
    a = acts[:, features].float()
    return a[in_twist].mean(0) / (a[valid_body & ~in_twist].mean(0) + 1e-6)


# ------------------------------------------------------------------------------- the lens
@dataclass
class Lens:
    shared: Shared
    acts: dict  # label -> [valid positions, d_sae]
    alive: dict  # label -> bool [d_sae]
    twist: dict  # label -> indices of its Twist features
    corr: dict  # label -> Pearson r [alive base features, alive features of the label's SAE]
    threshold: float
    selectivity: dict  # label -> twist_selectivity of its Twist features

    def kinds(self, label: str = BASE) -> dict[str, torch.Tensor]:
        """``label``'s Twist features split into ``event`` and ``instruction`` features (``EVENT_SELECTIVITY``)."""
        event = self.selectivity[label] >= EVENT_SELECTIVITY
        return {"event": self.twist[label][event], "instruction": self.twist[label][~event]}

    def _rows(self, label: str, features: torch.Tensor) -> torch.Tensor:
        """Positions of ``features`` (SAE indices) among ``label``'s alive features."""
        where = torch.full((len(self.alive[label]),), -1, dtype=torch.long)
        where[torch.nonzero(self.alive[label]).flatten()] = torch.arange(int(self.alive[label].sum()))
        return where[features]

    def base_twist_best(self, label: str, features: torch.Tensor | None = None) -> torch.Tensor:
        """Each base Twist feature's (or each of ``features``') best match r in ``label``'s SAE."""
        rows = self._rows(BASE, self.twist[BASE] if features is None else features)
        return self.corr[label][rows].max(1).values if len(rows) and self.corr[label].shape[1] else torch.zeros(0)

    def row(self, label: str) -> dict:
        """What became of the base's features in ``label``'s SAE, and where ``label``'s own Twist features come
        from (a match in the base's SAE at the threshold: reused; none: new)."""
        corr, tau = self.corr[label], self.threshold
        best = self.base_twist_best(label)
        child_best = corr.max(0).values if corr.shape[0] else torch.zeros(corr.shape[1])
        own = self._rows(label, self.twist[label])
        base_rows = self._rows(BASE, self.twist[BASE])
        from_twist = (corr[base_rows][:, own].max(0).values >= tau) if len(base_rows) and len(own) else torch.zeros(0)
        return {"alive": int(self.alive[label].sum()), "Twist features": len(self.twist[label]),
                "persist (all base features)": float((corr.max(1).values >= tau).float().mean()),
                "persist (base Twist features)": _share(best >= tau),
                "mean best r (base Twist features)": float(best.mean()) if len(best) else np.nan,
                **{f"persist (base {kind} features)": _share(self.base_twist_best(label, feats) >= tau)
                   for kind, feats in self.kinds().items()},
                "reused (all own features)": float((child_best >= tau).float().mean()),
                "reused (own Twist features)": _share(child_best[own] >= tau),
                "from a base Twist feature (own Twist features)": _share(from_twist)}

    def table(self) -> pd.DataFrame:
        table = pd.DataFrame({label: self.row(label) for label in self.corr}).T
        return table.astype({"alive": int, "Twist features": int})


def _share(hits: torch.Tensor) -> float:
    return float(hits.float().mean()) if len(hits) else float("nan")


def lens(lcfg: LensesConfig, sm: StoryModels, saes: SAEs, shared: Shared) -> Lens:
    """Every SAE's features on the shared set, alive features, Twist features, and Pearson r from the base's
    SAE to every other one."""
    acts, alive, twist = {}, {}, {}
    rows = shared.rows.to(sm.device)
    for label, sae in saes.saes.items():
        a = F.feature_acts(saes.models[label], sae.encode, rows, hook=hook(sm.cfg))[shared.valid]
        acts[label], alive[label] = a, F.alive(a, lcfg.min_fires)
        twist[label] = twist_features(a, alive[label], shared, lcfg.top_stories)
    base = acts[BASE][:, alive[BASE]]
    corr = {label: F.pearson_matrix(base, acts[label][:, alive[label]]) for label in acts if label != BASE}
    selectivity = {label: twist_selectivity(acts[label], shared, twist[label]) for label in acts}
    return Lens(shared, acts, alive, twist, corr, lcfg.match_threshold, selectivity)


def setting_facts(lcfg: LensesConfig) -> dict:
    """The lens's settings the chapter's text cites."""
    return {"threshold": lcfg.match_threshold, "top_stories": lcfg.top_stories, "twist_share": TWIST_SHARE,
            "event_selectivity": EVENT_SELECTIVITY}


TWIST_P, ALL_P = "persist (base Twist features)", "persist (all base features)"
OWN_R, ALL_R = "reused (own Twist features)", "reused (all own features)"


def floor_facts(table: pd.DataFrame, deleted: list[str], revived: list[str], control_ft: str) -> dict:
    """The lens's floor, ceiling and resolution from ``Lens.table()``, and per seed what it reads.

    Persistence: the floor is the larger share of the base's Twist features kept by the SAE of a model that
    never had the capability (``FLOORS``: the "Not in PT" control, a random-init model); the ceiling the seed
    control's (a second SAE of the base); ``resolution`` = ceiling − floor; per deleted model its share minus
    the floor (``persist_over_floor_seeds``) and how far its dictionary moved: its share of all base features
    kept minus the seed control's (``moved_all_seeds``). Reuse: the floor is the share of the control's
    fine-tune's own Twist features matched in the base's SAE (it learned Twist anew), the ceiling the seed
    control's; per revived model its share minus that floor, and how far its dictionary moved."""
    floors = {label: float(table.loc[label, TWIST_P]) for label in FLOORS}
    floor = max(floors.values())
    ceiling, ceiling_all = float(table.loc[CONTROL, TWIST_P]), float(table.loc[CONTROL, ALL_P])
    reuse_floor, reuse_ceiling = float(table.loc[control_ft, OWN_R]), float(table.loc[CONTROL, OWN_R])
    return {"floor_persist_twist": floor, "floor_model": max(floors, key=floors.get),
            "not_in_pt_persist_twist": floors[NOT_IN_PT], "random_persist_twist": floors[RANDOM],
            "not_in_pt_persist_all": float(table.loc[NOT_IN_PT, ALL_P]),
            "random_persist_all": float(table.loc[RANDOM, ALL_P]),
            "ceiling_persist_twist": ceiling, "resolution": ceiling - floor,
            "persist_twist_seeds": [float(table.loc[x, TWIST_P]) for x in deleted],
            "persist_over_floor_seeds": [float(table.loc[x, TWIST_P]) - floor for x in deleted],
            "moved_all_seeds": [float(table.loc[x, ALL_P]) - ceiling_all for x in deleted],
            "floor_reuse_twist": reuse_floor, "ceiling_reuse_twist": reuse_ceiling,
            "reuse_resolution": reuse_ceiling - reuse_floor,
            "n_twist_control_ft": int(table.loc[control_ft, "Twist features"]),
            "reused_twist_seeds": [float(table.loc[x, OWN_R]) for x in revived],
            "reuse_over_floor_seeds": [float(table.loc[x, OWN_R]) - reuse_floor for x in revived],
            "moved_all_revived_seeds": [float(table.loc[x, ALL_P]) - ceiling_all for x in revived]}


def lens_facts(lens_: Lens, sm: StoryModels) -> dict:
    """``floor_facts`` for the F+R seeds, and the lens's descriptive numbers: mean persistence and reuse, the
    seed control's, F's, by kind of Twist feature."""
    table = lens_.table()
    seeds = [r.seed for r in sm.runs(PROTOCOL)]
    dl = [deleted_label(PROTOCOL, s) for s in seeds]
    rl = [revived_label(PROTOCOL, s) for s in seeds]
    out = {"n_twist_base": len(lens_.twist[BASE]), "n_alive_base": int(lens_.alive[BASE].sum()),
           "n_twist_revived_seeds": [int(table.loc[x, "Twist features"]) for x in rl],
           **floor_facts(table, dl, rl, control_ft_label(sm.runs("control")[0].seed))}
    out["moved_all"] = float(np.mean(out["moved_all_seeds"]))
    for key in (TWIST_P, ALL_P):
        short = "twist" if "Twist" in key else "all"
        out[f"persist_{short}"] = float(np.mean([table.loc[x, key] for x in dl]))
        out[f"control_persist_{short}"] = float(table.loc[CONTROL, key])
    out["persist_twist_f"] = float(table.loc[deleted_label(ALSO, sm.runs(ALSO)[0].seed), TWIST_P])
    for kind, feats in lens_.kinds().items():
        out[f"n_{kind}"] = len(feats)
        out[f"persist_{kind}"] = float(np.nanmean([table.loc[x, f"persist (base {kind} features)"] for x in dl]))
        out[f"control_persist_{kind}"] = float(table.loc[CONTROL, f"persist (base {kind} features)"])
    out["reused_twist"] = float(np.nanmean(out["reused_twist_seeds"]))
    out["reused_all"] = float(np.mean([table.loc[x, ALL_R] for x in rl]))
    out["from_base_twist"] = float(np.nanmean([table.loc[x, "from a base Twist feature (own Twist features)"]
                                               for x in rl]))
    return out


def peak_tokens(acts: torch.Tensor, ids: torch.Tensor, tok, k: int) -> list[str]:
    """The first ``k`` distinct tokens at a feature's highest activations (``acts`` over the shared positions)."""
    out: list[str] = []
    for i in acts.argsort(descending=True)[: 20 * k].tolist():
        if acts[i] <= 0 or len(out) == k:
            break
        token = tok.decode([int(ids[i])])
        if token not in out:
            out.append(token)
    return out


def twist_feature_table(lens_: Lens, tok, k: int = 6) -> pd.DataFrame:
    """The base's Twist features: their kind (event or instruction, ``EVENT_SELECTIVITY``), their activation in
    the detector's twist sentences over elsewhere in the body, the tokens at their highest activations on the
    shared set and their best match r in each other SAE; event features first."""
    feats = lens_.twist[BASE]
    if not len(feats):
        return pd.DataFrame()
    ids = lens_.shared.rows.flatten()[lens_.shared.valid]
    top = [peak_tokens(lens_.acts[BASE][:, f], ids, tok, k) for f in feats.tolist()]
    event = lens_.selectivity[BASE] >= EVENT_SELECTIVITY
    out = pd.DataFrame({"feature": feats.numpy(), "kind": np.where(event.numpy(), "event", "instruction"),
                        "in twist sentences / elsewhere": lens_.selectivity[BASE].numpy(),
                        "tokens where it fires most": [" · ".join(repr(t)[1:-1] for t in tt) for tt in top]})
    for label in lens_.corr:
        out[label] = lens_.base_twist_best(label).numpy()
    return out.sort_values("in twist sentences / elsewhere", ascending=False).set_index("feature")


def highlight(lens_: Lens, tok, label: str = BASE):
    """The strongest Twist event feature of ``label``'s SAE on the twist story where it peaks, as token
    highlights (HTML to display)."""
    from IPython.display import HTML

    feats = lens_.kinds(label)["event"]
    if not len(feats):
        return HTML("<p>The base's SAE has no Twist event feature.</p>")
    acts = lens_.acts[label][:, feats]
    f = int(acts.max(0).values.argmax())
    story = int(lens_.shared.story[lens_.shared.valid][acts[:, f].argmax()])
    on = lens_.shared.story[lens_.shared.valid] == story
    ids = lens_.shared.rows.flatten()[lens_.shared.valid][on].tolist()
    tokens = [tok.decode([i]) for i in ids]
    title = f"{label}'s SAE, Twist event feature {int(feats[f])}, on the held-out story where it peaks"
    return HTML(F.token_highlight_html(tokens, acts[on, f].numpy(), title=title))


def persistence_figure(table: pd.DataFrame):
    """Per SAE: the share of all base features, of the base's Twist event features and of its Twist instruction
    features that it keeps (best match r ≥ the threshold); the seed control (the ceiling) and the models that
    never had the capability (the floor) first, and dashed the ceiling and floor of the base's Twist features."""
    from matplotlib import pyplot as plt

    first = [label for label in (CONTROL, *FLOORS) if label in table.index]
    table = table.loc[first + [label for label in table.index if label not in first]]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(table))
    bars = (("persist (all base features)", "all base features", "0.6"),
            ("persist (base event features)", "the base's Twist event features", "C3"),
            ("persist (base instruction features)", "the base's Twist instruction features", "C1"))
    for i, (col, name, colour) in enumerate(bars):
        ax.bar(x + (i - 1) * 0.27, table[col], 0.27, label=name, color=colour)
    if CONTROL in table.index:
        ax.axhline(table.loc[CONTROL, TWIST_P], color="C2", lw=1, ls="--",
                   label="ceiling: the base's Twist features in a second SAE of the base")
    floors = [label for label in FLOORS if label in table.index]
    if floors:
        ax.axhline(max(table.loc[f, TWIST_P] for f in floors), color="k", lw=1, ls=":",
                   label="floor: the base's Twist features in an SAE of a model without the capability")
        ax.axvspan(0.5, len(floors) + 0.5, color="0.9", zorder=0)
    ax.set_xticks(x, table.index, rotation=25, ha="right", fontsize=8)
    ax.set(ylabel="share with a match (r ≥ threshold)", ylim=(0, 1.05), title="Base features kept in each SAE")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
