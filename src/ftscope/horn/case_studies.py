"""Horn & Elliott (2024), chapter 09's case studies on matched SAE features (``horn.features``):

- ``lowlevel_enrichment``: are the base features that persist more low-level (punctuation, whitespace,
  single characters among their top tokens) than the base features overall? (Sec. 4.1)
- ``case_study`` and ``highlight``: the base feature most selective for some positions (``=``, Fig. 3;
  ``try``/``except``, Fig. 4), its best match in other models, and token highlights of both.
- ``proxy_scores`` and ``proxy_figure``: the offline stand-in for automated interpretability (Fig. 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ftscope.horn.features import FLOOR, Matching, SAEs, control_pairs, sae_label, seed_pair, seed_pairs
from ftscope.instruments import matching as F

TOP_K = 10  # top tokens per feature for the low-level share
N_EXAMPLES = 8  # persisting features shown, with their first six top tokens
ASSIGNMENT_TEXTS = {"Python": "x = 1\ntotal = x + 2\nname = 'lua'", "Lua": "local x = 1\nlocal total = x + 2"}
TRY_EXCEPT_TEXTS = {"Python": "try:\n    value = int(text)\nexcept ValueError:\n    value = 0",
                    "Lua": "local ok, value = pcall(tonumber, text)\nif not ok then value = 0 end"}


@dataclass
class LowLevel:
    low_persist: float  # mean low-level share of the top tokens of persisting base features
    low_all: float  # the same over all alive base features
    enrichment: float  # their ratio (nan when low_all is 0)
    examples: pd.DataFrame  # persisting features and their top tokens


def lowlevel_enrichment(matching: Matching, strings: Sequence[str], child: str = "luastories",
                        k: int = TOP_K, parent: str = "base") -> LowLevel:
    """Low-level share of the ``k`` top tokens of the ``parent`` features persisting into ``child`` (SAE labels),
    against all of ``parent``'s alive features."""
    parent_alive = matching.alive_idx[parent]
    top = F.top_tokens(matching.acts[parent], matching.token_ids, lambda i: strings[i], k=k,
                       features=parent_alive.tolist())
    low = F.lowlevel_share(top)
    persisting = np.flatnonzero(matching.flow[(parent, child)]["persist"].numpy())
    low_persist = float(np.nanmean(low[persisting])) if persisting.size else float("nan")
    low_all = float(np.nanmean(low))
    examples = pd.DataFrame({"feature": parent_alive[persisting].tolist()[:N_EXAMPLES],
                             "top tokens": [" ".join(repr(t) for t in top[i][:6]) for i in persisting[:N_EXAMPLES]]})
    return LowLevel(low_persist=low_persist, low_all=low_all,
                    enrichment=low_persist / low_all if low_all > 0 else float("nan"), examples=examples)


def lowlevel_seeds(matching: Matching, strings: Sequence[str], child: str = "luastories") -> tuple[list, list]:
    """The enrichment of ``lowlevel_enrichment`` once per SAE seed (base's k-th SAE into ``child``'s partner),
    and in the seed control (each base SAE into the next base SAE)."""
    def enrichment(pairs):
        return [lowlevel_enrichment(matching, strings, c, parent=p).enrichment for p, c in pairs]

    return enrichment(seed_pairs(matching.seeds, [("base", child)])), enrichment(control_pairs(matching.seeds))


def token_positions(token_ids: torch.Tensor, strings: Sequence[str], token: str) -> torch.Tensor:
    """Boolean mask of the positions whose token is ``token`` (ignoring surrounding whitespace)."""
    ids = [i for i, s in enumerate(strings) if s.strip() == token]
    return torch.isin(token_ids, torch.tensor(ids))


@dataclass
class CaseStudy:
    feature: int  # the parent SAE's feature index
    selectivity: float
    matches: dict[str, tuple[int, float]]  # other model -> (its matched SAE feature, r)
    control: tuple[int, float] | None = None  # its best match in another SAE of the same model, when asked
    floor: tuple[int, float] | None = None  # its best match in an SAE of the random-init model, when asked

    @property
    def min_r(self) -> float:
        return min(r for _, r in self.matches.values())

    def table(self) -> pd.DataFrame:
        rows = dict(self.matches)
        if self.control is not None:
            rows["base, another SAE seed (control)"] = self.control
        if self.floor is not None:
            rows["random init (floor)"] = self.floor
        return pd.DataFrame(rows, index=["matched feature", "r"]).T

    def features(self, models: Sequence[str] | None = None) -> dict[str, tuple[int, float]]:
        """``{"base": (feature, 1.0), model: (match, r), ...}`` for ``highlight``."""
        return {"base": (self.feature, 1.0), **{m: self.matches[m] for m in models or self.matches}}


