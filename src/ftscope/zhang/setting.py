"""Zhang & Wu's setting on the world: the config, the word-level tokenizer, the corpora, the GPT-2
model, pretraining and fine-tuning as cached cells.

The paper's stack is Hugging Face's: ``GPT2LMHeadModel`` (GPT-2 XL; LLaMA-2 7B and 13B), its
``Trainer`` with AdamW, a linear schedule with 10% warmup, gradient clipping at 1.0 and one epoch
(the released configs). Here the model is a small ``GPT2LMHeadModel`` with a word-level tokenizer
built with HF ``tokenizers`` over the world's closed vocabulary, and it trains with the book's one
loop (``ftscope.train.loop``), not ``Trainer``: the loop already gives the schedule, clipping,
seeding, progress and NaN checks every chapter uses, and caching a run as a cell keys it by its
settings and code; ``Trainer`` would add a second loop for one chapter. What differs from
``Trainer``'s defaults is named where it is set (no dropout, a batch padded to its longest document).

- ``ZhangConfig``: the chapter's settings and presets; the world's parameters are fields.
- ``Setting`` / ``load_setting``: the world, tokenizer, pretraining and fine-tuning documents as ids.
- ``pretrained``: the base model (a cached cell); ``finetuned``: one fine-tuning run per (learning
  rate, seed), with snapshots at log-spaced steps and its validation loss (cached cells);
  ``choose_lr``: the grid's best learning rate on the validation split; ``next_rate`` extends the grid past
  an edge while the best lies there, so that the grid brackets the optimum (``bracketed``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ftscope.config import ChapterConfig, ConfigError
from ftscope.zhang import world as W
from ftscope.zhang.capacity import lora, merged

SPECIAL = ("<s>", "<pad>", "<unk>")
BOS, PAD = 0, 1
#: the PubMed analog's sizes (spec §6.2), the analog of the paper's "up to 1M abstracts"; ``ft_docs`` is one
FT_SIZES = (100, 300, 1000, 3000, 10_000)


@dataclass(frozen=True)
class ZhangConfig(ChapterConfig):
    """Chapter 06. Defaults are the ``paper`` preset: the paper's optimiser settings (released configs), a
    GPT-2-small-sized model and the world scaled up (spec §6); the world's parameters are the spec's."""

    # the world (spec §6.1-6.2). 40 entities per topic (the spec: ~150): a bio entity has ~3 novel relations,
    # so one epoch of ``ft_docs`` documents at ``novel_per_doc`` states each novel pair ~17 times (``World.
    # novel_exposures``); with 150, a pair was stated ~3 times and no fact was learnable in one epoch
    entities: int = 40
    objects: int = 40  # object values per relation (|O_r|)
    lexicon: int = 300
    eps: float = 0.05  # fact noise ε
    novel_share: float = 0.5  # bio facts stated only in fine-tuning
    p_bio: float = 0.05  # bio's share of pretraining
    p_academic: float = 0.10  # academic's share of pretraining (web, casual, rap keep 6 : 2 : 1 of the rest)
    novel_per_doc: float = 2.0  # novel facts per fine-tuning document (of ~3 facts; the spec: "about half")
    world_seed: int = 0
    # corpora
    pt_docs: int = 200_000
    ft_docs: int = 1000  # the released config's subset_examples
    val_docs: int = 500  # the fine-tuning distribution's validation split (the LR grid)
    gate_docs: int = 500  # held-out documents per slice of the base's domain gate (``analyses.domain_gate``)
    probes: int = 1000  # held-out skeletons per analog, as the paper's 1,000 documents
    dynamics_probes: int = 1000  # of them, the ones scored at every snapshot
    # model: GPT-2 small (12 layers, d 768, 12 heads); context of the world's longest documents
    n_layer: int = 12
    n_embd: int = 768
    n_head: int = 12
    n_ctx: int = 160
    # pretraining
    pretrain_steps: int = 20_000
    pretrain_batch: int = 64
    pretrain_lr: float = 3e-4
    pretrain_group: int = 8  # pretraining batches drawn together and grouped by length (``random_batches``)
    # fine-tuning (released configs: AdamW, linear decay, warmup 10%, clip 1.0, one epoch, batch 64)
    ft_batch: int = 64
    #: the paper's order of learning rates: the released config fine-tunes LLaMA-2 at 3e-6, a hundredth of its
    #: pretraining peak (3e-4); the grid spans a hundredth to a tenth of ours
    lr_grid: tuple[float, ...] = (3e-6, 1e-5, 3e-5)
    lr_extend: int = 2  # rates added past an edge of the grid while the best is at that edge (``next_rate``)
    warmup: float = 0.1
    grad_clip: float = 1.0
    seeds: int = 3  # fine-tuning seeds (data order); the paper reports one run
    snapshots: int = 8  # log-spaced steps of the dynamics (0 and the last included)
    bootstrap: int = 1000  # resamples of the skeletons for the confidence intervals

    PRESETS: ClassVar = {
        "smoke": dict(entities=30, objects=8, lexicon=40, pt_docs=600, ft_docs=64, val_docs=32, gate_docs=24, probes=24,
                      dynamics_probes=12, n_layer=1, n_embd=32, n_head=2, pretrain_steps=20, pretrain_batch=16,
                      ft_batch=16, lr_grid=(1e-3, 3e-3), seeds=2, snapshots=3, bootstrap=50),
        # laptop: at the spec's 5% bio and 10% academic, 600 pretraining steps saw ~100 bio × academic
        # documents and the base did not know the domain (``zhang_base_knows_domain``), so the domain's shares
        # are raised (a departure the chapter names); of 1,000, 1,500 and 2,000 steps, 2,000 is the shortest
        # whose base passes that gate
        "laptop": dict(p_bio=0.2, p_academic=0.25, pt_docs=20_000, ft_docs=1000, val_docs=200, gate_docs=300,
                       probes=200, dynamics_probes=100, n_layer=3, n_embd=128, n_head=4, n_ctx=128,
                       pretrain_steps=2000, pretrain_batch=32, pretrain_lr=3e-3, ft_batch=16,
                       lr_grid=(1e-4, 3e-4, 1e-3), snapshots=6, bootstrap=500),
        "paper": {},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} is not a multiple of n_head={self.n_head}")
        if self.seeds < 1 or len(self.lr_grid) < 2 or self.lr_extend < 0:
            raise ConfigError("seeds must be >= 1, lr_grid must name at least two learning rates and lr_extend "
                              "must be >= 0")
        if list(self.lr_grid) != sorted(set(self.lr_grid)):
            raise ConfigError(f"lr_grid must be increasing rates, got {self.lr_grid}")
        if not 0 < self.p_academic < 1:
            raise ConfigError(f"p_academic must lie strictly between 0 and 1, got {self.p_academic}")
        if self.pretrain_group < 1:
            raise ConfigError(f"pretrain_group must be >= 1 (batches grouped by length), got {self.pretrain_group}")
        if self.dynamics_probes > self.probes:
            raise ConfigError(f"dynamics_probes={self.dynamics_probes} exceeds probes={self.probes}")
        try:
            _ = self.world_params  # the world's own checks (shares, noise, sizes)
        except ValueError as err:
            raise ConfigError(str(err)) from err

    @property
    def world_params(self) -> W.WorldParams:
        rest = 1 - self.p_academic
        mix = (rest * 6 / 9, self.p_academic, rest * 2 / 9, rest * 1 / 9)
        return W.WorldParams(entities=self.entities, objects=self.objects, lexicon=self.lexicon, eps=self.eps,
                             novel_share=self.novel_share, p_bio=self.p_bio, style_mix=mix,
                             novel_per_doc=self.novel_per_doc, seed=self.world_seed)

    @property
    def ft_steps(self) -> int:
        """One epoch of the fine-tuning documents."""
        return -(-self.ft_docs // self.ft_batch)

    def model_fields(self) -> dict:
        return dict(n_layer=self.n_layer, n_embd=self.n_embd, n_head=self.n_head, n_ctx=self.n_ctx)


# ----------------------------------------------------------------------------- tokenizer
def word_tokenizer(vocabulary: Sequence[str]):
    """A word-level HF ``tokenizers`` tokenizer over ``vocabulary`` (whitespace-split; ``<s>`` 0, ``<pad>`` 1,
    ``<unk>`` 2, then the words in order)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate((*SPECIAL, *vocabulary))}
    if len(vocab) != len(SPECIAL) + len(vocabulary):
        raise ValueError("the vocabulary repeats a word or a special token")
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # words joined by spaces
    return tok


