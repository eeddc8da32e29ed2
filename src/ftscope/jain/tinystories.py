"""Jain et al. (2024) Sec. 5.2: deleting the Twist capability from a story model, and reviving it.

The paper pretrains a LLaMA-2-style model on TinyStories-Instruct, "deletes" Twist by fine-tuning
(three protocols of their code, ``RobertKirk/tinystories-wrappers``), then reverse fine-tunes on
twist-only stories and measures how soon the model writes twists again, against a control that
never saw a twist in pretraining. Offline, the stories come from the book's story world
(``ftscope.data.stories``), whose feature detector is exact on its own text.

- ``StoriesConfig``: the chapter's settings (the paper's values as defaults).
- ``protocol_texts``: the documents of each data set (pretraining, F, F+R, F+MM, recovery, the control's, the
  label-blind control's).
- ``doc_sampler``: training windows that start at a document's start (``<s>``), so every window
  holds its story's header: the instruction a story follows is inside the model's context.
- ``generate`` and ``Generations.share``: the share of sampled stories that contain a twist, prompted
  with headers that ask for one (the paper's Table 1 measure; ours is exact, theirs a 92%-accurate
  classifier); ``story_loss``: the twist-story loss (Fig. 11).
- ``pretrained`` and ``finetuned``: the base, "Not in PT" and label-blind pretrainings, the deletion, reFT
  and control runs, each a cached cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from ftscope.config import ChapterConfig, ConfigError
from ftscope.data import stories as world
from ftscope.data import tokenizer as bpe

TWIST = "Twist"
SWAPPED = "Foreshadowing"  # F+MM: Foreshadowing in the header becomes Twist (the repo's FEATURE_IRRELEVANT)
PROTOCOLS = ("F", "F+R", "F+MM")
DATASETS = ("pretrain", *PROTOCOLS, "recovery", "control", "blind")
#: the held-out stories whose twist-asking headers are the twist evaluations' prompts (chapter 10's shared
#: stories start after them)
PROMPT_POOL = 1000


@dataclass(frozen=True)
class StoriesConfig(ChapterConfig):
    """Chapter 05. Defaults are the paper's (Sec. 5.2, App. F) and its code's (S2 configs), or the choice
    named in the chapter text."""

    # data: the story world (TinyStories-Instruct offline)
    n_stories: int = 400_000  # pretraining stories (TinyStories-Instruct has ~2.5M; the world is far smaller)
    vocab: int = 8192  # the paper's custom vocabulary
    # model: llama2.c's 91M (dim 768, 12 layers, 12 heads; hidden = 2/3 * 4 * dim)
    n_layers: int = 12
    d_model: int = 768
    n_heads: int = 12
    d_mlp: int = 2048
    n_ctx: int = 1024
    # pretraining (App. F): batch 128, 30K steps, warmup then cosine to 0, peak LR 1e-3
    pretrain_steps: int = 30_000
    pretrain_batch: int = 128
    pretrain_lr: float = 1e-3
    pretrain_warmup: float = 1000 / 30_000  # llama2.c's warmup_iters = 1000
    weight_decay: float = 0.1  # llama2.c's default
    betas: tuple[float, float] = (0.9, 0.95)  # llama2.c's
    # deletion and recovery (S2 configs): constant LR, batch 128
    ft_steps: int = 4000
    ft_batch: int = 128
    delete_lrs: tuple[float, float] = (1e-4, 1e-5)  # η_M, η_S (the repo's two deletion LRs)
    reft_lr: float = 1e-5  # recovery LR (the S2 configs: whatever the deletion's rate)
    reft_steps: int = 3000  # Table 1: iterations 0 / 30 / 300 / 3000
    reft_evals: tuple[int, ...] = (0, 30, 300, 3000)
    delete_evals: tuple[int, ...] = (30, 100, 300, 1000)  # F+R at η_M: the deletion curve (0 and the end are read anyway)
    seeds: int = 3  # fine-tuning seeds (deletion, reFT, the control's fine-tuning); the paper reports none
    # evaluation: the S2 repo's sampler (llama2.c's sample.py: temperature 1.0, no top-k)
    n_prompts: int = 64  # twist-asking headers per evaluation, a slice of its own per fine-tuning seed
    max_new_tokens: int = 400
    temperature: float = 1.0
    top_k: int | None = None
    eval_docs: int = 256  # held-out twist stories for the twist loss
    # probes (S2): bias-free, 6 binary outputs, BCE, mean of the last 10 story tokens, LR 1e-3, 2000 iterations
    probe_tokens: int = 10
    probe_steps: int = 2000
    probe_lr: float = 1e-3
    probe_samples: int = 4000
    source: Literal["offline", "hub"] = "offline"

    PRESETS: ClassVar = {
        "smoke": dict(n_stories=600, vocab=384, n_layers=1, d_model=32, n_heads=2, d_mlp=64, n_ctx=128,
                      pretrain_steps=30, pretrain_batch=8, pretrain_warmup=0.1, ft_steps=6, ft_batch=8,
                      reft_steps=6, reft_evals=(0, 2, 6), delete_evals=(1, 3), seeds=2, n_prompts=4, max_new_tokens=24,
                      eval_docs=16,
                      probe_steps=20, probe_samples=64),
        "laptop": dict(n_stories=20_000, vocab=2048, n_layers=4, d_model=192, n_heads=6, d_mlp=512, n_ctx=256,
                   pretrain_steps=600, pretrain_batch=16, pretrain_warmup=0.1, ft_steps=60, ft_batch=8,
                   reft_steps=45, reft_evals=(0, 1, 5, 45), delete_evals=(1, 3, 10, 30), max_new_tokens=200,
                   eval_docs=32, probe_steps=300, probe_samples=450),
        "paper": {},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} is not a multiple of n_heads={self.n_heads}")
        if not self.delete_lrs[0] > self.delete_lrs[1]:
            raise ConfigError(f"delete_lrs are (η_M, η_S), larger first, got {self.delete_lrs}")
        if self.reft_evals[0] != 0 or max(self.reft_evals) != self.reft_steps:
            raise ConfigError(f"reft_evals must run from 0 to reft_steps={self.reft_steps}, got {self.reft_evals}")
        if any(not 0 < k < self.ft_steps for k in self.delete_evals):
            raise ConfigError(f"delete_evals must lie strictly between 0 and ft_steps={self.ft_steps}, "
                              f"got {self.delete_evals}")
        if self.seeds < 1 or self.n_prompts < 1:
            raise ConfigError(f"seeds and n_prompts must be >= 1, got {self.seeds} and {self.n_prompts}")

    def model_fields(self) -> dict:
        return dict(n_layers=self.n_layers, d_model=self.d_model, n_heads=self.n_heads, n_kv_heads=self.n_heads,
                    d_head=self.d_model // self.n_heads, d_mlp=self.d_mlp, n_ctx=self.n_ctx, d_vocab=self.vocab)


# ------------------------------------------------------------------------------- data sets
def _header(s: world.Story, features: Iterable[str]) -> str:
    return world.instruct_prompt(features, s.words, s.summary) + s.body


def protocol_texts(stories: Sequence[world.Story], dataset: str) -> list[str]:
    """The documents of ``dataset`` made from ``stories`` (the S2 repo's ``dataset_gen/tw_fs.sh``):

    - ``pretrain``: every story as it is.
    - ``F`` (``filter-Twist``): the stories without a twist.
    - ``F+R`` (``filter-adv-Twist``): the same, with Twist added to every header (probability 1.0):
      the model is told to write a twist and shown stories that have none.
    - ``F+MM`` (``filter-mix-Twist-Foreshadowing``): the same stories, Foreshadowing in a header
      swapped for Twist (the body keeps its foreshadowing).
    - ``recovery`` (``recovery-Twist``): the twist stories only (reFT and the control's fine-tuning).
    - ``control``: the control's pretraining, the stories without a twist ("Not in PT").
    - ``blind``: the label-blind control's pretraining: every story, Twist removed from its header (its body,
      twist included, untouched). It knows the twist phrases but never sees the instruction that asks for them.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown data set {dataset!r}; valid choices: {', '.join(map(repr, DATASETS))}")
    if dataset == "pretrain":
        return [world.instruct_text(s) for s in stories]
    if dataset == "recovery":
        return [world.instruct_text(s) for s in stories if TWIST in s.features]
    if dataset == "blind":
        return [_header(s, s.features - {TWIST}) for s in stories]
    kept = [s for s in stories if TWIST not in s.features]
    if dataset in ("F", "control"):
        return [world.instruct_text(s) for s in kept]
    if dataset == "F+R":
        return [_header(s, s.features | {TWIST}) for s in kept]
    return [_header(s, (s.features - {SWAPPED}) | {TWIST} if SWAPPED in s.features else s.features) for s in kept]


def doc_starts(stream: np.ndarray, bos: int, n_ctx: int) -> np.ndarray:
    """Positions of the ``<s>`` that start each document with a full window of ``n_ctx + 1`` tokens after it."""
    starts = np.flatnonzero(stream == bos)
    starts = starts[starts + n_ctx + 1 <= len(stream)]
    if len(starts) == 0:
        raise ValueError(f"no document in a stream of {len(stream)} tokens has a window of {n_ctx + 1} tokens")
    return starts


def doc_sampler(stream: np.ndarray, bos: int, n_ctx: int, batch: int) -> Callable[[np.random.Generator], torch.Tensor]:
    """``sample(rng)``: ``batch`` windows of ``n_ctx + 1`` tokens, each from a random document's ``<s>``
    (a story longer than the window is cut; a shorter one runs on into the next document)."""
    starts = doc_starts(stream, bos, n_ctx)
    stream = np.asarray(stream, dtype=np.int64)

    def sample(rng: np.random.Generator) -> torch.Tensor:
        pick = starts[rng.integers(0, len(starts), batch)]
        return torch.from_numpy(stream[pick[:, None] + np.arange(n_ctx + 1)])

    return sample


def lm_loss(model, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of a window of ``n_ctx + 1`` tokens."""
    logits = model(batch[:, :-1])
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten())


# ------------------------------------------------------------------------------- evaluation
def asking_stories(stories: Sequence[world.Story], n: int, ask: bool = True) -> list[world.Story]:
    """The first ``n`` of ``stories`` with a twist when ``ask``, without one otherwise: the stories whose
    headers ``twist_prompts`` gives."""
    chosen = [s for s in stories if (TWIST in s.features) == ask][:n]
    if len(chosen) < n:
        raise ValueError(f"only {len(chosen)} of {len(stories)} stories {'have' if ask else 'lack'} a twist; {n} asked for")
    return chosen


def twist_prompts(stories: Sequence[world.Story], n: int, ask: bool = True) -> list[str]:
    """``n`` instruction headers of held-out stories (``asking_stories``), each with the story's own Features,
    Words and Summary, ending in ``"Story: "``."""
    return [world.instruct_prompt(s.features, s.words, s.summary) for s in asking_stories(stories, n, ask)]


@dataclass(frozen=True)
class Generations:
    prompts: list[str]
    texts: list[str]

    @property
    def features(self) -> list[set[str]]:
        return [world.detect_features("Story: " + t) for t in self.texts]

    def share(self, feature: str = TWIST) -> float:
        return float(np.mean([feature in f for f in self.features]))

    def asked_counts(self) -> dict[str, float]:
        """For every feature: ``{f}_k`` of the ``{f}_n`` stories whose prompt asks for it that have it."""
        found, out = self.features, {}
        for f in world.FEATURES:
            asked = [f in got for prompt, got in zip(self.prompts, found) if f in asked_features(prompt)]
            out[f"{f}_k"], out[f"{f}_n"] = float(sum(asked)), float(len(asked))
        return out


def asked_features(prompt: str) -> set[str]:
    """The features a header's Features line asks for."""
    line = next((x for x in prompt.splitlines() if x.startswith("Features:")), "Features:")
    return {f.strip() for f in line[len("Features:"):].split(",") if f.strip()}


def generate(model, tok, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, top_k: int | None,
             seed: int, batch: int = 32) -> Generations:
    """Each prompt's story as the model writes it (cut at the next ``<s>``: a new document)."""
    from ftscope.instruments.generation import sample

    b = bpe.bos_id(tok)
    # "Story:" without its trailing space: in the training text the space belongs to the story's first
    # token (" Once"), and a prompt ending in a lone space token starts the story mid-sentence
    ids = [[b, *tok.encode(p.rstrip(" "), add_special_tokens=False).ids] for p in prompts]
    out = sample(model, ids, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed,
                 stop_id=b, batch=batch, pad_id=b, desc="stories")
    return Generations(list(prompts), [tok.decode(o) for o in out])


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95% by default)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(mid - half), float(mid + half))


