"""Chapter 06's analyses: the world's tables, the decomposition on every seed, position, dynamics and the
oracle, as tables, figures and the named numbers (*facts*) the prose glues and the claims read."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ftscope.instruments import plots
from ftscope.zhang import decompose as D
from ftscope.zhang import reported as R
from ftscope.zhang import setting as S
from ftscope.zhang import world as W
from ftscope.zhang.claims import START_TENTHS

COLOURS = {n: plots.colour(n) for n in ("topic", "style", "factual", "residual", "total")}
ALIGNED = ("nontopic", "bio", "counterfactual")  # variants that keep every word's position
VARIANT_COLOURS = {"orig": "black", "nontopic": plots.colour("topic"), "bio": plots.colour("topic"),
                   "casual": plots.colour("style"), "rap": plots.colour("C4"), "academic": plots.colour("style"),
                   "counterfactual": plots.colour("factual")}


# ----------------------------------------------------------------------------- the world
def show_variants(world: W.World, k: int = 0, analog: str = "pubmed"):
    """One probe skeleton's variants (displayable HTML), the words that differ from the original marked."""
    from IPython.display import HTML

    row = W.probe_variants(world, world.probe_skeletons(k + 1, 0, analog)[k:], analog)[0]
    orig = world.render(row["orig"]).split(" ")
    parts = []
    for name, sk in row.items():
        words = world.render(sk).split(" ")
        aligned = name in ALIGNED  # word for word the original's, but for the factor
        marked = " ".join(f"<mark>{html.escape(w)}</mark>" if aligned and w != o else html.escape(w)
                          for w, o in zip(words, orig if aligned else words))
        parts.append(f"<p><b>{name}</b> ({len(words)} words): {marked}</p>")
    return HTML("".join(parts))


def validity_table(world: W.World, probes: dict) -> pd.DataFrame:
    """Table 1's analog: every analog's variants, the paper's row counts beside ours and the automatic checks."""
    rows = []
    for analog, probe in probes.items():
        checks = W.validity(world, probe.rows, analog)
        rows.append({"analog": analog, "split": "orig", "paper rows": R.TABLE1.get((analog, "orig")),
                     "skeletons": len(probe.rows)})
        for name, c in checks.items():
            rows.append({"analog": analog, "split": name, "paper rows": R.TABLE1.get((analog, name)), **c})
    return pd.DataFrame(rows).set_index(["analog", "split"])


def show_validity(table: pd.DataFrame):
    return table.style.format({"paper rows": "{:,.0f}", "skeletons": "{:,.0f}", "same sentences": "{:.0%}",
                               "length ratio": "{:.3f}", "only objects differ": "{:.0%}",
                               "no source-topic word left": "{:.0%}"}, na_rep="—")


def validity_facts(table: pd.DataFrame) -> dict:
    checks = table[["same sentences", "only objects differ", "no source-topic word left"]]
    return {"valid_min": float(np.nanmin(checks.to_numpy(dtype=float))),
            "casual_length": float(table.loc[("pubmed", "casual"), "length ratio"]),
            "rap_length": float(table.loc[("pubmed", "rap"), "length ratio"])}


def scale_table(cfg: S.ZhangConfig, setting: S.Setting, base) -> pd.DataFrame:
    """Paper beside ours: models, data and fine-tuning."""
    from ftscope.book.bench import parameters

    base_params = parameters(base)
    pretrain_tokens = cfg.pretrain_steps * cfg.pretrain_batch * np.mean([len(d) for d in setting.pretrain])
    ours = {"model": f"GPT-2, {cfg.n_layer} layers, d {cfg.n_embd}", "parameters": f"{base_params / 1e6:.2f}M",
            "tokenizer": f"word-level, {setting.vocab_size:,} words",
            "pretraining": f"{cfg.pretrain_steps:,} steps × {cfg.pretrain_batch} documents ({pretrain_tokens / 1e6:.1f}M "
                           f"tokens) of {cfg.pt_docs:,}",
            "fine-tuning data": f"{cfg.ft_docs:,} bio × academic documents, one epoch of {cfg.ft_steps} steps of "
                                f"{cfg.ft_batch}",
            "learning rate": "grid " + ", ".join(f"{x:g}" for x in cfg.lr_grid) + " on a validation split",
            "probes": f"{cfg.probes:,} skeletons per analog"}
    return pd.DataFrame({"paper": R.SETUP, "ours": ours})


