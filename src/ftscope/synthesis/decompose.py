"""The decomposition lens (Zhang & Wu's contrasts on Jain et al.'s story fine-tunes).

For a document x, R(x) = L_base(x) − L_ft(x): the nats per token fine-tuning gained on it (every token after
``<s>``, header included, pooled over the documents as chapter 06 does per token). Each probe is a **twin**
of the story world (``data.story_variants.twin_stories``: one generator state written with a twist and without), and
each variant of a fine-tune's document changes one factor:

- ``relabel``: the header's Twist label toggled, the story the same (the instruction);
- ``topic``: the characters, places, animals and the Words line's verb, noun and adjective replaced
  (``story_variants.retopic``);
- ``style``: the narration told in a casual voice (``story_variants.restyle``);
- ``content``: the story's ending written the other way (with a twist where it had none, or without), the
  header the same: what the story says, the analog of chapter 06's facts.

A component is R(orig) − R(variant); the residual is R(orig) less the four. Two fine-tunes are split:

- **deletion** (F+R, each η_M seed): from the base; its documents ask for a twist and have none;
- **new content** (the control's fine-tune on twist stories, each seed): from the control, which never saw a
  twist; its documents ask for a twist and have one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ftscope.data import stories as world
from ftscope.data import story_variants as variants
from ftscope.jain import tinystories as ts
from ftscope.synthesis.setting import PROTOCOL, LensesConfig, StoryModels

VARIANTS = ("orig", "relabel", "topic", "style", "content")
COMPONENTS = ("header", "topic", "style", "content", "residual")
FINETUNES = {"deletion": "F+R deletion (from the base)", "new content": "the control's twist fine-tune"}
PROBE_SEED = 20_000  # the twins' generator: apart from chapter 05's stories (seed) and held-out ones (10_000 + seed)


def _doc(story: world.Story, header: frozenset) -> str:
    return world.instruct_prompt(header, story.words, story.summary) + story.body


def documents(twins: Sequence[tuple[world.Story, world.Story]], finetune: str, seed: int) -> dict[str, list[str]]:
    """Each variant's documents for ``finetune``'s kind of document: the deletion's (Twist asked, no twist
    written) or the new content's (Twist asked and written)."""
    out = {v: [] for v in VARIANTS}
    for i, (tw, plain) in enumerate(twins):
        story, other = (plain, tw) if finetune == "deletion" else (tw, plain)
        asked = story.features | {ts.TWIST}
        out["orig"].append(_doc(story, asked))
        out["relabel"].append(_doc(story, asked - {ts.TWIST}))
        out["topic"].append(_doc(variants.retopic(story, seed=PROBE_SEED + i), asked))
        out["style"].append(_doc(variants.restyle(story), asked))
        out["content"].append(_doc(other, asked))
    return out


def fitting_twins(n: int, seed: int, tok, n_ctx: int, tries: int = 4) -> list[tuple[world.Story, world.Story]]:
    """The first ``n`` of ``tries * n`` twins whose every variant, for both fine-tunes, fits the model's context
    (``n_ctx + 1`` tokens with its ``<s>``): a document cut short would lose its ending, where the content
    variant differs. Where fewer fit (the smallest presets' short contexts), the first ``n`` twins, cut."""
    twins = variants.twin_stories(tries * n, seed)
    fit = [True] * len(twins)
    for finetune in FINETUNES:
        for texts in documents(twins, finetune, seed).values():
            for i, e in enumerate(tok.encode_batch(texts, add_special_tokens=False)):
                fit[i] &= len(e.ids) + 1 <= n_ctx + 1
    kept = [t for t, ok in zip(twins, fit) if ok][:n]
    return kept if len(kept) == n else twins[:n]


def encode(tok, texts: Sequence[str], n_ctx: int) -> list[np.ndarray]:
    """Each text as ``<s>`` and its ids, cut to ``n_ctx + 1`` tokens."""
    from ftscope.data import tokenizer as bpe

    b = bpe.bos_id(tok)
    return [np.asarray([b, *e.ids][: n_ctx + 1], dtype=np.int64) for e in tok.encode_batch(list(texts),
                                                                                          add_special_tokens=False)]


