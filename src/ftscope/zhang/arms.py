"""Chapter 07's arms on the world: capacity (LoRA ranks), data scale, independence of the biases and data
mixing, each a set of fine-tuning runs from chapter 06's base, scored with chapter 06's decomposition.

Every arm varies one thing against chapter 06's runs (bio × academic, ``ft_docs`` documents, one epoch, all the
weights, at the grid's learning rate), which are the one-epoch arms' reference level and are reused from the cache:

- **capacity**: LoRA adapters of each rank in ``ranks`` (``capacity.lora``) and all the weights, each trained for
  ``capacity_epochs`` epochs (to convergence: a run counts as converged when its validation loss fell by less than
  ``claims.CONVERGED_EPOCH`` over its last epoch) at its own rate: full fine-tuning at chapter 06's, LoRA at the rate
  of the lowest validation loss on a one-epoch grid of ``lora_lr_factors`` times full fine-tuning's, at
  ``lora_grid_rank``; a grid whose best rate lies at an edge is extended past it (``grid_extra`` rates at most,
  ``setting.next_rate``);
- **data**: the first ``n`` fine-tuning documents for each ``n`` in ``sizes`` (nested sets; beyond
  ``ft_docs`` the same generator goes on), one epoch each;
- **independence**: the fine-tuning documents' topic or style changed (bio × web, general × academic), with
  the same generator, size and facts;
- **mixing**: for each ``f`` in ``mixes``, pretraining documents (replay) in place of a fraction ``f`` of the
  fine-tuning documents: the same number of documents and steps, fewer bio documents.

- ``ArmsConfig``: chapter 06's settings and the arms'; ``base_config`` is the ``ZhangConfig`` whose cells
  chapter 06 cached.
- ``run_arms`` trains (or reads) every arm's runs; ``score_arms`` scores them (one row per run, with its
  per-document changes, ``Changes``, for the paired bootstrap of ``interval``).
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
from ftscope.zhang.capacity import lora, merged

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
    #: the LoRA grid, in multiples of full fine-tuning's rate: LoRA trains fewer weights and is run higher (the
    #: released LoRA config's 3e-6 is full fine-tuning's and may be a placeholder)
    lora_lr_factors: tuple[float, ...] = (3.0, 10.0, 30.0)
    grid_extra: int = 2  # rates added past an edge while the best lies there (``setting.next_rate``)
    #: epochs of the capacity arm's runs (the other arms: one, as the released config); enough for the runs to
    #: converge (``claims.CONVERGED_EPOCH``), so the ranks compare capacity, not speed
    capacity_epochs: int = 3
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
        "smoke": dict(ranks=(1, 4), lora_grid_rank=4, capacity_epochs=2, sizes=(16, 64), mixes=(0.0, 0.5), sweep_probes=12,
                      pubmed_heldout=16, pubmed_train=24, pubmed_dynamics=8, pubmed_snapshots=3, english_blocks=8),
        # laptop: rank 1 against all the weights only (the claims' levels; each capacity run is two epochs, and a
        # third level would take the chapter over its time budget), the LoRA grid at that rank
        "laptop": dict(ranks=(1,), lora_grid_rank=1, capacity_epochs=2, sizes=(100, 300, 1000), mixes=(0.0, 0.1, 0.3),
                       sweep_probes=100,
                   pubmed_heldout=200, pubmed_train=400, pubmed_dynamics=100, pubmed_snapshots=5, english_blocks=64),
        "paper": {},
    })

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ranks or min(self.ranks) < 1:
            raise ConfigError(f"ranks must be positive ints, got {self.ranks}")
        if self.capacity_epochs < 2:
            raise ConfigError(f"capacity_epochs={self.capacity_epochs}: convergence is judged over the last epoch, "
                              "so the capacity runs need at least 2")
        if len(self.lora_lr_factors) < 3 or list(self.lora_lr_factors) != sorted(set(self.lora_lr_factors)):
            raise ConfigError(f"lora_lr_factors {self.lora_lr_factors} must be at least 3 increasing rates (a best "
                              "rate between two others)")
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
    lora_grid: dict  # lr -> validation loss (rank lora_grid_rank, seed 0, one epoch), the extensions included
    lora_lr: float
    lora_declared: tuple  # the LoRA grid's declared rates (``lora_lr_factors`` times ``full_lr``)
    full_grid: dict  # chapter 06's grid: lr -> validation loss (seed 0, one epoch)
    full_lr: float
    full_declared: tuple  # chapter 06's declared grid
    steps: dict  # (arm, level) -> optimiser steps of one run


def mixed_docs(setting: S.Setting, frac: float, ft_docs: int, seed: int) -> list:
    """The first ``ft_docs - k`` fine-tuning documents and ``k = round(frac * ft_docs)`` pretraining documents
    (replay) drawn without replacement with ``seed``: as many documents, so as many steps, as without replay, a
    fraction ``frac`` of them replay in place of bio documents."""
    k = round(frac * ft_docs)
    if k > len(setting.pretrain) or ft_docs > len(setting.finetune):
        raise ConfigError(f"replay of {k} of {ft_docs} documents: the corpora hold {len(setting.pretrain)} "
                          f"pretraining and {len(setting.finetune)} fine-tuning documents")
    pick = np.random.default_rng([seed, 71]).choice(len(setting.pretrain), k, replace=False)
    return list(setting.finetune[:ft_docs - k]) + [setting.pretrain[i] for i in pick]


def grid_table(grid: dict, chosen: float, declared: Sequence[float]) -> pd.DataFrame:
    """A learning-rate grid as a table: each rate's validation loss, whether the config declared it or it was added
    past an edge (``setting.next_rate``), the chosen rate, and ``edge`` where the rate is the grid's lowest or
    highest (a chosen rate at an edge is not bracketed, ``setting.bracketed``)."""
    rates = sorted(grid)
    near = [min(declared, key=lambda d, r=r: abs(d - r)) for r in rates]
    return pd.DataFrame({"validation loss": [grid[r] for r in rates],
                         "grid": ["declared" if abs(d - r) <= 1e-9 * r else "added past the edge"
                                  for r, d in zip(rates, near)],
                         "chosen": [r == chosen for r in rates], "edge": [r in (rates[0], rates[-1]) for r in rates]},
                        index=pd.Index(rates, name="learning rate"))


def _docs(cfg: S.ZhangConfig, setting: S.Setting, skeletons) -> list:
    return S.encode(setting.tok, [setting.world.render(s) for s in skeletons], cfg.n_ctx)


def run_cell(cfg: ArmsConfig, setting: S.Setting, base_cell, docs, tag: str, lr: float, run_seed: int, seed: int,
             device="cpu", *, rank: int | None = None, epochs: int = 1, keep: Sequence[int] = ()):
    """``epochs`` epochs of fine-tuning on ``docs`` at ``lr`` (chapter 06's optimiser: linear decay to 0 over
    every epoch), the documents in a new order of ``run_seed`` each epoch; all the weights or LoRA adapters of
    ``rank``. Its state keeps the weights at the end and at the steps ``keep``, and the validation loss at the end
    of every epoch (``val_epochs``; ``epoch_fall`` reads them)."""
    from ftscope.train import loop as training
    from ftscope.train.cells import Cell

    zc = cfg.base_config()
    data = list(docs)
    per_epoch = -(-len(data) // zc.ft_batch)
    n_steps = epochs * per_epoch
    ends = [per_epoch * (k + 1) for k in range(epochs)]
    at = sorted({*ends, *keep})
    optim = S.finetune_optim(zc, lr)
    spec = {"model": zc.model_fields(), "docs": setting.digest, "ft_docs": S.docs_digest(data), "seed": seed,
            "run_seed": run_seed, "batch": zc.ft_batch, "steps": n_steps, "epochs": epochs, "keep": list(keep),
            "optim": optim.__dict__, "lora_rank": rank}

    def run():
        model, _ = S.pretrained(zc, setting, seed, device, echo=lambda _: None)
        if rank is not None:
            model = lora(model, rank, seed=(seed, run_seed))
        steps, snaps = iter(at), {}

        def evaluate(m) -> dict:
            step = next(steps)
            if step in keep:
                snaps[step] = S.weights_of(merged(m, copy=True) if rank is not None else m)
            return {"val_ft": S.mean_loss(m, setting.val)} if step in ends else {}

        log = training.train(model, S.epoch_batches(data, zc.ft_batch, np.random.default_rng([seed, run_seed, 61])),
                             S.lm_loss, n_steps, optim, rng=np.random.default_rng(0), device=device,
                             evaluate=evaluate, eval_at=at, log_every=1,
                             desc=f"fine-tune {tag} {lr:g} seed {run_seed}")
        if rank is not None:
            model = merged(model)
        vals = {e["step"]: e["val_ft"] for e in log.evals if "val_ft" in e}
        return {"snapshots": {**snaps, n_steps: S.weights_of(model)}, "log": log.to_dict(), "val_epochs": vals,
                "val_ft": vals[n_steps]}

    name = f"zhang-{tag}-{lr:g}-s{run_seed}-e{epochs}"
    return Cell(name if rank is None else f"{name}-r{rank}", spec, run, deps=(base_cell,))


def epoch_fall(state: dict) -> float:
    """The relative fall of a run's validation loss over its last epoch (NaN for a run of one epoch)."""
    vals = [v for _, v in sorted(state.get("val_epochs", {}).items())]
    return float((vals[-2] - vals[-1]) / vals[-2]) if len(vals) >= 2 else float("nan")