def pretraining_figure(state: dict, bound: float):
    log = pd.DataFrame(state["log"]["rows"])
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(log["step"], log["loss"], label="training loss (batch)")
    ax.axhline(bound, color="black", ls="--", lw=1, label=f"generator's entropy bound ({bound:.2f})")
    ax.axhline(state["val_pt"], color="#2ca02c", ls=":", lw=1.2, label=f"validation, pretraining mix ({state['val_pt']:.2f})")
    ax.set(xlabel="pretraining step", ylabel="nats per token", ylim=(0, min(8, float(log["loss"].max()) + 0.5)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def entropy_bound(world: W.World, n: int = 3000, seed: int = 12345) -> float:
    """The generator's per-token entropy bound on the pretraining mix (``World.pretraining_log_prob``)."""
    sks = world.pretraining_skeletons(n, seed)
    return float(-sum(world.pretraining_log_prob(s) for s in sks) / sum(len(world.render(s).split(" ")) for s in sks))


#: the slices of the domain gate: (topic, style) of held-out pretraining documents; the PubMed analog's slice
#: and the two that share one of its factors (chapter 7's independence runs)
GATE_SLICES = {"bio × academic": ("bio", "academic"), "bio × web": ("bio", "web"),
               "general × academic": ("general", "academic")}
MIX = "pretraining mix"
GATE_SEED = 5000  # the gate's documents: a generator seed no corpus of the chapter uses


def domain_gate(cfg: S.ZhangConfig, setting: S.Setting, base, device="cpu") -> pd.DataFrame:
    """How far the base is from the generator on each slice of the pretraining distribution: per slice
    (``GATE_SLICES`` and the whole mix), ``cfg.gate_docs`` held-out pretraining documents (known facts only,
    the ones that fit ``cfg.n_ctx``), the generator's bound (``World.pretraining_log_prob``, nats per token),
    the base's loss on the same documents and the gap (loss - bound), and the part of the gap at the facts'
    objects (the base's loss there minus the generator's, per token of the slice: the known facts it has not yet
    memorised). ``device``: where ``base`` already is."""
    world, rows = setting.world, {}
    slices = {name: world.domain_skeletons(cfg.gate_docs, GATE_SEED, *pair) for name, pair in GATE_SLICES.items()}
    slices[MIX] = world.pretraining_skeletons(cfg.gate_docs, GATE_SEED)
    for name, sks in slices.items():
        texts = [world.render(sk) for sk in sks]
        keep = [i for i, t in enumerate(texts) if len(t.split(" ")) <= cfg.n_ctx]
        ids = S.encode(setting.tok, [texts[i] for i in keep], cfg.n_ctx)
        words = sum(len(texts[i].split(" ")) for i in keep)
        bound = -sum(world.pretraining_log_prob(sks[i]) for i in keep) / words
        losses = S.token_losses(base, ids)
        loss = float(sum(x.sum(dtype=np.float64) for x in losses) / sum(len(x) for x in losses))
        at_objects = sum(_object_gap(world, sks[i], x) for i, x in zip(keep, losses)) / words
        rows[name] = {"bound": bound, "loss": loss, "gap": loss - bound, "gap at objects": at_objects,
                      "documents": len(keep), "tokens per document": words / max(len(keep), 1)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "slice"
    return out


def _object_gap(world: W.World, sk: W.Skeleton, losses: np.ndarray) -> float:
    """The base's loss at ``sk``'s facts' objects (``losses[i]`` is word ``i``'s) minus the generator's there."""
    p, out = world.params, 0.0
    for slot, (at, _) in zip((s for s in sk.slots if s.kind == "fact"), world.object_positions(sk)):
        out += float(losses[at]) + math.log(p.p_object(slot.obj == world.kb[sk.topic][slot.entity, slot.relation]))
    return out


def show_gate(gate: pd.DataFrame):
    return gate.style.format({"bound": "{:.3f}", "loss": "{:.3f}", "gap": "{:.3f}", "gap at objects": "{:.3f}",
                              "documents": "{:,.0f}", "tokens per document": "{:.1f}"})


def gate_facts(world: W.World, gate: pd.DataFrame) -> dict:
    """The gate's gaps by slice (``gap_bio_academic``, ..., ``gap_mix``), the domain's largest, a bio × academic
    document's length and its gap per document, and one novel fact's gain over a uniform guess (nats)."""
    key = {name: name.replace(" × ", "_").replace(" ", "_") for name in gate.index}
    key[MIX] = "mix"
    out = {f"gap_{key[n]}": float(g) for n, g in gate["gap"].items()}
    out |= {f"bound_{key[n]}": float(b) for n, b in gate["bound"].items()}
    out |= {f"objects_{key[n]}": float(g) for n, g in gate["gap at objects"].items()}
    ba = gate.loc["bio × academic"]
    p = world.params
    out |= {"gap_domain_max": float(gate.drop(index=MIX)["gap"].max()), "ba_tokens": float(ba["tokens per document"]),
            "ba_gap_per_doc": float(ba["gap"] * ba["tokens per document"]), "gate_docs_scored": int(gate["documents"].min()),
            "novel_fact_gain": math.log(p.p_object(True) * p.objects)}
    return out


def exposure_table(cfg: S.ZhangConfig, setting: S.Setting) -> pd.DataFrame:
    """How often the fine-tuning documents (the first ``n`` for each size of ``sizes`` up to ``cfg.ft_docs``)
    state each novel pair (``World.novel_exposures``): pairs, statements, the mean and least count per pair and
    the share of pairs stated fewer than 3 times."""
    world = setting.world
    sks = world.finetuning_skeletons(cfg.ft_docs, setting.seed)
    rows = []
    for n in sorted({*(x for x in S.FT_SIZES if x < cfg.ft_docs), cfg.ft_docs}):
        counts = world.novel_exposures(sks[:n])
        rows.append({"documents": n, "novel pairs": len(counts), "novel statements": int(counts.sum()),
                     "mean per pair": float(counts.mean()), "fewest": int(counts.min()),
                     "pairs stated < 3 times": float(np.mean(counts < 3))})
    return pd.DataFrame(rows).set_index("documents")


def exposure_facts(table: pd.DataFrame) -> dict:
    row = table.iloc[-1]
    return {"novel_pairs": int(row["novel pairs"]), "exposure_mean": float(row["mean per pair"]),
            "exposure_min": int(row["fewest"]), "exposure_below3": float(row["pairs stated < 3 times"])}


# ----------------------------------------------------------------------------- scoring every model
@dataclass(frozen=True)
class Study:
    """Every score the chapter reads: the base's and each seed's fine-tuned model's on both analogs, and each
    seed's snapshots on the dynamics probes."""

    probes: dict  # analog -> Probes
    base: dict  # analog -> Scores
    finals: list  # per seed: analog -> Scores
    snapshots: list  # per seed: step -> Scores (PubMed analog, dynamics probes)
    base_dyn: D.Scores
    steps: list
    n_boot: int

    def decompositions(self, analog: str) -> list[D.Decomposition]:
        return [D.components(self.base[analog], f[analog], analog, self.n_boot, seed=i) for i, f in enumerate(self.finals)]

    def profiles(self) -> list[dict]:
        return [D.position_profile(self.base["pubmed"], f["pubmed"], "pubmed") for f in self.finals]


def probe_sets(cfg: S.ZhangConfig, setting: S.Setting, seed: int) -> dict:
    """Each analog's ``cfg.probes`` held-out skeletons with their variants, encoded (``decompose.Probes``)."""
    return {a: D.probes(setting.world, setting.tok, cfg.probes, seed, a, cfg.n_ctx) for a in W.ANALOGS}


def study(cfg: S.ZhangConfig, setting: S.Setting, probes: dict, base, fts: S.FineTunes, device="cpu") -> Study:
    """Every model scored: the base and each seed's final model on both analogs, each snapshot on the first
    ``cfg.dynamics_probes`` skeletons of the PubMed analog."""
    from ftscope.progress import progress

    dyn = probes["pubmed"].subset(cfg.dynamics_probes)
    base_scores = {a: D.score(base, p) for a, p in probes.items()}
    base_dyn = base_scores["pubmed"].subset(cfg.dynamics_probes)
    finals, snaps = [], []
    for run in progress(fts.runs, desc="scoring the fine-tuned models", total=len(fts.runs)):
        steps = sorted(run["snapshots"])
        finals.append({a: D.score(S.load_weights(cfg, setting, run["snapshots"][steps[-1]], device), p)
                       for a, p in probes.items()})
        ends = {0: base_dyn, steps[-1]: finals[-1]["pubmed"].subset(cfg.dynamics_probes)}  # scored above
        snaps.append({s: ends[s] if s in ends else D.score(S.load_weights(cfg, setting, run["snapshots"][s], device),
                                                           dyn) for s in steps})
    return Study(probes, base_scores, finals, snaps, base_dyn, steps, cfg.bootstrap)


# ----------------------------------------------------------------------------- the learning rate
def lr_table(cfg: S.ZhangConfig, setting: S.Setting, st: Study, fts: S.FineTunes, device="cpu") -> pd.DataFrame:
    """The first seed at every rate of the grid: its validation loss and what the decomposition gives (per
    token): the PubMed analog's total change and shares, the C4 analog's change, and the share of the topic
    component at the start of the text. The chosen rate's row is the chapter's first seed."""
    rows = []
    for lr, state in fts.grid_runs.items():
        if lr == fts.lr:
            scores = st.finals[0]
        else:
            model = S.load_weights(cfg, setting, state["snapshots"][max(state["snapshots"])], device)
            scores = {a: D.score(model, p) for a, p in st.probes.items()}
        pub = D.components(st.base["pubmed"], scores["pubmed"], "pubmed", n_boot=0)
        c4 = D.components(st.base["c4"], scores["c4"], "c4", n_boot=0)
        prof = D.position_profile(st.base["pubmed"], scores["pubmed"], "pubmed")
        rows.append({"learning rate": lr, "validation loss": fts.grid[lr], "chosen": lr == fts.lr,
                     "R(PubMed)": pub.values["token"]["total"], "topic share": pub.ratios["token"]["topic"],
                     "style share": pub.ratios["token"]["style"], "factual share": pub.ratios["token"]["factual"],
                     "R(C4)": c4.values["token"]["total"],
                     "topic at the start": D.start_share(prof, "topic", START_TENTHS)})
    return pd.DataFrame(rows).set_index("learning rate")


def show_lr_table(table: pd.DataFrame):
    return table.style.format(precision=3).format_index("{:g}")


# ----------------------------------------------------------------------------- the headline decomposition
def split_table(st: Study, seed: int = 0) -> pd.DataFrame:
    """Every split's loss under the base and one seed's fine-tuned model, three ways (``decompose.split_losses``)."""
    frames = {a: pd.DataFrame(D.split_losses(st.base[a], st.finals[seed][a])).T for a in st.base}
    return pd.concat(frames, names=["analog", "split"])


def decomposition_table(decs: Sequence[D.Decomposition], per: str = "token") -> pd.DataFrame:
    """Each component's change and share of the total: mean over seeds, the range, seed 0's bootstrap interval."""
    names = list(decs[0].values[per])
    rows = []
    for n in names:
        vals = [d.values[per][n] for d in decs]
        ratios = [d.ratios[per].get(n, np.nan) for d in decs]
        rows.append({"component": n, "change": np.mean(vals), "seed range": f"{min(vals):.3g} – {max(vals):.3g}",
                     "95% CI (seed 0)": "[{:.3g}, {:.3g}]".format(*decs[0].ci[per][n]),
                     "share of total": np.mean(ratios) if n != "total" else np.nan})
    return pd.DataFrame(rows).set_index("component")


def decomposition_figure(pub: Sequence[D.Decomposition], c4: Sequence[D.Decomposition], per: str = "token"):
    """Bars: each headline component (mean over seeds) with each seed's value as a dot and seed 0's 95% interval,
    for the PubMed analog (learning) and the C4 analog (forgetting)."""
    unit = "nats per token" if per == "token" else "nats per document"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, decs, title in zip(axes, (pub, c4), ("PubMed analog (bio × academic): learning",
                                                 "C4 analog (general × web): forgetting")):
        names = ["total", *D.HEADLINE]
        means = [np.mean([d.values[per][n] for d in decs]) for n in names]
        lo = [decs[0].ci[per][n][0] for n in names]
        hi = [decs[0].ci[per][n][1] for n in names]
        x = np.arange(len(names))
        ax.bar(x, means, color=[COLOURS[n] for n in names], alpha=0.8)
        ax.errorbar(x, means, yerr=[np.subtract(means, lo).clip(0), np.subtract(hi, means).clip(0)], fmt="none",
                    color="black", capsize=3, lw=1)
        for d in decs:
            ax.scatter(x, [d.values[per][n] for n in names], color="white", edgecolor="black", s=14, zorder=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, names)
        ax.set(title=title, ylabel=f"change of log-likelihood ({unit})")
    fig.tight_layout()
    return fig


def decomposition_facts(pub: Sequence[D.Decomposition], c4: Sequence[D.Decomposition]) -> dict:
    def mean(decs, per, name, ratio=False):
        return float(np.mean([(d.ratios if ratio else d.values)[per][name] for d in decs]))

    out = {}
    for per in ("token", "doc"):
        for n in ("total", "topic", "topic (facts kept)", "style", "style (casual)", "style (rap)", "factual",
                  "residual"):
            key = n.replace(" (facts kept)", "_cf").replace(" (", "_").replace(")", "")
            out[f"pm_{per}_{key}"] = mean(pub, per, n)
            if n != "total":
                out[f"pm_{per}_{key}_share"] = mean(pub, per, n, True)
        for n in ("total", "topic", "style", "factual", "residual"):
            out[f"c4_{per}_{n}"] = mean(c4, per, n)
            if n != "total":
                out[f"c4_{per}_{n}_share"] = mean(c4, per, n, True)
    return out


# ----------------------------------------------------------------------------- position
def position_figure(profiles: Sequence[dict], max_pos: int = 60):
    """Left: the change per token position for every variant (mean over seeds). Right: each component per
    tenth of the document (per-document nats; each seed a line)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    ax = axes[0]
    for v in profiles[0]["by_position"]:
        curve = np.mean([p["by_position"][v][:max_pos] for p in profiles], axis=0)
        ax.plot(np.arange(1, len(curve) + 1), curve, label=v, color=VARIANT_COLOURS.get(v), lw=1.2)
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xlabel="token position", ylabel="change of log-likelihood (nats)", title="change per position, each split")
    ax.legend(fontsize=8)
    ax = axes[1]
    for name in ("topic", "style", "factual"):
        for i, p in enumerate(profiles):
            ax.plot(np.arange(1, D.DECILES + 1), p["by_decile"][name], color=COLOURS[name], alpha=0.8, lw=1.2,
                    marker="o", ms=3, label=name if i == 0 else None)
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xlabel="tenth of the document", ylabel="component (nats per document)", title="components by position")
    ax.set_xticks(range(1, D.DECILES + 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def position_readings(st: Study) -> list[dict]:
    """Each seed's two readings of the start of the text on the PubMed analog (``decompose.start_readings``)."""
    return [D.start_readings(st.base["pubmed"], f["pubmed"], "pubmed", START_TENTHS, st.n_boot, seed=i)
            for i, f in enumerate(st.finals)]


def position_table(readings: Sequence[dict]) -> pd.DataFrame:
    """Per component and seed: the share of the per-document component in the first tenths and the excess per
    token there over the rest, each with its 95% interval."""
    rows = []
    for seed, r in enumerate(readings):
        for c, x in r.items():
            rows.append({"component": c, "seed": seed, "share at the start": x["share"],
                         "95% CI (share)": "[{:.2f}, {:.2f}]".format(*x["share_ci"]),
                         "excess per token at the start": x["excess"],
                         "95% CI (excess)": "[{:.3f}, {:.3f}]".format(*x["excess_ci"])})
    return pd.DataFrame(rows).set_index(["component", "seed"])


def position_facts(profiles: Sequence[dict], readings: Sequence[dict]) -> dict:
    out = {}
    for name in ("topic", "style", "factual", "total"):
        shares = [D.start_share(p, name, START_TENTHS) for p in profiles]
        out[f"start_{name}"] = float(np.mean(shares))
        out[f"start_{name}_seeds"] = shares
    for name in D.START_COMPONENTS:
        for k in ("share", "excess"):
            out[f"{k}_{name}_seeds"] = [r[name][k] for r in readings]
            out[f"{k}_{name}_ci_seeds"] = [r[name][f"{k}_ci"] for r in readings]
        out[f"excess_{name}"] = float(np.mean(out[f"excess_{name}_seeds"]))
    first = [p["by_position"]["orig"] for p in profiles]
    out["first_token_change"] = float(np.mean([f[0] for f in first]))
    out["later_token_change"] = float(np.mean([np.nanmean(f[10:]) for f in first]))
    return out


# ----------------------------------------------------------------------------- dynamics
def dynamics_frame(st: Study) -> pd.DataFrame:
    """Each seed's components (per token) at every snapshot step on the dynamics probes."""
    rows = []
    for seed, snaps in enumerate(st.snapshots):
        for step, scores in snaps.items():
            dec = D.components(st.base_dyn, scores, "pubmed", n_boot=0) if step else None
            vals = dec.values["token"] if dec else dict.fromkeys(["total", "topic", "style", "factual"], 0.0)
            rows.append({"seed": seed, "step": step, **{k: vals[k] for k in ("total", "topic", "style", "factual")}})
    return pd.DataFrame(rows)


def dynamics_figure(frame: pd.DataFrame, early: int):
    """Left: components against fine-tuning step. Right: each as a share of its value at the end of the epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    final = frame[frame.step == frame.step.max()].set_index("seed")
    for name in ("total", "topic", "style", "factual"):
        for seed, sub in frame.groupby("seed"):
            sub = sub[sub.step > 0]
            label = name if seed == 0 else None
            axes[0].plot(sub.step, sub[name], color=COLOURS[name], marker="o", ms=3, lw=1.2, label=label)
            if name != "total":
                axes[1].plot(sub.step, sub[name] / final.loc[seed, name], color=COLOURS[name], marker="o", ms=3,
                             lw=1.2, label=label)
    for ax in axes:
        ax.set_xscale("log")
        ax.axvline(early, color="black", ls=":", lw=1)
        ax.set_xlabel("fine-tuning step (log)")
        ax.legend(fontsize=8)
    axes[0].set(ylabel="component (nats per token)", title="components during the epoch")
    axes[1].set(ylabel="share of the final value", title="how soon each is learned", ylim=(-0.5, 1.5))
    axes[1].axhline(1, color="black", lw=0.6)
    fig.tight_layout()
    return fig


def dynamics_facts(frame: pd.DataFrame, early: int) -> dict:
    """Each component's share of its final value at the ``early`` step, and its growth over the last interval
    between snapshots as a share of its final value (``rising``: still growing at the end of the epoch)."""
    steps = sorted(frame.step.unique())
    final = frame[frame.step == steps[-1]].set_index("seed")
    before = frame[frame.step == steps[-2]].set_index("seed")
    at = frame[frame.step == early].set_index("seed")
    out = {"early_step": early, "ft_steps_total": int(steps[-1]), "last_interval_from": int(steps[-2])}
    for name in ("topic", "style", "factual", "total"):
        fr = (at[name] / final[name]).tolist()
        out[f"early_{name}"] = float(np.mean(fr))
        out[f"early_{name}_seeds"] = fr
        rising = ((final[name] - before[name]) / final[name]).tolist()
        out[f"rising_{name}"] = float(np.mean(rising))
        out[f"rising_{name}_seeds"] = rising
    return out


# ----------------------------------------------------------------------------- the oracle
def oracle_frame(world: W.World, st: Study) -> tuple[pd.DataFrame, list[dict]]:
    """The oracle's per-document log q/p of the originals (``World.oracle``, mean over the probes) beside the
    model's contrasts (per document, mean over seeds), and each seed's object-token contrasts
    (``decompose.object_contrasts``). A novel pair's relation has p = 0, so the total is +inf whenever a probe
    states a novel pair."""
    ora = D.oracle_table(world, st.probes["pubmed"])
    objs = [D.object_contrasts(world, st.probes["pubmed"], st.base["pubmed"], f["pubmed"]) for f in st.finals]
    decs = st.decompositions("pubmed")
    doc = {n: [d.values["doc"][n] for d in decs] for n in ("topic", "style", "factual", "total")}
    rows = [
        {"quantity": "topic prior, log q(bio)/p(bio)", "oracle": ora["topic"],
         "model (per document)": np.mean(doc["topic"]), "what the model's number is": "R(orig) - R(nontopic)"},
        {"quantity": "style prior, log q(academic)/p(academic)", "oracle": ora["style"],
         "model (per document)": np.mean(doc["style"]), "what the model's number is": "R(orig) - R(casual | rap)"},
        {"quantity": "relations of known pairs, Σ log q(r)/p(r)", "oracle": ora["relations_known"],
         "model (per document)": np.nan, "what the model's number is": "— (inside R(orig) - R(nontopic))"},
        {"quantity": "relations of novel pairs, Σ log q(r)/p(r)", "oracle": np.inf if ora["novel_facts"] else 0.0,
         "model (per document)": np.nan, "what the model's number is": "— (inside R(orig) - R(nontopic))"},
        {"quantity": "objects of novel pairs against a uniform guess, Σ log q(o)/u(o)", "oracle": ora["facts"],
         "model (per document)": np.nan, "what the model's number is": "—"},
        {"quantity": "factual contrast, orig - counterfactual", "oracle": ora["factual_contrast"],
         "model (per document)": np.mean(doc["factual"]), "what the model's number is": "R(orig) - R(counterfactual)"},
        {"quantity": "total, log q(x)/p(x) of the original", "oracle": ora["topic"] + ora["style"] + ora["relations"]
         + ora["facts"],
         "model (per document)": np.mean(doc["total"]), "what the model's number is": "R(orig)"},
    ]
    return pd.DataFrame(rows).set_index("quantity"), objs


def oracle_figure(objs: Sequence[dict]):
    """The factual contrast at each object token, known and novel facts (all seeds pooled), against the oracle's."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    data = pd.concat([pd.DataFrame({"contrast": o[k]["values"], "fact": k, "seed": i})
                      for i, o in enumerate(objs) for k in ("known", "novel")])
    sns.boxplot(data=data, x="fact", y="contrast", ax=ax, color="#cfe3cf", fliersize=1.5, width=0.5)
    for j, k in enumerate(("known", "novel")):
        ax.hlines(objs[0][k]["oracle"], j - 0.35, j + 0.35, color=plots.colour("C4"), lw=2, label="oracle" if j == 0 else None)
    ax.axhline(0, color="black", lw=0.6)
    ax.set(ylabel="factual contrast at the object (nats)", xlabel="",
           title="what the model learned of each fact, and what the data supports")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pair_facts(world: W.World, st: Study) -> dict:
    """The topic contrast on a fact sentence's words but its object (``decompose.pair_contrasts``), mean over
    seeds: at known pairs, at novel ones, and the novel pairs' excess (learning which pairs exist)."""
    pairs = [D.pair_contrasts(world, st.probes["pubmed"], st.base["pubmed"], f["pubmed"]) for f in st.finals]
    known, novel = (float(np.mean([p[k]["mean"] for p in pairs])) for k in ("known", "novel"))
    return {"pair_known": known, "pair_novel": novel, "pair_excess": novel - known}


def oracle_facts(table: pd.DataFrame, objs: Sequence[dict]) -> dict:
    novel = [o["novel"]["mean"] for o in objs]
    known = [o["known"]["mean"] for o in objs]
    oracle_novel = objs[0]["novel"]["oracle"]
    return {"oracle_topic": float(table.loc["topic prior, log q(bio)/p(bio)", "oracle"]),
            "oracle_style": float(table.loc["style prior, log q(academic)/p(academic)", "oracle"]),
            "oracle_facts": float(table.loc["objects of novel pairs against a uniform guess, Σ log q(o)/u(o)",
                                            "oracle"]),
            "oracle_relations_known": float(table.loc["relations of known pairs, Σ log q(r)/p(r)", "oracle"]),
            "oracle_factual_contrast": float(table.loc["factual contrast, orig - counterfactual", "oracle"]),
            "model_total": float(table.loc["total, log q(x)/p(x) of the original", "model (per document)"]),
            "oracle_finite": float(table.loc[["topic prior, log q(bio)/p(bio)",
                                              "style prior, log q(academic)/p(academic)",
                                              "relations of known pairs, Σ log q(r)/p(r)",
                                              "objects of novel pairs against a uniform guess, Σ log q(o)/u(o)"],
                                             "oracle"].sum()),
            "oracle_novel_fact": oracle_novel, "novel_fact_contrast": float(np.mean(novel)),
            "known_fact_contrast": float(np.mean(known)), "novel_realised_seeds": [x / oracle_novel for x in novel],
            "novel_realised": float(np.mean(novel) / oracle_novel),
            "novel_n": objs[0]["novel"]["n"], "known_n": objs[0]["known"]["n"]}
