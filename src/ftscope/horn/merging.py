"""Horn & Elliott (2024): SLERP merges of the two fine-tunes (``ftscope.instruments.merging`` per
tensor, mergekit's semantics), the Fig. 5 sweep and what is read off its curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ftscope.horn.setup import DOMAINS, HornConfig
from ftscope.horn.training import build, evaluate
from ftscope.instruments import merging as merge
from ftscope.instruments import plots
from ftscope.progress import progress
from ftscope.train import loop as training

# The axes of each TransformerLens weight that index the output rows of the Hugging Face (Mistral) tensor
# mergekit reads: W_Q [heads, d_model, d_head] is q_proj.weight [heads·d_head, d_model], W_in [d_model, d_mlp]
# is up_proj.weight [d_mlp, d_model], W_U [d_model, vocab] is lm_head.weight [vocab, d_model], …
DOMAIN_COLOURS = {d: plots.colour(d) for d in ("stories", "lua")}  # the sweep figures' colour per domain
HF_ROW_AXES = {"W_E": (0,), "W_Q": (0, 2), "_W_K": (0, 2), "_W_V": (0, 2), "W_K": (0, 2), "W_V": (0, 2),
               "W_O": (2,), "W_in": (1,), "W_gate": (1,), "W_out": (1,), "W_U": (1,), "w": (0,)}


def hf_row_axes(name: str) -> tuple[int, ...]:
    """``HF_ROW_AXES`` of a parameter's name (``blocks.0.attn.W_Q`` → (0, 2))."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf not in HF_ROW_AXES:
        raise KeyError(f"no output-row layout for {name!r}; known: {', '.join(HF_ROW_AXES)}")
    return HF_ROW_AXES[leaf]


def merged(cfg: HornConfig, base_model, other_model, t: float, device="cpu", rule: str = "tensor"):
    """SLERP of two models' parameters (mergekit: v0 = ``base_model``); ``(model, MergeReport)``. ``rule``:
    ``"tensor"``, one angle per flattened tensor (mergekit 0.0.4, the paper's), or ``"row"``, one per
    output row of the Hugging Face layout (mergekit 0.1.5)."""
    params = {n for n, p in base_model.named_parameters() if p.requires_grad}  # trained tensors; biases stay 0
    sd, report = merge.slerp_state_dict(t, base_model.state_dict(), other_model.state_dict(), params=params,
                                        rule=rule, row_axes=hf_row_axes)
    return training.load_trained(build(cfg, 0), sd, device), report


def sweep(cfg: HornConfig, model_a, model_b, evalsets: dict[str, torch.Tensor], ts: Sequence[float] | None = None,
          device="cpu", rule: str = "tensor"):
    """Accuracy and loss of SLERP(t; a, b) on each evaluation set for t in ``ts`` (t = 0 is ``model_a``), by
    ``rule`` (see ``merged``). Returns a long DataFrame ``t, set, acc, loss`` plus the fraction of tensors
    (by rows: of rows) that fell back to LERP."""
    import pandas as pd

    rows = []
    for t in progress(list(cfg.sweep_ts if ts is None else ts), desc=f"SLERP sweep ({rule})"):
        model, report = merged(cfg, model_a, model_b, float(t), device, rule=rule)
        for name, blocks in evalsets.items():
            rows.append({"t": float(t), "set": name, **evaluate(model, blocks),
                         "lerp_fallback": report.fallback_share})
    return pd.DataFrame(rows)


def crossing(ts: np.ndarray, y_a: np.ndarray, y_b: np.ndarray) -> float:
    """The first t where curve ``y_b`` rises to ``y_a`` (linear interpolation); nan when they never cross."""
    d = np.asarray(y_b) - np.asarray(y_a)
    for i in range(len(d) - 1):
        if d[i] < 0 <= d[i + 1]:
            return float(ts[i] + (ts[i + 1] - ts[i]) * (-d[i]) / (d[i + 1] - d[i]))
    return float("nan")


def is_monotone(y: np.ndarray, increasing: bool, tol: float = 0.0) -> bool:
    d = np.diff(np.asarray(y, dtype=float))
    return bool(np.all(d >= -tol) if increasing else np.all(d <= tol))


def retention(y: np.ndarray, at: int, own_end: int) -> float:
    """How much of a domain's accuracy gain over the other end survives at index ``at``:
    (y[at] − y[other end]) / (y[own end] − y[other end])."""
    y = np.asarray(y, dtype=float)
    own_end %= len(y)
    other = len(y) - 1 if own_end == 0 else 0
    span = y[own_end] - y[other]
    return float((y[at] - y[other]) / span) if span else float("nan")


