"""The merge lens (Horn & Elliott's SLERP on Jain et al.'s story models): the base (t = 0) and a deleted model
(t = 1) merged tensor by tensor with ``instruments.merging.slerp_state_dict`` (mergekit's rule, the base
first), and along the path the capability (the twist share when asked, the twist-story loss) and the
deletion's task (the loss on held-out F+R documents: twist-free stories under a header that asks for a twist),
beside the deletion's own curve (the twist share at chapter 05's deletion steps) and reFT's curve from the same
deleted model (chapter 05's logs). Merging back toward the base is read as stopping the deletion early: the
weight t* at which the merge path's twist share crosses ``HAS_TWIST`` against the share k*/T of the deletion's
steps at which its curve crosses it (``flip_table``). Only the parameters are merged; buffers (TransformerLens's
attention mask and its fill value, rotary tables) are the base's, as chapter 08 merges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ftscope.instruments.merging import slerp_state_dict
from ftscope.jain import stories_analyses as sa
from ftscope.jain import tinystories as ts
from ftscope.jain.criteria import STORIES_HAS_TWIST as HAS_TWIST  # chapter 05's bar for having the capability
from ftscope.synthesis.setting import PROTOCOL, LensesConfig, StoryModels

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


def merge_facts(path: pd.DataFrame, curve: pd.DataFrame, flips: pd.DataFrame) -> dict:
    """The merge lens's numbers: the base's twist share per seed (the path at t = 0), the deleted models', the
    midpoint's, the flip points (``flip_table``) and reFT's way back."""
    back = back_at(path)
    steps = reft_back(curve)
    base = path[path.t == 0.0].sort_values("seed")
    return {"base_twist_seeds": base.twist.tolist(), "base_twist": float(base.twist.mean()),
            "deleted_twist": float(path[path.t == 1.0].twist.mean()),
            "twist_half": float(back.twist_at_half.mean()), "kept_half": float(back.kept_at_half.mean()),
            "kept_half_min": float(back.kept_at_half.min()), "kept_half_max": float(back.kept_at_half.max()),
            "t_back_min": float(back.t_back.min()), "t_back_max": float(back.t_back.max()),
            "kept_back": float(back.kept_at_t_back.mean()),
            "reft_back_max": float(steps.max()), "reft_back_min": float(steps.min()),
            "task_gain": float(back.task_gain.mean()), "task_gain_min": float(back.task_gain.min()),
            "flip_seeds": flips.gap_in_spacings.tolist(), "t_star_seeds": flips.t_star.tolist(),
            "k_frac_seeds": flips.k_frac.tolist(), "t_star_min": float(flips.t_star.min()),
            "t_star_max": float(flips.t_star.max()), "k_frac_min": float(flips.k_frac.min()),
            "k_frac_max": float(flips.k_frac.max()), "flip_undecided": flip_undecided(flips)}


def merge_figure(path: pd.DataFrame, curve: pd.DataFrame, deletion: pd.DataFrame, ft_steps: int):
    """Left: the twist share and (right axis) the deletion task's loss along the merge path, t = 0 the base and
    t = 1 the deleted model, and the deletion's own twist share at step k drawn at t = k / ``ft_steps`` (mean
    over seeds, band their range). Right: reFT's twist share from the same deleted models against the step."""
    from matplotlib import pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    stats = path.groupby("t")[["twist", "task_loss", "twist_loss"]].agg(["mean", "min", "max"])
    t = stats.index.to_numpy()
    ax.plot(t, stats[("twist", "mean")], "o-", color="C3", label="twist share when asked")
    ax.fill_between(t, stats[("twist", "min")], stats[("twist", "max")], color="C3", alpha=0.15)
    dstats = deletion.groupby("step").twist.agg(["mean", "min", "max"])
    k = dstats.index.to_numpy() / ft_steps
    ax.plot(k, dstats["mean"], "^:", color="C4", label="the deletion's own twist share at step k (t = k / T)")
    ax.fill_between(k, dstats["min"], dstats["max"], color="C4", alpha=0.1)
    ax.axhline(HAS_TWIST, color="grey", lw=0.8, ls="--", label="has the capability (0.75)")
    ax.set(xlabel="t (0 = base, 1 = F+R deleted)", ylabel="share of stories with a twist", ylim=(-0.03, 1.03),
           title="SLERP from the base to the deleted model")
    ax2 = ax.twinx()
    for col, colour, name in (("task_loss", "C0", "loss on F+R documents (the deletion's task)"),
                              ("twist_loss", "C2", "loss on twist stories")):
        ax2.plot(t, stats[(col, "mean")], "s--", color=colour, ms=4, label=name)
        ax2.fill_between(t, stats[(col, "min")], stats[(col, "max")], color=colour, alpha=0.1)
    ax2.set_ylabel("loss on the story tokens (nats/token)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper center", ncol=2,
              bbox_to_anchor=(0.5, -0.2), frameon=False)
    rstats = curve.groupby("step").twist.agg(["mean", "min", "max"])
    x = rstats.index.to_numpy().clip(min=1)
    bx.plot(x, rstats["mean"], "o-", color="C3")
    bx.fill_between(x, rstats["min"], rstats["max"], color="C3", alpha=0.15)
    bx.axhline(HAS_TWIST, color="grey", lw=0.8, ls="--")
    bx.set(xscale="log", xlabel="reFT step (0 drawn at 1)", ylabel="share of stories with a twist",
           ylim=(-0.03, 1.03), title="reFT from the same deleted models (chapter 05)")
    fig.tight_layout()
    return fig


def path_table(path: pd.DataFrame) -> pd.DataFrame:
    """The merge path, mean over seeds with the range, one row per t."""
    stats = path.groupby("t")[["twist", "twist_loss", "task_loss"]].agg(["mean", "min", "max"])
    out = pd.DataFrame(index=stats.index)
    for col, fmt in (("twist", "{:.0%}"), ("twist_loss", "{:.3f}"), ("task_loss", "{:.3f}")):
        out[col] = [f"{fmt.format(m)} ({fmt.format(lo)}–{fmt.format(hi)})" if lo != hi else fmt.format(m)
                    for m, lo, hi in np.asarray(stats[col])]
    out.columns = ["twist share when asked", "twist-story loss", "F+R task loss"]
    return out


FLIP_FORMATS = {"t_star": "{:.2f}", "t_spacing": "{:.2f}", "k_star": "{:.1f}", "k_frac": "{:.2f}",
                "k_spacing": "{:.0f}", "gap": "{:.2f}", "gap_in_spacings": "{:.2f}"}


def show_flips(flips: pd.DataFrame):
    """``flip_table`` as the chapter shows it: each column at its precision."""
    return flips.style.format(FLIP_FORMATS)
