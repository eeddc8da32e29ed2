"""Chapter 07's arms on the world: capacity (LoRA ranks), data scale, independence of the biases and data
mixing, each a set of fine-tuning runs from chapter 06's base, scored with chapter 06's decomposition.

Every arm varies one thing against chapter 06's runs (bio × academic, ``ft_docs`` documents, one epoch, all the
weights, at the grid's learning rate), which are its reference cell and are reused from the cache:

- **capacity**: LoRA adapters of each rank in ``ranks`` (``capacity.lora``) instead of all the weights, at a
  learning rate chosen on the validation split among ``lora_lr_factors`` times the full fine-tuning's (the
  released LoRA config keeps full fine-tuning's rate; LoRA is usually run higher, so the grid has both);
- **data**: the first ``n`` fine-tuning documents for each ``n`` in ``sizes`` (nested sets; beyond
  ``ft_docs`` the same generator goes on), one epoch each;
- **independence**: the fine-tuning documents' topic or style changed (bio × web, general × academic), with
  the same generator, size and facts;
- **mixing**: the fine-tuning documents plus pretraining documents (replay, drawn from the pretraining
  corpus), a fraction ``f`` of the mixed set for each ``f`` in ``mixes``; every bio document is kept, so
  the epoch is longer.

- ``ArmsConfig``: chapter 06's settings and the arms'; ``base_config`` is the ``ZhangConfig`` whose cells
  chapter 06 cached.
- ``run_arms`` trains (or reads) every arm's runs; ``score_arms`` scores them (``ArmRow`` per run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ftscope.config import ConfigError
from ftscope.instruments import plots
from ftscope.zhang import decompose as D
from ftscope.zhang import setting as S

#: the independence runs: (topic, style) of the fine-tuning documents; the first is chapter 06's
PAIRS = (("bio", "academic"), ("bio", "web"), ("general", "academic"))
ARMS = ("capacity", "data", "independence", "mixing")
FULL = "full"  # the capacity arm's level of chapter 06's runs (all the weights)


def _presets(extra: dict) -> dict:
    return {k: {**S.ZhangConfig.PRESETS[k], **extra[k]} for k in S.ZhangConfig.PRESETS}


@dataclass(frozen=True)
class ArmsConfig(S.ZhangConfig):
    """Chapter 07. Chapter 06's fields (``base_config``) and the arms'; the defaults are the ``paper`` preset: the
    issue's ranks, sizes and fractions; ``laptop`` keeps fewer levels of each at chapter 06's size."""

    ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 64)  # Fig. 6's ranks (spec §6.3)
    lora_grid_rank: int = 8  # the released LoRA config's r: the learning rate is chosen at this rank
    lora_lr_factors: tuple[float, ...] = (1.0, 10.0)  # the LoRA grid, in multiples of full fine-tuning's rate
    sizes: tuple[int, ...] = S.FT_SIZES
    mixes: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5)  # replay fractions (spec §6.5)
    sweep_probes: int = 1000  # of chapter 06's probes, the ones every arm's run is scored on
    # real PubMed abstracts (``realtext``): held out as the paper's 1,000, the fine-tuning set (one epoch), the
    # ones scored at every snapshot, the snapshots, and English validation blocks (forgetting)
    pubmed_heldout: int = 1000
    pubmed_train: int = 10_000
    pubmed_dynamics: int = 1000
    pubmed_snapshots: int = 8
    english_blocks: int = 256

    PRESETS: ClassVar = _presets({
        "smoke": dict(ranks=(1, 4), lora_grid_rank=4, sizes=(16, 64), mixes=(0.0, 0.5), sweep_probes=12,
                      pubmed_heldout=16, pubmed_train=24, pubmed_dynamics=8, pubmed_snapshots=3, english_blocks=8),
        "laptop": dict(ranks=(1, 8), sizes=(100, 300, 1000), mixes=(0.0, 0.1, 0.3), sweep_probes=100,
                   pubmed_heldout=200, pubmed_train=400, pubmed_dynamics=100, pubmed_snapshots=5, english_blocks=64),
        "paper": {},
    })

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ranks or min(self.ranks) < 1:
            raise ConfigError(f"ranks must be positive ints, got {self.ranks}")
        if self.lora_grid_rank not in self.ranks:
            raise ConfigError(f"lora_grid_rank={self.lora_grid_rank} is not among ranks {self.ranks}")
        if self.ft_docs not in self.sizes:
            raise ConfigError(f"sizes {self.sizes} must include ft_docs={self.ft_docs} (chapter 06's runs)")
        if 0.0 not in self.mixes or not all(0 <= f < 1 for f in self.mixes):
            raise ConfigError(f"mixes are fractions in [0, 1) and include 0 (chapter 06's runs), got {self.mixes}")
        if self.sweep_probes > self.probes:
            raise ConfigError(f"sweep_probes={self.sweep_probes} exceeds probes={self.probes}")
        if self.pubmed_dynamics > self.pubmed_heldout:
            raise ConfigError(f"pubmed_dynamics={self.pubmed_dynamics} exceeds pubmed_heldout={self.pubmed_heldout}")

    def base_config(self) -> S.ZhangConfig:
        """Chapter 06's config of the same values: its cached base and runs are this chapter's reference."""
        names = {f.name for f in fields(S.ZhangConfig)}
        return S.ZhangConfig(**{k: v for k, v in self.to_dict().items() if k in names})


# ----------------------------------------------------------------------------- the runs
@dataclass(frozen=True)
class Run:
    arm: str
    level: object  # the rank ("full" for all the weights), size, (topic, style) pair or replay fraction
    seed: int
    state: dict


@dataclass(frozen=True)
class Arms:
    runs: list  # [Run]
    lora_grid: dict  # lr -> validation loss (rank lora_grid_rank, seed 0)
    lora_lr: float
    full_lr: float
    steps: dict  # (arm, level) -> optimiser steps of one run


def mixed_docs(setting: S.Setting, frac: float, ft_docs: int, seed: int) -> list:
    """The fine-tuning documents and ``frac / (1 - frac)`` times as many pretraining documents (replay), drawn
    without replacement from the pretraining corpus with ``seed``: replay is ``frac`` of the mixed set."""
    k = round(frac / (1 - frac) * ft_docs)
    if k > len(setting.pretrain):
        raise ConfigError(f"replay of {k} documents exceeds the pretraining corpus ({len(setting.pretrain)})")
    pick = np.random.default_rng([seed, 71]).choice(len(setting.pretrain), k, replace=False)
    return list(setting.finetune) + [setting.pretrain[i] for i in pick]


def _docs(cfg: S.ZhangConfig, setting: S.Setting, skeletons) -> list:
    return S.encode(setting.tok, [setting.world.render(s) for s in skeletons], cfg.n_ctx)


def _cell_maker(cfg: ArmsConfig, setting: S.Setting, seed: int, device="cpu"):
    zc = cfg.base_config()
    base_cell = S.pretrain_cell(zc, setting, seed, device)

    def cell(tag, docs, run_seed, lr, rank=None):
        return S.finetune_cell(zc, setting, base_cell, lr, run_seed, seed, device, docs=docs, tag=tag, rank=rank,
                               snapshots=False)

    return cell


def lora_grid_cells(cfg: ArmsConfig, setting: S.Setting, lr: float, seed: int, device="cpu") -> dict:
    """``{LoRA lr: Cell}``: the LoRA learning-rate grid around chapter 06's chosen rate ``lr``, on seed 0 at
    ``lora_grid_rank``."""
    cell = _cell_maker(cfg, setting, seed, device)
    return {lr * f: cell("lora", setting.finetune, 0, lr * f, cfg.lora_grid_rank) for f in cfg.lora_lr_factors}


def arm_cells(cfg: ArmsConfig, setting: S.Setting, lr: float, lora_lr: float, seed: int,
              device="cpu") -> list[tuple[str, Any, int, Any]]:
    """``(arm, level, seed, Cell)`` of every arm's run on every seed but the reference levels (chapter 06's
    runs): the LoRA ranks at ``lora_lr``, the data sizes, the other topic-style pairs and the replay mixes."""
    zc = cfg.base_config()
    cell = _cell_maker(cfg, setting, seed, device)
    seeds = range(cfg.seeds)
    out = [("capacity", r, s, cell("lora", setting.finetune, s, lora_lr, r)) for r in cfg.ranks for s in seeds]
    big = [n for n in cfg.sizes if n > cfg.ft_docs]
    more = _docs(zc, setting, setting.world.finetuning_skeletons(max(big), seed)) if big else []
    for n in cfg.sizes:
        if n != cfg.ft_docs:
            docs = setting.finetune[:n] if n < cfg.ft_docs else more[:n]
            out += [("data", n, s, cell(f"size{n}", docs, s, lr)) for s in seeds]
    for topic, style in PAIRS[1:]:
        docs = _docs(zc, setting, setting.world.finetuning_skeletons(cfg.ft_docs, seed, topic, style))
        out += [("independence", (topic, style), s, cell(f"{topic}-{style}", docs, s, lr)) for s in seeds]
    for f in cfg.mixes:
        if f:
            docs = mixed_docs(setting, f, cfg.ft_docs, seed)
            out += [("mixing", f, s, cell(f"replay{f:g}", docs, s, lr)) for s in seeds]
    return out


def run_arms(cfg: ArmsConfig, setting: S.Setting, fts: S.FineTunes, seed: int, device="cpu") -> Arms:
    """Every arm's runs on every seed (cached cells): chapter 06's runs (``fts``) are each arm's reference
    level; the LoRA learning rate is chosen first, on seed 0 at ``lora_grid_rank``."""
    from ftscope.progress import progress

    grid_cells = lora_grid_cells(cfg, setting, fts.lr, seed, device)
    grid_states = {lr: c.get(echo=lambda _: None)[0] for lr, c in progress(grid_cells.items(), desc="LoRA grid",
                                                                             total=len(grid_cells))}
    lora_grid = {lr: float(s["val_ft"]) for lr, s in grid_states.items()}
    lora_lr = S.choose_lr(lora_grid)
    todo = arm_cells(cfg, setting, fts.lr, lora_lr, seed, device)
    runs = [Run(arm, level, s, cell.get(echo=lambda _: None)[0])
            for arm, level, s, cell in progress(todo, desc="chapter 07's fine-tuning runs", total=len(todo))]
    # chapter 06's runs are every arm's reference level
    for s, state in enumerate(fts.runs):
        runs += [Run("capacity", FULL, s, state), Run("data", cfg.ft_docs, s, state),
                 Run("independence", PAIRS[0], s, state), Run("mixing", 0.0, s, state)]
    steps = {(r.arm, r.level): int(max(x["step"] for x in r.state["log"]["rows"])) for r in runs}
    return Arms(runs, lora_grid, lora_lr, fts.lr, steps)


# ----------------------------------------------------------------------------- scores
COMPONENTS = ("total", "topic", "style", "factual")


def score_arms(cfg: ArmsConfig, setting: S.Setting, arms: Arms, probes: dict, base, device="cpu") -> pd.DataFrame:
    """One row per run: its components per token on the PubMed analog's first ``sweep_probes`` probes, their
    shares of the total, the factual component's 95% interval, the contrast at the objects of novel facts
    (``decompose.object_contrasts``) and, for the mixing arm's runs, the C4 analog's components (forgetting; NaN
    for the other runs, which no claim or figure reads there)."""
    from ftscope.progress import progress

    zc = cfg.base_config()
    sub = {a: p.subset(cfg.sweep_probes) for a, p in probes.items()}
    base_scores = {a: D.score(base, p) for a, p in sub.items()}
    forgetting = {id(r.state) for r in arms.runs if r.arm == "mixing"}  # only the mixing arm reads the C4 analog
    cache: dict[int, dict] = {}  # a run scored once, though several arms share it (chapter 06's)
    rows = []
    for run in progress(arms.runs, desc="scoring chapter 07's runs", total=len(arms.runs)):
        key = id(run.state)
        if key not in cache:
            model = S.load_weights(zc, setting, S.final_weights(run.state), device)
            scores = D.score(model, sub["pubmed"])
            pub = D.components(base_scores["pubmed"], scores, "pubmed", cfg.bootstrap, seed=run.seed)
            obj = D.object_contrasts(setting.world, sub["pubmed"], base_scores["pubmed"], scores)
            c4 = (D.components(base_scores["c4"], D.score(model, sub["c4"]), "c4", n_boot=0).values["token"]
                  if key in forgetting else dict.fromkeys(("total", "topic", "style"), np.nan))
            cache[key] = {**{c: pub.values["token"][c] for c in COMPONENTS},
                          **{f"{c} share": pub.ratios["token"][c] for c in COMPONENTS[1:]},
                          "factual lo": pub.ci["token"]["factual"][0], "factual hi": pub.ci["token"]["factual"][1],
                          "novel fact at the object": obj["novel"]["mean"], "C4 total": c4["total"],
                          "C4 topic": c4["topic"], "C4 style": c4["style"],
                          "validation loss": float(run.state["val_ft"])}
        rows.append({"arm": run.arm, "level": run.level, "seed": run.seed,
                     "steps": arms.steps[(run.arm, run.level)], **cache[key]})
    return pd.DataFrame(rows)


def arm_frame(scores: pd.DataFrame, arm: str) -> pd.DataFrame:
    """One arm's rows, its levels in order (the capacity arm's ranks, then full fine-tuning)."""
    df = scores[scores.arm == arm].copy()
    if arm == "capacity":
        df["order"] = [np.inf if lv == FULL else lv for lv in df.level]
    elif arm == "independence":
        df["order"] = [PAIRS.index(lv) for lv in df.level]
        df["level"] = [f"{t} × {s}" for t, s in df.level]
    else:
        df["order"] = df.level.astype(float)
    return df.sort_values(["order", "seed"]).drop(columns="order")


def summary(scores: pd.DataFrame, arm: str, columns: Sequence[str] = COMPONENTS) -> pd.DataFrame:
    """Per level: the mean over seeds of ``columns`` and the seeds' range as ``col (min – max)`` strings."""
    df = arm_frame(scores, arm)
    levels = list(dict.fromkeys(df.level))
    out = []
    for lv in levels:
        part = df[df.level == lv]
        row = {"level": lv, "steps": int(part.steps.iloc[0]), "seeds": len(part)}
        for c in columns:
            row[c] = f"{part[c].mean():.3f} ({part[c].min():.3f} – {part[c].max():.3f})"
        out.append(row)
    return pd.DataFrame(out).set_index("level")