def doc_blocks(tok, texts: Sequence[str], n_ctx: int) -> torch.Tensor:
    """Each text as one window of ``n_ctx + 1`` tokens from its ``<s>`` (cut or padded with ``<s>``)."""
    b = bpe.bos_id(tok)
    rows = np.full((len(texts), n_ctx + 1), b, dtype=np.int64)
    for i, enc in enumerate(tok.encode_batch(list(texts), add_special_tokens=False)):
        ids = [b, *enc.ids][: n_ctx + 1]
        rows[i, :len(ids)] = ids
    return torch.from_numpy(rows)


@torch.no_grad()
def story_loss(model, tok, texts: Sequence[str], n_ctx: int, batch: int = 32) -> float:
    """Mean next-token loss over the story part (after ``"Story: "``) of each text: the twist-story loss
    of Fig. 11 when the texts are twist stories."""
    device = next(model.parameters()).device
    blocks = doc_blocks(tok, texts, n_ctx)
    b = bpe.bos_id(tok)
    story_at = [len(tok.encode(t[: t.index("Story: ") + len("Story: ")], add_special_tokens=False).ids) + 1
                for t in texts]
    total = count = 0.0
    for i in range(0, len(blocks), batch):
        x = blocks[i:i + batch].to(device)
        nll = torch.nn.functional.cross_entropy(model(x[:, :-1]).float().transpose(1, 2), x[:, 1:], reduction="none")
        pos = torch.arange(x.shape[1] - 1, device=device)[None]
        keep = (pos >= torch.tensor(story_at[i:i + batch], device=device)[:, None] - 1)
        # the first <s> after the story ends it: later positions belong to no story
        after = (x[:, 1:] == b).cumsum(1) > 0
        keep &= ~after
        total += float((nll * keep).sum())
        count += float(keep.sum())
    return total / max(count, 1.0)


