"""Zhang & Wu's measurement: fine-tuning's change of the log-likelihood, split into topic, style and
factual components by single-factor variants of the same documents.

For a document x, R(x) = log p_ft(x) - log p_base(x) = L_base(x) - L_ft(x). Variants differ from the
original in one factor only, so a contrast R(orig) - R(variant) keeps that factor's change alone:

- PubMed analog: topic = R(orig) - R(nontopic) (and, as the spec asks, R(counterfactual) - R(nontopic),
  since a topic swap also changes the facts); style = R(orig) - R(casual), R(orig) - R(rap) and their
  mean; factual = R(orig) - R(counterfactual); residual = R(orig) minus the three.
- C4 analog (forgetting; R(orig) < 0): topic = R(orig) - R(bio), style = R(orig) - R(academic),
  factual = R(orig) - R(counterfactual).

Each is computed two ways: **per token** (the repository's: the loss of a split is its mean over
tokens, so the components are nats per token; we pool the split's tokens, where the repository's
``Trainer.evaluate`` averages batches of 8 documents' token means, ``repo_loss``, which
``split_losses`` shows beside it) and **per document** (sums of
log-probabilities, aligned by skeleton: nats per document). Ratios are components over R(orig); the
confidence intervals come from resampling the skeletons (bootstrap).

- ``score``: each document's per-token losses under one model (``Scores``).
- ``components``: the contrasts of one base/fine-tuned pair, both ways, with bootstrap intervals.
- ``position_profile``: the change per token position per variant, and each component per tenth of the
  document; ``start_readings``: the share of a component in the first tenths, and its excess per token there
  over the rest, with bootstrap intervals.
- ``object_contrasts``: the factual contrast at the object tokens alone, known and novel facts apart,
  against the oracle's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ftscope.zhang import world as W
from ftscope.zhang.setting import encode, token_losses

#: each analog's components: name -> (plus split, minus split); "total" is the original's change
CONTRASTS = {
    "pubmed": {"topic": ("orig", "nontopic"), "topic (facts kept)": ("counterfactual", "nontopic"),
               "style (casual)": ("orig", "casual"), "style (rap)": ("orig", "rap"),
               "factual": ("orig", "counterfactual")},
    "c4": {"topic": ("orig", "bio"), "style": ("orig", "academic"), "factual": ("orig", "counterfactual")},
}
HEADLINE = ("topic", "style", "factual", "residual")  # the bars; ratios of these to the total
DECILES = 10


@dataclass(frozen=True)
class Probes:
    """An analog's probe documents: the skeletons' variants (``rows``), their texts and ids per variant."""

    analog: str
    rows: list  # [{variant: Skeleton}]
    ids: dict  # variant -> list of token-id arrays (<s> first)

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.ids)

    def subset(self, n: int) -> Probes:
        return Probes(self.analog, self.rows[:n], {v: ids[:n] for v, ids in self.ids.items()})


def probes(world: W.World, tok, n: int, seed: int, analog: str, n_ctx: int) -> Probes:
    """``n`` held-out skeletons of ``analog`` with every variant, encoded."""
    rows = W.probe_variants(world, world.probe_skeletons(n, seed, analog), analog)
    names = ("orig", *W.ANALOGS[analog]["variants"])
    return Probes(analog, rows, {v: encode(tok, [world.render(r[v]) for r in rows], n_ctx) for v in names})


@dataclass(frozen=True)
class Scores:
    """Per-token losses of one model: variant -> one array per document (the loss of each word after ``<s>``)."""

    nll: dict

    def doc_sums(self, variant: str) -> np.ndarray:
        return np.array([x.sum() for x in self.nll[variant]])

    def doc_counts(self, variant: str) -> np.ndarray:
        return np.array([len(x) for x in self.nll[variant]])

    def subset(self, n: int) -> Scores:
        """The scores of the first ``n`` documents of every split (``Probes.subset``'s)."""
        return Scores({v: x[:n] for v, x in self.nll.items()})


def score(model, probe: Probes) -> Scores:
    """Every probe document's per-token losses under ``model``."""
    return Scores({variant: token_losses(model, docs) for variant, docs in probe.ids.items()})


def repo_loss(nll: Sequence[np.ndarray], batch: int = 8) -> float:
    """A split's loss as the repository prints it: ``Trainer.evaluate``'s mean over batches of ``batch``
    documents of each batch's mean token loss."""
    return float(np.mean([np.concatenate(nll[i:i + batch]).mean() for i in range(0, len(nll), batch)]))


def split_losses(base: Scores, ft: Scores) -> dict[str, dict[str, float]]:
    """Per split, the base's and the fine-tuned model's loss three ways: the repository's (batches of 8), pooled
    over the split's tokens, and summed per document (mean over documents)."""
    out = {}
    for v in base.nll:
        out[v] = {}
        for name, s in (("base", base), ("fine-tuned", ft)):
            out[v][f"{name}, repo (nats/token)"] = repo_loss(s.nll[v])
            out[v][f"{name}, pooled (nats/token)"] = float(s.doc_sums(v).sum() / s.doc_counts(v).sum())
            out[v][f"{name}, per document (nats)"] = float(s.doc_sums(v).mean())
    return out


def split_components(base: dict[str, float], ft: dict[str, float], analog: str) -> dict[str, float]:
    """The components from each split's loss alone (``{variant: nats per token}`` of the base and the fine-tuned
    model), as the repository's printed losses give them: for the paper's own derived sets, whose rewrites are
    not aligned token for token. A component whose splits are missing is left out."""
    r = {v: base[v] - ft[v] for v in base if v in ft}
    if "orig" not in r:
        raise ValueError(f"no loss of the original split among {sorted(r)}")
    return contrasts(r, analog, partial=True)


def _changes(base: Scores, ft: Scores, variants: Sequence[str]):
    """Per variant: each document's summed change (base - ft, nats) and its token count."""
    return ({v: base.doc_sums(v) - ft.doc_sums(v) for v in variants}, {v: base.doc_counts(v) for v in variants})


def contrasts(r: dict, analog: str, partial: bool = False) -> dict:
    """``{"total": r["orig"], component: r[plus] - r[minus], ...}`` of ``analog`` (``CONTRASTS``), from each
    split's change ``r`` (numbers, or arrays of them), the style component the mean of its two contrasts. With
    ``partial`` a component whose splits ``r`` lacks is left out (else it is an error)."""
    out = {"total": r["orig"]}
    for name, (a, b) in CONTRASTS[analog].items():
        if partial and (a not in r or b not in r):
            continue
        out[name] = r[a] - r[b]
        if name == "style (rap)" and "style (casual)" in out:  # right after the two contrasts it is the mean of
            out["style"] = (out["style (casual)"] + out["style (rap)"]) / 2
    return out


def _components(delta: dict, count: dict, analog: str, idx: np.ndarray, per: str) -> dict[str, float]:
    r = {v: float(delta[v][idx].sum() / (count[v][idx].sum() if per == "token" else len(idx))) for v in delta}
    out = contrasts(r, analog)
    out["residual"] = out["total"] - out["topic"] - out["style"] - out["factual"]
    return out


@dataclass(frozen=True)
class Decomposition:
    """One base/fine-tuned pair's components on one analog: ``values[per][name]`` (per in ``token``, ``doc``),
    their bootstrap intervals ``ci[per][name] = (lo, hi)`` and the same for the ratios to the total."""

    analog: str
    values: dict
    ci: dict
    ratios: dict
    ratio_ci: dict


def _interval(samples: list[float]) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap ``samples`` (NaNs without any)."""
    return tuple(np.percentile(samples, [2.5, 97.5]).tolist()) if samples else (float("nan"), float("nan"))


def components(base: Scores, ft: Scores, analog: str, n_boot: int = 1000, seed: int = 0) -> Decomposition:
    """The contrasts of ``analog`` between ``base`` and ``ft`` on the same probes, per token and per document,
    with 95% intervals from ``n_boot`` resamples of the skeletons."""
    variants = tuple(base.nll)
    delta, count = _changes(base, ft, variants)
    n = len(delta["orig"])
    rng = np.random.default_rng([seed, 7])
    values, ci, ratios, ratio_ci = {}, {}, {}, {}
    full = np.arange(n)
    for per in ("token", "doc"):
        values[per] = _components(delta, count, analog, full, per)
        boots = [_components(delta, count, analog, rng.integers(0, n, n), per) for _ in range(n_boot)]
        ratios[per] = {k: v / values[per]["total"] for k, v in values[per].items() if k != "total"}
        ci[per] = {k: _interval([b[k] for b in boots]) for k in values[per]}
        ratio_ci[per] = {k: _interval([b[k] / b["total"] for b in boots]) for k in ratios[per]}
    return Decomposition(analog, values, ci, ratios, ratio_ci)


# ----------------------------------------------------------------------------- position
def position_profile(base: Scores, ft: Scores, analog: str, max_pos: int = 80) -> dict:
    """``{"by_position": {variant: (max_pos,) mean change at each token position}, "by_decile": {component:
    (DECILES,) mean per-document change in each tenth of the document}}``: a component's tenths sum to its
    per-document value."""
    variants = tuple(base.nll)
    by_pos = {v: by_position(base.nll[v], ft.nll[v], max_pos) for v in variants}
    dec = {v: deciles(base.nll[v], ft.nll[v]) for v in variants}
    return {"by_position": by_pos, "by_decile": contrasts(dec, analog)}


def by_position(base: Sequence[np.ndarray], ft: Sequence[np.ndarray], max_pos: int) -> np.ndarray:
    """(max_pos,) the mean change (base - ft, nats) at each token position over the documents that reach it (NaN
    past every document)."""
    total, count = np.zeros(max_pos), np.zeros(max_pos)
    for b, f in zip(base, ft):
        r = (b - f)[:max_pos]
        total[:len(r)] += r
        count[:len(r)] += 1
    return np.divide(total, count, out=np.full(max_pos, np.nan), where=count > 0)


def deciles(base: Sequence[np.ndarray], ft: Sequence[np.ndarray]) -> np.ndarray:
    """(DECILES,) the mean per-document change (base - ft, nats) in each tenth of the document."""
    per_doc = []
    for b, f in zip(base, ft):
        d = b - f
        edges = np.linspace(0, len(d), DECILES + 1).round().astype(int)
        per_doc.append([d[edges[k]:edges[k + 1]].sum() for k in range(DECILES)])
    return np.mean(per_doc, axis=0)


def tenth_sums(base: Sequence[np.ndarray], ft: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(n_docs, DECILES) each document's change (base - ft, nats) summed over each tenth of it, and the number of
    tokens in each tenth."""
    sums, counts = [], []
    for b, f in zip(base, ft):
        d = b - f
        edges = np.linspace(0, len(d), DECILES + 1).round().astype(int)
        sums.append([d[edges[k]:edges[k + 1]].sum() for k in range(DECILES)])
        counts.append(np.diff(edges))
    return np.asarray(sums, dtype=float), np.asarray(counts, dtype=float)


START_COMPONENTS = ("topic", "style", "factual")


def _start_readings(sums: dict, counts: dict, analog: str, idx: np.ndarray, tenths: int) -> dict:
    per_doc = contrasts({v: x[idx].mean(axis=0) for v, x in sums.items()}, analog)
    first = contrasts({v: x[idx, :tenths].sum() / counts[v][idx, :tenths].sum() for v, x in sums.items()}, analog)
    rest = contrasts({v: x[idx, tenths:].sum() / counts[v][idx, tenths:].sum() for v, x in sums.items()}, analog)
    return {c: {"share": float(per_doc[c][:tenths].sum() / per_doc[c].sum()), "excess": float(first[c] - rest[c])}
            for c in START_COMPONENTS}


def start_readings(base: Scores, ft: Scores, analog: str, tenths: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """Two readings of "the change sits at the beginning", each component's with a 95% bootstrap interval over
    the skeletons: ``share``, the share of the per-document component in the first ``tenths`` tenths of the
    document; ``excess``, the component per token in those tenths minus per token in the rest (nats per token:
    positive where the change per token is larger at the start). ``{component: {"share", "share_ci", "excess",
    "excess_ci"}}``."""
    sums, counts = {}, {}
    for v in base.nll:
        sums[v], counts[v] = tenth_sums(base.nll[v], ft.nll[v])
    n = len(sums["orig"])
    rng = np.random.default_rng([seed, 11])
    full = _start_readings(sums, counts, analog, np.arange(n), tenths)
    boots = [_start_readings(sums, counts, analog, rng.integers(0, n, n), tenths) for _ in range(n_boot)]
    return {c: {**full[c], **{f"{k}_ci": _interval([b[c][k] for b in boots]) for k in ("share", "excess")}}
            for c in START_COMPONENTS}


def start_share(profile: dict, component: str, tenths: int = 1) -> float:
    """The share of ``component``'s per-document change that falls in the first ``tenths`` tenths of the text."""
    d = profile["by_decile"][component]
    return float(d[:tenths].sum() / d.sum())


# ----------------------------------------------------------------------------- the oracle at the objects
def object_contrasts(world: W.World, probe: Probes, base: Scores, ft: Scores) -> dict:
    """The factual contrast at each fact's object token (orig against counterfactual, the same position in
    both), for known and novel facts apart, and the oracle's value for each: a novel fact's log
    ((1-ε+ε/|O|) / (ε/|O|)), a known fact's 0 (the pretraining data already states it, with the same noise).
    The rest of the factual contrast lies in the tokens after the objects."""
    out = {"known": [], "novel": []}
    for i, row in enumerate(probe.rows):
        for pos, novel in world.object_positions(row["orig"]):
            j = pos  # the word at index pos is predicted at loss index pos (position 0 predicts word 0)
            if j >= len(base.nll["orig"][i]):
                continue
            c = ((base.nll["orig"][i][j] - ft.nll["orig"][i][j])
                 - (base.nll["counterfactual"][i][j] - ft.nll["counterfactual"][i][j]))
            out["novel" if novel else "known"].append(float(c))
    oracle = {"known": 0.0, "novel": world.params.novel_fact_contrast}
    return {k: {"mean": float(np.mean(v)) if v else float("nan"), "n": len(v), "oracle": oracle[k],
                "values": np.asarray(v)} for k, v in out.items()}


def pair_contrasts(world: W.World, probe: Probes, base: Scores, ft: Scores) -> dict:
    """The topic contrast (orig against nontopic, word for word) summed over each fact sentence's words but its
    object, known and novel pairs apart (PubMed analog): what the topic component gains on a fact besides its
    object. The nontopic variant moves the fact to a topic where every pair exists, so a novel pair's excess
    over a known one is the part of topic that learns which pairs exist."""
    out = {"known": [], "novel": []}
    for i, row in enumerate(probe.rows):
        r_orig = base.nll["orig"][i] - ft.nll["orig"][i]
        r_non = base.nll["nontopic"][i] - ft.nll["nontopic"][i]
        for start, stop, obj, novel in world.fact_spans(row["orig"]):
            words = [j for j in range(start, min(stop, len(r_orig))) if j != obj]
            out["novel" if novel else "known"].append(float(sum(r_orig[j] - r_non[j] for j in words)))
    return {k: {"mean": float(np.mean(v)) if v else float("nan"), "n": len(v)} for k, v in out.items()}


def oracle_table(world: W.World, probe: Probes) -> dict:
    """The oracle's per-document log q/p of the originals, mean over the probes: the topic prior, the style
    prior, the facts, and the factual contrast against the counterfactuals."""
    rows = [world.oracle(r["orig"]) for r in probe.rows]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