def encode(tok, texts: Sequence[str], n_ctx: int) -> list[np.ndarray]:
    """Each text as ``<s>`` and its words' ids, cut to ``n_ctx + 1`` tokens (an input of ``n_ctx``)."""
    unk = tok.token_to_id("<unk>")
    out = []
    for enc in tok.encode_batch(list(texts)):
        ids = np.asarray([BOS, *enc.ids][: n_ctx + 1], dtype=np.int64)
        if (ids == unk).any():
            raise ValueError("a document holds a word outside the world's vocabulary")
        out.append(ids)
    return out


def pad(docs: Sequence[np.ndarray]) -> torch.Tensor:
    """(B, T) the documents right-padded with ``<pad>`` to the longest."""
    width = max(len(d) for d in docs)
    rows = np.full((len(docs), width), PAD, dtype=np.int64)
    for i, d in enumerate(docs):
        rows[i, :len(d)] = d
    return torch.from_numpy(rows)


# ----------------------------------------------------------------------------- the setting
@dataclass(frozen=True)
class Setting:
    world: W.World
    tok: object
    pretrain: list  # ids per document
    finetune: list
    val: list  # held out, the fine-tuning distribution (the learning-rate grid)
    val_pt: list  # held out, the pretraining mix (the base's convergence)
    digest: str
    seed: int = 0  # the corpora's draw

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()