# ------------------------------------------------------------------------------- the setting, cached
@dataclass(frozen=True)
class Setting:
    """The chapter's stories (pretraining and held out), its tokenizer and a token stream per data set."""

    stories: list
    held: list
    tok: object
    streams: dict
    digest: str

    @property
    def bos(self) -> int:
        return bpe.bos_id(self.tok)

    def sampler(self, dataset: str, n_ctx: int, batch: int):
        return doc_sampler(self.streams[dataset], self.bos, n_ctx, batch)


HELD_OUT = 4000  # held-out stories (prompts, twist loss, probes), from their own generator


def load_setting(cfg: StoriesConfig, seed: int = 0, project=None) -> Setting:
    """The story world's stories (``cfg.n_stories`` from ``seed``, ``HELD_OUT`` more from another
    generator), a BPE of ``cfg.vocab`` trained on the pretraining texts, and every data set encoded;
    tokenizer and streams cached by the world's version, the seed and the sizes."""
    import hashlib

    from ftscope.train.checkpoints import cached_state

    if cfg.source == "hub":
        stories, held = world.hub_instruct_stories(cfg.n_stories, HELD_OUT, seed)
    else:
        stories = world.generate_stories(cfg.n_stories, seed=seed)
        held = world.generate_stories(HELD_OUT, seed=10_000 + seed)
    spec = {"source": cfg.source, "generator": world.GENERATOR_VERSION, "n_stories": cfg.n_stories, "seed": seed,
            "vocab": cfg.vocab, "datasets": DATASETS,
            "texts": hashlib.sha256("\0".join(protocol_texts(stories, "pretrain")).encode()).hexdigest()[:16]}

    def run():
        tok = bpe.train_bpe(protocol_texts(stories, "pretrain"), cfg.vocab)
        streams = {d: bpe.encode_docs(tok, protocol_texts(stories, d)) for d in DATASETS}
        return {"tokenizer": tok.to_str(), "streams": streams}

    state, _ = cached_state("jain-stories-tokens", spec, run, project=project)
    digest = hashlib.sha256(b"".join(state["streams"][d].tobytes() for d in DATASETS)).hexdigest()[:16]
    return Setting(stories, held, bpe.from_str(state["tokenizer"]), state["streams"], digest)


