"""Horn & Elliott (2024), chapter 08's measurements: next-token accuracy of each model on each
domain's validation blocks (the paper's metric) and an extra check of instruction following."""

from __future__ import annotations

import numpy as np
import torch

from ftscope.horn.setup import CORPORA, DOMAINS, Corpora, HornConfig, eval_blocks
from ftscope.horn.training import evaluate

BASE_DOMAIN = "base domain"  # English and Python validation blocks, half each


def validation_sets(cfg: HornConfig, corpora: Corpora, seed: int) -> dict[str, torch.Tensor]:
    """``eval_blocks`` fixed validation blocks per corpus, and the base domain's (the first half of the
    English blocks and of the Python blocks)."""
    sets = {name: eval_blocks(corpora.streams[name]["val"], cfg.eval_blocks, cfg.n_ctx, seed) for name in CORPORA}
    sets[BASE_DOMAIN] = torch.cat([sets["english"][: cfg.eval_blocks // 2], sets["python"][: cfg.eval_blocks // 2]])
    return sets


def accuracies(model, evalsets: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: evaluate(model, blocks)["acc"] for name, blocks in evalsets.items()}


def accuracy_table(models: dict, evalsets: dict[str, torch.Tensor]):
    """Accuracy of each model (rows) on each validation set (columns)."""
    import pandas as pd

    return pd.DataFrame({m: accuracies(model, evalsets) for m, model in models.items()}).T


def gains(acc) -> dict[str, float]:
    """Per fine-tune: its accuracy on its own domain minus the base model's."""
    return {d: float(acc.loc[d, d] - acc.loc["base", d]) for d in DOMAINS}


def lies_between(acc, row: str, ends=DOMAINS) -> bool:
    """Whether model ``row`` is strictly between the two ``ends`` models on each of their domains."""
    a, b = ends
    return all(min(acc.loc[a, d], acc.loc[b, d]) < acc.loc[row, d] < max(acc.loc[a, d], acc.loc[b, d]) for d in ends)


def instruction_following(models: dict, prompts, tokenizer, n_ctx: int, seed: int, device="cpu",
                          temperature: float = 0.7) -> tuple[dict[str, float], str]:
    """Per model: prompted with each story's TinyStories-Instruct header (its last ``n_ctx // 2`` tokens), the
    mean share of requested features the detector finds in ``n_ctx`` tokens of sampled text (torch seeded
    with ``seed`` before each model). Also returns the last text generated."""
    from ftscope.data import stories as story_world

    follow, text = {}, ""
    for name, model in models.items():
        torch.manual_seed(seed)
        hits = []
        for s in prompts:
            prompt = story_world.instruct_prompt(s.features, s.words, s.summary)
            ids = torch.tensor([[0, *tokenizer.encode(prompt, add_special_tokens=False).ids]], device=device)
            ids = ids[:, -(n_ctx // 2):]
            out = model.generate(ids, max_new_tokens=n_ctx - ids.shape[1], do_sample=True, temperature=temperature,
                                 verbose=False, stop_at_eos=False)
            text = tokenizer.decode(out[0, ids.shape[1]:].tolist())
            asked = set(s.features)
            hits.append(len(story_world.detect_features(text) & asked) / max(1, len(asked)) if asked else np.nan)
        follow[name] = float(np.nanmean(hits))
    return follow, text
