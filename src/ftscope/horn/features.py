"""Horn & Elliott (2024), chapter 09: SAEs per model and their features matched across models.

- ``train_saes``: ``sae_seeds`` cached SAELens SAEs per model, each on blocks drawn from its model's own
  data mixture, and as many on ``random_model`` (the floor: a model of the base's shape that was never
  trained, on the base's mixture); their quality table.
- ``match_features``: every SAE read on one shared token set, alive features, Pearson matrices
  between the ``pairs`` of SAEs (``seed_pair``: the k-th SAE of one model against the next SAE of the
  other; ``control_pairs``: two SAEs of the base model, the seed control; ``floor_pairs``: each trained
  model's SAEs against the random-init model's, the floor), and the flows (persist / disappear / emerge) at
  ``match_threshold``.
- ``threshold_figure``, ``seed_control_figure``, ``sankey``: the shares against the threshold, each
  pair against the seed control and its floor, and Fig. 2's flows.

The case studies (low-level features, ``=``, ``try``/``except``, the interpretability proxy) are
``ftscope.horn.case_studies``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ftscope.horn.setup import BASE_CORPORA, MIXTURES, Corpora, HornConfig, eval_blocks, sae_rows
from ftscope.instruments import matching as F
from ftscope.instruments.sae import load_sae, sae_cell
from ftscope.progress import progress
from ftscope.train.loop import move

MODELS = ("base", "lua", "stories", "luastories")
SAE_VAL_ROWS = 256
QUALITY_COLUMNS = ["l0", "dead_fraction", "explained_variance", "ce_loss_recovered", "ce_clean", "ce_with_sae",
                   "ce_zero_ablation"]
# parent -> child; LuaStories' two parents are also combined (``Matching.merge_flow``)
PAIRS = [("base", "lua"), ("base", "stories"), ("base", "luastories"), ("lua", "luastories"),
         ("stories", "luastories"), ("lua", "stories")]
CONTROL = "base → base (another SAE seed)"  # the seed control's row in the tables
# the floor of every "kept" statistic: a model of the base's shape that was never trained (so never had a
# feature), its SAEs trained on the base's mixture; its init seed is the model seed + FLOOR_SEED_OFFSET
FLOOR = "random"
FLOOR_SEED_OFFSET = 100
FLOOR_ROW = "base → random init (floor)"  # the floor's row in the tables
SAE_MIXTURES = {**MIXTURES, FLOOR: MIXTURES["base"]}


def sae_label(model: str, k: int = 0) -> str:
    """The label of ``model``'s ``k``-th SAE (its seed ``sae_seed + k``): the model's name for the first."""
    return model if k == 0 else f"{model}, SAE seed {k}"


SEED_CONTROL = sae_label("base", 1)  # the base model's second SAE
FLOOR_PARTNER = sae_label(FLOOR, 1)  # the random-init SAE the first base SAE is matched against


def sae_runs(cfg: HornConfig) -> list[tuple[str, str, int]]:
    """``(label, model, SAE seed)`` per SAE: ``sae_seeds`` per model of ``MODELS`` and of the ``FLOOR``
    (random-init) model, every model's first SAE first."""
    return [(sae_label(name, k), name, cfg.sae_seed + k) for k in range(cfg.sae_seeds) for name in (*MODELS, FLOOR)]


def random_model(cfg: HornConfig, seed: int, device="cpu"):
    """The floor's model: the base's architecture at its initialisation (seed ``seed + FLOOR_SEED_OFFSET``,
    built on the CPU so that its weights do not depend on the device), never trained; in eval mode."""
    from ftscope.horn.training import build

    with torch.random.fork_rng():
        model = build(cfg, seed + FLOOR_SEED_OFFSET, "cpu")
    model.eval()
    return move(model, device)


def with_floor(cfg: HornConfig, models: dict, seed: int) -> dict:
    """``models`` with the ``FLOOR`` model added (``random_model``, on the base model's device) if absent."""
    if FLOOR in models:
        return models
    return {**models, FLOOR: random_model(cfg, seed, next(models["base"].parameters()).device)}


def partner(k: int, seeds: int) -> int:
    """The SAE seed a k-th SAE is matched against: the next one, so that two SAEs compared never share their
    initialisation and batch order (as the seed control's two base SAEs do not)."""
    return (k + 1) % seeds


def seed_pair(parent: str, child: str, k: int, seeds: int) -> tuple[str, str]:
    """The SAE labels of seed k's comparison of ``parent`` with ``child``: the parent's k-th SAE against the
    child's ``partner``."""
    return sae_label(parent, k), sae_label(child, partner(k, seeds))