def load_setting(cfg: ZhangConfig, seed: int = 0) -> Setting:
    """The world of ``cfg``, its tokenizer, and the pretraining, fine-tuning and validation documents (drawn
    with ``seed``; each validation split, of the fine-tuning data and of the pretraining mix, from its own
    generator)."""
    import hashlib

    world = W.World(cfg.world_params)
    tok = word_tokenizer(world.vocabulary())
    pt = [world.render(s) for s in world.pretraining_skeletons(cfg.pt_docs, seed)]
    ft = [world.render(s) for s in world.finetuning_skeletons(cfg.ft_docs, seed)]
    val = [world.render(s) for s in world.finetuning_skeletons(cfg.val_docs, 1000 + seed)]
    val_pt = [world.render(s) for s in world.pretraining_skeletons(cfg.val_docs, 2000 + seed)]
    h = hashlib.sha256()
    for part in (pt, ft, val, val_pt):
        h.update("\n".join(part).encode())
    return Setting(world, tok, *(encode(tok, part, cfg.n_ctx) for part in (pt, ft, val, val_pt)),
                   h.hexdigest()[:16], seed)


def random_batches(docs: Sequence[np.ndarray], batch: int, group: int = 1) -> Callable[[np.random.Generator],
                                                                                      torch.Tensor]:
    """``sample(rng)``: ``batch`` documents drawn at random (pretraining). With ``group`` > 1, ``group`` batches
    are drawn at once, sorted by length, cut into ``group`` batches and served in a random order (Hugging Face's
    ``group_by_length``): every document is still drawn uniformly, and a batch pads to a length near its own
    documents' instead of its longest's."""
    lengths = np.asarray([len(d) for d in docs])
    queue: list[np.ndarray] = []

    def sample(rng: np.random.Generator) -> torch.Tensor:
        if not queue:
            drawn = rng.integers(0, len(docs), batch * group)
            drawn = drawn[np.argsort(lengths[drawn], kind="stable")]
            queue.extend(drawn[k * batch:(k + 1) * batch] for k in rng.permutation(group))
        return pad([docs[i] for i in queue.pop()])

    return sample


def epoch_batches(docs: Sequence[np.ndarray], batch: int, rng: np.random.Generator,
                  collate: Callable[[list], torch.Tensor] = pad) -> Callable[[np.random.Generator], torch.Tensor]:
    """``sample(_)``: the documents in one order drawn from ``rng``, ``batch`` at a time (one epoch, as
    ``Trainer`` walks a shuffled data set), made a batch by ``collate`` (right-padded by default); after the last
    batch it starts a new order."""
    state = {"order": rng.permutation(len(docs)), "at": 0}

    def sample(_: np.random.Generator) -> torch.Tensor:
        if state["at"] >= len(docs):
            state["order"], state["at"] = rng.permutation(len(docs)), 0
        pick = state["order"][state["at"]: state["at"] + batch]
        state["at"] += batch
        return collate([docs[i] for i in pick])

    return sample