def merged_luastories(cfg: HornConfig, fts: dict, device="cpu"):
    """The paper's merge: mergekit SLERP with the Lua fine-tune as the base at ``merge_t``; the model."""
    return merged(cfg, fts["lua"], fts["stories"], cfg.merge_t, device)[0]


def four_models(cfg: HornConfig, corpora, seed: int, device="cpu") -> dict:
    """``{"base", "lua", "stories", "luastories"}``: the cached base and fine-tunes and their merge."""
    from ftscope.horn.training import finetuned, pretrained_base

    base, _, _ = pretrained_base(cfg, corpora, seed, device)
    fts = {d: finetuned(cfg, corpora, d, seed, device)[0] for d in DOMAINS}
    return {"base": base, **fts, "luastories": merged_luastories(cfg, fts, device)}


def model_seeds(cfg: HornConfig, seed: int) -> list[int]:
    """The seeds of chapter 08's base models (and their fine-tunes and merges): ``seed``, ``seed + 1``, …"""
    return [seed + k for k in range(cfg.model_seeds)]


@dataclass
class SeedRun:
    """One model seed of chapter 08: the four models, their accuracy per validation set, the Fig. 5 sweep (the
    paper's rule) and what is read off it."""

    seed: int
    models: dict
    acc: object  # DataFrame: models x validation sets
    curves: object  # DataFrame: t x domain (``sweep_curves``)
    summary: SweepSummary


def seed_runs(cfg: HornConfig, corpora, evalsets: dict[str, torch.Tensor], seeds: Sequence[int],
              device="cpu") -> list[SeedRun]:
    """Per seed: base, fine-tunes and LuaStories (``four_models``, cached), scored on every set of
    ``evalsets``, and their SLERP sweep on the two domains."""
    from ftscope.horn.evaluation import accuracy_table

    runs = []
    for s in progress(list(seeds), desc="model seeds"):
        models = four_models(cfg, corpora, s, device)
        curves = sweep_curves(sweep(cfg, models["stories"], models["lua"], {d: evalsets[d] for d in DOMAINS},
                                    device=device))
        runs.append(SeedRun(s, models, accuracy_table(models, evalsets), curves, summarise_sweep(curves)))
    return runs


def seed_accuracy(runs: Sequence[SeedRun]):
    """Accuracy per model and validation set, mean over the model seeds."""
    import pandas as pd

    return pd.concat([r.acc for r in runs]).groupby(level=0, sort=False).mean()


def seed_gains(runs: Sequence[SeedRun]) -> dict[str, float]:
    """Each fine-tune's gain on its own domain over the base model: ``gain_<domain>`` the mean over the model
    seeds, ``gain_<domain>_lo`` / ``_hi`` their range."""
    from ftscope.horn.evaluation import gains

    per_seed = [gains(r.acc) for r in runs]
    out = {}
    for d in DOMAINS:
        v = [g[d] for g in per_seed]
        out |= {f"gain_{d}": float(np.mean(v)), f"gain_{d}_lo": min(v), f"gain_{d}_hi": max(v)}
    return out


def seed_summary_table(runs: Sequence[SeedRun]):
    """``SweepSummary.table`` with one column per model seed beside the paper's."""
    import pandas as pd

    frame = pd.DataFrame({f"seed {r.seed}": r.summary.row() for r in runs}, index=SUMMARY_ROWS)
    frame["paper"] = runs[0].summary.table()["paper"]
    return frame


def seed_facts(runs: Sequence[SeedRun]) -> dict[str, float]:
    """What chapter 08's prose cites of the sweeps: each ``SweepSummary.glue_values`` entry averaged over the
    model seeds (the paper's as they are), and the range (``_lo``, ``_hi``) of the crossings (or the end where
    they would lie) and of the kept gains."""
    values = [r.summary.glue_values() for r in runs]
    facts = {k: (v if k.endswith("_paper") else float(np.nanmean([x[k] for x in values])))
             for k, v in values[0].items()}
    spread = {"t_cross": [r.summary.t_cross_or_end for r in runs], "t_norm": [r.summary.t_norm_or_end for r in runs],
              "keep_stories": [r.summary.keep["stories"] for r in runs], "keep_lua": [r.summary.keep["lua"] for r in runs]}
    for k, v in spread.items():
        facts[f"{k}_lo"], facts[f"{k}_hi"] = float(np.nanmin(v)), float(np.nanmax(v))
    return facts