def pair_name(parent: str, child: str) -> str:
    """A pair of models as the tables and figures name it."""
    return f"{parent} → {child}"


def control_pairs(seeds: int) -> list[tuple[str, str]]:
    """The seed control: ``seed_pair`` of the base model with itself (two SAEs of the same model)."""
    return [seed_pair("base", "base", k, seeds) for k in range(seeds)] if seeds > 1 else []


def seed_pairs(seeds: int, base_pairs=PAIRS) -> list[tuple[str, str]]:
    """Every pair of ``base_pairs`` once per SAE seed (``seed_pair``)."""
    return [seed_pair(p, c, k, seeds) for k in range(seeds) for p, c in base_pairs]


FLOOR_PARENTS = ("base", "lua", "stories")  # every parent of ``PAIRS``, each also matched into the floor


def floor_pairs(seeds: int) -> list[tuple[str, str]]:
    """The floor: ``seed_pair`` of each of ``FLOOR_PARENTS`` with the random-init model, per SAE seed."""
    return seed_pairs(seeds, [(p, FLOOR) for p in FLOOR_PARENTS])


def all_pairs(seeds: int) -> list[tuple[str, str]]:
    """``PAIRS`` between the first SAEs (same seed: the paper's design, one SAE per model with one
    configuration), the same pairs across SAE seeds (``seed_pairs``) and the seed control."""
    return list(dict.fromkeys(PAIRS + seed_pairs(seeds) + control_pairs(seeds)))


def pairs(cfg: HornConfig) -> list[tuple[str, str]]:
    """``all_pairs`` and the ``floor_pairs``."""
    return all_pairs(cfg.sae_seeds) + floor_pairs(cfg.sae_seeds)


# the two paths from the base model into LuaStories; a feature on both is universal along the chains
CHAINS = {"via Lua": ("base", "lua", "luastories"), "via stories": ("base", "stories", "luastories")}
CONTROL_CHAIN = ("base", "base", "base")  # the same steps between three SAEs of the base model
# the floor: the same two paths with LuaStories replaced by the random-init model
FLOOR_CHAINS = {name: (*chain[:-1], FLOOR) for name, chain in CHAINS.items()}


@dataclass
class SAEs:
    """The four models and the random-init one, an SAE per ``sae_runs`` label, and the SAEs' quality (one row
    per label)."""

    models: dict
    saes: dict
    quality: pd.DataFrame
    runs: list[tuple[str, str, int]]

    def quality_table(self) -> pd.DataFrame:
        return self.quality[QUALITY_COLUMNS]

    def model_quality(self) -> pd.DataFrame:
        """The quality rows of the trained models' SAEs (the random-init model's left out: its loss is about
        that of its zero ablation, so "CE loss recovered" says nothing there)."""
        return self.quality[~self.quality.index.str.startswith(FLOOR)]


def sae_cells(cfg: HornConfig, corpora: Corpora, models: dict, seed: int) -> dict:
    """``{label: Cell}``: each ``sae_runs`` SAE's training cell, on ``sae_tokens // sae_context`` blocks of its
    model's mixture (``SAE_MIXTURES``, seed ``seed + 10``), evaluated on ``SAE_VAL_ROWS`` validation blocks (seed
    ``seed + 11``); the random-init model is built (``with_floor``) when ``models`` lacks it."""
    models = with_floor(cfg, models, seed)
    n_rows = cfg.sae_tokens // cfg.sae_context
    cells = {}
    for label, name, sae_seed in sae_runs(cfg):
        train_rows = sae_rows(corpora, SAE_MIXTURES[name], n_rows, cfg.sae_context, seed + 10)
        val_rows = sae_rows(corpora, SAE_MIXTURES[name], SAE_VAL_ROWS, cfg.sae_context, seed + 11, split="val")
        cells[label] = sae_cell(label.replace(", SAE seed ", "-s"), models[name], train_rows, val_rows,
                                d_sae=cfg.d_sae, l1=cfg.sae_l1, lr=cfg.sae_lr, betas=cfg.sae_betas,
                                tokens=cfg.sae_tokens, batch_tokens=cfg.sae_batch_tokens, seed=sae_seed)
    return cells


