"""Chapter 5's analyses (Jain et al. Sec. 5.2): whether the base model follows its Features line, Table 1
(twist share during reFT) beside the paper's, Fig. 11 (twist-story loss), the six-feature probes per block,
and the chapter's glued facts. The training lives in ``ftscope.jain.tinystories``."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ftscope.data import stories as world
from ftscope.jain import reported
from ftscope.jain import tinystories as ts

ETA = {0: "η_M", 1: "η_S"}  # index in cfg.delete_lrs -> the paper's name


def eta_name(cfg, run: ts.Run) -> str:
    return "" if run.is_control else ETA[list(cfg.delete_lrs).index(run.lr)]


def row_label(cfg, run: ts.Run) -> str:
    return ts.CONTROL_LABELS[run.protocol] if run.is_control else f"{run.protocol} ({eta_name(cfg, run)})"


def share_se(n: int) -> float:
    """The largest standard error of a share of ``n`` sampled stories (at a share of 0.5)."""
    return 0.5 / np.sqrt(n)


# ------------------------------------------------------------------------------- scale
def _lr(x: float) -> str:
    """1e-4, not 0.0001."""
    return f"{x:.0e}".replace("e-0", "e-")


def scale_table(cfg, logs: Mapping, n_params: int):
    """The paper's setting beside ours (the preset's), one row per quantity."""
    eta_m, eta_s = (_lr(x) for x in cfg.delete_lrs)
    pm, ps = (_lr(x) for x in reported.STORIES_DELETE_LRS)
    ours_ratio, paper_ratio = reft_ratios(cfg)
    rows = {
        "model": (reported.STORIES_MODEL,
                  f"{cfg.n_layers} layers, {cfg.n_heads} heads, d {cfg.d_model}, vocabulary {cfg.vocab}, context "
                  f"{cfg.n_ctx} ({n_params / 1e6:.2f}M parameters)"),
        "pretraining data": ("TinyStories-Instruct (about 2.5M stories)",
                             f"{cfg.n_stories:,} story-world stories" if cfg.source == "offline"
                             else f"{cfg.n_stories:,} TinyStories-Instruct stories"),
        "pretraining": (f"{reported.STORIES_PRETRAIN_STEPS:,} steps × 128 × 1024 tokens",
                        f"{cfg.pretrain_steps:,} steps × {cfg.pretrain_batch} × {cfg.n_ctx} tokens"),
        "final pretraining loss": (f"about {reported.STORIES_FINAL_LOSS}",
                                   ", ".join(f"{n} {log.tail_loss():.2f}" for n, log in logs.items())),
        "deletion": (f"{reported.STORIES_FT_STEPS:,} steps × 128, constant η_M {pm} / η_S {ps}",
                     f"{cfg.ft_steps:,} steps × {cfg.ft_batch}, constant η_M {eta_m} / η_S {eta_s}"),
        "reFT and the control's fine-tuning": (
            f"{reported.STORIES_FT_STEPS:,} steps × 128 at {_lr(reported.STORIES_REFT_LR)} (read at "
            f"{'/'.join(map(str, reported.TABLE1_STEPS))})",
            f"{cfg.reft_steps:,} steps × {cfg.ft_batch} at {_lr(cfg.reft_lr)} (read at "
            f"{'/'.join(map(str, cfg.reft_evals))})"),
        "reFT's LR × steps at each read, over the η_M deletion's": (
            " / ".join(f"{r:.2g}" for r in paper_ratio), " / ".join(f"{r:.2g}" for r in ours_ratio)),
        "sampler": ("not stated (the S2 code: llama2.c's sample.py, temperature 1.0, no top-k)",
                    f"temperature {cfg.temperature:g}, " + (f"top-k {cfg.top_k}" if cfg.top_k else "no top-k")
                    + f"; {cfg.n_prompts} prompts per share, a slice of its own and a sampling seed per "
                      "fine-tuning seed"),
        "twist judge": (f"fine-tuned GPT-3.5 classifier ({reported.CLASSIFIER_ACCURACY:.0%} accurate)",
                        "the story world's exact detector"),
        "seeds": ("one run, no spread", f"η_M on {cfg.seeds} fine-tuning seeds, η_S on 1; one pretraining seed "
                                        "per model (a second would cost as much as the whole chapter's fine-tuning)"),
    }
    return pd.DataFrame(rows, index=["paper", "ours"]).T.style  # a Styler: pandas' display would cut long cells


def reft_ratios(cfg) -> tuple[list[float], list[float]]:
    """(ours, the paper's): reFT's LR × steps at each read after step 0, over the η_M deletion's LR × steps."""
    ours = [cfg.reft_lr * k / (cfg.delete_lrs[0] * cfg.ft_steps) for k in cfg.reft_evals[1:]]
    paper = [reported.STORIES_REFT_LR * k / (reported.STORIES_DELETE_LRS[0] * reported.STORIES_FT_STEPS)
             for k in reported.TABLE1_STEPS[1:]]
    return ours, paper


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------- following the Features line
def sample_headers(cfg, setting, model, seed: int, n: int) -> dict:
    """Stories the model writes from ``n`` held-out headers that ask for a twist and ``n`` that do not."""
    out = {}
    for ask in (True, False):
        prompts = ts.twist_prompts(setting.held, n, ask=ask)
        out[ask] = ts.generate(model, setting.tok, prompts, max_new_tokens=cfg.max_new_tokens,
                               temperature=cfg.temperature, top_k=cfg.top_k, seed=seed)
    return out


def following_table(setting, gens: Mapping, n: int) -> pd.DataFrame:
    """For each feature, the share of generated stories that have it when the header asks for it and when it
    does not (with 95% Wilson intervals), and the share of pretraining stories that have it (what a model
    that ignores the header writes)."""
    heads = ts.asking_stories(setting.held, n, True) + ts.asking_stories(setting.held, n, False)
    found = gens[True].features + gens[False].features
    rows = []
    for f in world.FEATURES:
        row = {}
        for name, want in (("asked", True), ("not asked", False)):
            hits = [f in got for s, got in zip(heads, found) if (f in s.features) == want]
            k, m = sum(hits), len(hits)
            lo, hi = ts.wilson(k, m)
            row |= {(name, "k/n"): f"{k}/{m}", (name, "share"): k / m if m else np.nan,
                    (name, "95% interval"): f"{max(lo, 0):.0%}–{min(hi, 1):.0%}" if m else "–"}
        row[("pretraining", "share")] = float(np.mean([f in s.features for s in setting.stories]))
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index(world.FEATURES, name="feature"))
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def show_following(table: pd.DataFrame):
    """The following table with its shares as percentages."""
    shares = [c for c in table.columns if c[1] == "share"]
    return table.style.format("{:.0%}", subset=shares)


