"""Horn & Elliott (2024), chapter 09: an SAE per model and its features matched across models.

- ``train_saes``: one cached SAELens SAE per model (and a second base SAE with another seed, the
  matching ceiling), each on blocks drawn from its model's own data mixture; their quality table.
- ``match_features``: every SAE read on one shared token set, alive features, Pearson matrices
  between the ``pairs`` of models, and the flows (persist / disappear / emerge) at ``match_threshold``.
- ``threshold_figure``, ``sankey``: the shares against the threshold, and Fig. 2's flows.

The case studies (low-level features, ``=``, ``try``/``except``, the interpretability proxy) are
``ftscope.horn.case_studies``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ftscope.horn.setup import BASE_CORPORA, MIXTURES, Corpora, HornConfig, eval_blocks, sae_rows
from ftscope.instruments import matching as F
from ftscope.instruments.sae import cached_sae

MODELS = ("base", "lua", "stories", "luastories")
SEED_CONTROL = "base, other seed"
SAE_VAL_ROWS = 256
QUALITY_COLUMNS = ["l0", "dead_fraction", "explained_variance", "ce_loss_recovered", "ce_clean", "ce_with_sae",
                   "ce_zero_ablation"]
# parent -> child; LuaStories' two parents are also combined (``Matching.merge_flow``)
PAIRS = [("base", "lua"), ("base", "stories"), ("base", "luastories"), ("lua", "luastories"),
         ("stories", "luastories"), ("lua", "stories")]


def sae_runs(cfg: HornConfig) -> list[tuple[str, str, int]]:
    """``(label, model, SAE seed)`` per SAE: one per model, and with ``seed_control`` a second base SAE."""
    runs = [(name, name, cfg.sae_seed) for name in MODELS]
    if cfg.seed_control:
        runs.append((SEED_CONTROL, "base", cfg.sae_seed + 1))
    return runs


def pairs(cfg: HornConfig) -> list[tuple[str, str]]:
    return PAIRS + ([("base", SEED_CONTROL)] if cfg.seed_control else [])


@dataclass
class SAEs:
    """The four models, an SAE per ``sae_runs`` label, and the SAEs' quality (one row per label)."""

    models: dict
    saes: dict
    quality: pd.DataFrame
    runs: list[tuple[str, str, int]]

    def quality_table(self) -> pd.DataFrame:
        return self.quality[QUALITY_COLUMNS]


def train_saes(cfg: HornConfig, corpora: Corpora, models: dict, seed: int) -> SAEs:
    """Each ``sae_runs`` SAE (cached), trained on ``sae_tokens // sae_context`` blocks of its model's mixture
    (seed ``seed + 10``) and evaluated on ``SAE_VAL_ROWS`` validation blocks (seed ``seed + 11``)."""
    n_rows = cfg.sae_tokens // cfg.sae_context
    runs, saes, quality = sae_runs(cfg), {}, {}
    for label, name, sae_seed in runs:
        train_rows = sae_rows(corpora, MIXTURES[name], n_rows, cfg.sae_context, seed + 10)
        val_rows = sae_rows(corpora, MIXTURES[name], SAE_VAL_ROWS, cfg.sae_context, seed + 11, split="val")
        saes[label], quality[label], _ = cached_sae(
            label.replace(", ", "-").replace(" ", "_"), models[name], train_rows, val_rows, d_sae=cfg.d_sae,
            l1=cfg.sae_l1, lr=cfg.sae_lr, betas=cfg.sae_betas, tokens=cfg.sae_tokens,
            batch_tokens=cfg.sae_batch_tokens, seed=sae_seed)
    return SAEs(models=models, saes=saes, quality=pd.DataFrame(quality).T, runs=runs)