def _cell_maker(cfg: ArmsConfig, setting: S.Setting, seed: int, device="cpu"):
    zc = cfg.base_config()
    base_cell = S.pretrain_cell(zc, setting, seed, device)

    def cell(tag, docs, run_seed, lr, rank=None):
        return S.finetune_cell(zc, setting, base_cell, lr, run_seed, seed, device, docs=docs, tag=tag, rank=rank,
                               snapshots=False)

    return cell, base_cell


def _val(cell) -> float:
    return float(cell.get(echo=lambda _: None)[0]["val_ft"])


def lora_grid(cfg: ArmsConfig, setting: S.Setting, lr: float, seed: int, device="cpu", val=_val
              ) -> tuple[dict, dict, bool]:
    """``(cells, losses, complete)``: the LoRA learning-rate grid (one epoch, seed 0, rank ``lora_grid_rank``) at
    ``lora_rates(cfg, lr)``, ``lr`` chapter 06's chosen rate, extended past an edge while its best rate lies there
    (``setting.next_rate``), by ``grid_extra`` rates at most. ``val(cell)`` gives a cell's validation loss, training
    it if need be (the default), or None where it is not known yet (a sweep's declaration reads the cache): then
    the grid stops there, ``complete`` False."""
    cell, _ = _cell_maker(cfg, setting, seed, device)
    cells, losses = {}, {}
    declared = lora_rates(cfg, lr)
    rates = list(declared)
    while True:
        for r in rates:
            cells[r] = cell("lora", setting.finetune, 0, r, cfg.lora_grid_rank)
            v = val(cells[r])
            if v is not None:
                losses[r] = v
        if len(losses) < len(cells):
            return cells, losses, False
        nxt = S.next_rate(losses, declared, cfg.grid_extra)
        if nxt is None:
            return cells, losses, True
        rates = [nxt]