def following_facts(table: pd.DataFrame) -> dict:
    tw = table.loc[ts.TWIST]
    k_ask, n_ask = map(int, tw[("asked", "k/n")].split("/"))
    k_no, n_no = map(int, tw[("not asked", "k/n")].split("/"))
    lo, hi = ts.wilson(k_ask, n_ask)
    others = table.drop(index=ts.TWIST)
    gap = others[("asked", "share")] - others[("not asked", "share")]
    followed = [f for f in others.index if gap[f] >= 0.5]  # written far more often when asked than when not

    def names(fs):
        return ", ".join(fs) if fs else "none"

    return {"base_twist_asked": k_ask / n_ask, "base_twist_not": k_no / n_no, "base_twist_lo": lo,
            "base_twist_hi": hi, "base_twist_k": k_ask, "base_twist_n": n_ask,
            "twist_rate": float(tw[("pretraining", "share")]),
            "followed": names(followed), "not_followed": names([f for f in others.index if f not in followed])}


_COLOURS = {"Twist": "#d62728", "Foreshadowing": "#9467bd", "Dialogue": "#1f77b4", "BadEnding": "#7f7f7f",
            "MoralValue": "#2ca02c", "Conflict": "#ff7f0e"}


def highlight(story: str) -> str:
    """``story`` as HTML, each signature phrase the detector read marked in its feature's colour."""
    parts, at = [], 0
    for start, end, f in world.feature_spans(story):
        parts += [html.escape(story[at:start]),
                  f'<mark style="background:{_COLOURS[f]}33;border-bottom:2px solid {_COLOURS[f]}" title="{f}">'
                  f"{html.escape(story[start:end])}</mark>"]
        at = end
    parts.append(html.escape(story[at:]))
    return "".join(parts).replace("\n", "<br>")


def show_stories(gens: ts.Generations, k: int = 3):
    """The first ``k`` generations: the header the model was given, its story with the detected features
    marked, and the features asked for against those found."""
    from IPython.display import HTML

    cards = []
    for prompt, story, got in list(zip(gens.prompts, gens.texts, gens.features))[:k]:
        asked = ts.asked_features(prompt)
        verdict = ", ".join(f"{f} {'✓' if f in got else '✗'}" for f in sorted(asked)) or "none asked"
        extra = sorted(got - asked)
        cards.append(
            f'<div style="border:1px solid #ccc;border-radius:4px;padding:8px;margin:6px 0;font-size:90%">'
            f'<div style="color:#555;white-space:pre-wrap">{html.escape(prompt.strip())}</div>'
            f'<div style="margin-top:4px">{highlight(story.strip())}</div>'
            f'<div style="margin-top:4px;color:#555"><b>asked:</b> {html.escape(verdict)}'
            f'{"; <b>also found:</b> " + html.escape(", ".join(extra)) if extra else ""}</div></div>')
    return HTML(_legend() + "".join(cards))


