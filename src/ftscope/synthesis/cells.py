"""Chapter 10's cells for ``ftscope sweep``: chapter 05's story models (the same jobs; a sweep of both chapters
runs them once), then the SAEs, declared once those models are in the cache (an SAE's key is its model's
weights)."""

from __future__ import annotations

from typing import Any

from ftscope.jain.cells import tinystories_wrappers
from ftscope.synthesis.features import sae_cells
from ftscope.synthesis.setting import LensesConfig, story_models
from ftscope.train.cells import Declared, Job


def three_lenses(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    lcfg = LensesConfig.from_preset(preset, **overrides)
    models = tinystories_wrappers(preset, seed, device, {})
    if any(job.missing() for job in models.jobs):
        return Declared(models.jobs, later=["the SAEs (their key is their model's weights): declared once chapter "
                                            "05's models are in the cache"])
    sm = story_models(preset, seed, device)
    saes = sae_cells(lcfg, sm, seed)
    return Declared(models.jobs + [Job((cell,), work=("sparse autoencoders",)) for cell in saes.values()])


CHAPTERS = {"10_three_lenses": three_lenses}