def losses(model, docs: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Per variant, each document's per-token losses under ``model``."""
    from ftscope.zhang.setting import token_losses

    return {v: token_losses(model, d, logits_fn=lambda m, x: m(x)) for v, d in docs.items()}


def _sums(base: dict, ft: dict) -> tuple[dict, dict]:
    """Per variant: each document's summed change (base − fine-tuned, nats) and its token count."""
    delta = {v: np.array([b.sum(dtype=np.float64) - f.sum(dtype=np.float64) for b, f in zip(base[v], ft[v])])
             for v in VARIANTS}
    return delta, {v: np.array([len(b) for b in base[v]], dtype=np.float64) for v in VARIANTS}


def _components(delta: dict, count: dict, idx: np.ndarray) -> dict:
    """The components over the documents ``idx`` (an index array, or a [resamples, n] array of them): each
    variant's change pooled per token, then the contrasts."""
    r = {v: delta[v][idx].sum(-1) / count[v][idx].sum(-1) for v in VARIANTS}
    out = {"total": r["orig"], "header": r["orig"] - r["relabel"], "topic": r["orig"] - r["topic"],
           "style": r["orig"] - r["style"], "content": r["orig"] - r["content"]}
    out["residual"] = out["total"] - sum(out[c] for c in COMPONENTS[:-1])
    return out


@dataclass
class Split:
    """One fine-tune's components (nats per token), their shares of the total, and 95% bootstrap intervals
    over the twins."""

    finetune: str
    seed: int
    values: dict
    ci: dict

    @property
    def shares(self) -> dict:
        return {c: self.values[c] / self.values["total"] for c in COMPONENTS}


def split(base: dict, ft: dict, finetune: str, seed: int, n_boot: int, rng_seed: int = 0) -> Split:
    """One fine-tune's components from its and its base's per-token losses (``losses``), with 95% intervals from
    ``n_boot`` resamples of the twins."""
    delta, count = _sums(base, ft)
    n = len(delta["orig"])
    values = {k: float(v) for k, v in _components(delta, count, np.arange(n)).items()}
    boots = _components(delta, count, np.random.default_rng([rng_seed, 9]).integers(0, n, (n_boot, n)))
    ci = {k: tuple(np.percentile(boots[k], [2.5, 97.5]).tolist()) for k in values}
    return Split(finetune, seed, values, ci)


def decompose(lcfg: LensesConfig, sm: StoryModels, seed: int) -> list[Split]:
    """Both fine-tunes' splits, one per fine-tuning seed, on ``probes`` twins."""
    twins = fitting_twins(lcfg.probes, PROBE_SEED + seed, sm.setting.tok, sm.cfg.n_ctx)
    out = []
    pairs = {"deletion": (sm.base, [(r.seed, sm.model(r, "deleted")) for r in sm.runs(PROTOCOL)]),
             "new content": (sm.pretrained["control"], [(r.seed, sm.model(r, "model")) for r in sm.runs("control")])}
    for finetune, (base_model, fts) in pairs.items():
        docs = {v: encode(sm.setting.tok, texts, sm.cfg.n_ctx) for v, texts in documents(twins, finetune,
                                                                                        seed).items()}
        base = losses(base_model, docs)
        for s, model in fts:
            out.append(split(base, losses(model, docs), finetune, s, lcfg.n_boot, rng_seed=seed))
    return out


def split_table(splits: Sequence[Split]) -> pd.DataFrame:
    """Each component as a share of the total change, mean over seeds with the range, per fine-tune; and the
    total (nats per token)."""
    rows = {}
    for finetune in FINETUNES:
        group = [s for s in splits if s.finetune == finetune]
        row = {"total (nats/token)": _mean_range([s.values["total"] for s in group], "{:.3f}")}
        for c in COMPONENTS:
            row[c] = _mean_range([s.shares[c] for s in group], "{:.0%}")
        rows[FINETUNES[finetune]] = row
    return pd.DataFrame(rows).T


def _mean_range(values: Sequence[float], fmt: str) -> str:
    m, lo, hi = np.mean(values), min(values), max(values)
    return fmt.format(m) + (f" ({fmt.format(lo)} to {fmt.format(hi)})" if len(values) > 1 else "")


def split_figure(splits: Sequence[Split]):
    """Each component's share of the total change, per fine-tune (mean over seeds; the dots are the seeds)."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.38
    for j, finetune in enumerate(FINETUNES):
        group = [s for s in splits if s.finetune == finetune]
        shares = np.array([[s.shares[c] for c in COMPONENTS] for s in group])
        x = np.arange(len(COMPONENTS)) + (j - 0.5) * width
        ax.bar(x, shares.mean(0), width, label=FINETUNES[finetune], color=f"C{j}", alpha=0.8)
        for row in shares:
            ax.plot(x, row, "k.", ms=4)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(COMPONENTS)), COMPONENTS)
    ax.set(ylabel="share of the total change R(orig)", title="Where the story fine-tunes' gain lies")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def split_facts(splits: Sequence[Split]) -> dict:
    out = {}
    for finetune in FINETUNES:
        key = finetune.replace(" ", "_")
        group = [s for s in splits if s.finetune == finetune]
        for c in COMPONENTS:
            out[f"{key}_{c}_seeds"] = [s.shares[c] for s in group]
            out[f"{key}_{c}"] = float(np.mean(out[f"{key}_{c}_seeds"]))
        out[f"{key}_priors_minus_content_seeds"] = [s.shares["topic"] + s.shares["style"] - 3 * s.shares["content"]
                                                    for s in group]
        out[f"{key}_total"] = float(np.mean([s.values["total"] for s in group]))
        out[f"{key}_total_lo"] = float(min(s.ci["total"][0] for s in group))
    return out


def example(seed: int, finetune: str = "deletion") -> pd.DataFrame:
    """The first twin's five documents for ``finetune``, as ``decompose`` writes them for the chapter's ``seed``."""
    twins = variants.twin_stories(1, PROBE_SEED + seed)
    docs = documents(twins, finetune, seed)
    return pd.DataFrame({"document": [docs[v][0] for v in VARIANTS]}, index=pd.Index(VARIANTS, name="variant"))