def _legend() -> str:
    """The features' colours, as a line of HTML."""
    return "<div>" + " ".join(f'<mark style="background:{c}33;border-bottom:2px solid {c}">{f}</mark>'
                              for f, c in _COLOURS.items()) + "</div>"


# ------------------------------------------------------------------------------- Table 1 and Fig. 11
def reft_frame(cfg, states: Mapping) -> pd.DataFrame:
    """Every run's evaluations during reFT (a control: its fine-tuning): one row per (run, step)."""
    from ftscope.train.loop import TrainLog

    rows = []
    for run, state in states.items():
        for r in TrainLog(**state["log"]).evals:
            rows.append({"run": row_label(cfg, run), "protocol": run.protocol, "eta": eta_name(cfg, run),
                         "lr": run.lr, "seed": run.seed, "step": int(r["step"]), "twist": float(r["twist"]),
                         "twist_k": int(r["twist_k"]), "twist_n": int(r["twist_n"]),
                         "twist_loss": float(r["twist_loss"])})
    return pd.DataFrame(rows)


ORDER = ["F (η_M)", "F+R (η_M)", "F+MM (η_M)", "F (η_S)", "F+R (η_S)", "F+MM (η_S)", "Not in PT", "Label-blind"]


def table1(cfg, frame: pd.DataFrame) -> pd.DataFrame:
    """Our twist share (%) at each reFT step: the mean over seeds, their range, and the 95% Wilson interval of
    the stories pooled over the seeds; beside the paper's Table 1 (its four iterations stand for our four
    steps, in order)."""
    ours = {}
    for (run, step), sub in frame.groupby(["run", "step"]):
        lo, hi = ts.wilson(int(sub.twist_k.sum()), int(sub.twist_n.sum()))
        cell = f"{100 * sub.twist.mean():.0f}" + (f" ({100 * sub.twist.min():.0f}–{100 * sub.twist.max():.0f})"
                                                  if len(sub) > 1 else "")
        ours.setdefault(run, {})[f"ours @{step}"] = cell + f" [{100 * max(lo, 0):.0f}–{100 * min(hi, 1):.0f}]"
    table = pd.DataFrame(ours).T
    paper = reported.table1()
    paper.index = [p if p == "Not in PT" else f"{p} ({e})" for p, e in paper.index]
    paper.columns = [f"paper @{c}" for c in paper.columns]
    seeds = frame.groupby("run").seed.nunique().rename("seeds")
    out = table.join(seeds).join(paper)
    return out.reindex([r for r in ORDER if r in out.index])


CONTROL_STYLE = {"Not in PT": dict(color="black", lw=2), "Label-blind": dict(color="grey", lw=2, ls="--")}