def level_values(scores: pd.DataFrame, arm: str, level, column: str) -> list[float]:
    """``column`` of ``arm`` at ``level``, one value per seed (in seed order)."""
    df = scores[(scores.arm == arm) & scores.level.apply(lambda lv: lv == level)].sort_values("seed")
    return [float(x) for x in df[column]]


def ratios(scores: pd.DataFrame, arm: str, lo, hi, col: str) -> list[float]:
    return [a / b for a, b in zip(level_values(scores, arm, lo, col), level_values(scores, arm, hi, col))]


def arm_facts(scores: pd.DataFrame, arm: str, lo, hi) -> dict:
    """The numbers the prose glues for one arm's two levels ``lo`` and ``hi``: each component's ratio (seed by
    seed, then the mean), and the means of the factual component, the contrast at a novel fact's object, the
    topic share and (mixing) the C4 analog's change at both levels."""
    out = {"lo": lo, "hi": hi}
    for c in COMPONENTS:
        out[f"{c}_ratio"] = float(np.mean(ratios(scores, arm, lo, hi, c)))
    columns = [("factual", "factual"), ("object", "novel fact at the object"), ("topic_share", "topic share")]
    for name, col in columns + ([("c4", "C4 total")] if arm == "mixing" else []):
        out[f"{name}_lo"] = float(np.mean(level_values(scores, arm, lo, col)))
        out[f"{name}_hi"] = float(np.mean(level_values(scores, arm, hi, col)))
    return out


