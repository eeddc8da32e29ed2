"""Chapter 10's training: an SAE on the middle block's MLP of each model the lenses read, as cached cells.

Every model's SAE is trained on the same pretraining windows; the base has a second SAE (another seed): the
seed control, the lens's ceiling. The "Not in PT" control and a random-init model of the same shape, which
never had the capability, give its floor, and the control's fine-tune on twist stories, which learned Twist
anew, the floor of reuse. ``three_lenses`` declares the cells for ``ftscope sweep`` (after chapter 05's
models, whose weights key the SAEs); ``works`` counts them for ``ftscope plan``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ftscope.book.bench import Work, transformer_flops_per_token
from ftscope.data import stories as world
from ftscope.instruments.sae import load_sae, sae_cell
from ftscope.jain import tinystories as ts
from ftscope.jain.cells import tinystories_wrappers
from ftscope.synthesis.settings import (
    ALSO,
    BASE,
    CONTROL,
    NOT_IN_PT,
    PROTOCOL,
    RANDOM,
    SHARED_START,
    LensesConfig,
    StoryModels,
    control_ft_label,
    deleted_label,
    hook,
    revived_label,
    stories_config,
    story_models,
)
from ftscope.train.cells import Declared, Job


def sae_plan(sm: StoryModels) -> list[tuple[str, str, object, int]]:
    """``(label, kind, run or None, SAE seed offset)`` per SAE: the base twice (offsets 0 and 1, the seed
    control), each F+R deletion seed's deleted and revived model, F's first seed deleted, the "Not in PT"
    control's pretraining, a random-init model (kind ``"random"``) and the control's first fine-tune on twist
    stories; every SAE but the base's first has offset 1, so each comparison with the base's first SAE is
    between two SAE seeds, as the seed control's is."""
    plan = [(BASE, "base", None, 0), (CONTROL, "base", None, 1)]
    for run in sm.runs(PROTOCOL):
        plan += [(deleted_label(PROTOCOL, run.seed), "deleted", run, 1),
                 (revived_label(PROTOCOL, run.seed), "model", run, 1)]
    first = sm.runs(ALSO)[0]
    plan.append((deleted_label(ALSO, first.seed), "deleted", first, 1))
    ctl = sm.runs("control")[0]
    plan += [(NOT_IN_PT, "control", None, 1), (RANDOM, "random", None, 1),
             (control_ft_label(ctl.seed), "model", ctl, 1)]
    return plan


def plan_models(sm: StoryModels, seed: int) -> dict:
    """Each planned SAE's model (one model object per distinct model); the random-init model is ``ts.build``
    with the chapter's ``seed`` (the base's initial weights)."""
    out = {}
    for label, kind, run, _ in sae_plan(sm):
        if run is not None:
            out[label] = sm.model(run, kind)
        elif kind == "random":
            out[label] = sm.random_init(seed)
        else:
            out[label] = sm.pretrained[kind]
    return out


def cell_name(label: str) -> str:
    """An SAE cell's name: ``stories-base``, ``stories-base-s2``, ``stories-FR-del-0``, ``stories-FR-rev-0``,
    ``stories-control``, ``stories-random``, ``stories-ctlft-0``."""
    if label == NOT_IN_PT:
        return "stories-control"
    if label == RANDOM:
        return "stories-random"
    if label.startswith("Not in PT fine-tuned, seed "):
        return "stories-ctlft-" + label.rsplit(" ", 1)[1]
    return "stories-" + label.replace(", SAE seed ", "-s").replace(" deleted, seed ", "-del-").replace(
        " revived, seed ", "-rev-").replace("+", "")


def sae_rows(lcfg: LensesConfig, sm: StoryModels, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The SAEs' data: ``sae_tokens // sae_context`` windows of the pretraining stream (every model's SAE reads
    the same windows), and 128 held-out stories as validation blocks of ``sae_context`` tokens."""
    stream = sm.setting.streams["pretrain"]
    n = lcfg.sae_tokens // lcfg.sae_context
    starts = np.random.default_rng([seed, 21]).integers(0, len(stream) - lcfg.sae_context, n)
    train = np.stack([stream[s:s + lcfg.sae_context] for s in starts]).astype(np.int64)
    texts = [world.instruct_text(s) for s in sm.setting.held[SHARED_START // 2:SHARED_START // 2 + 128]]
    val = ts.doc_blocks(sm.setting.tok, texts, lcfg.sae_context - 1).numpy()
    return train, val


def sae_cells(lcfg: LensesConfig, sm: StoryModels, seed: int, models: dict | None = None) -> dict:
    """``{label: Cell}``: each planned SAE's training cell (keyed by its model's weights, the data, every
    setting)."""
    models = plan_models(sm, seed) if models is None else models
    train, val = sae_rows(lcfg, sm, seed)
    d_sae = lcfg.sae_expansion * sm.cfg.d_mlp
    cells = {}
    for label, _, _, offset in sae_plan(sm):
        cells[label] = sae_cell(cell_name(label), models[label], train, val, d_sae=d_sae, l1=lcfg.sae_l1, lr=lcfg.sae_lr,
                                betas=lcfg.sae_betas, tokens=lcfg.sae_tokens, batch_tokens=lcfg.sae_batch_tokens,
                                seed=lcfg.sae_seed + offset, hook=hook(sm.cfg))
    return cells


@dataclass
class SAEs:
    models: dict
    saes: dict
    quality: pd.DataFrame


def train_saes(lcfg: LensesConfig, sm: StoryModels, seed: int) -> SAEs:
    """Every planned SAE (cached cells) and its quality (L0, explained variance, CE recovered, dead share)."""
    models = plan_models(sm, seed)
    saes, quality = {}, {}
    for label, cell in sae_cells(lcfg, sm, seed, models).items():
        state, _ = cell.get()
        saes[label] = load_sae(state["sae"], sm.device)
        quality[label] = state["metrics"]
    cols = ["l0", "explained_variance", "ce_loss_recovered", "dead_fraction"]
    return SAEs(models, saes, pd.DataFrame(quality).T[cols])


# ------------------------------------------------------------------ for ftscope sweep and ftscope plan
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


def sae_count(cfg: ts.StoriesConfig) -> int:
    """The SAEs of ``features.sae_plan``: the base twice, each F+R seed's deleted and revived model, F's first,
    the "Not in PT" control, a random-init model and the control's first fine-tune."""
    return 2 + 2 * cfg.seeds + 1 + 3


def works(preset: str) -> Iterator[Work]:
    lcfg, cfg = LensesConfig.from_preset(preset), stories_config(preset)
    model = ts.build(cfg, 0, "cpu")
    d_sae = lcfg.sae_expansion * cfg.d_mlp
    # the SAE (encoder and decoder, forward and backward) plus the forward pass that gives its activations
    per_token = 12 * cfg.d_mlp * d_sae + transformer_flops_per_token(model) / 3
    yield Work("10", "sparse autoencoders", sae_count(cfg), lcfg.sae_tokens // lcfg.sae_batch_tokens,
               lcfg.sae_batch_tokens, per_token, 2 * cfg.d_mlp * d_sae + d_sae + cfg.d_mlp,
               lcfg.sae_batch_tokens * (3 * d_sae + cfg.d_mlp))