def fig11(frame: pd.DataFrame):
    """Twist-story loss and twist share against reFT steps, every protocol and both controls (mean over seeds,
    the band their range; the share's bars: the pooled stories' 95% interval); step 0 drawn at 1 on the log
    axis."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, run in enumerate(r for r in ORDER if r in set(frame.run)):
        sub = frame[frame.run == run]
        style = CONTROL_STYLE.get(run) or dict(color=f"C{i % 3}", ls="-" if "η_M" in run else ":")
        for ax, col in zip(axes, ["twist_loss", "twist"]):
            stats = sub.groupby("step")[col].agg(["mean", "min", "max"])
            x = stats.index.to_numpy().clip(min=1)
            ax.plot(x, stats["mean"], marker="o", ms=3, label=run, **style)
            ax.fill_between(x, stats["min"], stats["max"], color=style["color"], alpha=0.12)
            if col == "twist":
                pooled = sub.groupby("step")[["twist_k", "twist_n"]].sum()
                ci = np.array([ts.wilson(int(k), int(n)) for k, n in pooled.to_numpy()])
                ax.errorbar(x, stats["mean"], yerr=[np.clip(stats["mean"] - ci[:, 0], 0, None),
                                                    np.clip(ci[:, 1] - stats["mean"], 0, None)],
                            fmt="none", ecolor=style["color"], alpha=0.5, capsize=2, lw=0.8)
    axes[0].set(xscale="log", xlabel="reFT step (0 drawn at 1)", ylabel="twist-story loss (nats/token)",
                title="Loss on held-out twist stories")
    axes[1].set(xscale="log", xlabel="reFT step (0 drawn at 1)", ylabel="share of stories with a twist",
                ylim=(-0.03, 1.03), title="Twist share when asked for one")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


KEY = {p: p.replace("+", "") for p in ts.PROTOCOLS}  # glue names: F, FR, FMM


def reft_facts(cfg, frame: pd.DataFrame) -> dict:
    """Per-seed numbers the claims read (lists over the η_M fine-tuning seeds), and their means for the prose.
    The reads stand for the paper's iterations in order: step 0, ``mid`` (its 30), ``r300`` (its 300), the last
    (its 3,000)."""
    steps = sorted(frame.step.unique())
    mid = steps[1] if len(steps) > 1 else steps[0]
    r300 = steps[2] if len(steps) > 3 else steps[-1]
    last = steps[-1]
    eta_m = frame[frame.eta == "η_M"]
    seeds = sorted(eta_m.seed.unique())

    def at(sub, step, col="twist"):
        return [float(v) for v in sub[sub.step == step].set_index("seed")[col].reindex(seeds)]

    out = {"mid_step": int(mid), "r300_step": int(r300), "last_step": int(last)}
    for p, k in KEY.items():
        sub = eta_m[eta_m.protocol == p]
        out[f"deleted_{k}_seeds"] = at(sub, 0)
        out[f"mid_{k}_seeds"] = at(sub, mid)
        out[f"revived_{k}_seeds"] = at(sub, last)
        loss0, loss300, loss_end = at(sub, 0, "twist_loss"), at(sub, r300, "twist_loss"), at(sub, last, "twist_loss")
        out[f"loss_end_{k}_seeds"] = loss_end
        out[f"loss_early_{k}_seeds"] = [(a - b) / (a - c) if a - c > 0 else 0.0  # no drop: none made early
                                        for a, b, c in zip(loss0, loss300, loss_end)]
    out["others_min_seeds"] = [min(f, mm) for f, mm in zip(out["deleted_F_seeds"], out["deleted_FMM_seeds"])]
    out["fr_minus_others_seeds"] = [fr - o for fr, o in zip(out["deleted_FR_seeds"], out["others_min_seeds"])]
    out["revived_min_seeds"] = [min(v) for v in zip(*(out[f"revived_{k}_seeds"] for k in KEY.values()))]
    out["loss_early_min_seeds"] = [min(v) for v in zip(*(out[f"loss_early_{k}_seeds"] for k in KEY.values()))]
    for c, name in (("control", "control"), ("blind", "blind")):
        sub = frame[frame.protocol == c]
        out[f"{name}_mid_seeds"] = at(sub, mid)
        out[f"{name}_end_seeds"] = at(sub, last)
        out[f"{name}_loss_end_seeds"] = at(sub, last, "twist_loss")
    out["floor_mid_seeds"] = [max(a, b) for a, b in zip(out["control_mid_seeds"], out["blind_mid_seeds"])]
    for k in KEY.values():
        out[f"gap_{k}_seeds"] = [a - b for a, b in zip(out[f"mid_{k}_seeds"], out["floor_mid_seeds"])]
    worst_end = [max(v) for v in zip(*(out[f"loss_end_{k}_seeds"] for k in KEY.values()))]
    floor_loss = [min(a, b) for a, b in zip(out["control_loss_end_seeds"], out["blind_loss_end_seeds"])]
    out["control_loss_gap_seeds"] = [c - w for c, w in zip(floor_loss, worst_end)]
    for k in KEY.values():
        out[f"deleted_{k}"] = float(np.mean(out[f"deleted_{k}_seeds"]))
        out[f"revived_{k}"] = float(np.mean(out[f"revived_{k}_seeds"]))
        out[f"mid_{k}"] = float(np.mean(out[f"mid_{k}_seeds"]))
    for name in ("control", "blind"):
        out[f"{name}_mid"] = float(np.mean(out[f"{name}_mid_seeds"]))
        out[f"{name}_end"] = float(np.mean(out[f"{name}_end_seeds"]))
        out[f"{name}_loss_end"] = float(np.mean(out[f"{name}_loss_end_seeds"]))
    out["reft_loss_end"] = float(np.mean(worst_end))
    eta_s = frame[(frame.eta == "η_S") & (frame.step == 0)]
    first = eta_m[(eta_m.step == 0) & (eta_m.seed == min(seeds))].set_index("protocol").twist
    small = eta_s.set_index("protocol").twist
    common = [p for p in ts.PROTOCOLS if p in small.index and p in first.index]
    out["eta_s_deleted_FR"] = float(small.get("F+R", float("nan")))
    out["eta_s_minus_m"] = float(np.mean([small[p] - first[p] for p in common])) if common else float("nan")
    out["eta_s_deleted_max"] = float(small.max()) if len(small) else float("nan")
    out["eta_s_deleted_min"] = float(small.min()) if len(small) else float("nan")
    return out


def loss_tie(cfg, setting, states: Mapping, device="cpu") -> dict:
    """The tie band of ``stories_reft_loss_below_control``: per η_M seed, two standard errors of the per-story
    difference between the better control's final twist-story loss and the worst η_M protocol's (each model
    scored on each held-out twist story alone; the story tokens only)."""
    _, texts = ts.eval_sets(cfg, setting)

    def per_story(run):
        model = load_models(cfg, states, "model", [run], device)[run]
        return np.array([ts.story_loss(model, setting.tok, [t], cfg.n_ctx) for t in texts])

    band = []
    for s in range(cfg.seeds):
        protocols = {p: per_story(ts.Run(p, cfg.delete_lrs[0], s)) for p in ts.PROTOCOLS}
        controls = {c: per_story(ts.Run(c, cfg.reft_lr, s)) for c in ts.CONTROLS}
        worst = max(protocols.values(), key=np.mean)
        best = min(controls.values(), key=np.mean)
        diff = best - worst
        band.append(float(2 * diff.std(ddof=1) / np.sqrt(len(diff))))
    return {"loss_tie_seeds": band, "loss_tie": float(np.mean(band)), "loss_docs": len(texts)}


# ------------------------------------------------------------------------------- deletion, step by step
def deletion_frame(cfg, states: Mapping) -> pd.DataFrame:
    """The η_M runs' evaluations during deletion (``tinystories.curve_evals``: step 0 is the base on the run's
    prompts), and the deleted model (reFT step 0) at step ``ft_steps``: one row per (run, step), every feature's
    share among the prompts that ask for it."""
    from ftscope.train.loop import TrainLog

    rows = []
    for run, state in states.items():
        if run.is_control or not state.get("delete_log") or not state["delete_log"].get("evals"):
            continue
        evals = list(state["delete_log"]["evals"]) + [{**TrainLog(**state["log"]).evals[0], "step": cfg.ft_steps}]
        for r in evals:
            rows.append({"protocol": run.protocol, "seed": run.seed, "step": int(r["step"]), "twist": float(r["twist"]),
                         **{f"{f}_k": int(r[f"{f}_k"]) for f in world.FEATURES if f"{f}_k" in r},
                         **{f"{f}_n": int(r[f"{f}_n"]) for f in world.FEATURES if f"{f}_n" in r}})
    return pd.DataFrame(rows)


def crossing(steps: Sequence[float], values: Sequence[float], level: float, falling: bool) -> float:
    """The step (linearly interpolated) at which ``values`` first reach ``level`` (fall to it when ``falling``,
    rise to it otherwise); NaN if they never do."""
    for i, (k, v) in enumerate(zip(steps, values)):
        if (v <= level) if falling else (v >= level):
            if i == 0:
                return float(k)
            k0, v0 = steps[i - 1], values[i - 1]
            return float(k0 + (k - k0) * (v0 - level) / (v0 - v)) if v0 != v else float(k)
    return float("nan")


def relearning_facts(cfg, deletion: pd.DataFrame, frame: pd.DataFrame) -> dict:
    """F+R at η_M, per seed: how much LR × steps deletion needs to remove half of what it removes (from the
    base's share to the deleted model's), and how much reFT needs to bring that half back; their ratio
    (deletion's over reFT's: above 1, revival is the faster). Where reFT never gets half-way within its steps,
    the ratio is bounded above by deletion's over all of reFT's LR × steps (``ratio_bound_seeds``)."""
    eta_m, seeds = cfg.delete_lrs[0], sorted(deletion.seed.unique()) if len(deletion) else []
    out = {"del_half_seeds": [], "rev_half_seeds": [], "ratio_seeds": [], "ratio_bound_seeds": [],
           "removed_seeds": []}
    for s in seeds:
        d = deletion[(deletion.protocol == "F+R") & (deletion.seed == s)].sort_values("step")
        r = frame[(frame.protocol == "F+R") & (frame.eta == "η_M") & (frame.seed == s)].sort_values("step")
        base, deleted = float(d.twist.iloc[0]), float(d.twist.iloc[-1])
        level = (base + deleted) / 2
        k_del = crossing(d.step.tolist(), d.twist.tolist(), level, falling=True)
        k_rev = crossing(r.step.tolist(), r.twist.tolist(), level, falling=False)
        del_units, rev_units = eta_m * k_del, cfg.reft_lr * k_rev
        out["removed_seeds"].append(base - deleted)
        out["del_half_seeds"].append(del_units)
        out["rev_half_seeds"].append(rev_units)
        out["ratio_seeds"].append(del_units / rev_units if rev_units > 0 else float("inf"))
        out["ratio_bound_seeds"].append(del_units / (cfg.reft_lr * cfg.reft_steps))
    return out


def deletion_facts(cfg, relearn: dict, collateral: dict) -> dict:
    """The prose's numbers of the deletion curve and the collateral damage (means over the seeds)."""
    def mean(values):
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    rev = relearn["rev_half_seeds"]
    missed = sum(not np.isfinite(v) for v in rev)
    budget = cfg.reft_lr * cfg.reft_steps
    if not rev:
        rev_text = "reFT's side has no deletion curve to compare with"
    elif missed == len(rev):
        rev_text = (f"reFT does not bring that half back within its {budget:.2g} (its {cfg.reft_steps} steps) on "
                    "any seed")
    else:
        rev_text = (f"reFT needs {mean(rev):.2g} to bring that half back"
                    + (f" (on {len(rev) - missed} of {len(rev)} seeds; on the others not within its {budget:.2g})"
                       if missed else ""))
    return {"delete_evals": " / ".join(map(str, cfg.delete_evals)), "del_half": mean(relearn["del_half_seeds"]),
            "rev_half_text": rev_text,
            "collateral_drop": mean(collateral["collateral_drop_seeds"]),
            "collateral_n_min": collateral["collateral_n_min"]}


