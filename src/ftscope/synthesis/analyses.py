"""Chapter 10's analyses: the SAE lens and the merge lens, each ending in a findings record.

The SAE lens (Horn & Elliott's instrument on Jain et al.'s story models): every SAE read on one shared set of
held-out stories (``shared_set``), the base's **Twist features** found by their top stories and the exact
detector (``twist_features``), matched by Pearson r from the base's SAE to every other (``lens``) and followed
through deletion and revival against their floor and ceiling (``lens_findings``).

The merge lens (Horn & Elliott's SLERP): the base (t = 0) and a deleted model (t = 1) merged tensor by tensor
(mergekit's rule, the base first; buffers stay the base's), the capability and the deletion's task measured
along the path (``merge_path``) beside the deletion's own curve and reFT's; merging back is read as stopping
the deletion early: t*, where the path's twist share crosses ``HAS_TWIST``, against the share k*/T of the
deletion's steps where its curve does (``flip_table``, ``merge_findings``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ftscope.book.findings import Findings, Seeds, seeds
from ftscope.data import stories as world
from ftscope.instruments import matching
from ftscope.instruments.merging import slerp_state_dict
from ftscope.jain import stories_analyses as sa
from ftscope.jain import tinystories as ts
from ftscope.jain.criteria import STORIES_HAS_TWIST as HAS_TWIST  # chapter 05's bar for having the capability
from ftscope.synthesis.claims import TIE
from ftscope.synthesis.settings import (
    ALSO,
    BASE,
    CONTROL,
    FLOORS,
    NOT_IN_PT,
    PROTOCOL,
    RANDOM,
    SHARED_START,
    LensesConfig,
    StoryModels,
    control_ft_label,
    deleted_label,
    hook,
    revived_label,
)
from ftscope.synthesis.training import SAEs

#: a Twist feature: at least this share of its top stories have a twist (the shared set holds half; 18 of 20
#: twist stories happen by chance for a feature blind to twists with probability 2e-4)
TWIST_SHARE = 0.9
#: a Twist feature is an *event* feature when it fires inside the detector's twist sentences at least this many
#: times as strongly as elsewhere in the story's body; the others fire in twist stories before any twist is
#: written (they read the header's request). Set after the first `laptop` run, where the two groups were far apart
#: (above 29 and below 1); it splits the features for the text and claims nothing
EVENT_SELECTIVITY = 10.0


# ------------------------------------------------------------------ the shared set
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


# ------------------------------------------------------------------ the SAE lens
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
        a = matching.feature_acts(saes.models[label], sae.encode, rows, hook=hook(sm.cfg))[shared.valid]
        acts[label], alive[label] = a, matching.alive(a, lcfg.min_fires)
        twist[label] = twist_features(a, alive[label], shared, lcfg.top_stories)
    base = acts[BASE][:, alive[BASE]]
    corr = {label: matching.pearson_matrix(base, acts[label][:, alive[label]]) for label in acts if label != BASE}
    selectivity = {label: twist_selectivity(acts[label], shared, twist[label]) for label in acts}
    return Lens(shared, acts, alive, twist, corr, lcfg.match_threshold, selectivity)


TWIST_P, ALL_P = "persist (base Twist features)", "persist (all base features)"
OWN_R, ALL_R = "reused (own Twist features)", "reused (all own features)"
EVENT_P, INSTRUCTION_P = "persist (base event features)", "persist (base instruction features)"
FROM_BASE = "from a base Twist feature (own Twist features)"


@dataclass(frozen=True)
class LensFindings(Findings):
    """What the SAE lens reads. ``Seeds`` hold one value per F+R deletion seed (for the revived models, per
    reFT from each of them). Persistence: the floor is the larger share of the base's Twist features kept by
    the SAE of a model that never had the capability (``FLOORS``), the ceiling the seed control's, the
    resolution ceiling − floor; the dictionary *moved* by its share of all base features kept minus the seed
    control's. Reuse: the floor is the control's fine-tune's share of own Twist features matched in the
    base's SAE (it learned Twist anew), the ceiling the seed control's. An undefined share (no Twist feature)
    is 0 in ``persist_over_floor`` and ``reuse_over_floor``, and the reason is in their ``*_undecided``."""

    deletion_seeds: int
    n_twist_base: int
    n_alive_base: int
    n_event: int
    n_instruction: int
    floor_model: str
    floor_persist_twist: float
    not_in_pt_persist_twist: float
    random_persist_twist: float
    not_in_pt_persist_all: float
    random_persist_all: float
    ceiling_persist_twist: float
    resolution: float
    persist_twist: Seeds
    persist_all: Seeds
    persist_event: Seeds
    persist_instruction: Seeds
    control_persist_twist: float
    control_persist_all: float
    control_persist_event: float
    control_persist_instruction: float
    persist_twist_f: float
    persist_over_floor: Seeds
    moved_all: Seeds
    persist_undecided: str
    floor_reuse_twist: float
    ceiling_reuse_twist: float
    reuse_resolution: float
    n_twist_control_ft: int
    n_twist_revived: Seeds
    reused_twist: Seeds
    reused_all: Seeds
    from_base_twist: Seeds
    reuse_over_floor: Seeds
    moved_all_revived: Seeds
    reuse_undecided: str
    resolution_reading: str
    moved_reading: str
    reuse_reading: str


def _resolves(resolution: float) -> bool:
    """Whether the lens's ceiling lies at least two ties above its floor (NaN: it does not)."""
    return resolution >= 2 * TIE