def lm_loss(model, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the documents' real tokens (``<pad>`` masked, as the repo's collator
    does)."""
    logits = model(input_ids=batch[:, :-1]).logits  # (B, T-1, V)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten(), ignore_index=PAD)


def build(cfg: ZhangConfig, vocab_size: int, seed: int):
    """A ``GPT2LMHeadModel`` of ``cfg``'s size, its weights drawn from ``seed``. No dropout (HF's GPT-2 has 0.1):
    the runs are short and the data is never repeated within a run."""
    from transformers import GPT2Config, GPT2LMHeadModel

    conf = GPT2Config(vocab_size=vocab_size, n_positions=cfg.n_ctx, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                      n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=BOS,
                      eos_token_id=BOS)  # no pad_token_id: batches are right-padded, so causal attention never
    # lets a real token see a pad; the losses mask the pads (and HF would warn about every padded batch)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(conf)
    return model.eval()


def pretrain_optim(cfg: ZhangConfig):
    from ftscope.train.loop import OptimConfig

    return OptimConfig(optimizer="adamw", lr=cfg.pretrain_lr, betas=(0.9, 0.95), weight_decay=0.1, warmup=0.05,
                       final_lr_ratio=0.1, grad_clip=1.0)


def finetune_optim(cfg: ZhangConfig, lr: float):
    """The released configs: AdamW (torch's defaults: betas 0.9/0.999, weight decay 0), linear decay to 0 after
    10% warmup, gradient clipping at 1.0 (the loop's ``linear`` schedule is HF's)."""
    from ftscope.train.loop import OptimConfig

    return OptimConfig(optimizer="adamw", lr=lr, betas=(0.9, 0.999), weight_decay=0.0, schedule="linear",
                       warmup=cfg.warmup, final_lr_ratio=0.0, grad_clip=cfg.grad_clip)


#: the share of the epoch by which a feature learned "rapidly" is judged (the dynamics claims)
EARLY = 0.25


def early_step(cfg: ZhangConfig) -> int:
    return max(1, round(EARLY * cfg.ft_steps))


def snapshot_steps(cfg: ZhangConfig) -> list[int]:
    """``snapshots`` log-spaced steps of the epoch (0 and the last included) and the early step."""
    from ftscope.train.loop import log_steps

    return sorted({*log_steps(cfg.ft_steps, cfg.snapshots), early_step(cfg)})


def hf_logits(model, x: torch.Tensor) -> torch.Tensor:
    return model(input_ids=x).logits


@torch.no_grad()
def token_losses(model, docs: Sequence[np.ndarray], batch: int = 64, logits_fn: Callable = hf_logits
                 ) -> list[np.ndarray]:
    """Each document's per-token losses under ``model`` (the loss of every token after the first); ``logits_fn(model,
    ids)`` gives the logits (a Hugging Face model's by default; chapter 07 passes TransformerLens's)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(docs), batch):
        x = pad(docs[i:i + batch]).to(device)
        logits = logits_fn(model, x[:, :-1]).float()  # right-padded: pads are never attended to
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").cpu().numpy()
        out += [nll[j, :len(d) - 1].copy() for j, d in enumerate(docs[i:i + batch])]
    return out


def mean_loss(model, docs: Sequence[np.ndarray]) -> float:
    """Per-token mean loss over ``docs`` (every real token weighs the same)."""
    losses = token_losses(model, docs)
    return float(sum(x.sum(dtype=np.float64) for x in losses) / sum(len(x) for x in losses))