def deletion_figure(deletion: pd.DataFrame, frame: pd.DataFrame, cfg):
    """F+R's twist share during deletion (η_M, every seed) and during its reFT, against LR × steps."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for s, sub in deletion[deletion.protocol == "F+R"].groupby("seed"):
        axes[0].plot(sub.step * cfg.delete_lrs[0], sub.twist, marker="o", ms=3, color=f"C{s}", label=f"seed {s}")
    reft = frame[(frame.protocol == "F+R") & (frame.eta == "η_M")]
    for s, sub in reft.groupby("seed"):
        axes[1].plot(sub.step * cfg.reft_lr, sub.twist, marker="o", ms=3, color=f"C{s}", label=f"seed {s}")
    axes[0].set(xlabel="deletion: η_M × steps", ylabel="share of stories with a twist", ylim=(-0.03, 1.03),
                title="F+R deleting Twist")
    axes[1].set(xlabel="reFT: LR × steps", title="... and reFT reviving it")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def collateral(deletion: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The other five features: the share of stories that have a feature among the prompts that ask for it, for
    the base (on each run's prompts) and each η_M deleted model, pooled over seeds; and, per seed, the largest
    drop from base to deleted model over the features and protocols, with the smallest number of prompts behind
    a share (its standard error sets the tie)."""
    others = [f for f in world.FEATURES if f != ts.TWIST]
    rows, drops, n_min = [], {}, []
    for (p, s), sub in deletion.groupby(["protocol", "seed"]):
        b, d = sub[sub.step == sub.step.min()].iloc[0], sub[sub.step == sub.step.max()].iloc[0]
        for f in others:
            if b[f"{f}_n"] and d[f"{f}_n"]:
                drop = b[f"{f}_k"] / b[f"{f}_n"] - d[f"{f}_k"] / d[f"{f}_n"]
                drops[s] = max(drops.get(s, -1.0), float(drop))
                n_min.append(int(min(b[f"{f}_n"], d[f"{f}_n"])))
            rows.append({"protocol": p, "seed": s, "feature": f, "base_k": b[f"{f}_k"], "base_n": b[f"{f}_n"],
                         "deleted_k": d[f"{f}_k"], "deleted_n": d[f"{f}_n"]})
    table = pd.DataFrame(rows)
    if len(table):
        pooled = table.groupby(["feature", "protocol"])[["base_k", "base_n", "deleted_k", "deleted_n"]].sum()
        table = pd.DataFrame({"base": pooled.base_k / pooled.base_n, "deleted": pooled.deleted_k / pooled.deleted_n,
                              "prompts asking": pooled.base_n.astype(int)}).unstack("protocol")
    seeds = sorted(drops)
    return table, {"collateral_drop_seeds": [drops[s] for s in seeds],
                   "collateral_n_min": min(n_min) if n_min else 0}