def _barely_moved(moved: Seeds) -> bool:
    """Whether a fine-tune left the dictionary within a tie of where a second SAE seed does, on every seed."""
    return max(abs(m) for m in moved) < TIE


def sae_undecided(resolution: float, moved: Seeds, what: str, tell: str = "present from absent") -> str:
    """Why the SAE lens cannot decide ('' when it can): its ceiling is within two ties of its floor (it cannot
    ``tell`` the two apart), or the fine-tune ``what`` moved the dictionary (its share of all base features
    kept) less than a tie away from where a second SAE seed leaves it, on every seed."""
    why = []
    if not _resolves(resolution):
        why.append(f"the lens cannot tell {tell}: the seed control (ceiling) is {resolution:.2f} above the floor, "
                   f"less than {2 * TIE:g}")
    if _barely_moved(moved):
        why.append(f"{what} moved the dictionary less than a second SAE seed does (all base features kept: "
                   f"{', '.join(f'{m:+.2f}' for m in moved)} against the seed control, each within {TIE:g}): the "
                   "lens cannot tell a wrapper from barely moved")
    return "; ".join(why)


def _finite(values: list[float], what: str) -> tuple[Seeds, str]:
    """``values`` with an undefined (NaN) entry as 0, and why the claim cannot be read if there is one."""
    bad = [i for i, v in enumerate(values) if not np.isfinite(v)]
    why = f"{what} undefined on seed(s) {', '.join(map(str, bad))} (recorded as 0)" if bad else ""
    return seeds(0.0 if i in bad else v for i, v in enumerate(values)), why


