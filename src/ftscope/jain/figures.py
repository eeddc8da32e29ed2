"""The Jain et al. chapters' figures: each function draws one figure from an analysis's table and
returns it (matplotlib / seaborn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import pyplot as plt

from ftscope.instruments import plots
from ftscope.jain import pcfg, reported
from ftscope.jain.compiled import max_id_batch
from ftscope.jain.compiled_analyses import seed_means
from ftscope.jain.tracr import BOS

TRACR_COLS = {"acc_pt_cte1": "O_PT\nC_Te=1", "acc_ft_cte1": "O_FT\nC_Te=1", "acc_pt_cte0": "O_PT\nC_Te=0",
              "acc_ft_cte0": "O_FT\nC_Te=0"}
PCFG_COLS = {"acc_pt_cte1": "count a\nC_Te=1", "acc_ft_cte1": "count b\nC_Te=1", "acc_pt_cte0": "count a\nC_Te=0",
             "acc_ft_cte0": "count b\nC_Te=0"}


# ------------------------------------------------------------------ tracr
def attention_by_block(cp, batch, title: str, highlight: str | None = None):
    """Every block's attention pattern of a compiled model on the first input of ``batch``."""
    _, cache = cp.model.run_with_cache(batch.tokens)
    layers = range(cp.model.cfg.n_layers)
    return plots.attention_maps([cache["pattern", layer][0, 0].cpu().numpy() for layer in layers],
                                [BOS, *batch.letters[0]], [f"Block {layer}" for layer in layers], title,
                                highlight=highlight)


def max_id_block0(cfg, max_id, models: dict, seed: int, device):
    """Block 0 (sorting) of the compiled Max identifier and of its fine-tunes, on one fresh input."""
    example = max_id_batch(max_id, np.random.default_rng(seed + 3), 1, cfg.max_id_len, 0.0, cfg.max_id_k_pt,
                           cfg.max_id_k_ft).to(device)
    return block0_attention(max_id.model, [models["Max id", lr, 0.0] for lr in cfg.max_id_lrs],
                            [f"fine-tuned, η={lr:g}" for lr in cfg.max_id_lrs], example,
                            "Max identifier, Block 0 (sorting)")


def block0_attention(compiled, models: list, titles: list[str], batch, title: str):
    """Block 0's attention pattern on the first input of ``batch``, for the compiled model and others."""
    maps = [m.run_with_cache(batch.tokens)[1]["pattern", 0][0, 0].cpu().numpy() for m in [compiled, *models]]
    return plots.attention_maps(maps, [BOS, *batch.letters[0]], ["compiled", *titles], title)


def _table3_view(frame: pd.DataFrame, scale: float) -> pd.DataFrame:
    out = frame.assign(run=[f"{t} η={lr:g} C_Tr={c:g}" for t, lr, c in zip(frame.task, frame.lr, frame.c_tr)])
    return (out.set_index("run")[list(TRACR_COLS)] * scale).rename(columns=TRACR_COLS)


def table3(grid: pd.DataFrame, preset: str, steps: int):
    """Our Table 3 (mean over seeds) beside the paper's (%), on our runs' rows."""
    ours = _table3_view(seed_means(grid), 100)
    paper = _table3_view(reported.table3(), 1).reindex(ours.index)
    return plots.paired_heatmaps(ours, paper, f"ours ({preset}, {steps} steps)",
                                 f"paper (Table 3, {reported.TRACR_FT_STEPS // 1000}K steps)",
                                 suptitle="Accuracy (%) of the pretraining (O_PT) and fine-tuning (O_FT) answers")


def counter_by_c_tr(grid: pd.DataFrame):
    """Count-b and count-a accuracy (C_Te = 0) of the fine-tuned Counters against C_Tr, one line per η."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    counter = grid[grid.task == "Counter"]
    for ax, col in zip(axes, ["acc_ft_cte0", "acc_pt_cte0"]):
        for lr, sub in counter.groupby("lr"):
            stats = sub.groupby("c_tr")[col].agg(["mean", "min", "max"])
            err = [(stats["mean"] - stats["min"]).clip(lower=0), (stats["max"] - stats["mean"]).clip(lower=0)]
            ax.errorbar(stats.index, stats["mean"], yerr=err,
                        marker="o", capsize=3, label=f"η={lr:g}")
        ax.axhline(counter[col.replace("acc_", "chance_")].iloc[0], color="grey", ls="--", lw=1,
                   label="chance (constant answer)")
        ax.set(title=f"{TRACR_COLS[col].replace(chr(10), ', ')} after fine-tuning", xlabel="C_Tr", ylabel="accuracy",
               ylim=(-0.03, 1.03))
    axes[0].legend()
    fig.tight_layout()
    return fig


def _mean_and_range(ax, frame: pd.DataFrame, x: str, y: str, **style):
    """``y``'s mean over seeds against ``x`` (a line, in the order ``x`` first appears), and its min-max
    range over the seeds (a band of the line's colour)."""
    stats = frame.groupby(x, sort=False)[y].agg(["mean", "min", "max"])
    line, = ax.plot(stats.index, stats["mean"], marker="o", **style)
    ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15)