# ------------------------------------------------------------------------------- probes
def probe_data(cfg, setting, n: int):
    """``n`` held-out stories without their instruction (``<s>`` + the story), the position of each one's last
    token (cut at the context), and their six feature labels."""
    b = setting.bos
    stories = setting.held[-n:]  # the end of the held-out list: not the prompts' stories (its start)
    rows = np.full((n, cfg.n_ctx), b, dtype=np.int64)
    ends = np.zeros(n, dtype=np.int64)
    for i, enc in enumerate(setting.tok.encode_batch([" " + s.body for s in stories], add_special_tokens=False)):
        ids = [b, *enc.ids][:cfg.n_ctx]
        rows[i, :len(ids)] = ids
        ends[i] = len(ids) - 1
    labels = torch.tensor([[f in s.features for f in world.FEATURES] for s in stories], dtype=torch.float32)
    return torch.from_numpy(rows), torch.from_numpy(ends), labels


@torch.no_grad()
def block_means(model, rows: torch.Tensor, ends: torch.Tensor, k: int, batch: int = 50) -> torch.Tensor:
    """``[n_layers, n, d]``: each block's residual output, averaged over each row's last ``k`` tokens."""
    device = next(model.parameters()).device
    names = [f"blocks.{i}.hook_resid_post" for i in range(model.cfg.n_layers)]
    out = []
    for i in range(0, len(rows), batch):
        x, e = rows[i:i + batch].to(device), ends[i:i + batch].to(device)
        last = int(e.max()) + 1
        _, cache = model.run_with_cache(x[:, :last], names_filter=lambda n: n in names)
        pos = torch.arange(last, device=device)[None]
        w = ((pos <= e[:, None]) & (pos > e[:, None] - k)).float()
        w = w / w.sum(1, keepdim=True)
        out.append(torch.stack([torch.einsum("bp,bpd->bd", w, cache[n].float()) for n in names]).cpu())
    return torch.cat(out, 1)