def _readings(resolution: float, moved: Seeds, reuse_floor: float, reuse_resolution: float,
              moved_revived: Seeds) -> dict[str, str]:
    """Sentences for the chapter's text: what the SAE lens resolves, from the same tests as its claims."""
    res, barely = _resolves(resolution), _barely_moved(moved)
    reuse_res = np.isfinite(reuse_floor) and _resolves(reuse_resolution)
    reuse_barely = _barely_moved(moved_revived)
    return {
        "resolution_reading": (
            f"That is at least two ties ({2 * TIE:g}): here a base Twist feature kept by another model's SAE says "
            "more than an SAE of a model without the capability would show." if res else
            f"That is less than two ties ({2 * TIE:g}): an SAE of a model that never had the capability keeps the "
            "base's Twist features nearly as often as a second SAE of the base does, so at this scale the lens "
            "cannot tell a capability present from absent, and the claim that deletion keeps them is "
            "inconclusive."),
        "moved_reading": (
            f"on every seed less than a tie ({TIE:g}) from where a second SAE seed leaves it. The deletion "
            "leaves the dictionary where another SAE seed would, so a kept Twist feature cannot tell "
            "a wrapper from a model that barely moved." if barely else
            f"more than a tie ({TIE:g}) beyond a second SAE seed on at least one seed, so the dictionary did move, "
            "and whether the Twist features moved with it is the deletion's doing."),
        "reuse_reading": (
            "The control's fine-tune has no Twist feature, so reuse has no floor here and its claim is "
            "inconclusive." if not np.isfinite(reuse_floor) else
            "The ceiling is at least two ties above that floor and reFT moved the dictionary beyond a second SAE "
            "seed: the claim below compares each revived model with the floor." if reuse_res and not reuse_barely
            else "The lens cannot separate reuse from what any model trained on twist stories has: "
            + ("the ceiling is less than two ties above that floor" if not reuse_res else
               "reFT left the dictionary where a second SAE seed would") + ", and the claim is inconclusive."),
    }


def lens_findings(lens_: Lens, sm: StoryModels) -> LensFindings:
    """What the lens reads over the F+R seeds (``LensFindings``), from ``Lens.table()``."""
    seeds_ = [r.seed for r in sm.runs(PROTOCOL)]
    kinds = lens_.kinds()
    return table_findings(lens_.table(), [deleted_label(PROTOCOL, s) for s in seeds_],
                          [revived_label(PROTOCOL, s) for s in seeds_], control_ft_label(sm.runs("control")[0].seed),
                          deleted_label(ALSO, sm.runs(ALSO)[0].seed), n_twist_base=len(lens_.twist[BASE]),
                          n_alive_base=int(lens_.alive[BASE].sum()), n_event=len(kinds["event"]),
                          n_instruction=len(kinds["instruction"]))


def table_findings(table: pd.DataFrame, deleted: list[str], revived: list[str], control_ft: str, also: str,
                   **counts: int) -> LensFindings:
    """``LensFindings`` from ``Lens.table()``: the rows of the ``deleted`` and ``revived`` models (one per
    seed), the control's fine-tune and the ``also`` deleted model; ``counts``: the base's feature counts."""

    def col(labels: list[str], column: str) -> Seeds:
        return seeds(float(table.loc[x, column]) for x in labels)

    floors = {label: float(table.loc[label, TWIST_P]) for label in FLOORS}
    floor = max(floors.values())
    ceiling, ceiling_all = float(table.loc[CONTROL, TWIST_P]), float(table.loc[CONTROL, ALL_P])
    reuse_floor, reuse_ceiling = float(table.loc[control_ft, OWN_R]), float(table.loc[CONTROL, OWN_R])
    moved = seeds(v - ceiling_all for v in col(deleted, ALL_P))
    moved_revived = seeds(v - ceiling_all for v in col(revived, ALL_P))
    persist_over, persist_nan = _finite([v - floor for v in col(deleted, TWIST_P)], "the floor")
    reuse_over, reuse_nan = _finite([v - reuse_floor for v in col(revived, OWN_R)], (
        "a revived model's or the control's fine-tune's share of reused Twist features (no Twist feature)"))
    return LensFindings(
        deletion_seeds=len(deleted), **counts, floor_model=max(floors, key=floors.get), floor_persist_twist=floor,
        not_in_pt_persist_twist=floors[NOT_IN_PT], random_persist_twist=floors[RANDOM],
        not_in_pt_persist_all=float(table.loc[NOT_IN_PT, ALL_P]),
        random_persist_all=float(table.loc[RANDOM, ALL_P]),
        ceiling_persist_twist=ceiling, resolution=ceiling - floor,
        persist_twist=col(deleted, TWIST_P), persist_all=col(deleted, ALL_P),
        persist_event=col(deleted, EVENT_P), persist_instruction=col(deleted, INSTRUCTION_P),
        control_persist_twist=ceiling, control_persist_all=ceiling_all,
        control_persist_event=float(table.loc[CONTROL, EVENT_P]),
        control_persist_instruction=float(table.loc[CONTROL, INSTRUCTION_P]),
        persist_twist_f=float(table.loc[also, TWIST_P]),
        persist_over_floor=persist_over, moved_all=moved,
        persist_undecided="; ".join(w for w in (persist_nan, sae_undecided(ceiling - floor, moved, "deletion"))
                                    if w),
        floor_reuse_twist=reuse_floor, ceiling_reuse_twist=reuse_ceiling,
        reuse_resolution=reuse_ceiling - reuse_floor,
        n_twist_control_ft=int(table.loc[control_ft, "Twist features"]),
        n_twist_revived=seeds(int(table.loc[x, "Twist features"]) for x in revived),
        reused_twist=col(revived, OWN_R), reused_all=col(revived, ALL_R), from_base_twist=col(revived, FROM_BASE),
        reuse_over_floor=reuse_over, moved_all_revived=moved_revived,
        reuse_undecided="; ".join(w for w in (reuse_nan, sae_undecided(
            reuse_ceiling - reuse_floor, moved_revived, "reFT", "reuse from features learned anew")) if w),
        **_readings(ceiling - floor, moved, reuse_floor, reuse_ceiling - reuse_floor, moved_revived))


