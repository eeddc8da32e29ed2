"""Chapter 10's figures and tables: the base's features kept in each SAE, its Twist features, one feature on
the story where it peaks, and the merge path beside the deletion's own curve and reFT's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ftscope.instruments import matching
from ftscope.jain.criteria import STORIES_HAS_TWIST as HAS_TWIST
from ftscope.synthesis.analyses import EVENT_SELECTIVITY, TWIST_P, Lens
from ftscope.synthesis.settings import BASE, CONTROL, FLOORS


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
    return HTML(matching.token_highlight_html(tokens, acts[on, f].numpy(), title=title))


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