def independence_facts(scores: pd.DataFrame) -> dict:
    """Each bias learned alone over the same bias learned together (mean of the seeds' ratios), and the sum of
    the biases learned alone against the sum learned together (nats per token)."""
    together, topic_only, style_only = PAIRS

    def vals(pair, col):
        return np.array(level_values(scores, "independence", pair, col))

    return {"topic_alone": float(np.mean(vals(topic_only, "topic") / vals(together, "topic"))),
            "style_alone": float(np.mean(vals(style_only, "style") / vals(together, "style"))),
            "sum_alone": float(np.mean(vals(topic_only, "topic") + vals(style_only, "style"))),
            "sum_together": float(np.mean(vals(together, "topic") + vals(together, "style")))}


# ----------------------------------------------------------------------------- figures
COLOURS = {"total": "black", "topic": plots.colour("topic"), "style": plots.colour("style"),
           "factual": plots.colour("factual"), "novel fact at the object": plots.colour("factual"),
           "C4 total": plots.colour("C4"), "topic share": plots.colour("topic"), "style share": plots.colour("style"),
           "factual share": plots.colour("factual")}


def _curves(ax, df: pd.DataFrame, x, columns: Sequence[str]) -> None:
    for c in columns:
        means = df.groupby(x, sort=False)[c].mean()
        ax.plot(means.index, means.values, "-o", color=COLOURS.get(c), label=c, ms=4)
        ax.scatter(df[x], df[c], color=COLOURS.get(c), s=10, alpha=0.45)
    ax.axhline(0, color="grey", lw=0.6)