# ------------------------------------------------------------------------- Fig. 5, read off
MONOTONE_TOL = 0.005  # per sweep step
HALFWAY = 0.5  # where the retained share of each fine-tune's gain is read
SUMMARY_ROWS = ["crossing t*", "crossing t*, normalised curves", f"stories gain kept at t={HALFWAY}",
                f"Lua gain kept at t={HALFWAY}", f"both curves monotone (±{MONOTONE_TOL})"]


def sweep_curves(sweep_frame):
    """Accuracy per t (rows) and evaluation set (columns) from ``sweep``'s long frame."""
    return sweep_frame.pivot(index="t", columns="set", values="acc")


def normalised(curves):
    """Each domain's curve as the share of its fine-tune's gain kept: 1 at its own fine-tune's end of the sweep
    (stories at t = 0, Lua at t = 1), 0 at the other fine-tune's; the two domains' difficulty cancels out."""
    out = curves[list(DOMAINS)].astype(float).copy()
    for d, own in (("stories", 0), ("lua", -1)):
        y = out[d].to_numpy()
        other = -1 if own == 0 else 0
        out[d] = (y - y[other]) / (y[own] - y[other]) if y[own] != y[other] else np.nan
    return out


def _crossing_or_end(curves) -> tuple[float, float]:
    """``(t*, t* or the end towards which it lies)``: 1 if Lua stays below, 0 if it starts above."""
    t = crossing(curves.index.to_numpy(), curves["stories"].to_numpy(), curves["lua"].to_numpy())
    return t, t if np.isfinite(t) else float(curves["lua"].iloc[0] < curves["stories"].iloc[0])


@dataclass
class SweepSummary:
    """What the Fig. 5 curves say, ours and the paper's: where they cross (t from the stories end), raw and
    ``normalised`` (each domain's curve as the share of its fine-tune's gain, so that two domains of different
    difficulty are compared on one scale), how much of each fine-tune's in-domain gain a halfway merge keeps,
    whether both curves are monotone."""

    t_cross: float
    t_cross_paper: float
    t_cross_or_end: float  # t_cross, or without a crossing the end towards which it lies
    keep: dict[str, float]
    keep_paper: dict[str, float]
    monotone: bool
    ends: dict[str, float]
    t_norm: float = float("nan")  # the normalised curves' crossing
    t_norm_or_end: float = float("nan")
    t_norm_paper: float = float("nan")

    def table(self):
        import pandas as pd

        return pd.DataFrame({"ours": self.row(), "paper": [self.t_cross_paper, self.t_norm_paper,
                                                           self.keep_paper["stories"], self.keep_paper["lua"], True]},
                            index=SUMMARY_ROWS)

    def row(self) -> list:
        """Our values in the order of ``SUMMARY_ROWS``."""
        return [self.t_cross, self.t_norm, self.keep["stories"], self.keep["lua"], self.monotone]

    def glue_values(self) -> dict[str, float]:
        return {**self.ends, "t_cross": self.t_cross, "t_cross_paper": self.t_cross_paper,
                "t_norm": self.t_norm, "t_norm_paper": self.t_norm_paper,
                "keep_stories": self.keep["stories"], "keep_lua": self.keep["lua"],
                "keep_stories_paper": self.keep_paper["stories"], "keep_lua_paper": self.keep_paper["lua"]}


def _keep(ts: np.ndarray, stories, lua) -> dict[str, float]:
    mid = int(np.argmin(np.abs(ts - HALFWAY)))
    return {"stories": retention(stories, mid, 0), "lua": retention(lua, mid, -1)}