def tracr_pruning(pruning: pd.DataFrame):
    """Both answers against K for zeroing the top-K weights, and count a for resetting the K most changed
    (mean over seeds, the band their range)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), sharey=True)
    for ax, (method, metric) in zip(axes, [("prune", "count a (O_PT)"), ("prune", "count b (O_FT), C_Te=1"),
                                           ("reset", "count a (O_PT)")]):
        for name, sub in pruning[pruning.method == method].groupby("model", sort=False):
            _mean_and_range(ax, sub, "k", metric, label=name)
        title = "zero the top-K by grad·weight" if method == "prune" else "reset the K most-changed weights"
        ax.set(title=f"{metric}\n{title}", xlabel="K", ylabel="accuracy (uncorrelated test)" if ax is axes[0] else "",
               ylim=(-0.03, 1.03))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def tracr_probes(probes: pd.DataFrame, floors: tuple[str, ...] = ()):
    """Probe accuracy per block and model (mean over seeds, the band their range); the ``floors`` (models
    that never counted a) grey and dotted."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    greys = dict(zip(floors, ("0.35", "0.65")))
    for name, sub in probes.groupby("model", sort=False):
        if name in greys:
            ax.plot(sub.block, sub.accuracy, color=greys[name], linestyle=":", marker=".", label=f"floor: {name}")
            continue
        _mean_and_range(ax, sub, "block", "accuracy", label=name, linestyle="--" if name == "compiled" else "-")
    ax.set(title="Linear probe for count(a) at the answer position", ylabel="held-out accuracy", ylim=(-0.03, 1.03))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def tracr_reft(reft: dict, scratch: dict, level: float, lr_factor: float):
    """Count-a accuracy during reFT and Scr.+FT, one panel per fine-tuning η (logs by (η, seed); one
    line per seed; the largest η has no Scr.+FT)."""
    lrs = sorted({lr for lr, _ in reft})
    fig, axes = plt.subplots(1, len(lrs), figsize=(4 * len(lrs), 3.4), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, lr in zip(axes, lrs):
        for kind, logs, color in (("reFT", reft, plots.colour("reFT")), ("Scr.+FT", scratch, plots.colour("Scr.+FT"))):
            for i, log in enumerate(log for (k, _), log in logs.items() if k == lr):
                frame = log.eval_frame()
                ax.plot(frame.step.clip(lower=1), frame["count a"], marker="o", ms=3, color=color, alpha=0.8,
                        label=kind if i == 0 else None)
        ax.axhline(level, color="grey", lw=0.8, ls=":")
        ax.set(xscale="log", xlabel="steps (step 0 drawn at 1)", ylim=(-0.03, 1.03),
               title=f"FT η={lr:g} → reFT η={lr * lr_factor:g}")
    axes[0].set_ylabel("count-a accuracy (C_Te=0)")
    axes[0].legend()
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ PCFG
def grammar(stats: dict, window: int):
    """Derivation lengths, letter shares, and the counts of a and b in the counted span."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    sns.histplot(stats["lengths"], ax=axes[0], bins=30)
    axes[0].set(xlabel="derivation length (letters)", title="Derivations")
    letters = stats["letters"]
    sns.barplot(x=letters.index, y=letters.values, ax=axes[1])
    axes[1].set(ylabel="share", title="Letters")
    sns.histplot(pd.DataFrame({"a": stats["count_a"], "b": stats["count_b"]}), ax=axes[2], discrete=True,
                 element="step")
    axes[2].set(xlabel=f"count in the last {stats['span']} positions", title=f"Counts in a {window}-letter window")
    fig.tight_layout()
    return fig


def pretraining_loss(logs: dict):
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for prior, log in logs.items():
        frame = log.frame()
        ax.plot(frame["step"], frame["loss"].rolling(5, min_periods=1).mean(), label=f"{prior} {pcfg.PRIORS[prior]}")
    ax.set(xlabel="step", ylabel="answer loss", yscale="log", title="Pretraining loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def family_heatmap(acc: pd.DataFrame):
    """Accuracy per prior (rows) and family/operand (columns); the last row is the chance level of each
    test set (the best constant answer), when ``acc`` carries it."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    sns.heatmap(100 * acc.T, annot=True, fmt=".0f", cmap="mako", vmin=0, vmax=100, cbar=False, ax=ax)
    ax.set(title="Accuracy (%) by family and operand", ylabel="pretraining prior")
    fig.tight_layout()
    return fig


def table5(ours: pd.DataFrame, paper: pd.DataFrame, preset: str):
    return plots.paired_heatmaps(ours.rename(columns=PCFG_COLS), paper.rename(columns=PCFG_COLS), f"Ours ({preset}), %",
                                 "Jain et al. (2024), Table 5, %", suptitle="Accuracy after fine-tuning to count b")


def collapse(mid: pd.DataFrame, preset: str):
    """Fig. 6: count-a accuracy (C_Te = 0) while fine-tuning at η_M, per prior and C_Tr."""
    g = sns.relplot(data=mid, x="step", y="acc_pt_cte0", hue="c_tr", col="prior", kind="line", marker="o",
                    errorbar=("pi", 100), height=3.0, aspect=1.1, palette="viridis")  # band: min–max over seeds
    g.set(xscale="symlog", ylim=(-0.02, 1.02), ylabel="count-a accuracy (C_Te=0)")
    g.figure.suptitle(f"Count a while fine-tuning to count b at η_M ({preset})", y=1.04)
    return g.figure


def pcfg_pruning(pruned: pd.DataFrame, count_a_before: float, lr_symbol: str = "η_S"):
    """Fig. 7: the four accuracies against the number of neurons pruned (mean over seeds, the band their range)."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for col, label in PCFG_COLS.items():
        _mean_and_range(ax, pruned, "k", col, label=label.replace("\n", ", "))
    ax.axhline(count_a_before, color="grey", ls=":", lw=0.8, label="count a before fine-tuning")
    ax.set(xlabel="neurons pruned (K)", ylabel="accuracy", ylim=(-0.02, 1.02),
           title=f"Pruning the low-prior model fine-tuned at {lr_symbol}, C_Tr = 1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pcfg_probes(probes: pd.DataFrame):
    """Fig. 8: probe accuracy per block, by target, prior and model."""
    g = sns.catplot(data=probes, x="block", y="accuracy", hue="model", col="prior", row="target", kind="point",
                    height=2.8, aspect=1.2, palette="deep")
    g.set(ylim=(-0.02, 1.02))
    g.figure.suptitle("Linear probes at <art> (C_Te = 0 test texts)", y=1.02)
    return g.figure


def pcfg_reft(reft: dict, scratch, lr_symbol: str):
    """Fig. 9: count-a accuracy during reFT (per prior) and Scr.+FT; logs by (prior, seed) and by seed,
    one line per seed."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    runs = [(f"reFT, {p} prior", log) for (p, _), log in reft.items()] + [("Scr.+FT", log) for log in scratch.values()]
    reft_names = list(dict.fromkeys(name for name, _ in runs if name != "Scr.+FT"))
    shades = sns.dark_palette(plots.colour("reFT"), n_colors=len(reft_names) + 1, reverse=True).as_hex()
    colors = {"Scr.+FT": plots.colour("Scr.+FT"), **dict(zip(reft_names, shades))}  # reFT: shades of its blue
    seen = set()
    for name, log in runs:
        frame = log.eval_frame()
        color = colors[name]
        ax.plot(frame["step"], frame["count a"], marker="o", ms=3, color=color, alpha=0.8,
                ls="--" if name == "Scr.+FT" else "-", label=None if name in seen else name)
        seen.add(name)
    ax.set(xscale="symlog", xlabel="reFT step", ylabel="count-a accuracy (C_Te=0)", ylim=(-0.02, 1.02),
           title=f"Reverse fine-tuning at {lr_symbol} after η_L, C_Tr = 1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
