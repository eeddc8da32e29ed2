"""Horn & Elliott (2024), the setting: the config, the four corpora, the tokenizer, token streams.

The corpora are ``ftscope.data`` (fetched by ``make data``), the tokenizer a byte-level BPE
trained on their union (``ftscope.data.tokenizer``). Models and their training are
``ftscope.horn.training``, merges ``ftscope.horn.merging``, the paper's numbers
``ftscope.horn.reported``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from ftscope.config import ChapterConfig, ConfigError
from ftscope.data import tokenizer as bpe
from ftscope.data.corpora import CORPORA, take_chars
from ftscope.paths import Project
from ftscope.progress import progress
from ftscope.train.checkpoints import cached_state

DOMAINS = ("lua", "stories")  # the two fine-tunes
BASE_CORPORA = ("english", "python")
# which corpora each model was trained on; its SAE is trained on the same mixture (equal shares)
MIXTURES = {
    "base": BASE_CORPORA,
    "lua": (*BASE_CORPORA, "lua"),
    "stories": (*BASE_CORPORA, "stories"),
    "luastories": (*BASE_CORPORA, "lua", "stories"),
}


@dataclass(frozen=True)
class HornConfig(ChapterConfig):
    """Both Part III chapters. Defaults are the paper's values (its model cards, configs and
    repository) or, where it gives none, the choice named in the chapter text."""

    # data
    source: Literal["offline", "hub", "auto"] = "offline"
    corpus_chars: int = 0  # per corpus, after a seeded shuffle of its documents; 0 = all of it
    tokenizer_chars: int = 0  # per corpus, to train the BPE; 0 = all the training documents
    val_fraction: float = 0.2  # document-level split (the spec's 80/20)
    fixtures: bool = False  # the bundled stand-ins, fetched or not (smoke: its numbers never depend on `make data`)
    # tokenizer and model (Mistral-style, 1 layer; about 35M parameters with a 32K vocabulary)
    vocab_size: int = 32_000
    d_model: int = 512
    d_mlp: int = 1024
    n_heads: int = 16
    n_kv_heads: int = 8
    d_head: int = 32
    n_ctx: int = 256
    # base: AdamW 6e-4, cosine, no warmup, weight decay 0.1, batch 64x256, 3 epochs
    base_batch: int = 64
    base_steps: int = 0  # 0 = three epochs of the base training stream (the Trainer's default the card names)
    base_lr: float = 6e-4
    base_wd: float = 0.1
    base_warmup: float = 0.0
    # fine-tunes: AdamW 2e-5, cosine, 500 warmup steps, weight decay 0.01, batch 64x256, 1 epoch
    ft_batch: int = 64
    ft_steps: int = 0  # 0 = one epoch of the domain's training stream
    ft_lr: float = 2e-5
    ft_wd: float = 0.01
    ft_warmup_steps: int = 500
    ft_warmup_cap: float = 0.5  # our addition: warmup never takes more than this share of a short fine-tune
    betas: tuple[float, float] = (0.9, 0.999)
    # merging and evaluation
    model_seeds: int = 3  # chapter 08: base models (each with its fine-tunes and merges) on seeds seed, seed + 1, …
    merge_t: float = 0.58  # LuaStories: mergekit base = Lua, t = 0.58
    sweep_step: float = 0.05
    eval_blocks: int = 512  # validation blocks of n_ctx tokens per domain
    # sparse autoencoders (SAELens), on blocks.0.mlp.hook_post
    sae_expansion: int = 16
    sae_context: int = 24
    sae_batch_tokens: int = 3072  # 128 blocks x 24 tokens
    sae_tokens: int = 40_000_000  # not stated; the spec's estimate of one epoch of the authors' subset
    sae_lr: float = 1e-4
    sae_betas: tuple[float, float] = (0.9, 0.9999)
    sae_l1: float = 1.0  # SAELens' L1 scale (not the paper's 3e-4; see the chapter)
    sae_seed: int = 1337
    sae_seeds: int = 3  # SAEs per model (seeds sae_seed, sae_seed + 1, …): two of one model are the seed control
    match_blocks: int = 1000  # shared token set: blocks of sae_context tokens from base-domain validation text
    match_threshold: float = 0.8
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
    min_fires: int = 5

    ZERO_MEANS_DERIVED: ClassVar = ("base_steps", "ft_steps")
    PRESETS: ClassVar = {
        "smoke": dict(corpus_chars=60_000, tokenizer_chars=30_000, fixtures=True, vocab_size=512,
                      d_model=32, d_mlp=64, n_heads=2, n_kv_heads=1, d_head=16, n_ctx=32,
                      base_batch=8, base_steps=30, base_lr=3e-3, ft_batch=8, ft_steps=10, ft_lr=1e-3,
                      ft_warmup_steps=1, model_seeds=2, sweep_step=0.25, eval_blocks=8, sae_expansion=2, sae_batch_tokens=192,
                      sae_tokens=3840, sae_lr=1e-3, sae_seeds=2, match_blocks=600,
                      thresholds=(0.5, 0.8), min_fires=2),
        "laptop": dict(corpus_chars=4_000_000, tokenizer_chars=2_000_000, vocab_size=4096,
                   d_model=128, d_mlp=256, n_heads=4, n_kv_heads=2, d_head=32, n_ctx=128,
                   base_batch=16, base_steps=600, base_lr=5e-3, ft_batch=16, ft_steps=120, ft_lr=3e-4,
                   ft_warmup_steps=6, eval_blocks=64, sae_expansion=4, sae_batch_tokens=512,
                   sae_tokens=307_200, sae_lr=1e-3, sae_l1=3.0),
        "paper": {},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.n_kv_heads}")
        if not 0.0 < self.merge_t < 1.0:
            raise ConfigError(f"merge_t must lie in (0, 1), got {self.merge_t}")
        if not 0.0 < self.sweep_step <= 0.5 or abs(round(1 / self.sweep_step) * self.sweep_step - 1) > 1e-9:
            raise ConfigError(f"sweep_step must divide 1 (e.g. 0.05, 0.25), got {self.sweep_step}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")
        if self.model_seeds < 1:
            raise ConfigError(f"model_seeds must be >= 1, got {self.model_seeds}")
        if self.sae_seeds < 2:
            raise ConfigError(f"sae_seeds must be >= 2 (two SAEs of one model are the seed control every "
                              f"feature statistic is judged against), got {self.sae_seeds}")

    # ---------------------------------------------------------------- derived
    @property
    def sweep_ts(self) -> np.ndarray:
        return np.round(np.arange(0, 1 + 1e-9, self.sweep_step), 6)

    @property
    def d_sae(self) -> int:
        return self.sae_expansion * self.d_mlp

    def model_fields(self) -> dict[str, Any]:
        return dict(d_model=self.d_model, d_mlp=self.d_mlp, n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
                    d_head=self.d_head, n_ctx=self.n_ctx, d_vocab=self.vocab_size)


# ------------------------------------------------------------------------- data and tokens
@dataclass
class Corpora:
    """Documents split into train/validation per corpus, the tokenizer, and the token streams."""

    docs: dict[str, dict[str, list]]  # corpus -> {"train", "val"} -> [Doc]
    tokenizer: Any
    streams: dict[str, dict[str, np.ndarray]]  # corpus -> {"train", "val"} -> token ids (<s> before each doc)
    digest: str  # hash of the streams: what the cached models depend on

    @property
    def token_strings(self) -> list[str]:
        return bpe.token_strings(self.tokenizer)

    def table(self):
        import pandas as pd

        rows = []
        for name, parts in self.docs.items():
            rows.append({"corpus": name, "documents": sum(len(v) for v in parts.values()),
                         "characters": sum(len(d.text) for v in parts.values() for d in v),
                         "train tokens": len(self.streams[name]["train"]),
                         "validation tokens": len(self.streams[name]["val"])})
        frame = pd.DataFrame(rows).set_index("corpus")
        frame["chars per token"] = frame["characters"] / (frame["train tokens"] + frame["validation tokens"])
        return frame


def _sha(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()[:16]


def load_corpora(cfg: HornConfig, project: Project | None = None, seed: int = 0) -> Corpora:
    """Every corpus, split 80/20 by document (seeded) and cut to ``corpus_chars`` (split in the same
    proportion), a BPE trained on the union of the training
    parts, and the encoded streams; tokenizer and streams cached by the documents' hash."""
    from ftscope.data import load_corpus, split_docs

    project = project or Project.here()
    docs = {}
    for name in CORPORA:
        corpus = load_corpus(name, project=project, source=cfg.source, fixture=cfg.fixtures, seed=seed)
        train_docs, val_docs = split_docs(corpus, cfg.val_fraction, seed)
        if not train_docs or not val_docs:
            raise ValueError(f"corpus {name!r} has {len(corpus)} document(s): too few to split into train and val")
        budget = cfg.corpus_chars or None
        docs[name] = {"train": take_chars(train_docs, budget and round(budget * (1 - cfg.val_fraction)), cut_last=True),
                      "val": take_chars(val_docs, budget and round(budget * cfg.val_fraction), cut_last=True)}
    doc_hash = _sha(*(f"{n}/{s}/{d.id}\0{d.text}\0".encode() for n in CORPORA for s in ("train", "val")
                      for d in docs[n][s]))

    def tokenizer_texts():
        for name in CORPORA:
            budget = cfg.tokenizer_chars or float("inf")
            for d in docs[name]["train"]:
                if budget <= 0:
                    break
                budget -= len(d.text)
                yield d.text

    def run():
        tok = bpe.train_bpe(tokenizer_texts(), cfg.vocab_size)
        streams = {n: {s: bpe.encode_docs(tok, [d.text for d in docs[n][s]]) for s in ("train", "val")}
                   for n in progress(CORPORA, desc="encode")}
        return {"tokenizer": tok.to_str(), "streams": streams}

    spec = {"docs": doc_hash, "vocab_size": cfg.vocab_size, "tokenizer_chars": cfg.tokenizer_chars}
    state, _ = cached_state("horn-tokens", spec, run, project=project)
    tok, streams = bpe.from_str(state["tokenizer"]), state["streams"]
    digest = _sha(*(streams[n][s].tobytes() for n in CORPORA for s in ("train", "val")))
    return Corpora(docs=docs, tokenizer=tok, streams=streams, digest=digest)