def shared_rows(cfg: HornConfig, corpora: Corpora, seed: int) -> torch.Tensor:
    """The shared token set: ``match_blocks`` blocks of ``sae_context`` tokens of base-domain validation text,
    half from each base corpus (seed ``seed + 12``)."""
    return torch.cat([eval_blocks(corpora.streams[c]["val"], cfg.match_blocks // 2, cfg.sae_context, seed + 12)
                      for c in BASE_CORPORA])


@dataclass
class Matching:
    """Every SAE's features on the shared ``rows`` and what they match across ``pairs``."""

    rows: torch.Tensor  # [n, sae_context] shared blocks
    acts: dict[str, torch.Tensor]  # label -> [n * sae_context, d_sae]
    alive: dict[str, torch.Tensor]  # label -> bool [d_sae]
    corr: dict[tuple[str, str], torch.Tensor]  # (parent, child) -> Pearson r [alive parent, alive child]
    flow: dict[tuple[str, str], dict]  # (parent, child) -> F.flows
    merge_flow: dict  # F.merge_flows of Lua and stories into LuaStories
    threshold: float

    @property
    def token_ids(self) -> torch.Tensor:
        return self.rows.flatten()

    @property
    def alive_idx(self) -> dict[str, torch.Tensor]:
        """Per label: the SAE indices of its alive features (matrix rows / columns map through these)."""
        return {label: torch.nonzero(m).squeeze(1) for label, m in self.alive.items()}

    def persist_share(self, parent: str, child: str) -> float:
        return self.flow[(parent, child)]["persist_share"] if (parent, child) in self.flow else float("nan")

    def alive_counts(self) -> pd.Series:
        return pd.Series({label: int(m.sum()) for label, m in self.alive.items()}, name="alive features")

    def flow_table(self) -> pd.DataFrame:
        """Persist, disappear and emerge shares per pair, and the merge's emerge share from both parents."""
        keys = ("persist_share", "disappear_share", "emerge_share")
        table = pd.DataFrame({f"{p} → {c}": {k: self.flow[(p, c)][k] for k in keys} for p, c in self.flow}).T
        table.loc["lua + stories → luastories", "emerge_share"] = self.merge_flow["emerge_share"]
        return table

    def threshold_sweep(self, thresholds) -> pd.DataFrame:
        return F.threshold_sweep({f"{p} → {c}": corr for (p, c), corr in self.corr.items()}, thresholds)


def match_features(cfg: HornConfig, saes: SAEs, rows: torch.Tensor, device="cpu") -> Matching:
    """Feature activations of every SAE on ``rows``, then ``match_acts`` over ``pairs(cfg)``."""
    acts = {label: F.feature_acts(saes.models[name], saes.saes[label].encode, rows.to(device))
            for label, name, _ in saes.runs}
    return match_acts(acts, rows, pairs(cfg), cfg.match_threshold, cfg.min_fires)


def match_acts(acts: dict[str, torch.Tensor], rows: torch.Tensor, pairs: list[tuple[str, str]], threshold: float,
               min_fires: int) -> Matching:
    """Alive features (``min_fires``), Pearson matrices of alive features per (parent, child) pair, flows at
    ``threshold``, and the flows from Lua and stories into LuaStories."""
    alive = {label: F.alive(a, min_fires) for label, a in acts.items()}
    corr = {(p, c): F.pearson_matrix(acts[p][:, alive[p]], acts[c][:, alive[c]]) for p, c in pairs}
    flow = {pair: F.flows(c, threshold) for pair, c in corr.items()}
    merge_flow = F.merge_flows(corr[("lua", "luastories")], corr[("stories", "luastories")], threshold)
    return Matching(rows=rows, acts=acts, alive=alive, corr=corr, flow=flow, merge_flow=merge_flow,
                    threshold=threshold)


def threshold_figure(sweep: pd.DataFrame, threshold: float):
    """Share of parent features that persist against the correlation threshold, one line per pair."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for pair, g in sweep.groupby("pair", sort=False):
        ax.plot(g["threshold"], g["persist_share"], "o-", label=pair, ls="--" if "seed" in pair else "-")
    ax.axvline(threshold, color="grey", lw=0.8)
    ax.set(xlabel="correlation threshold", ylabel="share of parent features that persist", ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def sankey(matching: Matching):
    """Fig. 2: base → each fine-tune → LuaStories, with the features that disappear and emerge (plotly)."""
    tree = {("base", "lua"): matching.flow[("base", "lua")], ("base", "stories"): matching.flow[("base", "stories")],
            (("lua", "stories"), "luastories"): matching.merge_flow}
    links = F.flow_links(tree)
    order = list(MODELS)
    nodes = sorted({n for a, b, _ in links for n in (a, b)},
                   key=lambda n: (n not in order, order.index(n) if n in order else 0, n))
    return F.sankey_figure(nodes, links,
                           title=f"Feature flows between the four models (Pearson r ≥ {matching.threshold})")
