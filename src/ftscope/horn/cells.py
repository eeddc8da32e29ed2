"""Chapters 8 and 9's trainable cells, declared for ``ftscope sweep`` with the builders their notebooks
call (``training.base_cell``, ``training.finetune_cell``, ``features.sae_cells``), so what a sweep fills is
what the notebooks read: ``CHAPTERS[name](preset, seed, device, overrides)`` is a ``train.cells.Declared``.
"""

from __future__ import annotations

from typing import Any

from ftscope.horn.features import sae_cells
from ftscope.horn.merging import model_seeds
from ftscope.horn.setup import DOMAINS, HornConfig, load_corpora
from ftscope.horn.training import base_cell, finetune_cell
from ftscope.train.cells import Declared, Job


def _models(cfg: HornConfig, corpora, seeds: list[int], device) -> list[Job]:
    jobs = []
    for s in seeds:
        jobs.append(Job((base_cell(cfg, corpora, s, device),), work=("base model",)))
        jobs += [Job((finetune_cell(cfg, corpora, d, s, device),), work=(f"fine-tune on {d}",)) for d in DOMAINS]
    return jobs


def universal_models(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 08: the base model and its two fine-tunes on every model seed (the merges cost no training)."""
    cfg = HornConfig.from_preset(preset, **overrides)
    return Declared(_models(cfg, load_corpora(cfg, seed=seed), model_seeds(cfg, seed), device))


def universal_features(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 09: chapter 08's models of the first seed, then an SAE per model and SAE seed. An SAE's key is
    its model's weights, so the SAEs are declared once those models are in the cache."""
    from ftscope.horn.merging import four_models

    cfg = HornConfig.from_preset(preset, **overrides)
    corpora = load_corpora(cfg, seed=seed)
    jobs = _models(cfg, corpora, [seed], device)
    if any(job.missing() for job in jobs):
        return Declared(jobs, later=["the SAEs (their key is their model's weights): declared once the base "
                                     "model and its fine-tunes are in the cache"])
    saes = sae_cells(cfg, corpora, four_models(cfg, corpora, seed, device), seed)
    return Declared(jobs + [Job((cell,), work=("sparse autoencoders",)) for cell in saes.values()])


CHAPTERS = {"08_universal_models": universal_models, "09_universal_features": universal_features}