def capacity_figure(scores: pd.DataFrame):
    """Fig. 6's analog: each component (left) and its share of the total (right) against the LoRA rank, full
    fine-tuning at the right; a line through the seeds' mean, each seed a dot."""
    df = arm_frame(scores, "capacity")
    ranks = sorted(lv for lv in set(df.level) if lv != FULL)
    pos = {r: i for i, r in enumerate(ranks)} | {FULL: len(ranks)}
    df["x"] = df.level.map(pos)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    _curves(axes[0], df, "x", COMPONENTS)
    _curves(axes[1], df, "x", ["topic share", "style share", "factual share"])
    for ax, ylabel in zip(axes, ("change, nats per token", "share of the total change")):
        ax.set_xticks(range(len(pos)), [*map(str, ranks), "full"])
        ax.set(xlabel="LoRA rank", ylabel=ylabel)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def data_figure(scores: pd.DataFrame):
    """Each component against the number of fine-tuning documents (log axis; one epoch each), and the contrast
    at the objects of novel facts (the factual change where it is made)."""
    df = arm_frame(scores, "data")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    _curves(axes[0], df, "level", COMPONENTS)
    _curves(axes[1], df, "level", ["novel fact at the object"])
    for ax, ylabel in zip(axes, ("change, nats per token", "contrast at a novel fact's object, nats")):
        ax.set(xscale="log", xlabel="fine-tuning documents (one epoch)", ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def independence_figure(scores: pd.DataFrame):
    """The topic and the style component (PubMed analog) of each run: fine-tuning on bio × web learns the topic
    alone, on general × academic the style alone; bars the seeds' mean, dots each seed."""
    df = arm_frame(scores, "independence")
    levels = list(dict.fromkeys(df.level))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.38
    for k, c in enumerate(("topic", "style")):
        means = [df[df.level == lv][c].mean() for lv in levels]
        xs = np.arange(len(levels)) + (k - 0.5) * width
        ax.bar(xs, means, width, color=COLOURS[c], alpha=0.75, label=c)
        for x, lv in zip(xs, levels):
            vals = df[df.level == lv][c]
            ax.scatter([x] * len(vals), vals, color="black", s=9, zorder=3)
    ax.set_xticks(range(len(levels)), [f"fine-tuned on\n{lv}" for lv in levels])
    ax.axhline(0, color="grey", lw=0.6)
    ax.set(ylabel="component on the PubMed analog\nnats per token")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mixing_figure(scores: pd.DataFrame):
    """Against the replay fraction: the biases and the factual component learned (left) and the change on the
    C4 analog (right; below 0 is forgetting)."""
    df = arm_frame(scores, "mixing")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    _curves(axes[0], df, "level", ["topic", "style", "factual"])
    _curves(axes[1], df, "level", ["C4 total"])
    for ax, ylabel in zip(axes, ("PubMed analog, nats per token", "C4 analog R(orig), nats per token")):
        ax.set(xlabel="replay fraction of the fine-tuning set", ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