def lora_rates(cfg: ArmsConfig, lr: float) -> tuple[float, ...]:
    """The LoRA grid's declared rates: ``lora_lr_factors`` times full fine-tuning's ``lr`` (three significant
    digits, as ``setting.next_rate`` writes its rates)."""
    return tuple(float(f"{lr * f:.3g}") for f in cfg.lora_lr_factors)


def arm_cells(cfg: ArmsConfig, setting: S.Setting, lr: float, lora_lr: float, seed: int,
              device="cpu") -> list[tuple[str, Any, int, Any]]:
    """``(arm, level, seed, Cell)`` of every arm's run on every seed but chapter 06's runs (the one-epoch arms'
    reference levels): each LoRA rank at ``lora_lr`` and all the weights at ``lr`` for ``capacity_epochs``
    epochs, the data sizes (the largest keeping its second-last log-spaced snapshot, for the saturation claims'
    ``claims.RISING`` rule), the other topic-style pairs and the replay mixes, one epoch each at ``lr``."""
    zc = cfg.base_config()
    cell, base_cell = _cell_maker(cfg, setting, seed, device)
    seeds = range(cfg.seeds)
    out = []
    for r in (*cfg.ranks, FULL):
        rank, rate = (None, lr) if r == FULL else (r, lora_lr)
        out += [("capacity", r, s, run_cell(cfg, setting, base_cell, setting.finetune, "capacity", rate, s, seed,
                                            device, rank=rank, epochs=cfg.capacity_epochs)) for s in seeds]
    big = [n for n in cfg.sizes if n > cfg.ft_docs]
    more = _docs(zc, setting, setting.world.finetuning_skeletons(max(big), seed)) if big else []
    for n in cfg.sizes:
        if n == cfg.ft_docs:
            continue
        docs = setting.finetune[:n] if n < cfg.ft_docs else more[:n]
        if n == max(cfg.sizes):
            keep = [before_last(-(-n // zc.ft_batch), zc.snapshots)]
            out += [("data", n, s, run_cell(cfg, setting, base_cell, docs, f"size{n}", lr, s, seed, device,
                                            keep=keep)) for s in seeds]
        else:
            out += [("data", n, s, cell(f"size{n}", docs, s, lr)) for s in seeds]
    for topic, style in PAIRS[1:]:
        docs = _docs(zc, setting, setting.world.finetuning_skeletons(cfg.ft_docs, seed, topic, style))
        out += [("independence", (topic, style), s, cell(f"{topic}-{style}", docs, s, lr)) for s in seeds]
    for f in cfg.mixes:
        if f:
            docs = mixed_docs(setting, f, cfg.ft_docs, seed)
            out += [("mixing", f, s, cell(f"swap{f:g}", docs, s, lr)) for s in seeds]
    return out


def before_last(steps: int, snapshots: int) -> int:
    """The second-last of ``snapshots`` log-spaced steps of a run of ``steps`` (chapter 06's spacing)."""
    from ftscope.train.loop import log_steps

    return log_steps(steps, snapshots)[-2]


def run_arms(cfg: ArmsConfig, setting: S.Setting, fts: S.FineTunes, seed: int, device="cpu") -> Arms:
    """Every arm's runs on every seed (cached cells): the LoRA grid first (``lora_grid``), then every arm's runs
    (``arm_cells``); chapter 06's runs (``fts``) are the one-epoch arms' reference level."""
    from ftscope.progress import progress

    _, lora_losses, _ = lora_grid(cfg, setting, fts.lr, seed, device)
    lora_lr = S.choose_lr(lora_losses)
    todo = arm_cells(cfg, setting, fts.lr, lora_lr, seed, device)
    runs = [Run(arm, level, s, cell.get(echo=lambda _: None)[0])
            for arm, level, s, cell in progress(todo, desc="chapter 07's fine-tuning runs", total=len(todo))]
    for s, state in enumerate(fts.runs):  # chapter 06's runs: the one-epoch arms' reference level
        runs += [Run("data", cfg.ft_docs, s, state), Run("independence", PAIRS[0], s, state),
                 Run("mixing", 0.0, s, state)]
    steps = {(r.arm, r.level): int(max(x["step"] for x in r.state["log"]["rows"])) for r in runs}
    return Arms(runs, lora_losses, lora_lr, lora_rates(cfg, fts.lr), dict(fts.grid), fts.lr,
                tuple(fts.declared or fts.grid), steps)


# ----------------------------------------------------------------------------- scores
COMPONENTS = ("total", "topic", "style", "factual")


@dataclass(frozen=True)
class Changes:
    """One run's change on the PubMed analog's probes, per document: for each variant, each probe's summed change
    (base - fine-tuned, nats) and its token count, aligned by skeleton across runs (the same probes)."""

    delta: dict  # variant -> (n,) nats
    count: dict  # variant -> (n,) tokens

    @classmethod
    def of(cls, base: D.Scores, ft: D.Scores) -> Changes:
        return cls({v: base.doc_sums(v) - ft.doc_sums(v) for v in base.nll}, {v: base.doc_counts(v) for v in base.nll})

    def components(self, idx: np.ndarray | None = None) -> dict:
        """Per token, over the probes ``idx`` (all by default): the total, each component (``decompose.contrasts``)
        and the topic, style and factual shares of the total."""
        sel = slice(None) if idx is None else idx
        r = {v: float(self.delta[v][sel].sum() / self.count[v][sel].sum()) for v in self.delta}
        out = D.contrasts(r, "pubmed")
        return out | {f"{c} share": out[c] / out["total"] for c in COMPONENTS[1:]}


def score_arms(cfg: ArmsConfig, setting: S.Setting, arms: Arms, probes: dict, base, device="cpu") -> pd.DataFrame:
    """One row per run: its components per token on the PubMed analog's first ``sweep_probes`` probes, their
    shares of the total, the factual component's 95% interval, the contrast at the objects of novel facts
    (``decompose.object_contrasts``), the fall of its validation loss over its last epoch (``epoch_fall``; the
    capacity arm), its per-document changes (``changes``, a ``Changes``), for the data arm's largest size the
    topic and style components at its second-last snapshot (``before_last``; the ``claims.RISING`` rule) and, for
    the mixing arm's runs, the C4 analog's components (forgetting; NaN for the other runs, which no claim or figure reads there)."""
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
                          "validation loss": float(run.state["val_ft"]), "last epoch's fall": epoch_fall(run.state),
                          "changes": Changes.of(base_scores["pubmed"], scores)}
        steps = arms.steps[(run.arm, run.level)]
        before = dict.fromkeys(("topic before", "style before", "step before"), np.nan)
        if run.arm == "data" and run.level == max(cfg.sizes):
            at = before_last(steps, zc.snapshots)
            model = S.load_weights(zc, setting, run.state["snapshots"][at], device)
            earlier = D.components(base_scores["pubmed"], D.score(model, sub["pubmed"]), "pubmed", n_boot=0)
            before = {"topic before": earlier.values["token"]["topic"],
                      "style before": earlier.values["token"]["style"], "step before": at}
        rows.append({"arm": run.arm, "level": run.level, "seed": run.seed, "steps": steps, **cache[key], **before})
    return pd.DataFrame(rows)


def interval(scores: pd.DataFrame, levels: Sequence[tuple[str, Any]], stat, n_boot: int, seed: int = 0
             ) -> tuple[list[float], list[tuple[float, float]]]:
    """``(values, intervals)``: ``stat(*components)`` on each seed, with one ``Changes.components`` for each
    ``(arm, level)`` of ``levels`` from that seed's run, over all the probes; and each seed's 95% interval over
    ``n_boot`` resamples of the probe skeletons, a resample the same for every run (a paired bootstrap: the runs
    were scored on the same skeletons). A value is NaN where ``stat`` divides by 0, and an interval is NaN where a
    resample's value is not finite."""
    runs = [column(scores, arm, level, "changes") for arm, level in levels]
    seeds = len(runs[0])
    if any(len(r) != seeds for r in runs):
        raise ValueError(f"the levels {levels} have different numbers of seeds")
    def value(s: int, idx=None) -> float:
        try:
            return float(stat(*(r[s].components(idx) for r in runs)))
        except ZeroDivisionError:
            return float("nan")

    values = [value(s) for s in range(seeds)]
    n = len(runs[0][0].delta["orig"])
    rng = np.random.default_rng([seed, 73])
    boots = np.empty((n_boot, seeds))
    for k in range(n_boot):
        idx = rng.integers(0, n, n)
        boots[k] = [value(s, idx) for s in range(seeds)]
    cis = [tuple(np.percentile(b, [2.5, 97.5]).tolist()) if n_boot and np.isfinite(b).all() else (np.nan, np.nan)
           for b in boots.T]
    return values, [(float(lo), float(hi)) for lo, hi in cis]


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


def column(scores: pd.DataFrame, arm: str, level, name: str) -> list:
    """``name`` of ``arm`` at ``level``, one entry per seed (in seed order)."""
    df = scores[(scores.arm == arm) & scores.level.apply(lambda lv: lv == level)].sort_values("seed")
    return list(df[name])


def level_values(scores: pd.DataFrame, arm: str, level, name: str) -> list[float]:
    """``name`` of ``arm`` at ``level`` as numbers, one per seed (in seed order)."""
    return [float(x) for x in column(scores, arm, level, name)]


def ratios(scores: pd.DataFrame, arm: str, lo, hi, col: str) -> list[float]:
    return [a / b for a, b in zip(level_values(scores, arm, lo, col), level_values(scores, arm, hi, col))]


def arm_facts(scores: pd.DataFrame, arm: str, lo, hi) -> dict:
    """The numbers the prose glues for one arm's two levels ``lo`` and ``hi``: each component's ratio (seed by
    seed, then the mean), and the means of the factual component, the contrast at a novel fact's object, the
    topic and factual shares and (mixing) the C4 analog's change or (capacity) the last epoch's fall of the
    validation loss at both levels; for the data arm, the topic and style components' growth at the largest size
    over its last interval between snapshots (a share of the final value) and the step it starts from."""
    out = {"lo": lo, "hi": hi}
    for c in COMPONENTS:
        out[f"{c}_ratio"] = float(np.mean(ratios(scores, arm, lo, hi, c)))
    columns = [("factual", "factual"), ("object", "novel fact at the object"), ("topic_share", "topic share"),
               ("factual_share", "factual share")]
    extra = {"mixing": [("c4", "C4 total")], "capacity": [("fall", "last epoch's fall")]}.get(arm, [])
    for name, col in columns + extra:
        out[f"{name}_lo"] = float(np.mean(level_values(scores, arm, lo, col)))
        out[f"{name}_hi"] = float(np.mean(level_values(scores, arm, hi, col)))
    if arm == "data":  # the largest size's growth over its last interval between snapshots (``claims.RISING``)
        big = max(scores[scores.arm == "data"].level)
        for c in ("topic", "style"):
            final, before = level_values(scores, arm, big, c), level_values(scores, arm, big, f"{c} before")
            out[f"{c}_growth"] = float(np.mean([(f - b) / f for f, b in zip(final, before)]))
        out["step_before"] = int(level_values(scores, arm, big, "step before")[0])
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
