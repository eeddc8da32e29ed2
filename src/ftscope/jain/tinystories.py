"""Jain et al. (2024) Sec. 5.2: deleting the Twist capability from a story model, and reviving it.

The paper pretrains a LLaMA-2-style model on TinyStories-Instruct, "deletes" Twist by fine-tuning
(three protocols of their code, ``RobertKirk/tinystories-wrappers``), then reverse fine-tunes on
twist-only stories and measures how soon the model writes twists again, against a control that
never saw a twist in pretraining. Offline, the stories come from the book's story world
(``ftscope.data.stories``), whose feature detector is exact on its own text.

- ``StoriesConfig``: the chapter's settings (the paper's values as defaults).
- ``protocol_texts``: the documents of each data set (pretraining, F, F+R, F+MM, recovery, the control's).
- ``doc_sampler``: training windows that start at a document's start (``<s>``), so every window
  holds its story's header: the instruction a story follows is inside the model's context.
- ``generate`` and ``Generations.share``: the share of sampled stories that contain a twist, prompted
  with headers that ask for one (the paper's Table 1 measure; ours is exact, theirs a 92%-accurate
  classifier); ``story_loss``: the twist-story loss (Fig. 11).
- ``pretrained`` and ``finetuned``: the base and "Not in PT" pretrainings, the deletion, reFT and
  control runs, each a cached cell.
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
DATASETS = ("pretrain", *PROTOCOLS, "recovery", "control")


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
    reft_lr: float = 1e-5  # recovery LR
    reft_steps: int = 3000  # Table 1: iterations 0 / 30 / 300 / 3000
    reft_evals: tuple[int, ...] = (0, 30, 300, 3000)
    seeds: int = 3  # fine-tuning seeds (deletion, reFT, the control's fine-tuning); the paper reports none
    # evaluation
    n_prompts: int = 16  # Table 1's percentages are all multiples of 1/16
    max_new_tokens: int = 400
    temperature: float = 0.8  # llama2.c's sample.py default is 1.0; ours, named in the text
    top_k: int | None = 200  # llama2.c's sample.py default
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
                      reft_steps=6, reft_evals=(0, 2, 6), seeds=2, n_prompts=4, max_new_tokens=24, eval_docs=16,
                      probe_steps=20, probe_samples=64),
        "laptop": dict(n_stories=20_000, vocab=2048, n_layers=4, d_model=192, n_heads=6, d_mlp=512, n_ctx=256,
                   pretrain_steps=600, pretrain_batch=16, pretrain_warmup=0.1, ft_steps=60, ft_batch=8,
                   reft_lr=1e-4, reft_steps=30, reft_evals=(0, 3, 10, 30), n_prompts=16, max_new_tokens=200,
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
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown data set {dataset!r}; valid choices: {', '.join(map(repr, DATASETS))}")
    if dataset == "pretrain":
        return [world.instruct_text(s) for s in stories]
    if dataset == "recovery":
        return [world.instruct_text(s) for s in stories if TWIST in s.features]
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


PRETRAININGS = {"base": "pretrain", "control": "control"}  # model -> its pretraining data set


def pretrain_cells(cfg: StoriesConfig, setting: Setting, seed: int, device="cpu") -> dict:
    """The two pretrainings (the base on every story, the control on the stories without a twist) as
    cached cells; both start from the same initial weights and draw their windows from the same generator."""
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
               workers: int = 1) -> tuple[dict, dict]:
    """``({"base": model, "control": model}, {name: TrainLog})``, from the cache or trained, with
    ``workers > 1`` each in its own single-threaded process (``train.parts``). They are not trained as one
    batched model: for models of this size ``vmap`` over TransformerLens's modules costs more than it saves."""
    from ftscope.train import loop as training
    from ftscope.train.cells import get_together
    from ftscope.train.parts import run_parts, usable_workers

    cells = pretrain_cells(cfg, setting, seed, device)

    def build_many(missing):
        return run_parts(lambda cell: cell.build(), list(missing), usable_workers(workers, device), desc="pretraining")

    states = get_together(list(cells.values()), build_many, project=project)
    models_ = {n: training.load_trained(build(cfg, 0), state["model"], device) for n, (state, _) in zip(cells, states)}
    logs = {n: training.TrainLog(**state["log"]) for n, (state, _) in zip(cells, states)}
    return models_, logs


@dataclass(frozen=True)
class Run:
    """One fine-tuning run of the chapter: a deletion (``protocol`` at ``lr``), or the control's fine-tuning."""

    protocol: str  # "F", "F+R", "F+MM" or "control"
    lr: float  # the deletion LR (η_M or η_S); the control's: the recovery LR
    seed: int

    @property
    def label(self) -> str:
        return "Not in PT" if self.protocol == "control" else f"{self.protocol} (η={self.lr:g})"