def block_sampler(parts: Sequence[np.ndarray], n_ctx: int, batch: int) -> Callable[[np.random.Generator], torch.Tensor]:
    """``sample(rng)``: ``batch`` random windows of ``n_ctx`` tokens, each row from one of ``parts``
    chosen with equal probability (a 1:1 mixture by tokens)."""
    parts = list(parts)
    for p in parts:
        if len(p) <= n_ctx:
            raise ValueError(f"a token stream of {len(p)} tokens is too short for blocks of {n_ctx}")

    def sample(rng: np.random.Generator) -> torch.Tensor:
        which = rng.integers(0, len(parts), batch)
        rows = [parts[w][(s := rng.integers(0, len(parts[w]) - n_ctx)): s + n_ctx] for w in which]
        return torch.from_numpy(np.stack(rows).astype(np.int64))

    return sample


def eval_blocks(stream: np.ndarray, n_blocks: int, n_ctx: int, seed: int) -> torch.Tensor:
    """``n_blocks`` fixed, non-overlapping validation blocks (a seeded choice of the stream's chunks)."""
    n = len(stream) // n_ctx
    if n == 0:
        raise ValueError(f"validation stream of {len(stream)} tokens is shorter than one block of {n_ctx}")
    chunks = np.asarray(stream[: n * n_ctx], dtype=np.int64).reshape(n, n_ctx)
    pick = np.sort(np.random.default_rng(seed).permutation(n)[:n_blocks])
    return torch.from_numpy(chunks[pick])