def train_saes(cfg: HornConfig, corpora: Corpora, models: dict, seed: int) -> SAEs:
    """Each ``sae_runs`` SAE (``sae_cells``, cached) and its quality (one row per label); ``models`` gains the
    random-init model."""
    models = with_floor(cfg, models, seed)
    saes, quality = {}, {}
    runs = sae_runs(cfg)
    for (label, name, _), cell in zip(runs, sae_cells(cfg, corpora, models, seed).values()):
        state, _ = cell.get()
        saes[label] = load_sae(state["sae"], next(models[name].parameters()).device)
        quality[label] = state["metrics"]
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
    merge_flow: dict  # F.merge_flows of Lua and stories into LuaStories (the first SAEs, one seed)
    threshold: float
    seeds: int = 1  # SAEs per model: the pairs of each seed (``seed_pair``) and the seed control
    merge_flows: list = field(default_factory=list)  # F.merge_flows per SAE seed (parents k, child partner)

    @property
    def token_ids(self) -> torch.Tensor:
        return self.rows.flatten()

    @property
    def alive_idx(self) -> dict[str, torch.Tensor]:
        """Per label: the SAE indices of its alive features (matrix rows / columns map through these)."""
        return {label: torch.nonzero(m).squeeze(1) for label, m in self.alive.items()}

    def persist_share(self, parent: str, child: str) -> float:
        return self.flow[(parent, child)]["persist_share"] if (parent, child) in self.flow else float("nan")

    def seed_values(self, parent: str, child: str, key: str = "persist_share") -> list[float]:
        """``key`` of the flow from ``parent`` to ``child``, once per SAE seed (the parent's k-th SAE to the
        child's ``partner``: SAEs of different seeds, as in the seed control)."""
        return [self.flow[seed_pair(parent, child, k, self.seeds)][key] for k in range(self.seeds)]

    def control_values(self, key: str = "persist_share") -> list[float]:
        """``key`` between two SAEs of the base model (``control_pairs``): what SAE seeds alone give."""
        return [self.flow[pair][key] for pair in control_pairs(self.seeds)]

    @property
    def has_floor(self) -> bool:
        """Whether the ``floor_pairs`` (the trained models' SAEs against the random-init model's) were matched."""
        return all(pair in self.flow for pair in floor_pairs(self.seeds))

    def floor_values(self, parent: str = "base", key: str = "persist_share") -> list[float]:
        """``key`` from ``parent`` into the random-init model, once per SAE seed (``seed_values``): what an
        SAE of a model that never had ``parent``'s features finds of them."""
        return self.seed_values(parent, FLOOR, key)

    def both_parents(self, child: str = "luastories") -> list[float]:
        """Per SAE seed, the smaller of the shares of Lua's and of stories' features persisting into ``child``
        (``FLOOR`` for the floor)."""
        return [min(a, b) for a, b in zip(self.seed_values("lua", child), self.seed_values("stories", child))]

    def alive_counts(self) -> pd.Series:
        return pd.Series({label: int(m.sum()) for label, m in self.alive.items()}, name="alive features")

    def seed_facts(self) -> dict[str, float]:
        """The numbers chapter 9's prose cites: persistence from the base into each model (mean over SAE
        seeds) and from each fine-tune into LuaStories, the seed control's mean and range, persistence into
        LuaStories between the first SAEs (same seed), and the Lua fine-tune's emergence against the control's
        range; with the floor, persistence from the base into the random-init model and ``both_parents`` into it
        (mean and range)."""
        control, emerge = self.control_values(), self.control_values("emerge_share")
        floor = {}
        if self.has_floor:
            base, parents = self.floor_values(), self.both_parents(FLOOR)
            floor = {"floor_persist": float(np.mean(base)), "floor_persist_lo": min(base), "floor_persist_hi": max(base),
                     "floor_both_parents": float(np.mean(parents)), "floor_both_parents_lo": min(parents),
                     "floor_both_parents_hi": max(parents)}
        return {**floor, **{f"persist_base_{m}": float(np.mean(self.seed_values("base", m))) for m in MODELS[1:]},
                **{f"persist_{p}_luastories": float(np.mean(self.seed_values(p, "luastories")))
                   for p in ("lua", "stories")},
                "seed_ceiling": float(np.mean(control)), "seed_ceiling_lo": min(control),
                "seed_ceiling_hi": max(control), "same_seed_luastories": self.persist_share("base", "luastories"),
                "emerge_lua": float(np.mean(self.seed_values("base", "lua", "emerge_share"))),
                "emerge_control_lo": min(emerge), "emerge_control_hi": max(emerge)}

    def flow_table(self) -> pd.DataFrame:
        """Persist, disappear and emerge shares per pair of models, mean over the SAE seeds with their range,
        the merge's emerge share from both parents, the seed control (two SAEs of the base model) and the floor
        (the base model into the random-init model)."""
        keys = ("persist_share", "disappear_share", "emerge_share")
        per_pair = {pair_name(p, c): {k: self.seed_values(p, c, k) for k in keys} for p, c in PAIRS}
        same_seed = {pair_name(p, c): self.flow[(p, c)]["persist_share"] for p, c in PAIRS}
        per_pair["lua + stories → luastories"] = {"emerge_share": [m["emerge_share"] for m in self.merge_flows]}
        if self.seeds > 1:
            per_pair[CONTROL] = {k: self.control_values(k) for k in keys}
        if self.has_floor:
            per_pair[FLOOR_ROW] = {k: self.floor_values("base", k) for k in keys}
        rows = {}
        for name, values in per_pair.items():
            rows[name] = {}
            for k in keys:
                v = values.get(k)
                short = k.removesuffix("_share")
                rows[name][short] = float(np.mean(v)) if v else float("nan")
                rows[name][f"{short} range"] = (f"{min(v):.1%}–{max(v):.1%}" if v and self.seeds > 1 else "")
            rows[name]["persist, same SAE seed"] = same_seed.get(name, float("nan"))
        return pd.DataFrame(rows).T

    def threshold_sweep(self, thresholds) -> pd.DataFrame:
        """Shares against the threshold for every pair of models and SAE seed, the seed control and the floor
        (columns ``pair``, ``seed``, ``threshold`` and the shares)."""
        named = [(pair_name(p, c), k, self.corr[seed_pair(p, c, k, self.seeds)])
                 for k in range(self.seeds) for p, c in PAIRS]
        named += [(CONTROL, k, self.corr[pair]) for k, pair in enumerate(control_pairs(self.seeds))]
        if self.has_floor:
            named += [(FLOOR_ROW, k, self.corr[seed_pair("base", FLOOR, k, self.seeds)]) for k in range(self.seeds)]
        return pd.concat([F.threshold_sweep({name: corr}, thresholds).assign(seed=k) for name, k, corr in named],
                         ignore_index=True)