def deletion_runs(cfg: StoriesConfig, small_seeds: int = 1) -> list[Run]:
    """Every deletion run: each protocol at η_M on ``cfg.seeds`` seeds (the headline cells) and at η_S on
    ``small_seeds``."""
    eta_m, eta_s = cfg.delete_lrs
    return ([Run(p, eta_m, s) for s in range(cfg.seeds) for p in PROTOCOLS]
            + [Run(p, eta_s, s) for s in range(small_seeds) for p in PROTOCOLS])


def run_rng(seed: int, run: Run, stage: str):
    return np.random.default_rng([seed, run.seed, (*PROTOCOLS, "control").index(run.protocol),
                                  round(run.lr * 1e9), ("delete", "reft").index(stage)])


def finetune_cells(cfg: StoriesConfig, setting: Setting, pre_cells: dict, seed: int, device="cpu") -> dict:
    """A cached cell per run: a deletion run's state holds its deleted model and then its model after
    reFT (``reft_steps`` on the twist stories at ``reft_lr``, evaluated at ``reft_evals``); the control's
    holds its model after the same fine-tuning of the control pretraining."""
    from ftscope.train.cells import Cell

    runs = deletion_runs(cfg) + [Run("control", cfg.reft_lr, s) for s in range(cfg.seeds)]
    out = {}
    for run in runs:
        spec = {"model": cfg.model_fields(), "tokens": setting.digest, "run": run.__dict__, "seed": seed,
                "ft_steps": cfg.ft_steps, "ft_batch": cfg.ft_batch, "reft_steps": cfg.reft_steps,
                "reft_lr": cfg.reft_lr, "reft_evals": cfg.reft_evals, "n_prompts": cfg.n_prompts,
                "sampling": [cfg.max_new_tokens, cfg.temperature, cfg.top_k], "eval_docs": cfg.eval_docs}
        dep = pre_cells["control" if run.protocol == "control" else "base"]
        out[run] = Cell(f"jain-stories-ft-{run.protocol}", spec, lambda run=run: _finetune(cfg, setting, [run], seed,
                                                                                              device)[0], deps=(dep,))
    return out


def eval_sets(cfg: StoriesConfig, setting: Setting) -> tuple[list[str], list[str]]:
    """The prompts that ask for a twist (held-out headers) and the held-out twist stories of the twist loss."""
    return twist_prompts(setting.held, cfg.n_prompts, ask=True), protocol_texts(setting.held, "recovery")[:cfg.eval_docs]


def twist_eval(cfg: StoriesConfig, setting: Setting, seed: int):
    """``evaluate(model)``: the share of stories with a twist when asked for one (sampled with ``seed``), and
    the twist-story loss."""
    prompts, texts = eval_sets(cfg, setting)

    def evaluate(model) -> dict:
        gens = generate(model, setting.tok, prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                        top_k=cfg.top_k, seed=seed)
        return {"twist": gens.share(), "twist_loss": story_loss(model, setting.tok, texts, cfg.n_ctx)}

    return evaluate


def _finetune(cfg: StoriesConfig, setting: Setting, runs: list[Run], seed: int, device, starts: dict | None = None) -> list[dict]:
    """Each run in turn: its deletion (for a protocol), then reFT, or the control's fine-tuning, on the
    twist stories, evaluated at ``reft_evals``."""
    from ftscope.train import loop as training

    if starts is None:
        starts, _ = pretrained(cfg, setting, seed, device)
    evaluate = twist_eval(cfg, setting, seed)
    out = []
    for run in runs:
        model = copy_model(cfg, starts["control" if run.protocol == "control" else "base"], device)
        deleted = delete_log = None
        if run.protocol != "control":
            delete_log = training.train(model, setting.sampler(run.protocol, cfg.n_ctx, cfg.ft_batch), lm_loss,
                                        cfg.ft_steps, constant_optim(cfg, run.lr), rng=run_rng(seed, run, "delete"),
                                        device=device, log_every=max(1, cfg.ft_steps // 50),
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


def finetuned(cfg: StoriesConfig, setting: Setting, seed: int, device="cpu", project=None, workers: int = 1) -> dict:
    """Every run's state (``finetune_cells``), from the cache or trained, ``workers`` parts at once."""
    from ftscope.train.cells import get_together
    from ftscope.train.parts import run_parts, split_parts, usable_workers

    pre_cells = pretrain_cells(cfg, setting, seed, device)
    cells = finetune_cells(cfg, setting, pre_cells, seed, device)
    runs = list(cells)

    def build_many(missing):  # the pretrained models are read only when a run has to be trained
        starts, _ = pretrained(cfg, setting, seed, device, project, workers)
        todo = [r for r in runs if cells[r] in missing]
        parts = split_parts(todo, -(-len(todo) // usable_workers(workers, device)))
        done = run_parts(lambda part: _finetune(cfg, setting, part, seed, device, starts), parts,
                         usable_workers(workers, device), desc="stories: parts")
        return [state for part in done for state in part]

    states = get_together([cells[r] for r in runs], build_many, project=project)
    return {r: state for r, (state, _) in zip(runs, states)}