# ------------------------------------------------------------------ the merge lens
#: what the merge path records of a twist evaluation (``ts.twist_eval``)
EVAL_KEYS = ("twist", "twist_k", "twist_n", "twist_loss")


def task_texts(sm: StoryModels) -> list[str]:
    """Held-out documents of the deletion's data (F+R: the stories without a twist, Twist in the header)."""
    return ts.protocol_texts(sm.setting.held, PROTOCOL)[: sm.cfg.eval_docs]


def _evals(log: dict | None) -> dict[int, dict]:
    """A chapter-05 training log's evaluations by step (none for a missing log)."""
    return {int(e["step"]): e for e in (log or {}).get("evals") or []}


def merge_path(lcfg: LensesConfig, sm: StoryModels, seed: int) -> pd.DataFrame:
    """One row per (F+R seed, t): the twist share when asked (``twist``, ``twist_k`` of ``twist_n``), the
    twist-story loss and the deletion task's loss of the merge at t, each run's merges evaluated as chapter 05
    evaluates that run (``ts.twist_eval`` with the run: its prompts and sampling seed). At t = 0 (the base) and
    t = 1 (the deleted model) the twist numbers are chapter 05's own: its deletion log at step 0 and its reFT
    log at step 0."""
    from ftscope.progress import progress

    texts = task_texts(sm)
    base = sm.base_state()
    params = {n for n, p in sm.base.named_parameters() if p.requires_grad}  # the weights; buffers stay the base's
    base_task = ts.story_loss(sm.base, sm.setting.tok, texts, sm.cfg.n_ctx)
    rows = []
    runs = sm.runs(PROTOCOL)
    for run in progress(runs, desc="merge paths", total=len(runs)):
        evaluate = ts.twist_eval(sm.cfg, sm.setting, seed, run)
        deleted = sm.state(run, "deleted")
        logged = {0.0: _evals(sm.states[run].get("delete_log")).get(0), 1.0: _evals(sm.states[run]["log"]).get(0)}
        if logged[1.0] is None:
            raise ValueError(f"{run.label}: chapter 05's reFT log has no evaluation at step 0")
        for t in lcfg.merge_ts:
            t = float(t)
            weights = base if t == 0.0 else deleted if t == 1.0 else slerp_state_dict(t, base, deleted,
                                                                                     params=params)[0]
            model = sm.load(weights)
            got = logged.get(t) or evaluate(model)
            task = base_task if t == 0.0 else ts.story_loss(model, sm.setting.tok, texts, sm.cfg.n_ctx)
            rows.append({"seed": run.seed, "t": t, **{k: got.get(k, np.nan) for k in EVAL_KEYS},
                         "task_loss": task})
    return pd.DataFrame(rows)


