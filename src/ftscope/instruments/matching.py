"""Matching SAE features across models (Horn & Elliott 2024, §3.4, §4.1, Figs. 2–4, 6).

Every model's SAE is run on one **shared token set** (the same blocks for all four models), giving an
activation matrix ``[n_tokens, d_sae]`` per model. A parent feature and a child feature are matched by
Pearson r between their activations, computed one of two ways:

- **Method A** (default, ``pearson_matrix``): r between the per-position activation vectors over all
  shared tokens: a chunked matmul of z-scored columns. Constant columns give r = 0.
- **Method B** (``token_profile_corr``, the authors' ``evaluation/autoencoder/correlation.py``): each
  feature is summarised by its mean activation per token id over the positions where it fired; a pair's
  r is taken over the token ids on which both fired (at least ``min_common``, else 0). Vectorised with
  masked matmuls of the sums n, Σx, Σy, Σx², Σy², Σxy, in float64.

**Flows** for a parent P and a child C at threshold τ (alive features only, ``alive``):

- a P feature *persists* if its best C match has r ≥ τ, else it *disappears*;
- a C feature *emerges* if its best P match has r < τ;
- the merge (LuaStories) has two parents, and its feature emerges only if it matches neither;
- *universal* features are base features with a match ≥ τ in every other model;
- shares are over the features passed in; ``flow_links`` + ``sankey_figure`` draw Fig. 2.

The paper scores features with GPT-4 automated interpretability (App. C): an explanation written from
top activations, then simulated activations scored by Pearson r against the true ones. That needs the
OpenAI API, so ``autointerp_proxy`` replaces it: the "explanation" is a token → mean-activation table
learned on one part of the shared set, the "simulation" is a lookup on the rest. ``top_tokens``,
``lowlevel_share`` and ``selectivity`` support the case studies; ``token_highlight_html`` draws
Figs. 3–4-style token highlights.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ftscope.instruments.activations import HOOK, hook_batches
from ftscope.progress import progress

if TYPE_CHECKING:
    import plotly.graph_objects as go


# --- activations -------------------------------------------------------------------------------------------------


@torch.no_grad()
def feature_acts(model, sae_encode: Callable[[Tensor], Tensor], blocks: Tensor, *, hook: str = HOOK,
                 batch: int = 64) -> Tensor:
    """SAE feature activations of ``model`` on token ``blocks`` [n, T]: [n*T, d_sae] float32 on the CPU.

    ``sae_encode`` maps hook activations [m, d_in] to features [m, d_sae] (e.g. ``sae.encode``).
    """
    return torch.cat([sae_encode(x).float().cpu()  # (B*T, d_in) -> (B*T, d_sae)
                      for x in hook_batches(model, blocks, hook, batch, desc="feature acts")])


def alive(acts: Tensor, min_fires: int) -> Tensor:
    """Features that fire (> 0) at least ``min_fires`` times: bool [d_sae]."""
    return (acts > 0).sum(0) >= min_fires


# --- correlations ------------------------------------------------------------------------------------------------


def _zscore(x: Tensor, chunk: int) -> Tensor:
    """Columns centred and scaled to unit norm (float64 maths, float32 result); constant columns -> 0."""
    out = []
    for j in range(0, x.shape[1], chunk):
        c = x[:, j: j + chunk].double()  # (N, c)
        scale = c.abs().amax(0) * len(c) ** 0.5
        c = c - c.mean(0)
        norm = c.norm(dim=0)
        ok = norm > 1e-9 * scale
        out.append(torch.where(ok, c / torch.where(ok, norm, 1.0), 0.0).float())
    return torch.cat(out, 1) if out else x.new_zeros(x.shape, dtype=torch.float32)


def pearson_matrix(a: Tensor, b: Tensor, chunk: int = 1024) -> Tensor:
    """Pearson r between every column of ``a`` [N, Fa] and of ``b`` [N, Fb]: [Fa, Fb] (method A).

    Constant columns give 0. Runs on ``a``'s device; the result is on the CPU.
    """
    assert a.shape[0] == b.shape[0], "a and b must share the token axis"
    zb = _zscore(b.to(a.device), chunk)  # (N, Fb)
    rows = []
    for i in progress(range(0, a.shape[1], chunk), desc="pearson", total=-(-a.shape[1] // chunk),
                      disable=a.shape[1] <= chunk):
        za = _zscore(a[:, i: i + chunk], chunk)  # (N, c)
        rows.append((za.T @ zb).clamp_(-1.0, 1.0).cpu())  # (c, Fb)
    return torch.cat(rows) if rows else torch.zeros(0, b.shape[1])


def _token_sums(acts: Tensor, inverse: Tensor, n_tok: int, fired_only: bool) -> tuple[Tensor, Tensor]:
    """Per token id: (summed activation [V, F], count [V, F] of fired positions or [V, 1] of positions)."""
    sums = acts.new_zeros(n_tok, acts.shape[1]).index_add_(0, inverse, acts)
    if fired_only:
        return sums, acts.new_zeros(n_tok, acts.shape[1]).index_add_(0, inverse, (acts > 0).to(acts.dtype))
    return sums, torch.bincount(inverse, minlength=n_tok).to(acts.dtype)[:, None]


def token_profile_corr(acts_a: Tensor, acts_b: Tensor, token_ids: Tensor, min_common: int = 2,
                       chunk: int = 1024) -> Tensor:
    """Method B (the authors' ``correlation.py``): r between token profiles, over co-fired tokens: [Fa, Fb].

    A feature's profile is its mean activation per token id over the positions where it fired. A pair's r
    is taken over the token ids on which both fired; pairs with fewer than ``min_common`` such tokens, or
    constant over them, give 0 (the repo skips or gets nan for them).
    """
    _, inv = torch.unique(token_ids.to(acts_a.device), return_inverse=True)
    n_tok = int(inv.max()) + 1 if len(inv) else 0
    profiles = []
    for acts in (acts_a, acts_b.to(acts_a.device)):
        sums, fires = _token_sums(acts.double(), inv, n_tok, fired_only=True)  # (V, F) each
        mask = (fires > 0).double()
        profiles.append((sums / fires.clamp_min(1.0), mask))  # profile is 0 where not fired
    (pa, ma), (pb, mb) = profiles
    pb2 = pb * pb
    rows = []
    for i in progress(range(0, pa.shape[1], chunk), desc="token-profile r", total=-(-pa.shape[1] // chunk),
                      disable=pa.shape[1] <= chunk):
        x, m = pa[:, i: i + chunk], ma[:, i: i + chunk]  # (V, c)
        n = m.T @ mb  # (c, Fb) co-fired token counts
        sx, sy = x.T @ mb, m.T @ pb
        sxx, syy, sxy = (x * x).T @ mb, m.T @ pb2, x.T @ pb
        vx, vy = n * sxx - sx * sx, n * syy - sy * sy
        ok = (n >= min_common) & (vx > 1e-12 * n * sxx) & (vy > 1e-12 * n * syy)
        r = (n * sxy - sx * sy) / torch.sqrt(torch.where(ok, vx * vy, 1.0))
        rows.append(torch.where(ok, r, 0.0).clamp_(-1.0, 1.0).float().cpu())
    return torch.cat(rows) if rows else torch.zeros(0, acts_b.shape[1])


# --- flows -------------------------------------------------------------------------------------------------------


def _best(corr: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Best match (r, index) along ``dim``; nan counts as no match; -inf / -1 when the other side is empty."""
    if corr.shape[dim] == 0:
        n = corr.shape[1 - dim]
        return torch.full((n,), -float("inf")), torch.full((n,), -1, dtype=torch.long)
    r, idx = torch.nan_to_num(corr.float(), nan=-float("inf")).max(dim)
    return r, idx


def _share(k: int, n: int) -> float:
    return k / n if n else float("nan")


def flows(corr: Tensor, threshold: float) -> dict:
    """Persist / disappear (parent rows) and emerge (child columns) at ``threshold`` from ``corr`` [P, C].

    Keys: boolean masks ``persist``, ``disappear`` [P] and ``emerge`` [C]; best matches ``parent_best``,
    ``parent_best_r`` [P] and ``child_best``, ``child_best_r`` [C]; counts ``n_parent``, ``n_child``,
    ``n_persist``, ``n_disappear``, ``n_emerge``; shares ``persist_share``, ``disappear_share`` (over P),
    ``emerge_share`` (over C); ``threshold``.
    """
    p_r, p_idx = _best(corr, 1)
    c_r, c_idx = _best(corr, 0)
    persist, emerge = p_r >= threshold, c_r < threshold
    n_p, n_c = corr.shape
    k_p, k_e = int(persist.sum()), int(emerge.sum())
    return dict(persist=persist, disappear=~persist, emerge=emerge,
                parent_best=p_idx, parent_best_r=p_r, child_best=c_idx, child_best_r=c_r,
                n_parent=n_p, n_child=n_c, n_persist=k_p, n_disappear=n_p - k_p, n_emerge=k_e,
                persist_share=_share(k_p, n_p), disappear_share=_share(n_p - k_p, n_p),
                emerge_share=_share(k_e, n_c), threshold=threshold)


def merge_flows(corr_p1: Tensor, corr_p2: Tensor, threshold: float) -> dict:
    """Flows into a child with two parents (LuaStories from Lua and Stories).

    ``p1``, ``p2``: each parent's ``flows`` table (persist / disappear per parent). The child's
    ``emerge`` [C] holds only features matching neither parent; ``from_both``, ``from_p1_only``,
    ``from_p2_only`` [C] say where the others come from; with counts ``n_*`` and ``emerge_share``.
    """
    assert corr_p1.shape[1] == corr_p2.shape[1], "both parents must be matched against the same child features"
    f1, f2 = flows(corr_p1, threshold), flows(corr_p2, threshold)
    m1, m2 = ~f1["emerge"], ~f2["emerge"]
    emerge = ~(m1 | m2)
    n_c, k_e = corr_p1.shape[1], int(emerge.sum())
    out = dict(p1=f1, p2=f2, emerge=emerge, from_both=m1 & m2, from_p1_only=m1 & ~m2, from_p2_only=m2 & ~m1,
               n_child=n_c, n_emerge=k_e, emerge_share=_share(k_e, n_c), threshold=threshold)
    for k in ("from_both", "from_p1_only", "from_p2_only"):
        out[f"n_{k}"] = int(out[k].sum())
    return out


def universal(base_to: dict[str, Tensor], threshold: float) -> pd.DataFrame:
    """Base features matched at r ≥ ``threshold`` in every other model (``base_to[name]``: corr [F_base, F_name]).

    One row per universal base feature: ``base``, then ``{name}_match`` and ``{name}_r`` per model and
    ``min_r``; sorted by ``min_r`` descending. Indices are positions in the matrices' rows / columns.
    """
    best = {name: _best(c, 1) for name, c in base_to.items()}
    keep = torch.stack([r >= threshold for r, _ in best.values()]).all(0).nonzero().flatten()
    df = pd.DataFrame({"base": keep.numpy()})
    for name, (r, idx) in best.items():
        df[f"{name}_match"] = idx[keep].numpy()
        df[f"{name}_r"] = r[keep].numpy()
    df["min_r"] = df[[f"{n}_r" for n in best]].min(1)
    return df.sort_values("min_r", ascending=False, ignore_index=True)


def threshold_sweep(corrs: dict[str, Tensor], thresholds) -> pd.DataFrame:
    """Flow shares for each (pair name -> corr [P, C]) and threshold."""
    rows = []
    for pair, c in corrs.items():
        for t in thresholds:
            f = flows(c, float(t))
            rows.append(dict(pair=pair, threshold=float(t), persist_share=f["persist_share"],
                             emerge_share=f["emerge_share"], disappear_share=f["disappear_share"]))
    return pd.DataFrame(rows, columns=["pair", "threshold", "persist_share", "emerge_share", "disappear_share"])


# --- what features respond to ------------------------------------------------------------------------------------


def _pick(acts: Tensor, features) -> Tensor:
    return acts if features is None else acts[:, torch.as_tensor(features, dtype=torch.long)]


def top_tokens(acts: Tensor, token_ids: Tensor, decode: Callable[[int], str], k: int = 10,
               features=None) -> list[list[str]]:
    """Per feature (all, or the ``features`` columns): the ``k`` tokens with the highest mean activation.

    The mean is over every position of that token; only tokens seen ≥ 2 times with a positive mean count.
    """
    acts = _pick(acts, features).float()
    uniq, inv = torch.unique(token_ids, return_inverse=True)
    sums, counts = _token_sums(acts, inv, len(uniq), fired_only=False)
    means = torch.where(counts >= 2, sums / counts, 0.0)  # (V, F)
    vals, idx = means.topk(min(k, len(uniq)), dim=0)  # (k, F)
    return [[decode(int(uniq[i])) for i, v in zip(idx[:, f], vals[:, f]) if v > 0] for f in range(acts.shape[1])]


_MARKERS = {"Ġ": " ", "Ċ": "\n", "ĉ": "\t", "▁": " "}


def _lowlevel(tok: str) -> bool:
    for m, s in _MARKERS.items():
        tok = tok.replace(m, s)
    core = tok.strip()
    return len(core) <= 1 or all(unicodedata.category(ch)[0] in "PSZ" for ch in core)


def lowlevel_share(top: list[list[str]]) -> np.ndarray:
    """Per feature: share of its top tokens that are punctuation / symbols, whitespace or single characters.

    BPE markers (``Ġ``, ``Ċ``, ``▁``) and surrounding spaces are stripped first; an empty list gives nan.
    """
    return np.array([np.mean([_lowlevel(t) for t in toks]) if toks else np.nan for toks in top], dtype=float)


def selectivity(acts: Tensor, token_ids: Tensor, target_ids: Sequence[int] | None = None, eps: float = 1e-6, *,
                on: Tensor | None = None) -> Tensor:
    """Per feature: mean activation on the target positions / (mean activation elsewhere + eps). The targets
    are the positions holding one of ``target_ids``, or the boolean mask ``on`` (e.g. ``word_positions``)."""
    if on is None:
        on = torch.isin(token_ids, torch.as_tensor(list(target_ids), dtype=token_ids.dtype))
    on = torch.as_tensor(on, dtype=torch.bool).reshape(-1)
    if not on.any() or on.all():
        raise ValueError("the target tokens must occur in token_ids, and not everywhere")
    acts = acts.float()
    return acts[on].mean(0) / (acts[~on].mean(0) + eps)


def word_positions(blocks: Tensor, decode: Callable[[int], str], words: Sequence[str]) -> Tensor:
    """Boolean mask over the flattened ``blocks`` [n, T]: positions whose token ends one of ``words`` as a
    whole word (however the tokenizer split it), e.g. ``except`` written as ``ex`` + ``cept``."""
    pattern = re.compile(r"(?<![\w])(?:" + "|".join(re.escape(w) for w in words) + r")$")
    cont = re.compile(r"^\w")
    rows = blocks.tolist() if hasattr(blocks, "tolist") else list(blocks)
    mask = []
    for row in rows:
        pieces = [decode(int(t)) for t in row]
        text = ""
        for i, piece in enumerate(pieces):
            text += piece
            nxt = pieces[i + 1] if i + 1 < len(pieces) else " "
            mask.append(bool(pattern.search(text[-64:])) and not cont.match(nxt))
    return torch.tensor(mask, dtype=torch.bool)


def autointerp_proxy(acts: Tensor, token_ids: Tensor, *, split: float = 0.5, features=None) -> np.ndarray:
    """Offline stand-in for GPT-4 auto-interpretability (App. C, Fig. 6): Pearson r per feature.

    Explanation: the token -> mean-activation table on the first ``split`` of positions. Simulation: that
    table looked up on the remaining positions (unseen tokens predict 0). Score: Pearson r between simulated
    and true activations; nan where either is constant.
    """
    acts = _pick(acts, features).double()
    cut = int(split * len(acts))
    uniq, inv = torch.unique(token_ids, return_inverse=True)
    sums, counts = _token_sums(acts[:cut], inv[:cut], len(uniq), fired_only=False)
    table = torch.where(counts > 0, sums / counts.clamp_min(1.0), 0.0)  # (V, F)
    sim, true = table[inv[cut:]], acts[cut:]  # (N - cut, F)
    zs, zt = sim - sim.mean(0), true - true.mean(0)
    ns, nt = zs.norm(dim=0), zt.norm(dim=0)
    const = (ns <= 1e-9 * sim.abs().amax(0) * len(sim) ** 0.5) | (nt <= 1e-9 * true.abs().amax(0) * len(sim) ** 0.5)
    r = (zs * zt).sum(0) / (ns * nt)
    return torch.where(const | (ns * nt == 0), float("nan"), r).clamp(-1, 1).numpy()


# --- figures -----------------------------------------------------------------------------------------------------


def flow_links(flow_tables: dict[tuple, dict], *, persist_only: bool = False) -> list[tuple[str, str, float]]:
    """Sankey links from ``{(parent, child): flows(...)}``, or ``{((p1, p2), child): merge_flows(...)}``.

    Per table: parent -> child (persisting parent features), parent -> "disappeared", "emerged" -> child.
    ``persist_only`` keeps only the persisting flows (as in the paper's Fig. 2). Zero links are dropped.
    """
    links = []
    for (parent, child), f in flow_tables.items():
        if "p1" in f:  # merge: two parents
            pairs = [(parent[0], f["p1"]), (parent[1], f["p2"])]
        else:
            pairs = [(parent, f)]
        for p, fp in pairs:
            links.append((p, child, float(fp["n_persist"])))
            if not persist_only:
                links.append((p, "disappeared", float(fp["n_disappear"])))
        if not persist_only:
            links.append(("emerged", child, float(f["n_emerge"])))
    return [link for link in links if link[2] > 0]


def sankey_figure(nodes: list[str], links: list[tuple[str, str, float]], title: str = "", *,
                  labels: dict[str, str] | None = None) -> go.Figure:
    """A plotly Sankey of feature counts; ``labels`` optionally renames nodes for display (e.g. with shares)."""
    import plotly.graph_objects as go

    pos = {n: i for i, n in enumerate(nodes)}
    missing = {n for s, t, _ in links for n in (s, t)} - set(pos)
    if missing:
        raise ValueError(f"links name nodes not in `nodes`: {sorted(missing)}")
    labels = labels or {}
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=[labels.get(n, n) for n in nodes], pad=20, thickness=16),
        link=dict(source=[pos[s] for s, _, _ in links], target=[pos[t] for _, t, _ in links],
                  value=[v for _, _, v in links])))
    fig.update_layout(title_text=title, font_size=12)
    return fig


def token_highlight_html(tokens: list[str], acts, *, title: str = "", cmap: str = "Oranges") -> str:
    """Inline HTML: each token on a background coloured by its activation / max (hover shows the value)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    a = np.clip(np.asarray(acts, dtype=float).reshape(-1), 0.0, None)
    assert len(a) == len(tokens), "one activation per token"
    top = a.max() if len(a) else 0.0
    norm = a / top if top > 0 else np.zeros_like(a)
    cm = colormaps[cmap]
    spans = []
    for tok, v, x in zip(tokens, a, norm):
        r, g, b, _ = cm(0.85 * x)  # cap the darkest colour so text stays readable
        fg = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
        text = html.escape(tok.replace("Ġ", " ").replace("Ċ", "\n")).replace("\n", "↵<br>")
        spans.append(f'<span title="{v:.3g}" style="background:{to_hex((r, g, b)) if x > 0 else "transparent"};'
                     f'color:{fg if x > 0 else "inherit"};white-space:pre">{text}</span>')
    head = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return f'<div style="font-family:monospace;line-height:1.8">{head}{"".join(spans)}</div>'