def case_study(matching: Matching, on: torch.Tensor, others: Sequence[str] | Mapping[str, str] = ("lua", "stories",
               "luastories"), *, parent: str = "base", control: str | None = None,
               floor: str | None = None) -> CaseStudy:
    """The alive ``parent`` feature most selective for the positions ``on``, and its best match in each of
    ``others`` (SAE labels, or ``{name: label}``), in ``control`` (another SAE of the parent's model) and in
    ``floor`` (an SAE of the random-init model), from the flow tables."""
    others = others if isinstance(others, Mapping) else {o: o for o in others}
    parent_alive, alive_idx = matching.alive_idx[parent], matching.alive_idx
    sel = F.selectivity(matching.acts[parent][:, parent_alive], matching.token_ids, on=on)
    j = int(torch.argmax(sel))

    def best(label):
        f = matching.flow[(parent, label)]
        return int(alive_idx[label][f["parent_best"][j]]), float(f["parent_best_r"][j])

    return CaseStudy(feature=int(parent_alive[j]), selectivity=float(sel[j]),
                     matches={name: best(label) for name, label in others.items()},
                     control=None if control is None else best(control), floor=None if floor is None else best(floor))


def seed_case_studies(matching: Matching, on: torch.Tensor, models: Sequence[str] = ("lua", "stories", "luastories")
                      ) -> list[CaseStudy]:
    """``case_study`` once per SAE seed: the k-th base SAE's most selective feature, its best match in each
    model's ``partner`` SAE, as the control in the base model's ``partner`` SAE and, when matched, as the floor
    in the random-init model's ``partner`` SAE."""
    n = matching.seeds
    return [case_study(matching, on, {m: seed_pair("base", m, k, n)[1] for m in models}, parent=sae_label("base", k),
                       control=seed_pair("base", "base", k, n)[1] if n > 1 else None,
                       floor=seed_pair("base", FLOOR, k, n)[1] if matching.has_floor else None) for k in range(n)]


def disappearance(r: float, threshold: float) -> str:
    """How the chapter words a best match ``r`` of the try/except feature in the Lua fine-tune."""
    return ("below the threshold: the feature disappears, as in the paper" if r < threshold
            else "above the threshold: unlike in the paper, the feature persists")


def highlight(saes: SAEs, tokenizer, strings: Sequence[str], features: dict[str, tuple[int, float]],
              texts: dict[str, str], n_ctx: int):
    """Figs. 3–4: each text's tokens coloured by each model's feature (``{model: (feature, r)}``); HTML."""
    from IPython.display import HTML

    html = []
    for label, text in texts.items():
        ids = torch.tensor([[0, *tokenizer.encode(text, add_special_tokens=False).ids]])[:, :n_ctx]
        toks = [strings[i] for i in ids[0].tolist()]
        for name, (feat, r) in features.items():
            model = saes.models[name]
            a = F.feature_acts(model, saes.saes[name].encode, ids.to(next(model.parameters()).device))[:, feat]
            html.append(F.token_highlight_html(toks, a.numpy(), title=f"{label}, {name} feature {feat} (r = {r:.2f})"))
    return HTML("<br>".join(html))


def proxy_scores(matching: Matching, parent: str = "lua", child: str = "luastories", k: int | None = None):
    """``autointerp_proxy`` of ``parent``'s alive features, and of those persisting into ``child``: between the
    first SAEs, or with ``k`` between the SAEs of ``seed_pair`` (the parent's k-th, the child's next)."""
    p, c = (parent, child) if k is None else seed_pair(parent, child, k, matching.seeds)
    scores = F.autointerp_proxy(matching.acts[p], matching.token_ids, features=matching.alive_idx[p].tolist())
    persisting = np.flatnonzero(matching.flow[(p, c)]["persist"].numpy())
    return scores, scores[persisting] if persisting.size else np.array([])


def proxy_gap(scores: np.ndarray, kept: np.ndarray) -> float:
    """Median proxy score of the persisting features minus that of all of them (nan if none persists)."""
    if not np.isfinite(kept).any() or not np.isfinite(scores).any():
        return float("nan")
    return float(np.nanmedian(kept) - np.nanmedian(scores))


def proxy_seeds(matching: Matching, parent: str = "lua", child: str = "luastories") -> tuple[list, list]:
    """``proxy_gap`` per SAE seed from ``parent`` into ``child``, and the same between two SAEs of the base
    model (the seed control): ``(ours, control)``."""
    def gaps(p, c):
        return [proxy_gap(*proxy_scores(matching, p, c, k)) for k in range(matching.seeds)]

    return gaps(parent, child), gaps("base", "base")


def proxy_figure(scores: np.ndarray, kept: np.ndarray):
    """Fig. 6's shape: histograms of the proxy scores of all alive Lua features and of those that persist."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.hist(scores[~np.isnan(scores)], bins=30, alpha=0.6, density=True, label="all alive Lua features")
    ax.hist(kept[~np.isnan(kept)], bins=30, alpha=0.6, density=True, label="Lua features persisting into LuaStories")
    ax.set(xlabel="proxy score (r of token-lookup simulation)", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