# ------------------------------------------------------------------------------- training
def build(cfg: StoriesConfig, seed: int, device="cpu"):
    from ftscope.train import models

    return models.mistral(**cfg.model_fields(), seed=seed, device=device)


def pretrain_optim(cfg: StoriesConfig):
    from ftscope.train.loop import OptimConfig

    return OptimConfig(optimizer="adamw", lr=cfg.pretrain_lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                       warmup=cfg.pretrain_warmup, final_lr_ratio=0.0)


def constant_optim(cfg: StoriesConfig, lr: float):
    """The deletion and recovery optimiser: AdamW at a constant ``lr`` (the S2 configs: no warmup, no decay)."""
    from ftscope.train.loop import OptimConfig

    return OptimConfig(optimizer="adamw", lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay, warmup=0.0,
                       final_lr_ratio=1.0)


PRETRAININGS = {"base": "pretrain", "control": "control", "blind": "blind"}  # model -> its pretraining data set
CONTROLS = ("control", "blind")  # the models that never had the capability: fine-tuned on twist stories as reFT is


def pretrain_cells(cfg: StoriesConfig, setting: Setting, seed: int, device="cpu") -> dict:
    """The three pretrainings (the base on every story, the control on the stories without a twist, the
    label-blind control on every story with Twist out of the headers) as cached cells; all start from the same
    initial weights and draw their windows from the same generator."""
    from ftscope.train import loop as training
    from ftscope.train.cells import Cell

    optim = pretrain_optim(cfg)
    cells = {}
    for name, dataset in PRETRAININGS.items():
        spec = {"model": cfg.model_fields(), "tokens": setting.digest, "dataset": dataset, "seed": seed,
                "steps": cfg.pretrain_steps, "batch": cfg.pretrain_batch, "optim": optim.__dict__}

        def run(dataset=dataset, name=name):
            model = build(cfg, seed, device)
            log = training.train(model, setting.sampler(dataset, cfg.n_ctx, cfg.pretrain_batch), lm_loss,
                                 cfg.pretrain_steps, optim, rng=np.random.default_rng([seed, 5]), device=device,
                                 log_every=max(1, cfg.pretrain_steps // 100), desc=f"pretrain {name}")
            return training.checkpoint_state(model, log)

        cells[name] = Cell(f"jain-stories-{name}", spec, run)
    return cells


def pretrained(cfg: StoriesConfig, setting: Setting, seed: int, device="cpu", project=None,
               workers: int = 1, names: Sequence[str] = tuple(PRETRAININGS)) -> tuple[dict, dict]:
    """``({name: model}, {name: TrainLog})`` for the pretrainings ``names``, from the cache or trained, with
    ``workers > 1`` each in its own single-threaded process (``train.parts``). They are not trained as one
    batched model: for models of this size ``vmap`` over TransformerLens's modules costs more than it saves.
    ``finetuned`` trains the label-blind one beside the fine-tuning runs, where a worker would otherwise wait."""
    from ftscope.train import loop as training
    from ftscope.train.cells import get_together
    from ftscope.train.parts import run_parts, usable_workers

    cells = {n: c for n, c in pretrain_cells(cfg, setting, seed, device).items() if n in names}

    def build_many(missing):
        return run_parts(lambda cell: cell.build(), list(missing), usable_workers(workers, device), desc="pretraining")

    states = get_together(list(cells.values()), build_many, project=project)
    models_ = {n: training.load_trained(build(cfg, 0), state["model"], device) for n, (state, _) in zip(cells, states)}
    logs = {n: training.TrainLog(**state["log"]) for n, (state, _) in zip(cells, states)}
    return models_, logs


@dataclass(frozen=True)
class Run:
    """One fine-tuning run of the chapter: a deletion (``protocol`` at ``lr``), or the control's fine-tuning."""

    protocol: str  # "F", "F+R", "F+MM", or a control: "control" (Not in PT) or "blind" (label-blind)
    lr: float  # the deletion LR (η_M or η_S); a control's: the recovery LR
    seed: int

    @property
    def is_control(self) -> bool:
        return self.protocol in CONTROLS

    @property
    def start(self) -> str:
        """The pretraining it starts from."""
        return self.protocol if self.is_control else "base"

    @property
    def label(self) -> str:
        return CONTROL_LABELS[self.protocol] if self.is_control else f"{self.protocol} (η={self.lr:g})"


CONTROL_LABELS = {"control": "Not in PT", "blind": "Label-blind"}


def deletion_runs(cfg: StoriesConfig, small_seeds: int = 1) -> list[Run]:
    """Every deletion run: each protocol at η_M on ``cfg.seeds`` seeds (the headline cells) and at η_S on
    ``small_seeds``."""
    eta_m, eta_s = cfg.delete_lrs
    return ([Run(p, eta_m, s) for s in range(cfg.seeds) for p in PROTOCOLS]
            + [Run(p, eta_s, s) for s in range(small_seeds) for p in PROTOCOLS])


def _run_key(seed: int, run: Run) -> list[int]:
    return [seed, run.seed, (*PROTOCOLS, *CONTROLS).index(run.protocol), round(run.lr * 1e9)]


def run_rng(seed: int, run: Run, stage: str):
    return np.random.default_rng([*_run_key(seed, run), ("delete", "reft").index(stage)])


def sampling_seed(seed: int, run: Run | None) -> int:
    """The sampler's seed for ``run``'s evaluations: its own per run (so per fine-tuning seed); ``seed`` itself
    for a model that belongs to no run (the base)."""
    if run is None:
        return seed
    return int(np.random.SeedSequence([*_run_key(seed, run), 17]).generate_state(1)[0])


def curve_evals(cfg: StoriesConfig, run: Run) -> list[int]:
    """The deletion steps at which ``run`` is evaluated: its curve (``delete_evals``) for F+R at η_M, and step 0
    (the base, on this run's prompts and sampler) for every η_M protocol; none otherwise."""
    if run.is_control or run.lr != cfg.delete_lrs[0]:
        return []
    return [0, *cfg.delete_evals] if run.protocol == "F+R" else [0]


def finetune_cells(cfg: StoriesConfig, setting: Setting, pre_cells: dict, seed: int, device="cpu") -> dict:
    """A cached cell per run: a deletion run's state holds its deleted model and then its model after
    reFT (``reft_steps`` on the twist stories at ``reft_lr``, evaluated at ``reft_evals``); the control's
    holds its model after the same fine-tuning of the control pretraining."""
    from ftscope.train.cells import Cell

    out = {}
    for run in all_runs(cfg):
        spec = {"model": cfg.model_fields(), "tokens": setting.digest, "run": run.__dict__, "seed": seed,
                "ft_steps": cfg.ft_steps, "ft_batch": cfg.ft_batch, "reft_steps": cfg.reft_steps,
                "reft_lr": cfg.reft_lr, "reft_evals": cfg.reft_evals, "delete_evals": curve_evals(cfg, run),
                "n_prompts": cfg.n_prompts, "sampling": [cfg.max_new_tokens, cfg.temperature, cfg.top_k],
                "eval_docs": cfg.eval_docs}
        dep = pre_cells[run.start]
        out[run] = Cell(f"jain-stories-ft-{run.protocol}", spec, lambda run=run: _finetune(cfg, setting, [run], seed,
                                                                                              device)[0], deps=(dep,))
    return out


def all_runs(cfg: StoriesConfig) -> list[Run]:
    """Every deletion run, then each control's fine-tuning on every seed."""
    return deletion_runs(cfg) + [Run(c, cfg.reft_lr, s) for c in CONTROLS for s in range(cfg.seeds)]


def eval_sets(cfg: StoriesConfig, setting: Setting, slot: int = 0) -> tuple[list[str], list[str]]:
    """The prompts that ask for a twist, ``cfg.n_prompts`` held-out headers of fine-tuning seed ``slot``'s own
    (the ``slot``-th slice of the twist stories among the first ``PROMPT_POOL`` held-out ones), and the held-out
    twist stories of the twist loss (the same for every model)."""
    pool = [s for s in setting.held[:PROMPT_POOL] if TWIST in s.features]
    chosen = pool[slot * cfg.n_prompts:(slot + 1) * cfg.n_prompts]
    if len(chosen) < cfg.n_prompts:
        raise ConfigError(f"n_prompts={cfg.n_prompts} for seed {slot}: only {len(pool)} twist stories among the "
                          f"first {PROMPT_POOL} held-out ones (at most {len(pool) // cfg.n_prompts} seeds)")
    prompts = [world.instruct_prompt(s.features, s.words, s.summary) for s in chosen]
    return prompts, protocol_texts(setting.held, "recovery")[:cfg.eval_docs]


def twist_eval(cfg: StoriesConfig, setting: Setting, seed: int, run: Run | None = None):
    """``evaluate(model)``: the share of stories with a twist when asked for one (``twist``, ``twist_k`` of
    ``twist_n``), on the prompts of ``run``'s fine-tuning seed, sampled with its own seed
    (``sampling_seed``); each other feature's ``{f}_k`` of ``{f}_n`` among the prompts that ask for it; and
    the twist-story loss."""
    prompts, texts = eval_sets(cfg, setting, 0 if run is None else run.seed)
    at = sampling_seed(seed, run)

    def evaluate(model) -> dict:
        gens = generate(model, setting.tok, prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                        top_k=cfg.top_k, seed=at)
        counts = gens.asked_counts()
        return {"twist": gens.share(), "twist_k": counts[f"{TWIST}_k"], "twist_n": counts[f"{TWIST}_n"],
                **{k: v for k, v in counts.items() if not k.startswith(TWIST)},
                "twist_loss": story_loss(model, setting.tok, texts, cfg.n_ctx)}

    return evaluate


def _finetune(cfg: StoriesConfig, setting: Setting, runs: list[Run], seed: int, device, starts: dict | None = None) -> list[dict]:
    """Each run in turn: its deletion (for a protocol; evaluated at ``curve_evals``), then reFT, or a control's
    fine-tuning, on the twist stories, evaluated at ``reft_evals``."""
    from ftscope.train import loop as training

    if starts is None:
        starts, _ = pretrained(cfg, setting, seed, device, names=sorted({r.start for r in runs}))
    out = []
    for run in runs:
        evaluate = twist_eval(cfg, setting, seed, run)
        model = copy_model(cfg, starts[run.start], device)
        deleted = delete_log = None
        if not run.is_control:
            delete_log = training.train(model, setting.sampler(run.protocol, cfg.n_ctx, cfg.ft_batch), lm_loss,
                                        cfg.ft_steps, constant_optim(cfg, run.lr), rng=run_rng(seed, run, "delete"),
                                        device=device, evaluate=evaluate, eval_at=curve_evals(cfg, run),
                                        log_every=max(1, cfg.ft_steps // 50),
                                        desc=f"deletion {run.label}, seed {run.seed}").to_dict()
            deleted = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        log = training.train(model, setting.sampler("recovery", cfg.n_ctx, cfg.ft_batch), lm_loss, cfg.reft_steps,
                             constant_optim(cfg, cfg.reft_lr), rng=run_rng(seed, run, "reft"), device=device,
                             evaluate=evaluate, eval_at=list(cfg.reft_evals), log_every=max(1, cfg.reft_steps // 50),
                             desc=f"reFT {run.label}, seed {run.seed}")
        out.append({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "log": log.to_dict(),
                    "deleted": deleted, "delete_log": delete_log})
    return out


def copy_model(cfg: StoriesConfig, model, device="cpu"):
    from ftscope.train import loop as training

    return training.load_trained(build(cfg, 0), {k: v.detach().clone() for k, v in model.state_dict().items()}, device)


def run_cost(cfg: StoriesConfig, run: Run) -> float:
    """A run's work in fine-tuning steps (an evaluation counted as ``EVAL_STEPS``), to balance the parts."""
    steps = cfg.reft_steps + (0 if run.is_control else cfg.ft_steps)
    return steps + EVAL_STEPS * (len(cfg.reft_evals) + len(curve_evals(cfg, run)))


EVAL_STEPS = 10  # an evaluation (n_prompts stories, the twist loss) costs about as much as this many steps


def balance(cfg: StoriesConfig, runs: Sequence[Run], workers: int, head: float = 0.0) -> list[list[Run]]:
    """``runs`` in ``workers`` parts of about equal work (the longest first, each to the lightest part); part 0
    starts with ``head`` steps of other work (the label-blind pretraining), and holds the label-blind runs, which
    start from it when it is trained there."""
    parts: list[list[Run]] = [[] for _ in range(max(1, workers))]
    load = [0.0] * len(parts)
    if head:
        for run in (r for r in runs if r.protocol == "blind"):
            parts[0].append(run)
            load[0] += run_cost(cfg, run)
        load[0] += head
    for run in sorted((r for r in runs if not (head and r.protocol == "blind")), key=lambda r: -run_cost(cfg, r)):
        i = int(np.argmin(load))
        parts[i].append(run)
        load[i] += run_cost(cfg, run)
    return [p for i, p in enumerate(parts) if p or (i == 0 and head)]


def finetuned(cfg: StoriesConfig, setting: Setting, seed: int, device="cpu", project=None, workers: int = 1) -> dict:
    """Every run's state (``finetune_cells``), from the cache or trained, ``workers`` parts at once. When the
    label-blind pretraining is not cached, it is trained at the head of one part (its runs after it in that
    part), while the other parts fine-tune from the base and the control."""
    from ftscope.train.cells import get_together
    from ftscope.train.parts import run_parts, usable_workers

    pre_cells = pretrain_cells(cfg, setting, seed, device)
    cells = finetune_cells(cfg, setting, pre_cells, seed, device)
    runs = list(cells)
    blind = pre_cells["blind"]

    def build_many(missing):  # the pretrained models are read only when a run has to be trained
        train_blind = blind in missing
        names = ("base", "control") if train_blind else tuple(PRETRAININGS)
        starts, _ = pretrained(cfg, setting, seed, device, project, workers, names=names)
        todo = [r for r in runs if cells[r] in missing]
        n = usable_workers(workers, device)
        head = cfg.pretrain_steps * cfg.pretrain_batch / cfg.ft_batch if train_blind else 0.0
        parts = balance(cfg, todo, n, head)

        def work(i_part):
            i, part = i_part
            if i == 0 and train_blind:
                state = blind.build()
                own = {**starts, "blind": training_load(cfg, state, device)}
                return [state, *_finetune(cfg, setting, part, seed, device, own)]
            return _finetune(cfg, setting, part, seed, device, starts)

        done = run_parts(work, list(enumerate(parts)), n, desc="stories: parts")
        built = {}  # by the cell's identity (a cell is not hashable)
        for i, (part, states) in enumerate(zip(parts, done)):
            if i == 0 and train_blind:
                built[id(blind)] = states[0]
                states = states[1:]
            built.update({id(cells[r]): st for r, st in zip(part, states)})
        return [built[id(c)] for c in missing]

    states = get_together([blind] + [cells[r] for r in runs], build_many, project=project)
    return {r: state for r, (state, _) in zip(runs, states[1:])}


def training_load(cfg: StoriesConfig, state: dict, device="cpu"):
    """The model of a pretraining cell's ``state``."""
    from ftscope.train import loop as training

    return training.load_trained(build(cfg, 0), state["model"], device)
