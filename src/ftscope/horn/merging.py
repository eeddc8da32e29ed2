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
from ftscope.progress import progress
from ftscope.train import loop as training

# The axes of each TransformerLens weight that index the output rows of the Hugging Face (Mistral) tensor
# mergekit reads: W_Q [heads, d_model, d_head] is q_proj.weight [heads·d_head, d_model], W_in [d_model, d_mlp]
# is up_proj.weight [d_mlp, d_model], W_U [d_model, vocab] is lm_head.weight [vocab, d_model], …
DOMAIN_COLOURS = {"stories": "tab:orange", "lua": "tab:blue"}  # the sweep figures' colour per domain
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


# ------------------------------------------------------------------------- Fig. 5, read off
MONOTONE_TOL = 0.005  # per sweep step
HALFWAY = 0.5  # where the retained share of each fine-tune's gain is read


def sweep_curves(sweep_frame):
    """Accuracy per t (rows) and evaluation set (columns) from ``sweep``'s long frame."""
    return sweep_frame.pivot(index="t", columns="set", values="acc")


@dataclass
class SweepSummary:
    """What the Fig. 5 curves say, ours and the paper's: where they cross (t from the stories end), how
    much of each fine-tune's in-domain gain a halfway merge keeps, whether both curves are monotone."""

    t_cross: float
    t_cross_paper: float
    t_cross_or_end: float  # t_cross, or without a crossing the end towards which it lies
    keep: dict[str, float]
    keep_paper: dict[str, float]
    monotone: bool
    ends: dict[str, float]

    def table(self):
        import pandas as pd

        return pd.DataFrame({"ours": [self.t_cross, self.keep["stories"], self.keep["lua"], self.monotone],
                             "paper": [self.t_cross_paper, self.keep_paper["stories"], self.keep_paper["lua"], True]},
                            index=["crossing t*", f"stories gain kept at t={HALFWAY}", f"Lua gain kept at t={HALFWAY}",
                                   f"both curves monotone (±{MONOTONE_TOL})"])

    def glue_values(self) -> dict[str, float]:
        return {**self.ends, "t_cross": self.t_cross, "t_cross_paper": self.t_cross_paper,
                "keep_stories": self.keep["stories"], "keep_lua": self.keep["lua"],
                "keep_stories_paper": self.keep_paper["stories"], "keep_lua_paper": self.keep_paper["lua"]}


def _keep(ts: np.ndarray, stories, lua) -> dict[str, float]:
    mid = int(np.argmin(np.abs(ts - HALFWAY)))
    return {"stories": retention(stories, mid, 0), "lua": retention(lua, mid, -1)}


def summarise_sweep(curves) -> SweepSummary:
    """``SweepSummary`` of our ``sweep_curves`` beside the paper's Fig. 5 (``reported``)."""
    from ftscope.horn.reported import PAPER_SWEEP_ACC, PAPER_SWEEP_T

    ts = curves.index.to_numpy()
    t_cross = crossing(ts, curves["stories"].to_numpy(), curves["lua"].to_numpy())
    # no crossing inside the sweep: the end towards which it lies (1 if Lua stays below, 0 if it starts above)
    t_cross_or_end = t_cross if np.isfinite(t_cross) else float(curves["lua"].iloc[0] < curves["stories"].iloc[0])
    monotone = (is_monotone(curves["stories"], increasing=False, tol=MONOTONE_TOL)
                and is_monotone(curves["lua"], increasing=True, tol=MONOTONE_TOL))
    ends = {"stories_t0": curves["stories"].iloc[0], "stories_t1": curves["stories"].iloc[-1],
            "lua_t0": curves["lua"].iloc[0], "lua_t1": curves["lua"].iloc[-1]}
    return SweepSummary(t_cross=t_cross,
                        t_cross_paper=crossing(PAPER_SWEEP_T, PAPER_SWEEP_ACC["stories"], PAPER_SWEEP_ACC["lua"]),
                        t_cross_or_end=t_cross_or_end, keep=_keep(ts, curves["stories"], curves["lua"]),
                        keep_paper=_keep(PAPER_SWEEP_T, PAPER_SWEEP_ACC["stories"], PAPER_SWEEP_ACC["lua"]),
                        monotone=monotone, ends=ends)


def sweep_figure(curves, base_acc, title: str):
    """Fig. 5: our sweep (dashed: the base model's accuracy per domain) beside the paper's; the figure."""
    from matplotlib import pyplot as plt

    from ftscope.horn.reported import PAPER_SWEEP_ACC, PAPER_SWEEP_T

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    palette = DOMAIN_COLOURS
    for d in DOMAINS:
        axes[0].plot(curves.index.to_numpy(), curves[d], "o-", ms=3, color=palette[d], label=f"{d} validation")
        axes[0].axhline(base_acc[d], ls="--", color=palette[d], lw=1)
        axes[1].plot(PAPER_SWEEP_T, PAPER_SWEEP_ACC[d], "o-", ms=3, color=palette[d], label=f"{d} validation")
    axes[0].set(title=title, xlabel="t (0 = stories fine-tune, 1 = Lua fine-tune)", ylabel="accuracy")
    axes[1].set(title="Horn & Elliott, Fig. 5", xlabel="t (0 = TinyStories fine-tune, 1 = Lua fine-tune)")
    axes[0].legend()
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
    ``({rule: curves}, facts)``, the facts being the rules' largest accuracy difference and the row rule's t*
    (nan without a crossing, as ``SweepSummary.t_cross``)."""
    curves = {"tensor": tensor_curves, "row": sweep_curves(sweep(cfg, model_a, model_b, evalsets, device=device,
                                                                 rule="row"))}
    return curves, {"rules_max_diff": rules_difference(curves),
                    "row_t_cross": summarise_sweep(curves["row"]).t_cross}


def rules_difference(curves: dict) -> float:
    """The largest |accuracy difference| between the two rules' sweeps, over t and domains."""
    return float((curves["row"][list(DOMAINS)] - curves["tensor"][list(DOMAINS)]).abs().max().max())
