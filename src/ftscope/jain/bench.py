"""Jain et al.'s training loops for ``ftscope bench`` (``book.bench``), at a preset's sizes: tracr
fine-tuning alone and as chapter 2's grid trains it (together), PCFG pretraining, PCFG fine-tuning
alone and as chapter 4's grid trains it, a linear probe, and chapter 5's story-model pretraining; and for
``ftscope plan``, every training of chapters 2-5 counted (``works``; the probes, a few thousand steps of a linear map, are left out)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch

from ftscope.book.bench import Loop, Work, transformer_flops_per_token, transformer_work
from ftscope.instruments.probing import fit_probe
from ftscope.jain import tinystories as ts
from ftscope.jain.compiled import TracrConfig, counter_batch, noisy_copy
from ftscope.jain.pcfg_training import PcfgConfig, build_model, finetune_counters
from ftscope.jain.tinystories import StoriesConfig
from ftscope.train.answers import AnswerLoss, finetune_many
from ftscope.train.loop import train


def loops(preset: str, device) -> Iterator[Loop]:
    tracr = TracrConfig.from_preset(preset)
    counter = tracr.compile_counter("a")
    base = counter.model.to(device)
    together = len(tracr.counter_cells) * tracr.seeds
    tokens = tracr.batch * (tracr.counter_len + 1)

    def tracr_runs(k):
        def run(steps):
            models = [noisy_copy(base, tracr.noise_std, np.random.default_rng(i)) for i in range(k)]
            finetune_many(models, [lambda r: counter_batch(counter, r, tracr.batch, tracr.counter_len, 0.0)] * k,
                          steps, [tracr.optim(tracr.medium_lr)] * k, [np.random.default_rng(i) for i in range(k)],
                          which="ft", device=device, desc="bench")
        return run

    per_token = transformer_flops_per_token(base)
    yield Loop("tracr fine-tuning (Counter)", "02", 1, tokens, per_token, tracr_runs(1))
    yield Loop("tracr fine-tuning, grid together", "02", together, tokens * together, per_token, tracr_runs(together),
               "train_many")

    pcfg = PcfgConfig.from_preset(preset)
    model = build_model(pcfg, 0, device)
    seq = _sequence(pcfg)
    per_token = transformer_flops_per_token(model)

    def pretrain(steps):
        train(copy.deepcopy(model), lambda r: pcfg.pretraining_batch(r, "medium"), AnswerLoss(), steps,
              pcfg.pretrain_optim(), rng=np.random.default_rng(0), device=device, desc="bench")

    yield Loop("PCFG pretraining", "03", 1, pcfg.pretrain_batch * seq, per_token, pretrain)
    cells = [(pcfg.lrs[lr], c) for _, lr, c in pcfg.cells for _ in range(pcfg.ft_seeds)]

    def pcfg_runs(k, compiled):
        def run(steps):
            finetune_counters(pcfg, [copy.deepcopy(model) for _ in range(k)], cells[:k],
                              [np.random.default_rng(i) for i in range(k)], steps=steps, device=device, desc="bench",
                              compile=compiled)
        return run

    tokens = pcfg.ft_batch * seq
    yield Loop("PCFG fine-tuning", "04", 1, tokens, per_token, pcfg_runs(1, False))
    yield Loop("PCFG fine-tuning, grid together", "04", len(cells), tokens * len(cells), per_token,
               pcfg_runs(len(cells), pcfg.compile_grid),
               "train_many" + (", torch.compile (compiled in the warm-up)" if pcfg.compile_grid else ""))

    stories = StoriesConfig.from_preset(preset)
    story_model = ts.build(stories, 0, device)
    setting = _story_stream(stories)

    def story_pretrain(steps):
        train(copy.deepcopy(story_model), setting(stories.pretrain_batch), ts.lm_loss, steps, ts.pretrain_optim(stories),
              rng=np.random.default_rng(0), device=device, desc="bench")

    yield Loop("TinyStories pretraining", "05", 1, stories.pretrain_batch * stories.n_ctx,
               transformer_flops_per_token(story_model), story_pretrain, "random tokens (the cost does not depend on them)")

    width, classes, rows = tracr.counter_len * 4, 10, tracr.probe_batch
    x, y = torch.randn(tracr.probe_samples, width), torch.randint(0, classes, (tracr.probe_samples,))

    def probe(steps):
        fit_probe(x, y, x[:10], y[:10], classes, steps=steps, lr=tracr.probe_lr, rng=np.random.default_rng(0),
                  batch=rows, desc="bench")

    yield Loop("linear probe", "02", 1, rows, 6 * width * classes, probe, "one row = one token")


def works(preset: str) -> Iterator[Work]:
    """Every training of chapters 2-4 at ``preset``, as the chapters run them (``compiled_analyses`` and
    ``pcfg_analyses``): the tracr grids and reverse fine-tunings, the PCFG pretrainings, grid and reFT."""
    tracr = TracrConfig.from_preset(preset)
    counter, max_id = tracr.compile_counter("a").model, tracr.compile_max_id().model
    counter_tokens = tracr.batch * (tracr.counter_len + 1)
    yield transformer_work("02", "Counter grid", counter, len(tracr.counter_cells) * tracr.seeds, tracr.steps,
                           counter_tokens)
    yield transformer_work("02", "Max-identifier grid", max_id, len(tracr.max_id_lrs) * tracr.seeds, tracr.steps,
                           tracr.batch * (tracr.max_id_len + 1))
    # per seed: a reFT after every η, a Scr.+FT beside every η but the largest (reverse_finetune)
    yield transformer_work("02", "reFT and Scr.+FT", counter, tracr.seeds * (2 * len(tracr.counter_lrs) - 1),
                           tracr.reft_steps, counter_tokens)

    pcfg = PcfgConfig.from_preset(preset)
    model = build_model(pcfg, 0, "cpu")
    seq = _sequence(pcfg)
    yield transformer_work("03", "pretraining (every prior on every seed, b only once)", model,
                           len(pcfg.priors) * pcfg.pretrain_seeds + 1, pcfg.pretrain_steps, pcfg.pretrain_batch * seq)
    yield transformer_work("04", "fine-tuning grid", model, len(pcfg.cells) * pcfg.ft_seeds, pcfg.ft_steps,
                           pcfg.ft_batch * seq)
    # per seed: a reFT of every prior's η_L model and one Scr.+FT (pcfg_analyses.reverse_finetune)
    yield transformer_work("04", "reFT and Scr.+FT", model, pcfg.ft_seeds * (len(pcfg.priors) + 1), pcfg.reft_steps,
                           pcfg.ft_batch * seq)

    stories = StoriesConfig.from_preset(preset)
    story_model = ts.build(stories, 0, "cpu")
    story_tokens = stories.ft_batch * stories.n_ctx
    yield transformer_work("05", "pretraining (the base and the controls)", story_model, len(ts.PRETRAININGS),
                           stories.pretrain_steps, stories.pretrain_batch * stories.n_ctx)
    n_delete = len(ts.deletion_runs(stories))
    yield transformer_work("05", "deletion (every protocol and η, every seed)", story_model, n_delete,
                           stories.ft_steps, story_tokens)
    yield transformer_work("05", "reFT and the controls' fine-tuning", story_model,
                           n_delete + len(ts.CONTROLS) * stories.seeds,
                           stories.reft_steps, story_tokens)


def _story_stream(cfg: StoriesConfig):
    """``batch -> sampler`` of windows of random tokens at the story model's sizes (the benchmark times the
    loop, not the data)."""
    def make(batch):
        def sample(rng):
            return torch.from_numpy(rng.integers(0, cfg.vocab, (batch, cfg.n_ctx + 1)))
        return sample
    return make


def _sequence(pcfg: PcfgConfig) -> int:
    """Tokens a PCFG sample feeds the model (pretraining and fine-tuning samples have the same window)."""
    return pcfg.pretraining_batch(np.random.default_rng(0), "medium").inputs.shape[1]