def summarise_sweep(curves) -> SweepSummary:
    """``SweepSummary`` of our ``sweep_curves`` beside the paper's Fig. 5 (``reported``)."""
    import pandas as pd

    from ftscope.horn.reported import PAPER_SWEEP_ACC, PAPER_SWEEP_T

    ts = curves.index.to_numpy()
    t_cross, t_cross_or_end = _crossing_or_end(curves)
    t_norm, t_norm_or_end = _crossing_or_end(normalised(curves))
    paper = pd.DataFrame(PAPER_SWEEP_ACC, index=PAPER_SWEEP_T)
    monotone = (is_monotone(curves["stories"], increasing=False, tol=MONOTONE_TOL)
                and is_monotone(curves["lua"], increasing=True, tol=MONOTONE_TOL))
    ends = {"stories_t0": curves["stories"].iloc[0], "stories_t1": curves["stories"].iloc[-1],
            "lua_t0": curves["lua"].iloc[0], "lua_t1": curves["lua"].iloc[-1]}
    return SweepSummary(t_cross=t_cross,
                        t_cross_paper=_crossing_or_end(paper)[0],
                        t_cross_or_end=t_cross_or_end, keep=_keep(ts, curves["stories"], curves["lua"]),
                        keep_paper=_keep(PAPER_SWEEP_T, PAPER_SWEEP_ACC["stories"], PAPER_SWEEP_ACC["lua"]),
                        monotone=monotone, ends=ends, t_norm=t_norm, t_norm_or_end=t_norm_or_end,
                        t_norm_paper=_crossing_or_end(normalised(paper))[0])


def sweep_figure(curves, base_acc, title: str):
    """Fig. 5: our sweep beside the paper's. ``curves``: one ``sweep_curves`` frame, or one per model seed (the
    mean drawn, the seeds' range shaded); dashed: the base model's accuracy per domain (``base_acc``, a
    Series by domain); the figure."""
    from matplotlib import pyplot as plt

    from ftscope.horn.reported import PAPER_SWEEP_ACC, PAPER_SWEEP_T

    runs = list(curves) if isinstance(curves, (list, tuple)) else [curves]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    palette = DOMAIN_COLOURS
    ts = runs[0].index.to_numpy()
    for d in DOMAINS:
        ys = np.stack([c[d].to_numpy() for c in runs])
        label = f"{d} validation" + (f" (mean of {len(runs)} seeds, range shaded)" if len(runs) > 1 else "")
        axes[0].plot(ts, ys.mean(0), "o-", ms=3, color=palette[d], label=label)
        if len(runs) > 1:
            axes[0].fill_between(ts, ys.min(0), ys.max(0), color=palette[d], alpha=0.25, lw=0)
        axes[0].axhline(base_acc[d], ls="--", color=palette[d], lw=1)
        axes[1].plot(PAPER_SWEEP_T, PAPER_SWEEP_ACC[d], "o-", ms=3, color=palette[d], label=f"{d} validation")
    axes[0].set(title=title, xlabel="t (0 = stories fine-tune, 1 = Lua fine-tune)", ylabel="accuracy")
    axes[1].set(title="Horn & Elliott, Fig. 5", xlabel="t (0 = TinyStories fine-tune, 1 = Lua fine-tune)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def rules_figure(curves: dict):
    """The sweep under each merge rule (``{rule: sweep_curves(...)}``): one colour per domain, one line style
    per rule; the figure."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    palette, styles = DOMAIN_COLOURS, {"tensor": "o-", "row": "x--"}
    labels = {"tensor": "one angle per tensor (mergekit 0.0.4, the paper's)",
              "row": "one angle per output row (mergekit 0.1.5)"}
    for rule, c in curves.items():
        for d in DOMAINS:
            ax.plot(c.index.to_numpy(), c[d], styles.get(rule, "o-"), ms=3, color=palette[d],
                    label=f"{d}, {labels.get(rule, rule)}")
    ax.set(xlabel="t (0 = stories fine-tune, 1 = Lua fine-tune)", ylabel="accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def compare_rules(cfg: HornConfig, model_a, model_b, evalsets: dict[str, torch.Tensor], tensor_curves,
                  device="cpu") -> tuple[dict, dict]:
    """Fig. 5's sweep by rows too (mergekit 0.1.5) beside ``tensor_curves`` (the paper's rule, already swept):
    ``({rule: curves}, facts)``, the facts being the rules' largest accuracy difference and each rule's t* (nan
    without a crossing, as ``SweepSummary.t_cross``)."""
    curves = {"tensor": tensor_curves, "row": sweep_curves(sweep(cfg, model_a, model_b, evalsets, device=device,
                                                                 rule="row"))}
    return curves, {"rules_max_diff": rules_difference(curves),
                    "row_t_cross": summarise_sweep(curves["row"]).t_cross,
                    "tensor_t_cross": summarise_sweep(curves["tensor"]).t_cross}


def rules_difference(curves: dict) -> float:
    """The largest |accuracy difference| between the two rules' sweeps, over t and domains."""
    return float((curves["row"][list(DOMAINS)] - curves["tensor"][list(DOMAINS)]).abs().max().max())