def deletion_curve(sm: StoryModels, path: pd.DataFrame) -> pd.DataFrame:
    """Per F+R seed: the twist share when asked at each evaluated deletion step (chapter 05's deletion log,
    ``delete_evals``), with step 0 (the base) and step ``ft_steps`` (the deleted model) from the merge path's
    ends (the same evaluations)."""
    rows = []
    for run in sm.runs(PROTOCOL):
        ends = path[path.seed == run.seed].set_index("t").twist
        logged = {k: float(e["twist"]) for k, e in _evals(sm.states[run].get("delete_log")).items()
                  if 0 < k < sm.cfg.ft_steps}
        points = {0: float(ends.loc[0.0]), **logged, sm.cfg.ft_steps: float(ends.loc[1.0])}
        rows += [{"seed": run.seed, "step": k, "twist": v} for k, v in sorted(points.items())]
    return pd.DataFrame(rows)


def crossing(x, y, level: float = HAS_TWIST) -> tuple[float, float, bool]:
    """Where ``y`` (falling along ``x``) first reaches ``level`` or below (``stories_analyses.crossing``):
    ``(x*, the spacing of the two points around it, whether it crosses)``. At or below ``level`` from the
    first point: ``(x[0], the first spacing, True)``; never: ``(x[-1], the last spacing, False)``."""
    x = np.asarray(x, float)
    at = sa.crossing(x.tolist(), np.asarray(y, float).tolist(), level, falling=True)
    if np.isnan(at):
        return float(x[-1]), float(x[-1] - x[-2]), False
    i = max(1, int(np.searchsorted(x, at)))
    return at, float(x[i] - x[i - 1]), True


def flip_table(path: pd.DataFrame, deletion: pd.DataFrame, ft_steps: int) -> pd.DataFrame:
    """Per seed: t*, the merge weight at which the path's twist share crosses ``HAS_TWIST`` (and the grid's
    spacing there), and k*, the deletion step at which the deletion's curve crosses it, as a share of the
    deletion's steps (k*/T, the merge weight it stands for: t = 0 is the base, as step 0 is); ``gap`` =
    |t* − k*/T| and ``gap_in_spacings`` = gap over the merge grid's spacing at t*; ``curve_points``: the
    deletion's evaluated steps between its ends."""
    rows = []
    for seed, g in path.groupby("seed"):
        g = g.sort_values("t")
        d = deletion[deletion.seed == seed].sort_values("step")
        t_star, spacing, t_ok = crossing(g.t, g.twist)
        k_star, k_spacing, k_ok = crossing(d.step, d.twist)
        gap = abs(t_star - k_star / ft_steps)
        rows.append({"seed": seed, "t_star": t_star, "t_spacing": spacing, "t_crosses": t_ok,
                     "k_star": k_star, "k_frac": k_star / ft_steps, "k_spacing": k_spacing, "k_crosses": k_ok,
                     "curve_points": int(((d.step > 0) & (d.step < ft_steps)).sum()), "gap": gap,
                     "gap_in_spacings": gap / spacing})
    return pd.DataFrame(rows).set_index("seed")


def flip_undecided(flips: pd.DataFrame) -> str:
    """Why the flip points cannot be compared ('' when they can): a seed's deletion curve has no point between
    its ends, or its merge path or deletion curve never crosses ``HAS_TWIST``."""
    why = []
    if (flips.curve_points == 0).any():
        why.append("chapter 05's deletion log holds no evaluation between the base and the deleted model "
                   f"(seed(s) {', '.join(str(s) for s in flips.index[flips.curve_points == 0])})")
    for col, what in (("t_crosses", "merge path"), ("k_crosses", "deletion curve")):
        if not flips[col].all():
            why.append(f"the {what} of seed(s) {', '.join(str(s) for s in flips.index[~flips[col]])} never falls "
                       f"to {HAS_TWIST:g}")
    return "; ".join(why)