def match_features(cfg: HornConfig, saes: SAEs, rows: torch.Tensor, device="cpu") -> Matching:
    """Feature activations of every SAE on ``rows``, then ``match_acts`` over ``pairs(cfg)``."""
    acts = {label: F.feature_acts(saes.models[name], saes.saes[label].encode, rows.to(device))
            for label, name, _ in saes.runs}
    return match_acts(acts, rows, pairs(cfg), cfg.match_threshold, cfg.min_fires, seeds=cfg.sae_seeds)


def match_acts(acts: dict[str, torch.Tensor], rows: torch.Tensor, pairs: list[tuple[str, str]], threshold: float,
               min_fires: int, seeds: int = 1) -> Matching:
    """Alive features (``min_fires``), Pearson matrices of alive features per (parent, child) pair, flows at
    ``threshold``, and per SAE seed the flows from Lua and stories into LuaStories."""
    alive = {label: F.alive(a, min_fires) for label, a in acts.items()}
    corr = {(p, c): F.pearson_matrix(acts[p][:, alive[p]], acts[c][:, alive[c]])
            for p, c in progress(pairs, desc="matching features", total=len(pairs))}
    flow = {pair: F.flows(c, threshold) for pair, c in corr.items()}
    merges = [F.merge_flows(corr[seed_pair("lua", "luastories", k, seeds)],
                            corr[seed_pair("stories", "luastories", k, seeds)], threshold) for k in range(seeds)]
    return Matching(rows=rows, acts=acts, alive=alive, corr=corr, flow=flow,
                    merge_flow=F.merge_flows(corr[("lua", "luastories")], corr[("stories", "luastories")], threshold),
                    threshold=threshold, seeds=seeds, merge_flows=merges)


def token_profile_table(matching: Matching, min_common: int = 2) -> pd.DataFrame:
    """Persistence at the threshold under both matching methods, for the first SAEs and the seed control:
    Pearson r over token positions (ours) and the authors' token-profile r (``F.token_profile_corr``: each
    feature's mean activation per token id, correlated over the token ids both fired on)."""
    chosen = [(pair_name("base", c), ("base", c)) for c in MODELS[1:]]
    chosen += [(CONTROL, pair) for pair in control_pairs(matching.seeds)[:1]]
    rows = {}
    for name, (p, c) in progress(chosen, desc="token-profile matching", total=len(chosen)):
        a, b = matching.acts[p][:, matching.alive[p]], matching.acts[c][:, matching.alive[c]]
        profile = F.token_profile_corr(a, b, matching.token_ids, min_common=min_common)
        rows[name] = {"Pearson over positions": matching.persist_share(p, c),
                      f"token profile (≥ {min_common} common tokens)":
                          F.flows(profile, matching.threshold)["persist_share"]}
    return pd.DataFrame(rows).T