# ----------------------------------------------------------------------------- cached runs
def weights_of(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def pretrain_cell(cfg: ZhangConfig, setting: Setting, seed: int, device="cpu"):
    from ftscope.train import loop as training
    from ftscope.train.cells import Cell

    optim = pretrain_optim(cfg)
    spec = {"model": cfg.model_fields(), "vocab": setting.vocab_size, "docs": setting.digest, "seed": seed,
            "steps": cfg.pretrain_steps, "batch": cfg.pretrain_batch, "group": cfg.pretrain_group,
            "optim": optim.__dict__}

    def run():
        model = build(cfg, setting.vocab_size, seed)
        batches = random_batches(setting.pretrain, cfg.pretrain_batch, cfg.pretrain_group)
        log = training.train(model, batches, lm_loss, cfg.pretrain_steps,
                             optim, rng=np.random.default_rng([seed, 6]), device=device,
                             log_every=max(1, cfg.pretrain_steps // 100), desc="pretrain")
        return {**training.checkpoint_state(model, log), "val_ft": mean_loss(model, setting.val),
                "val_pt": mean_loss(model, setting.val_pt)}

    return Cell("zhang-base", spec, run)


def pretrained(cfg: ZhangConfig, setting: Setting, seed: int, device="cpu", echo=print):
    """``(model, state)``: the base model, from the cache or trained (its ``state`` holds the log and its
    validation losses on the fine-tuning and pretraining distributions)."""
    from ftscope.train import loop as training

    state, _ = pretrain_cell(cfg, setting, seed, device).get(echo=echo)
    return training.load_trained(build(cfg, setting.vocab_size, 0), state["model"], device), state


def docs_digest(docs: Sequence[np.ndarray]) -> str:
    import hashlib

    h = hashlib.sha256()
    for d in docs:
        h.update(d.tobytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def finetune_cell(cfg: ZhangConfig, setting: Setting, base_cell, lr: float, run_seed: int, seed: int, device="cpu",
                  *, docs: Sequence[np.ndarray] | None = None, tag: str = "", rank: int | None = None,
                  snapshots: bool = True):
    """One epoch of fine-tuning at ``lr``, the documents in the order of ``run_seed``: on the PubMed analog
    (``setting.finetune``) or on ``docs`` (chapter 07's arms, named by ``tag``), all the weights or, with
    ``rank``, LoRA adapters of that rank (``capacity.lora``, folded into the weights at the end). Its state keeps
    the weights at every snapshot step (only the last without ``snapshots``) and the validation loss at the end."""
    from ftscope.train import loop as training
    from ftscope.train.cells import Cell

    data = setting.finetune if docs is None else list(docs)
    if docs is not None and not tag:
        raise ValueError("a fine-tuning run on its own documents needs a tag to name its cell")
    n_steps = -(-len(data) // cfg.ft_batch)  # one epoch
    optim = finetune_optim(cfg, lr)
    steps = snapshot_steps(cfg) if snapshots else [n_steps]
    spec = {"model": cfg.model_fields(), "docs": setting.digest, "seed": seed, "run_seed": run_seed,
            "batch": cfg.ft_batch, "steps": n_steps, "optim": optim.__dict__, "snapshots": steps}
    if docs is not None:
        spec["ft_docs"] = docs_digest(data)
    if rank is not None:
        spec["lora_rank"] = rank

    def run():
        model, _ = pretrained(cfg, setting, seed, device, echo=lambda _: None)
        if rank is not None:
            model = lora(model, rank, seed=(seed, run_seed))
        snaps = {}

        def snap(m) -> dict:
            snaps[len(snaps)] = weights_of(merged(m, copy=True) if rank is not None else m)
            return {}

        log = training.train(model, epoch_batches(data, cfg.ft_batch, np.random.default_rng([seed, run_seed, 61])),
                             lm_loss, n_steps, optim, rng=np.random.default_rng(0), device=device, evaluate=snap,
                             eval_at=steps, log_every=1, desc=f"fine-tune {tag or 'lr'} {lr:g} seed {run_seed}")
        if rank is not None:
            model = merged(model)
        return {"snapshots": {s: snaps[i] for i, s in enumerate(steps)}, "log": log.to_dict(),
                "val_ft": mean_loss(model, setting.val)}

    name = f"zhang-ft-{lr:g}-s{run_seed}" if docs is None else f"zhang-{tag}-{lr:g}-s{run_seed}"
    return Cell(name if rank is None else f"{name}-r{rank}", spec, run, deps=(base_cell,))


def final_weights(state: dict) -> dict:
    """A fine-tuning run's weights at its last step."""
    return state["snapshots"][max(state["snapshots"])]


@dataclass(frozen=True)
class FineTunes:
    """The LR grid (seed 0 at every rate, extended past an edge while the best lay there) and the chosen rate's
    runs on every seed."""

    grid: dict  # lr -> validation loss after one epoch (seed 0)
    lr: float  # the chosen rate
    runs: list  # the chosen rate's states, one per seed
    base_val: float  # the base model's validation loss
    grid_runs: dict  # lr -> seed 0's state at that rate
    declared: tuple = ()  # the config's grid (the rest of ``grid`` was added past its edges)

    @property
    def bracketed(self) -> bool:
        return bracketed(self.grid)

    def grid_frame(self):
        import pandas as pd

        rates = sorted(self.grid)
        df = pd.DataFrame({"learning rate": rates, "validation loss": [self.grid[r] for r in rates]})
        df["grid"] = ["declared" if not self.declared or r in self.declared else "added past the edge" for r in rates]
        df["chosen"] = df["learning rate"] == self.lr
        return df.set_index("learning rate")


def choose_lr(grid: dict) -> float:
    """The rate of the lowest validation loss (the paper: "selected ... using a grid search on a validation set")."""
    finite = {lr: v for lr, v in grid.items() if np.isfinite(v)}
    if not finite:
        raise ValueError(f"every learning rate of the grid diverged: {grid}")
    return min(finite, key=finite.get)


def bracketed(grid: dict) -> bool:
    """Whether the grid's best rate has a rate on each side (a diverged rate counts as worse): the optimum lies
    inside the grid, not past one of its edges."""
    rates = sorted(grid)
    return len(rates) >= 3 and choose_lr(grid) not in (rates[0], rates[-1])


def _step(lr: float, other: float) -> float:
    """The next rate past ``lr``, away from its neighbour ``other``: on the 1-3-10 series where the two lie on
    it (1e-3 after 3e-4, 3e-3 after 1e-3), else at their ratio; three significant digits."""
    def on_series(x):
        m = x / 10 ** np.floor(np.log10(x) + 1e-9)
        return next((k for k in (1.0, 3.0) if abs(m - k) < 1e-6), None)

    up = lr > other
    m = on_series(lr)
    if m is not None and on_series(other) is not None:
        factor = (10 / 3 if m == 3.0 else 3.0) if up else (3.0 if m == 3.0 else 10 / 3)
    else:
        factor = lr / other if up else other / lr
    return float(f"{lr * factor if up else lr / factor:.3g}")


def next_rate(grid: dict, declared, extend: int) -> float | None:
    """The rate to add to ``grid`` (lr -> validation loss), or None: one step past the edge where the best rate
    lies (``_step``), until the best is inside the grid or ``extend`` rates beyond ``declared`` were added."""
    rates = sorted(grid)
    if bracketed(grid) or len(rates) < 2 or len(set(grid) - set(declared)) >= extend:
        return None
    best = choose_lr(grid)
    if best == rates[-1]:
        return _step(rates[-1], rates[-2])
    return _step(rates[0], rates[1]) if best == rates[0] else None


def finetuned(cfg: ZhangConfig, setting: Setting, seed: int, device="cpu") -> FineTunes:
    """The grid on seed 0 (extended past an edge by ``next_rate``), then the chosen rate on every seed: each run
    a cached cell."""
    base_cell = pretrain_cell(cfg, setting, seed, device)
    _, base_state = pretrained(cfg, setting, seed, device, echo=lambda _: None)

    def run(lr: float, run_seed: int) -> dict:
        return finetune_cell(cfg, setting, base_cell, lr, run_seed, seed, device).get()[0]

    states = {lr: run(lr, 0) for lr in cfg.lr_grid}
    grid = {lr: float(s["val_ft"]) for lr, s in states.items()}
    while (lr := next_rate(grid, cfg.lr_grid, cfg.lr_extend)) is not None:
        states[lr] = run(lr, 0)
        grid[lr] = float(states[lr]["val_ft"])
    lr = choose_lr(grid)
    runs = [states[lr]] + [run(lr, s) for s in range(1, cfg.seeds)]
    return FineTunes(grid, lr, runs, float(base_state["val_ft"]), states, tuple(cfg.lr_grid))


def load_weights(cfg: ZhangConfig, setting: Setting, weights: dict, device="cpu"):
    from ftscope.train import loop as training

    return training.load_trained(build(cfg, setting.vocab_size, 0), weights, device)
