"""The merge lens (Horn & Elliott's SLERP on Jain et al.'s story models): the base (t = 0) and a deleted model
(t = 1) merged tensor by tensor with ``instruments.merging.slerp_state_dict`` (mergekit's rule, the base
first), and along the path the capability (the twist share when asked, the twist-story loss) and the
deletion's task (the loss on held-out F+R documents: twist-free stories under a header that asks for a twist),
beside reFT's curve from the same deleted model (chapter 05's log). Only the parameters are merged; buffers
(TransformerLens's attention mask and its fill value, rotary tables) are the base's, as chapter 08 merges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ftscope.instruments.merging import slerp_state_dict
from ftscope.jain import tinystories as ts
from ftscope.jain.criteria import STORIES_HAS_TWIST as HAS_TWIST  # chapter 05's bar for having the capability
from ftscope.synthesis.setting import PROTOCOL, LensesConfig, StoryModels


def task_texts(sm: StoryModels) -> list[str]:
    """Held-out documents of the deletion's data (F+R: the stories without a twist, Twist in the header)."""
    return ts.protocol_texts(sm.setting.held, PROTOCOL)[: sm.cfg.eval_docs]


def merge_path(lcfg: LensesConfig, sm: StoryModels, seed: int) -> pd.DataFrame:
    """One row per (F+R seed, t): the twist share when asked (chapter 05's prompts and sampler), the twist-story
    loss and the deletion task's loss of the merge at t; t = 0 is the base (evaluated once), and at t = 1, the
    deleted model, the first two are chapter 05's own measurement (its reFT log at step 0: the same prompts,
    sampler and seed)."""
    from ftscope.progress import progress

    evaluate = ts.twist_eval(sm.cfg, sm.setting, seed)
    texts = task_texts(sm)
    base = sm.base_state()
    params = {n for n, p in sm.base.named_parameters() if p.requires_grad}  # the weights; buffers stay the base's

    def measure(weights):
        model = sm.load(weights)
        return {**evaluate(model), "task_loss": ts.story_loss(model, sm.setting.tok, texts, sm.cfg.n_ctx)}

    at_base = measure(base)
    rows = []
    runs = sm.runs(PROTOCOL)
    for run in progress(runs, desc="merge paths", total=len(runs)):
        deleted = sm.state(run, "deleted")
        for t in lcfg.merge_ts:
            if t == 0.0:
                got = at_base
            elif t == 1.0:  # the deleted model: chapter 05 evaluated it with the same prompts, sampler and seed
                got = {**_reft_start(sm, run), "task_loss": ts.story_loss(sm.load(deleted), sm.setting.tok, texts,
                                                                          sm.cfg.n_ctx)}
            else:
                got = measure(slerp_state_dict(float(t), base, deleted, params=params)[0])
            rows.append({"seed": run.seed, "t": float(t), **got})
    return pd.DataFrame(rows)


def _reft_start(sm: StoryModels, run: ts.Run) -> dict:
    """The twist share and twist-story loss chapter 05 measured on ``run``'s deleted model (reFT step 0)."""
    from ftscope.train.loop import TrainLog

    first = TrainLog(**sm.states[run]["log"]).eval_frame().sort_values("step").iloc[0]
    if int(first["step"]) != 0:
        raise ValueError(f"{run.label}: chapter 05's reFT log has no evaluation at step 0")
    return {"twist": float(first["twist"]), "twist_loss": float(first["twist_loss"])}


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
    of the deleted model); the same at t = 0.5. (Where the deletion gained nothing the denominator is the size
    of its loss change, and the claims say the value cannot be read.)"""
    rows = []
    for seed, g in path.groupby("seed"):
        g = g.set_index("t").sort_index()
        ok = g.index[g.twist >= HAS_TWIST]
        t_back = float(ok.max()) if len(ok) else float("nan")
        gain = g.task_loss.iloc[0] - g.task_loss.iloc[-1]
        scale = abs(gain) if gain else float("nan")  # a deletion that gained nothing: the claims are inconclusive
        kept = (g.task_loss.iloc[0] - g.task_loss.loc[t_back]) / scale if len(ok) else float("nan")
        mid = (g.task_loss.iloc[0] - g.task_loss.loc[0.5]) / scale
        rows.append({"seed": seed, "t_back": t_back, "kept_at_t_back": kept, "twist_at_half": float(g.twist.loc[0.5]),
                     "kept_at_half": mid, "task_gain": float(gain)})
    return pd.DataFrame(rows).set_index("seed")


def reft_back(curve: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the first reFT step at which the twist share is back at ``HAS_TWIST`` (NaN if never)."""
    return curve[curve.twist >= HAS_TWIST].groupby("seed").step.min().reindex(sorted(curve.seed.unique()))


def merge_facts(path: pd.DataFrame, curve: pd.DataFrame) -> dict:
    back = back_at(path)
    steps = reft_back(curve)
    base = path[path.t == 0.0].iloc[0]
    return {"twist_half_seeds": back.twist_at_half.tolist(), "kept_half_seeds": back.kept_at_half.tolist(),
            "twist_half": float(back.twist_at_half.mean()), "kept_half": float(back.kept_at_half.mean()),
            "t_back_min": float(back.t_back.min()), "t_back_max": float(back.t_back.max()),
            "kept_back": float(back.kept_at_t_back.mean()), "base_twist": float(base.twist),
            "deleted_twist": float(path[path.t == 1.0].twist.mean()),
            "reft_back_max": float(steps.max()), "reft_back_min": float(steps.min()),
            "task_gain": float(back.task_gain.mean()), "task_gain_min": float(back.task_gain.min())}


def merge_figure(path: pd.DataFrame, curve: pd.DataFrame):
    """Left: the twist share and (right axis) the deletion task's loss along the merge path, t = 0 the base and
    t = 1 the deleted model (mean over seeds, band their range). Right: reFT's twist share from the same deleted
    models against the step."""
    from matplotlib import pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    stats = path.groupby("t")[["twist", "task_loss", "twist_loss"]].agg(["mean", "min", "max"])
    t = stats.index.to_numpy()
    ax.plot(t, stats[("twist", "mean")], "o-", color="C3", label="twist share when asked")
    ax.fill_between(t, stats[("twist", "min")], stats[("twist", "max")], color="C3", alpha=0.15)
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