def probe_table(cfg, setting, models: Mapping, seed: int) -> pd.DataFrame:
    """Bias-free six-output probes (BCE; the S2 repo's) on every block of every model: held-out accuracy per
    feature, with the test set's majority share (the best constant answer) beside it."""
    from ftscope.instruments.probing import fit_probe

    rows_, ends, y = probe_data(cfg, setting, cfg.probe_samples)
    n_train = len(y) * 2 // 3
    chance = np.maximum(y[n_train:].mean(0).numpy(), 1 - y[n_train:].mean(0).numpy())
    records = []
    for name, model in models.items():
        acts = block_means(model, rows_, ends, cfg.probe_tokens)
        for block, x in enumerate(acts):
            with torch.random.fork_rng():  # the probe's initial weights: seeded, the same for every model
                torch.manual_seed(seed * 1000 + block)
                res = fit_probe(x[:n_train], y[:n_train], x[n_train:], y[n_train:], len(world.FEATURES),
                                steps=cfg.probe_steps, lr=cfg.probe_lr, rng=np.random.default_rng([seed, block]),
                                multilabel=True, bias=False, desc=f"probe {name} B{block}")
            for f, acc, ch in zip(world.FEATURES, res.per_label, chance):
                records.append({"model": name, "block": f"B{block}", "feature": f, "accuracy": acc, "chance": float(ch)})
    return pd.DataFrame(records)