def sae_rows(corpora: Corpora, mixture: Sequence[str], n_rows: int, context: int, seed: int,
             split: str = "train") -> np.ndarray:
    """``n_rows`` token blocks of ``context`` tokens, rows drawn 1:1 from the corpora of ``mixture``."""
    sample = block_sampler([corpora.streams[c][split] for c in mixture], context, n_rows)
    return sample(np.random.default_rng(seed)).numpy()



# ------------------------------------------------------------------------- tables for chapter 08
STORY_SAMPLE = 2000  # fresh stories on which the feature detector is checked
TOKEN_EXAMPLES = ("x = 1", "local x = 1", "try:\n    pass\nexcept ValueError:", "Once upon a time, there was a cat.")


def corpus_table(corpora: Corpora):
    """Per corpus: its sources and licences (from ``make data``'s manifest, or "bundled fixture" where this
    process read the fixture), the manifest's hash, and ``Corpora.table()``'s sizes."""
    import pandas as pd

    from ftscope.data import MissingData, corpus_manifest
    from ftscope.data import corpora as corpora_mod

    rows = []
    for name in CORPORA:
        try:
            if corpora_mod.READ.get(name) == "fixture":
                raise MissingData(name)
            m = corpus_manifest(name)
            rows.append({"corpus": name, "source": ", ".join(f"{s['name']} {s['version']}" for s in m["sources"])[:70],
                         "licences": ", ".join(sorted({s["licence"] for s in m["sources"]}))[:40],
                         "sha256": m["sha256"][:12]})
        except MissingData:
            rows.append({"corpus": name, "source": "bundled fixture (smoke runs)", "licences": "",
                         "sha256": ""})
    return pd.DataFrame(rows).set_index("corpus").join(corpora.table())


def story_sample(seed: int, n: int = STORY_SAMPLE):
    """``n`` fresh stories from the story world: ``(share of stories with each feature, share whose
    feature set the detector reads back exactly)``."""
    import pandas as pd

    from ftscope.data import stories as story_world

    sample = story_world.generate_stories(n, seed=seed)
    freq = pd.Series({f: np.mean([f in s.features for s in sample]) for f in story_world.FEATURES}, name="share")
    exact = float(np.mean([story_world.detect_features(story_world.instruct_text(s)) == set(s.features)
                           for s in sample]))
    return freq, exact


def tokenization(tokenizer, texts: Sequence[str] = TOKEN_EXAMPLES) -> str:
    """One line per text: the text and its tokens (no ``<s>``)."""
    return "\n".join(f"{text!r} → {tokenizer.encode(text, add_special_tokens=False).tokens}" for text in texts)