def reft_curve(sm: StoryModels) -> pd.DataFrame:
    """reFT from each F+R deleted model: the twist share and twist-story loss at each evaluated step (chapter
    05's runs)."""
    from ftscope.train.loop import TrainLog

    rows = []
    for run in sm.runs(PROTOCOL):
        frame = TrainLog(**sm.states[run]["log"]).eval_frame()
        rows += [{"seed": run.seed, "step": int(r["step"]), "twist": float(r["twist"]),
                  "twist_loss": float(r["twist_loss"])} for _, r in frame.iterrows()]
    return pd.DataFrame(rows)


def back_at(path: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the largest t at which the merge has the capability (twist share ≥ ``HAS_TWIST``), and the share
    of the deletion's gain on its own task kept there: (loss of the base − loss at t) / (loss of the base − loss
    of the deleted model); the same at t = 0.5. (Where the deletion gained nothing the denominator is the size of
    its loss change.)"""
    rows = []
    for seed, g in path.groupby("seed"):
        g = g.set_index("t").sort_index()
        ok = g.index[g.twist >= HAS_TWIST]
        t_back = float(ok.max()) if len(ok) else float("nan")
        gain = g.task_loss.iloc[0] - g.task_loss.iloc[-1]
        scale = abs(gain) if gain else float("nan")
        kept = (g.task_loss.iloc[0] - g.task_loss.loc[t_back]) / scale if len(ok) else float("nan")
        mid = (g.task_loss.iloc[0] - g.task_loss.loc[0.5]) / scale
        rows.append({"seed": seed, "t_back": t_back, "kept_at_t_back": kept, "twist_at_half": float(g.twist.loc[0.5]),
                     "kept_at_half": mid, "task_gain": float(gain)})
    return pd.DataFrame(rows).set_index("seed")


def reft_back(curve: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the first reFT step at which the twist share is back at ``HAS_TWIST`` (NaN if never)."""
    return curve[curve.twist >= HAS_TWIST].groupby("seed").step.min().reindex(sorted(curve.seed.unique()))


@dataclass(frozen=True)
class MergeFindings(Findings):
    """What the merge lens reads, one value per F+R seed: the twist share of the base (the path at t = 0), of
    the deleted model (t = 1) and at t = 0.5; the share of the deletion's gain on its own documents kept at
    t = 0.5 and at the largest t with the capability (``t_back``); reFT's steps back to ``HAS_TWIST``; the
    deletion's gain; the flip points t* and k*/T and their gap in spacings of the merge grid (``flip``)."""

    base_twist: Seeds
    deleted_twist: Seeds
    twist_half: Seeds
    kept_half: Seeds
    t_back: Seeds
    kept_back: Seeds
    reft_back: Seeds
    task_gain: Seeds
    t_star: Seeds
    k_frac: Seeds
    flip: Seeds
    flip_undecided: str


def merge_findings(path: pd.DataFrame, curve: pd.DataFrame, flips: pd.DataFrame) -> MergeFindings:
    """The merge lens's numbers (``MergeFindings``) from the path, reFT's curve and ``flip_table``."""
    back = back_at(path)
    return MergeFindings(
        base_twist=seeds(path[path.t == 0.0].sort_values("seed").twist),
        deleted_twist=seeds(path[path.t == 1.0].sort_values("seed").twist),
        twist_half=seeds(back.twist_at_half), kept_half=seeds(back.kept_at_half), t_back=seeds(back.t_back),
        kept_back=seeds(back.kept_at_t_back), reft_back=seeds(reft_back(curve)), task_gain=seeds(back.task_gain),
        t_star=seeds(flips.t_star), k_frac=seeds(flips.k_frac), flip=seeds(flips.gap_in_spacings),
        flip_undecided=flip_undecided(flips))