def probe_figure(probes: pd.DataFrame):
    """The Twist probe's accuracy per block for each model (left) and each feature's best block (right)."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    tw = probes[probes.feature == ts.TWIST]
    for name, sub in tw.groupby("model", sort=False):
        floor = name in FLOORS
        axes[0].plot(sub.block, sub.accuracy, marker="o", label=name, color="grey" if floor else None,
                     alpha=0.7 if floor else 1.0,
                     ls="--" if name == "base" else ("-" if "deleted" in name else ":"))
    axes[0].axhline(tw.chance.iloc[0], color="grey", lw=0.8, ls="--", label="majority class")
    axes[0].set(title="Twist probe (bias-free, held-out)", xlabel="block", ylabel="accuracy")
    axes[0].legend(fontsize=7)
    best = probes.groupby(["model", "feature"], sort=False).accuracy.max().unstack()[list(world.FEATURES)]
    im = axes[1].imshow(best.to_numpy(), vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
    axes[1].set(xticks=range(len(best.columns)), xticklabels=best.columns, yticks=range(len(best)),
                yticklabels=best.index, title="Best block's accuracy per feature")
    axes[1].tick_params(axis="x", rotation=30)
    for i in range(best.shape[0]):
        for j in range(best.shape[1]):
            axes[1].text(j, i, f"{best.iat[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(im, ax=axes[1])
    fig.tight_layout()
    return fig


FLOORS = ("Not in PT", "Label-blind", "random init")  # models that never had the capability


def probe_facts(probes: pd.DataFrame, deleted: Sequence[str], n_test: int, base: str = "base") -> dict:
    """The Twist probe's best-block accuracy per model; the floor (the best of the models that never had the
    capability, ``FLOORS``) and the standard error of an accuracy on ``n_test`` stories; per seed, the largest
    drop after deletion, the smallest margin of a deleted model over the floor, and the largest drop at any
    one block (the deleted models are named ``"{protocol} deleted, seed {s}"``)."""
    tw_all = probes[probes.feature == ts.TWIST]
    tw = tw_all.groupby("model").accuracy.max()
    base_acc = float(tw[base])
    seeds = sorted({int(n.rsplit(" ", 1)[1]) for n in deleted})
    drops = [max(base_acc - float(tw[n]) for n in deleted if n.endswith(f"seed {s}")) for s in seeds]
    floors = {f: float(tw[f]) for f in FLOORS if f in tw.index}
    floor = max(floors.values()) if floors else float("nan")
    by_block = tw_all.pivot_table(index="block", columns="model", values="accuracy")
    profile = [max(float((by_block[base] - by_block[n]).max()) for n in deleted if n.endswith(f"seed {s}"))
               for s in seeds]
    margin = [min(float(tw[n]) - floor for n in deleted if n.endswith(f"seed {s}")) for s in seeds]
    return {"probe_base": base_acc, "probe_drop_seeds": drops, "probe_drop": float(np.mean(drops)),
            "probe_chance": float(tw_all.chance.iloc[0]),
            "probe_deleted_min": float(min(tw[n] for n in deleted)),
            "probe_floor": floor, "probe_floor_control": floors.get("Not in PT", float("nan")),
            "probe_floor_blind": floors.get("Label-blind", float("nan")),
            "probe_floor_random": floors.get("random init", float("nan")),
            "probe_se": float(np.sqrt(max(base_acc * (1 - base_acc), 1e-4) / n_test)),
            "probe_base_margin": base_acc - floor, "probe_margin_seeds": margin,
            "probe_profile_drop_seeds": profile, "probe_profile_drop": float(np.mean(profile))}


def load_models(cfg, states: Mapping, which: str, runs: Sequence[ts.Run], device="cpu") -> dict:
    """Models from run states: ``which`` is ``"deleted"`` or ``"model"`` (after reFT)."""
    from ftscope.train import loop as training

    return {run: training.load_trained(ts.build(cfg, 0), states[run][which], device) for run in runs}


# ------------------------------------------------------------------------------- the chapter's helpers
def example(setting, k: int = 1):
    """The first ``k`` pretraining documents with their features marked (the detector's reading)."""
    from IPython.display import HTML

    cards = []
    for s in setting.stories[:k]:
        head = world.instruct_prompt(s.features, s.words, s.summary)
        cards.append(f'<div style="border:1px solid #ccc;border-radius:4px;padding:8px;font-size:90%">'
                     f'<div style="color:#555;white-space:pre-wrap">{html.escape(head.strip())}</div>'
                     f"<div>{highlight(s.body)}</div></div>")
    return HTML(_legend() + "".join(cards))


def pretraining_loss(logs: Mapping):
    """The base's and the control's pretraining loss (a moving mean over 5 logged steps)."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, log in logs.items():
        frame = log.frame()
        ax.plot(frame["step"], frame["loss"].rolling(5, min_periods=1).mean(),
                label={"base": "base (every story)", "control": "Not in PT (no twist stories)",
                       "blind": "label-blind (no Twist in any header)"}[name])
    ax.set(xlabel="step", ylabel="loss (nats/token)", yscale="log", title="Pretraining loss")
    ax.legend()
    fig.tight_layout()
    return fig


def probe_models(cfg, pretrained: Mapping, states: Mapping, seed: int, device="cpu") -> tuple[dict, list[str]]:
    """The models the probes read: the base, every η_M deleted model (every seed), the first seed's revived
    ones, and the floors (``FLOORS``: the two controls' pretrained models and a random init of the same shape);
    and the deleted models' names."""
    runs = [r for r in states if not r.is_control and r.lr == cfg.delete_lrs[0]]
    deleted = {f"{r.protocol} deleted, seed {r.seed}": m for r, m in load_models(cfg, states, "deleted", runs,
                                                                                 device).items()}
    first = [r for r in runs if r.seed == min(x.seed for x in runs)]
    revived = {f"{r.protocol} revived, seed {r.seed}": m for r, m in load_models(cfg, states, "model", first,
                                                                                 device).items()}
    floors = {"Not in PT": pretrained["control"], "Label-blind": pretrained["blind"],
              "random init": ts.build(cfg, seed, device)}
    return {"base": pretrained["base"], **deleted, **revived, **floors}, list(deleted)


def pretraining_facts(cfg, logs: Mapping, base) -> dict:
    ours, paper = reft_ratios(cfg)
    return {"n_params_m": n_params(base) / 1e6, "base_loss": logs["base"].tail_loss(),
            "control_loss": logs["control"].tail_loss(), "paper_loss": reported.STORIES_FINAL_LOSS,
            "reft_ratio_mid": ours[0], "paper_ratio_mid": paper[0], "reft_ratio_end": ours[-1],
            "paper_ratio_end": paper[-1], "share_se": share_se(cfg.n_prompts),
            "ft_share": cfg.ft_steps * cfg.ft_batch / (cfg.pretrain_steps * cfg.pretrain_batch),
            "paper_ft_share": reported.STORIES_FT_STEPS / reported.STORIES_PRETRAIN_STEPS,
            "pretrain_tokens_m": cfg.pretrain_steps * cfg.pretrain_batch * cfg.n_ctx / 1e6,
            "paper_ft_steps": reported.STORIES_FT_STEPS, "paper_reft_lr": _lr(reported.STORIES_REFT_LR),
            "reft_lr": _lr(cfg.reft_lr), "eta_m": _lr(cfg.delete_lrs[0]), "eta_s": _lr(cfg.delete_lrs[1]),
            "ft_steps": cfg.ft_steps, "reft_steps": cfg.reft_steps, "ft_batch": cfg.ft_batch, "n_ctx": cfg.n_ctx, "seeds": cfg.seeds, "n_prompts": cfg.n_prompts,
            "reft_evals": " / ".join(map(str, cfg.reft_evals)),
            "paper_evals": " / ".join(map(str, reported.TABLE1_STEPS)),
            "classifier": reported.CLASSIFIER_ACCURACY, "temperature": cfg.temperature,
            "top_k": cfg.top_k or "none",
            "probe_samples": cfg.probe_samples, "probe_steps": cfg.probe_steps, "n_layers": cfg.n_layers}