def threshold_figure(sweep: pd.DataFrame, threshold: float):
    """Share of parent features that persist against the correlation threshold, one line per pair (the mean
    over SAE seeds, the band their range); the seed control dashed, the floor dotted."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for pair, g in sweep.groupby("pair", sort=False):
        stats = g.groupby("threshold").persist_share.agg(["mean", "min", "max"])
        control, floor = pair == CONTROL, pair == FLOOR_ROW
        line, = ax.plot(stats.index, stats["mean"], "o-", label=pair, ls="--" if control else ":" if floor else "-",
                        color="black" if control else "grey" if floor else None)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15, lw=0)
    ax.axvline(threshold, color="grey", lw=0.8)
    ax.set(xlabel="correlation threshold", ylabel="share of parent features that persist", ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def seed_control_figure(matching: Matching, key: str = "persist_share"):
    """Each pair's ``key`` per SAE seed (dots) against the seed control's range (grey band): a share inside the
    band is what two SAEs of one unchanged model already give; with the floor, the same parent's share into
    the random-init model per SAE seed (crosses): what an SAE of a model that never had the features gives."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    control = matching.control_values(key)
    ax.axhspan(min(control), max(control), color="grey", alpha=0.25, lw=0, label=CONTROL)
    names = [pair_name(p, c) for p, c in PAIRS]
    for i, (p, c) in enumerate(PAIRS):
        values = matching.seed_values(p, c, key)
        ax.plot([i] * len(values), values, "o", color="C0", alpha=0.8, label="one SAE seed" if i == 0 else None)
        if matching.has_floor:
            ax.plot([i + 0.15] * matching.seeds, matching.floor_values(p, key), "x", color="C3",
                    label="parent → random init (floor), one SAE seed" if i == 0 else None)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set(ylabel=key.replace("_", " "), ylim=(0, 1))
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


def chain_persist(matching: Matching, chain, k: int) -> torch.Tensor:
    """Over the alive features of ``chain[0]``'s k-th SAE: whether each persists at every step of ``chain``,
    following its best match (step i compares the SAEs of ``seed_pair`` at the i-th next seed, so that no SAE
    seed is met twice along a chain of three models when there are three seeds)."""
    idx = torch.arange(int(matching.alive[sae_label(chain[0], k)].sum()))
    ok = torch.ones(len(idx), dtype=torch.bool)
    j = k
    for parent, child in zip(chain, chain[1:]):
        f = matching.flow[seed_pair(parent, child, j, matching.seeds)]
        ok &= f["persist"][idx]
        idx = f["parent_best"][idx]
        j = partner(j, matching.seeds)
    return ok


def chain_table(matching: Matching) -> pd.DataFrame:
    """Per SAE seed: the share of alive base features persisting along each of ``CHAINS``, along both (universal
    along the chains, also counted), into all three other models directly (Fig. 3's sense of universal), along
    ``CONTROL_CHAIN`` (three SAEs of the unchanged base model: what the instrument keeps on its own) and, with
    the floor, along both ``FLOOR_CHAINS`` (into the random-init model instead of LuaStories; share and count)
    and the number of alive base features."""
    rows = {}
    for k in range(matching.seeds):
        via = {name: chain_persist(matching, chain, k) for name, chain in CHAINS.items()}
        both = via["via Lua"] & via["via stories"]
        direct = F.universal({m: matching.corr[seed_pair("base", m, k, matching.seeds)] for m in MODELS[1:]},
                             matching.threshold)
        rows[f"SAE seed {k}"] = {**{name: float(v.float().mean()) for name, v in via.items()},
                                 "both chains": float(both.float().mean()), "both chains (count)": int(both.sum()),
                                 "in all three models": len(direct) / len(both),
                                 "control: base → base → base": float(chain_persist(matching, CONTROL_CHAIN, k)
                                                                      .float().mean())}
        if matching.has_floor:
            floor = chain_persist(matching, FLOOR_CHAINS["via Lua"], k) & chain_persist(matching,
                                                                                       FLOOR_CHAINS["via stories"], k)
            rows[f"SAE seed {k}"] |= {"floor: both chains into random init": float(floor.float().mean()),
                                      "floor: both chains into random init (count)": int(floor.sum()),
                                      "alive base features (count)": len(both)}
    return pd.DataFrame(rows).T
